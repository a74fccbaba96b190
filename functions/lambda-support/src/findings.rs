//! The audit's findings into AWS Security Hub, once the scheduled run has kept its report: the
//! state machine's `Findings` step (KEEPER_SECURITY_HUB). A function of its own, so the audit
//! does not link the Security Hub SDK, a quarter of its code (docs/performance.md). It reads the
//! report the aggregate kept in S3 and imports it; an organization run's registries each go into
//! their own account's hub through the member role (Security Hub takes a finding only from the
//! account it names).

use crate::FunctionError;
use ecr_keeper_core::audit::security_hub::{import_findings, SecurityFindings};
use ecr_keeper_core::audit::AuditReport;
use ecr_keeper_core::organization::{MemberFindings, MemberHubs, OrganizationReport, Registries, RegistryReports};
use ecr_keeper_core::run::{ReportStore, RunError, RunState};
use futures_util::{stream, StreamExt};
use lambda_runtime::tracing;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// What the state machine sends: the run's state as the aggregate ended it.
#[derive(Debug, Deserialize)]
pub(crate) struct FindingsStep {
    pub(crate) run: RunState,
}

/// Where an organization run's member roles are, when there is one (KEEPER_ACCOUNTS).
pub struct FindingsHandler<S, H, G> {
    /// The reports bucket.
    store: S,
    /// The function's own account's hub.
    hub: H,
    /// The member registries' hubs, for an organization run's index.
    members: Option<G>,
    /// Registries imported at once.
    concurrency: usize,
}

impl<S, H, G> FindingsHandler<S, H, G>
where
    S: ReportStore,
    H: SecurityFindings,
    G: Registries + MemberHubs,
{
    pub fn new(store: S, hub: H, members: Option<G>, concurrency: usize) -> Self {
        FindingsHandler { store, hub, members, concurrency: concurrency.max(1) }
    }

    /// One invocation: `{"run": <the aggregate's final state>}`. A registry whose findings could
    /// not be imported is logged and the others go on (the report is kept either way); a report
    /// that cannot be read fails the step.
    pub async fn handle(&self, payload: &Value) -> Result<Value, FunctionError> {
        let FindingsStep { run } = serde_json::from_value(payload.clone()).map_err(|e| {
            FunctionError::NotAStep(format!("{e}; the Findings step expects {{\"run\": <the aggregate's state>}}"))
        })?;
        let key = dated_report(&run).ok_or_else(|| no_report(&run, "(none of the run's reportKeys)"))?;
        match (run.organization, &self.members) {
            (false, _) => self.registry(&run, key).await,
            (true, Some(members)) => self.organization(&run, key, members).await,
            (true, None) => Err(FunctionError::NoMemberRole(run.run_id.clone())),
        }
    }

    /// One registry's report, into the hub of the account it names.
    async fn registry(&self, run: &RunState, key: &str) -> Result<Value, FunctionError> {
        let report: AuditReport = self.read(key).await?.ok_or_else(|| no_report(run, key))?;
        let hub = self.hub.for_account(&report.registry_id);
        Ok(match import_findings(&hub, &report).await {
            Ok(i) => {
                tracing::info!(
                    active = i.active,
                    archived = i.archived,
                    refused = i.failed,
                    "Security Hub findings imported"
                );
                json!({"registries": 1, "active": i.active, "archived": i.archived, "refused": i.failed})
            }
            Err(e) => {
                tracing::error!(error = %e, "Security Hub findings were not imported");
                json!({"registries": 1, "notImported": [e.to_string()]})
            }
        })
    }

    /// An organization's index: each registry's report (beside the index, at
    /// `<dir>/registries/<account>/<region>/report.json`) into its own account's hub, through the
    /// member role under the audit run's session name. Every registry is tried; the first report
    /// that could not be read then fails the step.
    async fn organization(&self, run: &RunState, key: &str, members: &G) -> Result<Value, FunctionError> {
        let index: OrganizationReport<AuditReport> = self.read(key).await?.ok_or_else(|| no_report(run, key))?;
        let dir = key.trim_end_matches("report.json");
        let members = members.for_run(&format!("ecr-keeper-audit-{}", run.run_id));
        let findings = MemberFindings::new(&members);
        let imported: Vec<Result<(), FunctionError>> = stream::iter(index.registries.iter())
            .filter_map(|entry| async move { entry.report.as_ref().map(|path| (entry, format!("{dir}{path}.json"))) })
            .map(|(entry, key)| {
                let findings = &findings;
                async move {
                    let report: AuditReport = self.read(&key).await?.ok_or_else(|| no_report(run, &key))?;
                    findings.keep(entry, &report).await.map_err(|e| FunctionError::Run(RunError::from(e)))
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let registries = imported.len();
        imported.into_iter().collect::<Result<Vec<()>, _>>()?;
        tracing::info!(registries, "Security Hub findings imported, registry by registry");
        Ok(json!({"registries": registries}))
    }

    /// A kept report, `None` where there is none.
    async fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, FunctionError> {
        let Some(text) = self.store.get(key).await.map_err(RunError::from)? else { return Ok(None) };
        let corrupt = |e: serde_json::Error| RunError::Corrupt { key: key.to_string(), message: e.to_string() };
        Ok(Some(serde_json::from_str(&text).map_err(corrupt)?))
    }
}

fn no_report(run: &RunState, key: &str) -> FunctionError {
    FunctionError::NoKeptReport { run: run.run_id.clone(), key: key.to_string() }
}

/// The run's dated JSON report (`reports/audit/<date>/report.json`), of the keys it kept.
fn dated_report(run: &RunState) -> Option<&str> {
    run.report_keys.iter().map(String::as_str).find(|k| k.ends_with("/report.json"))
}

#[cfg(test)]
mod tests;
