//! EventBridge `ECR Image Action` → metrics, scan assurance, unmanaged-tag warnings.

use ecr_keeper_aws::{ecr_client, sdk_config, AwsOptions, ConfiguredSink, EcrRegistry, RetryProfile};
use ecr_keeper_core::config::EventsConfig;
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_core::reactions::{handle_push_event, PushReactor};
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::FunctionError;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let config = EventsConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Interactive)).await;
    let reactor = PushReactor::new(EcrRegistry::new(ecr_client(&sdk)), SystemClock, config.cache_ttl);
    let sink = ConfiguredSink::new(config.metrics, &sdk);
    let (reactor, sink) = (&reactor, &sink);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let handled = handle_push_event(&event.payload, reactor, sink).await.map_err(FunctionError::from)?;
        Ok::<Value, FunctionError>(serde_json::to_value(handled).unwrap_or_default())
    }))
    .await
}
