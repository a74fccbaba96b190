//! The audit report: one struct, rendered as JSON (for machines) and markdown (for people).

use crate::lifecycle::human_bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A check's id (`LC-1`, `SCAN-2`, …): static in the checks, owned when a report is read back
/// (a shard's result, the previous report).
pub type CheckId = Cow<'static, str>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Info,
    Error,
}

/// Most severe first: the derived order sorts CRITICAL before INFORMATIONAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CheckSeverity {
    Critical,
    High,
    Medium,
    Low,
    Informational,
}

impl CheckSeverity {
    /// As `report.json`, Security Hub and the HTML report spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckSeverity::Critical => "CRITICAL",
            CheckSeverity::High => "HIGH",
            CheckSeverity::Medium => "MEDIUM",
            CheckSeverity::Low => "LOW",
            CheckSeverity::Informational => "INFORMATIONAL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: CheckId,
    pub status: Status,
    pub severity: CheckSeverity,
    pub message: String,
    pub evidence: Value,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub images: u64,
    pub bytes: u64,
}

impl Totals {
    pub fn add(&mut self, bytes: u64) {
        self.images += 1;
        self.bytes += bytes;
    }

    pub fn merge(&mut self, other: Totals) {
        self.images += other.images;
        self.bytes += other.bytes;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryAudit {
    pub name: String,
    pub arn: String,
    /// In an organization report: the member account and region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub images: usize,
    pub checks: Vec<CheckResult>,
    pub expirable: Totals,
    pub overdue: Totals,
    pub unmanaged: Totals,
}

impl RepositoryAudit {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| matches!(c.status, Status::Fail | Status::Error))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckCounts {
    pub pass: u32,
    pub fail: u32,
    pub warn: u32,
    pub info: u32,
    pub error: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub repositories: usize,
    pub non_compliant: usize,
    pub by_check: BTreeMap<CheckId, CheckCounts>,
    pub expirable: Totals,
    pub overdue: Totals,
    pub unmanaged: Totals,
}

/// One change remediation made (or, in a dry run, would make).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemediationAction {
    pub repository: String,
    pub action: Cow<'static, str>,
    pub applied: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    pub generated_at: String,
    pub region: String,
    pub registry_id: String,
    /// False when a repository could not be read or was not reached before the deadline.
    pub complete: bool,
    pub repositories: Vec<RepositoryAudit>,
    pub summary: Summary,
    /// Repositories the audit did not reach before its deadline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreached: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediation: Vec<RemediationAction>,
    /// The registry's own checks (REG-*): what it creates or copies without any stack.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry_checks: Vec<CheckResult>,
}

impl AuditReport {
    pub fn summarize(repositories: &[RepositoryAudit]) -> Summary {
        let mut summary = Summary {
            repositories: repositories.len(),
            non_compliant: repositories.iter().filter(|r| r.failed()).count(),
            by_check: BTreeMap::new(),
            expirable: Totals::default(),
            overdue: Totals::default(),
            unmanaged: Totals::default(),
        };
        for r in repositories {
            summary.expirable.merge(r.expirable);
            summary.overdue.merge(r.overdue);
            summary.unmanaged.merge(r.unmanaged);
            for c in &r.checks {
                let counts = summary.by_check.entry(c.id.clone()).or_default();
                match c.status {
                    Status::Pass => counts.pass += 1,
                    Status::Fail => counts.fail += 1,
                    Status::Warn => counts.warn += 1,
                    Status::Info => counts.info += 1,
                    Status::Error => counts.error += 1,
                }
            }
        }
        summary
    }

    /// A repository or the registry itself (REG-*) fails a check.
    pub fn any_failed(&self) -> bool {
        self.repositories.iter().any(RepositoryAudit::failed)
            || self.registry_checks.iter().any(|c| c.status == Status::Fail)
    }

    /// A repository could not be read. The registry's rules not read (REG) is not counted: an
    /// older role without their permissions still gets its repositories judged.
    pub fn any_error(&self) -> bool {
        self.repositories.iter().any(|r| r.checks.iter().any(|c| c.status == Status::Error))
    }

    /// The same report for people.
    pub fn to_markdown(&self) -> String {
        use crate::lifecycle::count;
        let mut md = format!(
            "# ECR lifecycle audit\n\nRegistry {} in {}, {}. {}, {} non-compliant{}.\n\n",
            self.registry_id,
            self.region,
            self.generated_at,
            count(self.summary.repositories as u64, "repository", "repositories"),
            self.summary.non_compliant,
            if self.complete { "" } else { " — **incomplete**" }
        );
        md.push_str(&format!(
            "Expirable now: {} ({}). Overdue: {} ({}). Never expired (unmanaged): {} ({}).\n\n",
            count(self.summary.expirable.images, "image", "images"),
            human_bytes(self.summary.expirable.bytes),
            count(self.summary.overdue.images, "image", "images"),
            human_bytes(self.summary.overdue.bytes),
            count(self.summary.unmanaged.images, "image", "images"),
            human_bytes(self.summary.unmanaged.bytes)
        ));
        let actions: Vec<crate::run::Ranked> = super::fix_first(self).iter().map(super::FixAction::ranked).collect();
        md.push_str(&crate::run::fix_first_markdown(&actions));
        md.push_str("| check | pass | fail | warn | info | error |\n|---|---|---|---|---|---|\n");
        for (id, c) in &self.summary.by_check {
            md.push_str(&format!("| {id} | {} | {} | {} | {} | {} |\n", c.pass, c.fail, c.warn, c.info, c.error));
        }
        if !self.registry_checks.is_empty() {
            md.push_str("\n## The registry\n\nWhat it creates or copies without any stack (REG-*).\n\n");
            md.push_str(&checks_table(&self.registry_checks));
        }
        for r in &self.repositories {
            md.push_str(&format!(
                "\n## {} ({}){}\n\n",
                crate::markdown::text(&r.name),
                count(r.images as u64, "image", "images"),
                if r.failed() { " — non-compliant" } else { "" }
            ));
            md.push_str(&checks_table(&r.checks));
        }
        if !self.unreached.is_empty() {
            let names: Vec<String> = self.unreached.iter().map(|n| crate::markdown::text(n)).collect();
            md.push_str(&format!("\nNot reached before the deadline: {}.\n", names.join(", ")));
        }
        if !self.remediation.is_empty() {
            md.push_str("\n## Remediation\n\n");
            for a in &self.remediation {
                md.push_str(&format!(
                    "- {} {}: {} ({})\n",
                    if a.applied { "applied" } else { "would apply" },
                    a.action,
                    a.repository,
                    a.detail
                ));
            }
        }
        md
    }
}

/// One markdown table of checks. A table cell holds one line: a message's first line goes in
/// the cell, the rest (LC-2's violation list, for one) below the table.
fn checks_table(checks: &[CheckResult]) -> String {
    let mut md = String::new();
    md.push_str("| check | status | severity | finding |\n|---|---|---|---|\n");
    let mut details = String::new();
    for c in checks {
        let mut lines = c.message.lines().map(str::trim).filter(|l| !l.is_empty());
        let first = lines.next().unwrap_or_default();
        let rest: Vec<&str> = lines.collect();
        if !rest.is_empty() {
            details.push_str(&format!("\n{}:\n", c.id));
            for line in &rest {
                details.push_str(&format!("- {}\n", crate::markdown::text(line.trim_start_matches("- "))));
            }
        }
        let first = crate::markdown::text(first);
        let cell = if rest.is_empty() { first } else { format!("{first} (details below)") };
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c.id,
            serde_json::to_value(c.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            serde_json::to_value(c.severity).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            cell
        ));
    }
    md.push_str(&details);
    md
}

#[cfg(test)]
mod markdown_tests {
    use super::*;

    /// Every table row, as the number of cells a CommonMark (GFM tables) parser reads.
    pub(crate) fn table_rows(md: &str) -> Vec<usize> {
        use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
        let (mut rows, mut cells) = (Vec::new(), 0);
        for event in Parser::new_ext(md, Options::ENABLE_TABLES) {
            match event {
                Event::Start(Tag::TableHead | Tag::TableRow) => cells = 0,
                Event::Start(Tag::TableCell) => cells += 1,
                Event::End(TagEnd::TableHead | TagEnd::TableRow) => rows.push(cells),
                _ => {}
            }
        }
        rows
    }

    #[test]
    fn a_multi_line_finding_keeps_the_table_whole_and_its_list_below() {
        let check = |id: &'static str, message: &str| CheckResult {
            id: id.into(),
            status: Status::Fail,
            severity: CheckSeverity::High,
            message: message.into(),
            evidence: Value::Null,
        };
        let repo = RepositoryAudit {
            name: "app".into(),
            arn: "arn:aws:ecr:us-east-1:1:repository/app".into(),
            account: None,
            region: None,
            images: 1,
            checks: vec![
                check("LC-2", "the lifecycle policy is not valid (2 problems):\n  - rule 1: a\n  - rule 2: b"),
                check("POL-1", "a | pipe"),
            ],
            expirable: Totals::default(),
            overdue: Totals::default(),
            unmanaged: Totals::default(),
        };
        let repositories = vec![repo];
        let report = AuditReport {
            generated_at: "2026-12-01T10:00:00Z".into(),
            region: "us-east-1".into(),
            registry_id: "1".into(),
            complete: true,
            summary: AuditReport::summarize(&repositories),
            repositories,
            unreached: vec![],
            remediation: vec![],
            registry_checks: vec![],
        };
        let md = report.to_markdown();
        let rows = table_rows(&md);
        // summary table: 6 columns (header + 2 checks); repository table: 4 columns (header + 2).
        assert_eq!(rows, [6, 6, 6, 4, 4, 4], "{md}");
        assert!(md.contains("\nLC-2:\n- rule 1: a\n- rule 2: b\n"), "{md}");
        assert!(md.contains("1 repository, 1 non-compliant") && md.contains("## app (1 image)"), "{md}");
    }
}
