//! The audit's handler on the stand-ins: a state machine's run into the own Security Hub, one
//! invocation for the whole registry, and an organization whose findings go to each member's own
//! Security Hub and never to the function's.

use super::*;
use crate::scheduled::state_machine::{self, env, seeded, Invoke};
use ecr_keeper_core::alerts::memory::RecordingPublisher;
use ecr_keeper_core::metrics::names;
use ecr_keeper_core::organization::Scope;
use ecr_keeper_core::testing::{
    InMemoryDirectory, InMemoryRegistries, InMemoryRegistry, InMemoryReportStore, InMemorySecurityHub,
    InMemoryWorkloads, RecordingSink,
};

const CENTRAL: &str = "111111111111";
const MEMBER: &str = "222222222222";
const NO_ROLE: &str = "333333333333";

type Handler = AuditHandler<
    InMemoryRegistry,
    RecordingSink,
    InMemoryReportStore,
    RecordingPublisher,
    InMemoryWorkloads,
    InMemorySecurityHub,
    InMemoryRegistries,
    InMemoryDirectory,
>;

impl Invoke for Handler {
    async fn invoke(&self, payload: Value) -> Result<Value, FunctionError> {
        self.handle(&payload, Duration::from_secs(900)).await
    }
}

/// The handler as `main` builds it from `vars`, on the stand-ins, with the function's own
/// Security Hub when KEEPER_SECURITY_HUB says so.
fn handler(registry: InMemoryRegistry, store: InMemoryReportStore, vars: &[(&str, &str)]) -> Handler {
    let config = AuditConfig::from_env(env(vars)).unwrap_or_else(|e| panic!("{e}"));
    let scheduled = ScheduledRunConfig::from_env(env(vars)).unwrap_or_else(|e| panic!("{e}"));
    let ports = AuditPorts {
        registry,
        sink: RecordingSink::default(),
        store,
        publisher: Some(RecordingPublisher::default()),
        workloads: None,
        security_hub: config.security_hub.then(InMemorySecurityHub::default),
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

/// The accounts the findings in `hub` name, and how many are ACTIVE.
fn accounts_and_active(hub: &InMemorySecurityHub) -> (Vec<String>, usize) {
    let findings = hub.findings();
    let mut accounts: Vec<String> = findings.iter().map(|f| f.account.clone()).collect();
    accounts.dedup();
    (accounts, findings.iter().filter(|f| f.record_state == "ACTIVE").count())
}

#[tokio::test]
async fn a_scheduled_run_keeps_the_report_publishes_once_and_imports_into_the_own_security_hub() {
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
    // AND the failures are findings in the own account's hub
    let hub = handler.ports().security_hub.clone().unwrap_or_default();
    let (accounts, active) = accounts_and_active(&hub);
    assert_eq!(accounts, vec![CENTRAL.to_string()]);
    assert!(active >= 2, "one finding at least per repository without a policy: {:?}", hub.findings());
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
    assert!(handler.ports().security_hub.is_none());
}

#[tokio::test]
async fn an_organization_run_imports_each_registrys_findings_into_its_own_accounts_security_hub_only() {
    // GIVEN the central account's and a member's registries, a third account without the member
    // role, and Security Hub on
    let registries = InMemoryRegistries::default();
    seeded(registries.with(CENTRAL, "us-east-1"));
    seeded(registries.with(MEMBER, "us-east-1"));
    let accounts = format!("{CENTRAL},{MEMBER},{NO_ROLE}");
    let vars = [
        ("KEEPER_REPORTS_BUCKET", "reports"),
        ("KEEPER_ACCOUNTS", accounts.as_str()),
        ("KEEPER_REGIONS", "us-east-1"),
        ("KEEPER_SECURITY_HUB", "true"),
    ];
    let scope = Scope::from_env(env(&vars)).unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("no scope"));
    let store = InMemoryReportStore::default();
    let mut handler = handler(InMemoryRegistry::new(), store.clone(), &vars);
    handler.organization =
        Some(RunOrganization { scope, registries: registries.clone(), directory: InMemoryDirectory::default() });
    // WHEN the state machine runs
    let done = state_machine::run(&handler, &store).await;
    // THEN the run is incomplete (one account unreached) and its index names it
    assert_eq!(done["complete"], json!(false), "{done}");
    let index = store.text("reports/audit/latest.json").unwrap_or_default();
    assert!(index.contains(NO_ROLE), "{index}");
    // AND each reached registry's findings are in its own account's hub, and only there
    for account in [CENTRAL, MEMBER] {
        let hub = registries.security_hub(account, "us-east-1").unwrap_or_default();
        let (accounts, active) = accounts_and_active(&hub);
        assert_eq!(accounts, vec![account.to_string()], "{account}'s hub: {:?}", hub.findings());
        assert!(active >= 2, "{account}: {:?}", hub.findings());
    }
    // AND the function's own hub (the single-registry path's) got nothing
    let own = handler.ports().security_hub.clone().unwrap_or_default();
    assert!(own.findings().is_empty(), "{:?}", own.findings());
    // AND the organization's totals were published once
    assert_eq!(published(&handler, names::NON_COMPLIANT_REPOSITORIES), 1);
}
