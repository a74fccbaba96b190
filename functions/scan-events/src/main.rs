//! EventBridge `ECR Image Scan` and `Inspector2 Scan` → findings metrics, threshold and
//! suppressions, one alert record per vulnerable image.

use ecr_keeper_core::aws::{ecr_client, sdk_config, AwsOptions, ConfiguredSink, EcrRegistry};
use ecr_keeper_core::config::EventsConfig;
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_core::reactions::{handle_event, PushReactor, ScanReactor};
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::AwsFailure;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let config = EventsConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = sdk_config(&AwsOptions::default()).await;
    let reactor = ScanReactor::new(EcrRegistry::new(ecr_client(&sdk)), config.findings);
    let sink = ConfiguredSink::new(config.metrics, &sdk);
    let (reactor, sink) = (&reactor, &sink);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let no_pushes: Option<&PushReactor<EcrRegistry, SystemClock>> = None;
        let handled = handle_event(&event.payload, no_pushes, Some(reactor), sink).await.map_err(AwsFailure)?;
        Ok::<Value, AwsFailure>(serde_json::to_value(handled).unwrap_or_default())
    }))
    .await
}
