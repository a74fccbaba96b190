//! The cost report's handler: built once in `main` from the adapters, then one `handle` per
//! invocation — a step of the state machine's run, or (without a `mode`) the whole registry or
//! organization at once. Generic over the ports, so every path is unit-tested on the stand-ins.

use crate::scheduled::{
    finish, finish_after_previous, previous_report, run_step, RunOrganization, Step, StepContext, StepOutcome,
};
use crate::FunctionError;
use chrono::{DateTime, Utc};
use ecr_keeper_core::alerts::AlertPublisher;
use ecr_keeper_core::config::ScheduledRunConfig;
use ecr_keeper_core::cost::{cost_report, previous_total, publish, CostJob, CostOptions, CostReport};
use ecr_keeper_core::lifecycle::LifecyclePolicy;
use ecr_keeper_core::metrics::{MetricsSink, RepositoryMetrics};
use ecr_keeper_core::organization::{
    organization_in_process, Directory, Keeping, OrganizationReport, Pace, Registries,
};
use ecr_keeper_core::ports::{Clock, MetricsStore, Registry, SystemClock};
use ecr_keeper_core::run::ReportStore;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

/// Time kept back to write the result after the last repository.
const REPORT_RESERVE: Duration = Duration::from_secs(10);

/// What the cost report reads and writes.
pub struct CostPorts<R, M, K, S, P> {
    pub registry: R,
    /// CloudWatch's reads (the previous total) and the dashboard.
    pub metrics_store: M,
    /// The totals (KEEPER_METRIC_SERIES: the essential ones by default).
    pub sink: K,
    /// The run's working files and the kept reports.
    pub store: S,
    /// The run's summary, with KEEPER_ALERT_TOPIC_ARN.
    pub publisher: Option<P>,
}

/// The cost report's configuration, read once.
pub struct CostSettings {
    pub options: CostOptions,
    /// The policy projected onto repositories without one.
    pub standard: LifecyclePolicy,
    /// KEEPER_COST_DASHBOARD.
    pub dashboard: String,
    pub scheduled: ScheduledRunConfig,
    /// KEEPER_REPOSITORY_METRICS: the repositories with series of their own (none by default).
    pub repository_metrics: RepositoryMetrics,
}

pub struct CostHandler<R, M, K, S, P, G, D> {
    ports: CostPorts<R, M, K, S, P>,
    settings: CostSettings,
    organization: Option<RunOrganization<G, D>>,
}

impl<R, M, K, S, P, G, D> CostHandler<R, M, K, S, P, G, D>
where
    R: Registry,
    M: MetricsStore,
    K: MetricsSink,
    S: ReportStore,
    P: AlertPublisher,
    G: Registries,
    D: Directory,
{
    pub fn new(
        ports: CostPorts<R, M, K, S, P>,
        settings: CostSettings,
        organization: Option<RunOrganization<G, D>>,
    ) -> Self {
        CostHandler { ports, settings, organization }
    }

    #[cfg(test)]
    fn ports(&self) -> &CostPorts<R, M, K, S, P> {
        &self.ports
    }

    /// One invocation: `payload` as Lambda delivers it, `remaining` the time Lambda gives it.
    pub async fn handle(&self, payload: &Value, remaining: Duration) -> Result<Value, FunctionError> {
        let now = SystemClock.now();
        let deadline = Instant::now() + remaining.saturating_sub(REPORT_RESERVE);
        let Some(step) = Step::of(payload) else {
            return match &self.organization {
                Some(org) => self.whole_organization(org, now, deadline).await,
                None => self.whole_registry(now, deadline).await,
            };
        };
        let step = step?;
        let (ports, settings) = (&self.ports, &self.settings);
        let options = &settings.options;
        settings.scheduled.bucket()?;
        // Only the report needs the previous one, read once: its total (CloudWatch's when no
        // report is kept yet) and, at the end, the change. An organization's registries have no
        // previous total of their own: the organization report tells the change per account.
        let one_registry = self.organization.is_none();
        let previous: Option<CostReport> = match &step {
            Step::Aggregate { .. } if one_registry => previous_report(&ports.store, "cost").await?,
            _ => None,
        };
        let previous_total = match (&step, &previous) {
            (_, Some(kept)) => Some(kept.total.monthly_cost_usd),
            (Step::Aggregate { .. }, None) if one_registry => previous_total(&ports.metrics_store, now).await,
            _ => None,
        };
        let job = CostJob::new(&settings.standard, options, previous_total);
        let cx = StepContext {
            settings: &settings.scheduled.run,
            repository_prefix: options.repository_prefix.as_deref(),
            region: &options.region,
            concurrency: options.concurrency,
            deadline: Some(deadline),
            now,
            repository_metrics: &settings.repository_metrics,
        };
        let members = self.organization.as_ref().map(|o| o.members("cost", step.run_id().unwrap_or_default()));
        let organization =
            self.organization.as_ref().zip(members.as_ref()).map(|(o, m)| o.step(m, options.concurrency));
        let (store, publisher) = (&ports.store, ports.publisher.as_ref());
        match run_step(&job, &ports.registry, store, &cx, organization.as_ref(), step).await? {
            StepOutcome::Running(state) => Ok(json!(state)),
            StepOutcome::Shard(summary) => Ok(summary),
            StepOutcome::Report(state, report) => {
                let (sink, metrics_store) = (&ports.sink, &ports.metrics_store);
                publish(&report, sink, metrics_store, &settings.dashboard, &settings.repository_metrics).await?;
                let state = finish("cost", store, publisher, state, &report, previous.as_ref()).await?;
                Ok(json!(state))
            }
            StepOutcome::Organization(state, report) => {
                self.publish_organization(&report).await?;
                Ok(json!(finish_after_previous("cost", store, publisher, state, &*report).await?))
            }
        }
    }

    /// The whole registry in this invocation, the report logged as one line; what the
    /// invocation's time does not reach is listed as not read.
    async fn whole_registry(&self, now: DateTime<Utc>, deadline: Instant) -> Result<Value, FunctionError> {
        let (ports, settings) = (&self.ports, &self.settings);
        let options = CostOptions { deadline: Some(deadline), ..settings.options.clone() };
        let report = cost_report(&ports.registry, Some(&ports.metrics_store), &options, &settings.standard, now)
            .await
            .map_err(FunctionError::CostReport)?;
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        let (sink, metrics_store) = (&ports.sink, &ports.metrics_store);
        publish(&report, sink, metrics_store, &settings.dashboard, &settings.repository_metrics).await?;
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
        org: &RunOrganization<G, D>,
        now: DateTime<Utc>,
        deadline: Instant,
    ) -> Result<Value, FunctionError> {
        let settings = &self.settings;
        let options = &settings.options;
        let targets = org.scope.targets(Some(&org.directory)).await?;
        let job = CostJob::new(&settings.standard, options, None);
        let members = org.members("cost", now.timestamp());
        let report = organization_in_process(
            &job,
            &members,
            &org.scope.run(&targets, options.repository_prefix.as_deref()),
            Pace { registries: options.concurrency, repositories: options.concurrency, deadline: Some(deadline) },
            now,
            &(),
            Keeping { reports: &(), repository_metrics: &settings.repository_metrics },
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
        self.ports.sink.publish(&report.metrics()).await?;
        let totals = report.totals.cost.unwrap_or_default();
        let body = totals.dashboard_body(report.accounts(), &self.settings.options.region);
        self.ports.metrics_store.put_dashboard(&self.settings.dashboard, &body).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
