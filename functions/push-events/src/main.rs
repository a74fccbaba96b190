//! EventBridge `ECR Image Action` → metrics, scan assurance, unmanaged-tag warnings. With
//! `KEEPER_MEMBER_ROLE_NAME`, an event forwarded from a member account is handled in that
//! account, through its member role. The handler (`lambda_support::reactions::PushHandler`) is
//! built here once, from the SDK's adapters, and unit-tested there on the stand-ins.

use ecr_keeper_aws::{ecr_client, sdk_config, AwsOptions, ConfiguredSink, EcrRegistry, MemberRegistries, RetryProfile};
use ecr_keeper_core::config::EventsConfig;
use ecr_keeper_core::metrics::Series;
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::members::Members;
use lambda_support::reactions::PushHandler;
use lambda_support::FunctionError;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let config = EventsConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Interactive)).await;
    let members = match &config.member_role {
        Some(role) => {
            let registries =
                MemberRegistries::with_role(&sdk, role, config.member_external_id.as_deref(), "ecr-keeper-push-events")
                    .await;
            let own = registries.own_account().map(str::to_string);
            let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
            Some(Members::new(registries, own, &region))
        }
        None => None,
    };
    // KEEPER_METRIC_SERIES: the essential totals by default (each series is billed monthly).
    let sink = Series { sink: ConfiguredSink::new(config.metrics, &sdk), series: config.metric_series };
    let handler = PushHandler::new(EcrRegistry::new(ecr_client(&sdk)), members, sink, config);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let handled = handler.handle(&event.payload).await?;
        Ok::<Value, FunctionError>(serde_json::to_value(handled).unwrap_or_default())
    }))
    .await
}
