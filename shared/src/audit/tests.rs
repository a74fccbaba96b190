//! The audit on the in-memory registry: each check family, read failures, the deadline and
//! remediation.

use super::*;
use crate::findings::{FindingsPolicy, Severity, SeverityCounts, Suppression};
use crate::image::ImageScan;
use crate::lifecycle::{generate, PolicyParams};
use crate::repository::{Encryption, RepositorySettings, TagMutability};
use crate::scanning::{ScanFrequency, ScanRule};
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
    AuditSettings { standard: None, findings: FindingsPolicy::default(), require_kms: false }
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
    let standard = Standard { keep_tagged: 20, untagged_days: 7, tag_prefixes: vec!["v".into()] };
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
    assert!(!registry.calls().iter().any(|c| c.starts_with("DescribeImageScanFindings")), "no suppressions: not read");

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
    let standard = Standard { keep_tagged: 20, untagged_days: 3, tag_prefixes: vec!["release-".into()] };
    let with_standard = AuditSettings { standard: Some(standard.clone()), ..settings() };
    let fix = |apply| AuditOptions {
        remediation: Remediation { lifecycle: true, scan: true, apply },
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
