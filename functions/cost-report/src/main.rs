//! The cost report. Invoked by the state machine (`statemachines/scheduled-run.asl.json`) it runs
//! one step of a scheduled run — plan, a shard, or aggregate — and keeps the report in S3;
//! invoked without a `mode` it reports on the whole registry in one run, logged as one JSON line.
//! Either way the totals go to CloudWatch (PutMetricData) and the dashboard
//! `KEEPER_COST_DASHBOARD` (default `ecr-keeper-costs`). Savings are projected against the
//! team's standard, `KEEPER_STANDARD_*`, read exactly as the audit reads it.

use ecr_keeper_aws::{
    cloudwatch_client, ecr_client, s3_client, sdk_config, sns_client, AwsOptions, CloudWatchSink, CloudWatchStore,
    EcrRegistry, RetryProfile, S3ReportStore, SnsPublisher,
};
use ecr_keeper_core::config::{CostConfig, ScheduledRunConfig};
use ecr_keeper_core::cost::{cost_report, previous_total, publish, CostJob, CostReport};
use ecr_keeper_core::ports::{Clock, SystemClock};
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::scheduled::{finish, previous_report, run_step, Step, StepContext, StepOutcome};
use lambda_support::{remaining, FunctionError};
use serde_json::{json, Value};
use std::time::Duration;

/// Time kept back to write the result after the last repository.
const REPORT_RESERVE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let config = CostConfig::from_env(|name| std::env::var(name).ok())?;
    let scheduled = ScheduledRunConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Scheduled)).await;
    let CostConfig { mut options, standard, dashboard } = config;
    options.region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let registry = EcrRegistry::new(ecr_client(&sdk));
    // One client for reads, dashboards and metrics: each client built costs start-up time.
    let cloudwatch = cloudwatch_client(&sdk);
    let metrics_store = CloudWatchStore::new(cloudwatch.clone());
    let sink = CloudWatchSink::new(cloudwatch);
    let store = S3ReportStore::new(s3_client(&sdk), scheduled.run.bucket.clone());
    let publisher = scheduled.summary_topic_arn.as_ref().map(|arn| SnsPublisher::new(sns_client(&sdk), arn));
    let (registry, metrics_store, sink, options, standard, dashboard, scheduled, store, publisher) =
        (&registry, &metrics_store, &sink, &options, &standard, dashboard.as_str(), &scheduled, &store, &publisher);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = SystemClock.now();
        let Some(step) = Step::of(&event.payload) else {
            let report = cost_report(registry, Some(metrics_store), options, standard, now)
                .await
                .map_err(FunctionError::CostReport)?;
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            publish(&report, sink, metrics_store, dashboard).await?;
            return Ok::<Value, FunctionError>(json!({
                "repositories": report.total.repositories,
                "monthlyCostUsd": report.total.monthly_cost_usd,
                "projectedMonthlyCostUsd": report.total.projected_monthly_cost_usd,
                "standardPolicySavingsUsd": report.total.standard_policy_savings_usd,
                "previousTotal": report.previous_total,
                "top": report.top,
                "notRead": report.not_read.len(),
            }));
        };
        let step = step?;
        scheduled.bucket()?;
        // Only the report needs the previous one, read once: its total (CloudWatch's when no
        // report is kept yet) and, at the end, the change.
        let previous: Option<CostReport> = match &step {
            Step::Aggregate { .. } => previous_report(store, "cost").await?,
            _ => None,
        };
        let previous_total = match (&step, &previous) {
            (_, Some(kept)) => Some(kept.total.monthly_cost_usd),
            (Step::Aggregate { .. }, None) => previous_total(metrics_store, now).await,
            _ => None,
        };
        let job = CostJob::new(standard, options, previous_total);
        let cx = StepContext {
            settings: &scheduled.run,
            repository_prefix: options.repository_prefix.as_deref(),
            region: &options.region,
            concurrency: options.concurrency,
            deadline: Some(
                tokio::time::Instant::now() + remaining(event.context.deadline).saturating_sub(REPORT_RESERVE),
            ),
            now,
        };
        match run_step(&job, registry, store, &cx, step).await? {
            StepOutcome::Running(state) => Ok(json!(state)),
            StepOutcome::Shard(summary) => Ok(summary),
            StepOutcome::Report(state, report) => {
                publish(&report, sink, metrics_store, dashboard).await?;
                let state = finish("cost", store, publisher.as_ref(), state, &report, previous.as_ref()).await?;
                Ok(json!(state))
            }
        }
    }))
    .await
}
