//! Scheduled lifecycle audit: every repository's checks, logged as one JSON report line, with
//! metrics; optional remediation.

use ecr_keeper_aws::{ecr_client, sdk_config, AwsOptions, ConfiguredSink, EcrRegistry, RetryProfile};
use ecr_keeper_core::audit::{audit, audit_metrics, AuditOptions};
use ecr_keeper_core::config::AuditConfig;
use ecr_keeper_core::metrics::MetricsSink;
use ecr_keeper_core::ports::{Clock, SystemClock};
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::{remaining, FunctionError};
use serde_json::{json, Value};
use std::time::Duration;

/// Time kept back to log the report and publish metrics after the last repository.
const REPORT_RESERVE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let config = AuditConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Scheduled)).await;
    let registry = EcrRegistry::new(ecr_client(&sdk));
    let sink = ConfiguredSink::new(config.metrics, &sdk);
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let (registry, sink, config, region) = (&registry, &sink, &config, &region);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let left = remaining(event.context.deadline);
        let options = AuditOptions {
            region: region.clone(),
            repository_prefix: config.repository_prefix.clone(),
            concurrency: config.concurrency,
            remediation: config.remediation,
            deadline: Some(tokio::time::Instant::now() + left.saturating_sub(REPORT_RESERVE)),
        };
        let report =
            audit(registry, &config.settings, &options, SystemClock.now()).await.map_err(FunctionError::Audit)?;
        // One line: log subscriptions and Logs Insights read it whole.
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        if let Err(e) = sink.publish(&audit_metrics(&report)).await {
            tracing::warn!(error = %e, "audit metrics were not published");
        }
        Ok::<Value, FunctionError>(json!({
            "complete": report.complete,
            "repositories": report.summary.repositories,
            "nonCompliant": report.summary.non_compliant,
            "overdueImages": report.summary.overdue.images,
            "unreached": report.unreached,
            "remediation": report.remediation.len(),
        }))
    }))
    .await
}
