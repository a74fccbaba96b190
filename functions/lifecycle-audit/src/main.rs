//! The lifecycle audit. Invoked by the state machine (`statemachines/scheduled-run.asl.json`) it
//! runs one step of a scheduled run — plan, a shard, or aggregate — and keeps the report in S3;
//! invoked without a `mode` it audits the whole registry in one run, logging the report as one
//! JSON line (small registries, and anyone invoking it by hand).

use ecr_keeper_aws::{
    ecr_client, s3_client, sdk_config, service_quotas_client, sns_client, AwsOptions, AwsWorkloads, ConfiguredSink,
    EcrRegistry, MemberFindings, MemberRegistries, OrganizationsDirectory, RetryProfile, S3ReportStore,
    SecurityHubFindings, SnsPublisher,
};
use ecr_keeper_core::audit::{audit, audit_metrics, AuditJob, AuditOptions, RunInputs};
use ecr_keeper_core::config::{AuditConfig, ScheduledRunConfig};
use ecr_keeper_core::metrics::{MetricsSink, RepositoryMetrics, Series};
use ecr_keeper_core::organization::{organization_in_process, Keeping, OrganizationReport, Pace, Scope};
use ecr_keeper_core::ports::{Clock, SystemClock};
use lambda_runtime::{service_fn, LambdaEvent};
use lambda_support::scheduled::{finish, previous_report, run_step, OrganizationStep, Step, StepContext, StepOutcome};
use lambda_support::{remaining, FunctionError};
use serde_json::{json, Value};
use std::time::Duration;

/// Time kept back to write the result and publish metrics after the last repository.
const REPORT_RESERVE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_support::init_logging();
    let handler = AuditHandler::from_env().await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| handler.handle(event))).await
}

/// The audit's handler: the clients and configuration every invocation uses, built once.
struct AuditHandler {
    registry: EcrRegistry,
    /// KEEPER_METRICS through KEEPER_METRIC_SERIES (the essential totals by default).
    sink: Series<ConfiguredSink>,
    config: AuditConfig,
    scheduled: ScheduledRunConfig,
    store: S3ReportStore,
    publisher: Option<SnsPublisher>,
    region: String,
    /// KEEPER_IN_USE: the running images USE-1 and the pins read (once per invocation).
    workloads: Option<AwsWorkloads>,
    /// KEEPER_ACCOUNTS: an organization run, each registry reached through the member role.
    organization: Option<(Scope, MemberRegistries, OrganizationsDirectory)>,
    /// KEEPER_SECURITY_HUB: where the findings are imported (the own account's runs only).
    security_hub: Option<SecurityHubFindings>,
    /// KEEPER_REPOSITORY_METRICS: the repositories with metrics of their own (none by default).
    repository_metrics: RepositoryMetrics,
}

impl AuditHandler {
    async fn from_env() -> Result<Self, FunctionError> {
        let env = |name: &str| std::env::var(name).ok();
        let config = AuditConfig::from_env(env)?;
        let scheduled = ScheduledRunConfig::from_env(env)?;
        let sdk = sdk_config(&AwsOptions::lambda(RetryProfile::Scheduled)).await;
        let organization = match Scope::from_env(env)? {
            Some(scope) => {
                let members = MemberRegistries::new(&sdk, &scope, "ecr-keeper-audit").await;
                // Only an organization run reads the directory: its client is built for those alone.
                Some((scope, members, OrganizationsDirectory::new(&sdk)))
            }
            None => None,
        };
        Ok(AuditHandler {
            registry: EcrRegistry::new(ecr_client(&sdk)).reading_quotas(service_quotas_client(&sdk)),
            sink: Series { sink: ConfiguredSink::new(config.metrics, &sdk), series: config.metric_series },
            store: S3ReportStore::new(s3_client(&sdk), scheduled.run.bucket.clone()),
            publisher: scheduled.summary_topic_arn.as_ref().map(|arn| SnsPublisher::new(sns_client(&sdk), arn)),
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            workloads: (!config.in_use.is_empty()).then(|| AwsWorkloads::new(&config.in_use, &sdk)),
            security_hub: config.security_hub.then(|| SecurityHubFindings::new(&sdk, "")),
            organization,
            repository_metrics: Scope::repository_metrics_from_env(env)?,
            config,
            scheduled,
        })
    }

    async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, FunctionError> {
        let deadline = tokio::time::Instant::now() + remaining(event.context.deadline).saturating_sub(REPORT_RESERVE);
        let Some(step) = Step::of(&event.payload) else {
            let inputs = RunInputs::read(self.workloads.as_ref()).await;
            return match &self.organization {
                Some((scope, members, directory)) => {
                    self.whole_organization(scope, members, directory, deadline, inputs).await
                }
                None => self.whole_registry(deadline, inputs).await,
            };
        };
        let step = step?;
        let config = &self.config;
        // Only a shard audits repositories: plan and aggregate need no workloads.
        let inputs = match step {
            Step::Shard { .. } => RunInputs::read(self.workloads.as_ref()).await,
            _ => RunInputs::default(),
        };
        let job = AuditJob { settings: &config.settings, remediation: config.remediation, inputs: &inputs };
        self.scheduled.bucket()?;
        let cx = StepContext {
            settings: &self.scheduled.run,
            repository_prefix: config.repository_prefix.as_deref(),
            region: &self.region,
            concurrency: config.concurrency,
            deadline: Some(deadline),
            now: SystemClock.now(),
            repository_metrics: &self.repository_metrics,
        };
        let run_id = step.run_id().unwrap_or_default();
        let registries = self.organization.as_ref().map(|(_, m, _)| m.for_run(&format!("ecr-keeper-audit-{run_id}")));
        // KEEPER_SECURITY_HUB over an organization: each registry's findings into its own account.
        let findings = registries.as_ref().filter(|_| self.security_hub.is_some()).map(MemberFindings::new);
        let organization = match (&self.organization, &registries) {
            (Some((scope, _, directory)), Some(registries)) => Some(OrganizationStep {
                scope,
                registries,
                directory,
                concurrency: config.concurrency,
                also: &findings,
            }),
            _ => None,
        };
        let (store, publisher) = (&self.store, self.publisher.as_ref());
        match run_step(&job, &self.registry, store, &cx, organization.as_ref(), step).await? {
            StepOutcome::Running(state) => Ok(json!(state)),
            StepOutcome::Shard(summary) => Ok(summary),
            StepOutcome::Report(state, report) => {
                // Totals once, from the merged report: never per shard.
                if let Err(e) = self.sink.publish(&self.repository_metrics.select(audit_metrics(&report))).await {
                    tracing::warn!(error = %e, "audit metrics were not published");
                }
                let previous = previous_report(store, "audit").await?;
                let state = finish("audit", store, publisher, state, &report, previous.as_ref()).await?;
                self.import_findings(&report).await;
                Ok(json!(state))
            }
            StepOutcome::Organization(state, report) => {
                if let Err(e) = self.sink.publish(&report.metrics()).await {
                    tracing::warn!(error = %e, "audit metrics were not published");
                }
                let previous: Option<OrganizationReport<_>> = previous_report(store, "audit").await?;
                let state = finish("audit", store, publisher, state, &*report, previous.as_ref()).await?;
                Ok(json!(state))
            }
        }
    }

    /// With KEEPER_SECURITY_HUB: the report's findings into Security Hub. A failure is logged, not
    /// the run's: the report is already kept.
    async fn import_findings(&self, report: &ecr_keeper_core::audit::AuditReport) {
        let Some(hub) = &self.security_hub else { return };
        let hub = hub.for_account(&report.registry_id);
        match ecr_keeper_core::audit::security_hub::import_findings(&hub, report).await {
            Ok(i) => tracing::info!(
                active = i.active,
                archived = i.archived,
                refused = i.failed,
                "Security Hub findings imported"
            ),
            Err(e) => tracing::error!(error = %e, "Security Hub findings were not imported"),
        }
    }

    /// The whole registry in this invocation, the report logged as one line.
    async fn whole_registry(&self, deadline: tokio::time::Instant, inputs: RunInputs) -> Result<Value, FunctionError> {
        let (registry, sink, config, region) = (&self.registry, &self.sink, &self.config, &self.region);
        let options = AuditOptions {
            region: region.to_string(),
            repository_prefix: config.repository_prefix.clone(),
            concurrency: config.concurrency,
            remediation: config.remediation,
            deadline: Some(deadline),
            inputs,
        };
        let report =
            audit(registry, &config.settings, &options, SystemClock.now()).await.map_err(FunctionError::Audit)?;
        // One line: log subscriptions and Logs Insights read it whole.
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        if let Err(e) = sink.publish(&self.repository_metrics.select(audit_metrics(&report))).await {
            tracing::warn!(error = %e, "audit metrics were not published");
        }
        self.import_findings(&report).await;
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
        scope: &Scope,
        members: &MemberRegistries,
        directory: &OrganizationsDirectory,
        deadline: tokio::time::Instant,
        inputs: RunInputs,
    ) -> Result<Value, FunctionError> {
        let (sink, config) = (&self.sink, &self.config);
        let targets = scope.targets(Some(directory)).await?;
        let job = AuditJob { settings: &config.settings, remediation: config.remediation, inputs: &inputs };
        let now = SystemClock.now();
        let members = members.for_run(&format!("ecr-keeper-audit-{}", now.timestamp()));
        let report = organization_in_process(
            &job,
            &members,
            &scope.run(&targets, config.repository_prefix.as_deref()),
            Pace { registries: config.concurrency, repositories: config.concurrency, deadline: Some(deadline) },
            now,
            &(),
            Keeping {
                reports: &self.security_hub.as_ref().map(|_| MemberFindings::new(&members)),
                repository_metrics: &self.repository_metrics,
            },
        )
        .await
        .map_err(ecr_keeper_core::run::RunError::from)?;
        for line in report.log_lines() {
            println!("{line}");
        }
        if let Err(e) = sink.publish(&report.metrics()).await {
            tracing::warn!(error = %e, "audit metrics were not published");
        }
        Ok(json!({"complete": report.complete, "accounts": report.accounts(), "totals": report.totals}))
    }
}
