//! ecr-keeper's adapters: the only crate that calls AWS. SDK configuration, and the
//! implementations of the core's ports (ECR, CloudWatch, SNS, DynamoDB, EMF on stdout, the HTTPS
//! answer to CloudFormation).

mod alerting;
mod answers;
mod cloudwatch;
mod config;
mod ecr;
mod emf;
mod failure;
mod organization;
mod reports;
#[cfg(feature = "security-hub")]
mod security_hub;
mod stacks;
mod transport;
mod trust;
mod workloads;

pub use alerting::{DynamoLedger, SnsPublisher};
pub use answers::{probe_ecr, Unreachable};
pub use cloudwatch::{batches, CloudWatchSink, CloudWatchStore, MAX_METRICS_PER_REQUEST};
#[cfg(feature = "service-quotas")]
pub use config::service_quotas_config;
pub use config::{
    cloudformation_client, cloudwatch_client, cloudwatch_on_first_call, dynamodb_client, ecr_client, s3_client,
    sdk_config, sns_client, AwsOptions, OnFirstCall, RetryProfile,
};
pub use ecr::EcrRegistry;
pub use emf::EmfSink;
pub use organization::{MemberRegistries, OrganizationsDirectory};
pub use reports::S3ReportStore;
#[cfg(feature = "security-hub")]
pub use security_hub::SecurityHubFindings;
pub use stacks::CloudFormationStacks;
pub use transport::HttpsTransport;
pub use trust::TrustRoots;
pub use workloads::AwsWorkloads;

use aws_config::SdkConfig;
use ecr_keeper_core::config::MetricsMode;
use ecr_keeper_core::metrics::{Metric, MetricsError, MetricsSink, NoMetrics};

/// Where `KEEPER_ALERTS` sends alerts.
pub enum ConfiguredAlerts {
    Sns(ecr_keeper_core::alerts::Alerter<SnsPublisher, DynamoLedger>),
    LogOnly,
}

impl ecr_keeper_core::alerts::Alerts for ConfiguredAlerts {
    async fn deliver(
        &self,
        alert: ecr_keeper_core::alerts::ImageAlert,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<ecr_keeper_core::alerts::Delivery, ecr_keeper_core::alerts::AlertError> {
        match self {
            ConfiguredAlerts::Sns(a) => a.deliver(alert, now).await,
            ConfiguredAlerts::LogOnly => Ok(ecr_keeper_core::alerts::Delivery::NotSent),
        }
    }
}

/// The sink `KEEPER_METRICS` chose.
pub enum ConfiguredSink {
    Emf(EmfSink<std::io::Stdout>),
    CloudWatch(CloudWatchSink),
    Off(NoMetrics),
}

impl ConfiguredSink {
    pub fn new(mode: MetricsMode, config: &SdkConfig) -> Self {
        match mode {
            MetricsMode::Emf => ConfiguredSink::Emf(EmfSink::stdout()),
            MetricsMode::CloudWatch => ConfiguredSink::CloudWatch(CloudWatchSink::new(cloudwatch_client(config))),
            MetricsMode::Off => ConfiguredSink::Off(NoMetrics),
        }
    }
}

impl MetricsSink for ConfiguredSink {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        match self {
            ConfiguredSink::Emf(s) => s.publish(metrics).await,
            ConfiguredSink::CloudWatch(s) => s.publish(metrics).await,
            ConfiguredSink::Off(s) => s.publish(metrics).await,
        }
    }
}

/// An SDK failure as one line: each cause once, outermost first, without the SDK's Debug dump
/// of the request and response (`--verbose` / `RUST_LOG` show those).
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        // Some causes span lines (the credential chain lists each provider): fold them.
        let text = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}
