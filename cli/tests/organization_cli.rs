//! `--accounts` and its companions: bad input is named before any AWS call is made.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ecr-keeper"))
        .args(args)
        // No credentials and no endpoint: reaching AWS would fail differently.
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run ecr-keeper: {e}"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_scope_flags_exit_2_naming_the_flag_and_what_it_accepts() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["audit", "--accounts", "12345", "--regions", "us-east-1"],
            "--accounts: \"12345\" is neither `organization` nor a 12-digit account id",
        ),
        (
            &["audit", "--accounts", "111111111111", "--regions", "US East"],
            "--regions: \"US East\" is not a region name (like us-east-1)",
        ),
        (&["cost-report", "--accounts", "111111111111"], "--regions: empty: give one or more regions"),
        (
            &["audit", "--accounts", "111111111111", "--regions", "us-east-1", "--organizational-units", "ou-ab-cd"],
            "--organizational-units: applies only with --accounts = organization",
        ),
        (
            &["audit", "--accounts", "organization", "--regions", "us-east-1", "--role-name", "no spaces please"],
            "--role-name: \"no spaces please\" is not an IAM role name",
        ),
        (
            &["cost-report", "--accounts", "organization", "--regions", "us-east-1", "--exclude-accounts", "1"],
            "--exclude-accounts: \"1\" is not a 12-digit account id",
        ),
    ];
    for (args, says) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("credentials"), "named before any AWS call: {}", stderr(&out));
    }
    // The companions need --accounts (clap says so).
    let out = run(&["audit", "--regions", "us-east-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--accounts"), "{}", stderr(&out));
}
