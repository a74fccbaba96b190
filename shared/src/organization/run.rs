//! An organization run: the scheduled run's plan, shards and merge over many registries, and the
//! same in one process (the CLI). Both build each registry's report with the job's own
//! [`Job::report`], so the state machine's organization report equals the CLI's.

use super::{OrganizationReport, OrganizationView, Registries, RegistryEntry, Target};
use crate::metrics::RepositoryMetrics;
use crate::repository::Repository;
use crate::run::{
    context_key, cut_for, keep_registry_report, next_pass, pass_indexes, read_json, registry_outcomes,
    registry_report_prefixes, run_repositories, shard_key, to_json, write_pass, Job, Outcome, ReportStore, RunContext,
    RunError, RunReport, RunSettings, RunState, Settled, ShardItem, ShardResult, ShardSummary, StoreError,
};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use std::future::Future;
use tokio::time::Instant;

/// What the plan found of one registry: its context (and how many repositories), or why it
/// could not be reached or listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedTarget {
    pub account: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<RunContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An organization run's plan, kept where a one-registry run keeps its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationPlan {
    pub now: DateTime<Utc>,
    pub role_name: String,
    pub regions: Vec<String>,
    pub targets: Vec<PlannedTarget>,
}

/// A registry's shared facts and its repositories, as the plan listed them.
type Listed = (RunContext, Vec<Repository>);

/// What an organization run reads: the registries (account × region), reached through the member
/// role `role_name`, in `regions`, and of each only the repositories whose names start with
/// `prefix`.
#[derive(Debug, Clone, Copy)]
pub struct RunTargets<'a> {
    pub role_name: &'a str,
    pub regions: &'a [String],
    pub targets: &'a [Target],
    pub prefix: Option<&'a str>,
}

/// How fast a run in one process goes: `registries` at once, `repositories` at once in each,
/// and no repository started after `deadline`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub registries: usize,
    pub repositories: usize,
    pub deadline: Option<Instant>,
}

/// Told as registries finish (the CLI's progress bar); `()` says nothing.
pub trait Progress: Sync {
    fn start(&self, _registries: usize) {}
    fn finished(&self, _target: &Target, _error: Option<&str>) {}
}

impl Progress for () {}

/// A registry reached and listed, with what its repositories share; or why not, as the report
/// says it.
type Opened<R> = Result<(R, RunContext, Vec<Repository>), String>;

/// Reaches `target` and reads what every repository of it shares; the error as the report
/// shows it.
async fn open<J: Job, G: Registries>(
    job: &J,
    registries: &G,
    target: &Target,
    prefix: Option<&str>,
    now: DateTime<Utc>,
) -> Opened<G::Registry> {
    let registry = registries.reach(target).await.map_err(|e| e.to_string())?;
    let (mut cx, repositories) = RunContext::read(&registry, prefix, &target.region, now, J::READS_REGISTRY_SETTINGS)
        .await
        .map_err(|e| format!("cannot list the registry of {} in {}: {e}", target.account, target.region))?;
    // An empty registry whose scanning names no registry: the target's account is the registry.
    if cx.registry_id.is_empty() {
        cx.registry_id = target.account.clone();
    }
    job.prepare(&registry, &mut cx).await;
    Ok((registry, cx, repositories))
}

/// Gives each registry's context the rules of its replication destinations read in the same run.
fn share_destinations(mut contexts: Vec<&mut RunContext>) {
    let read = {
        let registries: Vec<(&str, &str, Option<&crate::registry::RegistryRules>)> = contexts
            .iter()
            .map(|cx| (cx.registry_id.as_str(), cx.region.as_str(), cx.registry_rules.as_ref()))
            .collect();
        crate::registry::destinations_read(&registries)
    };
    for (cx, destinations) in contexts.iter_mut().zip(read) {
        cx.destinations_read = destinations;
    }
}

/// Where an organization run puts each registry's own report as soon as it is made (the
/// organization's report is an index: the registry's report is dropped right after).
pub trait RegistryReports<R>: Sync {
    /// `entry` is the index's line for the registry (its `report` path says where it goes).
    fn keep(&self, entry: &RegistryEntry, report: &R) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Keeps nothing: a run whose registries' reports are not wanted (the one-invocation function
/// logs its numbers only; the CLI without `--output-dir`).
impl<R: Sync> RegistryReports<R> for () {
    async fn keep(&self, _entry: &RegistryEntry, _report: &R) -> Result<(), StoreError> {
        Ok(())
    }
}

impl<R: Sync, T: RegistryReports<R>> RegistryReports<R> for &T {
    async fn keep(&self, entry: &RegistryEntry, report: &R) -> Result<(), StoreError> {
        (**self).keep(entry, report).await
    }
}

/// What there is, if anything.
impl<R: Sync, T: RegistryReports<R>> RegistryReports<R> for Option<T> {
    async fn keep(&self, entry: &RegistryEntry, report: &R) -> Result<(), StoreError> {
        match self {
            Some(reports) => reports.keep(entry, report).await,
            None => Ok(()),
        }
    }
}

/// Both, in order: the second is told only once the first has kept the report.
impl<R: Sync, A: RegistryReports<R>, B: RegistryReports<R>> RegistryReports<R> for (A, B) {
    async fn keep(&self, entry: &RegistryEntry, report: &R) -> Result<(), StoreError> {
        self.0.keep(entry, report).await?;
        self.1.keep(entry, report).await
    }
}

/// Keeps each registry's report in the reports store, beside the organization's dated report
/// and beside `latest` ([`crate::run::registry_report_prefixes`]), with its Athena rows.
pub struct KeptInStore<'a, S> {
    pub store: &'a S,
    pub job: &'static str,
}

impl<R: RunReport, S: ReportStore> RegistryReports<R> for KeptInStore<'_, S> {
    async fn keep(&self, entry: &RegistryEntry, report: &R) -> Result<(), StoreError> {
        let prefixes = registry_report_prefixes(self.job, report.generated_at(), &entry.account, &entry.region);
        keep_registry_report(self.store, self.job, &prefixes, &entry.region, report).await.map(|_| ())
    }
}

/// What an organization run does with each registry's report: where it is kept, and which
/// repositories' metrics the index carries besides the totals.
pub struct Keeping<'a, K> {
    pub reports: &'a K,
    pub repository_metrics: &'a RepositoryMetrics,
}

/// The whole organization run in this process, at `pace`: each registry's report goes to
/// `keeping` as it is made, the index is returned.
pub async fn organization_in_process<J, G, P, K>(
    job: &J,
    registries: &G,
    run: &RunTargets<'_>,
    pace: Pace,
    now: DateTime<Utc>,
    progress: &P,
    keeping: Keeping<'_, K>,
) -> Result<OrganizationReport<J::Report>, StoreError>
where
    J: Job,
    J::Report: OrganizationView,
    G: Registries,
    P: Progress,
    K: RegistryReports<J::Report>,
{
    let now = chrono::SubsecRound::trunc_subsecs(now, 0);
    progress.start(run.targets.len());
    // Every registry opened first: REG-3 reads the rules of the destinations among them.
    let mut opened: Vec<(&Target, Opened<G::Registry>)> = stream::iter(run.targets.iter())
        .map(|target| async move { (target, open(job, registries, target, run.prefix, now).await) })
        .buffered(pace.registries.max(1))
        .collect()
        .await;
    share_destinations(opened.iter_mut().filter_map(|(_, o)| o.as_mut().ok().map(|(_, cx, _)| cx)).collect());
    let mut reports = stream::iter(opened)
        .map(|(target, opened)| async move {
            let result = match opened {
                Ok((registry, cx, repositories)) => {
                    let outcomes =
                        run_repositories(job, &registry, &repositories, &cx, pace.repositories, pace.deadline).await;
                    Ok(job.report(repositories.into_iter().zip(outcomes).collect(), &cx))
                }
                Err(reason) => {
                    tracing::warn!(account = %target.account, region = %target.region, error = %reason, "registry not reached");
                    Err(reason)
                }
            };
            progress.finished(target, result.as_ref().err().map(String::as_str));
            (target, result)
        })
        .buffered(pace.registries.max(1));
    let mut index = OrganizationReport::start(
        crate::lifecycle::to_second(now),
        run.role_name,
        run.regions,
        keeping.repository_metrics.clone(),
    );
    // Registry by registry, in the scope's order: at most `pace.registries` reports at once.
    while let Some((target, result)) = reports.next().await {
        if let Some(report) = index.add(target, result) {
            let entry = index.registries.last().cloned().unwrap_or_else(|| unreachable!());
            keeping.reports.keep(&entry, &report).await?;
        }
    }
    Ok(index.finish())
}

/// Step 1 of an organization run: reaches and lists every registry (`concurrency` at once),
/// cuts each into shards, writes pass 1's items and the plan.
pub async fn plan_organization<J: Job, G: Registries, S: ReportStore>(
    job: &J,
    registries: &G,
    store: &S,
    settings: &RunSettings,
    run: &RunTargets<'_>,
    start: crate::run::RunStart<'_>,
    concurrency: usize,
) -> Result<RunState, RunError> {
    let run_id = start.run_id;
    let now = chrono::SubsecRound::trunc_subsecs(start.now, 0);
    let opened: Vec<(Target, Result<Listed, String>)> = stream::iter(run.targets.iter())
        .map(|target| async move {
            let read =
                open(job, registries, target, run.prefix, now).await.map(|(_, cx, repositories)| (cx, repositories));
            (target.clone(), read)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut items: Vec<ShardItem> = Vec::new();
    let mut planned = Vec::new();
    let mut repositories_total = 0;
    for (target, read) in opened {
        match read {
            Ok((cx, repositories)) => {
                repositories_total += repositories.len();
                let first = items.len();
                items.extend(cut_for(&repositories, settings.shard_repositories, first, run_id, 1, &cx, Some(&target)));
                planned.push(PlannedTarget {
                    account: target.account,
                    region: target.region,
                    context: Some(cx),
                    error: None,
                });
            }
            Err(reason) => {
                tracing::warn!(account = %target.account, region = %target.region, error = %reason, "registry not reached");
                planned.push(PlannedTarget {
                    account: target.account,
                    region: target.region,
                    context: None,
                    error: Some(reason),
                });
            }
        }
    }
    let plan =
        OrganizationPlan { now, role_name: run.role_name.to_string(), regions: run.regions.to_vec(), targets: planned };
    store.put(&context_key(J::NAME, run_id), to_json(&plan).into_bytes(), "application/json").await?;
    let items_key = write_pass(J::NAME, store, run_id, 1, &items).await?;
    Ok(RunState::first_pass(J::NAME, run_id, settings, items_key, items.len(), repositories_total, true))
}

/// A shard whose registry could not be reached: every repository it covers fails with
/// `reason` (and goes into the next pass like any unfinished one).
pub async fn fail_shard<J: Job, S: ReportStore>(
    store: &S,
    item: &ShardItem,
    reason: &str,
) -> Result<ShardSummary, RunError> {
    let outcomes: Vec<(Repository, Outcome<J::Done>)> =
        item.repositories.iter().map(|r| (r.clone(), Outcome::ReadFailed { reason: reason.to_string() })).collect();
    let result = ShardResult { shard: item.shard, pass: item.pass, outcomes };
    let key = shard_key(J::NAME, &item.run_id, item.shard);
    store.put(&key, to_json(&result).into_bytes(), "application/json").await?;
    Ok(ShardSummary { shard: item.shard, pass: item.pass, done: 0, unfinished: item.repositories.len(), key })
}

/// Step 3 of an organization run: another pass over what is unfinished, or the organization's
/// index, built registry by registry: each registry's shard results are read, its report made
/// (the job's own), handed to `kept` and dropped, so the aggregate holds one registry at a time.
pub async fn settle_organization<J, S, K>(
    job: &J,
    store: &S,
    settings: &RunSettings,
    state: &RunState,
    keeping: Keeping<'_, K>,
) -> Result<Settled<OrganizationReport<J::Report>>, RunError>
where
    J: Job,
    J::Report: OrganizationView,
    S: ReportStore,
    K: RegistryReports<J::Report>,
{
    let run_id = state.run_id.as_str();
    let key = context_key(J::NAME, run_id);
    let mut plan: OrganizationPlan = read_json(store, &key).await?.ok_or_else(|| RunError::MissingPass {
        run_id: run_id.to_string(),
        pass: 0,
        key: key.clone(),
    })?;
    let indexes = pass_indexes(J::NAME, store, state).await?;
    share_destinations(plan.targets.iter_mut().filter_map(|t| t.context.as_mut()).collect());
    let targets: Vec<Target> =
        plan.targets.iter().map(|t| Target { account: t.account.clone(), region: t.region.clone() }).collect();
    let read: Vec<(&RunContext, Option<&Target>)> =
        plan.targets.iter().zip(&targets).filter_map(|(p, t)| p.context.as_ref().map(|cx| (cx, Some(t)))).collect();
    if let Some(next) = next_pass(J::NAME, store, settings, state, &indexes, &read).await? {
        return Ok(Settled::NextPass(next));
    }
    let mut index = OrganizationReport::start(
        crate::lifecycle::to_second(plan.now),
        &plan.role_name,
        &plan.regions,
        keeping.repository_metrics.clone(),
    );
    for (planned, target) in plan.targets.iter().zip(&targets) {
        let result = match (&planned.context, &planned.error) {
            // A registry without repositories has no shard: its report is empty.
            (Some(cx), _) => {
                let outcomes = registry_outcomes::<J::Done, S>(J::NAME, store, run_id, &indexes, Some(target)).await?;
                Ok(job.report(outcomes, cx))
            }
            (None, error) => Err(error.clone().unwrap_or_else(|| "not planned".to_string())),
        };
        if let Some(report) = index.add(target, result) {
            let entry = index.registries.last().cloned().unwrap_or_else(|| unreachable!());
            keeping.reports.keep(&entry, &report).await?;
        }
    }
    Ok(Settled::Final(index.finish()))
}
