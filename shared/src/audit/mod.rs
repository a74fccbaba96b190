//! The scheduled lifecycle audit: compliance checks for every repository, and what its lifecycle
//! policy will, will not, and should already have deleted.

mod checks;
mod fix_first;
mod model;
pub mod ocsf;
pub mod security_hub;

pub use checks::{
    registry_checks, run_checks, AuditSettings, Facts, LifecycleTotals, Standard, StandardParts, OVERDUE_AFTER,
};
pub use fix_first::{fix_first, Consequence, FixAction};
pub use model::{
    AuditReport, CheckCounts, CheckResult, CheckSeverity, RemediationAction, RepositoryAudit, Status, Summary, Totals,
};

use crate::image::Image;
use crate::lifecycle::generate;
use crate::metrics::{names, Metric, Unit, DIM_CHECK, DIM_REPOSITORY};
use crate::ports::{ImageWrites, Registry, RegistryError, RegistryReads, SettingsWrites};
use crate::registry::{CreationScenario, CreationTemplate};
use crate::repository::Repository;
use crate::run::{run_in_process, Job, Outcome, RunContext};
use crate::workloads::{apply_pins, plan_pins, InUse, RegistryAddress, Workloads};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

/// What remediation may change. It never replaces an existing policy and never deletes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Remediation {
    /// Apply the standard policy where a repository has none.
    pub lifecycle: bool,
    /// Turn on scan on push where nothing scans.
    pub scan: bool,
    /// Pin the images workloads run (a `keeper-in-use-…` tag) and unpin the rest, never
    /// deleting an image.
    pub pins: bool,
    /// Change the registry itself: a creation template of the standard for each pull-through
    /// cache no template covers (REG-2), a pull-time update exclusion for each named scanner role
    /// (LC-7). The CLI's `--fix` only: creating a template needs permission to create
    /// repositories (ECR User Guide), which the scheduled audit's role must not have.
    pub registry: bool,
    /// False: a dry run that only lists what it would do.
    pub apply: bool,
}

#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub region: String,
    pub repository_prefix: Option<String>,
    /// Repositories audited at once.
    pub concurrency: usize,
    pub remediation: Remediation,
    /// No repository is started after this; the ones left are reported as not reached.
    pub deadline: Option<Instant>,
    pub inputs: RunInputs,
}

/// What the audit reads besides the registry: the running images, once per run (per shard
/// invocation in a scheduled run).
#[derive(Debug, Clone, Default)]
pub struct RunInputs {
    /// The images workloads run, when workloads are read; `Err` says why they could not be.
    pub in_use: Option<Result<InUse, String>>,
}

impl RunInputs {
    /// With a workload reader, the running images; references are matched per repository,
    /// against the registry its ARN names.
    pub async fn read<W: Workloads>(workloads: Option<&W>) -> RunInputs {
        let in_use = match workloads {
            None => None,
            Some(w) => Some(match w.images_in_use().await {
                Ok(images) => Ok(InUse::from_images(&images, &RegistryAddress::default())),
                Err(e) => Err(e.to_string()),
            }),
        };
        RunInputs { in_use }
    }
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            region: String::new(),
            repository_prefix: None,
            concurrency: crate::run::DEFAULT_CONCURRENCY,
            remediation: Remediation::default(),
            deadline: None,
            inputs: RunInputs::default(),
        }
    }
}

/// The audit as a scheduled-run job: one repository's checks and remediation at a time.
pub struct AuditJob<'a> {
    pub settings: &'a AuditSettings,
    pub remediation: Remediation,
    pub inputs: &'a RunInputs,
}

/// One repository's audit and what remediation did (or would do) to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditedRepository {
    pub audit: RepositoryAudit,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediation: Vec<RemediationAction>,
}

impl AuditJob<'_> {
    /// With `--fix`: a pull-time update exclusion for each named scanner role the registry lacks
    /// (LC-7), so a scanner's pulls stop keeping images looking used. Only when the exclusions
    /// could be read: an unread list is no evidence that one is missing.
    async fn exclude_scanners<R: Registry>(&self, registry: &R, cx: &mut RunContext) {
        let Some(excluded) = cx.pull_time_update_exclusions.as_mut() else { return };
        let missing: Vec<String> =
            self.settings.scanner_roles.iter().filter(|r| !excluded.contains(r)).cloned().collect();
        for principal in missing {
            let mut change = crate::run::RegistryChange {
                action: "register-pull-time-update-exclusion".into(),
                subject: principal.clone(),
                applied: false,
                detail: format!("{principal}: its pulls no longer refresh lastRecordedPullTime"),
            };
            if self.remediation.apply {
                match registry.register_pull_time_update_exclusion(&principal).await {
                    Ok(()) => {
                        change.applied = true;
                        // The checks that follow see the registry as it now is.
                        excluded.push(principal);
                    }
                    Err(e) => change.detail = format!("{principal}: failed: {e}"),
                }
            }
            cx.registry_changes.push(change);
        }
    }
}

impl Job for AuditJob<'_> {
    const NAME: &'static str = "audit";
    const READS_REGISTRY_SETTINGS: bool = true;
    type Done = AuditedRepository;
    type Report = AuditReport;

    /// With template remediation (`--fix`): a PULL_THROUGH_CACHE creation template with the
    /// standard policy for every pull-through cache rule no template covers (REG-2). A template that
    /// exists without a policy is named by REG-1/REG-2, never changed: it is someone's.
    async fn prepare<R: Registry>(&self, registry: &R, cx: &mut RunContext) {
        if !self.remediation.registry {
            return;
        }
        self.exclude_scanners(registry, cx).await;
        let Some(rules) = cx.registry_rules.as_ref() else { return };
        let standard = Standard::params_or_default(self.settings.standard.as_ref());
        let policy = match generate(&standard) {
            Ok(policy) => policy.to_json(),
            Err(e) => {
                tracing::warn!(error = %e, "the standard policy could not be generated");
                return;
            }
        };
        let uncovered: Vec<String> = rules
            .pull_through_cache_rules
            .iter()
            .filter(|r| {
                rules.template_for(CreationScenario::PullThroughCache, &format!("{}/repository", r.prefix)).is_none()
            })
            .map(|r| r.prefix.clone())
            .collect();
        for prefix in uncovered {
            let template = CreationTemplate {
                prefix: prefix.clone(),
                applied_for: vec![CreationScenario::PullThroughCache],
                lifecycle_policy: Some(policy.clone()),
            };
            let mut change = crate::run::RegistryChange {
                action: "create-creation-template".into(),
                subject: prefix.clone(),
                applied: false,
                detail: format!("{prefix}/ for PULL_THROUGH_CACHE with the standard policy: {}", standard.describe()),
            };
            if self.remediation.apply {
                match registry.create_creation_template(&template).await {
                    Ok(()) => change.applied = true,
                    Err(e) => change.detail = format!("{prefix}/: failed: {e}"),
                }
            }
            cx.registry_changes.push(change);
        }
    }

    async fn repository<R: RegistryReads + SettingsWrites + ImageWrites>(
        &self,
        registry: &R,
        repo: &Repository,
        cx: &RunContext,
    ) -> Result<AuditedRepository, RegistryError> {
        let (audit, pins) = audit_repository(registry, repo, cx, self.settings, self.inputs, self.remediation).await?;
        let mut remediation = remediate(registry, &audit, self.settings, self.remediation).await;
        remediation.extend(pins);
        Ok(AuditedRepository { audit, remediation })
    }

    fn report(&self, outcomes: Vec<(Repository, Outcome<AuditedRepository>)>, cx: &RunContext) -> AuditReport {
        let mut audits = Vec::new();
        let mut unreached = Vec::new();
        let mut remediation = Vec::new();
        for (repo, outcome) in outcomes {
            match outcome {
                Outcome::Done { result } => {
                    audits.push(result.audit);
                    remediation.extend(result.remediation);
                }
                Outcome::NotReached => unreached.push(repo.name),
                Outcome::ReadFailed { reason } => audits.push(unreadable(&repo, reason)),
            }
        }
        let complete =
            unreached.is_empty() && !audits.iter().any(|a| a.checks.iter().any(|c| c.status == Status::Error));
        let summary = AuditReport::summarize(&audits);
        AuditReport {
            generated_at: crate::lifecycle::to_second(cx.now),
            region: cx.region.clone(),
            registry_id: cx.registry_id.clone(),
            complete,
            repositories: audits,
            summary,
            unreached,
            remediation: cx
                .registry_changes
                .iter()
                .map(|c| RemediationAction {
                    repository: "registry".into(),
                    action: c.action.clone().into(),
                    applied: c.applied,
                    detail: c.detail.clone(),
                })
                .chain(remediation)
                .collect(),
            registry_checks: registry_checks(
                cx.registry_rules.as_ref(),
                &cx.scanning,
                self.settings.standard.as_ref(),
                &cx.destinations_read,
            ),
        }
    }
}

/// Audits the registry in this process. Listing repositories and reading the registry scanning
/// configuration must succeed; a failure on one repository gives ERROR results for it and an
/// incomplete report.
pub async fn audit<R: Registry>(
    registry: &R,
    settings: &AuditSettings,
    options: &AuditOptions,
    now: DateTime<Utc>,
) -> Result<AuditReport, RegistryError> {
    let job = AuditJob { settings, remediation: options.remediation, inputs: &options.inputs };
    run_in_process(
        &job,
        registry,
        options.repository_prefix.as_deref(),
        &options.region,
        options.concurrency,
        options.deadline,
        now,
    )
    .await
}

/// The row of a repository the audit could not read.
fn unreadable(repo: &Repository, reason: String) -> RepositoryAudit {
    let check = CheckResult {
        id: "READ".into(),
        status: Status::Error,
        severity: CheckSeverity::High,
        message: reason,
        evidence: json!(null),
    };
    RepositoryAudit {
        name: repo.name.clone(),
        arn: repo.arn.clone(),
        account: None,
        region: None,
        images: 0,
        checks: vec![check],
        expirable: Totals::default(),
        overdue: Totals::default(),
        unmanaged: Totals::default(),
    }
}

async fn audit_repository<R: RegistryReads + SettingsWrites + ImageWrites>(
    registry: &R,
    repo: &Repository,
    cx: &RunContext,
    settings: &AuditSettings,
    inputs: &RunInputs,
    remediation: Remediation,
) -> Result<(RepositoryAudit, Vec<RemediationAction>), RegistryError> {
    let name = repo.name.as_str();
    let (lifecycle_policy, repository_policy, mut images) = tokio::try_join!(
        registry.get_lifecycle_policy(name),
        registry.get_repository_policy(name),
        registry.describe_images(name)
    )?;
    let newest_findings = read_newest_scan(registry, name, &mut images).await?;
    let suppressed = suppressed_on_newest(registry, name, &images, newest_findings.as_deref(), settings).await;
    let in_use = inputs.in_use.as_ref().map(|r| r.as_ref().map(|u| u.for_repository(repo, &images)));
    // Pins first, so the checks judge the repository as the pins left it.
    let mut pin_actions = Vec::new();
    if let (true, Some(Ok(workloads))) = (remediation.pins, &in_use) {
        let plan = plan_pins(&images, workloads);
        for done in apply_pins(registry, name, &plan, remediation.apply).await {
            if done.applied {
                for image in images.iter_mut().filter(|i| i.digest == done.digest) {
                    match done.action {
                        "pin-in-use" => image.tags.push(done.tag.clone()),
                        _ => image.tags.retain(|t| t != &done.tag),
                    }
                }
            }
            pin_actions.push(RemediationAction {
                repository: name.to_string(),
                action: done.action.into(),
                applied: done.applied,
                detail: format!("{} {}: {}", crate::image::short_digest(&done.digest), done.tag, done.detail),
            });
        }
    }
    let facts = Facts {
        repository: repo,
        lifecycle_policy: lifecycle_policy.as_deref(),
        repository_policy: repository_policy.as_deref(),
        images: &images,
        registry_scanning: &cx.scanning,
        newest_image_suppressed_at_or_above: suppressed,
        workloads: in_use.as_ref().map(|r| match r {
            Ok(w) => Ok(w.as_slice()),
            Err(e) => Err(e.as_str()),
        }),
        pull_time_update_exclusions: cx.pull_time_update_exclusions.as_deref(),
        images_per_repository_quota: cx.images_per_repository_quota,
    };
    let (checks, totals) = run_checks(&facts, settings, cx.now);
    let audit = RepositoryAudit {
        name: name.to_string(),
        arn: repo.arn.clone(),
        account: None,
        region: None,
        images: images.len(),
        checks,
        expirable: totals.expirable,
        overdue: totals.overdue,
        unmanaged: totals.unmanaged,
    };
    Ok((audit, pin_actions))
}

/// Suppressions need finding ids, which only DescribeImageScanFindings has: read them for the
/// newest image, and only when suppressions exist and it has findings at or above the threshold.
/// The newest image's scan, where DescribeImages does not carry it: since ECR moved basic
/// scanning to AWS-native scanning, only DescribeImageScanFindings says whether, and with what,
/// a basic scan completed (enhanced scans are still in DescribeImages). One call per repository
/// at most; its findings are kept for the suppressions. Never scanned is `ScanNotFoundException`.
/// A failure is the repository's error: SCAN-2 must not call a scanned image "never scanned".
async fn read_newest_scan<R: RegistryReads>(
    registry: &R,
    name: &str,
    images: &mut [Image],
) -> Result<Option<Vec<crate::findings::Finding>>, RegistryError> {
    let Some(digest) = crate::image::newest(images).filter(|i| i.scan.is_none()).map(|i| i.digest.clone()) else {
        return Ok(None);
    };
    let Some(found) = registry.describe_scan_findings(name, &digest).await? else { return Ok(None) };
    if let Some(image) = images.iter_mut().find(|i| i.digest == digest) {
        image.scan = Some(found.scan);
    }
    Ok(Some(found.findings))
}

async fn suppressed_on_newest<R: RegistryReads>(
    registry: &R,
    name: &str,
    images: &[Image],
    known: Option<&[crate::findings::Finding]>,
    settings: &AuditSettings,
) -> u64 {
    let policy = &settings.findings;
    let Some(newest) = crate::image::newest(images) else { return 0 };
    let Some(scan) = newest.scan.as_ref().filter(|s| s.counts.at_or_above(policy.threshold) > 0) else { return 0 };
    if policy.suppressions.is_empty() {
        return 0;
    }
    let findings = match known {
        Some(findings) => findings.to_vec(),
        None => match registry.describe_scan_findings(name, &newest.digest).await {
            Ok(Some(found)) => found.findings,
            _ => return 0,
        },
    };
    let open = policy.assess(name, &scan.counts, &findings).unsuppressed_at_or_above;
    scan.counts.at_or_above(policy.threshold) - open
}

async fn remediate<R: RegistryReads + SettingsWrites + ImageWrites>(
    registry: &R,
    a: &RepositoryAudit,
    settings: &AuditSettings,
    remediation: Remediation,
) -> Vec<RemediationAction> {
    let failed = |id: &str| a.checks.iter().any(|c| c.id == id && c.status == Status::Fail);
    let mut actions = Vec::new();
    if remediation.lifecycle && failed("LC-1") {
        let standard = Standard::params_or_default(settings.standard.as_ref());
        let mut action = RemediationAction {
            repository: a.name.clone(),
            action: "apply-lifecycle-policy".into(),
            applied: false,
            detail: format!("the standard policy: {}", standard.describe()),
        };
        if remediation.apply {
            let outcome = match generate(&standard) {
                Ok(policy) => {
                    registry.put_lifecycle_policy(&a.name, &policy.to_json()).await.map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(()) => action.applied = true,
                Err(e) => action.detail = format!("failed: {e}"),
            }
        }
        actions.push(action);
    }
    if remediation.scan && failed("SCAN-1") {
        let mut action = RemediationAction {
            repository: a.name.clone(),
            action: "enable-scan-on-push".into(),
            applied: false,
            detail: "turn on basic scan on push".into(),
        };
        if remediation.apply {
            match registry.put_scan_on_push(&a.name, true).await {
                Ok(()) => action.applied = true,
                Err(e) => action.detail = format!("failed: {e}"),
            }
        }
        actions.push(action);
    }
    actions
}

/// The audit's metrics: per repository, and registry totals without dimensions (for alarms).
pub fn audit_metrics(report: &AuditReport) -> Vec<Metric> {
    let mut out = Vec::new();
    let sized = |images: &'static str, bytes: &'static str, t: Totals, repo: Option<&str>| {
        let mut pair =
            vec![Metric::count(images, t.images), Metric { unit: Unit::Bytes, ..Metric::count(bytes, t.bytes) }];
        if let Some(r) = repo {
            pair = pair.into_iter().map(|m| m.with(DIM_REPOSITORY, r)).collect();
        }
        pair
    };
    for r in &report.repositories {
        out.extend(sized(names::EXPIRABLE_IMAGES, names::EXPIRABLE_BYTES, r.expirable, Some(&r.name)));
        out.extend(sized(names::OVERDUE_IMAGES, names::OVERDUE_BYTES, r.overdue, Some(&r.name)));
        out.extend(sized(names::UNMANAGED_IMAGES, names::UNMANAGED_BYTES, r.unmanaged, Some(&r.name)));
    }
    let s = &report.summary;
    out.extend(sized(names::EXPIRABLE_IMAGES, names::EXPIRABLE_BYTES, s.expirable, None));
    out.extend(sized(names::OVERDUE_IMAGES, names::OVERDUE_BYTES, s.overdue, None));
    out.extend(sized(names::UNMANAGED_IMAGES, names::UNMANAGED_BYTES, s.unmanaged, None));
    out.push(Metric::count(names::NON_COMPLIANT_REPOSITORIES, s.non_compliant as u64));
    for (id, counts) in &s.by_check {
        out.push(Metric::count(names::CHECK_FAILURES, u64::from(counts.fail)).with(DIM_CHECK, id.as_ref()));
    }
    out.push(Metric::count(names::AUDIT_INCOMPLETE, u64::from(!report.complete)));
    out
}

#[cfg(test)]
mod tests;
