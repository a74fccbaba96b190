//! AWS failures as one line a person can act on: what went wrong, and what to do about it.
//! The SDK's own detail (requests, retries, the full error chain) is behind `--verbose` or
//! `RUST_LOG`.

use aws_credential_types::provider::future;
use aws_sdk_ecr::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use ecr_keeper_aws::RetryProfile;
use ecr_keeper_core::ports::RegistryError;
use std::time::Duration;

/// What is missing or wrong before any AWS call can succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("no AWS region: pass --region, or set AWS_REGION (or a region in your AWS profile)")]
    NoRegion,
    #[error("AWS profile '{0}' (AWS_PROFILE) is in neither ~/.aws/config nor ~/.aws/credentials; aws configure list-profiles shows those there")]
    NoSuchProfile(String),
    #[error(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE for a profile \
         (aws configure; aws sso login for SSO) ({0})"
    )]
    NoCredentials(String),
    #[error("{flag} '{value}' is not a URL ({why}); give http:// or https:// and a host, e.g. http://127.0.0.1:5000")]
    BadEndpoint { flag: &'static str, value: String, why: String },
    #[error("--region '{0}' is not a region name: lowercase letters, digits and hyphens, e.g. us-east-1")]
    BadRegion(String),
    #[error("cannot use {target}: {cause}; check --endpoint-url (or AWS_ENDPOINT_URL), --region, HTTPS_PROXY and the network")]
    Unreachable { target: String, cause: ecr_keeper_aws::Unreachable },
}

/// The endpoint as given, refused before any call when no request could ever reach it (the SDK
/// would retry it for seconds, then print its request).
pub fn check_endpoint(flag: &'static str, value: &str) -> Result<(), SetupError> {
    let bad = |why: &str| SetupError::BadEndpoint { flag, value: value.to_string(), why: why.to_string() };
    let url = url::Url::parse(value).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(&format!("the scheme is {}", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    Ok(())
}

/// A region name as the SDK will take it.
pub fn check_region(value: &str) -> Result<(), SetupError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(SetupError::BadRegion(value.to_string()))
    }
}

/// The profile AWS_PROFILE names, when it names one the files do not have: the SDK would
/// otherwise report only what it then lacks (a region).
pub async fn missing_profile() -> Option<String> {
    let name = std::env::var("AWS_PROFILE").ok().filter(|n| !n.trim().is_empty())?;
    let files = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &aws_runtime::env_config::file::EnvConfigFiles::default(),
        None,
    )
    .await
    .ok()?;
    files.get_profile(&name).is_none().then_some(name)
}

/// A region and credentials, checked before the first call. The configuration returned hands
/// the credentials fetched here to its first client, so a credential_process (aws-vault,
/// granted) or an SSO portal is asked once a run, not once here and again by the SDK.
pub async fn preflight(config: aws_config::SdkConfig) -> Result<aws_config::SdkConfig, SetupError> {
    if let Some(name) = missing_profile().await {
        return Err(SetupError::NoSuchProfile(name));
    }
    if config.region().is_none() {
        return Err(SetupError::NoRegion);
    }
    let Some(provider) = config.credentials_provider() else {
        return Err(SetupError::NoCredentials("no credential provider is configured".into()));
    };
    let fetched = provider.provide_credentials().await.map_err(|e| SetupError::NoCredentials(credentials_cause(&e)))?;
    let once = FetchedOnce { first: std::sync::Mutex::new(Some(fetched)), then: provider };
    Ok(config.to_builder().credentials_provider(SharedCredentialsProvider::new(once)).build())
}

/// Credentials already fetched, given once; then the provider they came from (which the SDK's
/// identity cache asks again when they expire).
#[derive(Debug)]
struct FetchedOnce {
    first: std::sync::Mutex<Option<Credentials>>,
    then: SharedCredentialsProvider,
}

impl ProvideCredentials for FetchedOnce {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        match self.first.lock().ok().and_then(|mut first| first.take()) {
            Some(credentials) => future::ProvideCredentials::ready(Ok(credentials)),
            None => self.then.provide_credentials(),
        }
    }
}

/// The credential chain's failure, short: its first cause, not each provider's story (`--verbose`
/// has those).
fn credentials_cause(err: &(dyn std::error::Error + 'static)) -> String {
    const MAX: usize = 160;
    let line = ecr_keeper_aws::one_line(err);
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
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
