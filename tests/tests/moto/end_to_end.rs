//! The real `repository-resource` binary over the Lambda Runtime API (`cargo lambda watch`),
//! driven by the sample events in `events/` (`cargo lambda invoke`), against moto.

use ecr_keeper_tests::lambda::{sample_event, LambdaEmulator};
use ecr_keeper_tests::{LocalAws, ResponseRecorder};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn repository_resource_binary_creates_updates_and_deletes() {
    let aws = LocalAws::start();
    let recorder = ResponseRecorder::start(&[]).await;
    let lambda = LambdaEmulator::start(&aws, &[("RUST_LOG", "info")]);
    let ecr = aws.ecr().await;
    // The sample events' stack, in moto's CloudFormation: the function confirms each request there.
    let stack = aws.stack_with("app", &["AppRepository"]).await;
    let sent = |name: &str| aws.sent_by(sample_event(name, &recorder.url()), &stack);

    let answer = lambda.invoke("repository-resource", &sent("cfn-create.json"));
    let answer = answer.unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let responses = recorder.wait_for(1, Duration::from_secs(10)).await;
    let created = responses[0].json();
    assert_eq!(created["Status"], "SUCCESS");
    assert_eq!(created["PhysicalResourceId"], "app-template-dev");
    assert_eq!(created["Data"]["RepositoryUrl"], "123456789012.dkr.ecr.us-east-1.amazonaws.com/app-template-dev");
    let repo = ecr.describe_repositories().repository_names("app-template-dev").send().await;
    let repo = repo.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(repo.repositories()[0].image_tag_mutability().map(|m| m.as_str()), Some("MUTABLE"));

    let answer = lambda.invoke("repository-resource", &sent("cfn-update.json"));
    assert_eq!(answer.unwrap_or_else(|e| panic!("{e}"))["Status"], "SUCCESS");
    let updated = recorder.wait_for(2, Duration::from_secs(10)).await[1].json();
    assert!(updated["Reason"].as_str().unwrap_or_default().contains("ScanOnPush false"), "{updated}");
    let policy = ecr.get_lifecycle_policy().repository_name("app-template-dev").send().await;
    let text = policy.unwrap_or_else(|e| panic!("{e}")).lifecycle_policy_text().unwrap_or_default().to_string();
    assert!(text.contains("\"countNumber\":20"), "{text}");

    let answer = lambda.invoke("repository-resource", &sent("cfn-delete.json"));
    assert_eq!(answer.unwrap_or_else(|e| panic!("{e}"))["Status"], "SUCCESS");
    let deleted = recorder.wait_for(3, Duration::from_secs(10)).await[2].json();
    assert_eq!(deleted["Reason"], "deleted app-template-dev (it held no images)");
    // Every repository moto holds, named, so a failure shows what is left. The listing is tried
    // again on a transport error: CI once failed here with the delete answered and nothing to show.
    let mut listed = Err(String::new());
    for _ in 0..5 {
        listed = ecr
            .describe_repositories()
            .send()
            .await
            .map_err(|e| aws_sdk_ecr::error::DisplayErrorContext(e).to_string());
        if listed.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let listed = listed.unwrap_or_else(|e| panic!("listing repositories after the delete: {e}"));
    let left: Vec<String> =
        listed.repositories().iter().filter_map(|r| r.repository_name().map(String::from)).collect();
    assert!(left.is_empty(), "repositories left after the delete: {left:?}\n{}", lambda.log());

    // The function's logs name the response host, never the signed URL.
    let logs = lambda.log();
    assert!(logs.contains("answered CloudFormation"), "{logs}");
    assert!(!logs.contains("SECRETSIGNATURE"), "the pre-signed URL's signature leaked into the logs");
}

#[tokio::test(flavor = "multi_thread")]
async fn push_and_scan_event_binaries_react_with_emf_metrics() {
    use ecr_keeper_tests::seed;
    use serde_json::json;

    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    seed::create_repository(&ecr, "shop", false).await;
    let digest = seed::push_unique(&ecr, "shop", Some("main-3f2a"), "shop").await;
    let lambda =
        // MetricSeries=all: every total, so each reaction's metric shows (the default publishes
        // the essential ones only: the demo's test).
        LambdaEmulator::start(
            &aws,
            &[
                ("KEEPER_METRICS", "emf"),
                ("KEEPER_METRIC_SERIES", "all"),
                ("KEEPER_SUPPRESSED_FINDINGS", "CVE-2024-0002"),
            ],
        );

    let mut push = sample_event("ecr-image-action-push.json", "");
    push["detail"]["repository-name"] = json!("shop");
    push["detail"]["image-digest"] = json!(digest);
    push["detail"]["image-tag"] = json!("main-3f2a");
    let answer = lambda.invoke("push-events", &push).unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    assert_eq!(answer["handled"], "push", "{answer}");
    assert_eq!(answer["scan"]["outcome"], "started");
    assert_eq!(answer["warnings"][0], "repository shop has no lifecycle policy: no image pushed to it is ever expired");

    aws.set_scan_findings(
        "shop",
        &digest,
        &[("CVE-2024-0001", "CRITICAL", "openssl"), ("CVE-2024-0002", "HIGH", "zlib")],
    );
    let mut scan = sample_event("ecr-image-scan-basic.json", "");
    scan["detail"]["repository-name"] = json!("shop");
    scan["detail"]["image-digest"] = json!(digest);
    scan["detail"]["finding-severity-counts"] = json!({"CRITICAL": 1, "HIGH": 1});
    let answer = lambda.invoke("scan-events", &scan).unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    assert_eq!(answer["handled"], "scan", "{answer}");
    assert_eq!(answer["alert"]["unsuppressedAtOrAbove"], 1);
    assert_eq!(answer["alert"]["suppressed"][0]["id"], "CVE-2024-0002");

    // A permanent problem: answered (so Lambda does not retry), counted.
    let bad = sample_event("inspector2-finding.json", "");
    let answer = lambda.invoke("scan-events", &bad).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer["handled"], "invalid", "{answer}");

    // The metrics went to the log as Embedded Metric Format lines.
    let logs = lambda.log();
    let emf: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| l.starts_with('{') && l.contains("\"_aws\""))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let emitted = |name: &str| emf.iter().any(|l| l.get(name).is_some());
    for name in [
        "ImagePushes",
        "ScansStarted",
        "UnmanagedImagePushes",
        "ImagesScanned",
        "Findings",
        "VulnerableImages",
        "InvalidEvents",
    ] {
        assert!(emitted(name), "{name} missing from the EMF output:\n{logs}");
    }
    assert!(logs.contains("vulnerable image"), "the alert record is logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_audit_binary_logs_one_report_line_and_metrics() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    ecr.create_repository().repository_name("bare").send().await.unwrap_or_else(|e| panic!("{e}"));
    let lambda = LambdaEmulator::start(&aws, &[("KEEPER_METRICS", "emf"), ("KEEPER_REMEDIATE", "lifecycle")]);
    let schedule = serde_json::json!({"version": "0", "id": "sched-1", "detail-type": "Scheduled Event", "source": "aws.scheduler",
        "account": "123456789012", "time": "2026-11-26T06:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    let answer = lambda.invoke("lifecycle-audit", &schedule).unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    assert_eq!(answer["complete"], true, "{answer}");
    assert_eq!(answer["repositories"], 1);
    assert_eq!(answer["nonCompliant"], 1);
    assert_eq!(answer["remediation"], 1);
    let logs = lambda.log();
    let report = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("repositories").is_some())
        .unwrap_or_else(|| panic!("no report line in:\n{logs}"));
    assert_eq!(report["repositories"][0]["name"], "bare");
    assert_eq!(report["remediation"][0]["applied"], true);
    assert!(logs.contains("\"NonCompliantRepositories\":1.0"), "{logs}");
    // Remediation applied the standard policy.
    assert!(ecr.get_lifecycle_policy().repository_name("bare").send().await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn cost_report_binary_publishes_metrics_and_the_stack_s_dashboard_and_follows_the_standard() {
    use ecr_keeper_tests::seed;
    let aws = LocalAws::start_with_cloudwatch();
    let ecr = aws.ecr().await;
    ecr.create_repository().repository_name("svc").send().await.unwrap_or_else(|e| panic!("{e}"));
    // Three 1 GiB releases and no lifecycle policy: the projection applies the standard.
    for k in 1..=3 {
        let manifest = seed::oci_manifest(&format!("svc-cfg-{k}"), &[(&format!("svc-layer-{k}"), 1 << 30)]);
        seed::push(&ecr, "svc", Some(&format!("v{k}")), &manifest).await;
    }
    let lambda = LambdaEmulator::start(
        &aws,
        &[
            ("KEEPER_PRICE_PER_GB_MONTH", "0.20"),
            ("KEEPER_STANDARD_KEEP_TAGGED", "1"),
            ("KEEPER_COST_DASHBOARD", "stack-b-costs"),
        ],
    );
    let weekly = serde_json::json!({"version": "0", "id": "w1", "detail-type": "Scheduled Event", "source": "aws.scheduler",
        "account": "123456789012", "time": "2026-11-30T07:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    let answer = lambda.invoke("cost-report", &weekly).unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    // Exact money in the answer (config bytes included); $0.60 as people read it.
    let dollars = |key: &str| answer[key].as_f64().map(ecr_keeper_core::cost::money);
    assert_eq!(dollars("monthlyCostUsd").as_deref(), Some("$0.60"), "{answer}");
    // No policy of its own: nothing projected away; the standard (KEEPER_STANDARD_KEEP_TAGGED=1)
    // would keep one of the three, where the default standard (keep 10) would keep all.
    assert_eq!(dollars("projectedMonthlyCostUsd").as_deref(), Some("$0.60"), "{answer}");
    let savings = answer["standardPolicySavingsUsd"].as_f64().unwrap_or_default();
    assert!((savings - 0.4).abs() < 0.005, "{answer}");
    assert_eq!(answer["top"], serde_json::json!(["svc"]));
    let cw = aws.cloudwatch().await;
    let dashboard = cw.get_dashboard().dashboard_name("stack-b-costs").send().await;
    assert!(dashboard.is_ok(), "{dashboard:?}");
    let shared = cw.get_dashboard().dashboard_name("ecr-keeper-costs").send().await;
    assert!(shared.is_err(), "no dashboard under the name every stack would share");
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_hundred_long_tags_cannot_keep_the_alert_from_arriving() {
    use ecr_keeper_tests::lambda::{sample_event, LambdaEmulator};
    use ecr_keeper_tests::seed;
    use serde_json::json;

    // GIVEN an image whose scan has a critical finding, and alerts to SNS
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    seed::create_repository(&ecr, "shop", false).await;
    let digest = seed::push_unique(&ecr, "shop", Some("v1"), "shop").await;
    let store = aws.alert_store().await;
    let lambda = LambdaEmulator::start(
        &aws,
        &[
            ("KEEPER_METRICS", "emf"),
            ("KEEPER_ALERTS", "sns"),
            ("KEEPER_ALERT_TOPIC_ARN", &store.topic_arn),
            ("KEEPER_ALERT_TABLE", &store.table),
        ],
    );
    aws.set_scan_findings("shop", &digest, &[("CVE-2024-0001", "CRITICAL", "openssl")]);
    ecr.start_image_scan()
        .repository_name("shop")
        .image_id(aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(&digest).build())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // WHEN its scan event carries 800 tags of 128 characters (ECR allows 1,000), some of them
    // written as chat links and mentions
    let mut tags: Vec<String> = (0..800).map(|k| format!("{k:03}-{}", "t".repeat(124))).collect();
    tags[0] = "<!channel>[click](https://evil.example)".into();
    let mut scan = sample_event("ecr-image-scan-basic.json", "");
    scan["detail"]["repository-name"] = json!("shop");
    scan["detail"]["image-digest"] = json!(digest);
    scan["detail"]["image-tags"] = json!(tags);
    scan["detail"]["finding-severity-counts"] = json!({"CRITICAL": 1});
    let answer = lambda.invoke("scan-events", &scan).unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    // THEN the alert is published (read back from SNS), names the first tags and counts the rest
    let mut shown = answer.clone();
    shown["alert"]["imageTags"] = json!("(elided)");
    assert_eq!(
        answer["delivery"]["outcome"],
        "published",
        "{shown}\n{}",
        lambda.log().lines().filter(|l| l.len() < 2000).collect::<Vec<_>>().join("\n")
    );
    let published = aws.published(&store.topic_arn);
    assert_eq!(published.len(), 1, "{published:?}");
    let (_, message) = &published[0];
    assert!(message.len() < 256 * 1024, "{} bytes", message.len());
    let body: serde_json::Value = serde_json::from_str(message).unwrap_or_default();
    let email = body["email"].as_str().unwrap_or_default();
    assert!(email.contains("and 790 more"), "{email}");
    let chat: serde_json::Value =
        serde_json::from_str(body["default"].as_str().unwrap_or_default()).unwrap_or_default();
    let description = chat["content"]["description"].as_str().unwrap_or_default();
    assert!(!description.contains("<!channel>") && description.contains("&lt;!channel&gt;"), "{description}");
    // AND VulnerableImages was emitted, and no log line carries every tag
    let log = lambda.log();
    assert!(log.lines().any(|l| l.contains("\"_aws\"") && l.contains("\"VulnerableImages\"")));
    assert!(
        log.lines().all(|l| l.len() < 16 * 1024),
        "a log line of {} bytes",
        log.lines().map(str::len).max().unwrap_or(0)
    );
    assert_eq!(answer["alert"]["imageTagCount"], 800, "{shown}");
}
