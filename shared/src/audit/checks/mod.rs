//! The audit's checks: pure functions from what was collected to a verdict with evidence.

//!
//! One module per family; [`run_checks`] runs them in the report's order. To add a check,
//! add a function to its family (or a new module) returning a [`CheckResult`], call it from
//! `run_checks`, and document its id in docs/audit.md.

mod access;
mod lifecycle;
mod quota;
mod registry;
mod scanning;
mod settings;

pub use registry::registry_checks;

use super::model::{CheckResult, CheckSeverity, Status, Totals};
use crate::findings::FindingsPolicy;
use crate::image::short_digest;
use crate::image::Image;
use crate::repository::Repository;
use crate::scanning::RegistryScanning;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// ECR acts within 24 hours of an image becoming eligible; later than that is overdue.
pub const OVERDUE_AFTER: Duration = Duration::hours(24);
/// ECR's default "Images per repository" quota (User Guide, "Amazon ECR service quotas"; adjustable,
/// Service Quotas code L-03A36CE1), used when the applied value cannot be read.
pub const IMAGES_PER_REPOSITORY: u64 = 100_000;

/// The team's standard lifecycle settings, when configured (for LC-6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standard {
    pub keep_tagged: u32,
    pub untagged_days: u32,
    pub tag_prefixes: Vec<String>,
    /// Archive what no other rule keeps after this many days without a pull (ECR's archive
    /// storage); `None`: the standard does not archive.
    pub archive_after_days: Option<u32>,
    /// Expire archived images this many days after archiving (90 at least).
    pub expire_archived_after_days: Option<u32>,
}

/// The standard's parts as configuration gives them (the CLI's `--standard-*`, the functions'
/// `KEEPER_STANDARD_*`); what is missing takes ecr-keeper's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StandardParts {
    pub keep_tagged: Option<u32>,
    pub untagged_days: Option<u32>,
    pub tag_prefixes: Vec<String>,
    pub archive_after_days: Option<u32>,
    pub expire_archived_after_days: Option<u32>,
}

impl Standard {
    /// The standard from its parts, as configuration gives them; `None` when no part is given.
    /// Missing parts take ecr-keeper's defaults: the one place they are filled in, for the
    /// functions' `KEEPER_STANDARD_*` and the CLI's `--standard-*` alike.
    pub fn from_parts(parts: StandardParts) -> Option<Standard> {
        let StandardParts { keep_tagged, untagged_days, tag_prefixes, archive_after_days, expire_archived_after_days } =
            parts;
        let given = keep_tagged.is_some()
            || untagged_days.is_some()
            || !tag_prefixes.is_empty()
            || archive_after_days.is_some()
            || expire_archived_after_days.is_some();
        given.then(|| Standard {
            keep_tagged: keep_tagged.unwrap_or(crate::lifecycle::DEFAULT_KEEP_TAGGED),
            untagged_days: untagged_days.unwrap_or(crate::lifecycle::DEFAULT_UNTAGGED_DAYS),
            tag_prefixes: if tag_prefixes.is_empty() {
                vec![crate::lifecycle::DEFAULT_TAG_PREFIX.into()]
            } else {
                tag_prefixes
            },
            archive_after_days,
            expire_archived_after_days,
        })
    }

    /// What remediation applies and the cost report projects: the standard's parameters, or
    /// ecr-keeper's defaults where no standard is configured.
    pub fn params_or_default(standard: Option<&Standard>) -> crate::lifecycle::PolicyParams {
        standard.map_or_else(crate::lifecycle::PolicyParams::default, Standard::params)
    }

    /// The lifecycle parameters the standard stands for: the one conversion, used by the
    /// audit's remediation, the cost projection and the CLI.
    pub fn params(&self) -> crate::lifecycle::PolicyParams {
        crate::lifecycle::PolicyParams {
            keep_tagged: self.keep_tagged,
            tag_prefixes: self.tag_prefixes.clone(),
            untagged_days: self.untagged_days,
            archive_after_days: self.archive_after_days,
            expire_archived_after_days: self.expire_archived_after_days,
            ..crate::lifecycle::PolicyParams::default()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditSettings {
    pub standard: Option<Standard>,
    pub findings: FindingsPolicy,
    /// ENC-1 fails (instead of informing) without a customer-managed KMS key.
    pub require_kms: bool,
    /// Roles of third-party scanners (Snyk, Trivy, CrowdStrike…) that pull images: LC-7 checks
    /// each is excluded from pull-time updates. Inspector's pulls never count (User Guide).
    pub scanner_roles: Vec<String>,
}

/// What the checks read about one repository.
pub struct Facts<'a> {
    pub repository: &'a Repository,
    pub lifecycle_policy: Option<&'a str>,
    pub repository_policy: Option<&'a str>,
    pub images: &'a [Image],
    pub registry_scanning: &'a RegistryScanning,
    /// Finding ids suppressed for the newest image, when they had to be read (SCAN-2).
    pub newest_image_suppressed_at_or_above: u64,
    /// The workloads that run each image (in `images` order), when workloads are read (USE-1);
    /// `Err` says why they could not be.
    pub workloads: Option<Result<&'a [Vec<String>], &'a str>>,
    /// The registry's pull-time update exclusions (LC-7); `None` when they could not be read.
    pub pull_time_update_exclusions: Option<&'a [String]>,
    /// The applied images-per-repository quota (QUOTA-1); `None`: ECR's documented default.
    pub images_per_repository_quota: Option<u64>,
}

/// The lifecycle outcome the report carries beside the checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleTotals {
    pub expirable: Totals,
    pub overdue: Totals,
    pub unmanaged: Totals,
}

pub(super) fn result(
    id: &'static str,
    status: Status,
    severity: CheckSeverity,
    message: impl Into<String>,
    evidence: Value,
) -> CheckResult {
    CheckResult { id: id.into(), status, severity, message: message.into(), evidence }
}

pub(super) fn tags_or_digest(image: &Image) -> String {
    if image.tags.is_empty() {
        short_digest(&image.digest)
    } else {
        image.tags.join("+")
    }
}

/// Runs every check; returns the results (in the report's order) and the lifecycle totals.
pub fn run_checks(f: &Facts, settings: &AuditSettings, now: DateTime<Utc>) -> (Vec<CheckResult>, LifecycleTotals) {
    let (mut out, totals) = lifecycle::checks(f, settings, now);
    out.push(scanning::something_scans(f));
    out.push(scanning::newest_image_scan(f, &settings.findings));
    out.push(settings::tag_immutability(f.repository));
    out.push(settings::encryption(f.repository, settings.require_kms));
    out.push(access::public_policy(f.repository_policy));
    out.push(quota::image_count(f.images, f.images_per_repository_quota));
    (out, totals)
}
