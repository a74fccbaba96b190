//! The organization's report: every registry's own report, each repository marked with its
//! account and region, and the numbers per account, per region and for the whole organization.

use super::Target;
use crate::metrics::{Metric, DIM_ACCOUNT, DIM_REGION, DIM_REPOSITORY};
use crate::run::RunReport;
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

/// One registry of the organization, as the index lists it: its numbers and where its own
/// report is, or why it has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryEntry {
    pub account: String,
    pub region: String,
    /// The registry's own report, relative to the organization's: add `.json`, `.md`, `.html`
    /// (and `.ocsf.json` for the audit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// False when a repository of it could not be read.
    #[serde(default)]
    pub complete: bool,
    pub tally: Tally,
    /// Why the registry could not be reached or listed: the entry's ERROR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RegistryEntry {
    pub fn target(&self) -> Target {
        Target { account: self.account.clone(), region: self.region.clone() }
    }
}

/// `registries/<account>/<region>/report`: where a registry's own report sits beside the
/// organization's (in S3 and in the CLI's `--output-dir`).
pub fn registry_report_path(target: &Target) -> String {
    format!("registries/{}/{}/report", target.account, target.region)
}

/// The organization's report: an index over every registry of a run's scope (the numbers, the
/// actions ranked across registries, a link to each registry's own report). It is built one
/// registry at a time ([`OrganizationReport::add`]) and never holds a registry's repositories,
/// so its size follows the registries, not the repositories.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", bound = "")]
pub struct OrganizationReport<R> {
    pub generated_at: String,
    /// The member role the run assumed.
    pub role_name: String,
    pub regions: Vec<String>,
    pub complete: bool,
    /// Account by account, region by region, in the scope's order.
    pub registries: Vec<RegistryEntry>,
    pub by_account: Vec<Tally>,
    pub by_region: Vec<Tally>,
    pub totals: Tally,
    /// Every registry's actions (each naming its account and region) and every registry not
    /// reached, most consequential first.
    #[serde(default)]
    pub fix_first: Vec<crate::run::Ranked>,
    /// The totals summed over the registries, and the per-repository series selected.
    #[serde(skip)]
    metrics: Vec<Metric>,
    #[serde(skip)]
    selected: crate::metrics::RepositoryMetrics,
    #[serde(skip)]
    kind: std::marker::PhantomData<fn() -> R>,
}

/// The tally `is` finds in `tallies`, or `new` added at the end (the order they first appear).
fn tally_of(tallies: &mut Vec<Tally>, new: Tally, is: impl Fn(&Tally) -> bool) -> &mut Tally {
    let at = match tallies.iter().position(is) {
        Some(at) => at,
        None => {
            tallies.push(new);
            tallies.len() - 1
        }
    };
    &mut tallies[at]
}

impl<R: OrganizationView> OrganizationReport<R> {
    /// An index with no registry yet; per repository, the metrics of those `selected` names
    /// are kept (each is a custom metric billed monthly), the totals always.
    pub fn start(
        generated_at: String,
        role_name: &str,
        regions: &[String],
        selected: crate::metrics::RepositoryMetrics,
    ) -> Self {
        OrganizationReport {
            generated_at,
            role_name: role_name.to_string(),
            regions: regions.to_vec(),
            complete: true,
            registries: Vec::new(),
            by_account: Vec::new(),
            by_region: Vec::new(),
            totals: Tally::default(),
            fix_first: Vec::new(),
            metrics: Vec::new(),
            selected,
            kind: std::marker::PhantomData,
        }
    }

    /// Counts one registry (`target`'s report, or why there is none) and returns its report,
    /// stamped with account and region, for the caller to keep; then it may be dropped.
    pub fn add(&mut self, target: &Target, result: Result<R, String>) -> Option<R> {
        let at = format!("{} {}: ", target.account, target.region);
        let (entry, report) = match result {
            Ok(mut report) => {
                report.stamp(target);
                self.complete &= report.complete();
                for a in report.fix_first() {
                    self.fix_first.push(crate::run::Ranked {
                        line: format!("{at}{}", a.line),
                        markdown: format!("{at}{}", a.markdown),
                        ..a
                    });
                }
                self.count_metrics(target, report.metrics());
                let entry = RegistryEntry {
                    account: target.account.clone(),
                    region: target.region.clone(),
                    report: Some(registry_report_path(target)),
                    complete: report.complete(),
                    tally: Tally { registries: 1, ..report.tally() },
                    error: None,
                };
                (entry, Some(report))
            }
            Err(reason) => {
                self.complete = false;
                let line =
                    format!("{at}not reached ({reason}): deploy the member role there, or leave the account out.");
                self.fix_first.push(crate::run::Ranked {
                    rank: crate::audit::Consequence::Unread as u8,
                    weight: 1,
                    markdown: crate::markdown::text(&line),
                    line,
                });
                let entry = RegistryEntry {
                    account: target.account.clone(),
                    region: target.region.clone(),
                    report: None,
                    complete: false,
                    tally: Tally { registries: 1, unreachable: 1, ..R::empty_tally() },
                    error: Some(reason),
                };
                (entry, None)
            }
        };
        let tally = &entry.tally;
        let account = Tally { account: Some(target.account.clone()), ..R::empty_tally() };
        tally_of(&mut self.by_account, account, |t| t.account.as_deref() == Some(target.account.as_str())).add(tally);
        let region = Tally { region: Some(target.region.clone()), ..R::empty_tally() };
        tally_of(&mut self.by_region, region, |t| t.region.as_deref() == Some(target.region.as_str())).add(tally);
        self.totals.add(tally);
        self.registries.push(entry);
        report
    }

    /// Per repository the registry's own metrics with `Account` and `Region` (those selected);
    /// the others summed into the organization's totals.
    fn count_metrics(&mut self, target: &Target, metrics: Vec<Metric>) {
        for metric in metrics {
            if let Some((_, repository)) = metric.dimensions.iter().find(|(d, _)| *d == DIM_REPOSITORY) {
                if self.selected.includes(repository) {
                    self.metrics.push(metric.with(DIM_ACCOUNT, &target.account).with(DIM_REGION, &target.region));
                }
            } else if let Some(sum) =
                self.metrics.iter_mut().find(|t| t.name == metric.name && t.dimensions == metric.dimensions)
            {
                sum.value += metric.value;
            } else {
                self.metrics.push(metric);
            }
        }
    }

    /// The index as it is kept: accounts in scope order (as added), regions in the scope's
    /// order, the actions ranked.
    pub fn finish(mut self) -> Self {
        let mut by_region = Vec::new();
        for region in &self.regions {
            if let Some(i) = self.by_region.iter().position(|t| t.region.as_deref() == Some(region)) {
                by_region.push(self.by_region.remove(i));
            }
        }
        by_region.append(&mut self.by_region);
        self.by_region = by_region;
        self.fix_first = crate::run::in_order(std::mem::take(&mut self.fix_first));
        self
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

    /// The organization's totals (summed over the registries') without `Account` and
    /// `Region`, and the selected repositories' series with them. Empty for a report read back
    /// from a file: the metrics are the run's, not the report's.
    pub fn metrics(&self) -> Vec<Metric> {
        let mut out = self.metrics.clone();
        // "Incomplete" is the organization's, not a count of registries.
        for metric in &mut out {
            if metric.name == crate::metrics::names::AUDIT_INCOMPLETE {
                metric.value = f64::from(u8::from(!self.complete));
            }
        }
        // The selected repositories' series first, as a one-registry run lists them.
        out.sort_by_key(|m| !m.dimensions.iter().any(|(d, _)| *d == DIM_REPOSITORY));
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
