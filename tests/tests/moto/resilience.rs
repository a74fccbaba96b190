//! The real function binaries (under `cargo lambda watch`) with the fault-injecting proxy
//! between them and moto: transient AWS errors fail the invocation (so Lambda retries and the
//! DLQ keeps the event), bad events are answered and counted (never retried), and nothing any
//! function logs contains a credential or a ResponseURL's signature.

use ecr_keeper_aws::RetryProfile;
use ecr_keeper_tests::fault_proxy::{Fault, FaultProxy, Operations, Rule, When};
use ecr_keeper_tests::lambda::{sample_event, LambdaEmulator};
use ecr_keeper_tests::{seed, LocalAws, ResponseRecorder};
use serde_json::{json, Value};
use std::time::Duration;

const ACCESS_KEY: &str = "AKIAKEEPERLEAKCHECK1";
const SECRET_KEY: &str = "keeper-secret-key-must-never-be-logged-7f3a";
const SESSION_TOKEN: &str = "keeper-session-token-must-never-be-logged-c91d";

async fn shop(aws: &LocalAws) -> String {
    let ecr = aws.ecr().await;
    seed::create_repository(&ecr, "shop", false).await;
    seed::push_unique(&ecr, "shop", Some("v1.0"), "shop-1").await
}

fn push_event(digest: &str) -> Value {
    let mut push = sample_event("ecr-image-action-push.json", "");
    push["detail"]["repository-name"] = json!("shop");
    push["detail"]["image-digest"] = json!(digest);
    push["detail"]["image-tag"] = json!("v1.0");
    push
}

fn scan_event(digest: &str) -> Value {
    let mut scan = sample_event("ecr-image-scan-basic.json", "");
    scan["detail"]["repository-name"] = json!("shop");
    scan["detail"]["image-digest"] = json!(digest);
    scan["detail"]["finding-severity-counts"] = json!({"CRITICAL": 1});
    scan
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_aws_errors_fail_the_invocation_and_bad_events_are_dropped() {
    let aws = LocalAws::start();
    let digest = shop(&aws).await;
    aws.set_scan_findings("shop", &digest, &[("CVE-2024-0001", "CRITICAL", "openssl")]);
    let proxy = FaultProxy::start(&aws.endpoint_url).await;
    let lambda = LambdaEmulator::start(&aws, &[("AWS_ENDPOINT_URL", &proxy.url), ("KEEPER_METRICS", "emf")]);

    // ECR keeps throttling StartImageScan: the invocation fails, so Lambda (and then the DLQ)
    // keeps the event.
    proxy.set_rules(vec![Rule::new(Operations::named(&["StartImageScan"]), When::Always, Fault::Throttle)]);
    let failed = lambda.invoke("push-events", &push_event(&digest));
    let error = failed.err().unwrap_or_else(|| panic!("a throttled push must fail the invocation"));
    assert!(error.contains("StartImageScan: ECR kept throttling"), "{error}");
    assert_eq!(proxy.calls("StartImageScan"), RetryProfile::Interactive.max_attempts() as usize, "every attempt");

    // The same event again (Lambda's retry), with ECR recovered after one more throttle.
    proxy.set_rules(vec![Rule::new(Operations::named(&["StartImageScan"]), When::Calls(vec![1]), Fault::Throttle)]);
    let answer = lambda.invoke("push-events", &push_event(&digest)).unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    assert_eq!(answer["scan"]["outcome"], "started", "{answer}");
    assert_eq!(proxy.injected().len(), 1);

    // The scan function: findings unreadable (HTTP 500 on every attempt) → an error; readable → handled.
    proxy.set_rules(vec![Rule::new(
        Operations::named(&["DescribeImageScanFindings"]),
        When::Always,
        Fault::ServerError,
    )]);
    let failed = lambda.invoke("scan-events", &scan_event(&digest));
    let error = failed.err().unwrap_or_else(|| panic!("unreadable findings must fail the invocation"));
    assert!(error.contains("DescribeImageScanFindings: ECR failed (ServerException)"), "{error}");
    proxy.set_rules(vec![]);
    let answer = lambda.invoke("scan-events", &scan_event(&digest)).unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    assert_eq!(answer["handled"], "scan", "{answer}");

    // Permanent problems are answered (no retry) and counted, whatever AWS is doing.
    proxy.set_rules(vec![Rule::new(Operations::All, When::Always, Fault::ServerError)]);
    let mut no_repository = push_event(&digest);
    no_repository["detail"]["repository-name"] = json!("");
    for (function, event) in [
        ("push-events", no_repository),
        ("push-events", json!({"not": "an event"})),
        ("scan-events", push_event(&digest)),
        ("scan-events", sample_event("inspector2-finding.json", "")),
    ] {
        let answer = lambda.invoke(function, &event).unwrap_or_else(|e| panic!("{function}: {e}"));
        assert_eq!(answer["handled"], "invalid", "{function}: {answer}");
    }
    assert!(proxy.injected().is_empty(), "a bad event makes no AWS call");
    let logs = lambda.log();
    let counted = logs.lines().filter(|l| l.starts_with('{') && l.contains("\"InvalidEvents\":1")).count();
    assert_eq!(counted, 4, "each dropped event is counted once:\n{logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_function_logs_credentials_or_the_signed_response_url() {
    let aws = LocalAws::start_with_cloudwatch();
    let digest = shop(&aws).await;
    let proxy = FaultProxy::start(&aws.endpoint_url).await;
    let recorder = ResponseRecorder::start(&[500]).await;
    // The most verbose level a team would turn on to debug, and credentials that look real.
    let lambda = LambdaEmulator::start(
        &aws,
        &[
            ("AWS_ENDPOINT_URL", &proxy.url),
            ("RUST_LOG", "debug"),
            ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_SESSION_TOKEN", SESSION_TOKEN),
            ("KEEPER_METRICS", "emf"),
        ],
    );
    // Success and failure paths of every function, some through AWS errors (whose texts are
    // logged).
    proxy.set_rules(vec![Rule::new(Operations::All, When::Calls(vec![1]), Fault::Throttle)]);
    let stack = aws.stack_with("app", &["AppRepository"]).await;
    let create = aws.sent_by(sample_event("cfn-create.json", &recorder.url()), &stack);
    let answer = lambda.invoke("repository-resource", &create).unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let mut bad = aws.sent_by(sample_event("cfn-update.json", &recorder.url()), &stack);
    bad["ResourceProperties"]["ScanOnPush"] = json!("perhaps");
    let answer = lambda.invoke("repository-resource", &bad).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    assert!(lambda.invoke("push-events", &push_event(&digest)).is_ok());
    aws.set_scan_findings("shop", &digest, &[("CVE-2024-0001", "CRITICAL", "openssl")]);
    assert!(lambda.invoke("scan-events", &scan_event(&digest)).is_ok());
    let schedule = json!({"version": "0", "id": "s", "detail-type": "Scheduled Event", "source": "aws.scheduler",
        "account": "123456789012", "time": "2026-11-26T06:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    assert!(lambda.invoke("lifecycle-audit", &schedule).is_ok(), "{}", lambda.log());
    assert!(lambda.invoke("cost-report", &schedule).is_ok(), "{}", lambda.log());
    proxy.set_rules(vec![Rule::new(Operations::All, When::Always, Fault::ServerError)]);
    assert!(lambda.invoke("push-events", &push_event(&digest)).is_err());
    assert!(lambda.invoke("lifecycle-audit", &schedule).is_err());
    assert!(recorder.wait_for(3, Duration::from_secs(10)).await.len() >= 3, "both responses arrived");

    let logs = lambda.log();
    // Proof the capture holds the functions' own debug output, not just the emulator's.
    assert!(logs.contains("answered CloudFormation") && logs.contains("DEBUG"), "{logs}");
    for (what, secret) in [
        ("the secret access key", SECRET_KEY),
        ("the session token", SESSION_TOKEN),
        ("the access key id", ACCESS_KEY),
        ("the ResponseURL's signature", "SECRETSIGNATURE123"),
        ("the ResponseURL's path", "/cfn-responses/stack-1/req"),
    ] {
        assert!(!logs.contains(secret), "{what} appears in the logs");
    }
}
