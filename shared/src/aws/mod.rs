//! The only place that calls AWS: SDK configuration and the adapters implementing the ports.

mod cloudwatch;
mod config;
mod ecr;

pub use cloudwatch::{batches, CloudWatchSink, CloudWatchStore, MAX_METRICS_PER_REQUEST};
pub use config::{cloudwatch_client, ecr_client, sdk_config, AwsOptions, RetryProfile};
pub use ecr::EcrRegistry;

use crate::config::MetricsMode;
use crate::metrics::{EmfSink, Metric, MetricsError, MetricsSink, NoMetrics};
use aws_config::SdkConfig;

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
