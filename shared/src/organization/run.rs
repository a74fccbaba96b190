//! An organization run: the scheduled run's plan, shards and merge over many registries, and the
//! same in one process (the CLI). Both build each registry's report with the job's own
//! [`Job::report`], so the state machine's organization report equals the CLI's.

use super::{OrganizationReport, OrganizationView, Registries, Target};
use crate::repository::Repository;
use crate::run::{
    context_key, cut_for, gather, next_pass, pass_key, read_json, run_repositories, shard_key, to_json, Job, Outcome,
    ReportStore, RunContext, RunError, RunSettings, RunState, Settled, ShardItem, ShardResult, ShardSummary,
};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
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

/// The whole organization run in this process, at `pace`.
pub async fn organization_in_process<J, G, P>(
    job: &J,
    registries: &G,
    run: &RunTargets<'_>,
    pace: Pace,
    now: DateTime<Utc>,
    progress: &P,
) -> OrganizationReport<J::Report>
where
    J: Job,
    J::Report: OrganizationView,
    G: Registries,
    P: Progress,
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
    let results: Vec<(Target, Result<J::Report, String>)> = stream::iter(opened)
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
            (target.clone(), result)
        })
        .buffered(pace.registries.max(1))
        .collect()
        .await;
    OrganizationReport::new(crate::lifecycle::to_second(now), run.role_name, run.regions, results)
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
    let items_key = pass_key(J::NAME, run_id, 1);
    store.put(&items_key, to_json(&items).into_bytes(), "application/json").await?;
    Ok(RunState::first_pass(J::NAME, run_id, settings, items_key, items.len(), repositories_total, true))
}

/// A shard whose registry could not be reached: every repository it covers fails with
/// `reason` (and goes into the next pass like any unfinished one).
pub async fn fail_shard<J: Job, S: ReportStore>(
    store: &S,
    item: &ShardItem,
    reason: &str,
) -> Result<ShardSummary, RunError> {
    let outcomes: Vec<(String, Outcome<J::Done>)> = item
        .repositories
        .iter()
        .map(|r| (r.name.clone(), Outcome::ReadFailed { reason: reason.to_string() }))
        .collect();
    let result = ShardResult { shard: item.shard, pass: item.pass, outcomes };
    let key = shard_key(J::NAME, &item.run_id, item.shard);
    store.put(&key, to_json(&result).into_bytes(), "application/json").await?;
    Ok(ShardSummary { shard: item.shard, pass: item.pass, done: 0, unfinished: item.repositories.len(), key })
}

/// Step 3 of an organization run: another pass over what is unfinished, or each registry's
/// report (the job's own) and the organization's.
pub async fn settle_organization<J, S>(
    job: &J,
    store: &S,
    settings: &RunSettings,
    state: &RunState,
) -> Result<Settled<OrganizationReport<J::Report>>, RunError>
where
    J: Job,
    J::Report: OrganizationView,
    S: ReportStore,
{
    let run_id = state.run_id.as_str();
    let key = context_key(J::NAME, run_id);
    let plan: OrganizationPlan = read_json(store, &key).await?.ok_or_else(|| RunError::MissingPass {
        run_id: run_id.to_string(),
        pass: 0,
        key: key.clone(),
    })?;
    let mut gathered = gather::<J::Done, S>(J::NAME, store, state).await?;
    if let Some(next) = next_pass(J::NAME, store, settings, state, &gathered).await? {
        return Ok(Settled::NextPass(next));
    }
    let mut plan = plan;
    share_destinations(plan.targets.iter_mut().filter_map(|t| t.context.as_mut()).collect());
    let mut results = Vec::new();
    for planned in plan.targets {
        let target = Target { account: planned.account, region: planned.region };
        let result = match (planned.context, planned.error) {
            (Some(cx), _) => {
                let index = gathered.registries.iter().position(|(_, t)| t.as_ref() == Some(&target));
                // A registry without repositories has no shard: its report is empty.
                let outcomes = index.map(|i| gathered.outcomes(Some(i))).unwrap_or_default();
                Ok(job.report(outcomes, &cx))
            }
            (None, error) => Err(error.unwrap_or_else(|| "not planned".to_string())),
        };
        results.push((target, result));
    }
    Ok(Settled::Final(OrganizationReport::new(
        crate::lifecycle::to_second(plan.now),
        &plan.role_name,
        &plan.regions,
        results,
    )))
}
