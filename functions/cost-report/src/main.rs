//! The cost report. Invoked by the state machine (`statemachines/scheduled-run.asl.json`) it runs
//! one step of a scheduled run — plan, a shard, or aggregate — and keeps the report in S3;
//! invoked without a `mode` it reports on the whole registry in one run, logged as one JSON line.
//! Either way the totals go to CloudWatch (PutMetricData) and the dashboard
//! `KEEPER_COST_DASHBOARD` (default `ecr-keeper-costs`). Savings are projected against the
//! team's standard, `KEEPER_STANDARD_*`, read exactly as the audit reads it.

use chrono::{DateTime, Utc};
use ecr_keeper_aws::{
    cloudwatch_client, ecr_client, s3_client, sdk_config, sns_client, AwsOptions, CloudWatchSink, CloudWatchStore,
    EcrRegistry, MemberRegistries, OrganizationsDirectory, RetryProfile, S3ReportStore, SnsPublisher,
};
use ecr_keeper_core::config::{CostConfig, ScheduledRunConfig};
use ecr_keeper_core::cost::{cost_report, previous_total, publish, CostJob, CostOptions, CostReport};
use ecr_keeper_core::lifecycle::LifecyclePolicy;
use ecr_keeper_core::metrics::{MetricsSink, RepositoryMetrics, Series};
use ecr_keeper_core::organization::{organization_in_process, Keeping, OrganizationReport, Pace, Scope};
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
    let handler = CostHandler::from_env().await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| handler.handle(event))).await
}

/// The cost report's handler: the clients and configuration every invocation uses, built once.
struct CostHandler {
    registry: EcrRegistry,
    metrics_store: CloudWatchStore,
    /// KEEPER_METRIC_SERIES: the essential totals by default (each series is billed monthly).
    sink: Series<CloudWatchSink>,
    options: CostOptions,
    standard: LifecyclePolicy,
    dashboard: String,
    scheduled: ScheduledRunConfig,
    store: S3ReportStore,
    publisher: Option<SnsPublisher>,
    /// KEEPER_ACCOUNTS: an organization run, each registry reached through the member role.
    organization: Option<(Scope, MemberRegistries, OrganizationsDirectory)>,
    /// KEEPER_REPOSITORY_METRICS: the repositories with metrics of their own (none by default).
    repository_metrics: RepositoryMetrics,
}

impl CostHandler {
    async fn from_env() -> Result<Self, FunctionError> {
        let env = |name: &str| std::env::var(name).ok();
        let CostConfig { mut options, standard, dashboard } = CostConfig::from_env(env)?;
        let scheduled = ScheduledRunConfig::from_env(env)?;
        let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Scheduled)).await;
        options.region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        // One client for reads, dashboards and metrics: each client built costs start-up time.
        let cloudwatch = cloudwatch_client(&sdk);
        let organization = match Scope::from_env(env)? {
            Some(scope) => {
                let members = MemberRegistries::new(&sdk, &scope, "ecr-keeper-cost").await;
                // Only an organization run reads the directory: its client is built for those alone.
                Some((scope, members, OrganizationsDirectory::new(&sdk)))
            }
            None => None,
        };
        Ok(CostHandler {
            registry: EcrRegistry::new(ecr_client(&sdk)),
            metrics_store: CloudWatchStore::new(cloudwatch.clone()),
            sink: Series {
                sink: CloudWatchSink::new(cloudwatch),
                series: ecr_keeper_core::config::metric_series_from_env(env)?,
            },
            store: S3ReportStore::new(s3_client(&sdk), scheduled.run.bucket.clone()),
            publisher: scheduled.summary_topic_arn.as_ref().map(|arn| SnsPublisher::new(sns_client(&sdk), arn)),
            organization,
            repository_metrics: Scope::repository_metrics_from_env(env)?,
            options,
            standard,
            dashboard,
            scheduled,
        })
    }

    async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, FunctionError> {
        let now = SystemClock.now();
        let Some(step) = Step::of(&event.payload) else {
            return match &self.organization {
                Some((scope, members, directory)) => self.whole_organization(scope, members, directory, now).await,
                None => self.whole_registry(now).await,
            };
        };
        let step = step?;
        let (options, store, metrics_store) = (&self.options, &self.store, &self.metrics_store);
        self.scheduled.bucket()?;
        // Only the report needs the previous one, read once: its total (CloudWatch's when no
        // report is kept yet) and, at the end, the change.
        // An organization's registries have no previous total of their own: the organization
        // report tells the change per account.
        let one_registry = self.organization.is_none();
        let previous: Option<CostReport> = match &step {
            Step::Aggregate { .. } if one_registry => previous_report(store, "cost").await?,
            _ => None,
        };
        let previous_total = match (&step, &previous) {
            (_, Some(kept)) => Some(kept.total.monthly_cost_usd),
            (Step::Aggregate { .. }, None) if one_registry => previous_total(metrics_store, now).await,
            _ => None,
        };
        let job = CostJob::new(&self.standard, options, previous_total);
        let cx = StepContext {
            settings: &self.scheduled.run,
            repository_prefix: options.repository_prefix.as_deref(),
            region: &options.region,
            concurrency: options.concurrency,
            deadline: Some(
                tokio::time::Instant::now() + remaining(event.context.deadline).saturating_sub(REPORT_RESERVE),
            ),
            now,
            repository_metrics: &self.repository_metrics,
        };
        let run_id = step.run_id().unwrap_or_default();
        let registries = self.organization.as_ref().map(|(_, m, _)| m.for_run(&format!("ecr-keeper-cost-{run_id}")));
        let organization = match (&self.organization, &registries) {
            (Some((scope, _, directory)), Some(registries)) => {
                Some(OrganizationStep { scope, registries, directory, concurrency: options.concurrency, also: &() })
            }
            _ => None,
        };
        let publisher = self.publisher.as_ref();
        match run_step(&job, &self.registry, store, &cx, organization.as_ref(), step).await? {
            StepOutcome::Running(state) => Ok(json!(state)),
            StepOutcome::Shard(summary) => Ok(summary),
            StepOutcome::Report(state, report) => {
                publish(&report, &self.sink, metrics_store, &self.dashboard, &self.repository_metrics).await?;
                let state = finish("cost", store, publisher, state, &report, previous.as_ref()).await?;
                Ok(json!(state))
            }
            StepOutcome::Organization(state, report) => {
                self.publish_organization(&report).await?;
                let previous: Option<OrganizationReport<CostReport>> = previous_report(store, "cost").await?;
                let state = finish("cost", store, publisher, state, &*report, previous.as_ref()).await?;
                Ok(json!(state))
            }
        }
    }

    /// The whole registry in this invocation, the report logged as one line.
    async fn whole_registry(&self, now: DateTime<Utc>) -> Result<Value, FunctionError> {
        let report = cost_report(&self.registry, Some(&self.metrics_store), &self.options, &self.standard, now)
            .await
            .map_err(FunctionError::CostReport)?;
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        publish(&report, &self.sink, &self.metrics_store, &self.dashboard, &self.repository_metrics).await?;
        Ok(json!({
            "repositories": report.total.repositories,
            "monthlyCostUsd": report.total.monthly_cost_usd,
            "projectedMonthlyCostUsd": report.total.projected_monthly_cost_usd,
            "standardPolicySavingsUsd": report.total.standard_policy_savings_usd,
            "previousTotal": report.previous_total,
            "top": report.top,
            "notRead": report.not_read.len(),
        }))
    }

    /// The whole organization in this invocation; the numbers logged (the state machine keeps
    /// the report).
    async fn whole_organization(
        &self,
        scope: &Scope,
        members: &MemberRegistries,
        directory: &OrganizationsDirectory,
        now: DateTime<Utc>,
    ) -> Result<Value, FunctionError> {
        let options = &self.options;
        let targets = scope.targets(Some(directory)).await?;
        let job = CostJob::new(&self.standard, options, None);
        let members = members.for_run(&format!("ecr-keeper-cost-{}", now.timestamp()));
        let report = organization_in_process(
            &job,
            &members,
            &scope.run(&targets, options.repository_prefix.as_deref()),
            Pace { registries: options.concurrency, repositories: options.concurrency, deadline: None },
            now,
            &(),
            Keeping { reports: &(), repository_metrics: &self.repository_metrics },
        )
        .await
        .map_err(ecr_keeper_core::run::RunError::from)?;
        for line in report.log_lines() {
            println!("{line}");
        }
        self.publish_organization(&report).await?;
        Ok(json!({"complete": report.complete, "accounts": report.accounts(), "totals": report.totals}))
    }

    /// An organization's metrics (per repository with `Account` and `Region`, totals without)
    /// and its dashboard.
    async fn publish_organization(&self, report: &OrganizationReport<CostReport>) -> Result<(), FunctionError> {
        self.sink.publish(&report.metrics()).await?;
        let totals = report.totals.cost.unwrap_or_default();
        let body = totals.dashboard_body(report.accounts(), &self.options.region);
        self.metrics_store.put_dashboard(&self.dashboard, &body).await?;
        Ok(())
    }
}
