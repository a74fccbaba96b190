//! The Lambda side of ecr-keeper's functions, kept out of the core (which knows no runtime).

use ecr_keeper_core::invocation::time_left;
use ecr_keeper_core::ports::RegistryError;
use ecr_keeper_core::reactions::ReactionError;
use lambda_runtime::Diagnostic;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An AWS failure: returned so Lambda retries the event and, at last, the DLQ keeps it.
#[derive(Debug)]
pub struct AwsFailure {
    pub transient: bool,
    pub message: String,
}

impl From<RegistryError> for AwsFailure {
    fn from(e: RegistryError) -> Self {
        AwsFailure { transient: e.is_transient(), message: e.to_string() }
    }
}

impl From<ReactionError> for AwsFailure {
    fn from(e: ReactionError) -> Self {
        AwsFailure { transient: e.is_transient(), message: e.to_string() }
    }
}

impl From<AwsFailure> for Diagnostic {
    fn from(e: AwsFailure) -> Self {
        let kind = if e.transient { "TransientAwsError" } else { "AwsError" };
        Diagnostic { error_type: kind.into(), error_message: e.message }
    }
}

/// Time left before Lambda stops the invocation whose deadline is `deadline_ms`.
pub fn remaining(deadline_ms: u64) -> Duration {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
    time_left(deadline_ms, now_ms)
}

/// Lambda's log setup (level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, JSON when
/// `AWS_LAMBDA_LOG_FORMAT` is `json`), with the AWS SDK's and HTTP stack's own logs capped at
/// INFO: at DEBUG they print the signing identity (the access key id, among others) and every
/// request's internals, which a team turning on DEBUG for ecr-keeper neither wants nor should
/// ship to its log store.
pub fn init_logging() {
    use lambda_runtime::tracing::subscriber::filter::{EnvFilter, LevelFilter};
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let level = level.ok().and_then(|l| l.parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
    let mut filter = EnvFilter::builder().with_default_directive(level.into()).from_env_lossy();
    for quiet in SDK_TARGETS {
        if let Ok(directive) = format!("{quiet}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let collector =
        lambda_runtime::tracing::subscriber::fmt().with_target(false).without_time().with_env_filter(filter);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        collector.json().init()
    } else {
        collector.init()
    }
}

const SDK_TARGETS: [&str; 12] = [
    "aws_config",
    "aws_runtime",
    "aws_sdk_ecr",
    "aws_sdk_cloudwatch",
    "aws_sdk_sns",
    "aws_sdk_dynamodb",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "hyper",
    "hyper_util",
    "rustls",
];
