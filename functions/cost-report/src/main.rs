//! Weekly cost report: logged as one JSON line, published as metrics (PutMetricData) and as the
//! dashboard `KEEPER_COST_DASHBOARD` (default `ecr-keeper-costs`). Savings are projected against
//! the team's standard, `KEEPER_STANDARD_*`, read exactly as the audit reads it.

use ecr_keeper_aws::{
    cloudwatch_client, ecr_client, sdk_config, AwsOptions, CloudWatchSink, CloudWatchStore, EcrRegistry, RetryProfile,
};
use ecr_keeper_core::config::CostConfig;
use ecr_keeper_core::cost::{cost_report, publish};
use ecr_keeper_core::ports::{Clock, SystemClock};
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::FunctionError;
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let config = CostConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Scheduled)).await;
    let CostConfig { mut options, standard, dashboard } = config;
    options.region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let registry = EcrRegistry::new(ecr_client(&sdk));
    // One client for reads, dashboards and metrics: each client built costs start-up time.
    let cloudwatch = cloudwatch_client(&sdk);
    let store = CloudWatchStore::new(cloudwatch.clone());
    let sink = CloudWatchSink::new(cloudwatch);
    let (registry, store, sink, options, standard, dashboard) =
        (&registry, &store, &sink, &options, &standard, dashboard.as_str());
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let report = cost_report(registry, Some(store), options, standard, SystemClock.now())
            .await
            .map_err(FunctionError::CostReport)?;
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        publish(&report, sink, store, dashboard).await?;
        Ok::<Value, FunctionError>(json!({
            "repositories": report.total.repositories,
            "monthlyCostUsd": report.total.monthly_cost_usd,
            "projectedMonthlyCostUsd": report.total.projected_monthly_cost_usd,
            "standardPolicySavingsUsd": report.total.standard_policy_savings_usd,
            "previousTotal": report.previous_total,
            "top": report.top,
        }))
    }))
    .await
}
