//! `Custom::EcrRepository`. Thin: build the clients once, hand each event to the core, map the
//! result for Lambda.

use ecr_keeper_aws::HttpsTransport;
use ecr_keeper_aws::{ecr_client, sdk_config, AwsOptions, EcrRegistry, RetryProfile};
use ecr_keeper_core::custom_resource::{CustomResourceHandler, Provisioner, ResponsePolicy};
use ecr_keeper_core::ports::SystemClock;
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::{remaining, FunctionError};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let config = sdk_config(&AwsOptions::lambda(RetryProfile::Interactive)).await;
    let provisioner = Provisioner::new(EcrRegistry::new(ecr_client(&config)), SystemClock);
    let handler = CustomResourceHandler::new(provisioner, HttpsTransport::new()?, ResponsePolicy::default());
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let handled =
            handler.handle(event.payload, remaining(event.context.deadline)).await.map_err(FunctionError::from)?;
        Ok::<Value, FunctionError>(json!({
            "Status": handled.status,
            "PhysicalResourceId": handled.physical_resource_id,
            "Reason": handled.reason,
            "Attempts": handled.attempts,
        }))
    }))
    .await
}
