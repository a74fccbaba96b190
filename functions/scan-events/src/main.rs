//! EventBridge `ECR Image Scan` and `Inspector2 Scan` → findings metrics, threshold and
//! suppressions, one alert per image with new findings (SNS, de-duplicated in DynamoDB). With
//! `KEEPER_MEMBER_ROLE_NAME`, a member account's scan is read in that account, through its
//! member role; the alert names the account. The handler
//! (`lambda_support::reactions::ScanHandler`) is built here once, and unit-tested there.

use ecr_keeper_aws::{
    dynamodb_client, ecr_client, sdk_config, sns_client, AwsOptions, ConfiguredAlerts, ConfiguredSink, DynamoLedger,
    EcrRegistry, MemberRegistries, RetryProfile, SnsPublisher,
};
use ecr_keeper_core::alerts::{AlertMode, Alerter};
use ecr_keeper_core::config::{AlertsConfig, EventsConfig};
use ecr_keeper_core::metrics::Series;
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::members::Members;
use lambda_support::reactions::ScanHandler;
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
    let members = match &config.member_role {
        Some(role) => {
            let registries =
                MemberRegistries::with_role(&sdk, role, config.member_external_id.as_deref(), "ecr-keeper-scan-events")
                    .await;
            let own = registries.own_account().map(str::to_string);
            let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
            Some(Members::new(registries, own, &region))
        }
        None => None,
    };
    // KEEPER_METRIC_SERIES: the essential totals by default (each series is billed monthly).
    let sink = Series { sink: ConfiguredSink::new(config.metrics, &sdk), series: config.metric_series };
    let handler = ScanHandler::new(EcrRegistry::new(ecr_client(&sdk)), members, alerts, sink, config);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let handled = handler.handle(&event.payload).await?;
        Ok::<Value, FunctionError>(serde_json::to_value(handled).unwrap_or_default())
    }))
    .await
}
