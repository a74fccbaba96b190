//! Vulnerability alerts on moto: SNS messages (read back from moto's record of what the topic
//! accepted), the DynamoDB ledger, and the fault proxy in front of SNS.

use ecr_keeper_aws::{DynamoLedger, EcrRegistry, RetryProfile, SnsPublisher};
use ecr_keeper_core::alerts::{AlertSettings, Alerter, Delivery, MAX_MESSAGE_BYTES};
use ecr_keeper_core::findings::FindingsPolicy;
use ecr_keeper_core::metrics::{Metric, MetricsError, MetricsSink};
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_core::reactions::{handle_scan_event, Handled, ScanReaction, ScanReactor};
use ecr_keeper_tests::fault_proxy::{Fault, FaultProxy, Operations, Rule, When};
use ecr_keeper_tests::{seed, AlertStore, LocalAws};
use serde_json::{json, Value};
use std::sync::Mutex;

#[derive(Default)]
struct MemorySink(Mutex<Vec<String>>);

impl MemorySink {
    fn names(&self) -> Vec<String> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl MetricsSink for MemorySink {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        if let Ok(mut m) = self.0.lock() {
            m.extend(metrics.iter().map(|m| m.name.to_string()));
        }
        Ok(())
    }
}

type SnsAlerter = Alerter<SnsPublisher, DynamoLedger>;

/// The scan reaction as scan-events builds it: ECR, SNS and DynamoDB through `config`.
fn reactor(
    config: &aws_config::SdkConfig,
    store: &AlertStore,
    settings: AlertSettings,
) -> ScanReactor<EcrRegistry, SnsAlerter> {
    let alerter = Alerter::new(
        SnsPublisher::new(aws_sdk_sns::Client::new(config), &store.topic_arn),
        DynamoLedger::new(aws_sdk_dynamodb::Client::new(config), &store.table),
        settings,
    );
    ScanReactor::with_alerts(
        EcrRegistry::new(aws_sdk_ecr::Client::new(config)),
        FindingsPolicy::default(),
        alerter,
        SystemClock,
    )
}

fn scan_event(repository: &str, digest: &str, counts: Value) -> Value {
    json!({"version": "0", "id": "s1", "detail-type": "ECR Image Scan", "source": "aws.ecr", "account": "123456789012",
           "time": "2026-12-01T00:00:00Z", "region": "us-east-1", "resources": [],
           "detail": {"scan-status": "COMPLETE", "repository-name": repository, "finding-severity-counts": counts,
                      "image-digest": digest, "image-tags": ["v2.4"]}})
}

async fn scanned_image(aws: &LocalAws, repository: &str) -> String {
    let ecr = aws.ecr().await;
    seed::create_repository(&ecr, repository, false).await;
    let digest = seed::push_unique(&ecr, repository, Some("v2.4"), repository).await;
    ecr.start_image_scan()
        .repository_name(repository)
        .image_id(aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(&digest).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    digest
}

async fn react(reactor: &ScanReactor<EcrRegistry, SnsAlerter>, event: &Value, sink: &MemorySink) -> ScanReaction {
    match handle_scan_event(event, reactor, sink).await {
        Ok(Handled::Scan(r)) => *r,
        other => panic!("{other:?}"),
    }
}

/// The chat (`default`) and e-mail parts of a published message.
fn parts(message: &str) -> (Value, String) {
    let body: Value = serde_json::from_str(message).unwrap_or_else(|e| panic!("not JSON: {e}"));
    let chat = serde_json::from_str(body["default"].as_str().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    (chat, body["email"].as_str().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scan_alerts_once_and_a_rescan_alerts_only_what_is_new() {
    // GIVEN an image whose scan found a critical, a high and a low finding
    let aws = LocalAws::start();
    let store = aws.alert_store().await;
    let digest = scanned_image(&aws, "payments").await;
    aws.set_scan_findings(
        "payments",
        &digest,
        &[
            ("CVE-2024-0001", "CRITICAL", "openssl"),
            ("CVE-2024-0002", "HIGH", "zlib"),
            ("CVE-2024-0003", "LOW", "bash"),
        ],
    );
    let config = aws.sdk_config().await;
    let reactor = reactor(&config, &store, AlertSettings::default());
    let sink = MemorySink::default();
    let event = scan_event("payments", &digest, json!({"CRITICAL": 1, "HIGH": 1, "LOW": 1}));

    // WHEN the scan event arrives THEN one message carries both open findings at or above HIGH
    let first = react(&reactor, &event, &sink).await;
    assert_eq!(first.delivery, Some(Delivery::Published { new: 2, shown: 2, left_out: 0 }));
    let published = aws.published(&store.topic_arn);
    assert_eq!(published.len(), 1, "{published:?}");
    let (subject, message) = &published[0];
    assert_eq!(subject, "ecr-keeper: 2 new findings HIGH+ in payments:v2.4");
    let (chat, email) = parts(message);
    assert_eq!((chat["version"].as_str(), chat["source"].as_str()), (Some("1.0"), Some("custom")));
    assert_eq!(chat["content"]["textType"], "client-markdown");
    let description = chat["content"]["description"].as_str().unwrap_or_default();
    // In chat, the scan's text sits in code spans (never markup); in the e-mail, plain.
    let chat_findings = ["`CVE-2024-0001` in `openssl` `1.0.0`", "`CVE-2024-0002` in `zlib`"];
    let email_findings = ["CVE-2024-0001 in openssl 1.0.0", "CVE-2024-0002 in zlib"];
    for (text, findings) in [(description, chat_findings), (email.as_str(), email_findings)] {
        for needle in ["payments", "123456789012", "us-east-1", &digest, findings[0], findings[1]] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert!(!text.contains("CVE-2024-0003"), "LOW is below the threshold:\n{text}");
        assert!(text.contains("scan-results?region=us-east-1"), "the console link:\n{text}");
    }
    assert!(email.starts_with("2 new findings HIGH+ in payments:v2.4"), "{email}");
    // The event's counts came first, before any AWS call; then the breach.
    let names = sink.names();
    assert_eq!(names.first().map(String::as_str), Some("ImagesScanned"));
    assert_eq!(names.last().map(String::as_str), Some("VulnerableImages"));

    // WHEN the same scan event comes again THEN nothing is published
    let again = react(&reactor, &event, &sink).await;
    assert_eq!(again.delivery, Some(Delivery::NothingNew));
    assert_eq!(aws.published(&store.topic_arn).len(), 1);

    // WHEN a rescan finds one more THEN only that one is published
    const WITH_CURL: [(&str, &str, &str); 3] = [
        ("CVE-2024-0001", "CRITICAL", "openssl"),
        ("CVE-2024-0002", "HIGH", "zlib"),
        ("CVE-2024-0004", "HIGH", "curl"),
    ];
    aws.set_scan_findings("payments", &digest, &WITH_CURL);
    let rescan = react(&reactor, &scan_event("payments", &digest, json!({"CRITICAL": 1, "HIGH": 2})), &sink).await;
    assert_eq!(rescan.delivery, Some(Delivery::Published { new: 1, shown: 1, left_out: 0 }));
    let published = aws.published(&store.topic_arn);
    assert_eq!(published.len(), 2);
    let (_, email) = parts(&published[1].1);
    assert!(email.contains("CVE-2024-0004 in curl") && !email.contains("CVE-2024-0001"), "{email}");

    // WHEN CVE-2024-0001 is fixed and later comes back THEN it alerts again
    aws.set_scan_findings("payments", &digest, &[("CVE-2024-0002", "HIGH", "zlib"), ("CVE-2024-0004", "HIGH", "curl")]);
    let fixed = react(&reactor, &scan_event("payments", &digest, json!({"HIGH": 2})), &sink).await;
    assert_eq!(fixed.delivery, Some(Delivery::NothingNew));
    aws.set_scan_findings("payments", &digest, &WITH_CURL);
    let back = react(&reactor, &scan_event("payments", &digest, json!({"CRITICAL": 1, "HIGH": 2})), &sink).await;
    assert_eq!(back.delivery, Some(Delivery::Published { new: 1, shown: 1, left_out: 0 }));
    assert_eq!(aws.published(&store.topic_arn).len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_findings_stay_under_sns_s_limit_and_say_how_many_were_left_out() {
    let aws = LocalAws::start();
    let store = aws.alert_store().await;
    let digest = scanned_image(&aws, "monolith").await;
    let ids: Vec<(String, String)> =
        (0..2000).map(|k| (format!("CVE-2025-{k:05}"), format!("lib{k}-{}", "x".repeat(100)))).collect();
    let findings: Vec<(&str, &str, &str)> = ids.iter().map(|(id, p)| (id.as_str(), "HIGH", p.as_str())).collect();
    aws.set_scan_findings("monolith", &digest, &findings);
    let config = aws.sdk_config().await;
    let settings = AlertSettings { top_n: 1000, ..AlertSettings::default() };
    let reactor = reactor(&config, &store, settings);
    let reaction =
        react(&reactor, &scan_event("monolith", &digest, json!({"HIGH": 2000})), &MemorySink::default()).await;
    let Some(Delivery::Published { new, shown, left_out }) = reaction.delivery else {
        panic!("{:?}", reaction.delivery)
    };
    assert_eq!(new, 2000);
    assert!(shown < 1000 && shown + left_out == 2000, "{shown} shown, {left_out} left out");
    let published = aws.published(&store.topic_arn);
    assert_eq!(published.len(), 1);
    let message = &published[0].1;
    assert!(message.len() <= MAX_MESSAGE_BYTES, "{} bytes", message.len());
    let (chat, email) = parts(message);
    let note = format!("{left_out} more new findings not listed");
    assert!(email.contains(&note), "{note} missing from the e-mail");
    assert!(chat["content"]["description"].as_str().unwrap_or_default().contains(&note));
    assert_eq!(chat["metadata"]["additionalContext"]["leftOut"], left_out);
}

#[tokio::test(flavor = "multi_thread")]
async fn sns_throttling_or_unreachable_fails_the_invocation_and_the_retry_delivers() {
    let aws = LocalAws::start();
    let store = aws.alert_store().await;
    let digest = scanned_image(&aws, "api").await;
    aws.set_scan_findings("api", &digest, &[("CVE-2024-7777", "CRITICAL", "glibc")]);
    let proxy = FaultProxy::start(&aws.endpoint_url).await;
    let via_proxy = aws.sdk_config_via(&proxy.url, RetryProfile::Interactive).await;
    let reactor = reactor(&via_proxy, &store, AlertSettings::default());
    let event = scan_event("api", &digest, json!({"CRITICAL": 1}));
    let attempts = RetryProfile::Interactive.max_attempts() as usize;

    for fault in [Fault::Throttle, Fault::Reset] {
        proxy.set_rules(vec![Rule::new(Operations::named(&["Publish"]), When::Always, fault.clone())]);
        let before = proxy.calls("Publish");
        let failed = handle_scan_event(&event, &reactor, &MemorySink::default()).await;
        // The invocation fails (Lambda retries it, then the DLQ keeps it), naming what failed.
        let error = failed.err().unwrap_or_else(|| panic!("{fault:?}: the invocation should fail"));
        assert!(error.is_transient() && error.to_string().contains("Publish"), "{fault:?}: {error}");
        assert_eq!(proxy.calls("Publish") - before, attempts, "{fault:?}: every attempt was made");
        assert!(aws.published(&store.topic_arn).is_empty());
    }

    // SNS recovers: the retried event delivers the alert, since nothing was recorded.
    proxy.set_rules(vec![]);
    let delivered = handle_scan_event(&event, &reactor, &MemorySink::default()).await;
    assert!(
        matches!(&delivered, Ok(Handled::Scan(r)) if r.delivery == Some(Delivery::Published { new: 1, shown: 1, left_out: 0 })),
        "{delivered:?}"
    );
    assert_eq!(aws.published(&store.topic_arn).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scan_of_a_repository_that_is_gone_still_counts_and_alerts_with_the_event_s_numbers() {
    // GIVEN AWS's own Inspector2 Scan sample, whose repository this account does not have
    let aws = LocalAws::start();
    let store = aws.alert_store().await;
    let sample = ecr_keeper_tests::repo_root().join("events/inspector2-scan.json");
    let event: Value = serde_json::from_str(&std::fs::read_to_string(&sample).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let config = aws.sdk_config().await;
    let reactor = reactor(&config, &store, AlertSettings::default());
    let sink = MemorySink::default();
    // WHEN it arrives THEN the invocation succeeds, the counts are metrics, and the alert says why
    // it carries no details
    let reaction = react(&reactor, &event, &sink).await;
    assert!(sink.names().iter().filter(|n| *n == "Findings").count() == 6, "{:?}", sink.names());
    let alert = reaction.alert.unwrap_or_else(|| panic!("no alert"));
    assert!(alert.details_unavailable.as_deref().is_some_and(|r| r.contains("does not exist")), "{alert:?}");
    let published = aws.published(&store.topic_arn);
    assert_eq!(published.len(), 1);
    let (_, email) = parts(&published[0].1);
    assert!(email.contains("Details unavailable") && email.contains("does not exist"), "{email}");
    // The same event delivered twice alerts once.
    let again = react(&reactor, &event, &sink).await;
    assert_eq!(again.delivery, Some(Delivery::NothingNew));
    assert_eq!(aws.published(&store.topic_arn).len(), 1);
}
