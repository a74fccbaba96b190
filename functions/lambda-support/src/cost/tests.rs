//! The cost report's handler on the stand-ins: a state machine's run, one invocation for the
//! whole registry, an organization with an account that has no member role, and refused input.

use super::*;
use crate::scheduled::state_machine::{self, env, seeded, Invoke};
use ecr_keeper_core::alerts::memory::RecordingPublisher;
use ecr_keeper_core::config::CostConfig;
use ecr_keeper_core::metrics::names;
use ecr_keeper_core::organization::Scope;
use ecr_keeper_core::testing::{
    InMemoryDirectory, InMemoryMetricsStore, InMemoryRegistries, InMemoryRegistry, InMemoryReportStore, RecordingSink,
};

const CENTRAL: &str = "111111111111";
const MEMBER: &str = "222222222222";
const NO_ROLE: &str = "333333333333";

type Handler = CostHandler<
    InMemoryRegistry,
    InMemoryMetricsStore,
    RecordingSink,
    InMemoryReportStore,
    RecordingPublisher,
    InMemoryRegistries,
    InMemoryDirectory,
>;

impl Invoke for Handler {
    async fn invoke(&self, payload: Value) -> Result<Value, FunctionError> {
        self.handle(&payload, Duration::from_secs(900)).await
    }
}

/// The handler as `main` builds it from `vars`, on the stand-ins.
fn handler(registry: InMemoryRegistry, store: InMemoryReportStore, vars: &[(&str, &str)]) -> Handler {
    let CostConfig { mut options, standard, dashboard } =
        CostConfig::from_env(env(vars)).unwrap_or_else(|e| panic!("{e}"));
    options.region = "us-east-1".into();
    let scheduled = ScheduledRunConfig::from_env(env(vars)).unwrap_or_else(|e| panic!("{e}"));
    let ports = CostPorts {
        registry,
        metrics_store: InMemoryMetricsStore::default(),
        sink: RecordingSink::default(),
        store,
        publisher: Some(RecordingPublisher::default()),
    };
    let settings =
        CostSettings { options, standard, dashboard, scheduled, repository_metrics: RepositoryMetrics::default() };
    CostHandler::new(ports, settings, None)
}

fn published(handler: &Handler, name: &str) -> usize {
    handler.ports().sink.metrics().iter().filter(|m| m.name == name).count()
}

#[tokio::test]
async fn a_scheduled_run_keeps_the_report_and_publishes_the_totals_and_the_summary_once() {
    // GIVEN two repositories, shards of one repository, a bucket and a summary topic
    let store = InMemoryReportStore::default();
    let vars = [("KEEPER_REPORTS_BUCKET", "reports"), ("KEEPER_SHARD_REPOSITORIES", "1")];
    let handler = handler(seeded(InMemoryRegistry::new()), store.clone(), &vars);
    // WHEN the state machine runs plan, two shards and the aggregate
    let done = state_machine::run(&handler, &store).await;
    // THEN the report is kept whole, as latest too
    assert_eq!((done["complete"].clone(), done["shards"].clone()), (json!(true), json!(2)), "{done}");
    let latest: Value = serde_json::from_str(&store.text("reports/cost/latest.json").unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(latest["total"]["repositories"], json!(2), "{latest}");
    // AND the totals, the dashboard and the summary once each: by the aggregate, never a shard
    assert_eq!(published(&handler, names::ESTIMATED_MONTHLY_COST_USD), 1);
    assert!(handler.ports().metrics_store.dashboard("ecr-keeper-costs").is_some());
    let messages = handler.ports().publisher.as_ref().map(RecordingPublisher::messages).unwrap_or_default();
    assert_eq!(messages.len(), 1, "{messages:?}");
}

#[tokio::test]
async fn the_plan_and_the_shards_never_touch_cloudwatch() {
    // GIVEN a run in shards of one repository (so a shard's cold start may build no CloudWatch
    // client: `cloudwatch_on_first_call` in main)
    let store = InMemoryReportStore::default();
    let vars = [("KEEPER_REPORTS_BUCKET", "reports"), ("KEEPER_SHARD_REPOSITORIES", "1")];
    let handler = handler(seeded(InMemoryRegistry::new()), store.clone(), &vars);
    // WHEN the plan and every shard run, but not yet the aggregate
    let run = handler.invoke(json!({"mode": "plan", "runId": "run-1"})).await.unwrap_or_else(|e| panic!("{e}"));
    let key = run["itemsKey"].as_str().unwrap_or_default().to_string();
    let items: Vec<Value> =
        serde_json::from_str(&store.text(&key).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(items.len(), 2);
    for item in items {
        handler.invoke(json!({"mode": "shard", "item": item})).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // THEN no metric and no dashboard went out: only the aggregate calls CloudWatch
    assert!(handler.ports().sink.metrics().is_empty(), "{:?}", handler.ports().sink.metrics());
    assert!(handler.ports().metrics_store.dashboard("ecr-keeper-costs").is_none());
}

#[tokio::test]
async fn without_a_mode_the_whole_registry_is_reported_in_one_invocation_and_nothing_is_kept() {
    // GIVEN no bucket at all
    let store = InMemoryReportStore::default();
    let handler = handler(seeded(InMemoryRegistry::new()), store.clone(), &[]);
    // WHEN EventBridge Scheduler's event arrives (no mode)
    let scheduled = json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}});
    let answer = handler.handle(&scheduled, Duration::from_secs(900)).await.unwrap_or_else(|e| panic!("{e}"));
    // THEN the numbers come back, the totals and dashboard are published, no file is written
    assert_eq!(answer["repositories"], json!(2), "{answer}");
    assert!(answer["monthlyCostUsd"].as_f64().is_some_and(|c| c > 0.0), "{answer}");
    assert_eq!(published(&handler, names::ESTIMATED_MONTHLY_COST_USD), 1);
    assert!(handler.ports().metrics_store.dashboard("ecr-keeper-costs").is_some());
    assert!(store.keys().is_empty(), "{:?}", store.keys());
}

#[tokio::test]
async fn one_invocation_stops_at_lambdas_time_and_still_reports_what_it_did_not_read() {
    // GIVEN two repositories, and an invocation with less time left than writing the report takes
    let store = InMemoryReportStore::default();
    let handler = handler(seeded(InMemoryRegistry::new()), store.clone(), &[]);
    let scheduled = json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}});
    // WHEN it runs without a mode
    let answer = handler.handle(&scheduled, Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("{e}"));
    // THEN no repository is read, both are named as not read, and the totals still go out
    assert_eq!((answer["repositories"].clone(), answer["notRead"].clone()), (json!(0), json!(2)), "{answer}");
    assert_eq!(published(&handler, names::ESTIMATED_MONTHLY_COST_USD), 1);
    // AND with Lambda's full time, the same registry is read whole
    let answer = handler.handle(&scheduled, Duration::from_secs(900)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((answer["repositories"].clone(), answer["notRead"].clone()), (json!(2), json!(0)), "{answer}");
}

#[tokio::test]
async fn a_step_refuses_what_it_cannot_run_and_names_why() {
    let store = InMemoryReportStore::default();
    let handler = handler(seeded(InMemoryRegistry::new()), store.clone(), &[]);
    // A step without KEEPER_REPORTS_BUCKET names the variable.
    let plan = handler.handle(&json!({"mode": "plan", "runId": "r"}), Duration::from_secs(900)).await;
    assert!(matches!(&plan, Err(FunctionError::Config(e)) if e.variable == "KEEPER_REPORTS_BUCKET"), "{plan:?}");
    // A mode the state machine never sends names the accepted ones.
    let sweep = handler.handle(&json!({"mode": "sweep"}), Duration::from_secs(900)).await;
    let message = sweep.as_ref().err().map(ToString::to_string).unwrap_or_default();
    assert!(
        matches!(sweep, Err(FunctionError::NotAStep(_))) && message.contains("\"plan\" | \"shard\" | \"aggregate\""),
        "{message}"
    );
    // Neither touched the registry's numbers or the store.
    assert_eq!(published(&handler, names::ESTIMATED_MONTHLY_COST_USD), 0);
    assert!(store.keys().is_empty(), "{:?}", store.keys());
}

#[tokio::test]
async fn an_organization_run_reads_each_reached_registry_and_reports_the_account_without_a_role() {
    // GIVEN the central account's and a member's registries; a third account has no member role
    let registries = InMemoryRegistries::default();
    seeded(registries.with(CENTRAL, "us-east-1"));
    seeded(registries.with(MEMBER, "us-east-1"));
    let accounts = format!("{CENTRAL},{MEMBER},{NO_ROLE}");
    let vars =
        [("KEEPER_REPORTS_BUCKET", "reports"), ("KEEPER_ACCOUNTS", accounts.as_str()), ("KEEPER_REGIONS", "us-east-1")];
    let scope = Scope::from_env(env(&vars)).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("no scope"));
    let store = InMemoryReportStore::default();
    let mut handler = handler(InMemoryRegistry::new(), store.clone(), &vars);
    handler.organization =
        Some(RunOrganization { scope, registries: registries.clone(), directory: InMemoryDirectory::default() });
    // WHEN the state machine runs
    let done = state_machine::run(&handler, &store).await;
    // THEN each account was reached, the run is incomplete, and the index names the unreached
    let reached: Vec<String> = registries.reached().iter().map(|t| t.account.clone()).collect();
    for account in [CENTRAL, MEMBER, NO_ROLE] {
        assert!(reached.iter().any(|a| a == account), "{account} not reached: {reached:?}");
    }
    assert_eq!(done["complete"], json!(false), "{done}");
    let index = store.text("reports/cost/latest.json").unwrap_or_default();
    assert!(index.contains(NO_ROLE) && index.contains("AccessDenied"), "{index}");
    // AND the organization's dashboard and totals were published once
    assert!(handler.ports().metrics_store.dashboard("ecr-keeper-costs").is_some());
    assert_eq!(published(&handler, names::ESTIMATED_MONTHLY_COST_USD), 1);
}
