//! Runs the real `ecr-keeper` binary on files, as scripts will.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const NOW: &str = "2026-11-01T00:00:00Z";

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lifecycle")
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, None)
}

fn run_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecr-keeper"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start ecr-keeper: {e}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).unwrap_or_else(|e| panic!("cannot write stdin: {e}"));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("ecr-keeper did not finish: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(o)))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ecr-keeper-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    file
}

#[test]
fn preview_reproduces_the_six_documented_outcomes_in_both_forms() {
    let names =
        ["multiple-rules-a", "multiple-rules-b", "multiple-tags-a", "multiple-tags-b", "all-images-a", "all-images-b"];
    for name in names {
        let dir = examples().join(name);
        let expected_text = std::fs::read_to_string(dir.join("expected-expire.txt")).unwrap_or_default();
        let expected: Vec<&str> = expected_text.split_whitespace().collect();
        assert!(!expected.is_empty(), "{name} has expected outcomes");
        for form in ["pattern", "prefix"] {
            let policy = dir.join(format!("policy-{form}.json"));
            let out = run(&[
                "lifecycle",
                "preview",
                "--policy",
                path(&policy),
                "--images",
                path(&dir.join("images.json")),
                "--now",
                NOW,
            ]);
            assert!(out.status.success(), "{name}/{form}: {}", stderr(&out));
            let report = json(&out);
            let actions = report["actions"].as_array().cloned().unwrap_or_default();
            let mut expired: Vec<&str> = actions.iter().filter_map(|a| a["imageDigest"].as_str()).collect();
            expired.sort();
            assert_eq!(expired, expected, "{name}/{form}");
            assert!(actions.iter().all(|a| a["action"] == "expire"));
            assert_eq!(report["summary"]["expire"], expected.len(), "{name}/{form}");
        }
    }
}

#[test]
fn preview_json_has_the_documented_shape() {
    let dir = examples().join("demo");
    let out = run(&[
        "lifecycle",
        "preview",
        "--policy",
        path(&dir.join("policy.json")),
        "--images",
        path(&dir.join("images.json")),
        "--now",
        NOW,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    let keys: Vec<&String> = report.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["actions", "summary", "unmanaged"]);
    let first = &report["actions"][0];
    let mut fields: Vec<&String> = first.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    fields.sort();
    assert_eq!(fields, ["action", "imageDigest", "imageTags", "reason", "rulePriority"]);
    // Oldest push first: v1.0 is the oldest image in the demo repository.
    assert_eq!(first["imageTags"], serde_json::json!(["v1.0"]));
    assert_eq!(first["reason"], "rule 1 keeps the 10 newest images matching v*; this is #25");
    let summary = &report["summary"];
    let total: u64 = ["expire", "transition", "unmanaged"].iter().filter_map(|k| summary[k].as_u64()).sum();
    assert!(total <= summary["images"].as_u64().unwrap_or_default());
    assert_eq!(summary["unmanaged"], report["unmanaged"].as_array().map_or(0, Vec::len));
    let unmanaged_tags: Vec<&str> =
        report["unmanaged"].as_array().into_iter().flatten().filter_map(|u| u["imageTags"][0].as_str()).collect();
    assert!(unmanaged_tags.iter().all(|t| t.starts_with("main-")), "{unmanaged_tags:?}");
    // bytesFreed is the sum of the expired images' sizes from the input.
    let images: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("images.json")).unwrap_or_default()).unwrap_or_default();
    let expired: Vec<&str> =
        report["actions"].as_array().into_iter().flatten().filter_map(|a| a["imageDigest"].as_str()).collect();
    let freed: u64 = images["imageDetails"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| expired.contains(&i["imageDigest"].as_str().unwrap_or_default()))
        .filter_map(|i| i["imageSizeInBytes"].as_u64())
        .sum();
    assert_eq!(summary["bytesFreed"], freed);
}

#[test]
fn preview_table_shows_one_line_per_image() {
    let dir = examples().join("all-images-b");
    let out = run(&[
        "lifecycle",
        "preview",
        "--policy",
        path(&dir.join("policy-pattern.json")),
        "--images",
        path(&dir.join("images.json")),
        "--now",
        NOW,
        "--output",
        "table",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 5 + 1, "{text}");
    assert!(lines[0].starts_with("DIGEST"));
    assert!(text.contains("git hash"));
    assert_eq!(lines.iter().filter(|l| l.contains("EXPIRE:")).count(), 3, "{text}");
    assert_eq!(lines[6], "5 images: 3 expire (150.0 MiB freed), 0 archive, 0 unmanaged");
}

#[test]
fn preview_reads_get_lifecycle_policy_output_and_stdin() {
    let dir = examples().join("multiple-rules-b");
    let policy = std::fs::read_to_string(dir.join("policy-prefix.json")).unwrap_or_default();
    let wrapped = serde_json::json!({
        "registryId": "123456789012", "repositoryName": "example",
        "lifecyclePolicyText": policy, "lastEvaluatedAt": "2026-10-31T00:00:00+00:00"
    });
    let wrapped_file = temp_file("wrapped-policy.json", &wrapped.to_string());
    let images = std::fs::read_to_string(dir.join("images.json")).unwrap_or_default();
    let out = run_with_stdin(
        &["lifecycle", "preview", "--policy", path(&wrapped_file), "--images", "-", "--now", NOW],
        Some(&images),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["summary"]["expire"], 2);
}

#[test]
fn preview_accepts_a_bare_array_with_epoch_timestamps() {
    let images = r#"[
        {"imageDigest":"sha256:old","imageTags":["v1"],"imagePushedAt":1761955200,"imageSizeInBytes":10},
        {"imageDigest":"sha256:new","imageTags":["v2"],"imagePushedAt":1761955201.5,"imageSizeInBytes":20},
        {"imageDigest":"sha256:untagged","imagePushedAt":"2025-01-01T00:00:00Z"}
    ]"#;
    let policy = examples().join("all-images-a/policy-pattern.json");
    let file = temp_file("bare.json", images);
    let out = run(&["lifecycle", "preview", "--policy", path(&policy), "--images", path(&file), "--now", NOW]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    let expired: Vec<&str> =
        report["actions"].as_array().into_iter().flatten().filter_map(|a| a["imageDigest"].as_str()).collect();
    assert_eq!(expired, ["sha256:untagged", "sha256:old"]);
}

#[test]
fn validate_passes_a_valid_policy_and_lists_every_problem_otherwise() {
    let ok = run(&["lifecycle", "validate", path(&examples().join("demo/policy.json"))]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(stdout(&ok).trim(), "valid: 2 rules");

    let bad = temp_file(
        "bad-policy.json",
        r#"{"rules":[
          {"rulePriority":5,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}},
          {"rulePriority":5,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":7},"action":{"type":"expire"}}]}"#,
    );
    let out = run(&["lifecycle", "validate", path(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bad-policy.json"), "{err}");
    assert!(err.contains(r#"rule 1 (priority 5): tagStatus "tagged" needs tagPrefixList or tagPatternList"#), "{err}");
    assert!(err.contains(r#"rule 2 (priority 5): countType "sinceImagePushed" needs countUnit "days""#), "{err}");
    assert!(err.contains("rule 2 (priority 5): rulePriority 5 is already used by rule 1"), "{err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn bad_input_exits_2_naming_the_file_and_field() {
    let policy = examples().join("demo/policy.json");
    let missing = run(&["lifecycle", "validate", "/nonexistent/policy.json"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read /nonexistent/policy.json"), "{}", stderr(&missing));

    let not_json = temp_file("not-json.json", "{\"rules\": [");
    let out = run(&["lifecycle", "validate", path(&not_json)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not-json.json: the lifecycle policy is not valid JSON"), "{}", stderr(&out));

    let cases = [
        (r#"{"imageDetails":[{"imagePushedAt":"2026-01-01T00:00:00Z"}]}"#, "imageDetails[0]: imageDigest is required"),
        (
            r#"{"imageDetails":[{"imageDigest":"sha256:a"}]}"#,
            "imageDetails[0]: imagePushedAt is required (image sha256:a)",
        ),
        (
            r#"[{"imageDigest":"sha256:a","imagePushedAt":"yesterday"}]"#,
            "imageDetails[0]: imagePushedAt of sha256:a is \"yesterday\"",
        ),
        (r#"{"imageDetails":[],"nextToken":"abc"}"#, "nextToken is set"),
        (
            r#"[{"imageDigest":"sha256:a","imageTags":["v1"],"imagePushedAt":1761955200},
                {"imageDigest":"sha256:a","imageTags":["v2"],"imagePushedAt":1761955200}]"#,
            "imageDetails[1]: imageDigest sha256:a (v2) is also imageDetails[0]",
        ),
        (
            // epoch milliseconds where seconds belong: tens of thousands of years ahead
            r#"[{"imageDigest":"sha256:ms","imageTags":["v9"],"imagePushedAt":1761955200000}]"#,
            "imageDetails[0]: imagePushedAt +57804-02-21T00:00:00Z of sha256:ms (v9) is after the evaluation time",
        ),
        (r#"{"images":[]}"#, "an object without \"imageDetails\""),
    ];
    for (k, (images, expected)) in cases.iter().enumerate() {
        let file = temp_file(&format!("images-{k}.json"), images);
        let out = run(&["lifecycle", "preview", "--policy", path(&policy), "--images", path(&file), "--now", NOW]);
        assert_eq!(out.status.code(), Some(2), "{images}");
        let err = stderr(&out);
        assert!(err.contains(&format!("images-{k}.json")), "{err}");
        assert!(err.contains(expected), "expected {expected:?} in {err}");
        assert!(stdout(&out).is_empty(), "no partial answer on stdout");
    }

    let bad_now =
        run(&["lifecycle", "preview", "--policy", path(&policy), "--images", path(&policy), "--now", "tomorrow"]);
    assert_eq!(bad_now.status.code(), Some(2));
    assert!(stderr(&bad_now).contains("not an RFC 3339 time"), "{}", stderr(&bad_now));

    let both = run(&["lifecycle", "preview", "--policy", "-", "--images", "-"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(stderr(&both).contains("cannot both read standard input"));
}

#[test]
fn generate_prints_a_valid_policy_with_the_asked_rules() {
    let out = run(&[
        "lifecycle",
        "generate",
        "--keep-tagged",
        "3",
        "--tag-prefix",
        "v",
        "--tag-pattern",
        "release-*",
        "--untagged-days",
        "2",
        "--protect",
        "latest",
        "--max-age-days",
        "60",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let policy = json(&out);
    let rules = policy["rules"].as_array().cloned().unwrap_or_default();
    let priorities: Vec<u64> = rules.iter().filter_map(|r| r["rulePriority"].as_u64()).collect();
    assert_eq!(priorities, [1, 2, 3, 4, 5]);
    assert_eq!(rules[0]["selection"]["tagPatternList"], serde_json::json!(["latest"]));
    assert_eq!(rules[1]["selection"]["tagPrefixList"], serde_json::json!(["v"]));
    assert_eq!(rules[1]["selection"]["countNumber"], 3);
    assert_eq!(rules[3]["selection"]["tagStatus"], "untagged");
    assert_eq!(rules[3]["selection"]["countNumber"], 2);
    assert_eq!(rules[4]["selection"]["tagStatus"], "any");

    let file = temp_file("generated.json", &stdout(&out));
    let valid = run(&["lifecycle", "validate", path(&file)]);
    assert_eq!(valid.status.code(), Some(0), "{}", stderr(&valid));

    let conflict = run(&["lifecycle", "generate", "--max-age-days", "3", "--archive-after-days", "4"]);
    assert_eq!(conflict.status.code(), Some(2));
    assert!(stderr(&conflict).contains("max-age-days: cannot be combined with archive-after-days"));
    let zero = run(&["lifecycle", "generate", "--keep-tagged", "0"]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(stderr(&zero).contains("keep-tagged: must be at least 1"));
    // A negative number is the flag's bad value, not an unknown flag.
    let negative = run(&["lifecycle", "generate", "--keep-tagged", "-5"]);
    assert_eq!(negative.status.code(), Some(2));
    assert!(stderr(&negative).contains("invalid value '-5' for '--keep-tagged <N>'"), "{}", stderr(&negative));
    assert!(!stderr(&negative).contains("unexpected argument"), "{}", stderr(&negative));
    let concurrency = run(&["audit", "--concurrency", "-1"]);
    assert!(stderr(&concurrency).contains("invalid value '-1' for '--concurrency <N>'"), "{}", stderr(&concurrency));
}

#[test]
fn what_a_policy_does_that_its_author_may_not_mean_is_noted_on_stderr() {
    let shielded = run(&["lifecycle", "generate", "--protect", "v*", "--tag-prefix", "v"]);
    assert_eq!(shielded.status.code(), Some(0), "{}", stderr(&shielded));
    assert!(stderr(&shielded).contains("note: --tag-prefix v: every tag it selects also matches --protect v*"));
    json(&shielded); // stdout is still the policy alone
    let archived = run(&["lifecycle", "generate", "--expire-archived-after-days", "120"]);
    assert!(stderr(&archived).contains("note: --expire-archived-after-days 120: no rule of this policy archives"));

    let literal = temp_file(
        "literal-star.json",
        r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v*"],"countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}"#,
    );
    let out = run(&["lifecycle", "validate", path(&literal)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("note: rule 1: tagPrefixList \"v*\" is a literal prefix"), "{}", stderr(&out));

    let twice = temp_file(
        "twice.json",
        r#"{"rules":[{"rulePriority":1,"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}"#,
    );
    let out = run(&["lifecycle", "validate", path(&twice)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("the key \"rulePriority\" appears twice in one object"), "{}", stderr(&out));
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["lifecycle", "--help"],
        vec!["lifecycle", "validate", "--help"],
        vec!["lifecycle", "generate", "--help"],
        vec!["lifecycle", "preview", "--help"],
    ] {
        let out = run(&args);
        assert!(out.status.success(), "{args:?}");
        assert!(stdout(&out).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn generate_archives_by_last_pull_and_refuses_an_archive_expiry_under_90_days() {
    let out = run(&[
        "lifecycle",
        "generate",
        "--archive-after-days-without-pull",
        "30",
        "--expire-archived-after-days",
        "180",
        "--protect-in-use",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let policy = json(&out);
    let rules = policy["rules"].as_array().cloned().unwrap_or_default();
    assert_eq!(rules[0]["selection"]["tagPrefixList"], serde_json::json!(["keeper-in-use-"]));
    let archive = &rules[rules.len() - 2];
    assert_eq!(archive["selection"]["countType"], "sinceImagePulled");
    assert_eq!(archive["action"], serde_json::json!({"type": "transition", "targetStorageClass": "archive"}));
    let expire = &rules[rules.len() - 1];
    assert_eq!(expire["selection"]["storageClass"], "archive");
    assert_eq!(expire["selection"]["countType"], "sinceImageTransitioned");
    assert_eq!(expire["selection"]["countNumber"], 180);
    let file = temp_file("archiving.json", &stdout(&out));
    assert_eq!(run(&["lifecycle", "validate", path(&file)]).status.code(), Some(0));

    let short = run(&["lifecycle", "generate", "--expire-archived-after-days", "30"]);
    assert_eq!(short.status.code(), Some(2));
    assert!(
        stderr(&short)
            .contains("expire-archived-after-days: must be at least 90, not 30: ECR refuses an earlier expiry"),
        "{}",
        stderr(&short)
    );
}

#[test]
fn preview_marks_running_images_from_a_reference_file_at_risk() {
    // GIVEN keep the last 1 v* image; v1 (older) runs in a cluster listed in refs.txt
    let policy = temp_file("keep-one.json", &stdout(&run(&["lifecycle", "generate", "--keep-tagged", "1"])));
    let images = temp_file(
        "running-images.json",
        r#"{"imageDetails": [
            {"registryId": "123456789012", "repositoryName": "shop/web", "imageDigest": "sha256:aaaa", "imageTags": ["v1"], "imagePushedAt": "2026-10-01T00:00:00Z", "imageSizeInBytes": 100},
            {"registryId": "123456789012", "repositoryName": "shop/web", "imageDigest": "sha256:bbbb", "imageTags": ["v2"], "imagePushedAt": "2026-10-20T00:00:00Z", "imageSizeInBytes": 100}
        ]}"#,
    );
    let refs = temp_file(
        "refs.txt",
        "# from kubectl\n123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/web:v1\ndocker.io/library/nginx:1.27\n",
    );
    let in_use = format!("file:{}", path(&refs));
    let out = run(&[
        "lifecycle",
        "preview",
        "--policy",
        path(&policy),
        "--images",
        path(&images),
        "--now",
        NOW,
        "--in-use",
        &in_use,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // THEN only the running image is listed, with where it runs
    let report = json(&out);
    assert_eq!(report["atRisk"].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(report["atRisk"][0]["imageDigest"], "sha256:aaaa");
    assert_eq!(report["atRisk"][0]["workloads"], serde_json::json!([format!("{}:2", path(&refs))]));
    assert!(stderr(&out).contains("1 running image is at risk: v1 (expire by rule 1"), "{}", stderr(&out));
    // Without --in-use the JSON has no atRisk at all; a bad source is named with the accepted ones.
    let plain = run(&["lifecycle", "preview", "--policy", path(&policy), "--images", path(&images), "--now", NOW]);
    assert!(json(&plain).get("atRisk").is_none());
    let bad = run(&["lifecycle", "preview", "--policy", path(&policy), "--images", path(&images), "--in-use", "eks"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains(
            "\"eks\" is not a workload source (accepted: ecs, lambda, inspector, file:PATH, s3://BUCKET/KEY)"
        ),
        "{}",
        stderr(&bad)
    );
}

/// `ecr-keeper lifecycle preview` of the demo registry as JSON: many lines.
fn preview_args() -> Vec<String> {
    let demo = examples().join("demo");
    ["lifecycle", "preview", "--policy"]
        .iter()
        .map(|s| s.to_string())
        .chain([demo.join("policy.json").display().to_string(), "--images".into()])
        .chain([
            demo.join("images.json").display().to_string(),
            "--now".into(),
            NOW.into(),
            "--output".into(),
            "json".into(),
        ])
        .collect()
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    // `| head -n 1` reads one line and closes the pipe while the CLI still writes.
    let exe = env!("CARGO_BIN_EXE_ecr-keeper");
    let args = preview_args().iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ");
    let script = format!("'{exe}' {args} 2>/tmp/ecr-keeper-pipe-$$.err | head -n 1 >/dev/null; s=${{PIPESTATUS[0]}}; cat /tmp/ecr-keeper-pipe-$$.err; rm -f /tmp/ecr-keeper-pipe-$$.err; exit $s");
    for _ in 0..5 {
        let o = Command::new("bash").args(["-c", &script]).output().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.status.code(), Some(0), "stdout closed early: {}", String::from_utf8_lossy(&o.stdout));
        assert!(!String::from_utf8_lossy(&o.stdout).contains("panicked"), "{}", String::from_utf8_lossy(&o.stdout));
    }
}

#[test]
fn a_full_disk_is_one_line_and_exit_2() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else { return };
    let o = Command::new(env!("CARGO_BIN_EXE_ecr-keeper"))
        .args(preview_args())
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim(), "ecr-keeper: cannot write the output: No space left on device (os error 28)");
}

#[test]
fn an_unwritable_output_dir_is_refused_before_anything_is_read() {
    // An endpoint nothing answers: had the run started, it would fail on it, not on the path.
    let aws = ["--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"];
    for command in ["audit", "cost-report"] {
        let o = Command::new(env!("CARGO_BIN_EXE_ecr-keeper"))
            .args([command, "--output-dir", "/dev/null/reports"])
            .args(aws)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{command}: {err}");
        assert!(err.starts_with("ecr-keeper: --output-dir /dev/null/reports: cannot create it"), "{command}: {err}");
        assert!(err.contains("nothing was read"), "{command}: {err}");
    }
    // And prices must be finite.
    let o = run(&["cost-report", "--price-per-gb-month", "inf", "--region", "us-east-1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("must be finite numbers"), "{}", stderr(&o));
}

#[test]
fn counts_out_of_range_are_named_with_the_accepted_range() {
    for (command, flag) in [("audit", "--concurrency"), ("cost-report", "--concurrency"), ("cost-report", "--top")] {
        let o = run(&[command, flag, "0"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{command} {flag} 0: {err}");
        assert!(err.contains(flag) && err.contains("0 is not in 1.."), "{command} {flag} 0: {err}");
    }
}

#[test]
fn inputs_past_ecrs_limits_or_in_another_encoding_are_refused_before_parsing() {
    // `validate /dev/zero` would never end; a huge policy would take gigabytes to parse.
    let o = run(&["lifecycle", "validate", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/dev/zero is over 256 KiB: ECR accepts a lifecycle policy of 30,720 characters at most"),
        "{}",
        stderr(&o)
    );
    let dir = std::env::temp_dir().join(format!("ecr-keeper-encodings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let policy = r#"{"rules": []}"#;
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(policy.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    for (name, bytes, says) in [
        ("utf16.json", utf16, "is UTF-16"),
        ("bom.json", [&[0xEF, 0xBB, 0xBF][..], policy.as_bytes()].concat(), "starts with a byte-order mark"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        let o = run(&["lifecycle", "validate", &path.to_string_lossy()]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(says) && stderr(&o).contains("save it as UTF-8"), "{name}: {}", stderr(&o));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
