//! The Findings step on the stand-ins, over what the audit's handler really kept: the own
//! account's report into the own hub, an organization's registries each into its own account's
//! hub and never the function's, and the errors that name what is wrong.

use super::*;
use crate::audit::tests::{handler as audit_handler, organization_run, CENTRAL, MEMBER, NO_ROLE};
use crate::scheduled::state_machine::{self, seeded};
use ecr_keeper_core::testing::{InMemoryRegistries, InMemoryRegistry, InMemoryReportStore, InMemorySecurityHub};

type Handler = FindingsHandler<InMemoryReportStore, InMemorySecurityHub, InMemoryRegistries>;

/// The accounts the findings in `hub` name, and how many are ACTIVE.
fn accounts_and_active(hub: &InMemorySecurityHub) -> (Vec<String>, usize) {
    let findings = hub.findings();
    let mut accounts: Vec<String> = findings.iter().map(|f| f.account.clone()).collect();
    accounts.dedup();
    (accounts, findings.iter().filter(|f| f.record_state == "ACTIVE").count())
}

/// What the state machine's Findings task sends: `{"run": <the aggregate's last state>}`.
fn step(done: &Value) -> Value {
    json!({"run": done})
}

#[tokio::test]
async fn a_registrys_kept_report_becomes_findings_in_the_own_accounts_hub() {
    // GIVEN a scheduled audit of two repositories without a lifecycle policy, Security Hub on
    let store = InMemoryReportStore::default();
    let vars = [("KEEPER_REPORTS_BUCKET", "reports"), ("KEEPER_SECURITY_HUB", "true")];
    let audit = audit_handler(seeded(InMemoryRegistry::in_account(CENTRAL, "us-east-1")), store.clone(), &vars);
    let done = state_machine::run(&audit, &store).await;
    // WHEN the Findings step runs on the state the aggregate ended with
    let hub = InMemorySecurityHub::default();
    let findings: Handler = FindingsHandler::new(store.clone(), hub.clone(), None, 8);
    let answer = findings.handle(&step(&done)).await.unwrap_or_else(|e| panic!("{e}"));
    // THEN each failure is an ACTIVE finding of the registry's account
    let (accounts, active) = accounts_and_active(&hub);
    assert_eq!(accounts, vec![CENTRAL.to_string()], "{:?}", hub.findings());
    assert!(active >= 2, "one finding at least per repository without a policy: {:?}", hub.findings());
    assert_eq!(answer["active"], json!(active), "{answer}");
    // AND a second import of the same report updates them: none added, none archived
    findings.handle(&step(&done)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(accounts_and_active(&hub).1, active, "{:?}", hub.findings());
}

#[tokio::test]
async fn an_organizations_registries_go_into_their_own_accounts_hubs_and_never_the_functions() {
    // GIVEN an organization run: the central account, a member, and an account without the role
    let (_, registries, store, done) = organization_run(&[("KEEPER_SECURITY_HUB", "true")]).await;
    assert_eq!(done["organization"], json!(true), "{done}");
    // WHEN the Findings step runs with the member roles
    let own = InMemorySecurityHub::default();
    let findings: Handler = FindingsHandler::new(store.clone(), own.clone(), Some(registries.clone()), 2);
    let answer = findings.handle(&step(&done)).await.unwrap_or_else(|e| panic!("{e}"));
    // THEN each reached registry's findings are in its own account's hub, and only there
    for account in [CENTRAL, MEMBER] {
        let hub = registries.security_hub(account, "us-east-1").unwrap_or_default();
        let (accounts, active) = accounts_and_active(&hub);
        assert_eq!(accounts, vec![account.to_string()], "{account}'s hub: {:?}", hub.findings());
        assert!(active >= 2, "{account}: {:?}", hub.findings());
    }
    // AND the unreached account had no report to import, and the function's own hub got nothing
    assert_eq!(answer["registries"], json!(2), "{answer}");
    assert!(registries.security_hub(NO_ROLE, "us-east-1").is_none());
    assert!(own.findings().is_empty(), "{:?}", own.findings());
}

#[tokio::test]
async fn what_cannot_be_imported_is_named() {
    let store = InMemoryReportStore::default();
    let findings: Handler = FindingsHandler::new(store.clone(), InMemorySecurityHub::default(), None, 8);
    let state = json!({"job": "audit", "runId": "r-1", "bucket": "reports", "pass": 1, "itemsKey": "k", "shards": 1,
        "repositories": 1, "maxConcurrency": 1, "toleratedFailurePercentage": 0, "done": true,
        "reportKeys": ["reports/audit/2026-12-07/report.json", "reports/audit/latest.json"]});
    // Not the Findings step's payload: the field it needs is named
    let e = findings.handle(&json!({"mode": "aggregate"})).await.err();
    assert!(matches!(&e, Some(FunctionError::NotAStep(m)) if m.contains("run")), "{e:?}");
    // A report the aggregate named but the bucket does not hold: the key is named
    let e = findings.handle(&step(&state)).await.err();
    assert!(
        matches!(&e, Some(FunctionError::NoKeptReport { run, key }) if run == "r-1" && key.ends_with("2026-12-07/report.json")),
        "{e:?}"
    );
    // A run that kept no report at all
    let mut none = state.clone();
    none["reportKeys"] = json!([]);
    let e = findings.handle(&step(&none)).await.err();
    assert!(matches!(&e, Some(FunctionError::NoKeptReport { .. })), "{e:?}");
    // An organization's index reaching a function without member roles
    let mut organization = state.clone();
    organization["organization"] = json!(true);
    let e = findings.handle(&step(&organization)).await.err();
    assert!(matches!(&e, Some(FunctionError::NoMemberRole(run)) if run == "r-1"), "{e:?}");
    assert_eq!(e.map(|e| e.error_type()), Some("NotAnOrganizationRun"));
}
