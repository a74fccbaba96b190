//! An organization on moto: three member accounts in two regions, one without the member role.
//! The state machines from template.yaml run the audit and the cost report over it with the real
//! binaries; the CLI's report equals theirs; a member account's push event starts its scan there,
//! and its scan event is read and alerted on there.

use ecr_keeper_tests::organization::{Organization, EXTERNAL_ID};
use ecr_keeper_tests::scheduled::ScheduledRuns;
use ecr_keeper_tests::seed::{create_repository, push_unique};
use ecr_keeper_tests::{repo_root, LocalAws};
use serde_json::{json, Value};
use std::process::Command;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:keeper-alerts";
/// The roles scheduled_run.py and the emulator's functions run as.
const CENTRAL_ROLES: [&str; 2] =
    ["arn:aws:iam::123456789012:role/lifecycle-audit-role", "arn:aws:iam::123456789012:role/cost-report-role"];

/// Repositories per (member index, region): 3 and 1 in the first member, 2 and 0 in the second,
/// 1 and 1 in the third (which has no member role, so they must not be read).
const LAYOUT: [[usize; 2]; 3] = [[3, 1], [2, 0], [1, 1]];

async fn seed_members(aws: &LocalAws, org: &Organization) {
    for (i, account) in org.members.iter().enumerate() {
        for (r, region) in REGIONS.iter().enumerate() {
            let ecr = Organization::ecr_in(aws, account, region).await;
            for k in 0..LAYOUT[i][r] {
                let name = format!("team-{i}/svc-{k}");
                create_repository(&ecr, &name, false).await;
                push_unique(&ecr, &name, Some("v1"), &format!("{account}-{region}-{name}-a")).await;
                push_unique(&ecr, &name, None, &format!("{account}-{region}-{name}-b")).await;
            }
        }
    }
}

/// `account`'s us-east-1 registry replicates every repository to `regions` of its own.
async fn replicate(aws: &LocalAws, account: &str, regions: &[&str]) {
    use aws_sdk_ecr::types::{ReplicationConfiguration, ReplicationDestination, ReplicationRule};
    let ecr = Organization::ecr_in(aws, account, "us-east-1").await;
    let destinations = regions
        .iter()
        .map(|r| ReplicationDestination::builder().region(*r).registry_id(account).build())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{e}"));
    let rule =
        ReplicationRule::builder().set_destinations(Some(destinations)).build().unwrap_or_else(|e| panic!("{e}"));
    let configuration = ReplicationConfiguration::builder().rules(rule).build().unwrap_or_else(|e| panic!("{e}"));
    ecr.put_replication_configuration()
        .replication_configuration(configuration)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// What the CLI wrote: the organization's report.json, and each registry's report.json by its
/// path under the directory (`registries/<account>/<region>/report.json`).
struct CliReport {
    index: String,
    registries: Vec<(String, String)>,
}

/// Every `registries/<account>/<region>/report.json` under `dir`, in path order.
fn registry_files(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let root = dir.join("registries");
    for account in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for region in std::fs::read_dir(account.path()).into_iter().flatten().flatten() {
            let file = region.path().join("report.json");
            if let Ok(text) = std::fs::read_to_string(&file) {
                let path = file.strip_prefix(dir).map(|p| p.display().to_string()).unwrap_or_default();
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

/// `ecr-keeper <command> --accounts organization … --output-dir` against the run's moto: what
/// it wrote, its exit code and its stderr.
fn cli_report(runs: &ScheduledRuns, org: &Organization, command: &str, now: &str) -> (CliReport, Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("ecr-keeper-org-{command}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(repo_root().join("target/debug/ecr-keeper"))
        .args([command, "--accounts", "organization", "--exclude-accounts", &org.management])
        .args(["--regions", &REGIONS.join(","), "--external-id", EXTERNAL_ID, "--now", now, "--output", "json"])
        .arg("--output-dir")
        .arg(&dir)
        .envs(runs.aws.process_env())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let index = std::fs::read_to_string(dir.join("report.json")).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let registries = registry_files(&dir);
    // The organization page reads at a desktop's and a phone's width, as the registry pages do.
    ecr_keeper_tests::browser::assert_readable_everywhere(&dir.join("report.html"));
    let _ = std::fs::remove_dir_all(&dir);
    (CliReport { index, registries }, out.status.code(), stderr)
}

/// The state machine's registry reports beside `latest`, as [`registry_files`] lists the CLI's.
async fn kept_registries(runs: &ScheduledRuns, job: &str, report: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in report["registries"].as_array().into_iter().flatten() {
        let Some(path) = entry["report"].as_str() else { continue };
        let text = runs.object(&format!("reports/{job}/{path}.json")).await.unwrap_or_else(|| panic!("no {path}"));
        out.push((format!("{path}.json"), text));
    }
    out.sort();
    out
}

/// A registry's own report, kept beside the organization's latest.
async fn registry_report(runs: &ScheduledRuns, job: &str, account: &str, region: &str) -> Value {
    let key = format!("reports/{job}/registries/{account}/{region}/report.json");
    let text = runs.object(&key).await.unwrap_or_else(|| panic!("no {key}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{key}: {e}"))
}

fn entry<'a>(report: &'a Value, account: &str, region: &str) -> &'a Value {
    report["registries"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["account"] == account && e["region"] == region)
        .unwrap_or_else(|| panic!("no registry {account} {region} in {report}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn three_accounts_in_two_regions_one_without_the_role_on_the_state_machines_and_the_cli() {
    ecr_keeper_tests::build_cli();
    // GIVEN a central stack whose audit and cost report cover the organization, shards of 2
    let runs_env = [
        ("KEEPER_SHARD_REPOSITORIES", "2"),
        ("KEEPER_ALERT_TOPIC_ARN", TOPIC),
        ("KEEPER_ACCOUNTS", "organization"),
        ("KEEPER_REGIONS", "us-east-1,eu-west-1"),
        ("KEEPER_MEMBER_EXTERNAL_ID", EXTERNAL_ID),
        // moto's management account: its own registry is not part of this test's organization.
        ("KEEPER_EXCLUDED_ACCOUNTS", "123456789012"),
    ];
    let runs = ScheduledRuns::start_with_cloudwatch(&runs_env);
    // AND three member accounts, the third without the member stack, with repositories in both regions
    let org = Organization::create(&runs.aws, 3, &[2], &REGIONS, &CENTRAL_ROLES, false);
    assert_eq!(org.members.len(), 3);
    seed_members(&runs.aws, &org).await;
    // AND the first member replicates from us-east-1 to its eu-west-1 (read in this run, where
    // no REPLICATION template exists) and to ap-south-1 (outside the run's regions)
    replicate(&runs.aws, &org.members[0], &["eu-west-1", "ap-south-1"]).await;
    let sns = aws_sdk_sns::Client::new(&runs.aws.sdk_config().await);
    sns.create_topic().name("keeper-alerts").send().await.unwrap_or_else(|e| panic!("{e}"));

    // WHEN the audit's state machine runs
    let execution = runs.run("audit");
    // THEN it succeeds, and the report covers the six registries
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}\n{}", runs.lambda.log());
    assert_eq!(execution.output["run"]["organization"], json!(true), "{}", execution.output);
    let latest = runs.object("reports/audit/latest.json").await.unwrap_or_else(|| panic!("no report"));
    let report: Value = serde_json::from_str(&latest).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report["registries"].as_array().map(Vec::len), Some(6), "{report}");
    // AND the third account's two registries are ERROR: the role cannot be assumed
    let (a, b, c) = (&org.members[0], &org.members[1], &org.members[2]);
    for region in REGIONS {
        let error = entry(&report, c, region)["error"].as_str().unwrap_or_default();
        assert!(error.starts_with(&format!("cannot assume arn:aws:iam::{c}:role/ecr-keeper-member")), "{error}");
    }
    assert_eq!(report["complete"], json!(false));
    // AND the other four are complete, every repository marked with its account and region
    for (i, account) in [a, b].iter().enumerate() {
        for (r, region) in REGIONS.iter().enumerate() {
            let path = entry(&report, account, region)["report"].as_str().unwrap_or_default().to_string();
            assert_eq!(path, format!("registries/{account}/{region}/report"));
            let registry = &registry_report(&runs, "audit", account, region).await;
            assert_eq!(registry["complete"], json!(true), "{account} {region}: {registry}");
            let repositories = registry["repositories"].as_array().cloned().unwrap_or_default();
            assert_eq!(repositories.len(), LAYOUT[i][r], "{account} {region}");
            for repo in &repositories {
                assert_eq!(
                    (repo["account"].as_str(), repo["region"].as_str()),
                    (Some(account.as_str()), Some(*region))
                );
                assert!(
                    repo["arn"].as_str().is_some_and(|arn| arn.contains(&format!(":{region}:{account}:"))),
                    "{repo}"
                );
            }
        }
    }
    // AND REG-3 judges the copies in the destination the run read, and names the one it did not
    let checks =
        registry_report(&runs, "audit", a, "us-east-1").await["registryChecks"].as_array().cloned().unwrap_or_default();
    let reg_3 = checks.iter().find(|c| c["id"] == "REG-3").cloned().unwrap_or_default();
    assert_eq!(reg_3["status"], "FAIL", "{reg_3}");
    assert!(
        reg_3["message"].as_str().unwrap_or_default().starts_with(&format!(
            "copies of every repository replicated to eu-west-1 ({a}) are never expired: no REPLICATION template there covers them"
        )),
        "{reg_3}"
    );
    assert_eq!(reg_3["evidence"]["notRead"], json!([format!("ap-south-1 ({a})")]));
    // AND the totals are the sum of the parts
    let mut registries = Vec::new();
    for (_, text) in kept_registries(&runs, "audit", &report).await {
        registries.push(serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{e}")));
    }
    assert_eq!(registries.len(), 4, "the four reached");
    let sum = |f: &dyn Fn(&Value) -> u64| registries.iter().map(f).sum::<u64>();
    let repositories = sum(&|r| r["summary"]["repositories"].as_u64().unwrap_or(0));
    assert_eq!(repositories, 6);
    assert_eq!(report["totals"]["repositories"].as_u64(), Some(repositories));
    assert_eq!(
        report["totals"]["compliance"]["nonCompliant"].as_u64(),
        Some(sum(&|r| r["summary"]["nonCompliant"].as_u64().unwrap_or(0)))
    );
    assert_eq!((report["totals"]["registries"].as_u64(), report["totals"]["unreachable"].as_u64()), (Some(6), Some(2)));
    let accounts: Vec<&str> =
        report["byAccount"].as_array().into_iter().flatten().filter_map(|t| t["account"].as_str()).collect();
    let mut expected = vec![a.as_str(), b.as_str(), c.as_str()];
    expected.sort();
    assert_eq!(accounts, expected, "accounts in id order");
    // AND the HTML report has the heat map; the summary names the account not reached
    let html = runs.object("reports/audit/latest.html").await.unwrap_or_default();
    assert!(html.contains("id=\"heat-map\"") && html.contains(&format!("data-account=\"{c}\"")), "no heat map");
    let published = runs.published(TOPIC);
    let (subject, message) = published.last().cloned().unwrap_or_default();
    assert_eq!(subject, "ECR lifecycle audit (incomplete)");
    assert!(message.contains(&format!("Account {c}: 0 non-compliant, 2 of 2 registries not reached")), "{message}");

    // AND the CLI over the same organization writes the same report, and says it is incomplete
    let now = report["generatedAt"].as_str().unwrap_or_default();
    let (cli, code, stderr) = cli_report(&runs, &org, "audit", now);
    assert_eq!(cli.index, latest, "the CLI's report and the state machine's differ");
    assert_eq!(cli.registries, kept_registries(&runs, "audit", &report).await, "a registry's report differs");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("2 of 6 registries not reached"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no progress bar when stderr is not a terminal: {stderr}");

    // WHEN the cost report's state machine runs over the same organization
    let execution = runs.run("cost");
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}\n{}", runs.lambda.log());
    let latest = runs.object("reports/cost/latest.json").await.unwrap_or_else(|| panic!("no cost report"));
    let cost: Value = serde_json::from_str(&latest).unwrap_or_else(|e| panic!("{e}"));
    // THEN its total is the sum of the registries' totals, and accounts are ranked by cost
    let mut registries = Vec::new();
    for (_, text) in kept_registries(&runs, "cost", &cost).await {
        registries.push(serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{e}")));
    }
    let monthly: f64 = registries.iter().map(|r| r["total"]["monthlyCostUsd"].as_f64().unwrap_or(0.0)).sum();
    let total = cost["totals"]["cost"]["monthlyCostUsd"].as_f64().unwrap_or(-1.0);
    assert!((total - monthly).abs() < 1e-9, "{total} vs {monthly}");
    let images: u64 = registries.iter().map(|r| r["total"]["images"].as_u64().unwrap_or(0)).sum();
    assert_eq!(
        (cost["totals"]["cost"]["images"].as_u64(), images),
        (Some(12), 12),
        "two images in each of six repositories read"
    );
    let html = runs.object("reports/cost/latest.html").await.unwrap_or_default();
    assert!(html.contains("id=\"accounts-by-cost\""), "no accounts-by-cost table");
    // AND the CLI's cost report is the state machine's
    let now = cost["generatedAt"].as_str().unwrap_or_default();
    let (cli, code, stderr) = cli_report(&runs, &org, "cost-report", now);
    assert_eq!(cli.index, latest, "the CLI's cost report and the state machine's differ");
    assert_eq!(cli.registries, kept_registries(&runs, "cost", &cost).await, "a registry's cost report differs");
    assert_eq!(code, Some(2), "{stderr}");

    // AND a scope that leaves no account is said, exit 2, not an empty report with exit 0
    let everyone = std::iter::once(org.management.clone()).chain(org.members.iter().cloned()).collect::<Vec<_>>();
    let out = Command::new(repo_root().join("target/debug/ecr-keeper"))
        .args(["audit", "--accounts", "organization", "--exclude-accounts", &everyone.join(",")])
        .args(["--regions", "us-east-1", "--external-id", EXTERNAL_ID])
        .envs(runs.aws.process_env())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no account is left to read"), "{stderr}");
    assert!(out.stdout.is_empty(), "no report: {}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_accounts_push_and_scan_are_handled_in_that_account_not_the_central_one() {
    // GIVEN a member account whose role allows scans, and push-events configured for the organization
    let aws = LocalAws::start();
    let org =
        Organization::create(&aws, 1, &[], &["us-east-1"], &["arn:aws:iam::123456789012:role/push-events-role"], true);
    let member = org.members[0].clone();
    let ecr = Organization::ecr_in(&aws, &member, "us-east-1").await;
    create_repository(&ecr, "team-0/api", false).await;
    let digest = push_unique(&ecr, "team-0/api", Some("v1"), "member-push").await;
    let lambda = ecr_keeper_tests::lambda::LambdaEmulator::start(
        &aws,
        &[
            ("KEEPER_METRICS", "emf"),
            ("KEEPER_ACCOUNT_ID", "123456789012"),
            ("KEEPER_MEMBER_ROLE_NAME", "ecr-keeper-member"),
            ("KEEPER_MEMBER_EXTERNAL_ID", EXTERNAL_ID),
        ],
    );
    // WHEN EventBridge delivers the member's push (as forwarded: its account and region kept)
    let event = json!({"version": "0", "id": "m1", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": member, "time": "2026-12-04T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "team-0/api", "image-digest": digest, "action-type": "PUSH", "image-tag": "v1"}});
    let answer = lambda.invoke("push-events", &event).unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    // THEN push-events started the scan, in the member account
    assert_eq!(
        (answer["handled"].as_str(), answer["scan"]["outcome"].as_str()),
        (Some("push"), Some("started")),
        "{answer}\n{}",
        lambda.log()
    );
    let findings = ecr
        .describe_image_scan_findings()
        .repository_name("team-0/api")
        .image_id(aws_sdk_ecr::types::ImageIdentifier::builder().image_digest(&digest).build())
        .send()
        .await;
    assert!(findings.is_ok(), "a scan exists in the member account: {findings:?}");
    // AND the central account has no such repository
    let central = aws.ecr().await.describe_repositories().repository_names("team-0/api").send().await;
    assert!(central.is_err(), "nothing happened in the central account");
    // AND its metrics are totals (the default for member events): no Repository, Account or
    // Region dimension, so the billed metrics do not grow with the organization
    let log = lambda.log();
    let emf: Vec<&str> = log.lines().filter(|l| l.contains("\"_aws\"")).collect();
    assert!(emf.iter().any(|l| l.contains("\"ImagePushes\"")), "ImagePushes emitted: {log}");
    assert!(
        emf.iter().all(|l| !l.contains("\"Account\"") && !l.contains("\"Repository\"")),
        "totals only: {}",
        emf.join("\n")
    );

    // WHEN the member's scan completes with a critical finding and EventBridge delivers its event
    aws.set_scan_findings_in(&member, "team-0/api", &digest, &[("CVE-2026-0001", "CRITICAL", "openssl")]);
    let mut scan = ecr_keeper_tests::lambda::sample_event("ecr-image-scan-basic.json", "");
    scan["account"] = json!(member);
    scan["region"] = json!("us-east-1");
    scan["detail"]["repository-name"] = json!("team-0/api");
    scan["detail"]["image-digest"] = json!(digest);
    scan["detail"]["finding-severity-counts"] = json!({"CRITICAL": 1});
    let answer = lambda.invoke("scan-events", &scan).unwrap_or_else(|e| panic!("{e}\n{}", lambda.log()));
    // THEN scan-events read the findings in the member account (the event's counts alone would
    // give the same unsuppressed count, but no finding ids) and alerts naming it
    assert_eq!(answer["handled"], "scan", "{answer}\n{}", lambda.log());
    assert_eq!(answer["alert"]["unsuppressedAtOrAbove"], 1, "{answer}");
    assert_eq!(answer["alert"]["topFindings"][0]["id"], "CVE-2026-0001", "the member's finding was read: {answer}");
    let log = lambda.log();
    let alert = log.lines().find(|l| l.contains("vulnerable image")).unwrap_or_default();
    assert!(alert.contains(&member), "the alert names the member account: {log}");
    // AND its scan metrics are totals too (VulnerableImages, which the alarm watches, included)
    let emf: Vec<&str> = log.lines().filter(|l| l.contains("\"_aws\"")).collect();
    for name in ["ImagesScanned", "VulnerableImages"] {
        assert!(emf.iter().any(|l| l.contains(&format!("\"{name}\""))), "{name} emitted: {}", emf.join("\n"));
    }
    assert!(emf.iter().all(|l| !l.contains("\"Account\"")), "totals only: {}", emf.join("\n"));

    // WHEN an event names another account than the one it came from (an Inspector ARN), or
    // comes from outside the scope, THEN it is refused, not acted on
    let mut forged = ecr_keeper_tests::lambda::sample_event("inspector2-scan.json", "");
    forged["account"] = json!(member);
    let answer = lambda.invoke("scan-events", &forged).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(answer["handled"], "invalid", "{answer}");
    assert!(answer["reason"].as_str().unwrap_or_default().contains("not the event's account"), "{answer}");

    // WHEN an event comes from an account without the member role
    let stranger = json!({"version": "0", "id": "m2", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "999999999999", "time": "2026-12-04T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "x", "image-digest": digest, "action-type": "PUSH"}});
    // THEN the invocation fails (so Lambda retries it and the DLQ keeps it), naming the role
    let failed = lambda.invoke("push-events", &stranger);
    assert!(
        failed
            .as_ref()
            .is_err_and(|e| e.contains("MemberRoleUnavailable")
                && e.contains("arn:aws:iam::999999999999:role/ecr-keeper-member")),
        "{failed:?}"
    );
}

/// Every finding ecr-keeper imported into `account`'s Security Hub in `region`.
async fn findings_in(
    aws: &LocalAws,
    account: &str,
    region: &str,
) -> Vec<aws_sdk_securityhub::types::AwsSecurityFinding> {
    let hub = Organization::security_hub_in(aws, account, region).await;
    let mut pages = hub.get_findings().into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        out.extend(
            page.unwrap_or_else(|e| panic!("GetFindings in {account} {region}: {e}")).findings().iter().cloned(),
        );
    }
    out
}

/// With `SecurityHubFindings=true` over an organization, each registry's findings go into its
/// own account and region through the member role (Security Hub takes a finding only from the
/// account it names), never into the central account; an account without the role gets none.
#[tokio::test(flavor = "multi_thread")]
async fn an_organization_audit_imports_each_members_findings_into_that_members_security_hub() {
    // GIVEN three members whose stacks allow Security Hub findings, the third without the stack
    let runs = ScheduledRuns::start(
        &[
            ("KEEPER_SHARD_REPOSITORIES", "2"),
            ("KEEPER_ACCOUNTS", "organization"),
            ("KEEPER_REGIONS", "us-east-1,eu-west-1"),
            ("KEEPER_MEMBER_EXTERNAL_ID", EXTERNAL_ID),
            ("KEEPER_EXCLUDED_ACCOUNTS", "123456789012"),
            ("KEEPER_SECURITY_HUB", "true"),
        ],
        &[],
    );
    let grants = ecr_keeper_tests::organization::Grants { remediation: false, security_hub: true };
    let org = Organization::create_with(&runs.aws, 3, &[2], &REGIONS, &CENTRAL_ROLES, grants);
    seed_members(&runs.aws, &org).await;
    // WHEN the audit's state machine runs
    let execution = runs.run("audit");
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}\n{}", runs.lambda.log());
    // THEN each reached registry's Security Hub holds exactly its report's FAIL, WARN and ERROR
    // results, each naming that account and region
    let judged = |checks: &Value| {
        let judged = |c: &&Value| ["FAIL", "WARN", "ERROR"].contains(&c["status"].as_str().unwrap_or_default());
        checks.as_array().into_iter().flatten().filter(judged).count()
    };
    let mut imported = 0;
    for account in &org.members[..2] {
        for region in REGIONS {
            let report = registry_report(&runs, "audit", account, region).await;
            let repositories = report["repositories"].as_array().into_iter().flatten();
            let expected =
                repositories.map(|r| judged(&r["checks"])).sum::<usize>() + judged(&report["registryChecks"]);
            let findings = findings_in(&runs.aws, account, region).await;
            assert_eq!(findings.len(), expected, "{account} {region}\n{}", runs.lambda.log());
            let prefix = format!("ecr-keeper/{account}/{region}/");
            assert!(
                findings.iter().all(|f| f.aws_account_id() == Some(account.as_str())
                    && f.id().is_some_and(|id| id.starts_with(&prefix))
                    && f.product_arn().is_some_and(|p| p.ends_with(&format!(":{account}:product/{account}/default")))),
                "{account} {region}: {findings:?}"
            );
            imported += findings.len();
        }
    }
    assert!(imported > 0);
    // AND nothing lands in the central account or in the account without the member role
    for region in REGIONS {
        assert!(findings_in(&runs.aws, &org.members[2], region).await.is_empty(), "{region}");
    }
    let central = aws_sdk_securityhub::Client::new(&runs.aws.sdk_config().await);
    let own = central.get_findings().send().await.unwrap_or_else(|e| panic!("{e}")).findings().len();
    assert_eq!(own, 0, "the central account imports no member's finding");
}
