//! The audit on the in-memory registry: each check family, read failures, the deadline and
//! remediation.

use super::*;
use crate::findings::{FindingsPolicy, Severity, SeverityCounts, Suppression};
use crate::image::ImageScan;
use crate::lifecycle::{generate, PolicyParams};
use crate::repository::{Encryption, RepositorySettings, TagMutability};
use crate::scanning::{RegistryScanning, ScanFrequency, ScanRule};
use crate::testing::{ecr_defaults, InMemoryRegistry};
use chrono::{Duration, TimeZone};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default()
}

fn good() -> RepositorySettings {
    RepositorySettings {
        tag_mutability: TagMutability::Immutable,
        exclusion_filters: vec![],
        scan_on_push: true,
        encryption: Encryption::Kms { key: Some("arn:aws:kms:us-east-1:123456789012:key/k".into()) },
    }
}

fn standard_policy() -> String {
    generate(&PolicyParams::default()).map(|p| p.to_json()).unwrap_or_default()
}

fn scanned(digest: &str, tags: &[&str], days_old: i64, critical: u64) -> Image {
    let mut image = Image::new(digest, tags, now() - Duration::days(days_old), 1_000_000);
    let mut counts = SeverityCounts::default();
    counts.add(Severity::Critical, critical);
    image.scan = Some(ImageScan { status: "COMPLETE".into(), counts });
    image
}

/// A repository that passes every check.
fn compliant(registry: &InMemoryRegistry, name: &str) {
    registry
        .with_repository(name, good(), &[])
        .with_lifecycle_policy(name, &standard_policy())
        .with_image(name, scanned(&format!("sha256:{name}"), &["v1"], 1, 0));
}

fn settings() -> AuditSettings {
    AuditSettings { standard: None, findings: FindingsPolicy::default(), require_kms: false, scanner_roles: Vec::new() }
}

async fn run(registry: &InMemoryRegistry, settings: &AuditSettings, options: &AuditOptions) -> AuditReport {
    audit(registry, settings, options, now()).await.unwrap_or_else(|e| panic!("{e}"))
}

fn status(report: &AuditReport, repository: &str, id: &str) -> Status {
    report
        .repositories
        .iter()
        .find(|r| r.name == repository)
        .and_then(|r| r.checks.iter().find(|c| c.id == id))
        .map(|c| c.status)
        .unwrap_or_else(|| panic!("no {id} for {repository}"))
}

#[tokio::test]
async fn a_compliant_repository_passes_every_check() {
    let registry = InMemoryRegistry::new();
    compliant(&registry, "good");
    let report = run(&registry, &settings(), &AuditOptions::default()).await;
    let checks = &report.repositories[0].checks;
    let ids: Vec<&str> = checks.iter().map(|c| c.id.as_ref()).collect();
    assert_eq!(ids, ["LC-1", "LC-2", "LC-3", "LC-4", "LC-5", "SCAN-1", "SCAN-2", "TAG-1", "ENC-1", "POL-1", "QUOTA-1"]);
    assert!(checks.iter().all(|c| c.status == Status::Pass), "{checks:#?}");
    assert!(report.complete && !report.any_failed());
}

#[tokio::test]
async fn lifecycle_family_finds_missing_late_and_unmanaged() {
    // GIVEN one repository without a policy, one whose policy should have expired an image two
    // days ago, and one whose images match no rule
    let registry = InMemoryRegistry::new();
    registry.with_repository("none", good(), &[]).with_image("none", scanned("sha256:n", &["v1"], 1, 0));
    registry
        .with_repository("late", good(), &[])
        .with_lifecycle_policy("late", &standard_policy())
        .with_image("late", scanned("sha256:old", &[], 10, 0))
        .with_image("late", scanned("sha256:new", &["v1"], 1, 0));
    registry
        .with_repository("loose", good(), &[])
        .with_lifecycle_policy("loose", &standard_policy())
        .with_image("loose", scanned("sha256:l", &["latest"], 1, 0));
    let standard = Standard {
        keep_tagged: 20,
        untagged_days: 7,
        tag_prefixes: vec!["v".into()],
        archive_after_days: None,
        expire_archived_after_days: None,
    };
    let with_standard = AuditSettings { standard: Some(standard), ..settings() };
    // WHEN audited
    let report = run(&registry, &with_standard, &AuditOptions::default()).await;
    // THEN each finding lands on its check
    assert_eq!(status(&report, "none", "LC-1"), Status::Fail);
    assert_eq!(status(&report, "late", "LC-5"), Status::Fail);
    assert_eq!(report.repositories.iter().find(|r| r.name == "late").map(|r| r.overdue.images), Some(1));
    assert_eq!(status(&report, "loose", "LC-4"), Status::Warn);
    assert_eq!(status(&report, "loose", "LC-6"), Status::Warn, "keeps 10, the standard says 20");
}

/// ECR since AWS-native basic scanning: DescribeImages carries no basic scan, so SCAN-2 reads the
/// newest image's scan from DescribeImageScanFindings (one call a repository), and only a
/// missing scan (ScanNotFoundException) is "never scanned".
#[tokio::test]
async fn scan_2_reads_a_basic_scan_from_its_findings_not_from_describe_images() {
    let registry = InMemoryRegistry::new();
    for name in ["vulnerable", "clean", "never"] {
        registry
            .with_repository(name, good(), &[])
            .with_lifecycle_policy(name, &standard_policy())
            .with_image(name, Image::new(format!("sha256:{name}-old"), &["v1"], now() - Duration::days(2), 1))
            .with_image(name, Image::new(format!("sha256:{name}"), &["v2"], now(), 1));
    }
    registry.with_findings("vulnerable", "sha256:vulnerable", vec![crate::testing::finding("CVE-1", Severity::High)]);
    registry.with_findings("clean", "sha256:clean", vec![]);
    let report = run(&registry, &settings(), &AuditOptions::default()).await;
    let scan_2 = |name: &str| {
        let r = report.repositories.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("{name}"));
        let c = r.checks.iter().find(|c| c.id == "SCAN-2").unwrap_or_else(|| panic!("no SCAN-2"));
        (c.status, c.message.clone())
    };
    assert_eq!(scan_2("vulnerable").0, Status::Fail, "{:?}", scan_2("vulnerable"));
    assert!(
        scan_2("vulnerable").1.contains("1 unsuppressed finding(s) at or above HIGH"),
        "{:?}",
        scan_2("vulnerable")
    );
    assert_eq!(scan_2("clean").0, Status::Pass, "{:?}", scan_2("clean"));
    assert_eq!(scan_2("never").1, "the newest image, v2, was never scanned");
    let reads = registry.calls().into_iter().filter(|c| c.starts_with("DescribeImageScanFindings")).count();
    assert_eq!(reads, 3, "one read per repository, for its newest image only");
}

#[tokio::test]
async fn scanning_family_reads_findings_only_to_apply_suppressions() {
    let registry = InMemoryRegistry::new();
    let mut unscanned = good();
    unscanned.scan_on_push = false;
    registry
        .with_repository("quiet", unscanned.clone(), &[])
        .with_lifecycle_policy("quiet", &standard_policy())
        .with_image("quiet", Image::new("sha256:q", &["v1"], now(), 1));
    registry
        .with_repository("ruled", unscanned, &[])
        .with_lifecycle_policy("ruled", &standard_policy())
        .with_image("ruled", scanned("sha256:r", &["v1"], 1, 1))
        .with_findings("ruled", "sha256:r", vec![crate::testing::finding("CVE-1", Severity::Critical)]);
    registry.with_scanning(RegistryScanning {
        registry_id: None,
        enhanced: false,
        rules: vec![ScanRule { frequency: ScanFrequency::ScanOnPush, repository_filters: vec!["ruled".into()] }],
    });
    let report = run(&registry, &settings(), &AuditOptions::default()).await;
    assert_eq!(status(&report, "quiet", "SCAN-1"), Status::Fail);
    assert_eq!(status(&report, "quiet", "SCAN-2"), Status::Fail, "never scanned");
    assert_eq!(status(&report, "ruled", "SCAN-1"), Status::Pass, "a registry rule covers it");
    assert_eq!(status(&report, "ruled", "SCAN-2"), Status::Fail, "one critical finding");
    // `ruled`'s scan came with DescribeImages (as enhanced scans do): its findings are not read
    // without suppressions; `quiet`'s newest image had none, so one call says it never was.
    let reads: Vec<String> =
        registry.calls().into_iter().filter(|c| c.starts_with("DescribeImageScanFindings")).collect();
    assert_eq!(reads, ["DescribeImageScanFindings quiet"]);

    let suppressing = AuditSettings {
        findings: FindingsPolicy {
            threshold: Severity::High,
            suppressions: vec![Suppression { repositories: None, id: "CVE-1".into() }],
        },
        ..settings()
    };
    let report = run(&registry, &suppressing, &AuditOptions::default()).await;
    assert_eq!(status(&report, "ruled", "SCAN-2"), Status::Pass, "the one finding is suppressed");
}

#[tokio::test]
async fn settings_and_access_families_judge_mutability_encryption_and_public_policies() {
    let registry = InMemoryRegistry::new();
    compliant(&registry, "open");
    registry.with_repository("open", ecr_defaults(), &[]).with_repository_policy(
        "open",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#,
    );
    let report = run(&registry, &AuditSettings { require_kms: true, ..settings() }, &AuditOptions::default()).await;
    assert_eq!(status(&report, "open", "TAG-1"), Status::Fail);
    assert_eq!(status(&report, "open", "ENC-1"), Status::Fail, "AES256 with require_kms");
    assert_eq!(status(&report, "open", "POL-1"), Status::Fail);
    let relaxed = run(&registry, &settings(), &AuditOptions::default()).await;
    assert_eq!(status(&relaxed, "open", "ENC-1"), Status::Info);
}

#[test]
fn quota_family_warns_at_80_percent_of_the_per_repository_limit() {
    let repo = crate::testing::InMemoryRegistry::arn("big");
    let repository = Repository {
        name: "big".into(),
        arn: repo,
        uri: String::new(),
        registry_id: crate::testing::ACCOUNT.into(),
        settings: good(),
    };
    let scanning = RegistryScanning::default();
    let image = scanned("sha256:b", &["v1"], 1, 0);
    let at = |n: usize| {
        let images = vec![image.clone(); n];
        let facts = Facts {
            repository: &repository,
            lifecycle_policy: None,
            repository_policy: None,
            images: &images,
            registry_scanning: &scanning,
            newest_image_suppressed_at_or_above: 0,
            workloads: None,
            pull_time_update_exclusions: None,
            images_per_repository_quota: None,
        };
        let (checks, _) = run_checks(&facts, &settings(), now());
        checks.into_iter().find(|c| c.id == "QUOTA-1").map(|c| c.status)
    };
    assert_eq!(at(79_999), Some(Status::Pass));
    assert_eq!(at(80_000), Some(Status::Warn));
}

#[tokio::test]
async fn a_repository_that_cannot_be_read_is_an_error_and_the_report_incomplete() {
    let registry = InMemoryRegistry::new();
    compliant(&registry, "good");
    compliant(&registry, "locked");
    let denied = RegistryError::AccessDenied { operation: "DescribeImages", message: "no".into() };
    registry.failing("DescribeImages", Some("locked"), denied, None);
    let report = run(&registry, &settings(), &AuditOptions::default()).await;
    assert_eq!(status(&report, "locked", "READ"), Status::Error);
    assert_eq!(status(&report, "good", "LC-1"), Status::Pass, "one failure does not stop the others");
    assert!(!report.complete);
}

#[tokio::test]
async fn listing_failures_fail_the_audit() {
    let registry = InMemoryRegistry::new();
    registry.failing(
        "DescribeRepositories",
        None,
        RegistryError::Throttled { operation: "DescribeRepositories" },
        None,
    );
    let result = audit(&registry, &settings(), &AuditOptions::default(), now()).await;
    assert!(matches!(result, Err(RegistryError::Throttled { .. })), "{result:?}");
}

#[tokio::test]
async fn paged_listings_reach_every_repository() {
    let registry = InMemoryRegistry::new().with_page_size(2);
    for k in 0..5 {
        compliant(&registry, &format!("app-{k}"));
    }
    let report = run(&registry, &settings(), &AuditOptions::default()).await;
    assert_eq!(report.repositories.len(), 5);
    assert_eq!(registry.calls().iter().filter(|c| c.starts_with("DescribeRepositories")).count(), 3);
}

#[tokio::test]
async fn a_passed_deadline_reports_the_repositories_not_reached() {
    let registry = InMemoryRegistry::new();
    compliant(&registry, "good");
    let late = AuditOptions { deadline: Some(Instant::now()), ..AuditOptions::default() };
    let report = run(&registry, &settings(), &late).await;
    assert_eq!(report.unreached, ["good"]);
    assert!(!report.complete);
}

#[tokio::test]
async fn remediation_lists_then_applies_the_standard_and_never_replaces_a_policy() {
    // GIVEN a repository without a policy or scanning, and one with its own policy
    let registry = InMemoryRegistry::new();
    let mut bare = good();
    bare.scan_on_push = false;
    registry.with_repository("bare", bare, &[]);
    compliant(&registry, "own");
    let own_policy = registry.lifecycle_policy("own");
    let standard = Standard {
        keep_tagged: 20,
        untagged_days: 3,
        tag_prefixes: vec!["release-".into()],
        archive_after_days: None,
        expire_archived_after_days: None,
    };
    let with_standard = AuditSettings { standard: Some(standard.clone()), ..settings() };
    let fix = |apply| AuditOptions {
        remediation: Remediation { lifecycle: true, scan: true, pins: false, registry: false, apply },
        ..AuditOptions::default()
    };
    // WHEN a dry run: THEN it lists both actions and writes nothing
    let dry = run(&registry, &with_standard, &fix(false)).await;
    let actions: Vec<(&str, &str, bool)> =
        dry.remediation.iter().map(|a| (a.repository.as_str(), a.action.as_ref(), a.applied)).collect();
    assert_eq!(actions, [("bare", "apply-lifecycle-policy", false), ("bare", "enable-scan-on-push", false)]);
    assert_eq!(registry.writes(), Vec::<String>::new());
    // WHEN applied: THEN the standard's own policy is written, the other policy untouched
    let applied = run(&registry, &with_standard, &fix(true)).await;
    assert!(applied.remediation.iter().all(|a| a.applied));
    let expected = generate(&standard.params()).map(|p| p.to_json()).ok();
    assert_eq!(registry.lifecycle_policy("bare"), expected);
    assert_eq!(registry.repository("bare").map(|r| r.settings.scan_on_push), Some(true));
    assert_eq!(registry.lifecycle_policy("own"), own_policy);
}

fn manifest_for(registry: &InMemoryRegistry, name: &str, image: &Image) {
    registry.with_image(name, image.clone()).with_manifest(
        name,
        &image.digest,
        None,
        &format!("{{\"d\":\"{}\"}}", image.digest),
    );
}

#[tokio::test]
async fn use_1_fails_for_a_running_image_the_policy_expires_and_pins_make_it_pass() {
    // GIVEN keep the last 2 v* images with the pin rule, and an ECS service running the old v1.3
    let registry = InMemoryRegistry::new();
    let params = PolicyParams { keep_tagged: 2, protect_in_use: true, ..PolicyParams::default() };
    let policy = generate(&params).map(|p| p.to_json()).unwrap_or_default();
    registry.with_repository("app", good(), &[]).with_lifecycle_policy("app", &policy);
    for (digest, tag, days) in [("sha256:a13", "v1.3", 30), ("sha256:a18", "v1.8", 3), ("sha256:a19", "v1.9", 2)] {
        manifest_for(&registry, "app", &scanned(digest, &[tag], days, 0));
    }
    let workloads = crate::testing::InMemoryWorkloads::running(&[("app:v1.3", "ecs service prod/web")]);
    let inputs = RunInputs::read(Some(&workloads)).await;
    let options = |pins: bool| AuditOptions {
        remediation: Remediation { pins, apply: true, ..Remediation::default() },
        inputs: inputs.clone(),
        ..AuditOptions::default()
    };
    // WHEN audited without pins: THEN USE-1 fails naming the image, the service and the rule
    let report = run(&registry, &settings(), &options(false)).await;
    let use_1 = report.repositories[0].checks.iter().find(|c| c.id == "USE-1").cloned();
    let use_1 = use_1.unwrap_or_else(|| panic!("no USE-1"));
    assert_eq!(use_1.status, Status::Fail);
    assert!(
        use_1.message.contains("v1.3, run by ecs service prod/web, would be expired by rule 2 now"),
        "{}",
        use_1.message
    );
    assert_eq!(use_1.evidence[0]["workloads"][0], "ecs service prod/web");
    assert!(registry.writes().is_empty());
    // WHEN audited with pins: THEN v1.3 is pinned (same digest) and USE-1 passes
    let report = run(&registry, &settings(), &options(true)).await;
    assert_eq!(status(&report, "app", "USE-1"), Status::Pass);
    let pins: Vec<(&str, bool)> = report.remediation.iter().map(|a| (a.action.as_ref(), a.applied)).collect();
    assert_eq!(pins, [("pin-in-use", true)]);
    let v13 = registry.images("app").into_iter().find(|i| i.digest == "sha256:a13").map(|i| i.tags);
    assert_eq!(v13, Some(vec!["v1.3".to_string(), crate::workloads::pin_tag("sha256:a13")]));
    // WHEN the service moves to v1.9: THEN the pin goes (v1.3 keeps its own tag) and v1.3 is
    // expired by the policy again, now that nothing runs it
    workloads.set(&[("app:v1.9", "ecs service prod/web")]);
    let moved = RunInputs::read(Some(&workloads)).await;
    let report = run(
        &registry,
        &settings(),
        &AuditOptions {
            remediation: Remediation { pins: true, apply: true, ..Remediation::default() },
            inputs: moved,
            ..AuditOptions::default()
        },
    )
    .await;
    let actions: Vec<(&str, bool)> = report.remediation.iter().map(|a| (a.action.as_ref(), a.applied)).collect();
    assert_eq!(actions, [("pin-in-use", true), ("unpin", true)]);
    assert_eq!(registry.images("app").len(), 3, "no image ever disappears");
    assert_eq!(status(&report, "app", "USE-1"), Status::Pass);
    assert_eq!(report.repositories[0].expirable.images, 1, "v1.3 is expirable again");
}

#[tokio::test]
async fn unreadable_workloads_make_use_1_an_error_and_pin_nothing() {
    let registry = InMemoryRegistry::new();
    compliant(&registry, "app");
    let inputs = RunInputs { in_use: Some(Err("ECS ListClusters: access denied".into())) };
    let options = AuditOptions {
        remediation: Remediation { pins: true, apply: true, ..Remediation::default() },
        inputs,
        ..AuditOptions::default()
    };
    let report = run(&registry, &settings(), &options).await;
    assert_eq!(status(&report, "app", "USE-1"), Status::Error);
    assert!(!report.complete);
    assert!(registry.writes().is_empty());
}

#[tokio::test]
async fn lc_7_warns_when_a_named_scanner_is_not_excluded_from_pull_time_updates() {
    // GIVEN an archive-after-30-days-without-pull policy, enhanced scanning, and an image pushed
    // 200 days ago but pulled yesterday
    let registry = InMemoryRegistry::new();
    let params =
        PolicyParams { tag_prefixes: vec!["release-".into()], archive_after_days: Some(30), ..PolicyParams::default() };
    registry
        .with_repository("app", good(), &[])
        .with_lifecycle_policy("app", &generate(&params).map(|p| p.to_json()).unwrap_or_default())
        .with_scanning(RegistryScanning { enhanced: true, ..RegistryScanning::default() });
    let mut pulled = scanned("sha256:p", &["build-7"], 200, 0);
    pulled.last_pulled_at = Some(now() - Duration::days(1));
    registry.with_image("app", pulled).with_image("app", scanned("sha256:q", &["build-9"], 2, 0));
    let lc7 = |report: &crate::audit::AuditReport| {
        report.repositories[0].checks.iter().find(|c| c.id == "LC-7").cloned().unwrap_or_else(|| panic!("no LC-7"))
    };
    // WHEN no scanner is named: Inspector's pulls never refresh pull times (User Guide), so
    // enhanced scanning alone is no reason to warn; the pull-kept image is only reported
    let report = run(&registry, &settings(), &AuditOptions::default()).await;
    let unnamed = lc7(&report);
    assert_eq!(unnamed.status, Status::Info);
    assert!(
        unnamed.message.starts_with(
            "1 image stays in standard storage only because of a pull in the last 30 days (e.g. build-7). If a third-party scanner"
        ),
        "{}",
        unnamed.message
    );
    assert!(!unnamed.message.contains("AWSServiceRoleForAmazonInspector2"), "{}", unnamed.message);
    // WHEN a scanner role is named and not excluded: WARN with the command that excludes it
    let snyk = "arn:aws:iam::123456789012:role/snyk".to_string();
    let naming = AuditSettings { scanner_roles: vec![snyk.clone()], ..settings() };
    registry.with_pull_time_update_exclusions(&["arn:aws:iam::123456789012:role/ci"]);
    let missing = lc7(&run(&registry, &naming, &AuditOptions::default()).await);
    assert_eq!(missing.status, Status::Warn);
    assert!(missing.message.ends_with(&format!("--principal-arn {snyk}")), "{}", missing.message);
    assert_eq!(missing.evidence["exclude"], serde_json::json!([snyk]));
    // WHEN it is excluded: PASS; the unnamed run with any exclusion passes too
    registry.with_pull_time_update_exclusions(&["arn:aws:iam::123456789012:role/snyk"]);
    assert_eq!(lc7(&run(&registry, &naming, &AuditOptions::default()).await).status, Status::Pass);
    assert_eq!(status(&run(&registry, &settings(), &AuditOptions::default()).await, "app", "LC-7"), Status::Pass);
    let denied = RegistryError::AccessDenied { operation: "ListPullTimeUpdateExclusions", message: "no".into() };
    registry.failing("ListPullTimeUpdateExclusions", None, denied, None);
    let unread = run(&registry, &naming, &AuditOptions::default()).await;
    assert_eq!(status(&unread, "app", "LC-7"), Status::Info);
    assert!(unread.complete, "the rest of the audit ran");
    // LC-8: the policy archives; nothing is expired before its 90 days
    assert_eq!(status(&report, "app", "LC-8"), Status::Pass);
}

#[tokio::test]
async fn lc_8_warns_about_an_archive_expiry_under_90_days() {
    let registry = InMemoryRegistry::new();
    // ECR refuses this policy; a policy file or an older tool may still carry it.
    let short = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":30},"action":{"type":"expire"}}]}"#;
    registry.with_repository("app", good(), &[]).with_lifecycle_policy("app", short);
    let mut archived = scanned("sha256:old", &["v1"], 300, 0);
    archived.status = crate::image::ImageStatus::Archived;
    archived.last_archived_at = Some(now() - Duration::days(40));
    registry.with_image("app", archived).with_image("app", scanned("sha256:new", &["v2"], 1, 0));
    let report = run(&registry, &settings(), &AuditOptions::default()).await;
    let lc8 =
        report.repositories[0].checks.iter().find(|c| c.id == "LC-8").cloned().unwrap_or_else(|| panic!("no LC-8"));
    assert_eq!(lc8.status, Status::Warn, "{}", lc8.message);
    assert!(lc8.message.contains("rule 1 expires archived images after 30 days"), "{}", lc8.message);
    assert_eq!(lc8.evidence["earlyExpiries"], 1);
    // A repository whose policy neither archives nor reads pulls gets neither check.
    let plain = InMemoryRegistry::new();
    compliant(&plain, "plain");
    let report = run(&plain, &settings(), &AuditOptions::default()).await;
    assert!(report.repositories[0].checks.iter().all(|c| c.id != "LC-7" && c.id != "LC-8" && c.id != "USE-1"));
}

#[tokio::test]
async fn names_tags_and_principals_are_literal_in_the_markdown() {
    let registry = InMemoryRegistry::new();
    compliant(&registry, "team_a/app__x");
    registry
        .with_repository("team_a/app__x", ecr_defaults(), &[])
        .with_image("team_a/app__x", scanned("sha256:two", &["v_2"], 1, 0))
        .with_repository_policy(
            "team_a/app__x",
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"All","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#,
        );
    let md = run(&registry, &settings(), &AuditOptions::default()).await.to_markdown();
    assert!(md.contains("## team\\_a/app\\_\\_x ("), "{md}");
    assert!(!md.contains("team_a/app__x"), "a raw name would render as emphasis: {md}");
    // Every table row keeps its four cells: nothing from outside adds or hides a `|`.
    for row in md.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| check")) {
        let cells = row.replace("\\|", "").matches('|').count();
        assert!(cells == 5 || cells == 7, "{row}");
    }
}

/// Lifecycle remediation covers a pull-through cache no template covers with a template of the
/// standard (REG-2): listed in a dry run, created with `apply`, and then REG-2 passes. A template
/// without a policy is someone's: named by REG-2, never changed.
#[tokio::test]
async fn remediation_gives_an_uncovered_pull_through_cache_a_template_of_the_standard() {
    use crate::registry::{CreationScenario, CreationTemplate, PullThroughCacheRule, RegistryRules};
    let registry = InMemoryRegistry::new();
    compliant(&registry, "app");
    let cache =
        |prefix: &str| PullThroughCacheRule { prefix: prefix.into(), upstream: format!("{prefix}.example.com") };
    registry.with_registry_rules(RegistryRules {
        creation_templates: vec![CreationTemplate {
            prefix: "quay".into(),
            applied_for: vec![CreationScenario::PullThroughCache],
            lifecycle_policy: None,
        }],
        pull_through_cache_rules: vec![cache("docker-hub"), cache("quay")],
        ..RegistryRules::default()
    });
    let options = |apply| AuditOptions {
        remediation: Remediation { registry: true, apply, ..Remediation::default() },
        ..AuditOptions::default()
    };
    let reg_2 = |r: &AuditReport| r.registry_checks.iter().find(|c| c.id == "REG-2").map(|c| c.status);

    // A dry run lists the template and creates nothing
    let dry = run(&registry, &settings(), &options(false)).await;
    let listed: Vec<(&str, bool)> = dry
        .remediation
        .iter()
        .filter(|a| a.action == "create-creation-template")
        .map(|a| (a.detail.split('/').next().unwrap_or_default(), a.applied))
        .collect();
    assert_eq!(listed, [("docker-hub", false)], "quay has a template (without a policy): not ours to change");
    assert_eq!(reg_2(&dry), Some(Status::Fail));
    let rules = registry.registry_rules().await.unwrap_or_default();
    assert_eq!(rules.creation_templates.len(), 1, "nothing created in a dry run");

    // WHEN applied THEN the template exists with the standard, and REG-2 names quay alone
    let applied = run(&registry, &settings(), &options(true)).await;
    assert!(applied.remediation.iter().any(|a| a.action == "create-creation-template" && a.applied));
    let rules = registry.registry_rules().await.unwrap_or_default();
    let created = rules.creation_templates.iter().find(|t| t.prefix == "docker-hub").cloned();
    assert_eq!(
        created.map(|t| (t.applied_for, t.lifecycle_policy)),
        Some((vec![CreationScenario::PullThroughCache], Some(standard_policy())))
    );
    let after = run(&registry, &settings(), &AuditOptions::default()).await;
    let message = after.registry_checks.iter().find(|c| c.id == "REG-2").map(|c| c.message.clone()).unwrap_or_default();
    assert!(!message.contains("docker-hub") && message.contains("quay/"), "{message}");
    assert!(after.remediation.is_empty());
}

/// `--fix` registers an exclusion for each named scanner the registry lacks, lists it in a dry
/// run, and the same run's LC-7 sees the registry as it now is.
#[tokio::test]
async fn fix_excludes_a_named_scanner_from_pull_time_updates() {
    let registry = InMemoryRegistry::new();
    let params = PolicyParams { archive_after_days: Some(30), ..PolicyParams::default() };
    registry
        .with_repository("app", good(), &[])
        .with_lifecycle_policy("app", &generate(&params).map(|p| p.to_json()).unwrap_or_default())
        .with_pull_time_update_exclusions(&["arn:aws:iam::123456789012:role/trivy"]);
    let roles = ["arn:aws:iam::123456789012:role/trivy", "arn:aws:iam::123456789012:role/snyk"];
    let naming = AuditSettings { scanner_roles: roles.iter().map(|r| r.to_string()).collect(), ..settings() };
    let options = |apply| AuditOptions {
        remediation: Remediation { registry: true, apply, ..Remediation::default() },
        ..AuditOptions::default()
    };
    let listed = |r: &AuditReport| -> Vec<(String, bool)> {
        r.remediation
            .iter()
            .filter(|a| a.action == "register-pull-time-update-exclusion")
            .map(|a| (a.detail.split(':').take(6).collect::<Vec<_>>().join(":"), a.applied))
            .collect()
    };
    let dry = run(&registry, &naming, &options(false)).await;
    assert_eq!(listed(&dry), [(roles[1].to_string(), false)], "trivy is excluded already");
    assert_eq!(status(&dry, "app", "LC-7"), Status::Warn);
    assert_eq!(registry.pull_time_update_exclusions().await.unwrap_or_default(), [roles[0]]);
    let applied = run(&registry, &naming, &options(true)).await;
    assert_eq!(listed(&applied), [(roles[1].to_string(), true)]);
    assert_eq!(status(&applied, "app", "LC-7"), Status::Pass);
    assert_eq!(registry.pull_time_update_exclusions().await.unwrap_or_default(), roles);
    assert!(listed(&run(&registry, &naming, &options(true)).await).is_empty(), "nothing left to register");
}

/// A standard that archives: LC-6 names a policy that archives nothing, and remediation writes
/// the standard with its archive rules (transition after D days without a pull, archived images
/// expired after M days).
#[tokio::test]
async fn a_standard_that_archives_is_compared_with_and_applied() {
    let registry = InMemoryRegistry::new();
    compliant(&registry, "plain");
    registry.with_repository("bare", good(), &[]);
    let standard = Standard {
        keep_tagged: 10,
        untagged_days: 7,
        tag_prefixes: vec!["v".into()],
        archive_after_days: Some(30),
        expire_archived_after_days: Some(180),
    };
    let with_standard = AuditSettings { standard: Some(standard.clone()), ..settings() };
    let options = AuditOptions {
        remediation: Remediation { lifecycle: true, apply: true, ..Remediation::default() },
        ..AuditOptions::default()
    };
    let report = run(&registry, &with_standard, &options).await;
    let lc_6 = report
        .repositories
        .iter()
        .find(|r| r.name == "plain")
        .and_then(|r| r.checks.iter().find(|c| c.id == "LC-6"))
        .map(|c| (c.status, c.message.clone()));
    assert_eq!(
        lc_6,
        Some((
            Status::Warn,
            "drifts from the standard: archives nothing (standard: after 30 days without a pull); never expires \
             archived images (standard: after 180 days)"
                .to_string()
        ))
    );
    let written = registry.lifecycle_policy("bare").unwrap_or_default();
    let policy = crate::lifecycle::parse_policy(&written).unwrap_or_else(|e| panic!("{e}: {written}"));
    let archives = policy.rules.iter().any(|r| {
        r.action.kind == crate::lifecycle::ActionType::Transition
            && r.selection.count_type == crate::lifecycle::CountType::SinceImagePulled
            && r.selection.count_number == 30
    });
    assert!(archives, "{written}");
    // AND the repository fixed so matches the standard
    let again = run(&registry, &with_standard, &AuditOptions::default()).await;
    assert_eq!(status(&again, "bare", "LC-6"), Status::Pass);
    assert!(standard
        .params()
        .describe()
        .ends_with(", archive after 30 days without a pull, expire archived after 180 days"));
}
