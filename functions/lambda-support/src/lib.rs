//! The Lambda side of ecr-keeper's functions, kept out of the core (which knows no runtime).

use ecr_keeper_core::custom_resource::HandlerError;
use ecr_keeper_core::metrics::MetricsError;
use ecr_keeper_core::ports::RegistryError;
use ecr_keeper_core::ports::{Clock, SystemClock};
use ecr_keeper_core::reactions::ReactionError;
use lambda_runtime::Diagnostic;
use std::time::Duration;

pub mod members;
pub mod scheduled;

/// Every way an invocation of an ecr-keeper function fails, and the one mapping of each to
/// the `errorType` Lambda records (and alarms and DLQ messages show).
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    /// push-events, scan-events: returned so Lambda retries the event and, at last, the DLQ
    /// keeps it.
    #[error(transparent)]
    Reaction(#[from] ReactionError),
    /// lifecycle-audit: the registry could not be listed, so there is nothing to report.
    #[error(transparent)]
    Audit(RegistryError),
    /// cost-report: the registry could not be read.
    #[error(transparent)]
    CostReport(RegistryError),
    /// cost-report: the metrics or the dashboard could not be written.
    #[error(transparent)]
    CostPublish(#[from] MetricsError),
    /// repository-resource.
    #[error(transparent)]
    CustomResource(#[from] HandlerError),
    /// A step of a scheduled run (the state machine's plan, shard or aggregate).
    #[error(transparent)]
    Run(#[from] ecr_keeper_core::run::RunError),
    /// A state machine sent something that is not a step.
    #[error("not a scheduled-run step ({0}); expected {{\"mode\": \"plan\" | \"shard\" | \"aggregate\", …}}")]
    NotAStep(String),
    #[error(transparent)]
    Config(#[from] ecr_keeper_core::config::ConfigError),
    /// `KEEPER_ACCOUNTS` and its companions.
    #[error(transparent)]
    Scope(#[from] ecr_keeper_core::organization::ScopeError),
    /// An organization run's plan could not list the organization's accounts.
    #[error(transparent)]
    Directory(#[from] ecr_keeper_core::organization::DirectoryError),
    /// A shard of an organization run reached a function configured for one registry.
    /// push-events, scan-events: a member account's event whose role could not be assumed
    /// (returned, so Lambda retries it and at last the DLQ keeps it).
    #[error(transparent)]
    Member(#[from] ecr_keeper_core::organization::AccessError),
    #[error("shard {0} names account {1}, but this function has no KEEPER_ACCOUNTS: was the run planned by another configuration?")]
    NotAnOrganizationRun(usize, String),
}

impl FunctionError {
    pub fn error_type(&self) -> &'static str {
        match self {
            FunctionError::Reaction(e) if e.is_transient() => "TransientAwsError",
            FunctionError::Reaction(_) => "AwsError",
            FunctionError::Audit(_) => "AuditFailed",
            FunctionError::CostReport(_) | FunctionError::CostPublish(_) => "CostReportFailed",
            FunctionError::CustomResource(HandlerError::NotCustomResource(_)) => "NotCustomResource",
            FunctionError::CustomResource(HandlerError::NotDelivered { .. }) => "ResponseNotDelivered",
            // The state machine retries this one, with backoff (statemachines/scheduled-run.asl.json).
            FunctionError::Run(e) if scheduled::is_throttled(e) => "Throttled",
            FunctionError::Run(_) => "RunFailed",
            FunctionError::NotAStep(_) => "NotAStep",
            FunctionError::Config(_) | FunctionError::Scope(_) => "ConfigurationError",
            FunctionError::Directory(_) => "OrganizationUnavailable",
            FunctionError::NotAnOrganizationRun(..) => "NotAnOrganizationRun",
            FunctionError::Member(_) => "MemberRoleUnavailable",
        }
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(e: FunctionError) -> Self {
        Diagnostic { error_type: e.error_type().into(), error_message: e.to_string() }
    }
}

/// Time left before Lambda stops the invocation whose deadline is `deadline_ms`.
pub fn remaining(deadline_ms: u64) -> Duration {
    let now_ms = SystemClock.now().timestamp_millis().max(0) as u64;
    time_left(deadline_ms, now_ms)
}

/// Assumed when the runtime's deadline is not a real one.
pub const FALLBACK_TIME_LEFT: Duration = Duration::from_secs(60);

/// Time left before Lambda stops the invocation, from the runtime's `Lambda-Runtime-Deadline-Ms`.
///
/// Lambda always gives a deadline in the future. One already past when the invocation starts is
/// a placeholder (cargo-lambda's local emulator sends a fixed `600000`): then a conservative
/// [`FALLBACK_TIME_LEFT`] is assumed rather than failing every request at once.
pub fn time_left(deadline_ms: u64, now_ms: u64) -> Duration {
    if deadline_ms > now_ms {
        Duration::from_millis(deadline_ms - now_ms)
    } else {
        lambda_runtime::tracing::warn!(
            deadline_ms,
            now_ms,
            "the runtime's deadline has already passed; assuming {FALLBACK_TIME_LEFT:?} left"
        );
        FALLBACK_TIME_LEFT
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_has_its_error_type() {
        let throttled = RegistryError::Throttled { operation: "DescribeImages" };
        let denied = RegistryError::AccessDenied { operation: "DescribeImages", message: "no".into() };
        let cases = [
            (FunctionError::from(ReactionError::from(throttled.clone())), "TransientAwsError"),
            (FunctionError::from(ReactionError::from(denied.clone())), "AwsError"),
            (FunctionError::Audit(denied.clone()), "AuditFailed"),
            (FunctionError::CostReport(throttled), "CostReportFailed"),
            (FunctionError::from(MetricsError::Publish("x".into())), "CostReportFailed"),
            (FunctionError::from(HandlerError::NotCustomResource("x".into())), "NotCustomResource"),
        ];
        for (error, expected) in cases {
            let message = error.to_string();
            let diagnostic = Diagnostic::from(error);
            assert_eq!(diagnostic.error_type, expected);
            assert_eq!(diagnostic.error_message, message);
        }
    }

    #[test]
    fn a_real_deadline_gives_the_time_until_it() {
        assert_eq!(time_left(1_800_000_010_000, 1_800_000_000_000), Duration::from_secs(10));
    }

    #[test]
    fn a_placeholder_deadline_gives_the_fallback() {
        assert_eq!(time_left(600_000, 1_800_000_000_000), FALLBACK_TIME_LEFT);
        assert_eq!(time_left(1_800_000_000_000, 1_800_000_000_000), FALLBACK_TIME_LEFT);
    }
}
