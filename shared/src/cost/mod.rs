//! What the registry's storage costs, per repository, and what lifecycle policies save.
//!
//! Storage is billed on the compressed blobs stored; a blob shared by several images of a
//! repository is stored once. So `uniqueBytes` (distinct config and layer blobs, from the
//! manifests) is the estimate, and `naiveBytes` (Σ `imageSizeInBytes`) the overstatement most
//! tools report.

mod collect;
mod manifest;

pub use collect::{cost_report, previous_total, publish, CostJob, CostOptions, DEFAULT_ARCHIVE_PROJECTION_DAYS};
pub use manifest::{parse_manifest, Blob, Manifest, DOCKER_MANIFEST_V2, OCI_MANIFEST};

use crate::image::{Image, ImageStatus};
use crate::lifecycle::{human_bytes, simulate, Fate, LifecyclePolicy};
use crate::metrics::{names, Metric, Unit, DIM_REPOSITORY};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// ECR bills a GB as 2^30 bytes.
pub const GIB: f64 = 1_073_741_824.0;

/// Prices in USD (us-east-1 list prices by default); all parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    pub storage_per_gb_month: f64,
    pub archive_per_gb_month: f64,
    pub enhanced_first_scan: f64,
    pub enhanced_rescan: f64,
    /// Restoring an archived image, per GB restored.
    #[serde(default = "default_restore_price")]
    pub restore_per_gb: f64,
}

fn default_restore_price() -> f64 {
    0.03
}

/// Archived storage is billed for at least this many days, even if expired or restored sooner.
pub const ARCHIVE_MINIMUM_DAYS: u32 = crate::lifecycle::MIN_ARCHIVE_EXPIRY_DAYS;

impl Default for Prices {
    /// us-east-1 list prices (see the README for the date they were checked). Archive storage
    /// costs the same as standard for a registry's first 150 TB a month ($0.07 above it).
    fn default() -> Self {
        Prices {
            storage_per_gb_month: 0.10,
            archive_per_gb_month: 0.10,
            enhanced_first_scan: 0.09,
            enhanced_rescan: 0.01,
            restore_per_gb: default_restore_price(),
        }
    }
}

/// An amount of money as people read it, rounded once, here, for display: `$0.11`, and
/// `< $0.01` for a real amount below a cent (never `$0.00` beside real bytes). The reports keep
/// every amount exact: a registry's total is the sum of its repositories' exact costs, not of
/// their cents.
pub fn money(amount: f64) -> String {
    if amount > 0.0 && amount < 0.005 {
        "< $0.01".to_string()
    } else if amount < 0.0 && amount > -0.005 {
        "> -$0.01".to_string()
    } else {
        format!("${amount:.2}")
    }
}

/// A signed change of money: `+$0.50`, `-$1.20`.
pub fn money_change(amount: f64) -> String {
    let text = money(amount.abs());
    if amount < 0.0 {
        format!("-{text}")
    } else {
        format!("+{text}")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    pub images_kept: usize,
    pub unique_bytes: u64,
    pub projected_monthly_cost_usd: f64,
    pub savings_usd: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Archived {
    pub images: usize,
    pub bytes: u64,
    pub monthly_cost_usd: f64,
}

/// Enhanced scanning (Amazon Inspector) is billed per image scanned: an estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanEstimate {
    pub first_scans: usize,
    pub rescans: usize,
    pub monthly_cost_usd: f64,
    pub note: Cow<'static, str>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryCost {
    pub name: String,
    /// In an organization report: the member account and region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub images: usize,
    pub tagged_images: usize,
    pub untagged_images: usize,
    pub naive_bytes: u64,
    pub unique_bytes: u64,
    pub monthly_cost_usd: f64,
    pub has_lifecycle_policy: bool,
    /// The repository has a policy ECR's grammar refuses (the audit's LC-2): it expires nothing,
    /// so the projection is the current cost, and no standard replaces it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invalid_lifecycle_policy: bool,
    /// After the repository's own lifecycle policy runs (the current cost without one).
    pub projected_monthly_cost_usd: f64,
    pub savings_usd: f64,
    /// What the standard policy would do, for a repository without a policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_standard_policy: Option<Projection>,
    #[serde(default, skip_serializing_if = "archived_is_empty")]
    pub archived: Archived,
    /// Images whose manifest media type is not understood: counted by `imageSizeInBytes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_media_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enhanced_scanning_estimate: Option<ScanEstimate>,
    /// For a repository whose policy (or, without one, the standard) does not archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_archive: Option<ArchiveProjection>,
}

fn archived_is_empty(a: &Archived) -> bool {
    a.images == 0
}

/// How a registry scans, as far as cost goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanning {
    Basic,
    /// Enhanced, and whether images are rescanned continuously.
    Enhanced {
        continuous: bool,
    },
}

/// Σ of distinct blob sizes over `images`; images without a readable manifest count by
/// `imageSizeInBytes`. Manifest lists add nothing: their children are images of the repository.
fn unique_bytes<'a>(images: impl Iterator<Item = &'a Image>, manifests: &HashMap<String, Manifest>) -> u64 {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut total = 0;
    for image in images {
        match manifests.get(&image.digest) {
            Some(Manifest::Image { blobs }) => {
                for blob in blobs {
                    if seen.insert(blob.digest.as_str()) {
                        total += blob.size;
                    }
                }
            }
            Some(Manifest::List { .. }) => {}
            Some(Manifest::Unknown { .. }) | None => total += image.size_bytes,
        }
    }
    total
}

fn monthly(bytes: u64, price: f64) -> f64 {
    bytes as f64 / GIB * price
}

fn projection(
    policy: &LifecyclePolicy,
    active: &[Image],
    manifests: &HashMap<String, Manifest>,
    now: DateTime<Utc>,
    prices: &Prices,
    current: f64,
) -> Projection {
    let plan = simulate(policy, active, now);
    let (mut kept, mut archived) = (Vec::new(), Vec::new());
    for (image, d) in active.iter().zip(&plan.decisions) {
        match d.fate {
            Fate::Expire => {}
            Fate::Transition => archived.push(image),
            _ => kept.push(image),
        }
    }
    let bytes = unique_bytes(kept.iter().copied(), manifests);
    // What a policy archives is still billed, at the archive price.
    let archived_bytes = unique_bytes(archived.iter().copied(), manifests);
    let projected = monthly(bytes, prices.storage_per_gb_month) + monthly(archived_bytes, prices.archive_per_gb_month);
    Projection {
        images_kept: kept.len(),
        unique_bytes: bytes,
        projected_monthly_cost_usd: projected,
        savings_usd: current - projected,
    }
}

/// "Archive after N days without a pull", for a repository whose policy does not archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveProjection {
    pub after_days_without_pull: u32,
    /// Images the rule would archive (those no other rule of the policy matches).
    pub images: usize,
    pub unique_bytes: u64,
    /// Standard storage saved, less archive storage paid, a month.
    pub monthly_savings_usd: f64,
    /// What archiving them costs at least: 90 days of archive storage, whenever they are
    /// expired or restored.
    pub minimum_charge_usd: f64,
    /// Restoring all of them once.
    pub restore_all_usd: f64,
}

/// `policy` with a last rule archiving any other image after `days` without a pull; `None` when
/// it already archives, or when a standard-storage catch-all rule (which must stay last) exists.
pub fn with_archive_rule(policy: &LifecyclePolicy, days: u32) -> Option<LifecyclePolicy> {
    use crate::lifecycle::{Action, ActionType, CountType, CountUnit, Rule, Selection, StorageClass, TagStatus};
    let archives = policy.rules.iter().any(|r| r.action.kind == ActionType::Transition);
    let catch_all = policy
        .rules
        .iter()
        .any(|r| r.selection.tag_status == TagStatus::Any && r.selection.storage_class() == StorageClass::Standard);
    if archives || catch_all {
        return None;
    }
    let mut projected = policy.clone();
    projected.rules.push(Rule {
        rule_priority: policy.rules.iter().map(|r| r.rule_priority).max().unwrap_or(0) + 1,
        description: Some(format!("Archive any other image not pulled for {days} days")),
        selection: Selection {
            tag_status: TagStatus::Any,
            tag_pattern_list: None,
            tag_prefix_list: None,
            storage_class: None,
            count_type: CountType::SinceImagePulled,
            count_unit: Some(CountUnit::Days),
            count_number: days,
        },
        action: Action { kind: ActionType::Transition, target_storage_class: Some(StorageClass::Archive) },
    });
    Some(projected)
}

fn archive_projection(
    policy: &LifecyclePolicy,
    active: &[Image],
    manifests: &HashMap<String, Manifest>,
    cx: &CostContext,
) -> Option<ArchiveProjection> {
    let days = cx.archive_projection_days;
    let projected = with_archive_rule(policy, days)?;
    let plan = simulate(&projected, active, cx.now);
    let last = projected.rules.len() - 1;
    let moved: Vec<&Image> = active
        .iter()
        .zip(&plan.decisions)
        .filter(|(_, d)| d.fate == Fate::Transition && d.rule == Some(last))
        .map(|(i, _)| i)
        .collect();
    if moved.is_empty() {
        return None;
    }
    let bytes = unique_bytes(moved.iter().copied(), manifests);
    let p = &cx.prices;
    Some(ArchiveProjection {
        after_days_without_pull: days,
        images: moved.len(),
        unique_bytes: bytes,
        monthly_savings_usd: monthly(bytes, p.storage_per_gb_month) - monthly(bytes, p.archive_per_gb_month),
        minimum_charge_usd: monthly(bytes, p.archive_per_gb_month) * f64::from(ARCHIVE_MINIMUM_DAYS) / 30.0,
        restore_all_usd: bytes as f64 / GIB * p.restore_per_gb,
    })
}

/// What every repository's accounting shares.
#[derive(Debug, Clone)]
pub struct CostContext {
    /// The policy a repository without one is compared with.
    pub standard: LifecyclePolicy,
    pub scanning: Scanning,
    pub prices: Prices,
    pub now: DateTime<Utc>,
    pub archive_projection_days: u32,
}

/// A repository's own lifecycle policy, as ECR holds it.
#[derive(Debug, Clone, Copy)]
pub enum OwnPolicy<'a> {
    None,
    Valid(&'a LifecyclePolicy),
    /// A policy text ECR's grammar refuses: it expires nothing.
    Invalid,
}

/// Accounts one repository. `images` get their manifest-list children filled in (so the
/// simulator protects them as ECR does).
pub fn account_repository(
    name: &str,
    images: &mut [Image],
    manifests: &HashMap<String, Manifest>,
    policy: OwnPolicy<'_>,
    cx: &CostContext,
) -> RepositoryCost {
    let invalid = matches!(policy, OwnPolicy::Invalid);
    let policy = match policy {
        OwnPolicy::Valid(p) => Some(p),
        OwnPolicy::None | OwnPolicy::Invalid => None,
    };
    let (standard, scanning, prices, now) = (&cx.standard, cx.scanning, &cx.prices, cx.now);
    for image in images.iter_mut() {
        if let Some(Manifest::List { children }) = manifests.get(&image.digest) {
            image.child_digests = children.clone();
        }
    }
    let (active, archived): (Vec<Image>, Vec<Image>) =
        images.iter().cloned().partition(|i| i.status != ImageStatus::Archived);
    let unique = unique_bytes(active.iter(), manifests);
    let current = monthly(unique, prices.storage_per_gb_month);
    let archived_bytes = unique_bytes(archived.iter(), manifests);
    let own = policy.map(|p| projection(p, &active, manifests, now, prices, current));
    let unknown_media_types = active
        .iter()
        .filter(|i| matches!(manifests.get(&i.digest), Some(Manifest::Unknown { .. }) | None))
        .map(|i| i.digest.clone())
        .collect();
    let enhanced_scanning_estimate = match scanning {
        Scanning::Basic => None,
        Scanning::Enhanced { continuous } => {
            let recent = active.iter().filter(|i| now - i.pushed_at <= Duration::days(30)).count();
            let rescans = if continuous { active.len() - recent } else { 0 };
            Some(ScanEstimate {
                first_scans: recent,
                rescans,
                monthly_cost_usd: recent as f64 * prices.enhanced_first_scan + rescans as f64 * prices.enhanced_rescan,
                note: "estimate: images pushed in the last 30 days at the first-scan price, the others at one rescan a month when scanning is continuous".into(),
            })
        }
    };
    let effective = policy.unwrap_or(standard);
    let with_archive = archive_projection(effective, &active, manifests, cx);
    RepositoryCost {
        name: name.to_string(),
        account: None,
        region: None,
        images: active.len(),
        tagged_images: active.iter().filter(|i| i.is_tagged()).count(),
        untagged_images: active.iter().filter(|i| !i.is_tagged()).count(),
        naive_bytes: active.iter().map(|i| i.size_bytes).sum(),
        unique_bytes: unique,
        monthly_cost_usd: current,
        has_lifecycle_policy: policy.is_some() || invalid,
        invalid_lifecycle_policy: invalid,
        projected_monthly_cost_usd: own.as_ref().map_or(current, |p| p.projected_monthly_cost_usd),
        savings_usd: own.as_ref().map_or(0.0, |p| p.savings_usd),
        with_standard_policy: (policy.is_none() && !invalid)
            .then(|| projection(standard, &active, manifests, now, prices, current)),
        archived: Archived {
            images: archived.len(),
            bytes: archived_bytes,
            monthly_cost_usd: monthly(archived_bytes, prices.archive_per_gb_month),
        },
        unknown_media_types,
        enhanced_scanning_estimate,
        with_archive,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Total {
    pub repositories: usize,
    pub images: usize,
    pub naive_bytes: u64,
    pub unique_bytes: u64,
    pub monthly_cost_usd: f64,
    pub projected_monthly_cost_usd: f64,
    pub savings_usd: f64,
    /// What the standard policy would save in the repositories that have none.
    pub standard_policy_savings_usd: f64,
    pub archived_monthly_cost_usd: f64,
    pub enhanced_scanning_estimate_usd: f64,
    /// What "archive after N days without a pull" would save a month where no policy archives.
    #[serde(default)]
    pub archive_projection_savings_usd: f64,
    #[serde(default)]
    pub archive_projection_minimum_charge_usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostReport {
    pub generated_at: String,
    pub region: String,
    /// The registry (account) read; in an organization report, each repository names its own.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registry_id: String,
    pub prices: Prices,
    /// Most expensive first.
    pub repositories: Vec<RepositoryCost>,
    pub total: Total,
    /// The names of the `top` most expensive repositories.
    pub top: Vec<String>,
    /// The total monthly cost the previous report published, if any.
    pub previous_total: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_since_previous_usd: Option<f64>,
    /// Repositories that could not be read, and why: the totals leave them out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_read: Vec<NotRead>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotRead {
    pub name: String,
    pub reason: String,
}

impl CostReport {
    pub fn new(
        mut repositories: Vec<RepositoryCost>,
        region: &str,
        prices: Prices,
        top: usize,
        previous_total: Option<f64>,
        now: DateTime<Utc>,
    ) -> Self {
        repositories.sort_by(|a, b| b.unique_bytes.cmp(&a.unique_bytes).then_with(|| a.name.cmp(&b.name)));
        let mut total = Total { repositories: repositories.len(), ..Total::default() };
        for r in &repositories {
            total.images += r.images;
            total.naive_bytes += r.naive_bytes;
            total.unique_bytes += r.unique_bytes;
            total.monthly_cost_usd += r.monthly_cost_usd;
            total.projected_monthly_cost_usd += r.projected_monthly_cost_usd;
            total.savings_usd += r.savings_usd;
            total.standard_policy_savings_usd += r.with_standard_policy.as_ref().map_or(0.0, |p| p.savings_usd);
            total.archived_monthly_cost_usd += r.archived.monthly_cost_usd;
            total.enhanced_scanning_estimate_usd +=
                r.enhanced_scanning_estimate.as_ref().map_or(0.0, |e| e.monthly_cost_usd);
            if let Some(a) = &r.with_archive {
                total.archive_projection_savings_usd += a.monthly_savings_usd;
                total.archive_projection_minimum_charge_usd += a.minimum_charge_usd;
            }
        }
        let change = previous_total.map(|p| total.monthly_cost_usd - p);
        CostReport {
            generated_at: crate::lifecycle::to_second(now),
            region: region.to_string(),
            registry_id: String::new(),
            prices,
            top: repositories.iter().take(top).map(|r| r.name.clone()).collect(),
            repositories,
            total,
            previous_total,
            change_since_previous_usd: change,
            not_read: Vec::new(),
        }
    }

    /// Metrics for PutMetricData: per repository and, without dimensions, the totals.
    pub fn metrics(&self) -> Vec<Metric> {
        let gauge = |name: &'static str, value: f64, unit: Unit| Metric { name, dimensions: Vec::new(), value, unit };
        let mut out = Vec::new();
        for r in &self.repositories {
            out.push(gauge(names::STORAGE_BYTES, r.naive_bytes as f64, Unit::Bytes).with(DIM_REPOSITORY, &r.name));
            out.push(
                gauge(names::UNIQUE_STORAGE_BYTES, r.unique_bytes as f64, Unit::Bytes).with(DIM_REPOSITORY, &r.name),
            );
            out.push(
                gauge(names::ESTIMATED_MONTHLY_COST_USD, r.monthly_cost_usd, Unit::None).with(DIM_REPOSITORY, &r.name),
            );
            out.push(
                gauge(names::PROJECTED_MONTHLY_COST_USD, r.projected_monthly_cost_usd, Unit::None)
                    .with(DIM_REPOSITORY, &r.name),
            );
        }
        out.push(gauge(names::STORAGE_BYTES, self.total.naive_bytes as f64, Unit::Bytes));
        out.push(gauge(names::UNIQUE_STORAGE_BYTES, self.total.unique_bytes as f64, Unit::Bytes));
        out.push(gauge(names::ESTIMATED_MONTHLY_COST_USD, self.total.monthly_cost_usd, Unit::None));
        out.push(gauge(names::PROJECTED_MONTHLY_COST_USD, self.total.projected_monthly_cost_usd, Unit::None));
        out
    }

    /// The `ecr-keeper-costs` dashboard: rewritten every run, since the top N changes.
    /// Per-repository graphs for the top repositories that have metrics (`selected`); without
    /// any, the top as of this report in a table and the registry's storage over time.
    pub fn dashboard_body(&self, region: &str, selected: &crate::metrics::RepositoryMetrics) -> String {
        let ns = crate::metrics::NAMESPACE;
        let graphed: Vec<&String> = self.top.iter().filter(|r| selected.includes(r)).collect();
        let per_repo = |metric: &str| -> Vec<serde_json::Value> {
            graphed.iter().map(|r| serde_json::json!([ns, metric, DIM_REPOSITORY, r])).collect()
        };
        let widget = |x: u32, y: u32, title: &str, metrics: Vec<serde_json::Value>, view: &str| {
            serde_json::json!({"type": "metric", "x": x, "y": y, "width": 12, "height": 6,
                "properties": {"title": title, "region": region, "view": view, "stat": "Maximum", "period": 86400, "metrics": metrics}})
        };
        let savings = format!(
            "## Savings available\n\nCurrent **{}**/month; after the lifecycle policies **{}** (saves {}). The standard policy would save another **{}** in repositories without one.",
            money(self.total.monthly_cost_usd), money(self.total.projected_monthly_cost_usd), money(self.total.savings_usd), money(self.total.standard_policy_savings_usd)
        );
        let top_title = format!(
            "Top {} by cost (USD/month)",
            crate::lifecycle::count(self.top.len() as u64, "repository", "repositories")
        );
        let (top, storage) = if graphed.is_empty() {
            let rows: String = self
                .top
                .iter()
                .filter_map(|name| self.repositories.iter().find(|r| &r.name == name))
                .map(|r| format!("| {} | {} |\n", r.name, money(r.monthly_cost_usd)))
                .collect();
            let table = format!("## {top_title}\n\nAs of {}; per-repository metrics are off (RepositoryMetrics).\n\n| repository | cost |\n|---|---|\n{rows}", self.generated_at);
            (
                serde_json::json!({"type": "text", "x": 12, "y": 0, "width": 12, "height": 6, "properties": {"markdown": table}}),
                widget(
                    0,
                    6,
                    "Storage, total (bytes)",
                    vec![
                        serde_json::json!([ns, names::STORAGE_BYTES]),
                        serde_json::json!([ns, names::UNIQUE_STORAGE_BYTES]),
                    ],
                    "timeSeries",
                ),
            )
        } else {
            (
                widget(12, 0, &top_title, per_repo(names::ESTIMATED_MONTHLY_COST_USD), "bar"),
                widget(
                    0,
                    6,
                    "Storage per repository (unique bytes)",
                    per_repo(names::UNIQUE_STORAGE_BYTES),
                    "timeSeries",
                ),
            )
        };
        serde_json::json!({"widgets": [
            widget(0, 0, "ECR storage cost, total (USD/month)", vec![serde_json::json!([ns, names::ESTIMATED_MONTHLY_COST_USD]), serde_json::json!([ns, names::PROJECTED_MONTHLY_COST_USD])], "timeSeries"),
            top,
            storage,
            serde_json::json!({"type": "text", "x": 12, "y": 6, "width": 12, "height": 6, "properties": {"markdown": savings}}),
        ]})
        .to_string()
    }

    /// What to change first for the bill: repositories with no lifecycle policy (what the team
    /// standard would save, the most first) and those whose policy ECR would refuse. Ranked as
    /// the audit's storage actions are ([`crate::audit::fix_first`]).
    pub fn fix_first(&self) -> Vec<crate::run::Ranked> {
        use crate::audit::{Consequence, FixAction};
        let micro = |usd: f64| (usd.max(0.0) * 1e6).round() as u64;
        let mut without: Vec<(&RepositoryCost, f64)> = self
            .repositories
            .iter()
            .filter_map(|r| r.with_standard_policy.as_ref().map(|p| (r, p.savings_usd)))
            .filter(|(_, saves)| *saves > 0.0)
            .collect();
        without.sort_by(|a, b| b.1.total_cmp(&a.1));
        let saves: f64 = without.iter().map(|(_, s)| s).sum();
        let mut invalid: Vec<&RepositoryCost> =
            self.repositories.iter().filter(|r| r.invalid_lifecycle_policy).collect();
        invalid.sort_by(|a, b| b.monthly_cost_usd.total_cmp(&a.monthly_cost_usd));
        let costs: f64 = invalid.iter().map(|r| r.monthly_cost_usd).sum();
        let repositories = |n: usize| crate::lifecycle::count(n as u64, "repository", "repositories");
        let actions = [
            (
                FixAction {
                    consequence: Consequence::StorageNeverFreed,
                    check: "LC-1".into(),
                    what: format!(
                        "{} have no lifecycle policy: the team standard would save {}/month",
                        repositories(without.len()),
                        money(saves)
                    ),
                    change: "add one: ImageRetentionCount, TagPrefixes and UntaggedRetentionDays on \
                             Custom::EcrRepository, or the team standard with `ecr-keeper audit --fix --yes`."
                        .into(),
                    repositories: without.iter().map(|(r, _)| r.name.clone()).collect(),
                    bytes: 0,
                    registry: false,
                },
                micro(saves),
            ),
            (
                FixAction {
                    consequence: Consequence::StorageNeverFreed,
                    check: "LC-2".into(),
                    what: format!(
                        "{} have a lifecycle policy ECR would refuse: it expires nothing of their {}/month",
                        repositories(invalid.len()),
                        money(costs)
                    ),
                    change:
                        "fix it: `ecr-keeper lifecycle validate <policy.json>` lists every problem, then put it again."
                            .into(),
                    repositories: invalid.iter().map(|r| r.name.clone()).collect(),
                    bytes: 0,
                    registry: false,
                },
                micro(costs),
            ),
        ];
        let ranked = actions
            .into_iter()
            .filter(|(a, _)| !a.repositories.is_empty())
            .map(|(a, weight)| crate::run::Ranked { weight, ..a.ranked() })
            .collect();
        crate::run::in_order(ranked)
    }

    pub fn to_markdown(&self) -> String {
        let mut md = format!(
            "# ECR storage cost\n\n{} in {}: {}, {}, {} stored once ({} if every image's size were counted), **{}/month** at ${}/GB-month.\n\n",
            self.generated_at,
            self.region,
            crate::lifecycle::count(self.total.repositories as u64, "repository", "repositories"),
            crate::lifecycle::count(self.total.images as u64, "image", "images"),
            human_bytes(self.total.unique_bytes),
            human_bytes(self.total.naive_bytes),
            money(self.total.monthly_cost_usd),
            self.prices.storage_per_gb_month
        );
        if let (Some(previous), Some(change)) = (self.previous_total, self.change_since_previous_usd) {
            md.push_str(&format!("Previous report: {}/month; change {}.\n\n", money(previous), money_change(change)));
        }
        md.push_str(&crate::run::fix_first_markdown(&self.fix_first()));
        md.push_str("| repository | images | unique storage | cost/month | after its policy | savings |\n|---|---|---|---|---|---|\n");
        for r in &self.repositories {
            let after = if r.invalid_lifecycle_policy {
                "invalid policy (expires nothing)".into()
            } else if r.has_lifecycle_policy {
                money(r.projected_monthly_cost_usd)
            } else {
                "no policy".into()
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                crate::markdown::text(&r.name),
                r.images,
                human_bytes(r.unique_bytes),
                money(r.monthly_cost_usd),
                after,
                money(r.savings_usd)
            ));
        }
        let without: Vec<&RepositoryCost> =
            self.repositories.iter().filter(|r| r.with_standard_policy.is_some()).collect();
        if !without.is_empty() {
            md.push_str("\n## Before and after the standard policy (repositories without a policy)\n\n| repository | images | now | with the standard policy | saves |\n|---|---|---|---|---|\n");
            for r in without {
                if let Some(p) = &r.with_standard_policy {
                    md.push_str(&format!(
                        "| {} | {} → {} | {} | {} | {} |\n",
                        crate::markdown::text(&r.name),
                        r.images,
                        p.images_kept,
                        money(r.monthly_cost_usd),
                        money(p.projected_monthly_cost_usd),
                        money(p.savings_usd)
                    ));
                }
            }
        }
        md.push_str(&self.archive_markdown());
        let flagged: usize = self.repositories.iter().map(|r| r.unknown_media_types.len()).sum();
        if flagged > 0 {
            let flagged = crate::lifecycle::count(flagged as u64, "image has", "images have");
            md.push_str(&format!(
                "\n{flagged} a manifest type this report does not read; they count by their reported size.\n"
            ));
        }
        if self.total.enhanced_scanning_estimate_usd > 0.0 {
            md.push_str(&format!(
                "\nEnhanced scanning, estimated: {}/month.\n",
                money(self.total.enhanced_scanning_estimate_usd)
            ));
        }
        if !self.not_read.is_empty() {
            md.push_str("\n**Incomplete**: not read, so not in the totals:\n\n");
            for n in &self.not_read {
                md.push_str(&format!("- {}: {}\n", crate::markdown::text(&n.name), crate::markdown::text(&n.reason)));
            }
        }
        md
    }
}

impl CostReport {
    /// The archive section: what archiving by last pull would save, and what it costs at least
    /// (90 days of archive storage, whenever the images are expired or restored).
    fn archive_markdown(&self) -> String {
        let p = &self.prices;
        let projected: Vec<(&str, &ArchiveProjection)> =
            self.repositories.iter().filter_map(|r| r.with_archive.as_ref().map(|a| (r.name.as_str(), a))).collect();
        if projected.is_empty() {
            return String::new();
        }
        let mut md = String::new();
        if let Some((_, first)) = projected.first() {
            md.push_str(&format!(
                "\n## With archive after {} days without a pull (repositories whose policy does not archive)\n\n",
                first.after_days_without_pull
            ));
            if p.archive_per_gb_month >= p.storage_per_gb_month {
                md.push_str(&format!(
                    "At ${}/GB-month archived against ${}/GB-month standard, archiving saves nothing (AWS charges the same for a registry's first 150 TB of archive a month); it adds the 90-day minimum and ${}/GB to restore.\n\n",
                    p.archive_per_gb_month, p.storage_per_gb_month, p.restore_per_gb
                ));
            }
            md.push_str("| repository | images archived | size | saves/month | 90-day minimum | restore all |\n|---|---|---|---|---|---|\n");
            for (name, a) in &projected {
                md.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    crate::markdown::text(name),
                    a.images,
                    human_bytes(a.unique_bytes),
                    money(a.monthly_savings_usd),
                    money(a.minimum_charge_usd),
                    money(a.restore_all_usd)
                ));
            }
        }
        md
    }
}

pub const DASHBOARD_NAME: &str = "ecr-keeper-costs";
