//! The organization report as a run keeps it: markdown, the HTML page (an account × check heat
//! map, the accounts by cost), the headline and the change since the previous report.

use super::{bar_chart, changes, fix_first, page, scroll, tiles, Bar, Scale, BLUE, GREEN};
use crate::lifecycle::{count, human_bytes};
use crate::organization::{OrganizationReport, OrganizationView, Tally};
use crate::run::RunReport;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use std::collections::{BTreeMap, BTreeSet};

/// Accounts named one by one in the headline (and so in the alert); the rest are counted.
const HEADLINE_ACCOUNTS: usize = 20;
/// Accounts drawn in the cost chart (the table lists every one).
const CHART_ACCOUNTS: usize = 25;

fn usd(v: f64) -> String {
    crate::cost::money(v)
}

/// What a tally says in a sentence: "2 non-compliant, 1 registry not reached".
fn in_brief(t: &Tally) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &t.compliance {
        parts.push(format!("{} non-compliant", c.non_compliant));
    }
    if let Some(c) = &t.cost {
        parts.push(format!("{}/month", usd(c.monthly_cost_usd)));
    }
    if t.unread > 0 {
        parts.push(format!("{} not read", t.unread));
    }
    if t.unreachable > 0 {
        parts.push(format!("{} of {} registries not reached", t.unreachable, t.registries));
    }
    parts.join(", ")
}

fn who(t: &Tally) -> String {
    match (&t.account, &t.region) {
        (Some(a), _) => a.clone(),
        (None, Some(r)) => r.clone(),
        _ => "organization".to_string(),
    }
}

fn header_cells(t: &Tally) -> Vec<&'static str> {
    let mut out = vec!["registries", "not reached", "repositories", "not read"];
    if t.compliance.is_some() {
        out.extend(["non-compliant", "fail", "warn", "error", "overdue images"]);
    }
    if t.cost.is_some() {
        out.extend(["monthly cost", "after policies", "standard policy saves", "images", "stored once"]);
    }
    out
}

fn cells(t: &Tally) -> Vec<String> {
    let mut out =
        vec![t.registries.to_string(), t.unreachable.to_string(), t.repositories.to_string(), t.unread.to_string()];
    if let Some(c) = &t.compliance {
        let sum = |f: fn(&crate::organization::CheckTally) -> u32| c.by_check.values().map(f).sum::<u32>().to_string();
        out.extend([
            c.non_compliant.to_string(),
            sum(|x| x.fail),
            sum(|x| x.warn),
            sum(|x| x.error),
            c.overdue_images.to_string(),
        ]);
    }
    if let Some(c) = &t.cost {
        out.extend([
            usd(c.monthly_cost_usd),
            usd(c.projected_monthly_cost_usd),
            usd(c.standard_policy_savings_usd),
            c.images.to_string(),
            human_bytes(c.unique_bytes),
        ]);
    }
    out
}

fn markdown_table(first: &str, rows: &[&Tally]) -> String {
    let Some(head) = rows.first() else { return String::new() };
    let headers = header_cells(head);
    let mut out = format!("| {first} | {} |\n|---|{}\n", headers.join(" | "), "---:|".repeat(headers.len()));
    for t in rows {
        out.push_str(&format!("| {} | {} |\n", who(t), cells(t).join(" | ")));
    }
    out
}

fn html_table(id: &str, label: &str, first: &str, rows: &[&Tally]) -> Markup {
    let headers = rows.first().map(|t| header_cells(t)).unwrap_or_default();
    scroll(
        label,
        html! {
            table id=(id) {
                tr { th { (first) } @for h in &headers { th { (h) } } }
                @for t in rows {
                    tr class=(if t.needs_attention() { "attention" } else { "" }) {
                        td { (who(t)) } @for c in cells(t) { td.num { (c) } }
                    }
                }
            }
        },
    )
}

impl<R: OrganizationView> RunReport for OrganizationReport<R> {
    const TITLE: &'static str = R::TITLE;

    fn generated_at(&self) -> DateTime<Utc> {
        crate::image::parse_timestamp(&self.generated_at).unwrap_or_default()
    }

    fn complete(&self) -> bool {
        self.complete
    }

    /// Ranked across registries as they were added (see [`OrganizationReport::add`]).
    fn fix_first(&self) -> Vec<crate::run::Ranked> {
        self.fix_first.clone()
    }

    fn to_markdown(&self) -> String {
        let mut out = format!(
            "# {} — organization\n\nGenerated {}: {} × {} ({}), through role `{}`.\n\n",
            R::TITLE,
            self.generated_at,
            count(self.accounts() as u64, "account", "accounts"),
            count(self.regions.len() as u64, "region", "regions"),
            self.regions.join(", "),
            self.role_name
        );
        if !self.complete {
            out.push_str(
                "**INCOMPLETE**: some registries or repositories could not be read; they are named below.\n\n",
            );
        }
        out.push_str(&crate::run::fix_first_markdown(&RunReport::fix_first(self)));
        out.push_str("## Organization totals\n\n");
        out.push_str(&markdown_table("scope", &[&self.totals]));
        out.push_str("\n## By account\n\n");
        out.push_str(&markdown_table("account", &self.by_account.iter().collect::<Vec<_>>()));
        out.push_str("\n## By region\n\n");
        out.push_str(&markdown_table("region", &self.by_region.iter().collect::<Vec<_>>()));
        let unreached: Vec<_> = self.registries.iter().filter(|e| e.error.is_some()).collect();
        if !unreached.is_empty() {
            out.push_str("\n## Registries not reached (ERROR)\n\n| account | region | why |\n|---|---|---|\n");
            for e in unreached {
                let why = crate::markdown::text(e.error.as_deref().unwrap_or_default());
                out.push_str(&format!("| {} | {} | {why} |\n", e.account, e.region));
            }
        }
        out.push_str(
            "\n## Registries\n\nEach registry's own report (every repository, every check) is beside this one.\n\n",
        );
        let rows: Vec<&Tally> = self.registries.iter().map(|e| &e.tally).collect();
        if let Some(head) = rows.first() {
            let headers = header_cells(head);
            out.push_str(&format!(
                "| account | region | report | {} |\n|---|---|---|{}\n",
                headers.join(" | "),
                "---:|".repeat(headers.len())
            ));
            for e in &self.registries {
                let link = match &e.report {
                    Some(path) => format!("[{path}.md]({path}.md)"),
                    None => "not reached".to_string(),
                };
                out.push_str(&format!("| {} | {} | {link} | {} |\n", e.account, e.region, cells(&e.tally).join(" | ")));
            }
        }
        out
    }

    fn headline(&self) -> Vec<(String, String)> {
        let t = &self.totals;
        let mut out = vec![
            ("Accounts".to_string(), self.accounts().to_string()),
            ("Registries".to_string(), t.registries.to_string()),
            ("Repositories".to_string(), t.repositories.to_string()),
        ];
        if let Some(c) = &t.compliance {
            out.push(("Non-compliant".to_string(), c.non_compliant.to_string()));
        }
        if let Some(c) = &t.cost {
            out.push(("Monthly cost".to_string(), usd(c.monthly_cost_usd)));
            out.push(("After the lifecycle policies".to_string(), usd(c.projected_monthly_cost_usd)));
        }
        if t.unreachable > 0 {
            out.push(("Registries not reached".to_string(), t.unreachable.to_string()));
        }
        if t.unread > 0 {
            out.push(("Repositories not read".to_string(), t.unread.to_string()));
        }
        // Per account, what needs attention (the audit) or what it costs (the cost report).
        let mut named: Vec<&Tally> = if t.cost.is_some() {
            let mut by_cost: Vec<&Tally> = self.by_account.iter().collect();
            by_cost.sort_by(|a, b| {
                let cost = |x: &Tally| x.cost.map_or(0.0, |c| c.monthly_cost_usd);
                cost(b).total_cmp(&cost(a))
            });
            by_cost
        } else {
            self.by_account.iter().filter(|a| a.needs_attention()).collect()
        };
        let more = named.len().saturating_sub(HEADLINE_ACCOUNTS);
        named.truncate(HEADLINE_ACCOUNTS);
        for a in named {
            out.push((format!("Account {}", who(a)), in_brief(a)));
        }
        if more > 0 {
            out.push(("Other accounts".to_string(), format!("{more} more in the report")));
        }
        out
    }

    fn changes(&self, previous: &Self) -> Vec<String> {
        let mut out = Vec::new();
        let before: BTreeMap<String, &Tally> = previous.by_account.iter().map(|t| (who(t), t)).collect();
        let now: BTreeMap<String, &Tally> = self.by_account.iter().map(|t| (who(t), t)).collect();
        for (account, t) in &now {
            let Some(was) = before.get(account) else {
                out.push(format!("account {account}: new in the scope ({})", in_brief(t)));
                continue;
            };
            if let (Some(a), Some(b)) = (&was.compliance, &t.compliance) {
                if a.non_compliant != b.non_compliant {
                    out.push(format!(
                        "account {account}: non-compliant repositories {} → {}",
                        a.non_compliant, b.non_compliant
                    ));
                }
            }
            if let (Some(a), Some(b)) = (&was.cost, &t.cost) {
                if (a.monthly_cost_usd - b.monthly_cost_usd).abs() >= 0.01 {
                    out.push(format!(
                        "account {account}: monthly cost {} → {} ({:+.2})",
                        usd(a.monthly_cost_usd),
                        usd(b.monthly_cost_usd),
                        b.monthly_cost_usd - a.monthly_cost_usd
                    ));
                }
            }
            if was.unreachable != t.unreachable {
                out.push(format!("account {account}: registries not reached {} → {}", was.unreachable, t.unreachable));
            }
        }
        for account in before.keys().filter(|a| !now.contains_key(*a)) {
            out.push(format!("account {account}: no longer in the scope"));
        }
        out
    }

    fn to_html(&self, since: &[String]) -> String {
        let meta = format!(
            "{} × {} ({}), role {}, {}{}",
            count(self.accounts() as u64, "account", "accounts"),
            count(self.regions.len() as u64, "region", "regions"),
            self.regions.join(", "),
            self.role_name,
            self.generated_at,
            if self.complete { "" } else { " — incomplete" }
        );
        let unreached: Vec<_> = self.registries.iter().filter(|e| e.error.is_some()).collect();
        let registry_headers = self.registries.first().map(|e| header_cells(&e.tally)).unwrap_or_default();
        let checks: BTreeSet<&str> = self
            .by_account
            .iter()
            .filter_map(|t| t.compliance.as_ref())
            .flat_map(|c| c.by_check.keys().map(String::as_str))
            .collect();
        let mut by_cost: Vec<&Tally> = self.by_account.iter().filter(|t| t.cost.is_some()).collect();
        by_cost.sort_by(|a, b| {
            let cost = |x: &Tally| x.cost.map_or(0.0, |c| c.monthly_cost_usd);
            cost(b).total_cmp(&cost(a)).then_with(|| who(a).cmp(&who(b)))
        });
        let bars: Vec<Bar> = by_cost
            .iter()
            .take(CHART_ACCOUNTS)
            .map(|t| {
                let c = t.cost.unwrap_or_default();
                let after = c.projected_monthly_cost_usd.min(c.monthly_cost_usd);
                Bar { label: who(t), parts: vec![(after, BLUE), (c.monthly_cost_usd - after, GREEN)] }
            })
            .collect();
        let body = html! {
            @if !self.complete {
                p.incomplete { "Incomplete: some registries or repositories could not be read; they are named below." }
            }
            (tiles(&self.headline().into_iter().take(8).collect::<Vec<_>>()))
            (fix_first(&RunReport::fix_first(self)))
            @if self.totals.compliance.is_some() {
                h2 { "Accounts × checks" }
                p.meta { "Repositories per account that fail (or cannot be read for) each check; warnings in brackets." }
                (scroll("Accounts × checks", html! { table id="heat-map" {
                    tr { th { "account" } th { "not reached" } @for id in &checks { th { (id) } } }
                    @for t in &self.by_account {
                        tr data-account=(who(t)) {
                            td { (who(t)) }
                            td class=(if t.unreachable > 0 { "ERROR num" } else { "none num" }) { (t.unreachable) }
                            // Nothing read is not compliant: an account none of whose registries
                            // was reached shows no count, not a green zero.
                            @if t.unreachable >= t.registries {
                                @for _ in &checks { td.none.num title="not reached" { "–" } }
                            } @else {
                            @for id in &checks {
                                @let c = t.compliance.as_ref().and_then(|c| c.by_check.get(*id)).copied().unwrap_or_default();
                                @let class = if c.error > 0 { "ERROR" } else if c.fail > 0 { "FAIL" } else if c.warn > 0 { "WARN" } else { "PASS" };
                                td class=(format!("{class} num")) {
                                    (c.fail + c.error)
                                    @if c.warn > 0 { " (" (c.warn) ")" }
                                }
                            }
                            }
                        }
                    }
                } }))
            }
            @if self.totals.cost.is_some() {
                h2 { "Accounts by cost" }
                (bar_chart(
                    "Monthly cost per account, USD",
                    &bars,
                    &[("kept after the lifecycle policies", BLUE), ("what they save", GREEN)],
                    Scale::Amount,
                ))
                (html_table("accounts-by-cost", "Accounts by cost", "account", &by_cost))
            }
            h2 { "By account" }
            (html_table("by-account", "By account", "account", &self.by_account.iter().collect::<Vec<_>>()))
            h2 { "By region" }
            (html_table("by-region", "By region", "region", &self.by_region.iter().collect::<Vec<_>>()))
            h2 { "Organization totals" }
            (html_table("totals", "Organization totals", "scope", &[&self.totals]))
            @if !unreached.is_empty() {
                h2 { "Registries not reached" }
                (scroll("Registries not reached", html! { table id="not-reached" {
                    tr { th { "account" } th { "region" } th { "why" } }
                    @for e in &unreached {
                        tr { td { (e.account) } td { (e.region) } td.ERROR { (e.error.as_deref().unwrap_or_default()) } }
                    }
                } }))
            }
            h2 { "Registries" }
            p.meta { "Each registry's own report (every repository, every check) is beside this one." }
            (scroll("Registries", html! { table id="registries" {
                tr { th { "account" } th { "region" } th { "report" } @for h in &registry_headers { th { (h) } } }
                @for e in &self.registries {
                    tr class=(if e.tally.needs_attention() { "attention" } else { "" }) {
                        td { (e.account) } td { (e.region) }
                        td { @match &e.report {
                            Some(path) => a href=(format!("{path}.html")) { "report" },
                            None => span.ERROR { "not reached" },
                        } }
                        @for c in cells(&e.tally) { td.num { (c) } }
                    }
                }
            } }))
            (changes(since))
        };
        page(&format!("{} — organization", R::TITLE), &meta, body)
    }
}
