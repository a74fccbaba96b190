//! Scheduled runs on moto: the state machine template.yaml deploys
//! (statemachines/scheduled-run.asl.json) run by moto's Step Functions interpreter, each Lambda
//! task reaching the real function binary.

use ecr_keeper_tests::fault_proxy::{Fault, Operations, Rule, When};
use ecr_keeper_tests::scheduled::ScheduledRuns;
use ecr_keeper_tests::seed::{create_repository, push_unique};
use ecr_keeper_tests::{repo_root, LocalAws};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:keeper-alerts";

/// `n` repositories `svc-00`…; every third has a lifecycle policy, every one an image or two.
async fn seed(aws: &LocalAws, n: usize) {
    let ecr = aws.ecr().await;
    for i in 0..n {
        let name = format!("svc-{i:02}");
        create_repository(&ecr, &name, i % 2 == 0).await;
        push_unique(&ecr, &name, Some("v1"), &format!("{name}-a")).await;
        if i % 3 == 0 {
            push_unique(&ecr, &name, None, &format!("{name}-b")).await;
            let policy = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}"#;
            ecr.put_lifecycle_policy()
                .repository_name(&name)
                .lifecycle_policy_text(policy)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

async fn alert_topic(aws: &LocalAws) {
    let sns = aws_sdk_sns::Client::new(&aws.sdk_config().await);
    let created = sns.create_topic().name("keeper-alerts").send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.topic_arn(), Some(TOPIC));
}

/// `ecr-keeper <command> --now <now> --output-dir …` against the run's moto: its report.json,
/// and every file it wrote, by name.
fn one_process_report(runs: &ScheduledRuns, command: &str, now: &str) -> (String, BTreeMap<String, String>) {
    let dir = std::env::temp_dir().join(format!("ecr-keeper-one-process-{command}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(repo_root().join("target/debug/ecr-keeper"))
        .args([command, "--now", now, "--output", "json", "--output-dir"])
        .arg(&dir)
        .envs(runs.aws.process_env())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let json = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let files: BTreeMap<String, String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap_or_default()))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    (json, files)
}

fn ecr_calls(runs: &ScheduledRuns) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in runs.logged("call").into_iter().filter(|l| l.starts_with("ecr ")) {
        *counts.entry(line).or_default() += 1;
    }
    counts
}

fn run_id(execution_output: &Value) -> String {
    execution_output["run"]["runId"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn sixty_repositories_in_shards_of_25_give_the_one_process_report_kept_in_s3() {
    ecr_keeper_tests::build_cli();
    // GIVEN 60 repositories and a stack whose shards hold 25
    let runs = ScheduledRuns::start(&[("KEEPER_SHARD_REPOSITORIES", "25"), ("KEEPER_ALERT_TOPIC_ARN", TOPIC)], &[]);
    seed(&runs.aws, 60).await;
    alert_topic(&runs.aws).await;
    runs.forget_log();
    // WHEN the audit's state machine runs
    let execution = runs.run("audit");
    // THEN it succeeds in one pass of three shards: one plan, three shards, one aggregate
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}\n{}", runs.lambda.log());
    let run = &execution.output["run"];
    assert_eq!(
        (run["done"].as_bool(), run["complete"].as_bool(), run["pass"].as_u64()),
        (Some(true), Some(true), Some(1))
    );
    assert_eq!((run["shards"].as_u64(), run["repositories"].as_u64()), (Some(3), Some(60)));
    let mut invokes = runs.logged("invoke");
    invokes.sort();
    assert_eq!(
        invokes,
        [
            "lifecycle-audit aggregate",
            "lifecycle-audit plan",
            "lifecycle-audit shard",
            "lifecycle-audit shard",
            "lifecycle-audit shard"
        ]
    );
    // AND the shards' results and the reports are in the bucket under their keys
    let id = run_id(&execution.output);
    for n in 0..3 {
        assert!(runs.object(&format!("runs/audit/{id}/shards/{n}.json")).await.is_some(), "shard {n}");
    }
    let latest = runs.object("reports/audit/latest.json").await.unwrap_or_else(|| panic!("no latest.json"));
    let report: Value = serde_json::from_str(&latest).unwrap_or_else(|e| panic!("{e}"));
    let date = &report["generatedAt"].as_str().unwrap_or_default()[..10];
    for ext in ["json", "md", "html", "ocsf.json"] {
        assert!(runs.object(&format!("reports/audit/{date}/report.{ext}")).await.is_some(), "dated {ext}");
        assert!(runs.object(&format!("reports/audit/latest.{ext}")).await.is_some(), "latest {ext}");
    }
    assert_eq!(run["reportKeys"][0].as_str(), Some(format!("reports/audit/{date}/report.json").as_str()));
    // AND the ECR calls were exactly a one-process run's (nothing read twice across shards)
    let sharded = ecr_calls(&runs);
    assert_eq!(sharded.get("ecr DescribeImages"), Some(&60), "each repository's images read once: {sharded:?}");
    assert_eq!(sharded.get("ecr DescribeRepositories"), Some(&1), "the registry listed once: {sharded:?}");
    runs.forget_log();
    // AND the report is byte for byte the one-process report of the same moment
    let (one_process, also_written) =
        one_process_report(&runs, "audit", report["generatedAt"].as_str().unwrap_or_default());
    assert_eq!(one_process, latest, "the state machine's report and the one-process report differ");
    let names: Vec<&str> = also_written.keys().map(String::as_str).collect();
    assert_eq!(names, ["report.html", "report.json", "report.md", "report.ocsf.json"]);
    // AND the OCSF findings too, one Compliance Finding a line for every FAIL, WARN and ERROR
    let ocsf = runs.object(&format!("reports/audit/{date}/report.ocsf.json")).await.unwrap_or_default();
    assert_eq!(Some(&ocsf), also_written.get("report.ocsf.json"), "the kept OCSF file and the CLI's differ");
    let findings: Vec<Value> = ocsf.lines().map(|l| serde_json::from_str(l).unwrap_or_default()).collect();
    let judged = |checks: &Value| {
        let judged = |c: &&Value| ["FAIL", "WARN", "ERROR"].contains(&c["status"].as_str().unwrap_or_default());
        checks.as_array().into_iter().flatten().filter(judged).count()
    };
    let repositories = report["repositories"].as_array().into_iter().flatten();
    let expected = repositories.map(|r| judged(&r["checks"])).sum::<usize>() + judged(&report["registryChecks"]);
    assert_eq!(findings.len(), expected, "{ocsf}");
    assert!(findings.iter().all(|f| f["class_uid"] == 2003 && f["metadata"]["version"] == "1.1.0"));
    // AND the same findings as rows for Athena, in the day's and the account's partition
    let generated = report["generatedAt"].as_str().unwrap_or_default().replace(['-', ':'], "");
    let table = format!(
        "reports/audit/table/dt={date}/account={}/{generated}.json",
        report["registryId"].as_str().unwrap_or_default()
    );
    let rows = runs.object(&table).await.unwrap_or_else(|| panic!("no {table}"));
    let rows: Vec<Value> = rows.lines().map(|l| serde_json::from_str(l).unwrap_or_default()).collect();
    assert_eq!(rows.len(), expected);
    assert!(rows
        .iter()
        .all(|r| r["region"] == report["region"] && r["check_id"].is_string() && r["account"].is_null()));
    // The CLI makes one call more, by design: its probe, one DescribeRepositories of one item
    // before the run, so a wrong endpoint is said in seconds.
    let mut expected = sharded.clone();
    *expected.entry("ecr DescribeRepositories".to_string()).or_default() += 1;
    assert_eq!(ecr_calls(&runs), expected, "ECR calls: one process (with its probe) vs the state machine");
    // AND the summary went to the alert topic with the keys, never a pre-signed URL
    let published = runs.published(TOPIC);
    assert_eq!(published.len(), 1, "{published:?}");
    let (subject, message) = &published[0];
    assert_eq!(subject, "ECR lifecycle audit");
    assert!(message.contains("Repositories: 60"), "{message}");
    assert!(message.contains("s3://keeper-reports/"), "{message}");
    assert!(message.contains(&format!("reports/audit/{date}/report.html")), "{message}");
    assert!(!message.contains("X-Amz-Signature"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shard_the_lambda_service_fails_once_is_retried_and_the_run_completes() {
    let runs = ScheduledRuns::start(
        &[("KEEPER_SHARD_REPOSITORIES", "2")],
        &[("KEEPER_HARNESS_FAIL_SHARD_INVOKES", "1".to_string())],
    );
    seed(&runs.aws, 6).await;
    runs.forget_log();
    let execution = runs.run("audit");
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}\n{}", runs.lambda.log());
    assert_eq!(runs.logged("invoke-failed"), ["lifecycle-audit shard"], "the harness failed one invoke");
    let shards = runs.logged("invoke").iter().filter(|l| l.ends_with(" shard")).count();
    assert_eq!(shards, 4, "three shards, one of them twice");
    assert_eq!(execution.output["run"]["complete"].as_bool(), Some(true));
    let report: Value =
        serde_json::from_str(&runs.object("reports/audit/latest.json").await.unwrap_or_default()).unwrap_or_default();
    assert_eq!(report["summary"]["repositories"].as_u64(), Some(6));
}

#[tokio::test(flavor = "multi_thread")]
async fn unfinished_repositories_get_another_pass_and_one_unreadable_in_every_pass_is_an_error() {
    // GIVEN svc-05 whose images fail to read once, and svc-03 whose images never can be read
    let (runs, proxy) =
        ScheduledRuns::start_via_proxy(&[("KEEPER_SHARD_REPOSITORIES", "3"), ("KEEPER_MAX_PASSES", "3")]).await;
    seed(&runs.aws, 8).await;
    let denied = |limit| Rule {
        limit,
        ..Rule::new(
            Operations::named(&["DescribeImages"]),
            When::Always,
            Fault::Error { status: 400, code: "AccessDeniedException".into(), message: "not for you".into() },
        )
    };
    proxy.set_rules(vec![denied(10_000).for_repository("svc-03"), denied(1).for_repository("svc-05")]);
    runs.forget_log();
    // WHEN the audit runs with shards of 3 and at most 3 passes
    let execution = runs.run("audit");
    // THEN it ends, incomplete, after the third pass
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}\n{}", runs.lambda.log());
    let run = &execution.output["run"];
    assert_eq!((run["complete"].as_bool(), run["pass"].as_u64()), (Some(false), Some(3)), "{run}");
    // AND the second pass carried exactly the two unfinished repositories
    let id = run_id(&execution.output);
    let pass2: Value =
        serde_json::from_str(&runs.object(&format!("runs/audit/{id}/passes/2.json")).await.unwrap_or_default())
            .unwrap_or_default();
    let names: Vec<&str> = pass2
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|item| item["repositories"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str()))
        .collect();
    assert_eq!(names, ["svc-03", "svc-05"]);
    // AND svc-05 is audited; svc-03 is an ERROR row that says why
    let report: Value =
        serde_json::from_str(&runs.object("reports/audit/latest.json").await.unwrap_or_default()).unwrap_or_default();
    let row = |name: &str| {
        report["repositories"].as_array().into_iter().flatten().find(|r| r["name"] == name).cloned().unwrap_or_default()
    };
    assert_eq!(report["repositories"].as_array().map(Vec::len), Some(8));
    assert!(row("svc-05")["checks"]
        .as_array()
        .is_some_and(|c| c.len() > 1 && c.iter().all(|c| c["status"] != "ERROR")));
    let error = &row("svc-03")["checks"][0];
    assert_eq!((error["id"].as_str(), error["status"].as_str()), (Some("READ"), Some("ERROR")));
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains("DescribeImages") && m.contains("access denied")),
        "{error}"
    );
    assert_eq!(report["complete"].as_bool(), Some(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cost_report_runs_on_the_state_machine_and_equals_the_one_process_report() {
    ecr_keeper_tests::build_cli();
    let runs = ScheduledRuns::start_with_cloudwatch(&[("KEEPER_SHARD_REPOSITORIES", "2")]);
    seed(&runs.aws, 5).await;
    let execution = runs.run("cost");
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}\n{}", runs.lambda.log());
    assert_eq!(execution.output["run"]["complete"].as_bool(), Some(true));
    let latest = runs.object("reports/cost/latest.json").await.unwrap_or_else(|| panic!("no latest.json"));
    let report: Value = serde_json::from_str(&latest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report["total"]["repositories"].as_u64(), Some(5));
    let (one_process, _) = one_process_report(&runs, "cost-report", report["generatedAt"].as_str().unwrap_or_default());
    // The run's report compares with the previous total; the first run has none, as here.
    assert_eq!(one_process, latest);
    assert!(runs.object("reports/cost/latest.html").await.is_some_and(|h| h.contains("<svg")));
}

/// With `KEEPER_SECURITY_HUB=true` (template `SecurityHubFindings`) the scheduled audit imports
/// one Security Hub finding for each FAIL, WARN and ERROR of the report it kept: the state
/// machine's Findings step, a function of its own (the audit does not link Security Hub).
#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_audit_imports_its_findings_into_security_hub() {
    let runs = ScheduledRuns::start(&[("KEEPER_SHARD_REPOSITORIES", "2"), ("KEEPER_SECURITY_HUB", "true")], &[]);
    seed(&runs.aws, 4).await;
    let execution = runs.run("audit");
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}\n{}", runs.lambda.log());
    let latest = runs.object("reports/audit/latest.json").await.unwrap_or_else(|| panic!("no latest.json"));
    let report: Value = serde_json::from_str(&latest).unwrap_or_else(|e| panic!("{e}"));
    let judged = |checks: &Value| {
        let judged = |c: &&Value| ["FAIL", "WARN", "ERROR"].contains(&c["status"].as_str().unwrap_or_default());
        checks.as_array().into_iter().flatten().filter(judged).count()
    };
    let repositories = report["repositories"].as_array().into_iter().flatten();
    let expected = repositories.map(|r| judged(&r["checks"])).sum::<usize>() + judged(&report["registryChecks"]);
    let hub = aws_sdk_securityhub::Client::new(&runs.aws.sdk_config().await);
    let findings = hub.get_findings().send().await.unwrap_or_else(|e| panic!("{e}")).findings().to_vec();
    assert!(expected > 0);
    assert_eq!(findings.len(), expected, "{}", runs.lambda.log());
    assert!(findings.iter().all(|f| f.id().is_some_and(|id| id.starts_with("ecr-keeper/123456789012/us-east-1/"))));
    // The import ran in security-hub-findings, once, after the aggregate.
    let invokes = runs.logged("invoke");
    let findings_steps: Vec<&String> = invokes.iter().filter(|l| l.starts_with("security-hub-findings ")).collect();
    assert_eq!(findings_steps.len(), 1, "{invokes:?}");
    assert!(invokes.last().is_some_and(|l| l.starts_with("security-hub-findings ")), "{invokes:?}");
}

/// The report is kept whatever the Findings step does: a Security Hub import that fails ends the
/// run SUCCEEDED with the error in its output (`findingsError`), not a failed run whose alarm
/// says no report was kept. Without `KEEPER_SECURITY_HUB` the step never runs.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_findings_step_leaves_the_report_kept_and_the_run_succeeded() {
    let fail = [("KEEPER_HARNESS_FAIL_FUNCTION", "security-hub-findings".to_string())];
    let runs = ScheduledRuns::start(&[("KEEPER_SHARD_REPOSITORIES", "2"), ("KEEPER_SECURITY_HUB", "true")], &fail);
    seed(&runs.aws, 2).await;
    let execution = runs.run("audit");
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}\n{}", runs.lambda.log());
    assert_eq!(execution.output["findingsError"]["Error"], "InjectedByHarness", "{:?}", execution.output);
    assert!(runs.object("reports/audit/latest.json").await.is_some());
    assert_eq!(runs.logged("invoke-failed"), vec!["security-hub-findings ".to_string()]);
    // Off: the audit's run ends at its aggregate.
    let runs = ScheduledRuns::start(&[("KEEPER_SHARD_REPOSITORIES", "2")], &[]);
    seed(&runs.aws, 2).await;
    let execution = runs.run("audit");
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    assert!(
        runs.logged("invoke").iter().all(|l| !l.starts_with("security-hub-findings")),
        "{:?}",
        runs.logged("invoke")
    );
    assert!(execution.output.get("findings").is_none(), "{:?}", execution.output);
}
