//! The lifecycle audit's handler: built once in `main` from the adapters, then one `handle` per
//! invocation — a step of the state machine's run, or (without a `mode`) the whole registry or
//! organization at once. Generic over the ports, so every path is unit-tested on the stand-ins.
//! With KEEPER_SECURITY_HUB the run's last state says so, and the state machine's Findings step
//! (security-hub-findings, [`crate::findings`]) imports the kept report: the audit itself does not
//! link the Security Hub SDK.

use crate::scheduled::{finish_after_previous, run_step, RunOrganization, Step, StepContext, StepOutcome};
use crate::FunctionError;
use ecr_keeper_core::alerts::AlertPublisher;
use ecr_keeper_core::audit::{audit, audit_metrics, AuditJob, AuditOptions, RunInputs};
use ecr_keeper_core::config::{AuditConfig, ScheduledRunConfig};
use ecr_keeper_core::metrics::{MetricsSink, RepositoryMetrics};
use ecr_keeper_core::organization::{organization_in_process, Directory, Keeping, Pace, Registries};
use ecr_keeper_core::ports::{Clock, Registry, SystemClock};
use ecr_keeper_core::run::{ReportStore, RunState};
use ecr_keeper_core::workloads::Workloads;
use lambda_runtime::tracing;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

/// Time kept back to write the result and publish metrics after the last repository.
const REPORT_RESERVE: Duration = Duration::from_secs(10);

/// What the audit reads and writes.
pub struct AuditPorts<R, K, S, P, W> {
    pub registry: R,
    /// KEEPER_METRICS through KEEPER_METRIC_SERIES (the essential totals by default).
    pub sink: K,
    /// The run's working files and the kept reports.
    pub store: S,
    /// The run's summary, with KEEPER_ALERT_TOPIC_ARN.
    pub publisher: Option<P>,
    /// KEEPER_IN_USE: the running images USE-1 and the pins read (once per invocation).
    pub workloads: Option<W>,
}

/// The audit's configuration, read once.
pub struct AuditSettings {
    pub config: AuditConfig,
    pub scheduled: ScheduledRunConfig,
    /// The function's region (the SDK's).
    pub region: String,
    /// KEEPER_REPOSITORY_METRICS: the repositories with series of their own (none by default).
    pub repository_metrics: RepositoryMetrics,
}

pub struct AuditHandler<R, K, S, P, W, G, D> {
    ports: AuditPorts<R, K, S, P, W>,
    settings: AuditSettings,
    organization: Option<RunOrganization<G, D>>,
}

impl<R, K, S, P, W, G, D> AuditHandler<R, K, S, P, W, G, D>
where
    R: Registry,
    K: MetricsSink,
    S: ReportStore,
    P: AlertPublisher,
    W: Workloads,
    G: Registries,
    D: Directory,
{
    pub fn new(
        ports: AuditPorts<R, K, S, P, W>,
        settings: AuditSettings,
        organization: Option<RunOrganization<G, D>>,
    ) -> Self {
        AuditHandler { ports, settings, organization }
    }

    #[cfg(test)]
    fn ports(&self) -> &AuditPorts<R, K, S, P, W> {
        &self.ports
    }

    /// One invocation: `payload` as Lambda delivers it, `remaining` the time Lambda gives it.
    pub async fn handle(&self, payload: &Value, remaining: Duration) -> Result<Value, FunctionError> {
        let deadline = Instant::now() + remaining.saturating_sub(REPORT_RESERVE);
        let Some(step) = Step::of(payload) else {
            let inputs = RunInputs::read(self.ports.workloads.as_ref()).await;
            return match &self.organization {
                Some(org) => self.whole_organization(org, deadline, inputs).await,
                None => self.whole_registry(deadline, inputs).await,
            };
        };
        let step = step?;
        let (ports, settings) = (&self.ports, &self.settings);
        let config = &settings.config;
        // Only a shard audits repositories: plan and aggregate need no workloads.
        let inputs = match step {
            Step::Shard { .. } => RunInputs::read(ports.workloads.as_ref()).await,
            _ => RunInputs::default(),
        };
        let job = AuditJob { settings: &config.settings, remediation: config.remediation, inputs: &inputs };
        settings.scheduled.bucket()?;
        let cx = StepContext {
            settings: &settings.scheduled.run,
            repository_prefix: config.repository_prefix.as_deref(),
            region: &settings.region,
            concurrency: config.concurrency,
            deadline: Some(deadline),
            now: SystemClock.now(),
            repository_metrics: &settings.repository_metrics,
        };
        let members = self.organization.as_ref().map(|o| o.members("audit", step.run_id().unwrap_or_default()));
        let organization = self.organization.as_ref().zip(members.as_ref()).map(|(o, m)| o.step(m, config.concurrency));
        let (store, publisher) = (&ports.store, ports.publisher.as_ref());
        match run_step(&job, &ports.registry, store, &cx, organization.as_ref(), step).await? {
            StepOutcome::Running(state) => Ok(json!(state)),
            StepOutcome::Shard(summary) => Ok(summary),
            StepOutcome::Report(state, report) => {
                // Totals once, from the merged report: never per shard.
                self.publish(&settings.repository_metrics.select(audit_metrics(&report))).await;
                let state = finish_after_previous("audit", store, publisher, state, &report).await?;
                Ok(self.finished(state))
            }
            StepOutcome::Organization(state, report) => {
                self.publish(&report.metrics()).await;
                Ok(self.finished(finish_after_previous("audit", store, publisher, state, &*report).await?))
            }
        }
    }

    /// The run's last state; with KEEPER_SECURITY_HUB, `findings: true` sends the state machine
    /// to its Findings step, which imports the report just kept.
    fn finished(&self, state: RunState) -> Value {
        let mut state = json!(state);
        if self.settings.config.security_hub {
            state["findings"] = json!(true);
        }
        state
    }

    /// The audit's metrics; a failure is logged, not the run's (the report is what matters).
    async fn publish(&self, metrics: &[ecr_keeper_core::metrics::Metric]) {
        if let Err(e) = self.ports.sink.publish(metrics).await {
            tracing::warn!(error = %e, "audit metrics were not published");
        }
    }

    /// KEEPER_SECURITY_HUB belongs to the scheduled run (its Findings step imports the kept
    /// report); one invocation keeps no report, so it says so rather than import nothing quietly.
    fn no_findings_here(&self) {
        if self.settings.config.security_hub {
            tracing::warn!("Security Hub findings are imported by the scheduled run's Findings step; this invocation keeps no report and imports none");
        }
    }

    /// The whole registry in this invocation, the report logged as one line.
    async fn whole_registry(&self, deadline: Instant, inputs: RunInputs) -> Result<Value, FunctionError> {
        let (config, region) = (&self.settings.config, &self.settings.region);
        let options = AuditOptions {
            region: region.to_string(),
            repository_prefix: config.repository_prefix.clone(),
            concurrency: config.concurrency,
            remediation: config.remediation,
            deadline: Some(deadline),
            inputs,
        };
        let report = audit(&self.ports.registry, &config.settings, &options, SystemClock.now())
            .await
            .map_err(FunctionError::Audit)?;
        // One line: log subscriptions and Logs Insights read it whole.
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        self.publish(&self.settings.repository_metrics.select(audit_metrics(&report))).await;
        self.no_findings_here();
        Ok(json!({
            "complete": report.complete,
            "repositories": report.summary.repositories,
            "nonCompliant": report.summary.non_compliant,
            "overdueImages": report.summary.overdue.images,
            "unreached": report.unreached,
            "remediation": report.remediation.len(),
        }))
    }

    /// The whole organization in this invocation (small organizations, and anyone invoking it by
    /// hand): the organization's numbers logged as one line (every repository's result would not
    /// fit a log event; the state machine keeps the full report in S3).
    async fn whole_organization(
        &self,
        org: &RunOrganization<G, D>,
        deadline: Instant,
        inputs: RunInputs,
    ) -> Result<Value, FunctionError> {
        let config = &self.settings.config;
        let targets = org.scope.targets(Some(&org.directory)).await?;
        let job = AuditJob { settings: &config.settings, remediation: config.remediation, inputs: &inputs };
        let now = SystemClock.now();
        let members = org.members("audit", now.timestamp());
        let report = organization_in_process(
            &job,
            &members,
            &org.scope.run(&targets, config.repository_prefix.as_deref()),
            Pace { registries: config.concurrency, repositories: config.concurrency, deadline: Some(deadline) },
            now,
            &(),
            Keeping { reports: &(), repository_metrics: &self.settings.repository_metrics },
        )
        .await
        .map_err(ecr_keeper_core::run::RunError::from)?;
        self.no_findings_here();
        for line in report.log_lines() {
            println!("{line}");
        }
        self.publish(&report.metrics()).await;
        Ok(json!({"complete": report.complete, "accounts": report.accounts(), "totals": report.totals}))
    }
}

#[cfg(test)]
pub(crate) mod tests;
