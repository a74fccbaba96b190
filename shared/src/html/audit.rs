//! The audit report as a run keeps it.

use super::{bar_chart, changes, fix_first, page, scroll, tiles, Bar, Scale, AMBER, BLUE, DARK, GREEN, RED};
use crate::audit::{AuditReport, CheckResult, CheckSeverity, Status};
use crate::lifecycle::{count, human_bytes};
use crate::run::RunReport;
use chrono::{DateTime, Utc};
use maud::html;
use std::collections::{BTreeMap, BTreeSet};

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Warn => "WARN",
        Status::Info => "INFO",
        Status::Error => "ERROR",
    }
}

/// What needs acting on first: failures and read errors, then warnings, then information.
fn urgency(status: Status) -> u8 {
    match status {
        Status::Fail | Status::Error => 0,
        Status::Warn => 1,
        Status::Info => 2,
        Status::Pass => 3,
    }
}

/// One check's findings of one status: the repositories under each distinct message.
pub(crate) struct FindingGroup<'a> {
    pub id: &'a str,
    pub status: Status,
    pub severity: CheckSeverity,
    pub messages: Vec<(&'a str, Vec<&'a str>)>,
    pub repositories: usize,
}

/// The findings by check, most urgent and most severe first; within a group, repositories that
/// got the same message share one line.
pub(crate) fn finding_groups(report: &AuditReport) -> Vec<FindingGroup<'_>> {
    let mut groups: BTreeMap<(u8, CheckSeverity, &str, &str), FindingGroup<'_>> = BTreeMap::new();
    for r in &report.repositories {
        for c in r.checks.iter().filter(|c| c.status != Status::Pass) {
            let key = (urgency(c.status), c.severity, c.id.as_ref(), status_name(c.status));
            let group = groups.entry(key).or_insert_with(|| FindingGroup {
                id: c.id.as_ref(),
                status: c.status,
                severity: c.severity,
                messages: Vec::new(),
                repositories: 0,
            });
            group.repositories += 1;
            match group.messages.iter_mut().find(|(m, _)| *m == c.message.as_str()) {
                Some((_, names)) => names.push(r.name.as_str()),
                None => group.messages.push((c.message.as_str(), vec![r.name.as_str()])),
            }
        }
    }
    groups.into_values().collect()
}

fn first_line(c: &CheckResult) -> &str {
    c.message.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default()
}

impl RunReport for AuditReport {
    const TITLE: &'static str = "ECR lifecycle audit";

    fn generated_at(&self) -> DateTime<Utc> {
        crate::image::parse_timestamp(&self.generated_at).unwrap_or_default()
    }

    fn complete(&self) -> bool {
        self.complete
    }

    fn to_markdown(&self) -> String {
        AuditReport::to_markdown(self)
    }

    fn headline(&self) -> Vec<(String, String)> {
        let s = &self.summary;
        let errors: u32 = s.by_check.values().map(|c| c.error).sum();
        let mut out = vec![
            ("Repositories".to_string(), s.repositories.to_string()),
            ("Non-compliant".to_string(), s.non_compliant.to_string()),
            (
                "Expirable now".to_string(),
                format!("{} ({})", count(s.expirable.images, "image", "images"), human_bytes(s.expirable.bytes)),
            ),
            (
                "Overdue".to_string(),
                format!("{} ({})", count(s.overdue.images, "image", "images"), human_bytes(s.overdue.bytes)),
            ),
            (
                "Never expired".to_string(),
                format!("{} ({})", count(s.unmanaged.images, "image", "images"), human_bytes(s.unmanaged.bytes)),
            ),
        ];
        if errors > 0 {
            out.push(("Could not read".to_string(), count(u64::from(errors), "repository", "repositories")));
        }
        if !self.unreached.is_empty() {
            out.push(("Not reached".to_string(), self.unreached.len().to_string()));
        }
        out
    }

    fn ocsf_findings(&self) -> Option<String> {
        Some(crate::audit::ocsf::json_lines(self))
    }

    /// One row per FAIL, WARN and ERROR, of repositories and of the registry (`repository` null).
    fn table_rows(&self) -> Vec<crate::run::TableRow> {
        let row = |account: &str, region: &str, repository: Option<(&str, &str)>, c: &crate::audit::CheckResult| {
            crate::run::TableRow {
                account: account.to_string(),
                json: serde_json::json!({
                    "generated_at": self.generated_at,
                    "region": region,
                    "registry_id": self.registry_id,
                    "repository": repository.map(|(name, _)| name),
                    "repository_arn": repository.map(|(_, arn)| arn),
                    "check_id": c.id.as_ref(),
                    "status": c.status,
                    "severity": c.severity,
                    "message": c.message,
                })
                .to_string(),
            }
        };
        let finding = |c: &&crate::audit::CheckResult| c.status != Status::Pass && c.status != Status::Info;
        let mut rows: Vec<crate::run::TableRow> = self
            .registry_checks
            .iter()
            .filter(finding)
            .map(|c| row(&self.registry_id, &self.region, None, c))
            .collect();
        for r in &self.repositories {
            let account = r.account.as_deref().unwrap_or(&self.registry_id);
            let region = r.region.as_deref().unwrap_or(&self.region);
            rows.extend(r.checks.iter().filter(finding).map(|c| row(account, region, Some((&r.name, &r.arn)), c)));
        }
        rows
    }

    fn fix_first(&self) -> Vec<crate::run::Ranked> {
        crate::audit::fix_first(self).iter().map(crate::audit::FixAction::ranked).collect()
    }

    fn changes(&self, previous: &Self) -> Vec<String> {
        let mut out = Vec::new();
        let (was, now) = (previous.summary.non_compliant, self.summary.non_compliant);
        if was != now {
            out.push(format!("non-compliant repositories: {was} → {now}"));
        }
        let ids: BTreeSet<&str> =
            previous.summary.by_check.keys().chain(self.summary.by_check.keys()).map(|k| k.as_ref()).collect();
        for id in ids {
            let fails = |r: &AuditReport| r.summary.by_check.get(id).map_or(0, |c| c.fail);
            let (was, now) = (fails(previous), fails(self));
            if was != now {
                out.push(format!("{id} failures: {was} → {now}"));
            }
        }
        let (was, now) = (previous.summary.overdue.images, self.summary.overdue.images);
        if was != now {
            out.push(format!("overdue images: {was} → {now}"));
        }
        let failing = |r: &AuditReport| -> BTreeMap<String, Vec<String>> {
            r.repositories
                .iter()
                .filter(|a| a.failed())
                .map(|a| {
                    let ids = a
                        .checks
                        .iter()
                        .filter(|c| matches!(c.status, Status::Fail | Status::Error))
                        .map(|c| c.id.to_string())
                        .collect();
                    (a.name.clone(), ids)
                })
                .collect()
        };
        let (before, after) = (failing(previous), failing(self));
        let known: BTreeSet<&str> = previous.repositories.iter().map(|r| r.name.as_str()).collect();
        for (name, ids) in &after {
            if !before.contains_key(name) {
                let new = if known.contains(name.as_str()) { "" } else { " (new repository)" };
                out.push(format!("{name} is now non-compliant{new}: {}", ids.join(", ")));
            }
        }
        for name in before.keys() {
            if !after.contains_key(name) && self.repositories.iter().any(|r| &r.name == name) {
                out.push(format!("{name} is compliant again"));
            }
        }
        out
    }

    fn to_html(&self, since: &[String]) -> String {
        let ids: Vec<&str> = self.summary.by_check.keys().map(|k| k.as_ref()).collect();
        let bars: Vec<Bar> = self
            .summary
            .by_check
            .iter()
            .map(|(id, c)| Bar {
                label: id.to_string(),
                parts: vec![
                    (f64::from(c.pass), GREEN),
                    (f64::from(c.info), BLUE),
                    (f64::from(c.warn), AMBER),
                    (f64::from(c.fail), RED),
                    (f64::from(c.error), DARK),
                ],
            })
            .collect();
        let mut freeing: Vec<_> =
            self.repositories.iter().filter(|r| r.expirable.images > 0 || r.overdue.images > 0).collect();
        freeing.sort_by(|a, b| b.expirable.bytes.cmp(&a.expirable.bytes).then_with(|| a.name.cmp(&b.name)));
        let meta = format!(
            "Registry {} in {}, {}{}",
            self.registry_id,
            self.region,
            self.generated_at,
            if self.complete { "" } else { " — incomplete" }
        );
        let body = html! {
            @if !self.complete {
                p.incomplete {
                    "Incomplete: some repositories could not be read (ERROR rows below)"
                    @if !self.unreached.is_empty() { " or were not reached: " (self.unreached.join(", ")) }
                    "."
                }
            }
            (tiles(&self.headline()))
            (fix_first(&<Self as RunReport>::fix_first(self)))
            @if !self.registry_checks.is_empty() {
                h2 { "The registry" }
                p { "What it creates or copies without any stack: creation templates, pull-through cache rules, replication." }
                (scroll("The registry's checks", html! {
                    table id="registry-checks" {
                        tr { th { "check" } th { "status" } th { "severity" } th { "finding" } }
                        @for c in &self.registry_checks {
                            tr data-check=(c.id) {
                                td.id { (c.id) }
                                td class=(status_name(c.status)) { (status_name(c.status)) }
                                td { (CheckSeverity::as_str(c.severity)) }
                                td { (c.message) }
                            }
                        }
                    }
                }))
            }
            h2 { "Checks by status" }
            (bar_chart(
                "Repositories per check by status",
                &bars,
                &[("pass", GREEN), ("info", BLUE), ("warn", AMBER), ("fail", RED), ("error", DARK)],
                Scale::Count,
            ))
            (scroll("Checks by status", html! {
                table id="checks-summary" {
                    tr { th { "check" } th { "pass" } th { "info" } th { "warn" } th { "fail" } th { "error" } }
                    @for (id, c) in &self.summary.by_check {
                        tr {
                            td.id { (id) } td.num { (c.pass) } td.num { (c.info) } td.num { (c.warn) }
                            td.num { (c.fail) } td.num { (c.error) }
                        }
                    }
                }
            }))
            h2 { "Findings, most urgent first" }
            @let groups = finding_groups(self);
            @if groups.is_empty() {
                p { "Every check passed." }
            }
            @for g in &groups {
                // Failures and errors open; warnings and information folded, to keep the page short.
                details.findings data-check=(g.id) open[urgency(g.status) == 0] {
                    summary {
                        span class=(status_name(g.status)) { (g.id) " " (status_name(g.status)) }
                        " " (CheckSeverity::as_str(g.severity)) " · " (count(g.repositories as u64, "repository", "repositories"))
                    }
                    ul {
                        @for (message, names) in &g.messages {
                            li { strong { (names.join(", ")) } ": " (message) }
                        }
                    }
                }
            }
            h2 { "Checks by repository" }
            (scroll("Checks by repository", html! {
                table id="checks" {
                    tr { th { "repository" } th { "images" } @for id in &ids { th.id { (id) } } }
                    @for r in &self.repositories {
                        tr data-repository=(r.name) {
                            td { (r.name) }
                            td.num { (r.images) }
                            @for id in &ids {
                                @match r.checks.iter().find(|c| c.id == *id) {
                                    Some(c) => td class=(status_name(c.status)) title=(first_line(c)) { (status_name(c.status)) },
                                    None => td.none { "–" },
                                }
                            }
                        }
                    }
                }
            }))
            h2 { "What the lifecycle policies will free" }
            @if freeing.is_empty() {
                p { "No image is expirable or overdue." }
            } @else {
                (scroll("What the lifecycle policies will free", html! {
                    table id="freeing" {
                        tr { th { "repository" } th { "expirable images" } th { "expirable" } th { "overdue images" } th { "overdue" } }
                        @for r in &freeing {
                            tr {
                                td { (r.name) } td.num { (r.expirable.images) } td.num { (human_bytes(r.expirable.bytes)) }
                                td.num { (r.overdue.images) } td.num { (human_bytes(r.overdue.bytes)) }
                            }
                        }
                    }
                }))
            }
            (changes(since))
            @if !self.remediation.is_empty() {
                h2 { "Remediation" }
                ul {
                    @for a in &self.remediation {
                        li { (if a.applied { "applied " } else { "would apply " }) (a.action) ": " (a.repository) " (" (a.detail) ")" }
                    }
                }
            }
        };
        page(<Self as RunReport>::TITLE, &meta, body)
    }
}
