//! `Custom::EcrRepository`. Thin: build the clients once, hand each event to the core, map the
//! result for Lambda.

use ecr_keeper_aws::HttpsTransport;
use ecr_keeper_aws::{ecr_client, sdk_config, AwsOptions, EcrRegistry};
use ecr_keeper_core::custom_resource::{CustomResourceHandler, HandlerError, Provisioner, ResponsePolicy};
use ecr_keeper_core::ports::SystemClock;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use lambda_support::remaining;
use serde_json::{json, Value};

/// A failed invocation, typed for Lambda's error report.
#[derive(Debug)]
struct InvocationError(HandlerError);

impl From<InvocationError> for Diagnostic {
    fn from(e: InvocationError) -> Self {
        let error_type = match e.0 {
            HandlerError::NotCustomResource(_) => "NotCustomResource",
            HandlerError::NotDelivered { .. } => "ResponseNotDelivered",
        };
        Diagnostic { error_type: error_type.into(), error_message: e.0.to_string() }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let config = sdk_config(&AwsOptions::default()).await;
    let provisioner = Provisioner::new(EcrRegistry::new(ecr_client(&config)), SystemClock);
    let handler = CustomResourceHandler::new(provisioner, HttpsTransport::new()?, ResponsePolicy::default());
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let handled =
            handler.handle(event.payload, remaining(event.context.deadline)).await.map_err(InvocationError)?;
        Ok::<Value, InvocationError>(json!({
            "Status": handled.status,
            "PhysicalResourceId": handled.physical_resource_id,
            "Reason": handled.reason,
            "Attempts": handled.attempts,
        }))
    }))
    .await
}
