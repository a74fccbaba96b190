//! Scheduled runs on the in-memory registry and store: the steps a state machine drives, in
//! the order it drives them.

use super::*;
use crate::audit::{audit, AuditJob, AuditOptions, AuditReport, AuditSettings, Remediation, RunInputs, Status};
use crate::cost::{cost_report, CostJob, CostOptions, CostReport, Prices};
use crate::findings::FindingsPolicy;
use crate::image::Image;
use crate::lifecycle::{generate, PolicyParams};
use crate::testing::{ecr_defaults, InMemoryMetricsStore, InMemoryRegistry, InMemoryReportStore};
use chrono::{Duration, TimeZone};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default()
}

/// `n` repositories `svc-00`…, each with three images, every third one without a policy.
fn registry(n: usize) -> InMemoryRegistry {
    let registry = InMemoryRegistry::new();
    let policy = generate(&PolicyParams::default()).map(|p| p.to_json()).unwrap_or_default();
    for i in 0..n {
        let name = format!("svc-{i:02}");
        registry.with_repository(&name, ecr_defaults(), &[]);
        if i % 3 != 0 {
            registry.with_lifecycle_policy(&name, &policy);
        }
        for k in 0..3 {
            let tags = if k == 0 { vec![] } else { vec![format!("v{k}")] };
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let image = Image::new(format!("sha256:{name}-{k}"), &tags, now() - Duration::days(40 * k), 1 << 20);
            registry.with_image(&name, image);
        }
    }
    registry
}

fn settings() -> AuditSettings {
    AuditSettings { standard: None, findings: FindingsPolicy::default(), require_kms: false, scanner_roles: Vec::new() }
}

fn run_settings(shard: usize) -> RunSettings {
    RunSettings {
        bucket: "reports".into(),
        shard_repositories: shard,
        max_passes: 3,
        max_concurrency: 4,
        tolerated_failure_percentage: 0,
    }
}

/// Drives plan → Map (every item, in order) → settle until done, as the state machine does.
async fn run_all<J: Job>(
    job: &J,
    registry: &InMemoryRegistry,
    store: &InMemoryReportStore,
    settings: &RunSettings,
) -> (J::Report, Vec<RunState>) {
    let mut state = plan(job, registry, store, settings, None, "us-east-1", RunStart { run_id: "run-1", now: now() })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut states = vec![state.clone()];
    loop {
        let items: Vec<ShardItem> =
            serde_json::from_str(&store.text(&state.items_key).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(items.len(), state.shards);
        for item in &items {
            run_shard(job, registry, store, item, 4, None).await.unwrap_or_else(|e| panic!("{e}"));
        }
        match settle(job, store, settings, &state).await.unwrap_or_else(|e| panic!("{e}")) {
            Settled::NextPass(next) => {
                states.push(next.clone());
                state = next;
            }
            Settled::Final(report) => return (report, states),
        }
    }
}

#[tokio::test]
async fn sixty_repositories_in_shards_of_25_make_three_shards_and_the_one_process_report() {
    // GIVEN 60 repositories
    let registry = registry(60);
    let store = InMemoryReportStore::default();
    let job = AuditJob { settings: &settings(), remediation: Remediation::default(), inputs: &RunInputs::default() };
    // WHEN the run goes through its steps with shards of 25
    let (report, states) = run_all(&job, &registry, &store, &run_settings(25)).await;
    // THEN there were three shards in one pass
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].shards, 3);
    assert_eq!(states[0].repositories, 60);
    assert!(store.keys().contains(&"runs/audit/run-1/shards/2.json".to_string()), "{:?}", store.keys());
    // AND the report is byte for byte the one-process report
    let options = AuditOptions { region: "us-east-1".into(), ..AuditOptions::default() };
    let one = audit(&registry, &settings(), &options, now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.repositories.len(), 60);
    assert_eq!(serde_json::to_string(&report).ok(), serde_json::to_string(&one).ok());
    assert!(report.complete);
}

#[tokio::test]
async fn the_shards_read_nothing_registry_wide_and_no_repository_twice() {
    let registry = registry(60);
    let store = InMemoryReportStore::default();
    let job = AuditJob { settings: &settings(), remediation: Remediation::default(), inputs: &RunInputs::default() };
    run_all(&job, &registry, &store, &run_settings(25)).await;
    let sharded = registry.calls();
    registry.forget_calls();
    let options = AuditOptions { region: "us-east-1".into(), ..AuditOptions::default() };
    audit(&registry, &settings(), &options, now()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut one = registry.calls();
    let mut sharded = sharded;
    sharded.sort();
    one.sort();
    assert_eq!(sharded, one, "the same ECR calls as one process");
}

#[tokio::test]
async fn a_repository_that_fails_once_is_finished_by_the_second_pass() {
    // GIVEN svc-07's images cannot be read the first time
    let registry = registry(30);
    registry.failing(
        "DescribeImages",
        Some("svc-07"),
        RegistryError::Throttled { operation: "DescribeImages" },
        Some(1),
    );
    let store = InMemoryReportStore::default();
    let job = AuditJob { settings: &settings(), remediation: Remediation::default(), inputs: &RunInputs::default() };
    // WHEN the run goes through its passes
    let (report, states) = run_all(&job, &registry, &store, &run_settings(10)).await;
    // THEN a second pass of one shard carried svc-07 alone, numbered after pass 1's shards
    assert_eq!(states.len(), 2, "{states:?}");
    assert_eq!((states[1].pass, states[1].shards, states[1].repositories), (2, 1, 1));
    assert!(store.text("runs/audit/run-1/shards/3.json").is_some_and(|t| t.contains("svc-07")));
    // AND the run is complete, svc-07 audited in its listing place
    assert!(report.complete, "{:?}", report.summary);
    assert_eq!(report.repositories[7].name, "svc-07");
    assert!(report.repositories[7].checks.iter().all(|c| c.status != Status::Error));
}

#[tokio::test]
async fn a_repository_unreadable_in_every_pass_is_an_error_with_its_reason() {
    let registry = registry(12);
    registry.failing(
        "GetLifecyclePolicy",
        Some("svc-05"),
        RegistryError::AccessDenied { operation: "GetLifecyclePolicy", message: "no grant".into() },
        None,
    );
    let store = InMemoryReportStore::default();
    let job = AuditJob { settings: &settings(), remediation: Remediation::default(), inputs: &RunInputs::default() };
    let (report, states) = run_all(&job, &registry, &store, &run_settings(5)).await;
    assert_eq!(states.len(), 3, "max_passes bounds the passes");
    assert!(!report.complete);
    let row = report.repositories.iter().find(|r| r.name == "svc-05").unwrap_or_else(|| panic!("no svc-05"));
    assert_eq!(row.checks.len(), 1);
    assert_eq!((row.checks[0].id.as_ref(), row.checks[0].status), ("READ", Status::Error));
    assert!(row.checks[0].message.contains("GetLifecyclePolicy"), "{}", row.checks[0].message);
    assert_eq!(report.repositories.len(), 12);
}

#[tokio::test]
async fn a_shard_that_wrote_nothing_is_run_again() {
    // GIVEN a plan, and a Map that lost shard 1 (its failure tolerated)
    let registry = registry(9);
    let store = InMemoryReportStore::default();
    let job = AuditJob { settings: &settings(), remediation: Remediation::default(), inputs: &RunInputs::default() };
    let settings_ = run_settings(3);
    let state = plan(&job, &registry, &store, &settings_, None, "us-east-1", RunStart { run_id: "run-1", now: now() })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let items: Vec<ShardItem> =
        serde_json::from_str(&store.text(&state.items_key).unwrap_or_default()).unwrap_or_default();
    for item in items.iter().filter(|i| i.shard != 1) {
        run_shard(&job, &registry, &store, item, 2, None).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // WHEN it settles
    let next = match settle(&job, &store, &settings_, &state).await {
        Ok(Settled::NextPass(next)) => next,
        other => panic!("{other:?}"),
    };
    // THEN the next pass is exactly shard 1's repositories
    let items: Vec<ShardItem> =
        serde_json::from_str(&store.text(&next.items_key).unwrap_or_default()).unwrap_or_default();
    let names: Vec<&str> = items.iter().flat_map(|i| i.repositories.iter().map(|r| r.name.as_str())).collect();
    assert_eq!(names, ["svc-03", "svc-04", "svc-05"]);
}

#[tokio::test]
async fn a_shard_whose_store_write_fails_reports_the_error_for_a_retry() {
    let registry = registry(3);
    let store = InMemoryReportStore::default();
    let job = AuditJob { settings: &settings(), remediation: Remediation::default(), inputs: &RunInputs::default() };
    let state =
        plan(&job, &registry, &store, &run_settings(3), None, "us-east-1", RunStart { run_id: "run-1", now: now() })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    let items: Vec<ShardItem> =
        serde_json::from_str(&store.text(&state.items_key).unwrap_or_default()).unwrap_or_default();
    store.fail_puts(1);
    let first = run_shard(&job, &registry, &store, &items[0], 2, None).await;
    assert!(matches!(first, Err(RunError::Store(StoreError::Throttled { .. }))), "{first:?}");
    let again = run_shard(&job, &registry, &store, &items[0], 2, None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((again.done, again.unfinished), (3, 0));
}

#[tokio::test]
async fn the_cost_report_through_shards_equals_the_one_process_report() {
    let registry = registry(23);
    let store = InMemoryReportStore::default();
    let standard = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}"));
    let job = CostJob {
        standard: standard.clone(),
        prices: Prices::default(),
        top: 5,
        previous_total: None,
        archive_projection_days: crate::cost::DEFAULT_ARCHIVE_PROJECTION_DAYS,
    };
    let (report, states) = run_all(&job, &registry, &store, &run_settings(10)).await;
    assert_eq!(states[0].shards, 3);
    let options = CostOptions { region: "us-east-1".into(), top: 5, ..CostOptions::default() };
    let one: CostReport = cost_report(&registry, None::<&InMemoryMetricsStore>, &options, &standard, now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(serde_json::to_string(&report).ok(), serde_json::to_string(&one).ok());
    assert_eq!(report.total.repositories, 23);
}

#[tokio::test]
async fn publishing_keeps_three_formats_dated_and_latest_and_says_what_changed() {
    // GIVEN yesterday's report in the store
    let registry = registry(6);
    let store = InMemoryReportStore::default();
    let options = AuditOptions { region: "us-east-1".into(), ..AuditOptions::default() };
    let yesterday =
        audit(&registry, &settings(), &options, now() - Duration::days(1)).await.unwrap_or_else(|e| panic!("{e}"));
    let previous: Option<AuditReport> = kept_report(&store, "audit").await.unwrap_or_else(|e| panic!("{e}"));
    assert!(previous.is_none());
    let first = publish_report(&store, "audit", &yesterday, None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.changes, None);
    // WHEN today's report, with one repository newly without a policy, is published
    registry.with_repository("svc-new", ecr_defaults(), &[]);
    let today: AuditReport = audit(&registry, &settings(), &options, now()).await.unwrap_or_else(|e| panic!("{e}"));
    let previous: Option<AuditReport> = kept_report(&store, "audit").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(previous.as_ref(), Some(&yesterday), "latest.json reads back as the report it was");
    let published = publish_report(&store, "audit", &today, previous.as_ref()).await.unwrap_or_else(|e| panic!("{e}"));
    // THEN six objects per day exist: dated and latest, json, md and html
    for key in [
        "reports/audit/2026-11-01/report.json",
        "reports/audit/2026-11-01/report.md",
        "reports/audit/2026-11-01/report.html",
        "reports/audit/2026-10-31/report.json",
        "reports/audit/latest.json",
        "reports/audit/latest.md",
        "reports/audit/latest.html",
    ] {
        assert!(store.keys().contains(&key.to_string()), "{key} missing from {:?}", store.keys());
    }
    assert_eq!(store.content_type("reports/audit/latest.html"), Some("text/html; charset=utf-8"));
    assert_eq!(store.text("reports/audit/latest.json"), serde_json::to_string(&today).ok());
    // AND the change since yesterday names the new non-compliant repository
    let changes = published.changes.clone().unwrap_or_default();
    assert!(changes.iter().any(|c| c.contains("svc-new is now non-compliant (new repository)")), "{changes:?}");
    let message = run_summary(&today, &published, "reports-bucket");
    assert!(message.body.contains("s3://reports-bucket/"), "{}", message.body);
    assert!(message.body.contains("reports/audit/2026-11-01/report.html"), "{}", message.body);
    assert!(message.body.contains("svc-new is now non-compliant"), "{}", message.body);
    assert!(!message.body.contains("X-Amz-Signature"), "never a pre-signed URL");
    // AND the findings are rows for Athena, in the day's and the account's partition: one a
    // FAIL/WARN/ERROR, the same as the report's
    assert_eq!(published.table_keys.len(), 1, "{:?}", published.table_keys);
    let key = &published.table_keys[0];
    assert!(key.starts_with(&format!("reports/audit/table/dt=2026-11-01/account={}/", today.registry_id)), "{key}");
    let rows: Vec<serde_json::Value> =
        store.text(key).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap_or_default()).collect();
    let findings: usize = today
        .repositories
        .iter()
        .flat_map(|r| &r.checks)
        .chain(&today.registry_checks)
        .filter(|c| matches!(c.status, Status::Fail | Status::Warn | Status::Error))
        .count();
    assert_eq!(rows.len(), findings);
    let new =
        rows.iter().find(|r| r["repository"] == "svc-new" && r["check_id"] == "LC-1").cloned().unwrap_or_default();
    assert_eq!((new["status"].as_str(), new["region"].as_str()), (Some("FAIL"), Some("us-east-1")), "{new}");
    assert_eq!(store.content_type(key), Some("application/x-ndjson"));
}

#[tokio::test]
async fn the_cost_reports_rows_are_one_per_repository_in_its_accounts_partition() {
    let registry = registry(3);
    let store = InMemoryReportStore::default();
    let options = CostOptions { region: "us-east-1".into(), ..CostOptions::default() };
    let standard = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}"));
    let report = cost_report(&registry, None::<&InMemoryMetricsStore>, &options, &standard, now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let published = publish_report(&store, "cost", &report, None).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(published.table_keys.len(), 1);
    assert!(
        published.table_keys[0].starts_with("reports/cost/table/dt=2026-11-01/account="),
        "{:?}",
        published.table_keys
    );
    let rows: Vec<serde_json::Value> = store
        .text(&published.table_keys[0])
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_default())
        .collect();
    let mut names: Vec<&str> = rows.iter().filter_map(|r| r["repository"].as_str()).collect();
    names.sort();
    let mut expected: Vec<&str> = report.repositories.iter().map(|r| r.name.as_str()).collect();
    expected.sort();
    assert_eq!(names, expected);
    let first = &rows[0];
    let repo = report.repositories.iter().find(|r| r.name == first["repository"]).cloned().unwrap_or_else(|| panic!());
    assert_eq!(first["unique_storage_bytes"], repo.unique_bytes);
    assert_eq!(first["monthly_cost_usd"], serde_json::json!(repo.monthly_cost_usd));
}

#[test]
fn cut_numbers_shards_from_where_the_run_is() {
    let registry = registry(0);
    drop(registry);
    let repos: Vec<Repository> = (0..7)
        .map(|i| Repository {
            name: format!("r{i}"),
            arn: String::new(),
            uri: String::new(),
            registry_id: "1".into(),
            settings: ecr_defaults(),
        })
        .collect();
    let cx = RunContext {
        now: now(),
        region: "r".into(),
        registry_id: "1".into(),
        scanning: Default::default(),
        pull_time_update_exclusions: None,
        registry_rules: None,
        images_per_repository_quota: None,
        destinations_read: Vec::new(),
        registry_changes: Vec::new(),
    };
    let items = cut(&repos, 3, 5, "run", 2, &cx);
    let shape: Vec<(usize, usize)> = items.iter().map(|i| (i.shard, i.repositories.len())).collect();
    assert_eq!(shape, [(5, 3), (6, 3), (7, 1)]);
    assert!(cut(&[], 3, 0, "run", 1, &cx).is_empty());
}

#[tokio::test]
async fn an_empty_registry_gives_an_empty_complete_report_in_one_pass() {
    let registry = InMemoryRegistry::new();
    let store = InMemoryReportStore::default();
    let job = AuditJob { settings: &settings(), remediation: Remediation::default(), inputs: &RunInputs::default() };
    let (report, states) = run_all(&job, &registry, &store, &run_settings(25)).await;
    assert_eq!((states.len(), states[0].shards), (1, 0));
    assert!(report.complete && report.repositories.is_empty());
    assert_eq!(store.text(&states[0].items_key).as_deref(), Some("[]"), "the Map reads an empty array");
}

#[test]
fn the_largest_shard_of_the_longest_names_fits_a_map_item() {
    // ECR allows 256-character names; ARNs and URIs repeat them.
    let cx = RunContext {
        now: now(),
        region: "ap-southeast-3".into(),
        registry_id: "123456789012".into(),
        scanning: Default::default(),
        // A registry may exclude a few principals; five long role ARNs.
        pull_time_update_exclusions: Some(
            (0..5).map(|i| format!("arn:aws:iam::123456789012:role/{i}{}", "r".repeat(60))).collect(),
        ),
        // ECR's quota: 50 templates, each policy up to 30,720 characters; none reaches an item.
        registry_rules: Some(crate::registry::RegistryRules {
            creation_templates: (0..50)
                .map(|i| crate::registry::CreationTemplate {
                    prefix: format!("team-{i}"),
                    applied_for: vec![crate::registry::CreationScenario::CreateOnPush],
                    lifecycle_policy: Some("x".repeat(30_720)),
                })
                .collect(),
            ..Default::default()
        }),
        images_per_repository_quota: Some(100_000),
        destinations_read: Vec::new(),
        registry_changes: Vec::new(),
    };
    let repos: Vec<Repository> = (0..MAX_SHARD_REPOSITORIES)
        .map(|i| {
            let name = format!("{i:03}{}", "n".repeat(253));
            Repository {
                arn: format!("arn:aws:ecr:ap-southeast-3:123456789012:repository/{name}"),
                uri: format!("123456789012.dkr.ecr.ap-southeast-3.amazonaws.com/{name}"),
                name,
                registry_id: "123456789012".into(),
                settings: ecr_defaults(),
            }
        })
        .collect();
    let items = cut(&repos, MAX_SHARD_REPOSITORIES, 0, "audit-00000000-0000-0000-0000-000000000000", 10, &cx);
    assert_eq!(items.len(), 1);
    let bytes = serde_json::to_string(&items[0]).map(|t| t.len()).unwrap_or(usize::MAX);
    assert!(bytes < 256 * 1024, "{bytes} bytes: over Step Functions' 256 KiB item limit");
}
