//! The audit's results as AWS Security Hub findings (ASFF), where security teams already look.
//!
//! One finding per repository (or the registry) and check, with a stable `Id`, so each run
//! updates the same finding instead of adding another: every FAIL, WARN and ERROR is imported
//! ACTIVE; a check that passes now archives the finding still active for it (`RecordState`
//! ARCHIVED, `Compliance` PASSED). Shapes from the Security Hub User Guide, "AWS Security Finding
//! Format (ASFF)" and "Required top-level attributes in ASFF", and the API reference's
//! `AwsSecurityFinding`; a finding imported with the account's default product ARN must name
//! that same account (`BatchImportFindings`: "the identifier of the account that you are calling
//! BatchImportFindings from needs to be the same as the AwsAccountId attribute").

use super::model::{AuditReport, CheckResult, Status};
use std::collections::{HashMap, HashSet};
use std::future::Future;

/// ASFF's schema version, the one Security Hub accepts.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// `BatchImportFindings` takes at most 100 findings a call.
pub const BATCH: usize = 100;
/// Every finding id starts with this: how the archive step finds ecr-keeper's own.
pub const ID_PREFIX: &str = "ecr-keeper/";
/// ASFF limits: `Title` 256 characters, `Description` 1,024, `Remediation.Recommendation.Text` 512.
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 1024;
const REMEDIATION_MAX: usize = 512;

/// One finding, as the adapter sends it (`AwsSecurityFinding`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFinding {
    pub id: String,
    /// The check id (`LC-1`).
    pub generator_id: String,
    pub account: String,
    pub region: String,
    pub title: String,
    pub description: String,
    /// `INFORMATIONAL`, `LOW`, `MEDIUM`, `HIGH`, `CRITICAL`.
    pub severity: &'static str,
    /// `PASSED`, `WARNING`, `FAILED`, `NOT_AVAILABLE`.
    pub compliance: &'static str,
    /// `ACTIVE` or `ARCHIVED`.
    pub record_state: &'static str,
    /// `AwsEcrRepository` (its ARN) or `AwsAccount` (the registry's checks).
    pub resource_type: &'static str,
    pub resource_id: String,
    pub remediation: Option<String>,
    /// The report's `generatedAt`: first seen and updated, as Security Hub keeps them.
    pub at: String,
}

/// What one import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// FAIL, WARN and ERROR findings sent ACTIVE.
    pub active: usize,
    /// Earlier findings archived because their check passes now.
    pub archived: usize,
    /// Findings Security Hub refused (`FailedFindings`).
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    #[error("Security Hub refused {operation}: access denied ({message}); the caller needs securityhub:BatchImportFindings and securityhub:GetFindings, and Security Hub enabled in this account and region")]
    AccessDenied { operation: &'static str, message: String },
    #[error("Security Hub {operation} failed: {message}")]
    Failed { operation: &'static str, message: String },
}

/// Security Hub as the audit uses it.
pub trait SecurityFindings: Send + Sync {
    /// The ids of ecr-keeper's findings still ACTIVE in this account and region.
    fn active_ids(&self) -> impl Future<Output = Result<HashSet<String>, HubError>> + Send;
    /// Imports one batch (at most [`BATCH`]); the number Security Hub refused.
    fn import(&self, findings: &[HubFinding]) -> impl Future<Output = Result<usize, HubError>> + Send;
    /// The same hub, for `account`'s findings (a report's registry, known once it is read).
    fn for_account(&self, account: &str) -> Self
    where
        Self: Sized;
}

/// The stable id of the finding for `check` on `subject` (a repository; `None`: the registry).
pub fn finding_id(account: &str, region: &str, subject: Option<&str>, check: &str) -> String {
    match subject {
        Some(repository) => format!("{ID_PREFIX}{account}/{region}/repository/{repository}/{check}"),
        None => format!("{ID_PREFIX}{account}/{region}/registry/{check}"),
    }
}

/// The findings to import for `report`: its FAIL, WARN and ERROR results ACTIVE, and each other
/// result whose finding is in `active` archived as PASSED.
pub fn findings(report: &AuditReport, active: &HashSet<String>) -> Vec<HubFinding> {
    let (account, region) = (report.registry_id.as_str(), report.region.as_str());
    // What to do, from the report's own ranked actions where a check has one.
    let mut changes: HashMap<(&str, Option<&str>), &str> = HashMap::new();
    let actions = super::fix_first(report);
    for action in &actions {
        if action.registry {
            changes.insert((action.check.as_str(), None), action.change.as_str());
        }
        for repository in &action.repositories {
            changes.insert((action.check.as_str(), Some(repository.as_str())), action.change.as_str());
        }
    }
    let mut out = Vec::new();
    let mut add = |subject: Option<(&str, &str)>, check: &CheckResult| {
        let id = finding_id(account, region, subject.map(|(name, _)| name), check.id.as_ref());
        let finding = matches!(check.status, Status::Fail | Status::Warn | Status::Error);
        if !finding && !active.contains(&id) {
            return;
        }
        let (resource_type, resource_id) = match subject {
            Some((_, arn)) => ("AwsEcrRepository", arn.to_string()),
            None => ("AwsAccount", format!("AWS::::Account:{account}")),
        };
        let name = subject.map_or("the registry", |(name, _)| name);
        let change = changes.get(&(check.id.as_ref(), subject.map(|(name, _)| name))).copied();
        out.push(HubFinding {
            id,
            generator_id: check.id.as_ref().to_string(),
            account: account.to_string(),
            region: region.to_string(),
            title: clip(&format!("ECR {}: {name}", check.id.as_ref()), TITLE_MAX),
            description: clip(&check.message, DESCRIPTION_MAX),
            severity: match check.status {
                Status::Pass | Status::Info | Status::Error => "INFORMATIONAL",
                Status::Fail | Status::Warn => check.severity.as_str(),
            },
            compliance: match check.status {
                Status::Fail => "FAILED",
                Status::Warn => "WARNING",
                Status::Error => "NOT_AVAILABLE",
                Status::Pass | Status::Info => "PASSED",
            },
            record_state: if finding { "ACTIVE" } else { "ARCHIVED" },
            resource_type,
            resource_id,
            remediation: finding.then(|| clip(change.unwrap_or(&check.message), REMEDIATION_MAX)),
            at: report.generated_at.clone(),
        });
    };
    for check in &report.registry_checks {
        add(None, check);
    }
    for repository in &report.repositories {
        for check in &repository.checks {
            add(Some((&repository.name, &repository.arn)), check);
        }
    }
    out
}

/// At most `max` characters, an ellipsis saying when it was cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// Imports `report`'s findings in batches of [`BATCH`], archiving what passes now.
pub async fn import_findings<H: SecurityFindings>(hub: &H, report: &AuditReport) -> Result<Imported, HubError> {
    let active = hub.active_ids().await?;
    let all = findings(report, &active);
    let mut imported = Imported::default();
    for batch in all.chunks(BATCH) {
        imported.failed += hub.import(batch).await?;
    }
    imported.active = all.iter().filter(|f| f.record_state == "ACTIVE").count();
    imported.archived = all.len() - imported.active;
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::model::CheckSeverity;
    use crate::audit::model::{RepositoryAudit, Totals};
    use std::sync::Mutex;

    fn check(id: &str, status: Status, severity: CheckSeverity) -> CheckResult {
        CheckResult {
            id: id.to_string().into(),
            status,
            severity,
            message: format!("{id} says so"),
            evidence: serde_json::Value::Null,
        }
    }

    fn report(checks: Vec<CheckResult>) -> AuditReport {
        let repositories = vec![RepositoryAudit {
            name: "team-a/app".into(),
            arn: "arn:aws:ecr:eu-west-1:111122223333:repository/team-a/app".into(),
            account: None,
            region: None,
            images: 3,
            checks,
            expirable: Totals::default(),
            overdue: Totals::default(),
            unmanaged: Totals::default(),
        }];
        AuditReport {
            summary: AuditReport::summarize(&repositories),
            generated_at: "2026-12-07T10:00:00Z".into(),
            region: "eu-west-1".into(),
            registry_id: "111122223333".into(),
            complete: true,
            repositories,
            unreached: Vec::new(),
            remediation: Vec::new(),
            registry_checks: Vec::new(),
        }
    }

    /// Security Hub as far as the import goes: findings kept by id, updated in place.
    #[derive(Default)]
    struct Hub(Mutex<Vec<HubFinding>>, Mutex<usize>);

    impl SecurityFindings for Hub {
        async fn active_ids(&self) -> Result<HashSet<String>, HubError> {
            let kept =
                self.0.lock().map_err(|_| HubError::Failed { operation: "GetFindings", message: "poisoned".into() })?;
            Ok(kept.iter().filter(|f| f.record_state == "ACTIVE").map(|f| f.id.clone()).collect())
        }

        async fn import(&self, findings: &[HubFinding]) -> Result<usize, HubError> {
            assert!(findings.len() <= BATCH);
            if let Ok(mut calls) = self.1.lock() {
                *calls += 1;
            }
            let mut kept = self
                .0
                .lock()
                .map_err(|_| HubError::Failed { operation: "BatchImportFindings", message: "poisoned".into() })?;
            for f in findings {
                kept.retain(|k| k.id != f.id);
                kept.push(f.clone());
            }
            Ok(0)
        }

        fn for_account(&self, _account: &str) -> Self {
            unreachable!("the import itself never changes account")
        }
    }

    #[tokio::test]
    async fn a_failure_is_one_finding_updated_by_each_run_and_archived_once_it_passes() {
        let hub = Hub::default();
        // GIVEN a repository failing LC-1 (HIGH), warning on TAG-1, passing SCAN-1
        let failing = report(vec![
            check("LC-1", Status::Fail, CheckSeverity::High),
            check("TAG-1", Status::Warn, CheckSeverity::Medium),
            check("SCAN-1", Status::Pass, CheckSeverity::High),
        ]);
        let first = import_findings(&hub, &failing).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first, Imported { active: 2, archived: 0, failed: 0 }, "a pass never failed is not sent");
        let kept = hub.0.lock().map(|k| k.clone()).unwrap_or_default();
        let lc_1 = kept.iter().find(|f| f.generator_id == "LC-1").cloned().unwrap_or_else(|| panic!("no LC-1"));
        assert_eq!(lc_1.id, "ecr-keeper/111122223333/eu-west-1/repository/team-a/app/LC-1");
        assert_eq!((lc_1.severity, lc_1.compliance, lc_1.record_state), ("HIGH", "FAILED", "ACTIVE"));
        assert_eq!(
            (lc_1.resource_type, lc_1.resource_id.as_str()),
            ("AwsEcrRepository", failing.repositories[0].arn.as_str())
        );
        assert!(
            lc_1.remediation.as_deref().is_some_and(|r| r.contains("LifecyclePolicy") || r.contains("ecr-keeper")),
            "{lc_1:?}"
        );
        // WHEN the same report runs again THEN the same two findings, no more
        import_findings(&hub, &failing).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(hub.0.lock().map(|k| k.len()).unwrap_or_default(), 2);
        // WHEN LC-1 passes THEN its finding is archived as PASSED; TAG-1's stays active
        let fixed = report(vec![
            check("LC-1", Status::Pass, CheckSeverity::High),
            check("TAG-1", Status::Warn, CheckSeverity::Medium),
            check("SCAN-1", Status::Pass, CheckSeverity::High),
        ]);
        let second = import_findings(&hub, &fixed).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second, Imported { active: 1, archived: 1, failed: 0 });
        let kept = hub.0.lock().map(|k| k.clone()).unwrap_or_default();
        let lc_1 = kept.iter().find(|f| f.generator_id == "LC-1").cloned().unwrap_or_else(|| panic!("no LC-1"));
        assert_eq!((lc_1.compliance, lc_1.record_state, lc_1.remediation.clone()), ("PASSED", "ARCHIVED", None));
        // AND once archived it is not sent again
        assert_eq!(import_findings(&hub, &fixed).await.ok().map(|i| i.archived), Some(0));
    }

    #[tokio::test]
    async fn many_findings_go_in_batches_of_a_hundred() {
        let hub = Hub::default();
        let mut many = report(Vec::new());
        let one = many.repositories[0].clone();
        many.repositories = (0..250)
            .map(|i| RepositoryAudit {
                name: format!("r{i}"),
                checks: vec![check("LC-1", Status::Fail, CheckSeverity::High)],
                ..one.clone()
            })
            .collect();
        let imported = import_findings(&hub, &many).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(imported.active, 250);
        assert_eq!(hub.1.lock().map(|c| *c).unwrap_or_default(), 3);
    }

    #[test]
    fn registry_checks_are_findings_of_the_account_and_errors_are_not_available() {
        let mut r = report(vec![check("SCAN-2", Status::Error, CheckSeverity::High)]);
        r.registry_checks = vec![check("REG-2", Status::Fail, CheckSeverity::High)];
        let found = findings(&r, &HashSet::new());
        assert_eq!(found[0].id, "ecr-keeper/111122223333/eu-west-1/registry/REG-2");
        assert_eq!(
            (found[0].resource_type, found[0].resource_id.as_str()),
            ("AwsAccount", "AWS::::Account:111122223333")
        );
        assert_eq!((found[1].severity, found[1].compliance), ("INFORMATIONAL", "NOT_AVAILABLE"));
        let long = clip(&"x".repeat(2000), DESCRIPTION_MAX);
        assert_eq!(long.chars().count(), DESCRIPTION_MAX);
    }
}
