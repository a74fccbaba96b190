//! The lifecycle audit. Invoked by the state machine (`statemachines/scheduled-run.asl.json`) it
//! runs one step of a scheduled run — plan, a shard, or aggregate — and keeps the report in S3;
//! invoked without a `mode` it audits the whole registry in one run, logging the report as one
//! JSON line (small registries, and anyone invoking it by hand). The handler
//! (`lambda_support::audit::AuditHandler`) is built here once, from the SDK's adapters, and
//! unit-tested there on the stand-ins.

use ecr_keeper_aws::{
    ecr_client, s3_client, sdk_config, service_quotas_config, sns_client, AwsOptions, AwsWorkloads, ConfiguredSink,
    EcrRegistry, MemberRegistries, OrganizationsDirectory, RetryProfile, S3ReportStore, SnsPublisher,
};
use ecr_keeper_core::config::{AuditConfig, ScheduledRunConfig};
use ecr_keeper_core::metrics::Series;
use ecr_keeper_core::organization::Scope;
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::audit::{AuditHandler, AuditPorts, AuditSettings};
use lambda_support::scheduled::RunOrganization;
use lambda_support::{remaining, FunctionError};
use serde_json::Value;

type Handler = AuditHandler<
    EcrRegistry,
    Series<ConfiguredSink>,
    S3ReportStore,
    SnsPublisher,
    AwsWorkloads,
    MemberRegistries,
    OrganizationsDirectory,
>;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let handler = from_env().await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler.handle(&event.payload, remaining(event.context.deadline)).await
    }))
    .await
}

/// The clients and configuration every invocation uses, built once.
async fn from_env() -> Result<Handler, FunctionError> {
    let env = |name: &str| std::env::var(name).ok();
    let config = AuditConfig::from_env(env)?;
    let scheduled = ScheduledRunConfig::from_env(env)?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Scheduled)).await;
    let organization = match Scope::from_env(env)? {
        Some(scope) => Some(RunOrganization {
            registries: MemberRegistries::new(&sdk, &scope, "ecr-keeper-audit").await,
            // Only an organization run reads the directory: its client is built for those alone.
            directory: OrganizationsDirectory::new(&sdk),
            scope,
        }),
        None => None,
    };
    let ports = AuditPorts {
        registry: EcrRegistry::new(ecr_client(&sdk)).reading_quotas(service_quotas_config(&sdk)),
        sink: Series { sink: ConfiguredSink::new(config.metrics, &sdk), series: config.metric_series },
        store: S3ReportStore::new(s3_client(&sdk), scheduled.run.bucket.clone()),
        publisher: scheduled.summary_topic_arn.as_ref().map(|arn| SnsPublisher::new(sns_client(&sdk), arn)),
        workloads: (!config.in_use.is_empty()).then(|| AwsWorkloads::new(&config.in_use, &sdk)),
    };
    let settings = AuditSettings {
        region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        repository_metrics: Scope::repository_metrics_from_env(env)?,
        config,
        scheduled,
    };
    Ok(AuditHandler::new(ports, settings, organization))
}
