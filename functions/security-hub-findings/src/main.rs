//! The scheduled audit's findings into AWS Security Hub: the state machine's Findings step, after
//! the aggregate kept the report (KEEPER_SECURITY_HUB). Its own function so the audit does not
//! link the Security Hub SDK. The handler (`lambda_support::findings::FindingsHandler`) is built
//! here once and unit-tested there on the stand-ins.

use ecr_keeper_aws::{
    s3_client, sdk_config, AwsOptions, MemberRegistries, RetryProfile, S3ReportStore, SecurityHubFindings,
};
use ecr_keeper_core::config::ScheduledRunConfig;
use ecr_keeper_core::organization::Scope;
use ecr_keeper_core::run::DEFAULT_CONCURRENCY;
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::findings::FindingsHandler;
use lambda_support::FunctionError;
use serde_json::Value;

type Handler = FindingsHandler<S3ReportStore, SecurityHubFindings, MemberRegistries>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let handler = from_env().await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Value>| async move { handler.handle(&event.payload).await },
    ))
    .await
}

/// The reports bucket, the own account's hub and, with KEEPER_ACCOUNTS, the member roles.
async fn from_env() -> Result<Handler, FunctionError> {
    let env = |name: &str| std::env::var(name).ok();
    let scheduled = ScheduledRunConfig::from_env(env)?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Scheduled)).await;
    // The audit's sessions: a member's CloudTrail shows the same run (`ecr-keeper-audit-<run>`).
    let members = match Scope::from_env(env)? {
        Some(scope) => Some(MemberRegistries::new(&sdk, &scope, "ecr-keeper-audit").await),
        None => None,
    };
    let store = S3ReportStore::new(s3_client(&sdk), scheduled.bucket()?);
    Ok(FindingsHandler::new(store, SecurityHubFindings::new(&sdk, ""), members, DEFAULT_CONCURRENCY))
}
