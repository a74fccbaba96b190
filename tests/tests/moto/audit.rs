//! The lifecycle audit on a seeded moto registry: every check passing and failing, paging, the
//! report, metrics, remediation, partial reports, the CLI's exit codes, and the calls it makes.

use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageIdentifier, ImageScanningConfiguration, ImageTagMutability,
    ImageTagMutabilityExclusionFilter, ImageTagMutabilityExclusionFilterType, RegistryScanningRule, ScanFrequency,
    ScanType, ScanningRepositoryFilter, ScanningRepositoryFilterType,
};
use ecr_keeper_aws::EcrRegistry;
use ecr_keeper_core::audit::{
    audit, audit_metrics, AuditOptions, AuditReport, AuditSettings, Remediation, Standard, Status,
};
use ecr_keeper_core::findings::FindingsPolicy;
use ecr_keeper_core::lifecycle::{generate, PolicyParams};
use ecr_keeper_core::ports::prelude::*;
use ecr_keeper_tests::fault_proxy::{Fault, FaultProxy, Operations, Rule, When};
use ecr_keeper_tests::{seed, CallCounter, LocalAws};
use std::process::Command;

fn settings() -> AuditSettings {
    AuditSettings {
        standard: Some(Standard {
            keep_tagged: 10,
            untagged_days: 7,
            tag_prefixes: vec!["v".into()],
            archive_after_days: None,
            expire_archived_after_days: None,
        }),
        findings: FindingsPolicy::default(),
        require_kms: false,
        scanner_roles: Vec::new(),
    }
}

/// Lifecycle policies are judged ten days from now: moto stamps every push with the wall clock.
fn later() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::Duration::days(10)
}

struct Repo<'a> {
    name: &'a str,
    mutability: &'a str,
    exclusions: &'a [&'a str],
    scan_on_push: bool,
    kms: bool,
    policy: Option<PolicyParams>,
    repository_policy: Option<serde_json::Value>,
}

impl<'a> Repo<'a> {
    fn good(name: &'a str) -> Self {
        Repo {
            name,
            mutability: "IMMUTABLE",
            exclusions: &[],
            scan_on_push: true,
            kms: true,
            policy: Some(PolicyParams::default()),
            repository_policy: None,
        }
    }
}

async fn create(ecr: &aws_sdk_ecr::Client, r: &Repo<'_>) {
    let mut req = ecr
        .create_repository()
        .repository_name(r.name)
        .image_tag_mutability(ImageTagMutability::from(r.mutability))
        .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(r.scan_on_push).build());
    for f in r.exclusions {
        req = req.image_tag_mutability_exclusion_filters(
            ImageTagMutabilityExclusionFilter::builder()
                .filter_type(ImageTagMutabilityExclusionFilterType::Wildcard)
                .filter(*f)
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    if r.kms {
        req = req.encryption_configuration(
            EncryptionConfiguration::builder()
                .encryption_type(EncryptionType::Kms)
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    req.send().await.unwrap_or_else(|e| panic!("{}: {e}", r.name));
    if let Some(params) = &r.policy {
        let text = generate(params).unwrap_or_else(|e| panic!("{e}")).to_json();
        ecr.put_lifecycle_policy()
            .repository_name(r.name)
            .lifecycle_policy_text(text)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    if let Some(doc) = &r.repository_policy {
        ecr.set_repository_policy()
            .repository_name(r.name)
            .policy_text(doc.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Scans an image and gives it no findings (what a clean scan reports).
async fn scan_clean(aws: &LocalAws, ecr: &aws_sdk_ecr::Client, repo: &str, digest: &str) {
    let id = ImageIdentifier::builder().image_digest(digest).build();
    ecr.start_image_scan().repository_name(repo).image_id(id.clone()).send().await.unwrap_or_else(|e| panic!("{e}"));
    aws.set_scan_findings(repo, digest, &[]);
    // moto hands custom results to the image when they are first read.
    ecr.describe_image_scan_findings()
        .repository_name(repo)
        .image_id(id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

fn check<'r>(report: &'r AuditReport, repo: &str, id: &str) -> (Status, &'r str) {
    let r = report.repositories.iter().find(|r| r.name == repo).unwrap_or_else(|| panic!("{repo} not in the report"));
    let c = r.checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{repo} has no {id}"));
    (c.status, c.message.as_str())
}

/// A registry with repositories that pass and fail each check.
async fn seed_registry(aws: &LocalAws) -> aws_sdk_ecr::Client {
    let ecr = aws.ecr().await;
    let public = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": ["ecr:BatchGetImage"]}]});
    let org = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "MyOrg", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["ecr:BatchGetImage"],
         "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}]});
    let drifted = PolicyParams { keep_tagged: 20, untagged_days: 14, ..PolicyParams::default() };
    let repos = [
        Repo::good("good"),
        Repo { repository_policy: Some(public), ..Repo::good("public") },
        Repo { repository_policy: Some(org), ..Repo::good("org-shared") },
        Repo { scan_on_push: false, ..Repo::good("registry-covered") },
        Repo { scan_on_push: false, ..Repo::good("unscanned") },
        Repo { mutability: "MUTABLE", ..Repo::good("mut-mutable") },
        Repo { mutability: "IMMUTABLE_WITH_EXCLUSION", exclusions: &["latest"], ..Repo::good("mut-immutable-excl") },
        Repo { mutability: "MUTABLE_WITH_EXCLUSION", exclusions: &["v*"], ..Repo::good("mut-mutable-excl") },
        Repo { kms: false, ..Repo::good("aes") },
        Repo::good("overdue"),
        Repo::good("unmanaged"),
        Repo { policy: None, ..Repo::good("nopolicy") },
        Repo { policy: Some(drifted), ..Repo::good("drifted") },
    ];
    for r in &repos {
        create(&ecr, r).await;
    }
    let rule = RegistryScanningRule::builder()
        .scan_frequency(ScanFrequency::ScanOnPush)
        .repository_filters(
            ScanningRepositoryFilter::builder()
                .filter("registry-*")
                .filter_type(ScanningRepositoryFilterType::Wildcard)
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
        )
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    ecr.put_registry_scanning_configuration()
        .scan_type(ScanType::Basic)
        .rules(rule)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let digest = seed::push_unique(&ecr, "good", Some("v1.0"), "good-1").await;
    scan_clean(aws, &ecr, "good", &digest).await;
    seed::push_unique(&ecr, "overdue", None, "old-build-1").await;
    seed::push_unique(&ecr, "overdue", None, "old-build-2").await;
    seed::push_unique(&ecr, "unmanaged", Some("latest"), "latest-1").await;
    seed::push_unique(&ecr, "unmanaged", Some("main-3f2a"), "main-1").await;
    ecr
}

#[tokio::test(flavor = "multi_thread")]
async fn every_check_passes_and_fails_where_it_should() {
    let aws = LocalAws::start();
    let ecr = seed_registry(&aws).await;
    let counter = CallCounter::default();
    let registry = EcrRegistry::new(aws.counted_ecr(&counter).await);
    let options = AuditOptions { region: "us-east-1".into(), ..AuditOptions::default() };
    let report = audit(&registry, &settings(), &options, later()).await.unwrap_or_else(|e| panic!("{e}"));

    assert!(report.complete);
    assert_eq!(report.registry_id, "123456789012");
    assert_eq!(report.summary.repositories, 13);
    let expect = [
        ("good", "LC-1", Status::Pass),
        ("nopolicy", "LC-1", Status::Fail),
        ("nopolicy", "LC-3", Status::Fail),
        ("good", "LC-3", Status::Pass),
        ("unmanaged", "LC-4", Status::Warn),
        ("good", "LC-4", Status::Pass),
        ("overdue", "LC-5", Status::Fail),
        ("good", "LC-5", Status::Pass),
        ("drifted", "LC-6", Status::Warn),
        ("good", "LC-6", Status::Pass),
        ("registry-covered", "SCAN-1", Status::Pass),
        ("unscanned", "SCAN-1", Status::Fail),
        ("good", "SCAN-2", Status::Pass),
        ("unmanaged", "SCAN-2", Status::Fail),
        ("good", "TAG-1", Status::Pass),
        ("mut-immutable-excl", "TAG-1", Status::Warn),
        ("mut-mutable", "TAG-1", Status::Fail),
        ("mut-mutable-excl", "TAG-1", Status::Fail),
        ("good", "ENC-1", Status::Pass),
        ("aes", "ENC-1", Status::Info),
        ("public", "POL-1", Status::Fail),
        ("org-shared", "POL-1", Status::Pass),
        ("good", "POL-1", Status::Pass),
        ("good", "QUOTA-1", Status::Pass),
    ];
    for (repo, id, status) in expect {
        let (got, message) = check(&report, repo, id);
        assert_eq!(got, status, "{repo} {id}: {message}");
    }
    assert!(check(&report, "overdue", "LC-5").1.starts_with("2 images"), "{}", check(&report, "overdue", "LC-5").1);
    assert_eq!(check(&report, "drifted", "LC-6").1, "drifts from the standard: keeps 20 v* images (standard: 10); expires untagged images after 14 days (standard: 7)");
    assert!(check(&report, "unmanaged", "LC-4").1.contains("latest"));
    assert!(check(&report, "mut-immutable-excl", "TAG-1").1.ends_with("except those matching latest"));
    assert!(check(&report, "public", "POL-1").1.contains("statement Everyone"));
    let good = report.repositories.iter().find(|r| r.name == "good").unwrap_or_else(|| panic!("no good"));
    assert!(!good.failed(), "{:?}", good.checks);
    assert_eq!(report.summary.overdue.images, 2);
    assert_eq!(report.summary.unmanaged.images, 2);
    assert_eq!(report.summary.by_check.get("TAG-1").map(|c| (c.pass, c.warn, c.fail)), Some((10, 1, 2)));

    // The minimum of calls: one listing, the scanning configuration, the pull-time update
    // exclusions and the registry's rules (three calls) once, three reads a repository, and one DescribeImageScanFindings for each
    // repository whose newest image DescribeImages gives no scan (basic scans, as today's ECR).
    let calls = counter.calls();
    let count = |op: &str| calls.iter().filter(|c| *c == op).count();
    assert_eq!(count("DescribeRepositories"), 1);
    assert_eq!(count("GetRegistryScanningConfiguration"), 1);
    assert_eq!(count("ListPullTimeUpdateExclusions"), 1);
    for op in ["DescribeRepositoryCreationTemplates", "DescribePullThroughCacheRules", "DescribeRegistry"] {
        assert_eq!(count(op), 1, "the registry's rules once a run: {op}");
    }
    for op in ["GetLifecyclePolicy", "GetRepositoryPolicy", "DescribeImages"] {
        assert_eq!(count(op), 13, "{op}");
    }
    let with_images = report
        .repositories
        .iter()
        .filter(|r| r.checks.iter().any(|c| c.id == "SCAN-2" && c.message != "no images"))
        .count();
    assert_eq!(count("DescribeImageScanFindings"), with_images, "{calls:?}");
    assert_eq!(calls.len(), 6 + 3 * 13 + with_images, "{calls:?}");

    // One struct, two renderings.
    let json = serde_json::to_value(&report).unwrap_or_default();
    assert_eq!(json["repositories"][0]["checks"][0]["id"], "LC-1");
    assert!(json["summary"]["byCheck"]["LC-1"]["fail"].as_u64() == Some(1));
    let md = report.to_markdown();
    assert!(md.starts_with("# ECR lifecycle audit"));
    assert!(md.contains("## public (0 images) — non-compliant"));

    // Metrics: totals without dimensions for alarms, per repository with.
    let metrics = audit_metrics(&report);
    let total = |name: &str| metrics.iter().find(|m| m.name == name && m.dimensions.is_empty()).map(|m| m.value);
    assert_eq!(total("OverdueImages"), Some(2.0));
    assert_eq!(total("NonCompliantRepositories"), Some(report.summary.non_compliant as f64));
    assert_eq!(total("AuditIncomplete"), Some(0.0));
    assert!(metrics
        .iter()
        .any(|m| m.name == "CheckFailures" && m.dimensions == [("Check", "POL-1".to_string())] && m.value == 1.0));
    drop(ecr);
}

#[tokio::test(flavor = "multi_thread")]
async fn remediation_lists_then_applies_and_never_replaces() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo { policy: None, scan_on_push: false, ..Repo::good("bare") }).await;
    create(
        &ecr,
        &Repo { policy: Some(PolicyParams { keep_tagged: 3, ..PolicyParams::default() }), ..Repo::good("custom") },
    )
    .await;
    let registry = EcrRegistry::new(ecr.clone());
    let dry = AuditOptions {
        remediation: Remediation { lifecycle: true, scan: true, apply: false, ..Remediation::default() },
        ..AuditOptions::default()
    };
    let report = audit(&registry, &settings(), &dry, later()).await.unwrap_or_else(|e| panic!("{e}"));
    let planned: Vec<(&str, &str, bool)> =
        report.remediation.iter().map(|a| (a.repository.as_str(), a.action.as_ref(), a.applied)).collect();
    assert_eq!(planned, [("bare", "apply-lifecycle-policy", false), ("bare", "enable-scan-on-push", false)]);
    assert!(ecr.get_lifecycle_policy().repository_name("bare").send().await.is_err(), "a dry run changes nothing");

    let apply = AuditOptions {
        remediation: Remediation { lifecycle: true, scan: true, apply: true, ..Remediation::default() },
        ..AuditOptions::default()
    };
    let report = audit(&registry, &settings(), &apply, later()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.remediation.iter().all(|a| a.applied), "{:?}", report.remediation);
    let after =
        audit(&registry, &settings(), &AuditOptions::default(), later()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check(&after, "bare", "LC-1").0, Status::Pass);
    assert_eq!(check(&after, "bare", "SCAN-1").0, Status::Pass);
    assert!(after.remediation.is_empty());
    // The custom policy (keep 3) was left alone: drift is reported, not "fixed".
    assert_eq!(check(&after, "custom", "LC-6").0, Status::Warn);
    let custom = ecr.get_lifecycle_policy().repository_name("custom").send().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(custom.lifecycle_policy_text().unwrap_or_default().contains("\"countNumber\":3"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_repository_pages_and_the_deadline_stops_cleanly() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo::good("big")).await;
    // 2,500 images: more than two pages of 1,000.
    let mut pushes = Vec::new();
    for k in 0..2500 {
        let ecr = ecr.clone();
        pushes.push(tokio::spawn(async move {
            seed::push_unique(&ecr, "big", Some(&format!("v{k}")), &format!("big-{k}")).await
        }));
        if pushes.len() == 16 {
            for p in pushes.drain(..) {
                let _ = p.await;
            }
        }
    }
    for p in pushes {
        let _ = p.await;
    }
    let registry = EcrRegistry::new(ecr.clone());
    let report =
        audit(&registry, &settings(), &AuditOptions::default(), later()).await.unwrap_or_else(|e| panic!("{e}"));
    let big = &report.repositories[0];
    assert_eq!(big.images, 2500);
    assert_eq!(big.expirable.images, 2490, "keep the 10 newest v* images");
    assert_eq!(check(&report, "big", "QUOTA-1").0, Status::Pass);

    // A deadline already passed: nothing is started, the report says what was not reached.
    let late = AuditOptions { deadline: Some(tokio::time::Instant::now()), ..AuditOptions::default() };
    let report = audit(&registry, &settings(), &late, later()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.complete);
    assert_eq!(report.unreached, ["big"]);
    assert_eq!(audit_metrics(&report).iter().find(|m| m.name == "AuditIncomplete").map(|m| m.value), Some(1.0));
}

fn cli(aws: &LocalAws, args: &[&str]) -> std::process::Output {
    let bin = ecr_keeper_tests::repo_root().join("target/debug/ecr-keeper");
    Command::new(&bin)
        .arg("audit")
        .args(args)
        .envs(aws.process_env())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (build the CLI first: cargo build -p ecr-keeper-cli)", bin.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_exit_code_says_pass_fail_or_cannot_read() {
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo::good("good")).await;
    let ok = cli(&aws, &["--output", "json"]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap_or_default();
    assert_eq!(report["summary"]["nonCompliant"], 0);

    create(&ecr, &Repo { mutability: "MUTABLE", ..Repo::good("loose") }).await;
    let failed = cli(&aws, &["--repository-prefix", "loo"]);
    assert_eq!(failed.status.code(), Some(1));
    let md = String::from_utf8_lossy(&failed.stdout);
    assert!(md.contains("## loose (0 images) — non-compliant") && !md.contains("## good"), "{md}");

    let fix = cli(&aws, &["--repository-prefix", "loo", "--fix", "--output", "json"]);
    let fix_report: serde_json::Value = serde_json::from_slice(&fix.stdout).unwrap_or_default();
    assert!(fix_report.get("remediation").is_none(), "mutability is not remediated: only policies and scanning");

    let usage = cli(&aws, &["--yes"]);
    assert_eq!(usage.status.code(), Some(2), "--yes without --fix is a usage error");
}

/// REG-*: the registry's creation templates, pull-through cache rules and replication, as the
/// ECR API answers them (the harness models the first two), judged once per registry in the
/// CLI's JSON and markdown, and a failure is the CLI's exit 1.
#[tokio::test(flavor = "multi_thread")]
async fn the_registry_checks_judge_templates_pull_through_cache_and_replication() {
    use aws_sdk_ecr::types::{RctAppliedFor, ReplicationConfiguration, ReplicationDestination, ReplicationRule};
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo::good("good")).await;
    let reg = |out: &std::process::Output| -> Vec<(String, String, String)> {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let checks = report["registryChecks"].as_array().cloned().unwrap_or_default();
        checks
            .iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (s("id"), s("status"), s("message"))
            })
            .collect()
    };

    // Nothing is created or copied without a stack: every REG check passes.
    let clean = cli(&aws, &["--output", "json"]);
    assert_eq!(clean.status.code(), Some(0), "{}", String::from_utf8_lossy(&clean.stderr));
    let statuses: Vec<(String, String)> = reg(&clean).into_iter().map(|(id, status, _)| (id, status)).collect();
    let pass = |id: &str| (id.to_string(), "PASS".to_string());
    assert_eq!(statuses, [pass("REG-1"), pass("REG-2"), pass("REG-3"), pass("REG-4")]);

    // Create on push from a ROOT template without a policy, a cache without a template, and
    // replication to another region.
    ecr.create_repository_creation_template()
        .prefix("ROOT")
        .applied_for(RctAppliedFor::CreateOnPush)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    ecr.create_pull_through_cache_rule()
        .ecr_repository_prefix("docker-hub")
        .upstream_registry_url("registry-1.docker.io")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let destination = ReplicationDestination::builder().region("us-west-2").registry_id("123456789012").build();
    let rule = ReplicationRule::builder().destinations(destination.unwrap_or_else(|e| panic!("{e}"))).build();
    let replication = ReplicationConfiguration::builder().rules(rule.unwrap_or_else(|e| panic!("{e}"))).build();
    ecr.put_replication_configuration()
        .replication_configuration(replication.unwrap_or_else(|e| panic!("{e}")))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let loose = cli(&aws, &["--output", "json"]);
    assert_eq!(loose.status.code(), Some(1), "a registry check failing fails the audit");
    let checks = reg(&loose);
    let find = |id: &str| checks.iter().find(|c| c.0 == id).cloned().unwrap_or_else(|| panic!("no {id}: {checks:?}"));
    assert_eq!(find("REG-1"), ("REG-1".into(), "FAIL".into(), "the ROOT template gives no lifecycle policy".into()));
    assert_eq!(find("REG-2").1, "FAIL");
    assert!(find("REG-2").2.contains("images cached from registry-1.docker.io under docker-hub/ are never expired"));
    assert_eq!(find("REG-3").1, "WARN");
    assert!(find("REG-3").2.contains("us-west-2 (123456789012)"), "{:?}", find("REG-3"));
    assert_eq!(find("REG-4").1, "WARN", "no registry scanning rule covers what the ROOT template creates");

    // `--fix` lists a template of the standard for the cache; with --yes it creates it (the ROOT
    // template without a policy is someone's: named, never changed).
    let created = |out: &std::process::Output| -> Vec<(String, bool)> {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let actions = report["remediation"].as_array().cloned().unwrap_or_default();
        let templates = actions.iter().filter(|a| a["action"] == "create-creation-template");
        templates.map(|a| (a["detail"].as_str().unwrap_or_default().to_string(), a["applied"] == true)).collect()
    };
    let listed = created(&cli(&aws, &["--fix", "--output", "json"]));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0].0.starts_with("docker-hub/ for PULL_THROUGH_CACHE") && !listed[0].1, "{listed:?}");
    let templates = ecr.describe_repository_creation_templates().send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(templates.repository_creation_templates().len(), 1, "a dry run creates nothing");
    let applied = created(&cli(&aws, &["--fix", "--yes", "--output", "json"]));
    assert!(applied.len() == 1 && applied[0].1, "{applied:?}");
    let templates = ecr.describe_repository_creation_templates().send().await.unwrap_or_else(|e| panic!("{e}"));
    let cache = templates.repository_creation_templates().iter().find(|t| t.prefix() == Some("docker-hub"));
    let standard = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}")).to_json();
    assert_eq!(cache.map(|t| t.applied_for().to_vec()), Some(vec![RctAppliedFor::PullThroughCache]));
    assert_eq!(cache.and_then(|t| t.lifecycle_policy()), Some(standard.as_str()));
    let covered = cli(&aws, &["--output", "json"]);
    assert_eq!(reg(&covered).iter().find(|c| c.0 == "REG-2").map(|c| c.1.as_str()), Some("PASS"));
    let md = String::from_utf8_lossy(&cli(&aws, &[]).stdout).to_string();
    assert!(
        md.contains("## The registry")
            && md.contains("| REG-1 | FAIL | HIGH | the ROOT template gives no lifecycle policy |"),
        "{md}"
    );
}

/// Referrers as ECR reports them (subjectManifestDigest, artifactMediaType; the harness reads
/// them from the manifest as ECR does): the adapter and the preview's input keep them, the
/// preview expires a signature with its subject and shows it under it, QUOTA-1 counts it.
#[tokio::test(flavor = "multi_thread")]
async fn a_signature_is_read_as_its_images_referrer_and_expires_with_it() {
    const SIGNATURE: &str = "application/vnd.cncf.notary.signature";
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo::good("signed")).await;
    let old = seed::push_unique(&ecr, "signed", Some("v1"), "signed-1").await;
    seed::push_unique(&ecr, "signed", Some("v2"), "signed-2").await;
    let signature = seed::push(&ecr, "signed", None, &seed::referrer_manifest(&old, SIGNATURE, "sig-1")).await;

    let images = EcrRegistry::new(ecr.clone()).describe_images("signed").await.unwrap_or_else(|e| panic!("{e}"));
    let read = images.iter().find(|i| i.digest == signature).map(|i| (i.subject.clone(), i.artifact_type.clone()));
    assert_eq!(read, Some((Some(old.clone()), Some(SIGNATURE.to_string()))));
    assert!(images.iter().filter(|i| i.digest != signature).all(|i| i.subject.is_none()));

    // The preview of `aws ecr describe-images`' output, v1 a day older: keep one v* image.
    let mut listed = seed::describe_images_json(&ecr, "signed").await;
    for d in listed["imageDetails"].as_array_mut().into_iter().flatten() {
        if d["imageDigest"] == old.as_str() {
            d["imagePushedAt"] = serde_json::json!(d["imagePushedAt"].as_i64().unwrap_or_default() - 86_400);
        }
    }
    let dir = std::env::temp_dir().join(format!("ecr-keeper-referrers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let images_file = dir.join("images.json");
    std::fs::write(&images_file, listed.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let policy_file = dir.join("policy.json");
    let policy = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
    std::fs::write(&policy_file, policy).unwrap_or_else(|e| panic!("{e}"));
    let preview = |output: &str| {
        Command::new(ecr_keeper_tests::repo_root().join("target/debug/ecr-keeper"))
            .args(["lifecycle", "preview", "--policy"])
            .arg(&policy_file)
            .arg("--images")
            .arg(&images_file)
            .args(["--output", output])
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let json: serde_json::Value = serde_json::from_slice(&preview("json").stdout).unwrap_or_default();
    let actions = json["actions"].as_array().cloned().unwrap_or_default();
    let expired: Vec<&str> = actions.iter().filter_map(|a| a["imageDigest"].as_str()).collect();
    assert!(expired.contains(&old.as_str()) && expired.contains(&signature.as_str()), "{json}");
    let by_subject = actions.iter().find(|a| a["imageDigest"] == signature.as_str());
    assert_eq!(by_subject.map(|a| a["withSubject"].clone()), Some(serde_json::json!(old)), "{json}");
    let table = String::from_utf8_lossy(&preview("table").stdout).to_string();
    let row = |d: &str| table.lines().position(|l| l.contains(&ecr_keeper_core::image::short_digest(d)));
    assert_eq!(row(&signature), row(&old).map(|r| r + 1), "the signature right under v1:\n{table}");
    assert!(table.contains(&format!("└ {SIGNATURE}")), "{table}");

    // QUOTA-1 counts it as ECR's quota does.
    let registry = EcrRegistry::new(ecr.clone());
    let options = AuditOptions { region: "us-east-1".into(), ..AuditOptions::default() };
    let report = audit(&registry, &settings(), &options, later()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        check(&report, "signed", "QUOTA-1").1,
        "3 images (of which 1 referrers: signatures, SBOMs, attestations)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--fix` with a standard that archives writes ECR's archive grammar on moto (the harness knows
/// it): a transition after 30 days without a pull and an archive expiry; then LC-6 passes.
#[tokio::test(flavor = "multi_thread")]
async fn fix_applies_a_standard_that_archives() {
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo { policy: None, ..Repo::good("bare") }).await;
    let standard = [
        "--standard-archive-after-days-without-pull",
        "30",
        "--standard-expire-archived-after-days",
        "180",
        "--output",
        "json",
    ];
    let fixed = cli(&aws, &[&["--fix", "--yes"], &standard[..]].concat());
    let report: serde_json::Value = serde_json::from_slice(&fixed.stdout).unwrap_or_default();
    let applied = report["remediation"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["action"] == "apply-lifecycle-policy")
        .cloned();
    assert_eq!(applied.as_ref().map(|a| a["applied"].clone()), Some(serde_json::json!(true)), "{report}");
    assert!(applied
        .and_then(|a| a["detail"].as_str().map(str::to_owned))
        .unwrap_or_default()
        .contains("archive after 30 days without a pull"));
    let text = ecr
        .get_lifecycle_policy()
        .repository_name("bare")
        .send()
        .await
        .ok()
        .and_then(|p| p.lifecycle_policy_text().map(str::to_owned));
    let policy: serde_json::Value = serde_json::from_str(&text.unwrap_or_default()).unwrap_or_default();
    let rules = policy["rules"].as_array().cloned().unwrap_or_default();
    assert!(
        rules.iter().any(|r| r["action"]["type"] == "transition"
            && r["selection"]["countType"] == "sinceImagePulled"
            && r["selection"]["countNumber"] == 30),
        "{policy}"
    );
    assert!(
        rules.iter().any(|r| r["selection"]["storageClass"] == "archive" && r["selection"]["countNumber"] == 180),
        "{policy}"
    );
    let again: serde_json::Value = serde_json::from_slice(&cli(&aws, &standard).stdout).unwrap_or_default();
    let lc_6 =
        again["repositories"][0]["checks"].as_array().and_then(|c| c.iter().find(|c| c["id"] == "LC-6").cloned());
    assert_eq!(lc_6.map(|c| c["status"].clone()), Some(serde_json::json!("PASS")));
}

/// LC-7 on moto through the CLI: a named scanner without a pull-time update exclusion warns,
/// `--fix` lists then registers the exclusion (the harness serves the API, cited), and LC-7
/// passes in that same run and after.
#[tokio::test(flavor = "multi_thread")]
async fn a_named_scanner_is_checked_and_fix_excludes_it_from_pull_time_updates() {
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    let archives = PolicyParams { archive_after_days: Some(30), ..PolicyParams::default() };
    create(&ecr, &Repo { policy: Some(archives), ..Repo::good("app") }).await;
    let snyk = format!("arn:aws:iam::{}:role/snyk-scanner", ecr_keeper_tests::ACCOUNT);
    let lc_7 = |out: &std::process::Output| -> (serde_json::Value, Vec<serde_json::Value>) {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let check = report["repositories"][0]["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == "LC-7").cloned())
            .unwrap_or_default();
        let actions = report["remediation"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["action"] == "register-pull-time-update-exclusion")
            .cloned()
            .collect();
        (check, actions)
    };
    let (check, actions) = lc_7(&cli(&aws, &["--scanner-role", &snyk, "--fix", "--output", "json"]));
    assert_eq!(check["status"], "WARN", "{check}");
    assert!(check["message"].as_str().unwrap_or_default().ends_with(&format!("--principal-arn {snyk}")), "{check}");
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["applied"], false, "a dry run");
    let excluded = |ecr: aws_sdk_ecr::Client| async move {
        ecr.list_pull_time_update_exclusions()
            .send()
            .await
            .map(|o| o.pull_time_update_exclusions().to_vec())
            .unwrap_or_default()
    };
    assert!(excluded(ecr.clone()).await.is_empty(), "nothing registered in a dry run");

    let (check, actions) = lc_7(&cli(&aws, &["--scanner-role", &snyk, "--fix", "--yes", "--output", "json"]));
    assert_eq!((actions.len(), actions.first().map(|a| a["applied"].clone())), (1, Some(serde_json::json!(true))));
    assert_eq!(check["status"], "PASS", "{check}");
    assert_eq!(excluded(ecr.clone()).await, std::slice::from_ref(&snyk));
    let (check, actions) = lc_7(&cli(&aws, &["--scanner-role", &snyk, "--output", "json"]));
    assert_eq!((check["status"].clone(), actions.len()), (serde_json::json!("PASS"), 0));

    let refused = cli(&aws, &["--scanner-role", "snyk-scanner"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--scanner-role") && stderr.contains("is not an IAM role or user ARN"), "{stderr}");
}

/// QUOTA-1 reads the quota AWS applied to the account (Service Quotas) and counts referrers
/// toward it; without a grant it reads ECR's default.
#[tokio::test(flavor = "multi_thread")]
async fn quota_1_counts_signatures_against_the_applied_quota() {
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo::good("signed")).await;
    let v1 = seed::push_unique(&ecr, "signed", Some("v1"), "quota-1").await;
    seed::push_unique(&ecr, "signed", Some("v2"), "quota-2").await;
    for i in 0..2 {
        let signature = seed::referrer_manifest(&v1, "application/vnd.cncf.notary.signature", &format!("sig-{i}"));
        seed::push(&ecr, "signed", None, &signature).await;
    }
    let quota_1 = |aws: &LocalAws| {
        let report: serde_json::Value =
            serde_json::from_slice(&cli(aws, &["--output", "json"]).stdout).unwrap_or_default();
        report["repositories"][0]["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == "QUOTA-1").cloned())
            .unwrap_or_default()
    };
    let default = quota_1(&aws);
    assert_eq!(default["status"], "PASS", "{default}");
    assert_eq!(default["evidence"]["quota"], 100_000, "the harness answers ECR's default: {default}");
    assert_eq!(default["message"], "4 images (of which 2 referrers: signatures, SBOMs, attestations)");

    aws.set_images_per_repository_quota(ecr_keeper_tests::ACCOUNT, 5);
    let granted = quota_1(&aws);
    assert_eq!(granted["status"], "WARN", "4 of 5 is 80 %: {granted}");
    assert_eq!(
        granted["message"],
        "4 images (of which 2 referrers: signatures, SBOMs, attestations): at or above 80 % of the applied quota (Service Quotas), 5 per repository"
    );
    assert_eq!(granted["evidence"]["quotaSource"], "service-quotas");
}

/// `--security-hub` on moto (which serves BatchImportFindings and GetFindings): a failing check is
/// one ACTIVE finding with a stable id, a re-run updates it rather than adding one, and once the
/// repository is fixed the same finding is archived as PASSED.
#[tokio::test(flavor = "multi_thread")]
async fn security_hub_gets_one_finding_per_check_updated_then_archived_when_fixed() {
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo { policy: None, ..Repo::good("app") }).await;
    let hub = aws_sdk_securityhub::Client::new(&aws.sdk_config().await);
    let lc_1 = "ecr-keeper/123456789012/us-east-1/repository/app/LC-1";
    // Boxed: the SDK's future is large in a debug build, and this test awaits it often.
    let found = |hub: aws_sdk_securityhub::Client| {
        Box::pin(async move {
            let out = hub.get_findings().send().await.unwrap_or_else(|e| panic!("{e}"));
            out.findings().to_vec()
        })
    };

    // What the report itself counts as findings: every FAIL, WARN and ERROR
    let judged = |out: &std::process::Output| -> Vec<String> {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let mut ids = Vec::new();
        for c in report["repositories"][0]["checks"].as_array().into_iter().flatten() {
            if ["FAIL", "WARN", "ERROR"].contains(&c["status"].as_str().unwrap_or_default()) {
                ids.push(format!(
                    "ecr-keeper/123456789012/us-east-1/repository/app/{}",
                    c["id"].as_str().unwrap_or_default()
                ));
            }
        }
        for c in report["registryChecks"].as_array().into_iter().flatten() {
            if ["FAIL", "WARN", "ERROR"].contains(&c["status"].as_str().unwrap_or_default()) {
                ids.push(format!(
                    "ecr-keeper/123456789012/us-east-1/registry/{}",
                    c["id"].as_str().unwrap_or_default()
                ));
            }
        }
        ids
    };
    let first = cli(&aws, &["--security-hub", "--output", "json"]);
    let expected = judged(&first);
    assert!(expected.iter().any(|id| id == lc_1), "{expected:?}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains(&format!("ecr-keeper: Security Hub: {} active, 0 archived", expected.len())), "{stderr}");
    let findings = found(hub.clone()).await;
    let mut ids: Vec<&str> = findings.iter().filter_map(|f| f.id()).collect();
    ids.sort();
    let mut wanted: Vec<&str> = expected.iter().map(String::as_str).collect();
    wanted.sort();
    assert_eq!(ids, wanted);
    let f = findings.iter().find(|f| f.id() == Some(lc_1)).cloned().unwrap_or_else(|| panic!("no LC-1 finding"));
    assert_eq!(f.generator_id(), Some("LC-1"));
    assert_eq!(f.aws_account_id(), Some("123456789012"));
    assert_eq!(f.product_arn(), Some("arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"));
    assert_eq!(f.compliance().and_then(|c| c.status()).map(|s| s.as_str()), Some("FAILED"));
    assert_eq!(f.resources()[0].r#type(), Some("AwsEcrRepository"));
    assert_eq!(f.resources()[0].id(), Some("arn:aws:ecr:us-east-1:123456789012:repository/app"));
    assert!(f.remediation().and_then(|r| r.recommendation()).and_then(|r| r.text()).is_some());

    // A second run updates the same findings
    cli(&aws, &["--security-hub", "--output", "json"]);
    assert_eq!(found(hub.clone()).await.len(), expected.len());

    // Fixed: the standard policy, and LC-1's finding is archived as PASSED
    let text = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}")).to_json();
    ecr.put_lifecycle_policy()
        .repository_name("app")
        .lifecycle_policy_text(text)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let fixed = cli(&aws, &["--security-hub", "--output", "json"]);
    let still = judged(&fixed);
    assert!(!still.iter().any(|id| id == lc_1));
    let archived = expected.iter().filter(|id| !still.contains(id)).count();
    let stderr = String::from_utf8_lossy(&fixed.stderr);
    assert!(
        stderr.contains(&format!("ecr-keeper: Security Hub: {} active, {archived} archived", still.len())),
        "{stderr}"
    );
    let findings = found(hub.clone()).await;
    let f = findings.iter().find(|f| f.id() == Some(lc_1)).cloned().unwrap_or_else(|| panic!("no LC-1 finding"));
    assert_eq!(f.record_state().map(|s| s.as_str()), Some("ARCHIVED"));
    assert_eq!(f.compliance().and_then(|c| c.status()).map(|s| s.as_str()), Some("PASSED"));

    // Over an organization (here its own account), each registry's findings go into its own
    // account: the same ids, so the run updates them and adds none
    let org = cli(&aws, &["--security-hub", "--accounts", "123456789012", "--regions", "us-east-1"]);
    let stderr = String::from_utf8_lossy(&org.stderr);
    assert!(matches!(org.status.code(), Some(0 | 1)), "{stderr}");
    let again = found(hub.clone()).await;
    assert_eq!(again.len(), findings.len(), "no finding added");
    let f = again.iter().find(|f| f.id() == Some(lc_1)).cloned().unwrap_or_else(|| panic!("no LC-1 finding"));
    assert_eq!(f.record_state().map(|s| s.as_str()), Some("ARCHIVED"), "still archived: its check passes");
}

fn empty_home() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ecr-keeper-empty-home-{}", std::process::id()))
}

/// The CLI with an environment of its own: nothing from the test's, no instance metadata.
fn bare_cli(args: &[&str], env: &[(&str, String)]) -> (Option<i32>, String) {
    let bin = ecr_keeper_tests::repo_root().join("target/debug/ecr-keeper");
    let home = empty_home();
    let _ = std::fs::create_dir_all(&home);
    let out = Command::new(&bin)
        .args(args)
        .env_clear()
        .env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_failures_reach_the_user_as_one_line_with_what_to_do() {
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo::good("app")).await;
    let keys = [("AWS_ACCESS_KEY_ID", "testing".to_string()), ("AWS_SECRET_ACCESS_KEY", "testing".to_string())];
    let region = ("AWS_REGION", "us-east-1".to_string());
    let endpoint = ("AWS_ENDPOINT_URL", aws.endpoint_url.clone());
    let one_line = |stderr: &str| {
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line, not an SDK dump:\n{stderr}");
        assert!(!stderr.contains("DispatchFailure") && !stderr.contains("SdkError"), "{stderr}");
    };

    // No credentials at all: named variables and profile, before any call.
    let (code, err) = bare_cli(&["audit"], &[region.clone(), endpoint.clone()]);
    assert_eq!(code, Some(2), "{err}");
    one_line(&err);
    assert!(
        err.contains("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"),
        "{err}"
    );

    // No region.
    let (code, err) = bare_cli(&["cost-report"], &[keys[0].clone(), keys[1].clone(), endpoint.clone()]);
    assert_eq!(code, Some(2), "{err}");
    one_line(&err);
    assert!(err.contains("no AWS region: pass --region, or set AWS_REGION"), "{err}");

    // Nothing listens at the endpoint: which one, and why, at once (no retries).
    let closed = format!("http://127.0.0.1:{}", ecr_keeper_tests::free_port());
    let (code, err) =
        bare_cli(&["audit", "--endpoint-url", &closed], &[keys[0].clone(), keys[1].clone(), region.clone()]);
    assert_eq!(code, Some(2), "{err}");
    one_line(&err);
    assert!(
        err.contains(&format!("cannot use {closed}: no connection")) && err.contains("Connection refused"),
        "{err}"
    );

    // Access denied, as ECR answers it (the fault proxy plays IAM).
    let proxy = FaultProxy::start(&aws.endpoint_url).await;
    proxy.set_rules(vec![Rule::new(
        Operations::named(&["DescribeRepositories"]),
        When::Always,
        Fault::Error {
            status: 400,
            code: "AccessDeniedException".into(),
            message: "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: ecr:DescribeRepositories"
                .into(),
        },
    )]);
    let via = ("AWS_ENDPOINT_URL", proxy.url.clone());
    let (code, err) = bare_cli(&["audit"], &[keys[0].clone(), keys[1].clone(), region.clone(), via]);
    assert_eq!(code, Some(2), "{err}");
    one_line(&err);
    assert!(err.contains("access denied: the credentials in use may not call ecr:DescribeRepositories"), "{err}");

    // A prefix that matches nothing is an error naming the registry, not an empty report.
    for command in ["audit", "cost-report"] {
        let (code, err) = bare_cli(
            &[command, "--repository-prefix", "nope/"],
            &[keys[0].clone(), keys[1].clone(), region.clone(), endpoint.clone()],
        );
        assert_eq!(code, Some(2), "{command}: {err}");
        assert!(err.contains("no repository name starts with \"nope/\""), "{command}: {err}");
    }
    let (_, err) =
        bare_cli(&["audit", "--repository-prefix", "nope/"], &[keys[0].clone(), keys[1].clone(), region, endpoint]);
    assert!(err.contains("in registry 123456789012 (us-east-1)"), "{err}");
    let _ = std::fs::remove_dir_all(empty_home());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_that_cannot_be_read_gives_error_results_and_the_audit_goes_on() {
    use ecr_keeper_core::ports::RegistryError;
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo::good("fine")).await;
    create(&ecr, &Repo::good("locked")).await;
    let registry = ecr_keeper_tests::faults::FailingFor {
        inner: EcrRegistry::new(ecr.clone()),
        repository: "locked".into(),
        error: ecr_keeper_tests::faults::Failure::Error(RegistryError::AccessDenied {
            operation: "GetLifecyclePolicy",
            message: "not authorized".into(),
        }),
    };
    let report =
        audit(&registry, &settings(), &AuditOptions::default(), later()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.complete);
    assert!(report.any_error());
    let (status, message) = check(&report, "locked", "READ");
    assert_eq!(status, Status::Error);
    assert!(message.starts_with("GetLifecyclePolicy: access denied"), "{message}");
    assert_eq!(check(&report, "fine", "LC-1").0, Status::Pass, "the other repository was audited");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_half_of_every_read_throttled_the_report_equals_the_fault_free_one() {
    use ecr_keeper_aws::RetryProfile;
    let aws = LocalAws::start();
    seed_registry(&aws).await;
    let (options, now) = (AuditOptions { region: "us-east-1".into(), ..AuditOptions::default() }, later());
    let clean =
        audit(&EcrRegistry::new(aws.ecr().await), &settings(), &options, now).await.unwrap_or_else(|e| panic!("{e}"));

    let proxy = FaultProxy::start(&aws.endpoint_url).await;
    proxy.set_rules(vec![Rule::new(Operations::Reads, When::Probability { p: 0.5, seed: 2026 }, Fault::Throttle)]);
    let ecr = aws_sdk_ecr::Client::new(&aws.sdk_config_via(&proxy.url, RetryProfile::Scheduled).await);
    let throttled =
        audit(&EcrRegistry::new(ecr), &settings(), &options, now).await.unwrap_or_else(|e| panic!("throttled: {e}"));

    let injected = proxy.injected();
    // Every call the audit makes is a read; each throttled attempt is retried, so the proxy saw
    // one extra call per fault.
    let reads = proxy.total_calls();
    assert!(injected.len() >= 20, "only {} throttles injected", injected.len());
    assert!(injected.len() * 3 >= reads && injected.len() * 3 <= reads * 2, "{} of {reads} calls", injected.len());
    assert!(throttled.complete, "{}", throttled.to_markdown());
    assert_eq!(
        serde_json::to_value(&throttled).unwrap_or_default(),
        serde_json::to_value(&clean).unwrap_or_default(),
        "the report under throttling differs from the fault-free report"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pol_1_tells_public_policies_from_restricted_ones_in_every_shape() {
    // GIVEN repository policies that open the repository to everyone in ways that look safe,
    // each beside a twin that really is restricted, stored in ECR (moto)
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    let pull = |extra: serde_json::Value| {
        let mut s = serde_json::json!({"Sid": "Pull", "Effect": "Allow", "Action": ["ecr:BatchGetImage"]});
        if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
            s.extend(extra.clone());
        }
        serde_json::json!({"Version": "2012-10-17", "Statement": [s]})
    };
    let account = serde_json::json!({"StringEquals": {"aws:PrincipalAccount": "111111111111"}});
    let cases = [
        (
            "not-principal",
            pull(serde_json::json!({"NotPrincipal": {"AWS": "arn:aws:iam::222222222222:root"}})),
            Status::Fail,
        ),
        (
            "star-in-list",
            pull(serde_json::json!({"Principal": {"AWS": ["arn:aws:iam::111111111111:root", "*"]}})),
            Status::Fail,
        ),
        (
            "ip-only",
            pull(serde_json::json!({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})),
            Status::Fail,
        ),
        (
            "not-equals",
            pull(
                serde_json::json!({"Principal": "*", "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "9"}}}),
            ),
            Status::Fail,
        ),
        (
            "if-exists",
            pull(
                serde_json::json!({"Principal": "*", "Condition": {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-a"}}}),
            ),
            Status::Fail,
        ),
        (
            "ip-and-account",
            pull(
                serde_json::json!({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "StringEquals": {"aws:PrincipalAccount": "111111111111"}}}),
            ),
            Status::Pass,
        ),
        (
            "listed-accounts",
            pull(serde_json::json!({"Principal": {"AWS": ["arn:aws:iam::111111111111:root"]}})),
            Status::Pass,
        ),
        ("star-with-account", pull(serde_json::json!({"Principal": "*", "Condition": account})), Status::Pass),
    ];
    for (name, policy, _) in &cases {
        create(&ecr, &Repo { repository_policy: Some(policy.clone()), ..Repo::good(name) }).await;
    }
    // WHEN the registry is audited
    let report = audit(&EcrRegistry::new(ecr), &settings(), &AuditOptions::default(), later())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // THEN POL-1 fails exactly the open ones, and its evidence says why
    for (name, _, status) in &cases {
        let (got, message) = check(&report, name, "POL-1");
        assert_eq!(got, *status, "{name}: {message}");
    }
    let evidence = |name: &str| {
        let r = report.repositories.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no {name}"));
        let c = r.checks.iter().find(|c| c.id == "POL-1").unwrap_or_else(|| panic!("no POL-1"));
        serde_json::to_value(&c.evidence).unwrap_or_default()
    };
    assert_eq!(
        evidence("ip-only")["statements"][0]["conditions"],
        "aws:SourceIp limits the network, not who the caller is"
    );
    assert!(evidence("not-principal")["statements"][0]["principal"]
        .as_str()
        .is_some_and(|p| p.contains("everyone except")));
}

#[tokio::test(flavor = "multi_thread")]
async fn unmanaged_means_the_same_in_the_headline_lc_4_and_the_metric_and_a_policy_lowers_it() {
    // GIVEN a repository without a lifecycle policy holding three images
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo { policy: None, ..Repo::good("bare") }).await;
    for (k, tag) in ["v1", "latest", "main-3f2a"].iter().enumerate() {
        seed::push_unique(&ecr, "bare", Some(tag), &format!("bare-{k}")).await;
    }
    let registry = EcrRegistry::new(ecr.clone());
    let unmanaged = |report: &AuditReport| {
        let metric = audit_metrics(report)
            .iter()
            .find(|m| m.name == "UnmanagedImages" && m.dimensions.is_empty())
            .map(|m| m.value as u64);
        (report.summary.unmanaged.images, check(report, "bare", "LC-4").1.to_string(), metric)
    };
    // WHEN it is audited THEN every image is unmanaged, everywhere alike
    let before =
        audit(&registry, &settings(), &AuditOptions::default(), later()).await.unwrap_or_else(|e| panic!("{e}"));
    let (headline, lc4, metric) = unmanaged(&before);
    assert_eq!((headline, metric), (3, Some(3)), "{lc4}");
    assert!(lc4.starts_with("no valid lifecycle policy: all 3 images"), "{lc4}");
    assert!(before.to_markdown().contains("Never expired (unmanaged): 3 images"));
    // WHEN the standard policy is added THEN only latest and main-3f2a stay unmanaged (v1 is kept by count)
    let text = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}")).to_json();
    ecr.put_lifecycle_policy()
        .repository_name("bare")
        .lifecycle_policy_text(text)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after =
        audit(&registry, &settings(), &AuditOptions::default(), later()).await.unwrap_or_else(|e| panic!("{e}"));
    let (headline, lc4, metric) = unmanaged(&after);
    assert_eq!((headline, metric), (2, Some(2)), "{lc4}");
    assert!(lc4.starts_with("2 images"), "{lc4}");
}

/// ECR since AWS-native basic scanning (moto answers the same): DescribeImages carries no basic
/// scan's status or counts; only DescribeImageScanFindings does. SCAN-2 must be right for a
/// scanned image with a finding, one scanned clean, and one never scanned.
#[tokio::test(flavor = "multi_thread")]
async fn scan_2_is_right_for_scanned_clean_and_never_scanned_images_as_ecr_answers_today() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    let mut digests = std::collections::BTreeMap::new();
    for name in ["vulnerable", "clean", "never"] {
        seed::create_repository(&ecr, name, false).await;
        digests.insert(name, seed::push_unique(&ecr, name, Some("v1"), name).await);
    }
    aws.set_scan_findings("vulnerable", &digests["vulnerable"], &[("CVE-2026-0001", "HIGH", "openssl")]);
    aws.set_scan_findings("clean", &digests["clean"], &[]);
    for name in ["vulnerable", "clean"] {
        ecr.start_image_scan()
            .repository_name(name)
            .image_id(ImageIdentifier::builder().image_digest(&digests[name]).build())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // GIVEN DescribeImages says nothing about the scans (no harness patch adds it)
    let described = ecr.describe_images().repository_name("vulnerable").send().await.unwrap_or_else(|e| panic!("{e}"));
    let detail = &described.image_details()[0];
    assert!(detail.image_scan_status().is_none() && detail.image_scan_findings_summary().is_none(), "{detail:?}");
    // WHEN the audit runs
    let report = audit(&EcrRegistry::new(ecr.clone()), &settings(), &AuditOptions::default(), later())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // THEN SCAN-2 tells the three apart
    let (status, message) = check(&report, "vulnerable", "SCAN-2");
    assert_eq!(status, Status::Fail, "{message}");
    assert!(message.contains("1 unsuppressed finding(s) at or above HIGH"), "{message}");
    let (status, message) = check(&report, "clean", "SCAN-2");
    assert_eq!(status, Status::Pass, "{message}");
    let (status, message) = check(&report, "never", "SCAN-2");
    assert_eq!((status, message), (Status::Fail, "the newest image, v1, was never scanned"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_process_profile_signs_the_cli_in() {
    // GIVEN a profile whose credentials come from a credential_process (aws-vault, granted)
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    create(&aws.ecr().await, &Repo::good("good")).await;
    let dir = std::env::temp_dir().join(format!("ecr-keeper-credential-process-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (script, called, config) = (dir.join("credentials.sh"), dir.join("called"), dir.join("config"));
    let body = format!(
        "#!/bin/sh\necho run >> '{}'\necho '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCESS\", \"SecretAccessKey\": \"process-secret\"}}'\n",
        called.display()
    );
    std::fs::write(&script, body).unwrap_or_else(|e| panic!("{e}"));
    let made_executable = Command::new("chmod").args(["+x"]).arg(&script).status();
    assert!(made_executable.is_ok_and(|s| s.success()));
    std::fs::write(
        &config,
        format!("[profile scripted]\nregion = us-east-1\ncredential_process = {}\n", script.display()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // WHEN the audit runs with that profile and nothing else
    let (code, stderr) = bare_cli(
        &["audit", "--endpoint-url", &aws.endpoint_url, "--output", "json"],
        &[("AWS_PROFILE", "scripted".into()), ("AWS_CONFIG_FILE", config.display().to_string())],
    );
    // THEN the process was asked for credentials and the audit ran
    assert_eq!(code, Some(0), "{stderr}");
    assert!(called.exists(), "the credential_process was not run: {stderr}");
    // AND once: the credentials the check fetched serve the run (aws-vault may ask for MFA each time)
    let runs = std::fs::read_to_string(&called).unwrap_or_default().lines().count();
    assert_eq!(runs, 1, "the credential_process ran {runs} times");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An IAM Identity Center portal on loopback: GetRoleCredentials (GET /federation/credentials)
/// answered with moto's keys; each request's bearer token is recorded.
fn fake_sso_portal() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("a loopback port: {e}"));
    let url = format!("http://{}", listener.local_addr().unwrap_or_else(|e| panic!("its address: {e}")));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 16384];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let token = request
                .lines()
                .find_map(|l| l.strip_prefix("x-amz-sso_bearer_token: "))
                .unwrap_or_default()
                .trim()
                .to_string();
            if let Ok(mut seen) = record.lock() {
                seen.push(format!("{} {token}", request.lines().next().unwrap_or_default()));
            }
            let expiration = (chrono::Utc::now().timestamp() + 3600) * 1000;
            let body = format!(
                r#"{{"roleCredentials":{{"accessKeyId":"testing","secretAccessKey":"testing","sessionToken":"sso","expiration":{expiration}}}}}"#
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sso_profile_signs_the_cli_in_with_the_cached_token() {
    // GIVEN an IAM Identity Center profile after `aws sso login`: its session's token cached
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    create(&aws.ecr().await, &Repo::good("good")).await;
    let home = std::env::temp_dir().join(format!("ecr-keeper-sso-{}", std::process::id()));
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        home.join(".aws/config"),
        "[profile work]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Developer\nregion = us-east-1\n\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    // The file name is the SHA-1 of the session's name, as `aws sso login` writes it.
    std::fs::write(
        cache.join("ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
        format!(r#"{{"accessToken":"cached-token","expiresAt":"{expires}","region":"us-east-1","startUrl":"https://corp.awsapps.com/start"}}"#),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (portal, seen) = fake_sso_portal();
    // WHEN the audit runs with that profile and nothing else
    let (code, stderr) = bare_cli(
        &["audit", "--endpoint-url", &aws.endpoint_url, "--output", "json"],
        &[
            ("HOME", home.display().to_string()),
            ("AWS_PROFILE", "work".into()),
            ("AWS_CONFIG_FILE", home.join(".aws/config").display().to_string()),
            ("AWS_ENDPOINT_URL_SSO", portal),
        ],
    );
    // THEN the portal was asked for the role's credentials with the cached token, and the audit ran
    assert_eq!(code, Some(0), "{stderr}");
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        seen.iter().any(|r| r.contains("/federation/credentials?role_name=Developer&account_id=123456789012")
            && r.ends_with(" cached-token")),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 1, "the portal is asked once a run: {seen:?}");
    let _ = std::fs::remove_dir_all(&home);
}

/// A listener that accepts connections and never answers, or answers every request with a
/// proxy's HTML error page.
fn fake_endpoint(html: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("a loopback port: {e}"));
    let url = format!("http://{}", listener.local_addr().unwrap_or_else(|e| panic!("its address: {e}")));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            if html {
                use std::io::{Read, Write};
                let mut buf = [0u8; 65536];
                let _ = stream.read(&mut buf);
                let body = "<html><body><h1>502 Bad Gateway</h1></body></html>";
                let _ = write!(
                    stream,
                    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            } else {
                held.push(stream);
            }
        }
    });
    url
}

/// Each way an endpoint can be wrong ends the command in seconds with one line naming the flag,
/// the endpoint or the HTTP status (the SDK alone took 15–90 s, then printed its request).
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_endpoint_region_or_profile_is_said_in_seconds() {
    ecr_keeper_tests::build_cli();
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
    ];
    let silent = fake_endpoint(false);
    let html = fake_endpoint(true);
    let closed = format!("http://127.0.0.1:{}", ecr_keeper_tests::free_port());
    let tls_to_plain = html.replace("http://", "https://");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--endpoint-url", &closed], format!("cannot use {closed}: no connection")),
        (vec!["--endpoint-url", &silent], format!("cannot use {silent}: no answer within 5 s")),
        (vec!["--endpoint-url", &html], format!("cannot use {html}: HTTP 502 with an HTML page (text/html)")),
        (vec!["--endpoint-url", &tls_to_plain], format!("cannot use {tls_to_plain}: no connection")),
        (
            vec!["--endpoint-url", "ftp://127.0.0.1:21"],
            "--endpoint-url 'ftp://127.0.0.1:21' is not a URL (the scheme is ftp)".into(),
        ),
        (vec!["--endpoint-url", "not a url"], "--endpoint-url 'not a url' is not a URL".into()),
        (vec!["--region", "us east 1", "--endpoint-url", &closed], "--region 'us east 1' is not a region name".into()),
    ];
    for command in ["audit", "cost-report"] {
        for (flags, expected) in &cases {
            let args: Vec<&str> = std::iter::once(command).chain(flags.iter().copied()).collect();
            let started = std::time::Instant::now();
            let (code, err) = bare_cli(&args, &env);
            let took = started.elapsed();
            assert_eq!(code, Some(2), "{args:?}: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: one line:\n{err}");
            assert!(err.contains(expected.as_str()), "{args:?}: expected {expected:?} in\n{err}");
            assert!(!err.contains("Request {") && !err.contains("SdkBody"), "{args:?}: no SDK dump: {err}");
            // A few seconds: the probe's 5 s for the silent port, well under a second otherwise.
            assert!(took < std::time::Duration::from_secs(12), "{args:?} took {took:?}");
        }
    }

    // AWS_ENDPOINT_URL is checked as the flag is, and named.
    let mut with_env = env.to_vec();
    with_env.push(("AWS_ENDPOINT_URL", "localhost:5000".to_string()));
    let (code, err) = bare_cli(&["audit"], &with_env);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("AWS_ENDPOINT_URL 'localhost:5000' is not a URL"), "{err}");

    // A profile the files lack is named, not reported as a missing region.
    let profile = [("AWS_PROFILE", "no-such-profile".to_string())];
    let (code, err) = bare_cli(&["audit", "--endpoint-url", &closed], &profile);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("AWS profile 'no-such-profile' (AWS_PROFILE) is in neither"), "{err}");

    // No credentials: one short line, not the provider chain's story.
    let (code, err) = bare_cli(&["audit", "--region", "us-east-1", "--endpoint-url", &closed], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.starts_with("ecr-keeper: no AWS credentials") && err.len() < 400, "{} bytes: {err}", err.len());

    // --accounts with --regions needs no --region: the first of those regions serves.
    let keys_only = [env[0].clone(), env[1].clone()];
    let (code, err) = bare_cli(
        &["audit", "--accounts", "111111111111", "--regions", "eu-west-1", "--endpoint-url", &closed],
        &keys_only,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("no AWS region") && err.contains("cannot use"), "{err}");
}

/// An API the endpoint does not implement answers with an HTML page (stock moto's 500): it is not
/// retried, and the run goes on without it.
#[tokio::test(flavor = "multi_thread")]
async fn an_html_answer_mid_run_is_not_retried() {
    ecr_keeper_tests::build_cli();
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    create(&ecr, &Repo::good("app")).await;
    let proxy = FaultProxy::start(&aws.endpoint_url).await;
    proxy.set_rules(vec![Rule::new(
        Operations::named(&["ListPullTimeUpdateExclusions"]),
        When::Always,
        Fault::HtmlPage(500),
    )]);
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL", proxy.url.clone()),
    ];
    let (code, err) = bare_cli(&["audit", "--output", "json"], &env);
    assert!(matches!(code, Some(0) | Some(1)), "the audit ran: {code:?} {err}");
    assert_eq!(proxy.calls("ListPullTimeUpdateExclusions"), 1, "asked once, not retried: {err}");

    // A region with no repositories is said (most often the wrong region), not a silent empty report.
    let mut elsewhere = env.to_vec();
    elsewhere[2].1 = "eu-west-1".into();
    elsewhere[3].1 = aws.endpoint_url.clone();
    for (command, said) in
        [("audit", "has no repositories: nothing to audit"), ("cost-report", "no repositories in eu-west-1")]
    {
        let (code, err) = bare_cli(&[command], &elsewhere);
        assert_eq!(code, Some(0), "{command}: {err}");
        assert!(err.contains(said) && err.contains("check --region"), "{command}: {err}");
    }
}

/// The README's first steps: examples/local-registry.py serves the harness's moto with three
/// repositories, and the CLI's audit and cost report read them.
#[test]
fn the_readmes_local_registry_gives_a_first_audit() {
    ecr_keeper_tests::build_cli();
    let port = ecr_keeper_tests::free_port();
    let root = ecr_keeper_tests::repo_root();
    let mut server = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("examples/local-registry.py"))
        .args(["--port", &port.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("examples/local-registry.py: {e}"));
    // It says "Ctrl-C stops it." once seeded.
    let mut said = String::new();
    if let Some(out) = server.stdout.take() {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            said.push_str(&line);
            said.push('\n');
            if line.starts_with("Ctrl-C") {
                break;
            }
        }
    }
    let env = [
        ("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
    ];
    let audit = Command::new(root.join("target/debug/ecr-keeper"))
        .args(["audit", "--output", "json"])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    // SIGTERM, which the script passes on to its moto (SIGKILL would leave moto running).
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
    assert!(said.contains(&format!("export AWS_ENDPOINT_URL=http://127.0.0.1:{port}")), "{said}");
    assert_eq!(audit.status.code(), Some(1), "checks fail there: {}", String::from_utf8_lossy(&audit.stderr));
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap_or_default();
    assert_eq!(report["summary"]["repositories"], 3, "{report}");
    let reg_2 = report["registryChecks"].as_array().and_then(|c| c.iter().find(|c| c["id"] == "REG-2").cloned());
    assert_eq!(reg_2.map(|c| c["status"].clone()), Some(serde_json::json!("FAIL")), "the cache without a template");
}
