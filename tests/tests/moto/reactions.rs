//! Push and scan reactions on moto, through the real SDK adapter; AWS calls counted.

use aws_sdk_ecr::types::{
    RegistryScanningRule, ScanFrequency, ScanType, ScanningRepositoryFilter, ScanningRepositoryFilterType,
};
use ecr_keeper_aws::{CloudWatchSink, EcrRegistry};
use ecr_keeper_core::findings::{parse_suppressions, FindingsPolicy, Severity};
use ecr_keeper_core::lifecycle::{generate, PolicyParams};
use ecr_keeper_core::metrics::{Metric, MetricsError, MetricsSink};
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_core::reactions::{
    handle_push_event, handle_scan_event, Handled, PushReactor, ScanDecision, ScanReactor,
};
use ecr_keeper_tests::{seed, CallCounter, LocalAws};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

/// A published metric: name, dimensions, value.
type Published = (String, Vec<(String, String)>, f64);

/// Keeps what was published, for assertions.
#[derive(Default)]
struct MemorySink(Mutex<Vec<Metric>>);

impl MemorySink {
    fn take(&self) -> Vec<Published> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.drain(..)
            .map(|m| {
                (m.name.to_string(), m.dimensions.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(), m.value)
            })
            .collect()
    }
}

impl MetricsSink for MemorySink {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(metrics);
        Ok(())
    }
}

fn names(metrics: &[Published]) -> Vec<&str> {
    metrics.iter().map(|(n, _, _)| n.as_str()).collect()
}

fn push_event(repository: &str, digest: &str, tag: Option<&str>) -> Value {
    let mut detail =
        json!({"result": "SUCCESS", "repository-name": repository, "image-digest": digest, "action-type": "PUSH"});
    if let Some(t) = tag {
        detail["image-tag"] = json!(t);
    }
    json!({"version": "0", "id": "e1", "detail-type": "ECR Image Action", "source": "aws.ecr", "account": "123456789012",
           "time": "2026-11-26T00:00:00Z", "region": "us-east-1", "resources": [], "detail": detail})
}

fn scan_event(repository: &str, digest: &str, counts: Value, tags: &[&str]) -> Value {
    json!({"version": "0", "id": "s1", "detail-type": "ECR Image Scan", "source": "aws.ecr", "account": "123456789012",
           "time": "2026-11-26T00:00:00Z", "region": "us-east-1", "resources": [],
           "detail": {"scan-status": "COMPLETE", "repository-name": repository, "finding-severity-counts": counts,
                      "image-digest": digest, "image-tags": tags}})
}

async fn create_repository(ecr: &aws_sdk_ecr::Client, name: &str, scan_on_push: bool, with_policy: bool) {
    seed::create_repository(ecr, name, scan_on_push).await;
    if with_policy {
        let policy = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        ecr.put_lifecycle_policy()
            .repository_name(name)
            .lifecycle_policy_text(policy.to_json())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

type Push = PushReactor<EcrRegistry, SystemClock>;

async fn on_push(reactor: &Push, sink: &MemorySink, event: Value) -> ecr_keeper_core::reactions::PushReaction {
    match handle_push_event(&event, reactor, sink).await {
        Ok(Handled::Push(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_where_nothing_scans_starts_one_scan_a_day_in_two_calls_or_fewer() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create_repository(&ecr, "noscan", false, true).await;
    let digest = seed::push_unique(&ecr, "noscan", Some("v1.0"), "a").await;
    let counter = CallCounter::default();
    let reactor =
        PushReactor::new(EcrRegistry::new(aws.counted_ecr(&counter).await), SystemClock, Duration::from_secs(300));
    let sink = MemorySink::default();

    let first = on_push(&reactor, &sink, push_event("noscan", &digest, Some("v1.0"))).await;
    assert_eq!(first.scan, Some(ScanDecision::Started));
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    assert_eq!(names(&sink.take()), ["ImagePushes", "ScansStarted"]);
    assert_eq!(
        counter.calls(),
        ["DescribeRepositories", "GetLifecyclePolicy", "GetRegistryScanningConfiguration", "StartImageScan"]
    );
    // moto now has a scan for the image.
    let findings = ecr
        .describe_image_scan_findings()
        .repository_name("noscan")
        .image_id(aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(&digest).build())
        .send()
        .await;
    assert!(findings.is_ok(), "{findings:?}");

    // The same image again: ECR's once-a-day quota. Counted, not an error; settings are cached.
    counter.reset();
    let again = on_push(&reactor, &sink, push_event("noscan", &digest, Some("v1.0"))).await;
    assert_eq!(again.scan, Some(ScanDecision::SkippedQuota));
    let metrics = sink.take();
    assert_eq!(names(&metrics), ["ImagePushes", "ScanStartsSkipped"]);
    assert_eq!(metrics[1].1, [("Repository".to_string(), "noscan".to_string())]);
    assert_eq!(counter.calls(), ["StartImageScan"], "steady state: one ECR call per push");
}

#[tokio::test(flavor = "multi_thread")]
async fn repositories_something_already_scans_are_left_alone() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create_repository(&ecr, "scans-itself", true, true).await;
    create_repository(&ecr, "team-a/api", false, true).await;
    let counter = CallCounter::default();
    let reactor = PushReactor::new(EcrRegistry::new(aws.counted_ecr(&counter).await), SystemClock, Duration::ZERO);
    let sink = MemorySink::default();

    let r = on_push(&reactor, &sink, push_event("scans-itself", "sha256:aa", Some("v1"))).await;
    assert_eq!(r.scan, Some(ScanDecision::NotNeeded { reason: "scanned on push".into() }));

    let rule = |frequency: ScanFrequency, filter: &str| {
        RegistryScanningRule::builder()
            .scan_frequency(frequency)
            .repository_filters(
                ScanningRepositoryFilter::builder()
                    .filter(filter)
                    .filter_type(ScanningRepositoryFilterType::Wildcard)
                    .build()
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    ecr.put_registry_scanning_configuration()
        .scan_type(ScanType::Basic)
        .rules(rule(ScanFrequency::ScanOnPush, "team-a/*"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = on_push(&reactor, &sink, push_event("team-a/api", "sha256:bb", Some("v1"))).await;
    assert_eq!(r.scan, Some(ScanDecision::NotNeeded { reason: "scanned on push".into() }), "a registry rule covers it");

    ecr.put_registry_scanning_configuration()
        .scan_type(ScanType::Enhanced)
        .rules(rule(ScanFrequency::ContinuousScan, "other/*"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = on_push(&reactor, &sink, push_event("team-a/api", "sha256:cc", Some("v2"))).await;
    assert_eq!(
        r.scan,
        Some(ScanDecision::NotNeeded { reason: "the registry uses enhanced scanning (Amazon Inspector)".into() })
    );
    assert!(!counter.calls().contains(&"StartImageScan".to_string()), "{:?}", counter.calls());
}

#[tokio::test(flavor = "multi_thread")]
async fn pushes_no_lifecycle_rule_will_ever_expire_are_warned_about() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create_repository(&ecr, "app", true, true).await;
    create_repository(&ecr, "nopolicy", true, false).await;
    let reactor = PushReactor::new(EcrRegistry::new(ecr.clone()), SystemClock, Duration::from_secs(300));
    let sink = MemorySink::default();

    let r = on_push(&reactor, &sink, push_event("app", "sha256:11", Some("main-3f2a"))).await;
    assert_eq!(
        r.warnings,
        ["tag `main-3f2a` matches no rule of the lifecycle policy of app: this image will never be expired"]
    );
    assert_eq!(names(&sink.take()), ["ImagePushes", "UnmanagedImagePushes"]);

    for (tag, what) in [(Some("v2.0"), "a version tag"), (None, "an untagged push")] {
        let r = on_push(&reactor, &sink, push_event("app", "sha256:12", tag)).await;
        assert!(r.warnings.is_empty(), "{what}: {:?}", r.warnings);
        assert_eq!(names(&sink.take()), ["ImagePushes"], "{what}");
    }

    let r = on_push(&reactor, &sink, push_event("nopolicy", "sha256:13", Some("v1"))).await;
    assert_eq!(r.warnings, ["repository nopolicy has no lifecycle policy: no image pushed to it is ever expired"]);
    assert_eq!(names(&sink.take()), ["ImagePushes", "UnmanagedImagePushes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_of_a_started_scan_become_metrics_and_one_alert() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create_repository(&ecr, "payments", false, true).await;
    let digest = seed::push_unique(&ecr, "payments", Some("v3.1"), "p").await;
    let push = PushReactor::new(EcrRegistry::new(ecr.clone()), SystemClock, Duration::from_secs(300));
    let sink = MemorySink::default();
    assert_eq!(
        on_push(&push, &sink, push_event("payments", &digest, Some("v3.1"))).await.scan,
        Some(ScanDecision::Started)
    );
    sink.take();

    aws.set_scan_findings(
        "payments",
        &digest,
        &[
            ("CVE-2024-0001", "CRITICAL", "openssl"),
            ("CVE-2024-0002", "HIGH", "zlib"),
            ("CVE-2024-0003", "LOW", "bash"),
        ],
    );
    let counter = CallCounter::default();
    let scans = ScanReactor::new(EcrRegistry::new(aws.counted_ecr(&counter).await), FindingsPolicy::default());
    let event = scan_event("payments", &digest, json!({"CRITICAL": 1, "HIGH": 1, "LOW": 1}), &["v3.1"]);
    let reaction = match handle_scan_event(&event, &scans, &sink).await {
        Ok(Handled::Scan(r)) => r,
        other => panic!("{other:?}"),
    };
    let metrics = sink.take();
    let findings: Vec<(String, f64)> = metrics
        .iter()
        .filter(|(n, _, _)| n == "Findings")
        .map(|(_, d, v)| (d.iter().find(|(k, _)| k == "Severity").map(|(_, s)| s.clone()).unwrap_or_default(), *v))
        .collect();
    assert_eq!(
        findings,
        [
            ("CRITICAL".to_string(), 1.0),
            ("HIGH".into(), 1.0),
            ("MEDIUM".into(), 0.0),
            ("LOW".into(), 1.0),
            ("INFORMATIONAL".into(), 0.0),
            ("UNDEFINED".into(), 0.0)
        ]
    );
    assert!(names(&metrics).contains(&"ImagesScanned") && names(&metrics).contains(&"VulnerableImages"));
    let alert = reaction.alert.unwrap_or_else(|| panic!("no alert"));
    assert_eq!(alert.repository, "payments");
    assert_eq!(alert.image_tags, ["v3.1"]);
    assert_eq!(alert.assessment.unsuppressed_at_or_above, 2);
    let top: Vec<(&str, Severity, Option<&str>)> =
        alert.assessment.top_findings.iter().map(|f| (f.id.as_str(), f.severity, f.package.as_deref())).collect();
    assert_eq!(
        top,
        [
            ("CVE-2024-0001", Severity::Critical, Some("openssl")),
            ("CVE-2024-0002", Severity::High, Some("zlib")),
            ("CVE-2024-0003", Severity::Low, Some("bash"))
        ]
    );
    assert_eq!(alert.console_url, format!("https://us-east-1.console.aws.amazon.com/ecr/repositories/private/123456789012/payments/_/image/{digest}/scan-results?region=us-east-1"));
    let record = serde_json::to_value(&alert).unwrap_or_default();
    assert_eq!(record["severityCounts"]["CRITICAL"], 1);
    assert_eq!(record["threshold"], "HIGH");
    assert_eq!(counter.calls(), ["DescribeImageScanFindings"], "one call for the details of a breach");

    // Suppressed (one scoped to this repository, one global): no breach, both still reported.
    let suppressing = FindingsPolicy {
        threshold: Severity::High,
        suppressions: parse_suppressions("payments:CVE-2024-0001 CVE-2024-0002").unwrap_or_default(),
    };
    let quiet = ScanReactor::new(EcrRegistry::new(ecr.clone()), suppressing);
    let reaction = match handle_scan_event(&event, &quiet, &sink).await {
        Ok(Handled::Scan(r)) => r,
        other => panic!("{other:?}"),
    };
    assert!(reaction.alert.is_none());
    let assessment = reaction.assessment.unwrap_or_else(|| panic!("no assessment"));
    assert_eq!(
        assessment.suppressed.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        ["CVE-2024-0001", "CVE-2024-0002"]
    );
    assert!(!names(&sink.take()).contains(&"VulnerableImages"));

    // Below the threshold nothing is fetched at all.
    counter.reset();
    let strict = ScanReactor::new(
        EcrRegistry::new(aws.counted_ecr(&counter).await),
        FindingsPolicy { threshold: Severity::Critical, suppressions: vec![] },
    );
    let mild = scan_event("payments", &digest, json!({"HIGH": 1}), &[]);
    assert!(matches!(handle_scan_event(&mild, &strict, &sink).await, Ok(Handled::Scan(r)) if r.alert.is_none()));
    assert!(counter.calls().is_empty(), "a clean scan costs no AWS call");
}

#[tokio::test(flavor = "multi_thread")]
async fn inspector_scans_name_the_repository_by_arn() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create_repository(&ecr, "team-b/web", false, false).await;
    let digest = seed::push_unique(&ecr, "team-b/web", Some("latest"), "w").await;
    ecr.start_image_scan()
        .repository_name("team-b/web")
        .image_id(aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(&digest).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    aws.set_scan_findings("team-b/web", &digest, &[("CVE-2023-9999", "CRITICAL", "glibc")]);
    let event = json!({"version": "0", "id": "i1", "detail-type": "Inspector2 Scan", "source": "aws.inspector2",
        "account": "123456789012", "time": "2026-11-26T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"scan-status": "INITIAL_SCAN_COMPLETE",
                   "repository-name": "arn:aws:ecr:us-east-1:123456789012:repository/team-b/web",
                   "finding-severity-counts": {"CRITICAL": 1, "TOTAL": 1}, "image-digest": digest, "image-tags": ["latest"]}});
    let scans = ScanReactor::new(EcrRegistry::new(ecr.clone()), FindingsPolicy::default());
    let sink = MemorySink::default();
    let reaction = match handle_scan_event(&event, &scans, &sink).await {
        Ok(Handled::Scan(r)) => r,
        other => panic!("{other:?}"),
    };
    let alert = reaction.alert.unwrap_or_else(|| panic!("no alert"));
    assert_eq!(alert.repository, "team-b/web");
    assert_eq!(alert.scanner, "enhanced");
    assert_eq!(alert.assessment.top_findings[0].id, "CVE-2023-9999");
    let metrics = sink.take();
    assert!(metrics.iter().all(|(_, dims, _)| dims.iter().any(|(k, v)| k == "Repository" && v == "team-b/web")));
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_scans_bad_events_and_aws_outages_are_told_apart() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    let scans = ScanReactor::new(EcrRegistry::new(ecr.clone()), FindingsPolicy::default());
    let sink = MemorySink::default();
    let mut failed = scan_event("xx", "sha256:1", json!({}), &[]);
    failed["detail"]["scan-status"] = json!("FAILED");
    assert!(matches!(handle_scan_event(&failed, &scans, &sink).await, Ok(Handled::Scan(r)) if !r.completed));
    assert_eq!(names(&sink.take()), ["ScanFailures"]);

    // Deletes and storage-class changes are counted and answered as what they are.
    let push = PushReactor::new(EcrRegistry::new(ecr.clone()), SystemClock, Duration::from_secs(1));
    for (action, answer) in [("DELETE", "delete"), ("UPDATE_STORAGE_CLASS", "storageClassChange")] {
        let mut event = push_event("x", "sha256:1", Some("v1"));
        event["detail"]["action-type"] = json!(action);
        let handled = handle_push_event(&event, &push, &sink).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(serde_json::to_value(&handled).unwrap_or_default()["handled"], answer, "{action}");
    }
    assert_eq!(names(&sink.take()), ["ImageDeletes", "ImageStorageClassChanges"]);

    // A scan event sent to the push function is dropped and counted, not retried.
    let wrong = scan_event("x", "sha256:1", json!({}), &[]);
    match handle_push_event(&wrong, &push, &sink).await {
        Ok(Handled::Invalid { reason }) => assert!(reason.ends_with("expected aws.ecr / ECR Image Action"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(names(&sink.take()), ["InvalidEvents"]);

    // ECR unreachable: an error, so Lambda retries and the DLQ keeps the event.
    let dead = aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::config::Builder::from(&aws.sdk_config().await)
            .endpoint_url(format!("http://127.0.0.1:{}", ecr_keeper_tests::free_port()))
            .build(),
    );
    let offline = PushReactor::new(EcrRegistry::new(dead), SystemClock, Duration::from_secs(1));
    let err = handle_push_event(&push_event("x", "sha256:1", Some("v1")), &offline, &sink).await.err();
    assert!(err.as_ref().is_some_and(|e| e.is_transient()), "{err:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cloudwatch_sink_batches_put_metric_data_through_the_bridge() {
    let aws = LocalAws::start_with_cloudwatch();
    let counter = CallCounter::default();
    let config =
        aws_sdk_cloudwatch::config::Builder::from(&aws.sdk_config().await).interceptor(counter.clone()).build();
    let cw = aws_sdk_cloudwatch::Client::from_conf(config);
    let sink = CloudWatchSink::new(cw.clone());
    let metrics: Vec<Metric> =
        (0..1500).map(|k| Metric::for_repository("ImagePushes", &format!("repo-{}", k % 3), 1)).collect();
    sink.publish(&metrics).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(counter.calls(), ["PutMetricData", "PutMetricData"], "1,500 metrics in two requests");
    let listed = cw.list_metrics().namespace("EcrKeeper").send().await.unwrap_or_else(|e| panic!("{e}"));
    let mut repos: Vec<String> = listed
        .metrics()
        .iter()
        .flat_map(|m| m.dimensions().iter().filter_map(|d| d.value().map(str::to_owned)))
        .collect();
    repos.sort();
    repos.dedup();
    assert_eq!(repos, ["repo-0", "repo-1", "repo-2"]);
}
