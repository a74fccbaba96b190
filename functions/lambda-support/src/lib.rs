//! The Lambda side of ecr-keeper's functions, kept out of the core (which knows no runtime).

use ecr_keeper_core::custom_resource::HandlerError;
use ecr_keeper_core::metrics::MetricsError;
use ecr_keeper_core::ports::RegistryError;
use ecr_keeper_core::ports::{Clock, SystemClock};
use ecr_keeper_core::reactions::ReactionError;
use lambda_runtime::tracing::subscriber::{
    self,
    filter::{EnvFilter, LevelFilter},
};
use lambda_runtime::Diagnostic;
use std::time::Duration;

pub mod audit;
pub mod cost;
pub mod findings;
pub mod members;
pub mod reactions;
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
    /// security-hub-findings: the run's report is not where the aggregate said it kept it.
    #[error("run {run}: no kept report at {key}; the Findings step imports the report the audit's aggregate kept")]
    NoKeptReport { run: String, key: String },
    /// security-hub-findings: an organization run's index reached a function without member roles.
    #[error(
        "run {0} audited an organization, but this function has no KEEPER_ACCOUNTS to reach the members' Security Hub"
    )]
    NoMemberRole(String),
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
            FunctionError::NotAnOrganizationRun(..) | FunctionError::NoMemberRole(_) => "NotAnOrganizationRun",
            FunctionError::NoKeptReport { .. } => "NoKeptReport",
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

/// Lambda's log setup: the level from `AWS_LAMBDA_LOG_LEVEL` (the template's
/// `ApplicationLogLevel`) or `RUST_LOG`, JSON when `AWS_LAMBDA_LOG_FORMAT` is `JSON` (the
/// template's `LogFormat`). The AWS SDK's and HTTP stack's own logs are capped at INFO: at DEBUG
/// they print the signing identity (the access key id, among others) and every request's
/// internals, which a team turning on DEBUG for ecr-keeper neither wants nor should ship to its
/// log store. (The runtime's `init_default_subscriber` reads the same variables but has no such cap.)
pub fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).ok();
    let directives = std::env::var("RUST_LOG").unwrap_or_default();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let collector =
        subscriber::fmt().with_target(false).without_time().with_env_filter(log_filter(level.as_deref(), &directives));
    if json {
        collector.json().init()
    } else {
        collector.init()
    }
}

/// The filter for Lambda's `level` and `RUST_LOG`'s `directives`, with [`QUIET_TARGETS`] at
/// INFO or the chosen level, whichever is quieter.
pub fn log_filter(level: Option<&str>, directives: &str) -> EnvFilter {
    let level = log_level(level);
    let quiet_level = level.min(LevelFilter::INFO);
    let mut filter = EnvFilter::builder().with_default_directive(level.into()).parse_lossy(directives);
    for quiet in QUIET_TARGETS {
        if let Ok(directive) = format!("{quiet}={quiet_level}").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

/// Lambda's log levels as tracing's: FATAL, which tracing has not, is ERROR; anything unknown INFO.
fn log_level(level: Option<&str>) -> LevelFilter {
    match level {
        Some(l) if l.eq_ignore_ascii_case("fatal") => LevelFilter::ERROR,
        Some(l) => l.parse().unwrap_or(LevelFilter::INFO),
        None => LevelFilter::INFO,
    }
}

/// A filter's target matches every target it begins: `aws` covers every AWS SDK crate
/// (`aws_sdk_s3`, `aws_sigv4`, `aws_smithy_runtime`, …), so a newly added SDK is capped too.
const QUIET_TARGETS: [&str; 4] = ["aws", "hyper", "h2", "rustls"];

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

    /// Where a test's subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged_at(level: Option<&str>, directives: &str) -> String {
        use lambda_runtime::tracing::{debug, error, info};
        use subscriber::util::SubscriberInitExt;
        let captured = Captured::default();
        let writer = captured.clone();
        let collector = subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_env_filter(log_filter(level, directives))
            .finish();
        {
            let _guard = collector.set_default();
            debug!(target: "aws_sdk_s3::operation", "s3 request internals");
            debug!(target: "aws_sigv4::http_request", "canonical request with the access key id");
            debug!(target: "hyper_util::client", "connection pool");
            info!(target: "aws_config::meta", "credentials from the environment");
            debug!(target: "lambda_support::tests", "ecr-keeper debug");
            error!(target: "lambda_support::tests", "ecr-keeper error");
        }
        let bytes = captured.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).to_string()
    }

    #[test]
    fn the_sdk_logs_nothing_below_info_at_any_level() {
        let logged = logged_at(Some("DEBUG"), "");
        assert!(logged.contains("ecr-keeper debug"), "{logged}");
        assert!(logged.contains("credentials from the environment"), "{logged}");
        for secret in ["s3 request internals", "canonical request", "connection pool"] {
            assert!(!logged.contains(secret), "{secret} logged at DEBUG:\n{logged}");
        }
        let logged = logged_at(Some("TRACE"), "");
        assert!(!logged.contains("canonical request"), "{logged}");
    }

    #[test]
    fn lambda_s_log_levels_govern_ecr_keeper_s_own_logs() {
        let info = logged_at(Some("INFO"), "");
        // WARN quiets the SDK's INFO too: the cap never makes a target louder than the level.
        let warn = logged_at(Some("WARN"), "");
        assert!(!warn.contains("credentials") && warn.contains("ecr-keeper error"), "{warn}");
        assert!(!info.contains("ecr-keeper debug") && info.contains("ecr-keeper error"), "{info}");
        // FATAL, which tracing has not, keeps errors only.
        let fatal = logged_at(Some("FATAL"), "");
        assert!(fatal.contains("ecr-keeper error") && !fatal.contains("credentials"), "{fatal}");
        // No level, or one Lambda does not know: INFO.
        for level in [None, Some("LOUD")] {
            let logged = logged_at(level, "");
            assert!(logged.contains("credentials") && !logged.contains("ecr-keeper debug"), "{level:?}: {logged}");
        }
    }
}
