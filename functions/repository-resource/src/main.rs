//! `Custom::EcrRepository`. Thin: build the clients once, hand each event to the core, map the
//! result for Lambda.

use ecr_keeper_aws::HttpsTransport;
use ecr_keeper_aws::{
    cloudformation_client, ecr_client, sdk_config, AwsOptions, AwsWorkloads, CloudFormationStacks, EcrRegistry,
    RetryProfile,
};
use ecr_keeper_core::config::ConfigError;
use ecr_keeper_core::custom_resource::{CustomResourceHandler, Provisioner, ResponsePolicy};
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_core::workloads::WorkloadSource;
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::{remaining, FunctionError};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let config = sdk_config(&AwsOptions::lambda(RetryProfile::Interactive)).await;
    // KEEPER_IN_USE: with it, an Update may not remove more running images than
    // MaxInUseImagesExpiredByUpdate (default 0). An empty reader checks nothing.
    let sources = match std::env::var("KEEPER_IN_USE").ok().filter(|v| !v.trim().is_empty()) {
        Some(text) => {
            WorkloadSource::parse_list(&text).map_err(|message| ConfigError { variable: "KEEPER_IN_USE", message })?
        }
        None => Vec::new(),
    };
    // CloudFormation confirms every request before anything changes (docs/custom-resource.md).
    let stacks = CloudFormationStacks::new(cloudformation_client(&config));
    let provisioner = Provisioner::new(EcrRegistry::new(ecr_client(&config)), SystemClock, stacks);
    let handler = if sources.is_empty() {
        Handler::Plain(CustomResourceHandler::new(provisioner, HttpsTransport::new()?, ResponsePolicy::default()))
    } else {
        let provisioner = provisioner.with_workloads(AwsWorkloads::new(&sources, &config));
        Handler::Guarded(CustomResourceHandler::new(provisioner, HttpsTransport::new()?, ResponsePolicy::default()))
    };
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let remaining = remaining(event.context.deadline);
        let handled = match handler {
            Handler::Plain(h) => h.handle(event.payload, remaining).await,
            Handler::Guarded(h) => h.handle(event.payload, remaining).await,
        }
        .map_err(FunctionError::from)?;
        Ok::<Value, FunctionError>(json!({
            "Status": handled.status,
            "PhysicalResourceId": handled.physical_resource_id,
            "Reason": handled.reason,
            "Attempts": handled.attempts,
        }))
    }))
    .await
}

/// With or without reading workloads: the two are different types, chosen once at start.
enum Handler {
    Plain(CustomResourceHandler<EcrRegistry, SystemClock, CloudFormationStacks, HttpsTransport>),
    Guarded(CustomResourceHandler<EcrRegistry, SystemClock, CloudFormationStacks, HttpsTransport, AwsWorkloads>),
}
