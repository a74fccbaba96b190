//! The cost report as a run keeps it.

use super::{bar_chart, changes, fix_first, page, scroll, tiles, Bar, Scale, BLUE, GREEN};
use crate::cost::{money, money_change, CostReport};
use crate::lifecycle::human_bytes;
use crate::run::RunReport;
use chrono::{DateTime, Utc};
use maud::html;
use std::collections::HashMap;

/// Repositories drawn in the chart (the table lists every one).
const CHART_REPOSITORIES: usize = 15;

impl RunReport for CostReport {
    const TITLE: &'static str = "ECR storage cost";

    /// One row per repository read.
    fn table_rows(&self) -> Vec<crate::run::TableRow> {
        self.repositories
            .iter()
            .map(|r| {
                let account = r.account.as_deref().unwrap_or(&self.registry_id);
                crate::run::TableRow {
                    account: account.to_string(),
                    json: serde_json::json!({
                        "generated_at": self.generated_at,
                        "region": r.region.as_deref().unwrap_or(&self.region),
                        "repository": r.name,
                        "images": r.images,
                        "tagged_images": r.tagged_images,
                        "untagged_images": r.untagged_images,
                        "storage_bytes": r.naive_bytes,
                        "unique_storage_bytes": r.unique_bytes,
                        "monthly_cost_usd": r.monthly_cost_usd,
                        "projected_monthly_cost_usd": r.projected_monthly_cost_usd,
                        "savings_usd": r.savings_usd,
                        "has_lifecycle_policy": r.has_lifecycle_policy,
                    })
                    .to_string(),
                }
            })
            .collect()
    }

    fn generated_at(&self) -> DateTime<Utc> {
        crate::image::parse_timestamp(&self.generated_at).unwrap_or_default()
    }

    fn complete(&self) -> bool {
        self.not_read.is_empty()
    }

    fn to_markdown(&self) -> String {
        CostReport::to_markdown(self)
    }

    fn fix_first(&self) -> Vec<crate::run::Ranked> {
        CostReport::fix_first(self)
    }

    fn headline(&self) -> Vec<(String, String)> {
        let t = &self.total;
        let mut out = vec![
            ("Monthly cost".to_string(), money(t.monthly_cost_usd)),
            ("After the lifecycle policies".to_string(), money(t.projected_monthly_cost_usd)),
            ("Savings from the standard policy".to_string(), money(t.standard_policy_savings_usd)),
            ("Repositories".to_string(), t.repositories.to_string()),
            ("Images".to_string(), t.images.to_string()),
            ("Stored once".to_string(), human_bytes(t.unique_bytes)),
        ];
        if !self.not_read.is_empty() {
            out.push(("Not read".to_string(), self.not_read.len().to_string()));
        }
        out
    }

    fn changes(&self, previous: &Self) -> Vec<String> {
        let mut out = Vec::new();
        let (was, now) = (previous.total.monthly_cost_usd, self.total.monthly_cost_usd);
        if (was - now).abs() >= 0.005 {
            out.push(format!("monthly cost: {} → {} ({})", money(was), money(now), money_change(now - was)));
        }
        if previous.total.images != self.total.images {
            out.push(format!("images: {} → {}", previous.total.images, self.total.images));
        }
        let before: HashMap<&str, f64> =
            previous.repositories.iter().map(|r| (r.name.as_str(), r.monthly_cost_usd)).collect();
        let mut moved: Vec<(f64, String)> = Vec::new();
        for r in &self.repositories {
            match before.get(r.name.as_str()) {
                None => moved.push((r.monthly_cost_usd, format!("{}: new, {}", r.name, money(r.monthly_cost_usd)))),
                Some(was) if (was - r.monthly_cost_usd).abs() >= 0.01 => moved.push((
                    (r.monthly_cost_usd - was).abs(),
                    format!("{}: {} → {}", r.name, money(*was), money(r.monthly_cost_usd)),
                )),
                Some(_) => {}
            }
        }
        moved.sort_by(|a, b| b.0.total_cmp(&a.0));
        out.extend(moved.into_iter().map(|(_, line)| line));
        for r in &previous.repositories {
            if !self.repositories.iter().any(|n| n.name == r.name) {
                out.push(format!("{}: gone (was {})", r.name, money(r.monthly_cost_usd)));
            }
        }
        out
    }

    fn to_html(&self, since: &[String]) -> String {
        let bars: Vec<Bar> = self
            .repositories
            .iter()
            // The report's own top N (--top, the dashboard's), or a few when it names none.
            .take(if self.top.is_empty() { CHART_REPOSITORIES } else { self.top.len() })
            .map(|r| Bar {
                label: r.name.clone(),
                // Kept after its policy, then what the policy frees.
                parts: vec![(r.projected_monthly_cost_usd, BLUE), (r.savings_usd.max(0.0), GREEN)],
            })
            .collect();
        let mut freeing: Vec<_> = self
            .repositories
            .iter()
            .filter_map(|r| {
                let standard = r.with_standard_policy.as_ref().map_or(0.0, |p| p.savings_usd);
                (r.savings_usd > 0.0 || standard > 0.0).then_some((r, standard))
            })
            .collect();
        freeing.sort_by(|a, b| (b.0.savings_usd + b.1).total_cmp(&(a.0.savings_usd + a.1)));
        let archiving: Vec<(&str, &crate::cost::ArchiveProjection)> =
            self.repositories.iter().filter_map(|r| r.with_archive.as_ref().map(|a| (r.name.as_str(), a))).collect();
        let meta = format!(
            "{} in {}, at ${}/GB-month{}",
            self.generated_at,
            self.region,
            self.prices.storage_per_gb_month,
            if self.complete() { "" } else { " — incomplete" }
        );
        let body = html! {
            @if !self.not_read.is_empty() {
                p.incomplete { "Incomplete: the totals leave out " (crate::lifecycle::count(self.not_read.len() as u64, "repository", "repositories")) " that could not be read (listed below)." }
            }
            (tiles(&self.headline()))
            (fix_first(&CostReport::fix_first(self)))
            h2 { "Repositories by cost" }
            (bar_chart(
                &format!("Top {} by cost, USD per month", crate::lifecycle::count(bars.len() as u64, "repository", "repositories")),
                &bars,
                &[("kept after its lifecycle policy", BLUE), ("freed by it", GREEN)],
                Scale::Amount,
            ))
            (scroll("Repositories by cost", html! { table id="costs" {
                tr { th { "repository" } th { "images" } th { "stored once" } th { "cost/month" } th { "after its policy" } }
                @for r in &self.repositories {
                    tr data-repository=(r.name) {
                        td { (r.name) } td.num { (r.images) } td.num { (human_bytes(r.unique_bytes)) }
                        td.num { (money(r.monthly_cost_usd)) }
                        td.num {
                            @if r.invalid_lifecycle_policy { span.none { "invalid policy (expires nothing)" } }
                            @else if r.has_lifecycle_policy { (money(r.projected_monthly_cost_usd)) } @else { span.none { "no policy" } }
                        }
                    }
                }
            } }))
            h2 { "What the lifecycle policies will free" }
            @if freeing.is_empty() {
                p { "Nothing: no policy would free storage." }
            } @else {
                (scroll("What the lifecycle policies will free", html! { table id="freeing" {
                    tr { th { "repository" } th { "its policy saves" } th { "the standard policy would save" } }
                    @for (r, standard) in &freeing {
                        tr {
                            td { (r.name) } td.num { (money(r.savings_usd)) }
                            td.num { @if r.with_standard_policy.is_some() { (money(*standard)) } @else { span.none { "has a policy" } } }
                        }
                    }
                } }))
            }
            @if !archiving.is_empty() {
                h2 { "With archive after " (archiving[0].1.after_days_without_pull) " days without a pull" }
                @if self.prices.archive_per_gb_month >= self.prices.storage_per_gb_month {
                    p { "At the configured prices archiving saves nothing (AWS charges archive like standard storage for a registry's first 150 TB a month); it adds the 90-day minimum and a restore fee." }
                }
                (scroll("Archive projection", html! { table id="archive" {
                    tr { th { "repository" } th { "images archived" } th { "size" } th { "saves/month" } th { "90-day minimum" } th { "restore all" } }
                    @for (name, a) in &archiving {
                        tr {
                            td { (name) } td.num { (a.images) } td.num { (human_bytes(a.unique_bytes)) }
                            td.num { (money(a.monthly_savings_usd)) }
                            td.num { (money(a.minimum_charge_usd)) }
                            td.num { (money(a.restore_all_usd)) }
                        }
                    }
                } }))
            }
            (changes(since))
            @if !self.not_read.is_empty() {
                h2 { "Not read" }
                ul { @for n in &self.not_read { li { (n.name) ": " (n.reason) } } }
            }
        };
        page(<Self as RunReport>::TITLE, &meta, body)
    }
}
