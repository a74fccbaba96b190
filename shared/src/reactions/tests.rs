//! Both reactions on the in-memory registry, from AWS's own sample events.

use super::*;
use crate::alerts::{AlertSettings, Alerter};
use crate::findings::Suppression;
use crate::image::Image;
use crate::scanning::{ScanFrequency, ScanRule};
use crate::testing::{
    ecr_defaults, finding, FixedClock, InMemoryRegistry, MemoryLedger, RecordingPublisher, RecordingSink,
};
use chrono::TimeZone;
use serde_json::json;

const PUSH: &str = include_str!("../../../events/ecr-image-action-push.json");
const DELETE: &str = include_str!("../../../events/ecr-image-action-delete.json");
const BASIC_SCAN: &str = include_str!("../../../events/ecr-image-scan-basic.json");
const REPO: &str = "my-repository-name";
const DIGEST: &str = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234";
const TTL: Duration = Duration::from_secs(300);

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).single().unwrap_or_default()
}

fn event(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_default()
}

fn push_of(tag: &str) -> Value {
    let mut e = event(PUSH);
    e["detail"]["image-tag"] = json!(tag);
    e
}

/// A repository with nothing scanning on push, the pushed image in it, and a policy for `v*`.
fn registry() -> InMemoryRegistry {
    let registry = InMemoryRegistry::new();
    registry
        .today(now())
        .with_repository(REPO, ecr_defaults(), &[])
        .with_image(REPO, Image::new(DIGEST, &["latest"], now(), 10))
        .with_lifecycle_policy(
            REPO,
            r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#,
        );
    registry
}

fn pusher(registry: &InMemoryRegistry) -> PushReactor<InMemoryRegistry, FixedClock> {
    PushReactor::new(registry.clone(), FixedClock::at(now()), TTL)
}

async fn push(
    reactor: &PushReactor<InMemoryRegistry, FixedClock>,
    event: &Value,
    sink: &RecordingSink,
) -> PushReaction {
    match handle_push_event(event, reactor, sink).await {
        Ok(Handled::Push(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_push_where_nothing_scans_starts_a_basic_scan_and_counts_it() {
    // GIVEN a repository without scan on push and no registry rule
    let registry = registry();
    let sink = RecordingSink::default();
    // WHEN an image is pushed
    let reaction = push(&pusher(&registry), &push_of("v1"), &sink).await;
    // THEN a scan is started and both the push and the scan are counted
    assert_eq!(reaction.scan, Some(ScanDecision::Started));
    assert!(registry.calls().contains(&format!("StartImageScan {REPO}")));
    assert_eq!(sink.total(names::IMAGE_PUSHES, Some(("Repository", REPO))), 1.0);
    assert_eq!(sink.total(names::SCANS_STARTED, None), 1.0);
    assert!(reaction.warnings.is_empty(), "{:?}", reaction.warnings);
}

#[tokio::test]
async fn the_second_scan_of_an_image_on_one_day_is_skipped_not_failed() {
    let registry = registry();
    let reactor = pusher(&registry);
    let sink = RecordingSink::default();
    push(&reactor, &push_of("v1"), &sink).await;
    let again = push(&reactor, &push_of("v1"), &sink).await;
    assert_eq!(again.scan, Some(ScanDecision::SkippedQuota));
    assert_eq!(sink.total(names::SCAN_STARTS_SKIPPED, None), 1.0);
}

#[tokio::test]
async fn no_scan_is_started_where_something_already_scans() {
    let sink = RecordingSink::default();
    // Scan on push.
    let on_push = registry();
    let mut settings = ecr_defaults();
    settings.scan_on_push = true;
    on_push.with_repository(REPO, settings, &[]);
    let r = push(&pusher(&on_push), &push_of("v1"), &sink).await;
    assert_eq!(r.scan, Some(ScanDecision::NotNeeded { reason: "scanned on push".into() }));
    // A registry rule covering the repository.
    let by_rule = registry();
    by_rule.with_scanning(RegistryScanning {
        registry_id: None,
        enhanced: false,
        rules: vec![ScanRule { frequency: ScanFrequency::ScanOnPush, repository_filters: vec!["my-*".into()] }],
    });
    let r = push(&pusher(&by_rule), &push_of("v1"), &sink).await;
    assert_eq!(r.scan, Some(ScanDecision::NotNeeded { reason: "scanned on push".into() }));
    // Enhanced scanning.
    let enhanced = registry();
    enhanced.with_scanning(RegistryScanning { registry_id: None, enhanced: true, rules: vec![] });
    let r = push(&pusher(&enhanced), &push_of("v1"), &sink).await;
    assert!(matches!(r.scan, Some(ScanDecision::NotNeeded { .. })));
    for registry in [on_push, by_rule, enhanced] {
        assert!(!registry.calls().iter().any(|c| c.starts_with("StartImageScan")));
    }
    assert_eq!(sink.total(names::SCANS_STARTED, None), 0.0);
}

#[tokio::test]
async fn a_tag_no_rule_covers_is_warned_about_and_counted() {
    let registry = registry();
    let sink = RecordingSink::default();
    let r = push(&pusher(&registry), &push_of("latest"), &sink).await;
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("tag `latest` matches no rule"), "{}", r.warnings[0]);
    assert_eq!(sink.total(names::UNMANAGED_IMAGE_PUSHES, None), 1.0);
}

#[tokio::test]
async fn a_repository_without_a_policy_is_warned_about() {
    let registry = InMemoryRegistry::new();
    registry
        .today(now())
        .with_repository(REPO, ecr_defaults(), &[])
        .with_image(REPO, Image::new(DIGEST, &[], now(), 1));
    let r = push(&pusher(&registry), &push_of("v1"), &RecordingSink::default()).await;
    assert!(r.warnings.iter().any(|w| w.contains("has no lifecycle policy")), "{:?}", r.warnings);
}

#[tokio::test]
async fn settings_are_read_once_within_the_ttl_and_again_after_it() {
    let registry = registry();
    let clock_reactor = PushReactor::new(registry.clone(), FixedClock::at(now()), TTL);
    let sink = RecordingSink::default();
    push(&clock_reactor, &push_of("v1"), &sink).await;
    push(&clock_reactor, &push_of("v2"), &sink).await;
    let reads = |r: &InMemoryRegistry| r.calls().iter().filter(|c| c.starts_with("GetLifecyclePolicy")).count();
    assert_eq!(reads(&registry), 1, "cached within the TTL");
    clock_reactor.clock.set(now() + chrono::Duration::minutes(6));
    push(&clock_reactor, &push_of("v3"), &sink).await;
    assert_eq!(reads(&registry), 2, "read again once the TTL has passed");
}

#[tokio::test]
async fn a_push_to_a_deleted_repository_is_counted_and_warned() {
    let registry = InMemoryRegistry::new();
    let sink = RecordingSink::default();
    let r = push(&pusher(&registry), &push_of("v1"), &sink).await;
    assert_eq!(r.warnings, [format!("repository {REPO} no longer exists")]);
    assert_eq!(sink.total(names::IMAGE_PUSHES, None), 1.0);
}

#[tokio::test]
async fn a_delete_is_counted_without_any_registry_call() {
    let registry = registry();
    let sink = RecordingSink::default();
    let handled = handle_push_event(&event(DELETE), &pusher(&registry), &sink).await;
    assert!(matches!(handled, Ok(Handled::Delete(_))), "{handled:?}");
    assert_eq!(sink.total(names::IMAGE_DELETES, None), 1.0);
    assert!(registry.calls().is_empty());
}

#[tokio::test]
async fn a_transient_failure_is_returned_for_lambda_to_retry() {
    let registry = registry();
    registry.failing("StartImageScan", None, RegistryError::Throttled { operation: "StartImageScan" }, Some(1));
    let reactor = pusher(&registry);
    let sink = RecordingSink::default();
    let failed = handle_push_event(&push_of("v1"), &reactor, &sink).await;
    assert!(matches!(&failed, Err(e) if e.is_transient()), "{failed:?}");
    // The retry reads the settings afresh and succeeds.
    assert_eq!(push(&reactor, &push_of("v1"), &sink).await.scan, Some(ScanDecision::Started));
}

#[tokio::test]
async fn an_event_of_the_wrong_kind_is_counted_as_invalid_and_dropped() {
    let registry = registry();
    let sink = RecordingSink::default();
    let handled = handle_push_event(&event(BASIC_SCAN), &pusher(&registry), &sink).await;
    assert!(matches!(&handled, Ok(Handled::Invalid { reason }) if reason.contains("ECR Image Action")), "{handled:?}");
    assert_eq!(sink.total(names::INVALID_EVENTS, None), 1.0);
    assert!(registry.calls().is_empty());
}

// ---- Scan ----

/// The sample's image (10 CRITICAL, 9 MEDIUM) with its findings stored.
fn scanned(findings: Vec<Finding>) -> InMemoryRegistry {
    let registry = registry();
    registry.with_findings(REPO, DIGEST, findings);
    registry
}

type Alerting = Alerter<RecordingPublisher, MemoryLedger>;

fn scanner(registry: &InMemoryRegistry, policy: FindingsPolicy) -> ScanReactor<InMemoryRegistry, Alerting> {
    let alerts = Alerter::new(RecordingPublisher::default(), MemoryLedger::default(), AlertSettings::default());
    ScanReactor::with_alerts(registry.clone(), policy, alerts, FixedClock::at(now()))
}

async fn scan(reactor: &ScanReactor<InMemoryRegistry, Alerting>, event: &Value, sink: &RecordingSink) -> ScanReaction {
    match handle_scan_event(event, reactor, sink).await {
        Ok(Handled::Scan(r)) => *r,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_breach_alerts_once_with_the_findings_and_counts_every_severity() {
    // GIVEN an image with one critical finding (of the sample's counts)
    let registry = scanned(vec![finding("CVE-2026-1", Severity::Critical)]);
    let reactor = scanner(&registry, FindingsPolicy::default());
    let sink = RecordingSink::default();
    // WHEN its scan result arrives
    let reaction = scan(&reactor, &event(BASIC_SCAN), &sink).await;
    // THEN the six severities are counted, the image is vulnerable, and one message is sent
    let severities = sink.metrics().iter().filter(|m| m.name == names::FINDINGS).count();
    assert_eq!(severities, 6, "all six severities, zeros included");
    assert_eq!(sink.total(names::FINDINGS, Some((DIM_SEVERITY, "CRITICAL"))), 10.0);
    assert_eq!(sink.total(names::VULNERABLE_IMAGES, None), 1.0);
    assert!(matches!(reaction.delivery, Some(Delivery::Published { new: 1, .. })), "{:?}", reaction.delivery);
    let alert = reaction.alert.unwrap_or_else(|| panic!("no alert"));
    assert_eq!(alert.repository, REPO);
    assert_eq!(alert.severity_counts.get("CRITICAL"), Some(&10));
    // AND the same event again sends nothing new
    let again = scan(&reactor, &event(BASIC_SCAN), &sink).await;
    assert!(matches!(again.delivery, Some(Delivery::NothingNew)), "{:?}", again.delivery);
}

#[tokio::test]
async fn suppressed_findings_do_not_breach() {
    let registry = scanned(vec![finding("CVE-2026-1", Severity::Critical)]);
    let policy = FindingsPolicy {
        threshold: Severity::High,
        suppressions: vec![Suppression { repositories: None, id: "CVE-2026-1".into() }],
    };
    // The event counts exactly the one finding.
    let mut one = event(BASIC_SCAN);
    one["detail"]["finding-severity-counts"] = json!({"CRITICAL": 1});
    let reaction = scan(&scanner(&registry, policy), &one, &RecordingSink::default()).await;
    assert!(reaction.alert.is_none());
    assert!(reaction.assessment.is_some_and(|a| !a.breached()));
}

#[tokio::test]
async fn below_the_threshold_no_findings_are_read() {
    let registry = scanned(vec![]);
    let policy = FindingsPolicy { threshold: Severity::Critical, suppressions: vec![] };
    let mut low = event(BASIC_SCAN);
    low["detail"]["finding-severity-counts"] = json!({"MEDIUM": 3});
    let reaction = scan(&scanner(&registry, policy), &low, &RecordingSink::default()).await;
    assert!(reaction.alert.is_none() && reaction.assessment.is_none());
    assert!(registry.calls().is_empty(), "{:?}", registry.calls());
}

#[tokio::test]
async fn a_failed_scan_is_counted_as_a_failure_only() {
    let registry = scanned(vec![]);
    let mut failed = event(BASIC_SCAN);
    failed["detail"]["scan-status"] = json!("FAILED");
    failed["detail"].as_object_mut().map(|d| d.remove("finding-severity-counts"));
    let sink = RecordingSink::default();
    let reaction = scan(&scanner(&registry, FindingsPolicy::default()), &failed, &sink).await;
    assert!(!reaction.completed);
    assert_eq!(sink.total(names::SCAN_FAILURES, None), 1.0);
    assert_eq!(sink.total(names::IMAGES_SCANNED, None), 0.0);
}

#[tokio::test]
async fn unreadable_findings_alert_with_the_events_counts() {
    let registry = scanned(vec![]);
    let denied = RegistryError::AccessDenied { operation: "DescribeImageScanFindings", message: "no".into() };
    registry.failing("DescribeImageScanFindings", None, denied, None);
    let reaction =
        scan(&scanner(&registry, FindingsPolicy::default()), &event(BASIC_SCAN), &RecordingSink::default()).await;
    let alert = reaction.alert.unwrap_or_else(|| panic!("no alert"));
    assert!(alert.details_unavailable.is_some_and(|d| d.contains("access denied")));
}

#[tokio::test]
async fn throttled_findings_reads_are_retried_by_lambda_after_the_counts_are_out() {
    let registry = scanned(vec![]);
    registry.failing(
        "DescribeImageScanFindings",
        None,
        RegistryError::Throttled { operation: "DescribeImageScanFindings" },
        None,
    );
    let sink = RecordingSink::default();
    let result = handle_scan_event(&event(BASIC_SCAN), &scanner(&registry, FindingsPolicy::default()), &sink).await;
    assert!(matches!(&result, Err(e) if e.is_transient()), "{result:?}");
    assert_eq!(sink.total(names::IMAGES_SCANNED, None), 1.0, "the event's counts were published first");
}

#[tokio::test]
async fn vulnerable_images_is_counted_even_when_the_alert_cannot_be_delivered() {
    // GIVEN an image with a critical finding, and SNS throttling past the retry budget
    let registry = scanned(vec![finding("CVE-2026-1", Severity::Critical)]);
    let publisher = RecordingPublisher::default();
    publisher.fail_next(crate::alerts::AlertError::Throttled { operation: "Publish" });
    let alerts = Alerter::new(publisher, MemoryLedger::default(), AlertSettings::default());
    let reactor = ScanReactor::with_alerts(registry.clone(), FindingsPolicy::default(), alerts, FixedClock::at(now()));
    let sink = RecordingSink::default();
    // WHEN its scan result arrives
    let result = handle_scan_event(&event(BASIC_SCAN), &reactor, &sink).await;
    // THEN the invocation fails for Lambda to retry, and the alarm's metric is already out
    assert!(result.is_err(), "{result:?}");
    assert_eq!(sink.total(names::VULNERABLE_IMAGES, None), 1.0);
}

#[tokio::test]
async fn a_denied_scan_in_a_member_account_is_handled() {
    // GIVEN a member account whose role is read-only (StartImageScan denied), nothing scanning
    let registry = registry();
    let denied = || RegistryError::AccessDenied { operation: "StartImageScan", message: "not authorized".into() };
    registry.failing("StartImageScan", None, denied(), None);
    let member =
        PushReactor::new(registry.clone(), FixedClock::at(now()), Duration::from_secs(300)).in_member_account();
    let sink = RecordingSink::default();
    // WHEN two images are pushed there
    for tag in ["v1", "v2"] {
        let reaction = push(&member, &push_of(tag), &sink).await;
        // THEN each push is handled (no failed invocation, no retry, no DLQ) and counted
        assert!(
            matches!(reaction.scan, Some(ScanDecision::Denied { ref enable }) if enable.contains("AllowRemediation"))
        );
    }
    assert_eq!(sink.total(names::SCAN_STARTS_DENIED, None), 2.0);
    // In the central account the same denial is the template's mistake: it fails, visibly.
    let central = pusher(&registry);
    assert!(handle_push_event(&push_of("v3"), &central, &sink).await.is_err());
}
