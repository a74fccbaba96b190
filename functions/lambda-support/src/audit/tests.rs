//! The audit's handler on the stand-ins: a state machine's run, one invocation for the whole
//! registry, and an organization's run. (What the Findings step then imports: `crate::findings`.)

use super::*;
use crate::scheduled::state_machine::{self, env, seeded, Invoke};
use ecr_keeper_core::alerts::memory::RecordingPublisher;
use ecr_keeper_core::metrics::names;
use ecr_keeper_core::organization::Scope;
use ecr_keeper_core::testing::{
    InMemoryDirectory, InMemoryRegistries, InMemoryRegistry, InMemoryReportStore, InMemoryWorkloads, RecordingSink,
};

pub(crate) const CENTRAL: &str = "111111111111";
pub(crate) const MEMBER: &str = "222222222222";
pub(crate) const NO_ROLE: &str = "333333333333";

pub(crate) type Handler = AuditHandler<
    InMemoryRegistry,
    RecordingSink,
    InMemoryReportStore,
    RecordingPublisher,
    InMemoryWorkloads,
    InMemoryRegistries,
    InMemoryDirectory,
>;

impl Invoke for Handler {
    async fn invoke(&self, payload: Value) -> Result<Value, FunctionError> {
        self.handle(&payload, Duration::from_secs(900)).await
    }
}

/// The handler as `main` builds it from `vars`, on the stand-ins.
pub(crate) fn handler(registry: InMemoryRegistry, store: InMemoryReportStore, vars: &[(&str, &str)]) -> Handler {
    let config = AuditConfig::from_env(env(vars)).unwrap_or_else(|e| panic!("{e}"));
    let scheduled = ScheduledRunConfig::from_env(env(vars)).unwrap_or_else(|e| panic!("{e}"));
    let ports = AuditPorts {
        registry,
        sink: RecordingSink::default(),
        store,
        publisher: Some(RecordingPublisher::default()),
        workloads: None,
    };
    let settings = AuditSettings {
        config,
        scheduled,
        region: "us-east-1".into(),
        repository_metrics: RepositoryMetrics::default(),
    };
    AuditHandler::new(ports, settings, None)
}

fn published(handler: &Handler, name: &str) -> usize {
    handler.ports().sink.metrics().iter().filter(|m| m.name == name).count()
}

/// The audit of two accounts' registries and a third account without the member role, as a
/// state machine's run with `vars` besides.
pub(crate) async fn organization_run(
    vars: &[(&str, &str)],
) -> (Handler, InMemoryRegistries, InMemoryReportStore, Value) {
    let registries = InMemoryRegistries::default();
    seeded(registries.with(CENTRAL, "us-east-1"));
    seeded(registries.with(MEMBER, "us-east-1"));
    let accounts = format!("{CENTRAL},{MEMBER},{NO_ROLE}");
    let mut all = vec![
        ("KEEPER_REPORTS_BUCKET", "reports"),
        ("KEEPER_ACCOUNTS", accounts.as_str()),
        ("KEEPER_REGIONS", "us-east-1"),
    ];
    all.extend_from_slice(vars);
    let scope = Scope::from_env(env(&all)).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("no scope"));
    let store = InMemoryReportStore::default();
    let mut handler = handler(InMemoryRegistry::new(), store.clone(), &all);
    handler.organization =
        Some(RunOrganization { scope, registries: registries.clone(), directory: InMemoryDirectory::default() });
    let done = state_machine::run(&handler, &store).await;
    (handler, registries, store, done)
}

#[tokio::test]
async fn a_scheduled_run_keeps_the_report_publishes_once_and_sends_the_state_machine_to_its_findings_step() {
    // GIVEN two repositories without a lifecycle policy, shards of one, Security Hub on
    let store = InMemoryReportStore::default();
    let vars =
        [("KEEPER_REPORTS_BUCKET", "reports"), ("KEEPER_SHARD_REPOSITORIES", "1"), ("KEEPER_SECURITY_HUB", "true")];
    let handler = handler(seeded(InMemoryRegistry::in_account(CENTRAL, "us-east-1")), store.clone(), &vars);
    // WHEN the state machine runs plan, two shards and the aggregate
    let done = state_machine::run(&handler, &store).await;
    // THEN the report is kept whole, as latest too
    assert_eq!((done["complete"].clone(), done["shards"].clone()), (json!(true), json!(2)), "{done}");
    let latest: Value = serde_json::from_str(&store.text("reports/audit/latest.json").unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(latest["summary"]["repositories"], json!(2), "{latest}");
    // AND the totals and the summary once each, by the aggregate: never per shard
    assert_eq!(published(&handler, names::NON_COMPLIANT_REPOSITORIES), 1);
    let messages = handler.ports().publisher.as_ref().map(RecordingPublisher::messages).unwrap_or_default();
    assert_eq!(messages.len(), 1, "{messages:?}");
    // AND the last state sends the state machine on to the Findings step
    assert_eq!(done["findings"], json!(true), "{done}");
    // AND without KEEPER_SECURITY_HUB it does not
    let store = InMemoryReportStore::default();
    let quiet = self::handler(seeded(InMemoryRegistry::in_account(CENTRAL, "us-east-1")), store.clone(), &vars[..2]);
    let done = state_machine::run(&quiet, &store).await;
    assert_eq!((done["done"].clone(), done.get("findings")), (json!(true), None), "{done}");
}

#[tokio::test]
async fn without_a_mode_the_whole_registry_is_audited_in_one_invocation_and_nothing_is_kept() {
    // GIVEN no bucket at all, Security Hub off
    let store = InMemoryReportStore::default();
    let handler = handler(seeded(InMemoryRegistry::in_account(CENTRAL, "us-east-1")), store.clone(), &[]);
    // WHEN EventBridge Scheduler's event arrives (no mode)
    let scheduled = json!({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}});
    let answer = handler.handle(&scheduled, Duration::from_secs(900)).await.unwrap_or_else(|e| panic!("{e}"));
    // THEN the numbers come back and the totals are published; no file is written
    assert_eq!((answer["repositories"].clone(), answer["nonCompliant"].clone()), (json!(2), json!(2)), "{answer}");
    assert_eq!(published(&handler, names::NON_COMPLIANT_REPOSITORIES), 1);
    assert!(store.keys().is_empty(), "{:?}", store.keys());
}

#[tokio::test]
async fn an_organization_run_names_the_account_it_could_not_reach_and_publishes_the_totals_once() {
    // GIVEN the central account's and a member's registries, a third account without the member
    // role, and Security Hub on
    // WHEN the state machine runs
    let (handler, registries, store, done) = organization_run(&[("KEEPER_SECURITY_HUB", "true")]).await;
    // THEN the run is incomplete (one account unreached) and its index names it
    assert_eq!(done["complete"], json!(false), "{done}");
    let index = store.text("reports/audit/latest.json").unwrap_or_default();
    assert!(index.contains(NO_ROLE), "{index}");
    // AND both reachable registries were read, and the run goes on to its Findings step
    let reached: Vec<String> = registries.reached().into_iter().map(|t| t.account).collect();
    assert!(reached.contains(&MEMBER.to_string()), "{reached:?}");
    assert_eq!(done["findings"], json!(true), "{done}");
    // AND the organization's totals were published once
    assert_eq!(published(&handler, names::NON_COMPLIANT_REPOSITORIES), 1);
}
