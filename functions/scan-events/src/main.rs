//! EventBridge `ECR Image Scan` and `Inspector2 Scan` → findings metrics, threshold and
//! suppressions, one alert per image with new findings (SNS, de-duplicated in DynamoDB).

use ecr_keeper_aws::{
    dynamodb_client, ecr_client, sdk_config, sns_client, AwsOptions, ConfiguredAlerts, ConfiguredSink, DynamoLedger,
    EcrRegistry, RetryProfile, SnsPublisher,
};
use ecr_keeper_core::alerts::{AlertMode, Alerter};
use ecr_keeper_core::config::{AlertsConfig, EventsConfig};
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_core::reactions::{handle_scan_event, ScanReactor};
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::FunctionError;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let env = |name: &str| std::env::var(name).ok();
    let config = EventsConfig::from_env(env)?;
    let alerts = AlertsConfig::from_env(env)?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Interactive)).await;
    let alerts = match (&alerts.mode, alerts.topic_arn, alerts.table) {
        (AlertMode::Sns, Some(topic), Some(table)) => ConfiguredAlerts::Sns(Alerter::new(
            SnsPublisher::new(sns_client(&sdk), topic),
            DynamoLedger::new(dynamodb_client(&sdk), table),
            alerts.settings,
        )),
        _ => ConfiguredAlerts::LogOnly,
    };
    let reactor = ScanReactor::with_alerts(EcrRegistry::new(ecr_client(&sdk)), config.findings, alerts, SystemClock);
    let sink = ConfiguredSink::new(config.metrics, &sdk);
    let (reactor, sink) = (&reactor, &sink);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let handled = handle_scan_event(&event.payload, reactor, sink).await.map_err(FunctionError::from)?;
        Ok::<Value, FunctionError>(serde_json::to_value(handled).unwrap_or_default())
    }))
    .await
}
