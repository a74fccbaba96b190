//! The steps of a scheduled run as the state machine sends them, and what the audit and the
//! cost report do alike with each. What differs (metrics, the dashboard) stays in the function.

use crate::FunctionError;
use ecr_keeper_core::alerts::AlertPublisher;
use ecr_keeper_core::metrics::RepositoryMetrics;
use ecr_keeper_core::organization::{
    fail_shard, plan_organization, settle_organization, Directory, Keeping, KeptInStore, OrganizationReport,
    OrganizationView, Registries, Scope,
};
use ecr_keeper_core::ports::{Registry, RegistryError};
use ecr_keeper_core::run::{
    kept_report, plan, publish_report, run_shard, run_summary, settle, Job, Published, ReportStore, RunError,
    RunReport, RunSettings, RunStart, RunState, Settled, ShardItem, StoreError,
};
use lambda_runtime::tracing;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

/// One invocation's work, by `mode`.
#[derive(Debug, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Step {
    Plan {
        #[serde(rename = "runId")]
        run_id: String,
    },
    Shard {
        item: Box<ShardItem>,
    },
    Aggregate {
        run: RunState,
    },
}

impl Step {
    /// The run a step belongs to (its AssumeRole sessions carry it).
    pub fn run_id(&self) -> Option<&str> {
        match self {
            Step::Plan { run_id } => Some(run_id),
            Step::Shard { item } => Some(&item.run_id),
            Step::Aggregate { run } => Some(&run.run_id),
        }
    }

    /// `None` for an event without `mode` (a direct or scheduled invocation: the whole job in
    /// one run, as before the state machine).
    pub fn of(event: &Value) -> Option<Result<Step, FunctionError>> {
        event.get("mode")?;
        Some(serde_json::from_value(event.clone()).map_err(|e| FunctionError::NotAStep(e.to_string())))
    }
}

pub fn is_throttled(e: &RunError) -> bool {
    matches!(e, RunError::Registry(RegistryError::Throttled { .. }) | RunError::Store(StoreError::Throttled { .. }))
}

/// What a step produced.
pub enum StepOutcome<R> {
    /// Plan, or another pass: the state the Map reads.
    Running(RunState),
    /// A shard's summary.
    Shard(Value),
    /// The report over every repository: the function publishes its metrics, then [`finish`].
    Report(RunState, R),
    /// An organization run's report over every registry, likewise.
    Organization(RunState, Box<OrganizationReport<R>>),
}

/// An organization run's parts (`KEEPER_ACCOUNTS`): the scope, how to reach each registry,
/// and the organization's accounts.
pub struct OrganizationStep<'a, G, D> {
    pub scope: &'a Scope,
    pub registries: &'a G,
    pub directory: &'a D,
    /// Registries the plan reaches and lists at once.
    pub concurrency: usize,
}

/// The report kept last, for the change; a store that cannot be read fails the step (the state
/// machine retries it) rather than reporting "no change".
pub async fn previous_report<R: RunReport, S: ReportStore>(store: &S, job: &str) -> Result<Option<R>, FunctionError> {
    Ok(kept_report(store, job).await.map_err(RunError::from)?)
}

/// KEEPER_ACCOUNTS: an organization run's scope, its registries (through the member role) and
/// the directory that lists its accounts, built once in `main`.
pub struct RunOrganization<G, D> {
    pub scope: Scope,
    pub registries: G,
    pub directory: D,
}

impl<G: Registries, D> RunOrganization<G, D> {
    /// The member registries for one run of `job`, their role sessions named
    /// `ecr-keeper-<job>-<run>`: what a member account's CloudTrail shows.
    pub fn members(&self, job: &str, run: impl std::fmt::Display) -> G {
        self.registries.for_run(&format!("ecr-keeper-{job}-{run}"))
    }

    /// One step's view of the organization, over the run's `members`.
    pub fn step<'a>(&'a self, members: &'a G, concurrency: usize) -> OrganizationStep<'a, G, D> {
        OrganizationStep { scope: &self.scope, registries: members, directory: &self.directory, concurrency }
    }
}

/// Where the run's pieces are, for one step.
pub struct StepContext<'a> {
    pub settings: &'a RunSettings,
    pub repository_prefix: Option<&'a str>,
    pub region: &'a str,
    pub concurrency: usize,
    pub deadline: Option<Instant>,
    pub now: chrono::DateTime<chrono::Utc>,
    /// KEEPER_REPOSITORY_METRICS: the repositories whose own series an organization run's
    /// index keeps (the totals always).
    pub repository_metrics: &'a RepositoryMetrics,
}

pub async fn run_step<J, R, S, G, D>(
    job: &J,
    registry: &R,
    store: &S,
    cx: &StepContext<'_>,
    organization: Option<&OrganizationStep<'_, G, D>>,
    step: Step,
) -> Result<StepOutcome<J::Report>, FunctionError>
where
    J: Job,
    J::Report: OrganizationView,
    R: Registry,
    S: ReportStore,
    G: Registries,
    D: Directory,
{
    match step {
        Step::Plan { run_id } => {
            let state = match organization {
                None => {
                    plan(
                        job,
                        registry,
                        store,
                        cx.settings,
                        cx.repository_prefix,
                        cx.region,
                        RunStart { run_id: &run_id, now: cx.now },
                    )
                    .await?
                }
                Some(org) => {
                    let targets = org.scope.targets(Some(org.directory)).await?;
                    tracing::info!(run = %run_id, registries = targets.len(), "planning over the organization");
                    plan_organization(
                        job,
                        org.registries,
                        store,
                        cx.settings,
                        &org.scope.run(&targets, cx.repository_prefix),
                        RunStart { run_id: &run_id, now: cx.now },
                        org.concurrency,
                    )
                    .await?
                }
            };
            tracing::info!(run = %run_id, shards = state.shards, repositories = state.repositories, "planned");
            Ok(StepOutcome::Running(state))
        }
        Step::Shard { item } => {
            let summary = match (&item.target, organization) {
                (None, _) => run_shard(job, registry, store, &item, cx.concurrency, cx.deadline).await?,
                (Some(target), None) => {
                    return Err(FunctionError::NotAnOrganizationRun(item.shard, target.account.clone()))
                }
                // One AssumeRole per item; its credentials serve the whole shard.
                (Some(target), Some(org)) => match org.registries.reach(target).await {
                    Ok(member) => run_shard(job, &member, store, &item, cx.concurrency, cx.deadline).await?,
                    Err(e) => {
                        tracing::warn!(account = %target.account, region = %target.region, error = %e, "registry not reached");
                        fail_shard::<J, _>(store, &item, &e.to_string()).await?
                    }
                },
            };
            tracing::info!(
                shard = summary.shard,
                pass = summary.pass,
                done = summary.done,
                unfinished = summary.unfinished,
                "shard written"
            );
            Ok(StepOutcome::Shard(serde_json::to_value(summary).unwrap_or_default()))
        }
        Step::Aggregate { run } if run.organization => {
            let kept = KeptInStore { store, job: J::NAME };
            let keeping = Keeping { reports: &kept, repository_metrics: cx.repository_metrics };
            Ok(match settle_organization(job, store, cx.settings, &run, keeping).await? {
                Settled::NextPass(state) => another_pass(state),
                Settled::Final(report) => StepOutcome::Organization(run, Box::new(report)),
            })
        }
        Step::Aggregate { run } => Ok(match settle(job, store, cx.settings, &run).await? {
            Settled::NextPass(state) => another_pass(state),
            Settled::Final(report) => StepOutcome::Report(run, report),
        }),
    }
}

fn another_pass<R>(state: RunState) -> StepOutcome<R> {
    tracing::info!(pass = state.pass, repositories = state.repositories, "another pass over what is unfinished");
    StepOutcome::Running(state)
}

/// Keeps the report (JSON, markdown, HTML; dated and latest) with the change since `previous`
/// (the caller's [`kept_report`], read once), sends the summary to the alert topic when there
/// is one, and returns the state that ends the run.
pub async fn finish<R: RunReport, S: ReportStore, P: AlertPublisher>(
    job: &str,
    store: &S,
    publisher: Option<&P>,
    mut state: RunState,
    report: &R,
    previous: Option<&R>,
) -> Result<RunState, FunctionError> {
    let published: Published = publish_report(store, job, report, previous).await.map_err(RunError::from)?;
    if let Some(publisher) = publisher {
        // The report is kept whatever happens here; a lost summary is logged, not retried
        // (a retry would publish the metrics twice).
        if let Err(e) = publisher.publish(&run_summary(report, &published, &state.bucket)).await {
            tracing::warn!(error = %e, "the run's summary was not published");
        }
    }
    tracing::info!(bucket = %state.bucket, keys = ?published.keys, complete = report.complete(), "report kept");
    state.done = true;
    state.complete = Some(report.complete());
    state.report_keys = published.keys;
    Ok(state)
}

/// [`finish`], with the change since the report kept last (read here): for a report that did
/// not need the previous one before.
pub async fn finish_after_previous<R: RunReport, S: ReportStore, P: AlertPublisher>(
    job: &str,
    store: &S,
    publisher: Option<&P>,
    state: RunState,
    report: &R,
) -> Result<RunState, FunctionError> {
    let previous: Option<R> = previous_report(store, job).await?;
    finish(job, store, publisher, state, report, previous.as_ref()).await
}

/// The state machine, played in memory for the handlers' tests.
#[cfg(test)]
pub(crate) mod state_machine {
    use crate::FunctionError;
    use ecr_keeper_core::image::Image;
    use ecr_keeper_core::testing::{ecr_defaults, InMemoryRegistry, InMemoryReportStore};
    use serde_json::{json, Value};
    use std::future::Future;

    /// The environment `pairs` make, as `from_env` reads it.
    pub(crate) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// Two repositories without a lifecycle policy, three images of 100 MB each.
    pub(crate) fn seeded(registry: InMemoryRegistry) -> InMemoryRegistry {
        for (r, repository) in ["team-a/api", "team-b/web"].iter().enumerate() {
            registry.with_repository(repository, ecr_defaults(), &[]);
            for i in 0..3u64 {
                let digest = format!("sha256:{:064x}", r as u64 * 10 + i);
                let pushed = chrono::Utc::now() - chrono::Duration::days(10 * i as i64);
                registry.with_image(repository, Image::new(&digest, &[&format!("v{i}")], pushed, 100_000_000));
            }
        }
        registry
    }

    /// A scheduled function's handler, as the state machine invokes it.
    pub(crate) trait Invoke {
        fn invoke(&self, payload: Value) -> impl Future<Output = Result<Value, FunctionError>>;
    }

    /// Plan, each pass's shards (read from the store as the Map's ItemReader reads them), then
    /// the aggregate, until a state says done; that state.
    pub(crate) async fn run<H: Invoke>(handler: &H, store: &InMemoryReportStore) -> Value {
        let mut run =
            handler.invoke(json!({"mode": "plan", "runId": "run-1"})).await.unwrap_or_else(|e| panic!("plan: {e}"));
        for _ in 0..10 {
            let key = run["itemsKey"].as_str().unwrap_or_default().to_string();
            let items: Vec<Value> = serde_json::from_str(&store.text(&key).unwrap_or_default())
                .unwrap_or_else(|e| panic!("the items at {key}: {e}"));
            for item in items {
                handler.invoke(json!({"mode": "shard", "item": item})).await.unwrap_or_else(|e| panic!("shard: {e}"));
            }
            run = handler
                .invoke(json!({"mode": "aggregate", "run": run}))
                .await
                .unwrap_or_else(|e| panic!("aggregate: {e}"));
            if run["done"] == json!(true) {
                return run;
            }
        }
        panic!("no report after 10 passes: {run}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The payloads statemachines/scheduled-run.asl.json sends, with JSONPath fields filled in
    /// as Step Functions fills them.
    fn asl() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../statemachines/scheduled-run.asl.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn filled(template: &Value, fields: &[(&str, Value)]) -> Value {
        let mut out = serde_json::Map::new();
        for (k, v) in template.as_object().into_iter().flatten() {
            match k.strip_suffix(".$") {
                Some(name) => {
                    let value = fields.iter().find(|(f, _)| *f == name).map(|(_, v)| v.clone());
                    out.insert(name.to_string(), value.unwrap_or_else(|| panic!("no value for {k}")));
                }
                None => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Value::Object(out)
    }

    fn state() -> Value {
        json!({"job": "audit", "runId": "r", "bucket": "b", "pass": 1, "itemsKey": "runs/audit/r/passes/1.json",
               "shards": 1, "repositories": 0, "maxConcurrency": 10, "toleratedFailurePercentage": 0, "done": false})
    }

    #[test]
    fn every_payload_the_state_machine_sends_is_a_step() {
        let asl = asl();
        let states = &asl["States"];
        let plan = filled(&states["Plan"]["Parameters"]["Payload"], &[("runId", json!("audit-1"))]);
        assert!(matches!(Step::of(&plan), Some(Ok(Step::Plan { run_id })) if run_id == "audit-1"));
        let item = json!({"runId": "audit-1", "pass": 1, "shard": 0, "repositories": [],
            "context": {"now": "2026-11-01T00:00:00Z", "region": "us-east-1", "registryId": "1",
                        "scanning": {"registryId": null, "enhanced": false, "rules": []}}});
        let shard = filled(&states["Shards"]["ItemSelector"], &[("item", item)]);
        assert!(matches!(Step::of(&shard), Some(Ok(Step::Shard { .. }))), "{shard}");
        let aggregate = filled(&states["Aggregate"]["Parameters"]["Payload"], &[("run", state())]);
        assert!(matches!(Step::of(&aggregate), Some(Ok(Step::Aggregate { .. }))), "{aggregate}");
        // The Map reads the fields the plan returns.
        let reader = &states["Shards"]["ItemReader"]["Parameters"];
        for path in [&reader["Bucket.$"], &reader["Key.$"], &states["Shards"]["MaxConcurrencyPath"]] {
            let field = path.as_str().and_then(|p| p.strip_prefix("$.run.")).unwrap_or_default();
            assert!(state().get(field).is_some(), "{path} is not a field of the run's state");
        }
    }

    #[test]
    fn the_findings_step_is_chosen_by_the_field_the_audit_sets_and_gets_the_run_it_reads() {
        let asl = asl();
        let states = &asl["States"];
        // A finished run goes through "Findings?", which asks for the audit's `findings` field
        // (crate::audit sets it with KEEPER_SECURITY_HUB) by presence, never by value.
        assert_eq!(states["Reported?"]["Choices"][0]["Next"], json!("Findings?"));
        let rule = &states["Findings?"]["Choices"][0];
        assert_eq!(
            (&rule["Variable"], &rule["IsPresent"], &rule["Next"]),
            (&json!("$.run.findings"), &json!(true), &json!("Findings"))
        );
        assert_eq!(states["Findings"]["Next"], json!("Reported"));
        // The Findings task's payload is what security-hub-findings reads.
        let mut done = state();
        done["done"] = json!(true);
        let payload = filled(&states["Findings"]["Parameters"]["Payload"], &[("run", done)]);
        let step: Result<crate::findings::FindingsStep, _> = serde_json::from_value(payload.clone());
        assert!(step.is_ok_and(|s| s.run.done), "{payload}");
    }

    #[test]
    fn an_event_without_mode_is_a_whole_registry_run_and_a_bad_mode_is_named() {
        assert!(Step::of(&json!({"source": "aws.scheduler"})).is_none());
        let bad = Step::of(&json!({"mode": "shards"}));
        assert!(matches!(&bad, Some(Err(FunctionError::NotAStep(m))) if m.contains("shards")), "{bad:?}");
    }
}
