//! AWS failures as one line a person can act on: what went wrong, and what to do about it.
//! The SDK's own detail (requests, retries, the full error chain) is behind `--verbose` or
//! `RUST_LOG`.

use aws_sdk_ecr::config::ProvideCredentials;
use ecr_keeper_aws::RetryProfile;
use ecr_keeper_core::ports::RegistryError;
use std::time::Duration;

/// What is missing before any AWS call can succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("no AWS region: pass --region, or set AWS_REGION (or a region in your AWS profile)")]
    NoRegion,
    #[error(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE for a profile \
         (aws configure; aws sso login for SSO) ({0})"
    )]
    NoCredentials(String),
}

/// A region and credentials, checked before the first call.
pub async fn preflight(config: &aws_config::SdkConfig) -> Result<(), SetupError> {
    if config.region().is_none() {
        return Err(SetupError::NoRegion);
    }
    let Some(provider) = config.credentials_provider() else {
        return Err(SetupError::NoCredentials("no credential provider is configured".into()));
    };
    provider
        .provide_credentials()
        .await
        .map(|_| ())
        .map_err(|e| SetupError::NoCredentials(ecr_keeper_aws::one_line(&e)))
}

/// What a failed read of the registry means, in one line.
pub fn explain(error: &RegistryError, target: &str, elapsed: Duration) -> String {
    let attempts = RetryProfile::Scheduled.max_attempts();
    let took = format!("{} attempts in {} s", attempts, elapsed.as_secs());
    match error {
        RegistryError::Transport { operation, message } => format!(
            "could not reach {target} ({operation}) after {took}: {message}; check --endpoint-url, --region and the network"
        ),
        RegistryError::AccessDenied { operation, message } => format!(
            "access denied: the credentials in use may not call ecr:{operation} ({message}); grant that permission, or use other credentials (AWS_PROFILE)"
        ),
        RegistryError::Throttled { operation } => format!(
            "ECR kept throttling {operation} after {took}; try again later, or lower --concurrency"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_common_failure_is_one_line_saying_what_to_do() {
        let t = Duration::from_secs(12);
        let cases = [
            (RegistryError::Transport { operation: "DescribeRepositories", message: "connection refused".into() }, "could not reach http://127.0.0.1:9 (DescribeRepositories) after 10 attempts in 12 s: connection refused; check --endpoint-url"),
            (RegistryError::AccessDenied { operation: "DescribeImages", message: "User: x is not authorized".into() }, "access denied: the credentials in use may not call ecr:DescribeImages"),
            (RegistryError::Throttled { operation: "DescribeImages" }, "ECR kept throttling DescribeImages after 10 attempts in 12 s; try again later, or lower --concurrency"),
        ];
        for (error, expected) in cases {
            let line = explain(&error, "http://127.0.0.1:9", t);
            assert!(line.starts_with(expected), "{line}");
            assert!(!line.contains('\n') && !line.contains("DispatchFailure"), "{line}");
        }
    }
}
