//! `make demo`: ecr-keeper on one machine, with no AWS account. Starts moto and the real
//! function binary under `cargo lambda watch`, tells the story step by step, stops everything.

use ecr_keeper_aws::EcrRegistry;
use ecr_keeper_core::lifecycle::{parse_policy, render_table, simulate};
use ecr_keeper_core::ports::prelude::*;
use ecr_keeper_tests::lambda::{sample_event, LambdaEmulator};
use ecr_keeper_tests::{seed, LocalAws, ResponseRecorder};
use std::time::Duration;

fn step(n: u32, text: &str) {
    println!("\n== {n}. {text}");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    // DEMO_SUMMARY=path writes the story's outcomes as JSON (the CI test asserts on them).
    let mut summary = serde_json::Map::new();
    step(1, "Starting local AWS (moto) and the repository-resource function under cargo lambda watch");
    let aws = LocalAws::start_with_cloudwatch();
    let recorder = ResponseRecorder::start(&[]).await;
    // The stack's alert topic and ledger table, as the template creates them.
    let alerts = aws.alert_store().await;
    let lambda = LambdaEmulator::start(
        &aws,
        &[
            ("RUST_LOG", "warn"),
            ("KEEPER_METRICS", "emf"),
            ("KEEPER_SUPPRESSED_FINDINGS", "CVE-2024-0002"),
            ("KEEPER_ALERT_TOPIC_ARN", &alerts.topic_arn),
            ("KEEPER_ALERT_TABLE", &alerts.table),
        ],
    );
    let ecr = aws.ecr().await;
    println!("   moto at {}, Lambda runtime API at 127.0.0.1:{}", aws.moto_url, lambda.port);

    step(2, "CloudFormation creates AppRepository (Custom::EcrRepository) with the seed's settings");
    // The stack lives in moto's CloudFormation: the function confirms every request there.
    let stack = aws.stack_with("app", &["AppRepository"]).await;
    let event = aws.sent_by(sample_event("cfn-create.json", &recorder.url()), &stack);
    println!("   properties: {}", event["ResourceProperties"]);
    let answer = match lambda.invoke("repository-resource", &event) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("the function failed: {e}\n{}", lambda.log());
            std::process::exit(1);
        }
    };
    let responses = recorder.wait_for(1, Duration::from_secs(10)).await;
    let Some(response) = responses.first().map(|r| r.json()) else {
        eprintln!("CloudFormation got no response");
        std::process::exit(1);
    };
    println!(
        "   CloudFormation received: {} — {}",
        response["Status"],
        response["Reason"].as_str().unwrap_or_default()
    );
    println!("   (the function returned {answer})");

    summary.insert("create".into(), response.clone());
    step(3, "Stack outputs");
    for key in ["RepositoryUrl", "RepositoryArn", "RepositoryName", "RegistryId"] {
        println!("   {key:<15} {}", response["Data"][key].as_str().unwrap_or_default());
    }

    step(4, "The lifecycle policy the resource generated (keep the last 10 v* images, untagged 7 days)");
    let name = response["Data"]["RepositoryName"].as_str().unwrap_or_default().to_string();
    let text = ecr
        .get_lifecycle_policy()
        .repository_name(&name)
        .send()
        .await
        .ok()
        .and_then(|p| p.lifecycle_policy_text().map(str::to_owned))
        .unwrap_or_default();
    let policy = match parse_policy(&text) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("the stored policy does not parse: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", policy.to_json_pretty());

    step(5, "Pushing v1.0 … v1.24, 2 untagged rebuilds, latest and 3 main builds; each push goes to push-events");
    let mut pushed = Vec::new();
    for k in 0..25 {
        let tag = format!("v1.{k}");
        pushed.push((seed::push_unique(&ecr, &name, Some(&tag), &format!("release-{k}")).await, Some(tag)));
        // moto stamps pushes to the whole second: space releases so their order is visible.
        tokio::time::sleep(Duration::from_millis(1050)).await;
    }
    pushed.push((seed::push_unique(&ecr, &name, None, "rebuild-1").await, None));
    pushed.push((seed::push_unique(&ecr, &name, None, "rebuild-2").await, None));
    pushed.push((seed::push_unique(&ecr, &name, Some("latest"), "latest").await, Some("latest".to_string())));
    for sha in ["3f2a9c1", "8be41d0", "c07d5e2"] {
        let tag = format!("main-{sha}");
        pushed.push((seed::push_unique(&ecr, &name, Some(&tag), &tag).await, Some(tag)));
    }
    let mut scans_needed = 0;
    for (digest, tag) in &pushed {
        let mut event = sample_event("ecr-image-action-push.json", "");
        event["detail"]["repository-name"] = serde_json::json!(name);
        event["detail"]["image-digest"] = serde_json::json!(digest);
        event["detail"]["image-tag"] = serde_json::json!(tag);
        let answer = lambda.invoke("push-events", &event).unwrap_or_else(|e| fail(&format!("push-events: {e}")));
        if answer["scan"]["outcome"] == "started" {
            scans_needed += 1;
        }
        for warning in answer["warnings"].as_array().into_iter().flatten() {
            println!("   WARN {}", warning.as_str().unwrap_or_default());
        }
    }
    println!("   {} pushes counted (ImagePushes); scans started by ecr-keeper: {scans_needed} (the repository scans on push)", pushed.len());
    summary.insert("pushes".into(), serde_json::json!(pushed.len()));

    step(6, "A scan completes with a critical and a (suppressed) high finding; scan-events publishes one alert");
    let Some((latest, _)) = pushed.iter().find(|(_, tag)| tag.as_deref() == Some("latest")) else { fail("no latest") };
    let started = ecr
        .start_image_scan()
        .repository_name(&name)
        .image_id(aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(latest).build())
        .send()
        .await;
    if let Err(e) = started {
        fail(&format!("StartImageScan: {e}"));
    }
    aws.set_scan_findings(
        &name,
        latest,
        &[("CVE-2024-0001", "CRITICAL", "openssl"), ("CVE-2024-0002", "HIGH", "zlib")],
    );
    let mut scan = sample_event("ecr-image-scan-basic.json", "");
    scan["detail"]["repository-name"] = serde_json::json!(name);
    scan["detail"]["image-digest"] = serde_json::json!(latest);
    scan["detail"]["image-tags"] = serde_json::json!(["latest"]);
    scan["detail"]["finding-severity-counts"] = serde_json::json!({"CRITICAL": 1, "HIGH": 1});
    let answer = lambda.invoke("scan-events", &scan).unwrap_or_else(|e| fail(&format!("scan-events: {e}")));
    summary.insert("scan".into(), answer.clone());
    let published = aws.published(&alerts.topic_arn);
    let Some((subject, message)) = published.first() else { fail("nothing was published to the alert topic") };
    let message: serde_json::Value = serde_json::from_str(message).unwrap_or_default();
    let chat: serde_json::Value =
        serde_json::from_str(message["default"].as_str().unwrap_or_default()).unwrap_or_default();
    println!("   SNS subject: {subject}");
    println!("   -- chat (AWS Chatbot custom notification) --");
    println!("   {}", chat["content"]["title"].as_str().unwrap_or_default());
    for line in chat["content"]["description"].as_str().unwrap_or_default().lines() {
        println!("   {line}");
    }
    for next in chat["content"]["nextSteps"].as_array().into_iter().flatten() {
        println!("   > {}", next.as_str().unwrap_or_default());
    }
    println!("   -- the same, as SNS delivers it to chat and other JSON subscribers (`default`) --");
    for line in serde_json::to_string_pretty(&chat).unwrap_or_default().lines() {
        println!("   {line}");
    }
    println!("   -- e-mail --");
    for line in message["email"].as_str().unwrap_or_default().lines() {
        println!("   {line}");
    }
    let again = lambda.invoke("scan-events", &scan).unwrap_or_else(|e| fail(&format!("scan-events: {e}")));
    let published_after_rescan = aws.published(&alerts.topic_arn).len();
    println!(
        "   the same scan again: {} (messages on the topic: {published_after_rescan})",
        again["delivery"]["outcome"].as_str().unwrap_or_default()
    );
    summary.insert("rescan".into(), again);
    summary.insert("alertMessages".into(), serde_json::json!(published_after_rescan));

    step(7, "What the lifecycle policy will do to these images (8 days from now)");
    let images = match EcrRegistry::new(ecr.clone()).describe_images(&name).await {
        Ok(images) => images,
        Err(e) => fail(&e.to_string()),
    };
    // moto stamps every push with the wall clock; look 8 days ahead so the untagged rule shows.
    let later = chrono::Utc::now() + chrono::Duration::days(8);
    print!("{}", render_table(&simulate(&policy, &images, later)));

    step(8, "The daily lifecycle audit of this registry (ecr-keeper audit, 8 days from now)");
    // What the registry makes without any stack: a pull-through cache of Docker Hub, and no
    // creation template to give its repositories a lifecycle policy (REG-2).
    if let Err(e) = ecr
        .create_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .upstream_registry_url("registry-1.docker.io")
        .send()
        .await
    {
        fail(&format!("CreatePullThroughCacheRule: {e}"));
    }
    println!(
        "   The registry also caches Docker Hub under docker-hub/ (a pull-through cache rule, no creation template)."
    );
    let audit_bin = ecr_keeper_tests::repo_root().join("target/debug/ecr-keeper");
    let now = later.to_rfc3339();
    let out = std::process::Command::new(&audit_bin)
        .args(["audit", "--standard-keep-tagged", "10", "--standard-untagged-days", "7", "--now", &now])
        .envs(aws.process_env())
        .output();
    match out {
        Ok(out) => {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            println!(
                "   (exit code {}: 0 all pass, 1 a check failed, 2 could not read)",
                out.status.code().unwrap_or(-1)
            );
        }
        Err(e) => fail(&format!("{}: {e}", audit_bin.display())),
    }
    summary
        .insert("audit".into(), cli_json(&audit_bin, &aws, &["audit", "--standard-keep-tagged", "10", "--now", &now]));

    step(9, "The weekly cost report (ecr-keeper cost-report), before and after the policy");
    // moto has the small demo images; add what a real service stores: 20 releases of 400 MiB
    // sharing a 300 MiB base, in a repository without a lifecycle policy.
    if let Err(e) = ecr.create_repository().repository_name("legacy-service").send().await {
        fail(&format!("CreateRepository: {e}"));
    }
    for k in 0..20 {
        let manifest = seed::oci_manifest(
            &format!("legacy-cfg-{k}"),
            &[("legacy-base", 300 << 20), (&format!("legacy-{k}"), 100 << 20)],
        );
        seed::push(&ecr, "legacy-service", Some(&format!("v2.{k}")), &manifest).await;
    }
    let out =
        std::process::Command::new(&audit_bin).args(["cost-report", "--now", &now]).envs(aws.process_env()).output();
    match out {
        Ok(out) => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Err(e) => fail(&format!("{}: {e}", audit_bin.display())),
    }
    summary.insert("cost".into(), cli_json(&audit_bin, &aws, &["cost-report", "--now", &now]));
    // The same two, as the scheduled functions run them in AWS.
    let scheduled = serde_json::json!({"version": "0", "id": "demo", "detail-type": "Scheduled Event", "source": "aws.scheduler",
        "account": "123456789012", "time": "2026-11-26T06:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    for function in ["lifecycle-audit", "cost-report"] {
        let answer = lambda.invoke(function, &scheduled).unwrap_or_else(|e| fail(&format!("{function}: {e}")));
        println!("   {function} (scheduled function): {answer}");
        summary.insert(function.into(), answer);
    }

    step(10, "The team tightens retention to 3 releases; the guardrail refuses, a gentler 20 passes");
    let base = sample_event("cfn-update.json", &recorder.url())["OldResourceProperties"].clone();
    for (count, expect) in [("3", "refused"), ("20", "accepted")] {
        let mut update = sample_event("cfn-update.json", &recorder.url());
        update["OldResourceProperties"] = base.clone();
        update["ResourceProperties"] = base.clone();
        update["ResourceProperties"]["ImageRetentionCount"] = serde_json::json!(count);
        update["ResourceProperties"]["MaxImagesExpiredByUpdate"] = serde_json::json!("5");
        let before = recorder.requests().len();
        let update = aws.sent_by(update, &stack);
        if let Err(e) = lambda.invoke("repository-resource", &update) {
            fail(&format!("update: {e}"));
        }
        let answered = recorder.wait_for(before + 1, Duration::from_secs(10)).await;
        let Some(r) = answered.get(before).map(|r| r.json()) else { fail("no response to the update") };
        println!("   keep {count}: {} — {}", r["Status"], r["Reason"].as_str().unwrap_or_default());
        summary.insert(format!("update-{expect}"), r);
    }

    step(11, "CloudFormation deletes the stack: the repository holds images, so it is kept");
    let delete = aws.sent_by(sample_event("cfn-delete.json", &recorder.url()), &stack);
    let answer = lambda.invoke("repository-resource", &delete);
    let responses = recorder.wait_for(4, Duration::from_secs(10)).await;
    match (answer, responses.get(3).map(|r| r.json())) {
        (Ok(_), Some(r)) => {
            println!("   CloudFormation received: {} — {}", r["Status"], r["Reason"].as_str().unwrap_or_default());
            summary.insert("delete".into(), r);
        }
        (a, r) => {
            eprintln!("delete went wrong: {a:?} {r:?}");
            std::process::exit(1);
        }
    }

    let reactions = union(metric_series(&aws).await, emf_series(&lambda.log()));
    step(12, "Stopping moto and the functions");
    drop(lambda);
    drop(aws);

    step(13, "A scheduled run at scale: template.yaml's state machine on moto's Step Functions, 40 repositories in shards of 10; the findings into Security Hub, OCSF and Athena");
    let scheduled = scheduled_runs(&mut summary).await;
    let series = union(reactions.clone(), scheduled.clone());
    if std::env::var_os("DEMO_LIST_METRICS").is_some() {
        for (name, dimensions) in &series {
            println!("     {name} {dimensions:?}");
        }
    }
    let per_repository = series.iter().filter(|(_, d)| d.iter().any(|(k, _)| k == "Repository")).count();
    let total = series.len();
    println!(
        "   CloudWatch metric series published by the whole story so far: {} ({} of one repository); 41 repositories",
        total, per_repository
    );
    summary.insert(
        "metricSeries".into(),
        serde_json::json!({"reactions": reactions.len(), "scheduledRuns": scheduled.len(), "total": total, "perRepository": per_repository,
                           "series": series.iter().map(|(name, dimensions)| serde_json::json!([name, dimensions.len()])).collect::<Vec<_>>()}),
    );

    step(14, "A running image: an ECS service still runs v1.3, which \"keep the last 2\" would expire");
    running_images(&mut summary).await;

    step(15, "An organization: three member accounts in two regions, one without the member role; one run from the central account");
    organization_run(&mut summary).await;
    if let Ok(path) = std::env::var("DEMO_SUMMARY") {
        if let Err(e) = std::fs::write(&path, serde_json::Value::Object(summary).to_string()) {
            fail(&format!("{path}: {e}"));
        }
    }
    println!("   done");
}

/// The audit and the cost report through `statemachines/scheduled-run.asl.json`: plan, a
/// Distributed Map of shards, aggregate; the reports land in S3 and the HTML beside the repo.
async fn scheduled_runs(summary: &mut serde_json::Map<String, serde_json::Value>) -> Vec<MetricSeries> {
    use ecr_keeper_tests::scheduled::{ScheduledRuns, BUCKET};
    let topic = "arn:aws:sns:us-east-1:123456789012:keeper-alerts";
    let runs = ScheduledRuns::start_with_cloudwatch(&[
        ("RUST_LOG", "warn"),
        // As deployed: the functions print EMF lines, which the harness's bridge sends to
        // CloudWatch, so the story counts the metric series a deployment would be billed for.
        ("KEEPER_METRICS", "emf"),
        ("KEEPER_SHARD_REPOSITORIES", "10"),
        ("KEEPER_ALERT_TOPIC_ARN", topic),
        // Template SecurityHubFindings=true: the audit's findings go where security teams look.
        ("KEEPER_SECURITY_HUB", "true"),
    ]);
    let ecr = runs.aws.ecr().await;
    let sns = aws_sdk_sns::Client::new(&runs.aws.sdk_config().await);
    if let Err(e) = sns.create_topic().name("keeper-alerts").send().await {
        fail(&format!("CreateTopic: {e}"));
    }
    for i in 0..40 {
        let name = format!("team-{}/service-{i:02}", ["a", "b", "c", "d"][i % 4]);
        seed::create_repository(&ecr, &name, i % 3 != 0).await;
        for k in 0..(1 + i % 4) {
            seed::push_unique(&ecr, &name, Some(&format!("v1.{k}")), &format!("{name}-{k}")).await;
        }
    }
    let root = ecr_keeper_tests::repo_root();
    let out_dir = root.canonicalize().unwrap_or(root).join("target/demo/reports");
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        fail(&format!("{}: {e}", out_dir.display()));
    }
    for job in ["audit", "cost"] {
        let execution = runs.run(job);
        if execution.status != "SUCCEEDED" {
            fail(&format!(
                "the {job} run ended {}: {:?} {:?}\n{}",
                execution.status,
                execution.error,
                execution.cause,
                runs.lambda.log()
            ));
        }
        let run = &execution.output["run"];
        println!(
            "   {job}: {} after {} pass(es), {} state transitions, {:.1} s; kept in s3://{BUCKET}/:",
            if run["complete"] == true { "complete" } else { "incomplete" },
            run["pass"],
            execution.transitions,
            execution.seconds
        );
        for key in run["reportKeys"].as_array().into_iter().flatten().filter_map(|k| k.as_str()) {
            println!("     {key}");
        }
        let Some(html) = runs.object(&format!("reports/{job}/latest.html")).await else {
            fail(&format!("reports/{job}/latest.html is missing"))
        };
        let path = out_dir.join(format!("{job}.html"));
        if let Err(e) = std::fs::write(&path, html) {
            fail(&format!("{}: {e}", path.display()));
        }
        println!("   open it: {}", path.display());
        summary.insert(format!("run-{job}"), execution.output.clone());
        if job == "audit" {
            findings_elsewhere(&runs, summary).await;
        }
    }
    let invokes = runs.logged("invoke");
    println!(
        "   Lambda invocations: {} (plan, one per shard, aggregate, for each job; the audit's Security Hub import)",
        invokes.len()
    );
    if let Some((subject, message)) = runs.published(topic).first() {
        println!("   the alert topic got \"{subject}\":");
        let body: serde_json::Value = serde_json::from_str(message).unwrap_or_default();
        for line in body["default"].as_str().unwrap_or(message).lines().take(14) {
            println!("     {line}");
        }
    }
    summary.insert("run-invokes".into(), serde_json::json!(invokes.len()));
    summary.insert("run-summaries".into(), serde_json::json!(runs.published(topic).len()));
    union(metric_series(&runs.aws).await, emf_series(&runs.lambda.log()))
}

fn union(mut a: Vec<MetricSeries>, b: Vec<MetricSeries>) -> Vec<MetricSeries> {
    for s in b {
        if !a.contains(&s) {
            a.push(s);
        }
    }
    a
}

/// The series CloudWatch would make of the functions' EMF log lines: each metric under each of
/// its line's dimension sets, with the line's values.
fn emf_series(log: &str) -> Vec<MetricSeries> {
    let mut out: Vec<MetricSeries> = Vec::new();
    for line in log.lines() {
        // cargo lambda may prefix the function's line; the EMF object is the rest of it.
        let Some(start) = line.find('{').filter(|_| line.contains("\"_aws\"")) else { continue };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line[start..]) else { continue };
        for directive in v["_aws"]["CloudWatchMetrics"].as_array().into_iter().flatten() {
            for set in directive["Dimensions"].as_array().into_iter().flatten() {
                let mut dimensions: Vec<(String, String)> = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|k| k.as_str())
                    .map(|k| (k.to_string(), v[k].as_str().unwrap_or_default().to_string()))
                    .collect();
                dimensions.sort();
                for metric in directive["Metrics"].as_array().into_iter().flatten() {
                    let series = (metric["Name"].as_str().unwrap_or_default().to_string(), dimensions.clone());
                    if !out.contains(&series) {
                        out.push(series);
                    }
                }
            }
        }
    }
    out
}

/// A metric name and its dimensions: one billed CloudWatch custom metric.
type MetricSeries = (String, Vec<(String, String)>);

/// Every metric series in ecr-keeper's namespace on this moto's CloudWatch (the EMF lines the
/// functions print reach it through the harness's bridge).
async fn metric_series(aws: &LocalAws) -> Vec<MetricSeries> {
    let cw = aws.cloudwatch().await;
    let mut pages = cw.list_metrics().namespace("EcrKeeper").into_paginator().send();
    let mut out: Vec<MetricSeries> = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.unwrap_or_else(|e| fail(&format!("ListMetrics: {e}")));
        for m in page.metrics() {
            let mut dimensions: Vec<(String, String)> = m
                .dimensions()
                .iter()
                .map(|d| (d.name().unwrap_or_default().to_string(), d.value().unwrap_or_default().to_string()))
                .collect();
            dimensions.sort();
            let series = (m.metric_name().unwrap_or_default().to_string(), dimensions);
            if !out.contains(&series) {
                out.push(series);
            }
        }
    }
    out
}

/// The preview marks the running image at risk, the audit pins it, and the policy with
/// ProtectInUse spares it; the CLI throughout, on a fresh moto with ECS.
async fn running_images(summary: &mut serde_json::Map<String, serde_json::Value>) {
    let aws = LocalAws::start();
    let config = aws.sdk_config().await;
    let ecr = aws_sdk_ecr::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    let bin = ecr_keeper_tests::repo_root().join("target/debug/ecr-keeper");
    let repo = "shop/web";
    seed::create_repository(&ecr, repo, true).await;
    let mut digests = Vec::new();
    for (k, tag) in ["v1.3", "v1.8", "v1.9"].iter().enumerate() {
        if k > 0 {
            // moto stamps pushes to the second: one apart, so "newest" is clear.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        digests.push(seed::push_unique(&ecr, repo, Some(tag), &format!("web-{tag}")).await);
    }
    // A signature of v1.3 (an OCI 1.1 referrer): it goes when v1.3 goes.
    let signature = seed::referrer_manifest(&digests[0], "application/vnd.cncf.notary.signature", "web-v1.3-sig");
    let signature = seed::push(&ecr, repo, None, &signature).await;
    println!("   v1.3 is signed: {} refers to it", ecr_keeper_core::image::short_digest(&signature));
    let image = format!("{}.dkr.ecr.us-east-1.amazonaws.com/{repo}:v1.3", ecr_keeper_tests::ACCOUNT);
    let container = aws_sdk_ecs::types::ContainerDefinition::builder().name("web").image(&image).memory(128).build();
    let ran = async {
        ecs.create_cluster().cluster_name("prod").send().await.map_err(|e| e.to_string())?;
        ecs.register_task_definition()
            .family("web")
            .container_definitions(container)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        ecs.create_service()
            .cluster("prod")
            .service_name("web")
            .task_definition("web")
            .desired_count(1)
            .send()
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(e) = ran.await {
        fail(&format!("ECS: {e}"));
    }
    println!("   ECS service prod/web runs {image}");
    let dir = std::env::temp_dir().join(format!("ecr-keeper-demo-in-use-{}", std::process::id()));
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::write(&path, text))
            .unwrap_or_else(|e| fail(&format!("{e}")));
        path.display().to_string()
    };
    let images = write("images.json", &seed::describe_images_json(&ecr, repo).await.to_string());
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .args(args)
            .envs(aws.process_env())
            .output()
            .unwrap_or_else(|e| fail(&format!("{e}")))
    };
    let generated = |extra: &[&str]| {
        let out = run(&[&["lifecycle", "generate", "--keep-tagged", "2"], extra].concat());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plain = write("keep-2.json", &generated(&[]));
    let protected = write("keep-2-protected.json", &generated(&["--protect-in-use"]));
    let preview = |policy: &str, images: &str| {
        let out = run(&[
            "lifecycle",
            "preview",
            "--policy",
            policy,
            "--images",
            images,
            "--in-use",
            "ecs",
            "--output",
            "table",
        ]);
        print!("{}", String::from_utf8_lossy(&out.stdout));
        let json = run(&["lifecycle", "preview", "--policy", policy, "--images", images, "--in-use", "ecs"]);
        serde_json::from_slice::<serde_json::Value>(&json.stdout).map(|v| v["atRisk"].clone()).unwrap_or_default()
    };
    println!("   preview of \"keep the last 2 v*\" with --in-use ecs (the signature under its image):");
    let before = preview(&plain, &images);
    let expiring = run(&["lifecycle", "preview", "--policy", &plain, "--images", &images]);
    let expiring: serde_json::Value = serde_json::from_slice(&expiring.stdout).unwrap_or_default();
    let with_subject = expiring["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["imageDigest"] == signature.as_str())
        .map(|a| a["withSubject"].clone())
        .unwrap_or_default();
    println!("   ecr-keeper audit --in-use ecs --protect-in-use --yes: the audit pins what runs");
    let audited = cli_json(
        &bin,
        &aws,
        &["audit", "--repository-prefix", "shop/", "--in-use", "ecs", "--protect-in-use", "--yes"],
    );
    for action in audited["remediation"].as_array().into_iter().flatten() {
        println!(
            "   {}: {} (applied: {})",
            action["action"].as_str().unwrap_or_default(),
            action["detail"].as_str().unwrap_or_default(),
            action["applied"]
        );
    }
    println!("   Amazon Inspector sees v1.8 in 2 EKS pods (its usage data; set in the harness);");
    println!("   a preview of \"keep the last 1 v*\" with --in-use ecs,inspector:");
    aws.set_inspector_coverage(ecr_keeper_tests::ACCOUNT, &[(repo, &digests[1], 2)]);
    let keep_1 = run(&["lifecycle", "generate", "--keep-tagged", "1"]);
    let keep_1 = write("keep-1.json", &String::from_utf8_lossy(&keep_1.stdout));
    let seen = run(&["lifecycle", "preview", "--policy", &keep_1, "--images", &images, "--in-use", "ecs,inspector"]);
    let seen: serde_json::Value = serde_json::from_slice(&seen.stdout).unwrap_or_default();
    let mut by_inspector = Vec::new();
    for r in seen["atRisk"].as_array().into_iter().flatten() {
        println!("   at risk: {} run by {}", r["imageTags"], r["workloads"]);
        if r["imageDigest"] == digests[1].as_str() {
            by_inspector.push(r["workloads"].clone());
        }
    }
    let pinned_images = write("images-pinned.json", &seed::describe_images_json(&ecr, repo).await.to_string());
    println!("   the same policy with --protect-in-use (its first rule shields keeper-in-use-*):");
    let after = preview(&protected, &pinned_images);
    summary.insert(
        "in-use".into(),
        serde_json::json!({
            "atRiskBefore": before,
            "remediation": audited["remediation"],
            "atRiskAfter": after,
            "signatureExpiresWith": with_subject,
            "subject": digests[0],
            "inspectorAtRisk": by_inspector,
        }),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The audit's state machine over an organization (member/template.yaml deployed in two of
/// three member accounts): a report per registry, the account views, the missing role named.
/// The audit's findings where security teams look: Security Hub (imported by the run), the OCSF
/// file for Security Lake, and the JSON Lines Athena reads.
async fn findings_elsewhere(
    runs: &ecr_keeper_tests::scheduled::ScheduledRuns,
    summary: &mut serde_json::Map<String, serde_json::Value>,
) {
    let hub = aws_sdk_securityhub::Client::new(&runs.aws.sdk_config().await);
    let mut pages = hub.get_findings().into_paginator().send();
    let mut findings = Vec::new();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => findings.extend(page.findings().iter().cloned()),
            Err(e) => fail(&format!("GetFindings: {e}")),
        }
    }
    println!("   Security Hub: {} findings imported (BatchImportFindings), for example:", findings.len());
    for f in findings.iter().take(2) {
        let severity = f.severity().and_then(|s| s.label()).map(|l| l.as_str().to_string()).unwrap_or_default();
        println!("     [{severity}] {}", f.title().unwrap_or_default());
    }
    let ocsf = runs.object("reports/audit/latest.ocsf.json").await.unwrap_or_default();
    let ocsf_lines = ocsf.lines().count();
    println!("   OCSF (Security Lake): reports/audit/latest.ocsf.json, {ocsf_lines} Compliance Findings (class 2003)");
    let table = runs.keys("reports/audit/table/").await;
    let mut rows = 0;
    for key in &table {
        rows += runs.object(key).await.unwrap_or_default().lines().count();
        println!("   Athena: {key}");
    }
    println!("     {rows} rows; the CREATE TABLE and two queries are in docs/athena.md");
    summary.insert(
        "findingsElsewhere".into(),
        serde_json::json!({"securityHub": findings.len(), "ocsf": ocsf_lines, "tableFiles": table.len(), "tableRows": rows}),
    );
}

async fn organization_run(summary: &mut serde_json::Map<String, serde_json::Value>) {
    use ecr_keeper_tests::organization::{Organization, EXTERNAL_ID};
    use ecr_keeper_tests::scheduled::ScheduledRuns;
    let regions = ["us-east-1", "eu-west-1"];
    let runs = ScheduledRuns::start(
        &[
            ("RUST_LOG", "warn"),
            ("KEEPER_ACCOUNTS", "organization"),
            ("KEEPER_EXCLUDED_ACCOUNTS", "123456789012"),
            ("KEEPER_REGIONS", "us-east-1,eu-west-1"),
            ("KEEPER_MEMBER_EXTERNAL_ID", EXTERNAL_ID),
            ("KEEPER_SHARD_REPOSITORIES", "5"),
        ],
        &[],
    );
    let org = Organization::create(
        &runs.aws,
        3,
        &[2],
        &regions,
        &["arn:aws:iam::123456789012:role/lifecycle-audit-role"],
        false,
    );
    println!("   member accounts {} (the member stack deployed in the first two)", org.members.join(", "));
    for (i, account) in org.members.iter().enumerate() {
        for (r, region) in regions.iter().enumerate() {
            let ecr = Organization::ecr_in(&runs.aws, account, region).await;
            for k in 0..(3 - i + r) {
                let name = format!("team-{i}/service-{k}");
                seed::create_repository(&ecr, &name, k % 2 == 0).await;
                seed::push_unique(&ecr, &name, Some("v1.0"), &format!("{account}-{region}-{name}")).await;
            }
        }
    }
    let execution = runs.run("audit");
    if execution.status != "SUCCEEDED" {
        fail(&format!("the organization run ended {}: {:?}\n{}", execution.status, execution.cause, runs.lambda.log()));
    }
    let Some(latest) = runs.object("reports/audit/latest.json").await else { fail("no organization report") };
    let report: serde_json::Value = serde_json::from_str(&latest).unwrap_or_default();
    println!(
        "   {} registries, {} not reached; per account:",
        report["totals"]["registries"], report["totals"]["unreachable"]
    );
    for account in report["byAccount"].as_array().into_iter().flatten() {
        println!(
            "     {}: {} repositories, {} non-compliant, {} of {} registries not reached",
            account["account"].as_str().unwrap_or_default(),
            account["repositories"],
            account["compliance"]["nonCompliant"],
            account["unreachable"],
            account["registries"]
        );
    }
    for registry in report["registries"].as_array().into_iter().flatten().filter(|r| r.get("error").is_some()) {
        println!(
            "     ERROR {} {}: {}",
            registry["account"].as_str().unwrap_or_default(),
            registry["region"].as_str().unwrap_or_default(),
            registry["error"].as_str().unwrap_or_default()
        );
    }
    let root = ecr_keeper_tests::repo_root();
    let path = root.canonicalize().unwrap_or(root).join("target/demo/reports/organization-audit.html");
    if let Some(html) = runs.object("reports/audit/latest.html").await {
        if let Err(e) = std::fs::write(&path, html) {
            fail(&format!("{}: {e}", path.display()));
        }
        println!("   open it (account x check heat map): {}", path.display());
    }
    summary.insert(
        "organization".into(),
        serde_json::json!({"members": org.members, "withRole": org.with_role, "totals": report["totals"],
                           "byAccount": report["byAccount"], "errors": report["registries"].as_array().map(|r| r.iter().filter(|e| e.get("error").is_some()).count())}),
    );
}

/// Runs the CLI with `--output json` and returns what it printed.
fn cli_json(bin: &std::path::Path, aws: &LocalAws, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(bin).args(args).args(["--output", "json"]).envs(aws.process_env()).output();
    match out {
        Ok(out) => {
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| fail(&format!("{args:?} did not print JSON: {e}")))
        }
        Err(e) => fail(&format!("{}: {e}", bin.display())),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("demo failed: {message}");
    std::process::exit(1)
}
