//! Organization runs on in-memory registries: scope, reach, the report's parts and sums, and the
//! state machine's steps against the one-process run.

use super::*;
use crate::audit::{AuditJob, AuditReport, AuditSettings, Remediation, RunInputs};
use crate::cost::{CostJob, CostOptions, CostReport};
use crate::findings::FindingsPolicy;
use crate::image::Image;
use crate::lifecycle::{generate, PolicyParams};
use crate::metrics::{names, DIM_ACCOUNT, DIM_REPOSITORY};
use crate::run::{ReportStore, RunReport, RunSettings, Settled, ShardItem};
use crate::testing::{ecr_defaults, InMemoryDirectory, InMemoryRegistries, InMemoryRegistry, InMemoryReportStore};
use chrono::{DateTime, Duration, TimeZone, Utc};

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default()
}

fn regions() -> Vec<String> {
    vec!["us-east-1".into(), "eu-west-1".into()]
}

fn scope(accounts: &str) -> Result<Scope, ScopeError> {
    Scope::parse(&ScopeInput { accounts, regions: "us-east-1,eu-west-1", ..ScopeInput::default() }, &ENV_FIELDS)
}

/// `n` repositories in `registry`: one without a policy, three images each (one untagged).
fn seed(registry: &InMemoryRegistry, n: usize) {
    let policy = generate(&PolicyParams::default()).map(|p| p.to_json()).unwrap_or_default();
    for i in 0..n {
        let name = format!("svc-{i}");
        registry.with_repository(&name, ecr_defaults(), &[]);
        if i > 0 {
            registry.with_lifecycle_policy(&name, &policy);
        }
        for k in 0..3 {
            let tags = if k == 0 { vec![] } else { vec![format!("v{k}")] };
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            registry.with_image(
                &name,
                Image::new(format!("sha256:{name}-{k}"), &tags, now() - Duration::days(40 * k), 1 << 30),
            );
        }
    }
}

/// Accounts A and B with the member role in both regions (A: 3 and 2 repositories, B: 1 and 0);
/// C without it.
fn organization() -> (InMemoryRegistries, Vec<Target>) {
    let registries = InMemoryRegistries::default();
    seed(&registries.with(A, "us-east-1"), 3);
    seed(&registries.with(A, "eu-west-1"), 2);
    seed(&registries.with(B, "us-east-1"), 1);
    registries.with(B, "eu-west-1");
    let targets = [A, B, C]
        .iter()
        .flat_map(|a| regions().into_iter().map(move |r| Target { account: a.to_string(), region: r }))
        .collect();
    (registries, targets)
}

/// Every target in `regions`, through the default member role.
fn run_targets<'a>(regions: &'a [String], targets: &'a [Target]) -> RunTargets<'a> {
    RunTargets { role_name: DEFAULT_MEMBER_ROLE, regions, targets, prefix: None }
}

/// `registries` at once, four repositories at once in each, no deadline.
fn pace(registries: usize) -> Pace {
    Pace { registries, repositories: 4, deadline: None }
}

fn audit_settings() -> AuditSettings {
    AuditSettings { standard: None, findings: FindingsPolicy::default(), require_kms: false, scanner_roles: Vec::new() }
}

/// Keeps every registry's report it is handed, in order.
struct Collecting<R>(std::sync::Mutex<Vec<(RegistryEntry, R)>>);

impl<R: Clone + Send + Sync> RegistryReports<R> for Collecting<R> {
    async fn keep(&self, entry: &RegistryEntry, report: &R) -> Result<(), crate::run::StoreError> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((entry.clone(), report.clone()));
        Ok(())
    }
}

/// What a [`Collecting`] kept.
struct Collected<R>(Vec<(RegistryEntry, R)>);

impl<R> Collected<R> {
    fn of(&self, account: &str, region: &str) -> Option<&R> {
        self.0.iter().find(|(e, _)| e.account == account && e.region == region).map(|(_, r)| r)
    }

    fn reports(&self) -> Vec<&R> {
        self.0.iter().map(|(_, r)| r).collect()
    }
}

/// The organization's index and each registry's own report, in this process.
async fn in_process<J>(
    job: &J,
    registries: &InMemoryRegistries,
    targets: &[Target],
    selected: crate::metrics::RepositoryMetrics,
) -> (OrganizationReport<J::Report>, Collected<J::Report>)
where
    J: crate::run::Job,
    J::Report: OrganizationView,
{
    let kept = Collecting(std::sync::Mutex::new(Vec::new()));
    let keeping = Keeping { reports: &kept, repository_metrics: &selected };
    let report =
        organization_in_process(job, registries, &run_targets(&regions(), targets), pace(3), now(), &(), keeping)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    (report, Collected(kept.0.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)))
}

async fn audit_run(
    registries: &InMemoryRegistries,
    targets: &[Target],
) -> (OrganizationReport<AuditReport>, Collected<AuditReport>) {
    let (settings, inputs) = (audit_settings(), RunInputs::default());
    let job = AuditJob { settings: &settings, remediation: Remediation::default(), inputs: &inputs };
    in_process(&job, registries, targets, crate::metrics::RepositoryMetrics::None).await
}

async fn audit_in_process(registries: &InMemoryRegistries, targets: &[Target]) -> OrganizationReport<AuditReport> {
    audit_run(registries, targets).await.0
}

#[test]
fn a_scope_is_the_organization_or_a_list_and_bad_input_names_the_field() {
    let org = Scope::parse(
        &ScopeInput {
            accounts: "organization",
            regions: " us-east-1 , eu-west-1,us-east-1",
            units: Some("ou-ab12-cdef3456"),
            excluded: Some(C),
            ..ScopeInput::default()
        },
        &ENV_FIELDS,
    );
    assert_eq!(
        org,
        Ok(Scope {
            accounts: Accounts::Organization { units: vec!["ou-ab12-cdef3456".into()], excluded: vec![C.into()] },
            regions: regions(),
            role_name: DEFAULT_MEMBER_ROLE.into(),
            external_id: None,
        })
    );
    let listed = scope(&format!("{A}, {B},{A}")).map(|s| s.accounts);
    assert_eq!(listed, Ok(Accounts::Listed(vec![A.into(), B.into()])));
    let bad = |input: ScopeInput<'_>| Scope::parse(&input, &ENV_FIELDS).err().map(|e| (e.field, e.message));
    let named = |input: ScopeInput<'_>, field: &str, says: &str| {
        let got = bad(input);
        assert!(got.as_ref().is_some_and(|(f, m)| f == field && m.contains(says)), "{field}: {got:?}");
    };
    named(ScopeInput { accounts: "12345", regions: "us-east-1", ..Default::default() }, "KEEPER_ACCOUNTS", "12-digit");
    named(ScopeInput { accounts: "", regions: "us-east-1", ..Default::default() }, "KEEPER_ACCOUNTS", "organization");
    named(ScopeInput { accounts: A, regions: "", ..Default::default() }, "KEEPER_REGIONS", "one or more regions");
    named(ScopeInput { accounts: A, regions: "US East", ..Default::default() }, "KEEPER_REGIONS", "us-east-1");
    named(
        ScopeInput { accounts: A, regions: "us-east-1", units: Some("ou-1-2"), ..Default::default() },
        "KEEPER_ORGANIZATIONAL_UNITS",
        "only with KEEPER_ACCOUNTS = organization",
    );
    named(
        ScopeInput { accounts: "organization", regions: "us-east-1", units: Some("Engineering"), ..Default::default() },
        "KEEPER_ORGANIZATIONAL_UNITS",
        "ou-",
    );
    named(
        ScopeInput { accounts: A, regions: "us-east-1", role_name: Some("has space"), ..Default::default() },
        "KEEPER_MEMBER_ROLE_NAME",
        "IAM role name",
    );
    named(
        ScopeInput { accounts: A, regions: "us-east-1", external_id: Some("x"), ..Default::default() },
        "KEEPER_MEMBER_EXTERNAL_ID",
        "2–1224",
    );
    // The external id itself is never echoed: it is a shared secret of sorts.
    let secret = "s3cr3t value";
    let message =
        bad(ScopeInput { accounts: A, regions: "us-east-1", external_id: Some(secret), ..Default::default() });
    assert!(message.as_ref().is_some_and(|(_, m)| !m.contains(secret)), "{message:?}");
    assert_eq!(Scope::from_env(|_| None), Ok(None), "without KEEPER_ACCOUNTS: the function's own registry");
}

#[tokio::test]
async fn the_organization_scope_is_its_active_accounts_under_the_units_less_the_exclusions() {
    let directory = InMemoryDirectory(vec![
        (B.into(), "ou-a-1".into(), true),
        (A.into(), "ou-a-1".into(), true),
        (C.into(), "ou-a-1".into(), false),
        ("444444444444".into(), "ou-a-2".into(), true),
        ("555555555555".into(), "ou-a-1".into(), true),
    ]);
    let scope = Scope::parse(
        &ScopeInput {
            accounts: "organization",
            regions: "us-east-1,eu-west-1",
            units: Some("ou-a-1"),
            excluded: Some("555555555555"),
            ..ScopeInput::default()
        },
        &ENV_FIELDS,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let targets = scope.targets(Some(&directory)).await.unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<String> = targets.iter().map(Target::to_string).collect();
    assert_eq!(
        got,
        [format!("{A} us-east-1"), format!("{A} eu-west-1"), format!("{B} us-east-1"), format!("{B} eu-west-1")]
    );
    assert_eq!(scope.role_arn("aws", A), format!("arn:aws:iam::{A}:role/ecr-keeper-member"));
    let without = scope.targets::<InMemoryDirectory>(None).await;
    assert!(matches!(without, Err(DirectoryError::NotAvailable(_))), "{without:?}");
}

#[tokio::test]
async fn an_account_without_the_member_role_is_an_error_and_the_others_complete_and_add_up() {
    // GIVEN accounts A and B with the member role in two regions, C without it
    let (registries, targets) = organization();
    // WHEN the audit runs over the organization
    let (report, kept) = audit_run(&registries, &targets).await;
    // THEN C's two registries are ERROR entries saying the role could not be assumed
    let errors: Vec<(&str, &str)> =
        report.registries.iter().filter_map(|e| e.error.as_deref().map(|m| (e.account.as_str(), m))).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|(a, m)| *a == C && m.starts_with("cannot assume arn:aws:iam::333333333333:role/ecr-keeper-member")),
        "{errors:?}"
    );
    assert!(!report.complete);
    // AND the other four have their reports, kept as they were made, every repository marked
    // with its account and region; the index links each and holds none of their repositories
    let done: Vec<&AuditReport> = kept.reports();
    assert_eq!(done.len(), 4);
    for (e, r) in &kept.0 {
        assert_eq!(e.report.as_deref(), Some(format!("registries/{}/{}/report", e.account, e.region).as_str()));
        assert_eq!(e.tally.repositories, r.repositories.len());
        assert_eq!((r.registry_id.as_str(), r.region.as_str()), (e.account.as_str(), e.region.as_str()));
        assert!(r.repositories.iter().all(|x| x.account.as_deref() == Some(e.account.as_str())
            && x.region.as_deref() == Some(e.region.as_str())
            && x.arn.contains(&format!(":{}:{}:", e.region, e.account))));
    }
    // AND the totals are the sum of the parts; per account and per region too
    let parts = |f: &dyn Fn(&AuditReport) -> usize| done.iter().map(|r| f(r)).sum::<usize>();
    assert_eq!(report.totals.repositories, parts(&|r| r.repositories.len()));
    assert_eq!(report.totals.repositories, 6);
    let non_compliant = report.totals.compliance.as_ref().map(|c| c.non_compliant);
    assert_eq!(non_compliant, Some(parts(&|r| r.summary.non_compliant)));
    assert_eq!((report.totals.registries, report.totals.unreachable), (6, 2));
    let accounts: Vec<(Option<&str>, usize, usize)> =
        report.by_account.iter().map(|t| (t.account.as_deref(), t.repositories, t.unreachable)).collect();
    assert_eq!(accounts, [(Some(A), 5, 0), (Some(B), 1, 0), (Some(C), 0, 2)]);
    let regions: Vec<(Option<&str>, usize)> =
        report.by_region.iter().map(|t| (t.region.as_deref(), t.repositories)).collect();
    assert_eq!(regions, [(Some("us-east-1"), 4), (Some("eu-west-1"), 2)]);
    let mut summed = Tally::default();
    report.by_account.iter().for_each(|t| summed.add(t));
    assert_eq!(
        (summed.compliance, summed.repositories),
        (report.totals.compliance.clone(), report.totals.repositories)
    );
    // AND each registry was reached once
    assert_eq!(registries.reached(), targets);
    let index = serde_json::to_string(&report).unwrap_or_default();
    assert!(!index.contains("\"repositories\":["), "no repository in the index: {index}");
}

/// Drives an organization run's plan → shards → aggregate as the state machine does, reaching
/// each shard's registry through `at_shard`.
async fn state_machine<J>(
    job: &J,
    at_plan: &InMemoryRegistries,
    at_shard: &InMemoryRegistries,
    targets: &[Target],
    shard_size: usize,
) -> (OrganizationReport<J::Report>, InMemoryReportStore)
where
    J: crate::run::Job,
    J::Report: OrganizationView,
{
    let store = InMemoryReportStore::default();
    let settings = RunSettings { bucket: "b".into(), shard_repositories: shard_size, ..RunSettings::default() };
    let mut state = plan_organization(
        job,
        at_plan,
        &store,
        &settings,
        &run_targets(&regions(), targets),
        crate::run::RunStart { run_id: "run-1", now: now() },
        4,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(state.organization);
    loop {
        let items: Vec<ShardItem> =
            serde_json::from_str(&store.text(&state.items_key).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
        for item in &items {
            let target = item.target.clone().unwrap_or_else(|| panic!("an organization item names its registry"));
            match at_shard.reach(&target).await {
                Ok(registry) => crate::run::run_shard(job, &registry, &store, item, 4, None).await,
                Err(e) => fail_shard::<J, _>(&store, item, &e.to_string()).await,
            }
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let none = crate::metrics::RepositoryMetrics::None;
        let keeping = Keeping { reports: &KeptInStore { store: &store, job: J::NAME }, repository_metrics: &none };
        match settle_organization(job, &store, &settings, &state, keeping).await.unwrap_or_else(|e| panic!("{e}")) {
            Settled::NextPass(next) => state = next,
            Settled::Final(report) => {
                assert!(store.get("runs/audit/run-1/context.json").await.is_ok());
                return (report, store);
            }
        }
    }
}

#[tokio::test]
async fn the_state_machine_steps_give_the_one_process_report_with_one_reach_per_item() {
    // GIVEN the organization, shards of 2 repositories
    let (registries, targets) = organization();
    let (settings, inputs) = (audit_settings(), RunInputs::default());
    let job = AuditJob { settings: &settings, remediation: Remediation::default(), inputs: &inputs };
    // WHEN the state machine's steps run it
    let (sharded, store) = state_machine(&job, &registries, &registries, &targets, 2).await;
    // THEN the index is the one-process index, byte for byte, and so is each registry's report,
    // kept beside the dated report and beside latest
    let (in_process, kept) = audit_run(&InMemoryRegistries::clone(&registries), &targets).await;
    assert_eq!(serde_json::to_string(&sharded).ok(), serde_json::to_string(&in_process).ok());
    assert_eq!(kept.0.len(), 4);
    for (entry, report) in &kept.0 {
        let path = entry.report.clone().unwrap_or_default();
        for key in [format!("reports/audit/2026-11-01/{path}.json"), format!("reports/audit/{path}.json")] {
            assert_eq!(store.text(&key), serde_json::to_string(report).ok(), "{key}");
        }
        assert!(store.text(&format!("reports/audit/{path}.html")).is_some_and(|h| h.contains("<html")));
    }
    // AND the plan reached each registry once, each item once: A us-east-1 is 2 items (3 repos),
    // A eu-west-1 1, B us-east-1 1; B eu-west-1 has none; C's two failed at the plan
    let reached = registries.reached();
    let items = reached.len() - 2 * targets.len(); // minus the plan's and the one-process run's
    assert_eq!(items, 4, "{reached:?}");
}

#[tokio::test]
async fn a_registry_lost_between_plan_and_shard_is_error_rows_for_exactly_its_repositories() {
    // GIVEN the plan reaches A us-east-1, but its role is gone when its shards run
    let (registries, targets) = organization();
    let at_shard = InMemoryRegistries::default();
    seed(&at_shard.with(A, "eu-west-1"), 2);
    seed(&at_shard.with(B, "us-east-1"), 1);
    let (settings, inputs) = (audit_settings(), RunInputs::default());
    let job = AuditJob { settings: &settings, remediation: Remediation::default(), inputs: &inputs };
    // WHEN the run goes through its passes
    let (report, store) = state_machine(&job, &registries, &at_shard, &targets, 2).await;
    // THEN A us-east-1's three repositories are ERROR rows naming the role; the rest are done
    let kept = |a: &str, r: &str| -> AuditReport {
        let text = store.text(&format!("reports/audit/registries/{a}/{r}/report.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{a} {r}: {e}"))
    };
    let lost = kept(A, "us-east-1");
    assert_eq!(lost.repositories.len(), 3);
    assert!(lost.repositories.iter().all(|r| r.checks.len() == 1
        && r.checks[0].id == "READ"
        && r.checks[0].message.starts_with("cannot assume arn:aws:iam::111111111111:role/ecr-keeper-member")));
    let other = kept(A, "eu-west-1");
    assert!(other.complete && other.repositories.iter().all(|r| r.checks.iter().all(|c| c.id != "READ")));
    assert_eq!(report.totals.unread, 3);
    assert_eq!(report.totals.unreachable, 2, "C's two registries");
}

#[tokio::test]
async fn metrics_say_the_account_per_repository_and_the_totals_are_the_organizations() {
    let (registries, targets) = organization();
    let (settings, inputs) = (audit_settings(), RunInputs::default());
    let job = AuditJob { settings: &settings, remediation: Remediation::default(), inputs: &inputs };
    let (report, kept) = in_process(&job, &registries, &targets, crate::metrics::RepositoryMetrics::All).await;
    let metrics = report.metrics();
    let per_repository: Vec<_> =
        metrics.iter().filter(|m| m.dimensions.iter().any(|(d, _)| *d == DIM_REPOSITORY)).collect();
    assert!(!per_repository.is_empty());
    assert!(per_repository.iter().all(|m| m.dimensions.iter().any(|(d, _)| *d == DIM_ACCOUNT)));
    let total = |name: &str| {
        let found: Vec<_> = metrics.iter().filter(|m| m.name == name && m.dimensions.is_empty()).collect();
        assert_eq!(found.len(), 1, "{name} once, without dimensions");
        found[0].value
    };
    let non_compliant = report.totals.compliance.as_ref().map_or(0, |c| c.non_compliant);
    assert_eq!(total(names::NON_COMPLIANT_REPOSITORIES), non_compliant as f64);
    let overdue: u64 = kept.reports().iter().map(|r| r.summary.overdue.images).sum();
    assert_eq!(total(names::OVERDUE_IMAGES), overdue as f64);
    assert_eq!(total(names::AUDIT_INCOMPLETE), 1.0, "incomplete: C is not reached");
    // Without per-repository metrics: the same totals, and nothing per repository.
    let totals_only = audit_in_process(&registries, &targets).await.metrics();
    assert!(totals_only.iter().all(|m| m.dimensions.iter().all(|(d, _)| *d != DIM_REPOSITORY)));
    assert_eq!(totals_only.len(), metrics.len() - per_repository.len());
    assert_eq!(
        Scope::repository_metrics_from_env(|_| Some("false".into())),
        Ok(crate::metrics::RepositoryMetrics::None)
    );
    assert_eq!(
        Scope::repository_metrics_from_env(|_| None),
        Ok(crate::metrics::RepositoryMetrics::None),
        "off by default"
    );
    let bad = Scope::repository_metrics_from_env(|_| Some("no".into())).map_err(|e| e.to_string());
    assert_eq!(
        bad,
        Err("KEEPER_REPOSITORY_METRICS: \"no\" is not one of false, true or prefix:NAME-PREFIX".to_string())
    );
}

#[tokio::test]
async fn the_cost_report_ranks_accounts_and_the_page_draws_the_heat_map_and_the_costs() {
    let (registries, targets) = organization();
    let policy = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e:?}"));
    let job = CostJob::new(&policy, &CostOptions::default(), None);
    let (cost, kept): (OrganizationReport<CostReport>, _) =
        in_process(&job, &registries, &targets, crate::metrics::RepositoryMetrics::None).await;
    let monthly = |a: &str| {
        cost.by_account
            .iter()
            .find(|t| t.account.as_deref() == Some(a))
            .and_then(|t| t.cost)
            .map(|c| c.monthly_cost_usd)
    };
    let sum: f64 = kept.reports().iter().map(|r| r.total.monthly_cost_usd).sum();
    let total = cost.totals.cost.map(|c| c.monthly_cost_usd).unwrap_or_default();
    assert!((total - sum).abs() < 1e-9 && total > 0.0, "{total} vs {sum}");
    assert!(monthly(A) > monthly(B), "A holds five repositories, B one");
    let html = cost.to_html(&[]);
    let a = html.find(&format!("<td>{A}</td>")).unwrap_or(usize::MAX);
    let b = html.find(&format!("<td>{B}</td>")).unwrap_or(usize::MAX);
    assert!(html.contains("id=\"accounts-by-cost\"") && a < b, "the costliest account first");
    assert!(cost.headline().iter().any(|(l, v)| l == &format!("Account {A}") && v.contains("/month")));
    // The audit's page: one heat-map row per account, C's unreachable registries in red.
    let audit = audit_in_process(&registries, &targets).await;
    let page = audit.to_html(&[]);
    assert!(page.contains("id=\"heat-map\""));
    for account in [A, B, C] {
        assert!(page.contains(&format!("data-account=\"{account}\"")), "{account}");
    }
    assert!(page.contains("<td class=\"ERROR num\">2</td>"), "C: two registries not reached");
    let row = |account: &str| {
        let start = page.find(&format!("<tr data-account=\"{account}\">")).unwrap_or(0);
        page[start..].split("</tr>").next().unwrap_or_default().to_string()
    };
    assert!(row(C).contains("title=\"not reached\">–</td>") && !row(C).contains("PASS"), "C read nothing: {}", row(C));
    assert!(!row(A).contains("not reached\">–") && row(A).contains("FAIL num"), "A was read: {}", row(A));
    let markdown = audit.to_markdown();
    assert!(
        markdown.contains("## Registries not reached (ERROR)")
            && markdown.contains(&format!(
                "| {A} | us-east-1 | [registries/{A}/us-east-1/report.md](registries/{A}/us-east-1/report.md) |"
            )),
        "{markdown}"
    );
    assert!(
        page.contains(&format!("<a href=\"registries/{A}/us-east-1/report.html\">report</a>")),
        "a link per registry"
    );
    assert!(audit
        .headline()
        .iter()
        .any(|(l, v)| l == &format!("Account {C}") && v.contains("2 of 2 registries not reached")));
}

#[tokio::test]
async fn the_change_since_the_previous_report_is_told_per_account() {
    let (registries, targets) = organization();
    let before = audit_in_process(&registries, &targets).await;
    // C leaves the scope.
    let fewer: Vec<Target> = targets.iter().filter(|t| t.account != C).cloned().collect();
    let after = audit_in_process(&registries, &fewer).await;
    let lines = after.changes(&before);
    assert!(lines.iter().any(|l| l == &format!("account {C}: no longer in the scope")), "{lines:?}");
    let again = before.changes(&after);
    assert!(again.iter().any(|l| l.starts_with(&format!("account {C}: new in the scope"))), "{again:?}");
    assert!(after.changes(&after).is_empty());
}

#[tokio::test]
async fn the_log_is_the_totals_then_a_line_per_account_and_adds_up() {
    let (registries, targets) = organization();
    let report = audit_in_process(&registries, &targets).await;
    let lines = report.log_lines();
    assert_eq!(lines.len(), 1 + report.accounts(), "{lines:?}");
    assert_eq!(lines[0]["accounts"], report.accounts());
    let repositories: u64 = lines[1..].iter().filter_map(|l| l["byAccount"]["repositories"].as_u64()).sum();
    assert_eq!(Some(repositories), lines[0]["totals"]["repositories"].as_u64());
    let accounts: Vec<_> = lines[1..].iter().filter_map(|l| l["byAccount"]["account"].as_str()).collect();
    assert_eq!(accounts, [A, B, C]);
    // No line carries every account: its size stays that of one tally as the organization grows.
    assert!(lines[0].get("byAccount").is_none());
}

#[tokio::test]
async fn remediation_applies_where_the_member_role_writes_and_says_why_where_it_does_not() {
    // GIVEN B's member role without AllowRemediation: its writes are refused
    let (registries, targets) = organization();
    let Some(b) = registries.registry(B, "us-east-1") else { panic!("B is seeded in us-east-1") };
    let denied = crate::ports::RegistryError::AccessDenied {
        operation: "PutLifecyclePolicy",
        message: "not authorized to perform ecr:PutLifecyclePolicy".into(),
    };
    b.failing("PutLifecyclePolicy", None, denied, None);
    // WHEN the audit runs with lifecycle remediation applied
    let (settings, inputs) = (audit_settings(), RunInputs::default());
    let remediation = Remediation { lifecycle: true, apply: true, ..Remediation::default() };
    let job = AuditJob { settings: &settings, remediation, inputs: &inputs };
    let (report, kept) = in_process(&job, &registries, &targets, crate::metrics::RepositoryMetrics::None).await;
    let action = |account: &str| {
        kept.of(account, "us-east-1").and_then(|r| r.remediation.iter().find(|a| a.repository == "svc-0")).cloned()
    };
    // THEN A's repository without a policy gets one; B's is refused, says why, and is unchanged
    let a = action(A).unwrap_or_else(|| panic!("no remediation in A: {report:?}"));
    assert!(a.applied, "{a:?}");
    let a_policy = registries.registry(A, "us-east-1").and_then(|r| r.lifecycle_policy("svc-0"));
    assert!(a_policy.is_some(), "A's svc-0 has the standard policy now");
    let b_action = action(B).unwrap_or_else(|| panic!("no remediation in B: {report:?}"));
    assert!(!b_action.applied, "{b_action:?}");
    assert!(b_action.detail.starts_with("failed:") && b_action.detail.ends_with(views::MEMBER_WRITES), "{b_action:?}");
    assert!(b.lifecycle_policy("svc-0").is_none());
    // AND the other registries finished as before
    assert_eq!(report.registries.iter().filter(|e| e.report.is_some()).count(), 4);
    assert_eq!(kept.0.len(), 4);
}

#[tokio::test]
async fn one_account_in_one_region_is_said_in_the_singular() {
    let (registries, targets) = organization();
    let one: Vec<Target> = targets.into_iter().take(1).collect();
    let regions = vec![one[0].region.clone()];
    let (settings, inputs) = (audit_settings(), RunInputs::default());
    let job = AuditJob { settings: &settings, remediation: Remediation::default(), inputs: &inputs };
    let none = crate::metrics::RepositoryMetrics::None;
    let keeping = Keeping { reports: &(), repository_metrics: &none };
    let report = organization_in_process(&job, &registries, &run_targets(&regions, &one), pace(1), now(), &(), keeping)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let markdown = report.to_markdown();
    assert!(markdown.contains(": 1 account × 1 region ("), "{markdown}");
}
