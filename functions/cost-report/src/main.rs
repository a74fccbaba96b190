//! The cost report. Invoked by the state machine (`statemachines/scheduled-run.asl.json`) it runs
//! one step of a scheduled run — plan, a shard, or aggregate — and keeps the report in S3;
//! invoked without a `mode` it reports on the whole registry in one run, logged as one JSON line.
//! Either way the totals go to CloudWatch (PutMetricData) and the dashboard
//! `KEEPER_COST_DASHBOARD` (default `ecr-keeper-costs`). Savings are projected against the
//! team's standard, `KEEPER_STANDARD_*`, read exactly as the audit reads it. The handler
//! (`lambda_support::cost::CostHandler`) is built here once, from the SDK's adapters, and
//! unit-tested there on the stand-ins.

use ecr_keeper_aws::{
    cloudwatch_on_first_call, ecr_client, s3_client, sdk_config, sns_client, AwsOptions, CloudWatchSink,
    CloudWatchStore, EcrRegistry, MemberRegistries, OrganizationsDirectory, RetryProfile, S3ReportStore, SnsPublisher,
};
use ecr_keeper_core::config::{metric_series_from_env, CostConfig, ScheduledRunConfig};
use ecr_keeper_core::metrics::Series;
use ecr_keeper_core::organization::Scope;
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::cost::{CostHandler, CostPorts, CostSettings};
use lambda_support::scheduled::RunOrganization;
use lambda_support::{remaining, FunctionError};
use serde_json::Value;

type Handler = CostHandler<
    EcrRegistry,
    CloudWatchStore,
    Series<CloudWatchSink>,
    S3ReportStore,
    SnsPublisher,
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
    let CostConfig { mut options, standard, dashboard } = CostConfig::from_env(env)?;
    let scheduled = ScheduledRunConfig::from_env(env)?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Scheduled)).await;
    options.region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    // One client for reads, dashboards and metrics, built at its first call: the shards, most of
    // a run's cold starts, never call CloudWatch.
    let cloudwatch = cloudwatch_on_first_call(&sdk);
    let organization = match Scope::from_env(env)? {
        Some(scope) => Some(RunOrganization {
            registries: MemberRegistries::new(&sdk, &scope, "ecr-keeper-cost").await,
            // Only an organization run reads the directory: its client is built for those alone.
            directory: OrganizationsDirectory::new(&sdk),
            scope,
        }),
        None => None,
    };
    let ports = CostPorts {
        registry: EcrRegistry::new(ecr_client(&sdk)),
        metrics_store: CloudWatchStore::new(cloudwatch.clone()),
        sink: Series { sink: CloudWatchSink::new(cloudwatch), series: metric_series_from_env(env)? },
        store: S3ReportStore::new(s3_client(&sdk), scheduled.run.bucket.clone()),
        publisher: scheduled.summary_topic_arn.as_ref().map(|arn| SnsPublisher::new(sns_client(&sdk), arn)),
    };
    let repository_metrics = Scope::repository_metrics_from_env(env)?;
    Ok(CostHandler::new(
        ports,
        CostSettings { options, standard, dashboard, scheduled, repository_metrics },
        organization,
    ))
}
