//! The organization's report: every registry's own report, each repository marked with its
//! account and region, and the numbers per account, per region and for the whole organization.

use super::Target;
use crate::metrics::{Metric, DIM_ACCOUNT, DIM_REGION, DIM_REPOSITORY};
use crate::run::RunReport;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Compliance numbers (the audit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComplianceTally {
    pub non_compliant: usize,
    /// By check id: FAIL, WARN and ERROR results.
    pub by_check: BTreeMap<String, CheckTally>,
    pub overdue_images: u64,
    pub overdue_bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckTally {
    pub fail: u32,
    pub warn: u32,
    pub error: u32,
}

/// Cost numbers (the cost report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostTally {
    pub images: usize,
    pub unique_bytes: u64,
    pub monthly_cost_usd: f64,
    pub projected_monthly_cost_usd: f64,
    pub standard_policy_savings_usd: f64,
}

/// The numbers of one registry, an account, a region or the organization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub registries: usize,
    /// Registries that could not be reached at all.
    pub unreachable: usize,
    pub repositories: usize,
    /// Repositories that could not be read (ERROR rows, not read, not reached).
    pub unread: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<ComplianceTally>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostTally>,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.registries += other.registries;
        self.unreachable += other.unreachable;
        self.repositories += other.repositories;
        self.unread += other.unread;
        if let Some(o) = &other.compliance {
            let c = self.compliance.get_or_insert_with(ComplianceTally::default);
            c.non_compliant += o.non_compliant;
            c.overdue_images += o.overdue_images;
            c.overdue_bytes += o.overdue_bytes;
            for (id, t) in &o.by_check {
                let mine = c.by_check.entry(id.clone()).or_default();
                mine.fail += t.fail;
                mine.warn += t.warn;
                mine.error += t.error;
            }
        }
        if let Some(o) = &other.cost {
            let c = self.cost.get_or_insert_with(CostTally::default);
            c.images += o.images;
            c.unique_bytes += o.unique_bytes;
            c.monthly_cost_usd += o.monthly_cost_usd;
            c.projected_monthly_cost_usd += o.projected_monthly_cost_usd;
            c.standard_policy_savings_usd += o.standard_policy_savings_usd;
        }
    }

    /// Anything to look at: a failure, an error, an unreachable registry.
    pub fn needs_attention(&self) -> bool {
        self.unreachable > 0 || self.unread > 0 || self.compliance.as_ref().is_some_and(|c| c.non_compliant > 0)
    }
}

/// What the organization report needs of a registry's report.
pub trait OrganizationView: RunReport + Clone + std::fmt::Debug {
    /// The registry's numbers (account and region left empty).
    fn tally(&self) -> Tally;
    /// Marks every repository with its account and region.
    fn stamp(&mut self, target: &Target);
    /// The registry's metrics, as a one-registry run publishes them.
    fn metrics(&self) -> Vec<Metric>;
    /// The numbers an empty registry shows (compliance or cost), for an unreachable one.
    fn empty_tally() -> Tally;
}

/// One registry of the organization: its report, or why it has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", bound = "R: Serialize + DeserializeOwned")]
pub struct RegistryEntry<R> {
    pub account: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<R>,
    /// Why the registry could not be reached or listed: the entry's ERROR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<R> RegistryEntry<R> {
    pub fn target(&self) -> Target {
        Target { account: self.account.clone(), region: self.region.clone() }
    }
}

/// The report over every registry of a run's scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", bound = "R: Serialize + DeserializeOwned")]
pub struct OrganizationReport<R> {
    pub generated_at: String,
    /// The member role the run assumed.
    pub role_name: String,
    pub regions: Vec<String>,
    pub complete: bool,
    /// Account by account, region by region, in the scope's order.
    pub registries: Vec<RegistryEntry<R>>,
    pub by_account: Vec<Tally>,
    pub by_region: Vec<Tally>,
    pub totals: Tally,
}

impl<R: OrganizationView> OrganizationReport<R> {
    /// Every entry's report stamped, and the tallies summed.
    pub fn new(
        generated_at: String,
        role_name: &str,
        regions: &[String],
        results: Vec<(Target, Result<R, String>)>,
    ) -> Self {
        let mut registries = Vec::new();
        let mut by_account: BTreeMap<String, Tally> = BTreeMap::new();
        let mut by_region: BTreeMap<String, Tally> = BTreeMap::new();
        let mut account_order: Vec<String> = Vec::new();
        let mut totals = Tally::default();
        let mut complete = true;
        for (target, result) in results {
            let (tally, entry) = match result {
                Ok(mut report) => {
                    report.stamp(&target);
                    complete &= report.complete();
                    let tally = Tally { registries: 1, ..report.tally() };
                    (
                        tally,
                        RegistryEntry {
                            account: target.account.clone(),
                            region: target.region.clone(),
                            report: Some(report),
                            error: None,
                        },
                    )
                }
                Err(reason) => {
                    complete = false;
                    let tally = Tally { registries: 1, unreachable: 1, ..R::empty_tally() };
                    (
                        tally,
                        RegistryEntry {
                            account: target.account.clone(),
                            region: target.region.clone(),
                            report: None,
                            error: Some(reason),
                        },
                    )
                }
            };
            if !account_order.contains(&target.account) {
                account_order.push(target.account.clone());
            }
            by_account
                .entry(target.account.clone())
                .or_insert_with(|| Tally { account: Some(target.account.clone()), ..R::empty_tally() })
                .add(&tally);
            by_region
                .entry(target.region.clone())
                .or_insert_with(|| Tally { region: Some(target.region.clone()), ..R::empty_tally() })
                .add(&tally);
            totals.add(&tally);
            registries.push(entry);
        }
        let by_account = account_order.iter().filter_map(|a| by_account.remove(a)).collect();
        let mut ordered: Vec<Tally> = regions.iter().filter_map(|r| by_region.remove(r)).collect();
        ordered.extend(by_region.into_values());
        let by_region = ordered;
        OrganizationReport {
            generated_at,
            role_name: role_name.to_string(),
            regions: regions.to_vec(),
            complete,
            registries,
            by_account,
            by_region,
            totals,
        }
    }

    pub fn accounts(&self) -> usize {
        self.by_account.len()
    }

    /// The numbers as log lines: the totals and regions first, then one line per account. One
    /// line for every account would outgrow a CloudWatch log event (256 KB) at several hundred
    /// accounts.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        let mut lines = vec![serde_json::json!({
            "complete": self.complete,
            "accounts": self.accounts(),
            "totals": self.totals,
            "byRegion": self.by_region,
        })];
        lines.extend(self.by_account.iter().map(|t| serde_json::json!({ "byAccount": t })));
        lines
    }

    /// Per repository the registry's own metrics with `Account` and `Region` (unless
    /// `per_repository` is false: each is a custom metric billed monthly); the organization's
    /// totals without them (summed over the registries' totals).
    pub fn metrics(&self, per_repository: &crate::metrics::RepositoryMetrics) -> Vec<Metric> {
        let mut out = Vec::new();
        let mut totals: Vec<Metric> = Vec::new();
        for entry in &self.registries {
            let Some(report) = &entry.report else { continue };
            for metric in report.metrics() {
                if let Some((_, repository)) = metric.dimensions.iter().find(|(d, _)| *d == DIM_REPOSITORY) {
                    if !per_repository.includes(repository) {
                        continue;
                    }
                    out.push(metric.with(DIM_ACCOUNT, &entry.account).with(DIM_REGION, &entry.region));
                } else if let Some(sum) =
                    totals.iter_mut().find(|t| t.name == metric.name && t.dimensions == metric.dimensions)
                {
                    sum.value += metric.value;
                } else {
                    totals.push(metric);
                }
            }
        }
        // "Incomplete" is the organization's, not a count of registries.
        for metric in &mut totals {
            if metric.name == crate::metrics::names::AUDIT_INCOMPLETE {
                metric.value = f64::from(u8::from(!self.complete));
            }
        }
        out.extend(totals);
        out
    }
}

impl CostTally {
    /// The dashboard of an organization run: its totals (per repository, the metrics carry
    /// `Account` and `Region` and are best read in the HTML report).
    pub fn dashboard_body(&self, accounts: usize, region: &str) -> String {
        use crate::cost::money;
        use crate::metrics::{names, NAMESPACE as NS};
        let text = format!(
            "## The organization's registries\n\n{}: **{}**/month; after the lifecycle policies **{}**. The standard policy would save another **{}** where there is none. Per account: the HTML report in the reports bucket.",
            crate::lifecycle::count(accounts as u64, "account", "accounts"),
            money(self.monthly_cost_usd), money(self.projected_monthly_cost_usd), money(self.standard_policy_savings_usd)
        );
        serde_json::json!({"widgets": [
            {"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6,
             "properties": {"title": "ECR storage cost, organization total (USD/month)", "region": region, "view": "timeSeries", "stat": "Maximum", "period": 86400,
                            "metrics": [[NS, names::ESTIMATED_MONTHLY_COST_USD], [NS, names::PROJECTED_MONTHLY_COST_USD]]}},
            {"type": "text", "x": 12, "y": 0, "width": 12, "height": 6, "properties": {"markdown": text}},
        ]})
        .to_string()
    }
}
