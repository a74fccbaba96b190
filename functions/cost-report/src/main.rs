//! The cost report. Invoked by the state machine (`statemachines/scheduled-run.asl.json`) it runs
//! one step of a scheduled run — plan, a shard, or aggregate — and keeps the report in S3;
//! invoked without a `mode` it reports on the whole registry in one run, logged as one JSON line.
//! Either way the totals go to CloudWatch (PutMetricData) and the dashboard
//! `KEEPER_COST_DASHBOARD` (default `ecr-keeper-costs`). Savings are projected against the
//! team's standard, `KEEPER_STANDARD_*`, read exactly as the audit reads it.

use ecr_keeper_aws::{
    cloudwatch_client, ecr_client, s3_client, sdk_config, sns_client, AwsOptions, CloudWatchSink, CloudWatchStore,
    EcrRegistry, MemberRegistries, OrganizationsDirectory, RetryProfile, S3ReportStore, SnsPublisher,
};
use ecr_keeper_core::config::{CostConfig, ScheduledRunConfig};
use ecr_keeper_core::cost::{cost_report, previous_total, publish, CostJob, CostReport};
use ecr_keeper_core::metrics::MetricsSink;
use ecr_keeper_core::organization::{organization_in_process, OrganizationReport, Scope};
use ecr_keeper_core::ports::MetricsStore;
use ecr_keeper_core::ports::{Clock, SystemClock};
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::scheduled::{finish, previous_report, run_step, OrganizationStep, Step, StepContext, StepOutcome};
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
    // KEEPER_ACCOUNTS: an organization run, each registry reached through the member role.
    let scope = Scope::from_env(|name| std::env::var(name).ok())?;
    let repository_metrics = Scope::repository_metrics_from_env(|name| std::env::var(name).ok())?;
    let members = match &scope {
        Some(scope) => Some(MemberRegistries::new(&sdk, scope, "ecr-keeper-cost").await),
        None => None,
    };
    let directory = OrganizationsDirectory::new(&sdk);
    let (registry, metrics_store, sink, options, standard, dashboard, scheduled, store, publisher) =
        (&registry, &metrics_store, &sink, &options, &standard, dashboard.as_str(), &scheduled, &store, &publisher);
    let (scope, members, directory) = (&scope, &members, &directory);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now = SystemClock.now();
        let Some(step) = Step::of(&event.payload) else {
            if let (Some(scope), Some(members)) = (scope, members) {
                // The whole organization here; the numbers logged (the state machine keeps the report).
                let targets = scope.targets(Some(directory)).await?;
                let job = CostJob::new(standard, options, None);
                let members = members.for_run(&format!("ecr-keeper-cost-{}", now.timestamp()));
                let report = organization_in_process(
                    &job,
                    &members,
                    &scope.role_name,
                    &scope.regions,
                    &targets,
                    options.repository_prefix.as_deref(),
                    options.concurrency,
                    options.concurrency,
                    None,
                    now,
                    &(),
                )
                .await;
                for line in report.log_lines() {
                    println!("{line}");
                }
                publish_organization(&report, sink, metrics_store, dashboard, &options.region, repository_metrics)
                    .await?;
                return Ok(
                    json!({"complete": report.complete, "accounts": report.accounts(), "totals": report.totals}),
                );
            }
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
        // An organization's registries have no previous total of their own: the organization
        // report tells the change per account.
        let previous: Option<CostReport> = match &step {
            Step::Aggregate { .. } if scope.is_none() => previous_report(store, "cost").await?,
            _ => None,
        };
        let previous_total = match (&step, &previous) {
            (_, Some(kept)) => Some(kept.total.monthly_cost_usd),
            (Step::Aggregate { .. }, None) if scope.is_none() => previous_total(metrics_store, now).await,
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
        let run_id = step.run_id().unwrap_or_default();
        let registries = members.as_ref().map(|m| m.for_run(&format!("ecr-keeper-cost-{run_id}")));
        let organization = match (scope, &registries) {
            (Some(scope), Some(registries)) => {
                Some(OrganizationStep { scope, registries, directory, concurrency: options.concurrency })
            }
            _ => None,
        };
        match run_step(&job, registry, store, &cx, organization.as_ref(), step).await? {
            StepOutcome::Running(state) => Ok(json!(state)),
            StepOutcome::Shard(summary) => Ok(summary),
            StepOutcome::Report(state, report) => {
                publish(&report, sink, metrics_store, dashboard).await?;
                let state = finish("cost", store, publisher.as_ref(), state, &report, previous.as_ref()).await?;
                Ok(json!(state))
            }
            StepOutcome::Organization(state, report) => {
                publish_organization(&report, sink, metrics_store, dashboard, &options.region, repository_metrics)
                    .await?;
                let previous: Option<OrganizationReport<CostReport>> = previous_report(store, "cost").await?;
                let state = finish("cost", store, publisher.as_ref(), state, &*report, previous.as_ref()).await?;
                Ok(json!(state))
            }
        }
    }))
    .await
}

/// An organization's metrics (per repository with `Account` and `Region`, totals without) and
/// its dashboard.
async fn publish_organization(
    report: &OrganizationReport<CostReport>,
    sink: &CloudWatchSink,
    store: &CloudWatchStore,
    dashboard: &str,
    region: &str,
    repository_metrics: bool,
) -> Result<(), FunctionError> {
    sink.publish(&report.metrics(repository_metrics)).await?;
    let totals = report.totals.cost.unwrap_or_default();
    store
        .put_dashboard(dashboard, &CostReport::organization_dashboard_body(&totals, report.accounts(), region))
        .await?;
    Ok(())
}
