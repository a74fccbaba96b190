//! Every account and region of an organization from one deployment: which registries a run
//! covers (its [`Scope`]), how it reaches each (a member role, [`Registries`]), and the report
//! over all of them ([`OrganizationReport`]).
//!
//! A registry is a [`Target`]: (account, region). A run resolves its scope into targets, reaches
//! each through `arn:<partition>:iam::<account>:role/<role name>` (the central account's own
//! registries with its own credentials), and runs the job's usual read-and-judge per target. A
//! target it cannot reach is an ERROR entry of its own; the others finish.

mod findings;
mod report;
mod run;
mod views;

pub use findings::{MemberFindings, MemberHubs};

pub use report::{
    registry_report_path, CheckTally, ComplianceTally, CostTally, OrganizationReport, OrganizationView, RegistryEntry,
    Tally,
};
pub use run::{
    fail_shard, organization_in_process, plan_organization, settle_organization, Keeping, KeptInStore,
    OrganizationPlan, Pace, PlannedTarget, Progress, RegistryReports, RunTargets,
};

use crate::ports::Registry;
use std::future::Future;

/// The member role's name when none is given: what `member/template.yaml` creates.
pub const DEFAULT_MEMBER_ROLE: &str = "ecr-keeper-member";

// A registry (account, region) is what a scheduled run's shard items name, so it lives with the
// runs, below this module.
pub use crate::run::Target;

/// Which accounts a run covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// Organizations' ACTIVE accounts (under `units` when given, recursively), less `excluded`.
    Organization { units: Vec<String>, excluded: Vec<String> },
    /// Exactly these, in this order.
    Listed(Vec<String>),
}

/// What a run covers and how it reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub accounts: Accounts,
    pub regions: Vec<String>,
    pub role_name: String,
    pub external_id: Option<String>,
}

/// Bad scope input, naming the setting (a variable or a flag) and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScopeError {
    pub field: String,
    pub message: String,
}

/// The names a scope's settings go by: environment variables or CLI flags.
#[derive(Debug, Clone, Copy)]
pub struct ScopeFields {
    pub accounts: &'static str,
    pub regions: &'static str,
    pub role_name: &'static str,
    pub external_id: &'static str,
    pub units: &'static str,
    pub excluded: &'static str,
}

/// The Lambda functions' variables.
pub const ENV_FIELDS: ScopeFields = ScopeFields {
    accounts: "KEEPER_ACCOUNTS",
    regions: "KEEPER_REGIONS",
    role_name: "KEEPER_MEMBER_ROLE_NAME",
    external_id: "KEEPER_MEMBER_EXTERNAL_ID",
    units: "KEEPER_ORGANIZATIONAL_UNITS",
    excluded: "KEEPER_EXCLUDED_ACCOUNTS",
};

/// The scope's settings as text, before they are checked.
#[derive(Debug, Clone, Default)]
pub struct ScopeInput<'a> {
    pub accounts: &'a str,
    pub regions: &'a str,
    pub role_name: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub units: Option<&'a str>,
    pub excluded: Option<&'a str>,
}

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

pub fn is_account(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `ap-southeast-5`.
pub fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().take(parts.len() - 1).all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts.last().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// IAM's role name: 1–64 of letters, digits and `+=,.@_-`.
fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// STS's ExternalId: 2–1224 of letters, digits and `+=,.@:/_-`.
fn is_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b))
}

/// `ou-xxxx-xxxxxxxx` or a root `r-xxxx`.
fn is_unit(id: &str) -> bool {
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    match id.split('-').collect::<Vec<_>>().as_slice() {
        ["ou", root, unit] => ok(root) && ok(unit),
        ["r", root] => ok(root),
        _ => false,
    }
}

impl Scope {
    /// This scope's `targets` (as [`Scope::targets`] resolved them) for a run, with `prefix`.
    pub fn run<'a>(&'a self, targets: &'a [Target], prefix: Option<&'a str>) -> RunTargets<'a> {
        RunTargets { role_name: &self.role_name, regions: &self.regions, targets, prefix }
    }

    /// The scope `input` describes; every error names its field and what it accepts.
    pub fn parse(input: &ScopeInput<'_>, fields: &ScopeFields) -> Result<Scope, ScopeError> {
        let err = |field: &str, message: String| ScopeError { field: field.to_string(), message };
        let accounts_text = input.accounts.trim();
        let accounts = if accounts_text.eq_ignore_ascii_case("organization") {
            let units = list(input.units.unwrap_or_default());
            if let Some(bad) = units.iter().find(|u| !is_unit(u)) {
                return Err(err(
                    fields.units,
                    format!("\"{bad}\" is not an organizational unit id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)"),
                ));
            }
            let excluded = list(input.excluded.unwrap_or_default());
            if let Some(bad) = excluded.iter().find(|a| !is_account(a)) {
                return Err(err(fields.excluded, format!("\"{bad}\" is not a 12-digit account id")));
            }
            Accounts::Organization { units, excluded }
        } else {
            let ids = list(accounts_text);
            if ids.is_empty() {
                return Err(err(
                    fields.accounts,
                    "empty: give `organization` or a comma-separated list of 12-digit account ids".into(),
                ));
            }
            if let Some(bad) = ids.iter().find(|a| !is_account(a)) {
                return Err(err(
                    fields.accounts,
                    format!("\"{bad}\" is neither `organization` nor a 12-digit account id"),
                ));
            }
            for (field, given) in [(fields.units, input.units), (fields.excluded, input.excluded)] {
                if given.is_some_and(|g| !g.trim().is_empty()) {
                    return Err(err(field, format!("applies only with {} = organization", fields.accounts)));
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            Accounts::Listed(ids.into_iter().filter(|a| seen.insert(a.clone())).collect())
        };
        let mut regions = Vec::new();
        for region in list(input.regions) {
            if !is_region(&region) {
                return Err(err(fields.regions, format!("\"{region}\" is not a region name (like us-east-1)")));
            }
            if !regions.contains(&region) {
                regions.push(region);
            }
        }
        if regions.is_empty() {
            return Err(err(
                fields.regions,
                "empty: give one or more regions, comma-separated (us-east-1,eu-west-1)".into(),
            ));
        }
        let role_name = input.role_name.map(str::trim).filter(|r| !r.is_empty()).unwrap_or(DEFAULT_MEMBER_ROLE);
        if !is_role_name(role_name) {
            return Err(err(
                fields.role_name,
                format!("\"{role_name}\" is not an IAM role name (1–64 of letters, digits and +=,.@_-)"),
            ));
        }
        let external_id = input.external_id.map(str::trim).filter(|e| !e.is_empty());
        if let Some(id) = external_id.filter(|id| !is_external_id(id)) {
            return Err(err(
                fields.external_id,
                format!(
                    "{} characters that are not an STS external id (2–1224 of letters, digits and +=,.@:/_-)",
                    id.len()
                ),
            ));
        }
        Ok(Scope { accounts, regions, role_name: role_name.to_string(), external_id: external_id.map(str::to_string) })
    }

    /// The Lambda functions' scope; `None` without `KEEPER_ACCOUNTS` (the function's own
    /// account and region, as before).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<Scope>, ScopeError> {
        let Some(accounts) = get(ENV_FIELDS.accounts).filter(|a| !a.trim().is_empty()) else { return Ok(None) };
        let regions = get(ENV_FIELDS.regions).unwrap_or_default();
        let (role, external, units, excluded) =
            (get(ENV_FIELDS.role_name), get(ENV_FIELDS.external_id), get(ENV_FIELDS.units), get(ENV_FIELDS.excluded));
        let input = ScopeInput {
            accounts: &accounts,
            regions: &regions,
            role_name: role.as_deref(),
            external_id: external.as_deref(),
            units: units.as_deref(),
            excluded: excluded.as_deref(),
        };
        Scope::parse(&input, &ENV_FIELDS).map(Some)
    }

    /// `KEEPER_REPOSITORY_METRICS` (`false` by default): which repositories a scheduled run
    /// publishes metrics of (with `Account` and `Region` over an organization) besides the totals.
    pub fn repository_metrics_from_env(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<crate::metrics::RepositoryMetrics, ScopeError> {
        crate::metrics::RepositoryMetrics::parse(&get("KEEPER_REPOSITORY_METRICS").unwrap_or_default())
            .map_err(|message| ScopeError { field: "KEEPER_REPOSITORY_METRICS".into(), message })
    }

    /// The member role in `account`.
    pub fn role_arn(&self, partition: &str, account: &str) -> String {
        format!("arn:{partition}:iam::{account}:role/{}", self.role_name)
    }

    /// Every (account, region) of the scope, account by account; the organization is asked
    /// only for [`Accounts::Organization`].
    pub async fn targets<D: Directory>(&self, directory: Option<&D>) -> Result<Vec<Target>, DirectoryError> {
        let accounts = match &self.accounts {
            Accounts::Listed(ids) => ids.clone(),
            Accounts::Organization { units, excluded } => {
                let Some(directory) = directory else {
                    return Err(DirectoryError::NotAvailable("no Organizations client".into()));
                };
                let mut ids: Vec<String> =
                    directory.active_accounts(units).await?.into_iter().filter(|a| !excluded.contains(a)).collect();
                ids.sort();
                ids.dedup();
                ids
            }
        };
        Ok(accounts
            .iter()
            .flat_map(|account| {
                self.regions.iter().map(move |region| Target { account: account.clone(), region: region.clone() })
            })
            .collect())
    }
}

/// Why the organization's accounts could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error(
        "Organizations refused ({code}): listing the organization's accounts needs its management account or a delegated administrator, and organizations:ListAccounts, ListAccountsForParent and ListOrganizationalUnitsForParent"
    )]
    AccessDenied { code: String },
    #[error("{unit}: no such organizational unit or root in this organization")]
    NoSuchUnit { unit: String },
    #[error("Organizations: {0}")]
    NotAvailable(String),
}

/// The organization's accounts (AWS Organizations).
pub trait Directory: Sync {
    /// The ACTIVE accounts' ids: every one, or those under `units` (and their units, all the way
    /// down).
    fn active_accounts(&self, units: &[String]) -> impl Future<Output = Result<Vec<String>, DirectoryError>> + Send;
}

/// Why a registry could not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("cannot assume {role_arn}: {reason} (is the member stack deployed in this account, and does its role trust this function's role?)")]
    CannotAssume { role_arn: String, reason: String },
    #[error("could not assume {role_arn}: {reason} (STS throttled or failed; the next run tries again)")]
    Unavailable { role_arn: String, reason: String },
    #[error("region {region} is not enabled in account {account} ({reason})")]
    RegionNotEnabled { account: String, region: String, reason: String },
}

/// Reaching registries: the member role in another account, the central account's own
/// credentials in its own.
pub trait Registries: Sync {
    type Registry: Registry;
    /// A registry client for `target`, its credentials kept for the client's life.
    fn reach(&self, target: &Target) -> impl Future<Output = Result<Self::Registry, AccessError>> + Send;
    /// The same registries, their sessions named for one run: a member account's CloudTrail
    /// shows `ecr-keeper-audit-<run id>`. Stand-ins without sessions return themselves.
    fn for_run(&self, session: &str) -> Self
    where
        Self: Sized;
}

#[cfg(test)]
mod tests;
