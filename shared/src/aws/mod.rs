//! The only place that calls AWS: SDK configuration and the adapters implementing the ports.

mod alerting;
mod cloudwatch;
mod config;
mod ecr;
mod failure;

pub use alerting::{DynamoLedger, SnsPublisher};
pub use cloudwatch::{batches, CloudWatchSink, CloudWatchStore, MAX_METRICS_PER_REQUEST};
pub use config::{cloudwatch_client, dynamodb_client, ecr_client, sdk_config, sns_client, AwsOptions, RetryProfile};
pub use ecr::EcrRegistry;

use crate::config::MetricsMode;
use crate::metrics::{EmfSink, Metric, MetricsError, MetricsSink, NoMetrics};
use aws_config::SdkConfig;

/// Where `KEEPER_ALERTS` sends alerts.
pub enum ConfiguredAlerts {
    Sns(crate::alerts::Alerter<SnsPublisher, DynamoLedger>),
    LogOnly,
}

impl crate::alerts::Alerts for ConfiguredAlerts {
    async fn deliver(
        &self,
        alert: crate::alerts::ImageAlert,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::alerts::Delivery, crate::alerts::AlertError> {
        match self {
            ConfiguredAlerts::Sns(a) => a.deliver(alert, now).await,
            ConfiguredAlerts::LogOnly => Ok(crate::alerts::Delivery::NotSent),
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
