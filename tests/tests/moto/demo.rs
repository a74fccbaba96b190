//! `make demo`'s story, run as a test: its outcomes (JSON), not its prose, are asserted.

use std::process::Command;

#[test]
fn the_whole_story_runs_on_one_machine() {
    ecr_keeper_tests::build_cli();
    let summary_path = std::env::temp_dir().join(format!("ecr-keeper-demo-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("DEMO_SUMMARY", &summary_path)
        .current_dir(ecr_keeper_tests::repo_root())
        .output()
        .unwrap_or_else(|e| panic!("the demo did not run: {e}"));
    assert!(
        out.status.success(),
        "demo failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&summary_path).unwrap_or_else(|e| panic!("no summary: {e}"));
    let _ = std::fs::remove_file(&summary_path);
    let s: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("summary is not JSON: {e}"));

    // 1. The repository, created through the custom resource, with the four outputs.
    assert_eq!(s["create"]["Status"], "SUCCESS");
    for key in ["RepositoryUrl", "RepositoryArn", "RepositoryName", "RegistryId"] {
        assert!(s["create"]["Data"][key].as_str().is_some_and(|v| !v.is_empty()), "{key}");
    }
    // 2-3. Every push went through push-events; the critical finding raised one alert, the
    // suppressed one was reported as such.
    assert_eq!(s["pushes"], 31);
    assert_eq!(s["scan"]["alert"]["unsuppressedAtOrAbove"], 1);
    // One message on the alert topic; the same scan again publishes nothing.
    assert_eq!(s["scan"]["delivery"]["outcome"], "published", "{}", s["scan"]);
    assert_eq!(s["rescan"]["delivery"]["outcome"], "nothingNew", "{}", s["rescan"]);
    assert_eq!(s["alertMessages"], 1);
    assert_eq!(s["scan"]["alert"]["suppressed"][0]["id"], "CVE-2024-0002");
    // 4. The audit saw the overdue and unmanaged images; the cost report the standard policy's saving.
    assert_eq!(s["audit"]["summary"]["repositories"], 1);
    let reg_2 = s["audit"]["registryChecks"].as_array().and_then(|c| c.iter().find(|c| c["id"] == "REG-2").cloned());
    assert_eq!(reg_2.as_ref().map(|c| c["status"].clone()), Some(serde_json::json!("FAIL")), "{reg_2:?}");
    assert!(s["audit"]["summary"]["overdue"]["images"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(s["audit"]["summary"]["unmanaged"]["images"], 4, "latest and three main builds");
    // The scheduled functions ran too: the audit found the repository non-compliant, the cost
    // report published its total (through the CloudWatch bridge).
    // By then the cost step has added legacy-service, which has no policy: two non-compliant.
    assert_eq!(s["lifecycle-audit"]["repositories"], 2);
    assert_eq!(s["lifecycle-audit"]["nonCompliant"], 2);
    assert!(s["cost-report"]["monthlyCostUsd"].as_f64().is_some());
    let legacy = s["cost"]["repositories"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "legacy-service")
        .cloned()
        .unwrap_or_default();
    assert_eq!(legacy["withStandardPolicy"]["imagesKept"], 10);
    assert!(legacy["withStandardPolicy"]["savingsUsd"].as_f64().is_some_and(|v| v > 0.0));
    // 5. The guardrail refused the harsh update and accepted the gentle one.
    assert_eq!(s["update-refused"]["Status"], "FAILED");
    assert!(s["update-refused"]["Reason"].as_str().unwrap_or_default().contains("would expire 22 of the 31 images"));
    assert_eq!(s["update-accepted"]["Status"], "SUCCESS");
    // 6. Deleting the stack kept the repository: it holds images.
    assert_eq!(s["delete"]["Status"], "SUCCESS");
    assert!(s["delete"]["Reason"].as_str().unwrap_or_default().starts_with("kept app-template-dev: it holds images"));
    // 7. The scheduled runs on the state machine: 40 repositories in four shards, both reports kept.
    // The audit keeps four files (JSON, markdown, HTML, OCSF findings), the cost report three.
    for (job, files) in [("run-audit", 4), ("run-cost", 3)] {
        assert_eq!(s[job]["run"]["done"], true, "{}", s[job]);
        assert_eq!(s[job]["run"]["complete"], true, "{}", s[job]);
        assert_eq!(s[job]["run"]["shards"], 4, "{}", s[job]);
        assert_eq!(s[job]["run"]["reportKeys"].as_array().map(Vec::len), Some(files), "{}", s[job]);
    }
    assert_eq!(s["run-invokes"], 13, "plan + 4 shards + aggregate, twice, and the audit's Findings step");
    // The audit's findings, the same ones three ways: imported into Security Hub, as OCSF lines,
    // as Athena rows (one file: one account).
    let elsewhere = &s["findingsElsewhere"];
    assert!(elsewhere["securityHub"].as_u64().is_some_and(|n| n > 0), "{elsewhere}");
    assert_eq!(elsewhere["ocsf"], elsewhere["securityHub"], "{elsewhere}");
    assert_eq!(elsewhere["tableRows"], elsewhere["securityHub"], "{elsewhere}");
    assert_eq!(elsewhere["tableFiles"], 1, "{elsewhere}");
    assert_eq!(s["run-summaries"], 2, "one summary per run on the alert topic");
    // The default deployment's metric bill does not grow with the repositories: 41 of them, and
    // not one series of a single repository; every series is a registry total (the audit's
    // CheckFailures by check id, Findings by severity: bounded by the checks and severities).
    let series = &s["metricSeries"];
    assert_eq!(series["perRepository"], 0, "{series}");
    assert!(series["reactions"].as_u64().is_some_and(|n| n > 0), "the reactions published: {series}");
    assert!(series["scheduledRuns"].as_u64().is_some_and(|n| n > 0), "the scheduled runs published: {series}");
    // By default (MetricSeries=essential) only the essential totals: at most ten series, each
    // without dimensions, whatever the 41 repositories (docs/events-and-metrics.md).
    let essential = ecr_keeper_core::metrics::ESSENTIAL;
    assert!(series["total"].as_u64().is_some_and(|n| n as usize <= essential.len()), "{series}");
    for s in series["series"].as_array().into_iter().flatten() {
        let name = s[0].as_str().unwrap_or_default();
        assert!(essential.contains(&name) && s[1] == 0, "{s} is not an essential total");
    }
    let html = ecr_keeper_tests::repo_root().join("target/demo/reports/audit.html");
    assert!(std::fs::read_to_string(html).is_ok_and(|h| h.contains("<svg")));
    // 14. A running image: at risk under "keep the last 2", pinned by the audit, then spared.
    let in_use = &s["in-use"];
    assert_eq!(in_use["atRiskBefore"].as_array().map(Vec::len), Some(1), "{in_use}");
    assert_eq!(in_use["atRiskBefore"][0]["imageTags"], serde_json::json!(["v1.3"]));
    assert_eq!(in_use["atRiskBefore"][0]["workloads"], serde_json::json!(["ecs service prod/web"]));
    assert_eq!(in_use["remediation"][0]["action"], "pin-in-use");
    assert_eq!(in_use["remediation"][0]["applied"], true);
    assert_eq!(in_use["atRiskAfter"], serde_json::json!([]), "{in_use}");
    assert_eq!(in_use["signatureExpiresWith"], in_use["subject"], "the signature goes with v1.3: {in_use}");
    let inspector = in_use["inspectorAtRisk"][0][0].as_str().unwrap_or_default();
    assert!(inspector.starts_with("inspector: 2 ECS tasks or EKS pods"), "{in_use}");
    // Step 15: three member accounts x two regions, the third without the member role.
    let org = &s["organization"];
    assert_eq!(org["members"].as_array().map(Vec::len), Some(3), "{org}");
    assert_eq!(
        (org["totals"]["registries"].as_u64(), org["totals"]["unreachable"].as_u64()),
        (Some(6), Some(2)),
        "{org}"
    );
    assert_eq!(org["errors"], 2, "{org}");
    // Repositories seeded: 3 - i + r per (member i, region r); the third member's are not read.
    assert_eq!(org["totals"]["repositories"], 3 + 4 + 2 + 3, "{org}");
    let third = org["members"][2].as_str().unwrap_or_default();
    let unreached = org["byAccount"].as_array().into_iter().flatten().find(|a| a["account"] == third);
    assert_eq!(
        unreached.map(|a| (a["unreachable"].clone(), a["repositories"].clone())),
        Some((2.into(), 0.into())),
        "{org}"
    );
}
