//! Images that are running, on moto: ECS services and Lambda image functions read through the
//! real adapters; the preview's at-risk list, the custom resource's guardrail, and the audit's
//! pins (added with PutImage, removed only where another tag stays) end to end.

use aws_sdk_ecs::types::ContainerDefinition;
use ecr_keeper_aws::{AwsWorkloads, CloudFormationStacks, EcrRegistry, HttpsTransport};
use ecr_keeper_core::audit::{audit, AuditOptions, AuditSettings, Remediation, RunInputs, Status};
use ecr_keeper_core::custom_resource::{CustomResourceHandler, Provisioner, ResponsePolicy};
use ecr_keeper_core::findings::FindingsPolicy;
use ecr_keeper_core::lifecycle::{parse_policy, simulate, Fate};
use ecr_keeper_core::ports::prelude::*;
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_core::workloads::{pin_tag, WorkloadSource, Workloads};
use ecr_keeper_tests::{repo_root, seed, LocalAws, ResponseRecorder, ACCOUNT, REGION};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const REPO: &str = "shop/web";

fn uri(tag: &str) -> String {
    format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPO}:{tag}")
}

fn settings() -> AuditSettings {
    AuditSettings { standard: None, findings: FindingsPolicy::default(), require_kms: false, scanner_roles: Vec::new() }
}

/// An ECS service `prod/web` running `tag` (a new task definition revision each time).
async fn run_service(ecs: &aws_sdk_ecs::Client, tag: &str, create: bool) {
    let container = ContainerDefinition::builder().name("web").image(uri(tag)).memory(128).build();
    let registered = ecs.register_task_definition().family("web").container_definitions(container).send().await;
    let arn = registered
        .ok()
        .and_then(|r| r.task_definition().and_then(|d| d.task_definition_arn().map(str::to_owned)))
        .unwrap_or_else(|| panic!("task definition for {tag}"));
    let done = if create {
        ecs.create_service()
            .cluster("prod")
            .service_name("web")
            .task_definition(&arn)
            .desired_count(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else {
        ecs.update_service()
            .cluster("prod")
            .service("web")
            .task_definition(&arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    done.unwrap_or_else(|e| panic!("service on {tag}: {e}"));
}

async fn tags_of(ecr: &aws_sdk_ecr::Client, digest: &str) -> Vec<String> {
    let out = ecr.describe_images().repository_name(REPO).send().await.unwrap_or_else(|e| panic!("{e}"));
    out.image_details()
        .iter()
        .find(|d| d.image_digest() == Some(digest))
        .map(|d| d.image_tags().to_vec())
        .unwrap_or_else(|| panic!("image {digest} is gone"))
}

fn event(recorder: &ResponseRecorder, stack: &str, kind: &str, n: usize, props: Value, old: Option<Value>) -> Value {
    let mut e = json!({
        "RequestType": kind, "ResponseURL": recorder.url(), "StackId": stack, "RequestId": format!("in-use-{n}"),
        "ResourceType": "Custom::EcrRepository", "LogicalResourceId": "Web",
        "ResourceProperties": props,
    });
    e["ResourceProperties"]["ServiceToken"] =
        json!("arn:aws:lambda:us-east-1:123456789012:function:repository-resource");
    if let Some(old) = old {
        e["OldResourceProperties"] = old;
        e["PhysicalResourceId"] = json!(REPO);
    }
    e
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_image_is_at_risk_refused_by_the_guardrail_then_pinned_and_unpinned() {
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    let config = aws.sdk_config().await;
    let ecr = aws_sdk_ecr::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    let recorder = ResponseRecorder::start(&[]).await;
    let workloads = AwsWorkloads::new(&[WorkloadSource::Ecs], &config);
    let handler = CustomResourceHandler::new(
        Provisioner::new(
            EcrRegistry::new(ecr.clone()),
            SystemClock,
            CloudFormationStacks::new(aws.cloudformation().await),
        )
        .with_workloads(workloads),
        HttpsTransport::new().unwrap_or_else(|e| panic!("{e}")),
        ResponsePolicy { first_backoff: Duration::from_millis(20), ..ResponsePolicy::default() },
    );
    let stack = aws.stack_with("shop", &["Web"]).await;
    let send = |e: Value| {
        let h = &handler;
        let r = &recorder;
        let aws = &aws;
        async move {
            aws.sending(&e);
            let before = r.requests().len();
            let handled = h.handle(e, Duration::from_secs(60)).await;
            assert!(handled.is_ok(), "{handled:?}");
            r.requests()[before].json()
        }
    };

    // GIVEN shop/web (mutable, so pins and moved tags behave as in most registries) keeping the
    // last 10 v* images, with v1.3 pushed before v1.8 and v1.9, and ECS service prod/web on v1.3
    let mutable = json!({"RepositoryName": REPO, "ImageTagMutability": "MUTABLE", "ImageRetentionCount": "10"});
    let created = send(event(&recorder, &stack, "Create", 1, mutable.clone(), None)).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    // moto stamps pushes with the wall-clock second: a second apart, so "newest" is well defined.
    let v13 = seed::push_unique(&ecr, REPO, Some("v1.3"), "web-1.3").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    seed::push_unique(&ecr, REPO, Some("v1.8"), "web-1.8").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let v19 = seed::push_unique(&ecr, REPO, Some("v1.9"), "web-1.9").await;
    ecs.create_cluster().cluster_name("prod").send().await.unwrap_or_else(|e| panic!("{e}"));
    run_service(&ecs, "v1.3", true).await;

    // WHEN a policy keeping the last 2 is previewed with --in-use ecs
    let dir = std::env::temp_dir().join(format!("keeper-in-use-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let keep_two = ecr_keeper_core::lifecycle::generate(&ecr_keeper_core::lifecycle::PolicyParams {
        keep_tagged: 2,
        ..Default::default()
    })
    .map(|p| p.to_json())
    .unwrap_or_default();
    std::fs::write(dir.join("policy.json"), &keep_two).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("images.json"), seed::describe_images_json(&ecr, REPO).await.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let preview = Command::new(repo_root().join("target/debug/ecr-keeper"))
        .args(["lifecycle", "preview", "--policy"])
        .arg(dir.join("policy.json"))
        .arg("--images")
        .arg(dir.join("images.json"))
        .args(["--in-use", "ecs"])
        .envs(aws.process_env())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(preview.status.success(), "{}", String::from_utf8_lossy(&preview.stderr));
    // THEN v1.3 is at risk, named with the service that runs it; v1.9 (running nothing) is not listed
    let report: Value = serde_json::from_slice(&preview.stdout).unwrap_or_default();
    assert_eq!(report["atRisk"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(report["atRisk"][0]["imageTags"], json!(["v1.3"]));
    assert_eq!(report["atRisk"][0]["action"], "expire");
    assert_eq!(report["atRisk"][0]["workloads"], json!(["ecs service prod/web"]));
    assert!(String::from_utf8_lossy(&preview.stderr).contains("1 running image is at risk: v1.3"));

    // WHEN the stack asks for the last 2: THEN the guardrail refuses, naming image and service
    let harsh = json!({"RepositoryName": REPO, "ImageTagMutability": "MUTABLE", "ImageRetentionCount": "2"});
    let refused = send(event(&recorder, &stack, "Update", 2, harsh.clone(), Some(mutable.clone()))).await;
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    let reason = refused["Reason"].as_str().unwrap_or_default();
    assert!(reason.contains("would remove 1 running image(s) from shop/web, more than MaxInUseImagesExpiredByUpdate (0): v1.3 (expire by rule 1, run by ecs service prod/web)"), "{reason}");
    let registry = EcrRegistry::new(ecr.clone());
    let policy = registry.get_lifecycle_policy(REPO).await.ok().flatten().unwrap_or_default();
    assert!(policy.contains("\"countNumber\":10"), "unchanged: {policy}");

    // WHEN the audit runs with pins: THEN v1.3 carries its pin (same digest, no new image)
    let workloads = AwsWorkloads::new(&[WorkloadSource::Ecs], &config);
    let pinning = |inputs| AuditOptions {
        region: REGION.into(),
        remediation: Remediation { pins: true, apply: true, ..Remediation::default() },
        inputs,
        ..AuditOptions::default()
    };
    let inputs = RunInputs::read(Some(&workloads)).await;
    let report =
        audit(&registry, &settings(), &pinning(inputs), chrono::Utc::now()).await.unwrap_or_else(|e| panic!("{e}"));
    let actions: Vec<(&str, bool)> = report.remediation.iter().map(|a| (a.action.as_ref(), a.applied)).collect();
    assert_eq!(actions, [("pin-in-use", true)], "{:?}", report.remediation);
    assert_eq!(tags_of(&ecr, &v13).await, ["v1.3".to_string(), pin_tag(&v13)]);
    let images = registry.describe_images(REPO).await.unwrap_or_default();
    assert_eq!(images.len(), 3, "no image was added");

    // AND with ProtectInUse the same Update is accepted: the regenerated policy no longer selects v1.3
    let protected = json!({"RepositoryName": REPO, "ImageTagMutability": "MUTABLE", "ImageRetentionCount": "2", "ProtectInUse": "true"});
    let accepted = send(event(&recorder, &stack, "Update", 3, protected.clone(), Some(mutable))).await;
    assert_eq!(accepted["Status"], "SUCCESS", "{accepted}");
    let text = registry.get_lifecycle_policy(REPO).await.ok().flatten().unwrap_or_default();
    let regenerated = parse_policy(&text).unwrap_or_else(|e| panic!("{e}"));
    let plan = simulate(&regenerated, &images, chrono::Utc::now());
    let v13_at = images.iter().position(|i| i.digest == v13).unwrap_or_else(|| panic!("v1.3"));
    assert_eq!(
        (plan.decisions[v13_at].fate, plan.decisions[v13_at].rule),
        (Fate::Keep, Some(0)),
        "kept by the pin rule"
    );
    let report = audit(&registry, &settings(), &pinning(RunInputs::read(Some(&workloads)).await), chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.repositories[0].checks.iter().find(|c| c.id == "USE-1").map(|c| c.status), Some(Status::Pass));

    // WHEN the service moves to v1.9 and the audit runs again: THEN the pin goes, v1.3 keeps
    // its own tag, v1.9 is pinned, and every image is still there
    run_service(&ecs, "v1.9", false).await;
    let running = workloads.images_in_use().await.unwrap_or_default();
    assert!(running.iter().all(|w| w.image.ends_with(":v1.9")), "{running:?}");
    let report = audit(&registry, &settings(), &pinning(RunInputs::read(Some(&workloads)).await), chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let actions: Vec<(&str, bool)> = report.remediation.iter().map(|a| (a.action.as_ref(), a.applied)).collect();
    assert_eq!(actions, [("pin-in-use", true), ("unpin", true)], "{:?}", report.remediation);
    assert_eq!(tags_of(&ecr, &v13).await, ["v1.3"]);
    assert_eq!(tags_of(&ecr, &v19).await, ["v1.9".to_string(), pin_tag(&v19)]);
    assert_eq!(registry.describe_images(REPO).await.map(|i| i.len()).unwrap_or_default(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_image_functions_and_an_immutable_repository_take_a_pin() {
    let aws = LocalAws::start();
    let config = aws.sdk_config().await;
    let ecr = aws_sdk_ecr::Client::new(&config);
    // GIVEN an IMMUTABLE repository and a Lambda function (alias live) on its image v2
    let immutable = ecr
        .create_repository()
        .repository_name("fn/thumbs")
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::Immutable)
        .send()
        .await;
    immutable.unwrap_or_else(|e| panic!("{e}"));
    let v2 = seed::push_unique(&ecr, "fn/thumbs", Some("v2"), "thumbs-2").await;
    seed::push_unique(&ecr, "fn/thumbs", Some("v1"), "thumbs-1").await;
    let iam = aws.lambda_role("thumbs");
    let lambda = aws_sdk_lambda::Client::new(&config);
    let code = aws_sdk_lambda::types::FunctionCode::builder()
        .image_uri(format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fn/thumbs:v2"))
        .build();
    lambda
        .create_function()
        .function_name("thumbs")
        .role(iam)
        .package_type(aws_sdk_lambda::types::PackageType::Image)
        .code(code)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let version =
        lambda.publish_version().function_name("thumbs").send().await.ok().and_then(|v| v.version().map(str::to_owned));
    let version = version.unwrap_or_else(|| panic!("no version"));
    lambda
        .create_alias()
        .function_name("thumbs")
        .name("live")
        .function_version(&version)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // WHEN workloads are read: THEN the function and its alias name the image
    let workloads = AwsWorkloads::new(&[WorkloadSource::Lambda], &config);
    let running = workloads.images_in_use().await.unwrap_or_else(|e| panic!("{e}"));
    let names: std::collections::BTreeSet<&str> = running.iter().map(|w| w.workload.as_str()).collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["lambda function thumbs", &format!("lambda function thumbs (alias live, version {version})")]
    );

    // AND `ecr-keeper audit --in-use lambda --protect-in-use` lists the pin (a dry run), then,
    // with --yes, pins v2 in the immutable repository: a new tag on the same image is allowed
    ecr_keeper_tests::build_cli();
    let cli = |args: &[&str]| {
        Command::new(repo_root().join("target/debug/ecr-keeper"))
            .arg("audit")
            .args(args)
            .envs(aws.process_env())
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let dry = cli(&["--in-use", "lambda", "--protect-in-use", "--output", "json"]);
    let report: Value = serde_json::from_slice(&dry.stdout).unwrap_or_default();
    assert_eq!(report["remediation"][0]["action"], "pin-in-use", "{}", String::from_utf8_lossy(&dry.stderr));
    assert_eq!(report["remediation"][0]["applied"], false);
    let registry = EcrRegistry::new(ecr.clone());
    assert_eq!(
        registry
            .describe_images("fn/thumbs")
            .await
            .ok()
            .and_then(|i| i.into_iter().find(|i| i.digest == v2))
            .map(|i| i.tags),
        Some(vec!["v2".to_string()])
    );
    let bare_yes = cli(&["--yes"]);
    assert_eq!(bare_yes.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bare_yes.stderr).contains("--yes applies --fix or --protect-in-use"));
    let applied = cli(&["--in-use", "lambda", "--protect-in-use", "--yes", "--output", "json"]);
    let report: Value = serde_json::from_slice(&applied.stdout).unwrap_or_default();
    assert_eq!(report["remediation"][0]["applied"], true, "{report}");
    let use_1 =
        report["repositories"][0]["checks"].as_array().and_then(|c| c.iter().find(|c| c["id"] == "USE-1").cloned());
    assert_eq!(use_1.map(|c| c["status"].clone()), Some(json!("PASS")), "no policy: nothing removes a running image");
    let images = registry.describe_images("fn/thumbs").await.unwrap_or_default();
    let pinned = images.iter().find(|i| i.digest == v2).map(|i| i.tags.clone());
    assert_eq!(pinned, Some(vec!["v2".to_string(), pin_tag(&v2)]));
    assert_eq!(images.len(), 2);
    // No pull-time update exclusion is registered (the harness serves the API): LC-7 does not
    // apply to a repository whose policy reads no pulls, so it is absent.
    let checks = report["repositories"][0]["checks"].as_array().cloned().unwrap_or_default();
    assert!(checks.iter().all(|c| c["id"] != "LC-7"));
}

/// Inspector's count of ECS tasks and EKS pods running an image (enhanced scanning's usage
/// data): the `inspector` source names the image by digest (Inspector gives no tag), USE-1 says
/// which source saw it, and the pin lands on that digest.
#[tokio::test(flavor = "multi_thread")]
async fn inspector_sees_an_image_running_by_digest_and_the_audit_pins_it() {
    let aws = LocalAws::start();
    let config = aws.sdk_config().await;
    let ecr = aws_sdk_ecr::Client::new(&config);
    seed::create_repository(&ecr, REPO, true).await;
    let running = seed::push_unique(&ecr, REPO, Some("v1"), "api-1").await;
    // moto stamps pushes to the second: v2 must be the newer.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let current = seed::push_unique(&ecr, REPO, Some("v2"), "api-2").await;
    // Keep the newest v* image: v1, which the pods run, would go.
    let policy = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
    ecr.put_lifecycle_policy()
        .repository_name(REPO)
        .lifecycle_policy_text(policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    aws.set_inspector_coverage(ACCOUNT, &[(REPO, &running, 3), (REPO, &current, 0)]);

    // WHEN Inspector's coverage is read: THEN the running image, by digest, and who runs it
    let read = AwsWorkloads::new(&[WorkloadSource::Inspector], &config).images_in_use().await;
    let read = read.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read.len(), 1, "an image in use by none is not running: {read:?}");
    assert_eq!(read[0].image, format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPO}@{running}"));
    assert!(read[0].workload.starts_with("inspector: 3 ECS tasks or EKS pods, last seen "), "{}", read[0].workload);

    // AND the audit, ten days on, fails USE-1 naming the source, then pins the digest
    ecr_keeper_tests::build_cli();
    let later = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let cli = |args: &[&str]| {
        Command::new(repo_root().join("target/debug/ecr-keeper"))
            .arg("audit")
            .args(["--in-use", "inspector", "--now", &later, "--output", "json"])
            .args(args)
            .envs(aws.process_env())
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let audited = cli(&[]);
    let report: Value = serde_json::from_slice(&audited.stdout).unwrap_or_default();
    let use_1 =
        report["repositories"][0]["checks"].as_array().and_then(|c| c.iter().find(|c| c["id"] == "USE-1").cloned());
    let use_1 = use_1.unwrap_or_else(|| panic!("no USE-1: {}", String::from_utf8_lossy(&audited.stderr)));
    assert_eq!(use_1["status"], "FAIL", "{use_1}");
    assert!(use_1["message"].as_str().unwrap_or_default().contains("inspector: 3 ECS tasks or EKS pods"), "{use_1}");
    let pinned = cli(&["--protect-in-use", "--yes"]);
    assert!(pinned.status.code().is_some(), "{}", String::from_utf8_lossy(&pinned.stderr));
    assert_eq!(
        tags_of(&ecr, &running).await,
        ["v1".to_string(), pin_tag(&running)],
        "the pin is on the running digest"
    );
    assert_eq!(tags_of(&ecr, &current).await, ["v2"]);
}
