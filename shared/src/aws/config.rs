//! One way to build SDK configuration and clients, for the functions and the CLI alike.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::time::Duration;

/// Overrides on top of the standard AWS configuration chain (environment, profile, IMDS).
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    /// A non-AWS endpoint (moto, LocalStack). `AWS_ENDPOINT_URL` is honoured without this.
    pub endpoint_url: Option<String>,
    /// Attempts per call, first one included (standard retry mode). Default 3.
    pub max_attempts: Option<u32>,
    /// Bound on one call including its retries. Default 20 s.
    pub operation_timeout: Option<Duration>,
}

pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// Loads the configuration once per process; clients are built from it.
pub async fn sdk_config(options: &AwsOptions) -> SdkConfig {
    let retry = RetryConfig::standard().with_max_attempts(options.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS).max(1));
    let operation = options.operation_timeout.unwrap_or(OPERATION_TIMEOUT);
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT.min(operation))
        .operation_timeout(operation)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry).timeout_config(timeouts);
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

pub fn ecr_client(config: &SdkConfig) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(config)
}

pub fn cloudwatch_client(config: &SdkConfig) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(config)
}
