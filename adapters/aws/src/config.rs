//! One way to build SDK configuration and clients, for the functions and the CLI alike.
//!
//! Retries: the SDK's *standard* mode (exponential backoff with full jitter, a retry quota
//! shared by the process) for every workload. Adaptive mode was ruled out: its client-side
//! rate limiter slows *every* later call after a few throttles (down to half a request per
//! second), which turns a short audit into minutes, while our concurrency is already bounded.
//! What differs per workload is how long a call may keep trying:
//!
//! - [`RetryProfile::Interactive`] (custom resource, event functions): 3 attempts, 20 s per
//!   call. CloudFormation waits on the custom resource, and the event functions have Lambda's own
//!   retries and a dead-letter queue behind them, so failing fast and saying so beats waiting.
//! - [`RetryProfile::Scheduled`] (audit, cost report, and the CLI, which runs only those two):
//!   10 attempts from a 100 ms base, 90 s per
//!   call. Nobody waits on these, they are read-only, and they read many repositories in a burst
//!   that ECR may throttle; at a 50 % throttle rate a call still fails only once in 1,024.

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How persistently calls retry; see the module documentation for why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RetryProfile {
    #[default]
    Interactive,
    Scheduled,
}

impl RetryProfile {
    pub fn max_attempts(self) -> u32 {
        match self {
            RetryProfile::Interactive => 3,
            RetryProfile::Scheduled => 10,
        }
    }

    pub fn retry_config(self) -> RetryConfig {
        let base = RetryConfig::standard().with_max_attempts(self.max_attempts());
        match self {
            // The SDK's defaults: 1 s base, 20 s cap.
            RetryProfile::Interactive => base,
            RetryProfile::Scheduled => {
                base.with_initial_backoff(Duration::from_millis(100)).with_max_backoff(Duration::from_secs(10))
            }
        }
    }

    pub fn timeout_config(self) -> TimeoutConfig {
        let operation = match self {
            RetryProfile::Interactive => Duration::from_secs(20),
            RetryProfile::Scheduled => Duration::from_secs(90),
        };
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(operation)
            .build()
    }
}

/// Overrides on top of the standard AWS configuration chain (environment, profile, IMDS).
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    /// A non-AWS endpoint (moto, LocalStack). `AWS_ENDPOINT_URL` is honoured without this.
    pub endpoint_url: Option<String>,
    pub retry: RetryProfile,
    pub trust: crate::TrustRoots,
}

impl AwsOptions {
    /// What a Lambda function uses: the environment's region and credentials, the bundled TLS
    /// roots, and the retry profile of its workload.
    pub fn lambda(retry: RetryProfile) -> Self {
        AwsOptions { retry, trust: crate::TrustRoots::Bundled, ..AwsOptions::default() }
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);

/// Loads the configuration once per process; clients are built from it.
pub async fn sdk_config(options: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(options.retry.retry_config())
        .timeout_config(options.retry.timeout_config());
    let env = |name: &str| std::env::var(name).ok();
    if credentials_in_environment(env) {
        // What the default chain would choose first anyway (and what Lambda provides), without
        // building the rest of the chain: profile, web identity, ECS and IMDS providers took
        // about 4 ms of every cold start (measured: `examples/startup_steps.rs`).
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    if options.trust == crate::TrustRoots::Bundled && crate::trust::bundled_roots_apply(env) {
        if let Some(client) = crate::trust::bundled_https_client() {
            loader = loader.http_client(client);
        }
    }
    // The region the default chain would pick first (AWS_REGION, which Lambda sets), given
    // directly: the chain otherwise builds its profile and IMDS providers at every start.
    if let Some(region) = options.region.clone().or_else(|| region_in_environment(env)) {
        loader = loader.region(Region::new(region));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`: the default region chain's first provider.
fn region_in_environment(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .filter_map(|k| get(k))
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
}

/// Both keys of the environment credentials are set, as Lambda sets them.
fn credentials_in_environment(get: impl Fn(&str) -> Option<String>) -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].iter().all(|k| get(k).is_some_and(|v| !v.trim().is_empty()))
}

pub fn cloudformation_client(config: &SdkConfig) -> aws_sdk_cloudformation::Client {
    aws_sdk_cloudformation::Client::new(config)
}

pub fn ecr_client(config: &SdkConfig) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::from_conf(ecr_config(config).build())
}

/// ECR's configuration for every client of ours: an HTML page is final, never retried.
pub(crate) fn ecr_config(config: &SdkConfig) -> aws_sdk_ecr::config::Builder {
    aws_sdk_ecr::config::Builder::from(config).retry_classifier(crate::answers::HtmlIsFinal)
}

/// Service Quotas' configuration: `EcrRegistry::reading_quotas` builds the client when it first
/// reads.
#[cfg(feature = "service-quotas")]
pub fn service_quotas_config(config: &SdkConfig) -> aws_sdk_servicequotas::Config {
    aws_sdk_servicequotas::Config::new(config)
}

/// An SDK client built at its first call and shared by its clones. A scheduled run's shards,
/// most of a large run's cold starts, never call some clients their function holds (Service
/// Quotas, the cost report's CloudWatch); built at start, each would cost about half a million
/// instructions for nothing, most of it its crate's partitions table (docs/performance.md,
/// "Start-up, counted again").
#[derive(Clone)]
pub struct OnFirstCall<T>(Arc<Lazy<T>>);

struct Lazy<T> {
    build: Box<dyn Fn() -> T + Send + Sync>,
    client: OnceLock<T>,
}

impl<T> OnFirstCall<T> {
    pub fn new(build: impl Fn() -> T + Send + Sync + 'static) -> Self {
        OnFirstCall(Arc::new(Lazy { build: Box::new(build), client: OnceLock::new() }))
    }

    pub fn get(&self) -> &T {
        self.0.client.get_or_init(&self.0.build)
    }
}

/// A client already built (the CLI, the tests).
impl<T: Clone + Send + Sync + 'static> From<T> for OnFirstCall<T> {
    fn from(client: T) -> Self {
        let built = OnceLock::new();
        let _ = built.set(client.clone());
        OnFirstCall(Arc::new(Lazy { build: Box::new(move || client.clone()), client: built }))
    }
}

impl<T> std::fmt::Debug for OnFirstCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.client.get().is_some() { "OnFirstCall(built)" } else { "OnFirstCall(not yet built)" })
    }
}

/// CloudWatch's client, built at its first call: the cost report's shards never call it.
pub fn cloudwatch_on_first_call(config: &SdkConfig) -> OnFirstCall<aws_sdk_cloudwatch::Client> {
    let config = aws_sdk_cloudwatch::Config::new(config);
    OnFirstCall::new(move || aws_sdk_cloudwatch::Client::from_conf(config.clone()))
}

pub fn cloudwatch_client(config: &SdkConfig) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(config)
}

pub fn sns_client(config: &SdkConfig) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(config)
}

pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// With an endpoint override (moto, LocalStack, MinIO) S3 is addressed by path: virtual-hosted
/// names (`bucket.127.0.0.1`) do not resolve there. AWS itself keeps virtual-hosted style.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = config.endpoint_url().is_some();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).force_path_style(path_style).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_credentials_need_both_keys() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert!(credentials_in_environment(env(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")])));
        assert!(!credentials_in_environment(env(&[("AWS_ACCESS_KEY_ID", "a")])));
        assert!(!credentials_in_environment(env(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", " ")])));
        assert!(!credentials_in_environment(env(&[])));
    }

    #[test]
    fn a_client_on_first_call_is_built_once_at_the_first_call_and_shared_by_clones() {
        let builds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = builds.clone();
        let lazy = OnFirstCall::new(move || counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1);
        let clone = lazy.clone();
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing built at start");
        assert_eq!((*lazy.get(), *clone.get(), *lazy.get()), (1, 1, 1));
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 1, "one build for both");
        let built = OnFirstCall::from(7);
        assert_eq!((*built.get(), format!("{built:?}")), (7, "OnFirstCall(built)".to_string()));
    }

    #[test]
    fn the_region_comes_from_aws_region_before_aws_default_region() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let both = env(&[("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(region_in_environment(both).as_deref(), Some("eu-west-1"));
        let blank = env(&[("AWS_REGION", " "), ("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(region_in_environment(blank).as_deref(), Some("us-east-1"));
        // Neither: the SDK's chain (profile, IMDS) decides, as before.
        assert_eq!(region_in_environment(env(&[])), None);
    }
}
