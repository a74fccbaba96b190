//! The only place that calls AWS: SDK configuration and the adapters implementing the ports.

mod config;
mod ecr;

pub use config::{cloudwatch_client, ecr_client, sdk_config, AwsOptions};
pub use ecr::EcrRegistry;
