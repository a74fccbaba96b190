//! Weekly cost report: logged as one JSON line, published as metrics (PutMetricData) and as the
//! dashboard `KEEPER_COST_DASHBOARD` (default `ecr-keeper-costs`). Savings are projected against
//! the team's standard, `KEEPER_STANDARD_*`, read exactly as the audit reads it.

use ecr_keeper_aws::{
    cloudwatch_client, ecr_client, sdk_config, AwsOptions, CloudWatchSink, CloudWatchStore, EcrRegistry, RetryProfile,
};
use ecr_keeper_core::config::standard_from_env;
use ecr_keeper_core::cost::{cost_report, publish, CostOptions, Prices, DASHBOARD_NAME};
use ecr_keeper_core::lifecycle::{generate, PolicyParams};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};

#[derive(Debug)]
struct ReportFailed(String);

impl From<ReportFailed> for Diagnostic {
    fn from(e: ReportFailed) -> Self {
        Diagnostic { error_type: "CostReportFailed".into(), error_message: e.0 }
    }
}

/// A price or count from the environment, with the variable named in the error.
fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| format!("{name}: \"{v}\" is not a number")),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let defaults = Prices::default();
    let prices = Prices {
        storage_per_gb_month: env_number("KEEPER_PRICE_PER_GB_MONTH", defaults.storage_per_gb_month)?,
        archive_per_gb_month: env_number("KEEPER_ARCHIVE_PRICE_PER_GB_MONTH", defaults.archive_per_gb_month)?,
        enhanced_first_scan: env_number("KEEPER_ENHANCED_SCAN_PRICE", defaults.enhanced_first_scan)?,
        enhanced_rescan: env_number("KEEPER_ENHANCED_RESCAN_PRICE", defaults.enhanced_rescan)?,
    };
    let sdk = sdk_config(&AwsOptions { retry: RetryProfile::Scheduled, ..AwsOptions::default() }).await;
    let options = CostOptions {
        region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
        repository_prefix: std::env::var("KEEPER_REPOSITORY_PREFIX").ok().filter(|p| !p.is_empty()),
        concurrency: env_number("KEEPER_CONCURRENCY", 8usize)?,
        top: env_number("KEEPER_TOP", 10usize)?,
        prices,
    };
    let env = |name: &str| std::env::var(name).ok();
    let standard = standard_from_env(&env)?.map_or_else(PolicyParams::default, |s| s.params());
    let standard = generate(&standard)?;
    let dashboard = std::env::var("KEEPER_COST_DASHBOARD").ok().filter(|d| !d.trim().is_empty());
    let dashboard = dashboard.unwrap_or_else(|| DASHBOARD_NAME.to_string());
    let registry = EcrRegistry::new(ecr_client(&sdk));
    let store = CloudWatchStore::new(cloudwatch_client(&sdk));
    let sink = CloudWatchSink::new(cloudwatch_client(&sdk));
    let (registry, store, sink, options, standard, dashboard) =
        (&registry, &store, &sink, &options, &standard, dashboard.as_str());
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<Value>| async move {
        let report = cost_report(registry, Some(store), options, standard, chrono::Utc::now())
            .await
            .map_err(|e| ReportFailed(e.to_string()))?;
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        publish(&report, sink, store, dashboard).await.map_err(|e| ReportFailed(e.to_string()))?;
        Ok::<Value, ReportFailed>(json!({
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
