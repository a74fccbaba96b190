//! A scheduled run's state machine, from template.yaml, on moto: moto's Step Functions
//! interpreter runs `statemachines/scheduled-run.asl.json`, and each Lambda task reaches the real
//! function binary under `cargo lambda watch` (tests/support/moto_server.py forwards invokes).

use crate::fault_proxy::FaultProxy;
use crate::lambda::LambdaEmulator;
use crate::{free_port, repo_root, venv_python, LocalAws};
use std::process::Command;

pub const BUCKET: &str = "keeper-reports";

pub struct ScheduledRuns {
    pub aws: LocalAws,
    pub lambda: LambdaEmulator,
    /// Every request moto answered and every invoke it forwarded, a line each.
    pub call_log: std::path::PathBuf,
}

/// What `tests/support/scheduled_run.py` saw of one execution.
#[derive(Debug, Clone)]
pub struct Execution {
    pub status: String,
    pub output: serde_json::Value,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub transitions: u64,
    pub seconds: f64,
}

impl ScheduledRuns {
    /// moto routing Lambda to the emulator; `function_env` for the functions (say
    /// `KEEPER_SHARD_REPOSITORIES`), `harness_env` for moto (`KEEPER_HARNESS_FAIL_SHARD_INVOKES`).
    /// `endpoint` overrides where the functions' SDK goes (a fault proxy), moto by default.
    pub fn start(function_env: &[(&str, &str)], harness_env: &[(&str, String)]) -> ScheduledRuns {
        Self::launch(function_env, harness_env, false)
    }

    /// With the CloudWatch bridge in front of moto (the cost report's metrics and dashboard).
    pub fn start_with_cloudwatch(function_env: &[(&str, &str)]) -> ScheduledRuns {
        Self::launch(function_env, &[], true)
    }

    fn launch(function_env: &[(&str, &str)], harness_env: &[(&str, String)], bridge: bool) -> ScheduledRuns {
        let (aws, port, call_log) = Self::moto(harness_env, bridge);
        let lambda = LambdaEmulator::start_on(port, &aws, &Self::function_env(function_env));
        ScheduledRuns { aws, lambda, call_log }
    }

    /// The functions reach moto through a fault proxy, returned with the runs.
    pub async fn start_via_proxy(function_env: &[(&str, &str)]) -> (ScheduledRuns, FaultProxy) {
        let (aws, port, call_log) = Self::moto(&[], false);
        let proxy = FaultProxy::start(&aws.endpoint_url).await;
        let mut env = Self::function_env(function_env);
        env.push(("AWS_ENDPOINT_URL", proxy.url.as_str()));
        let lambda = LambdaEmulator::start_on(port, &aws, &env);
        (ScheduledRuns { aws, lambda, call_log }, proxy)
    }

    fn moto(harness_env: &[(&str, String)], bridge: bool) -> (LocalAws, u16, std::path::PathBuf) {
        let port = free_port();
        let call_log = std::env::temp_dir().join(format!("ecr-keeper-calls-{}-{port}.log", std::process::id()));
        let mut harness: Vec<(&str, String)> = vec![("KEEPER_HARNESS_CALL_LOG", call_log.display().to_string())];
        harness.extend(harness_env.iter().cloned());
        let aws = LocalAws::start_routing_lambda(&format!("http://127.0.0.1:{port}"), &harness, bridge);
        (aws, port, call_log)
    }

    fn function_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut env = vec![("KEEPER_REPORTS_BUCKET", BUCKET), ("KEEPER_METRICS", "off")];
        env.extend(extra.iter().copied());
        env
    }

    /// (subject, message) of every summary sent to `topic_arn`.
    pub fn published(&self, topic_arn: &str) -> Vec<(String, String)> {
        crate::sns_messages(&self.aws.moto_url, topic_arn)
    }

    /// Runs `job` (`audit` or `cost`) once and waits for the execution to end.
    pub fn run(&self, job: &str) -> Execution {
        let out = Command::new(venv_python())
            .arg(repo_root().join("tests/support/scheduled_run.py"))
            .args(["--endpoint", &self.aws.moto_url, "--job", job, "--bucket", BUCKET, "--timeout", "900"])
            .output()
            .unwrap_or_else(|e| panic!("scheduled_run.py: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "scheduled_run.py said ({e}): {stdout}\n{}\n--- functions:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.lambda.log()
            )
        });
        Execution {
            status: v["status"].as_str().unwrap_or_default().to_string(),
            output: v["output"].clone(),
            error: v["error"].as_str().map(str::to_owned),
            cause: v["cause"].as_str().map(str::to_owned),
            transitions: v["transitions"].as_u64().unwrap_or_default(),
            seconds: v["seconds"].as_f64().unwrap_or_default(),
        }
    }

    /// Lines of the call log starting with `kind` (`call`, `invoke`, `invoke-failed`).
    pub fn logged(&self, kind: &str) -> Vec<String> {
        let text = std::fs::read_to_string(&self.call_log).unwrap_or_default();
        text.lines().filter_map(|l| l.strip_prefix(&format!("{kind} ")).map(str::to_owned)).collect()
    }

    pub fn forget_log(&self) {
        let _ = std::fs::remove_file(&self.call_log);
    }

    /// An object of the reports bucket, `None` when absent (read through the product's own S3
    /// adapter: moto refuses unsigned reads of a private bucket, as S3 does).
    pub async fn object(&self, key: &str) -> Option<String> {
        use ecr_keeper_core::run::ReportStore;
        let client = ecr_keeper_aws::s3_client(&self.aws.sdk_config().await);
        let store = ecr_keeper_aws::S3ReportStore::new(client, BUCKET);
        store.get(key).await.unwrap_or_else(|e| panic!("s3://{BUCKET}/{key}: {e}"))
    }
}

impl ScheduledRuns {
    /// The reports bucket's keys under `prefix`, in order.
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let client = ecr_keeper_aws::s3_client(&self.aws.sdk_config().await);
        let mut pages = client.list_objects_v2().bucket(BUCKET).prefix(prefix).into_paginator().send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.unwrap_or_else(|e| panic!("s3://{BUCKET}/{prefix}: {e}"));
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        keys.sort();
        keys
    }
}

impl Drop for ScheduledRuns {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.call_log);
    }
}
