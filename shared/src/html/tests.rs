//! The HTML reports are self-contained and escape what users name.

use crate::audit::{AuditReport, CheckResult, CheckSeverity, RepositoryAudit, Status, Totals};
use crate::cost::{CostReport, Prices, RepositoryCost};
use crate::run::RunReport;
use chrono::{TimeZone, Utc};
use serde_json::Value;

const HOSTILE: &str = "team/<script>alert(1)</script>";

fn audit_report() -> AuditReport {
    let repo = RepositoryAudit {
        name: HOSTILE.into(),
        arn: "arn:aws:ecr:us-east-1:1:repository/x".into(),
        account: None,
        region: None,
        images: 2,
        checks: vec![CheckResult {
            id: "LC-3".into(),
            status: Status::Fail,
            severity: CheckSeverity::Medium,
            message: "tag <img src=x onerror=alert(2)> is overdue".into(),
            evidence: Value::Null,
        }],
        expirable: Totals { images: 1, bytes: 10 },
        overdue: Totals::default(),
        unmanaged: Totals::default(),
    };
    let mut report = crate::testing::audit_report_of(vec![repo]);
    report.registry_checks = vec![CheckResult {
        id: "REG-2".into(),
        status: Status::Fail,
        severity: CheckSeverity::High,
        message: "images cached from <evil.example> under x/ are never expired".into(),
        evidence: Value::Null,
    }];
    report
}

fn self_contained(html: &str) {
    let lower = html.to_lowercase();
    for external in ["<script", "<link", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(!lower.contains(external), "{external} in the page");
    }
    assert!(lower.contains("<svg"), "a chart is inline SVG");
}

#[test]
fn the_audit_page_escapes_names_and_messages_and_fetches_nothing() {
    let html = audit_report().to_html(&["<b>moved</b>".to_string()]);
    self_contained(&html);
    assert!(html.contains("team/&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    assert!(html.contains("tag &lt;img src=x onerror=alert(2)&gt; is overdue"));
    assert!(html.contains("&lt;b&gt;moved&lt;/b&gt;"));
    assert!(html.contains("class=\"FAIL\""));
    assert!(html.contains("images cached from &lt;evil.example&gt; under x/"), "the registry's checks escaped");
}

/// A repository of `gib` GiB at $0.10/GB-month, without a policy.
fn cost(name: &str, gib: u64) -> RepositoryCost {
    RepositoryCost {
        name: name.into(),
        account: None,
        region: None,
        images: 1,
        tagged_images: 1,
        untagged_images: 0,
        naive_bytes: gib << 30,
        unique_bytes: gib << 30,
        monthly_cost_usd: gib as f64 * 0.1,
        has_lifecycle_policy: false,
        invalid_lifecycle_policy: false,
        projected_monthly_cost_usd: gib as f64 * 0.1,
        savings_usd: 0.0,
        with_standard_policy: None,
        archived: Default::default(),
        unknown_media_types: vec![],
        enhanced_scanning_estimate: None,
        with_archive: None,
    }
}

#[test]
fn the_cost_page_escapes_names_and_draws_the_costliest() {
    let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
    let report =
        CostReport::new(vec![cost(HOSTILE, 30), cost("small", 1)], "us-east-1", Prices::default(), 5, None, now);
    let html = report.to_html(&[]);
    self_contained(&html);
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("team/&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("$3.00"), "the costliest repository's cost");
    assert!(!html.contains("id=\"archive\""), "no archive section without a projection");

    // With an archive projection: its table, and the honest note at equal prices.
    let mut builds = cost("builds", 10);
    builds.with_archive = Some(crate::cost::ArchiveProjection {
        after_days_without_pull: 30,
        images: 9,
        unique_bytes: 9 << 30,
        monthly_savings_usd: 0.0,
        minimum_charge_usd: 2.7,
        restore_all_usd: 0.27,
    });
    let report = CostReport::new(vec![builds], "us-east-1", Prices::default(), 5, None, now);
    let html = report.to_html(&[]);
    assert!(html.contains("With archive after 30 days without a pull"), "{html}");
    assert!(html.contains("id=\"archive\""));
    assert!(html.contains("$2.70") && html.contains("$0.27"));
    assert!(html.contains("archiving saves nothing"));
}

#[test]
fn changes_name_what_moved() {
    let before = audit_report();
    let mut after = audit_report();
    after.repositories[0].checks[0].status = Status::Pass;
    after.summary = AuditReport::summarize(&after.repositories);
    let changes = after.changes(&before);
    assert!(changes.contains(&"non-compliant repositories: 1 → 0".to_string()), "{changes:?}");
    assert!(changes.contains(&"LC-3 failures: 1 → 0".to_string()), "{changes:?}");
    assert!(changes.iter().any(|c| c.ends_with("is compliant again")), "{changes:?}");
    assert!(before.changes(&before).is_empty());
}

/// The texts of an inline SVG chart, each trimmed.
fn svg_texts(html: &str) -> Vec<String> {
    let svg = &html[html.find("<svg").unwrap_or(0)..html.find("</svg>").unwrap_or(0)];
    svg.split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>'))
        .map(|(_, rest)| rest.split("</text>").next().unwrap_or_default().trim().to_string())
        .collect()
}

fn check(id: &'static str, status: Status, severity: CheckSeverity, message: &str) -> CheckResult {
    CheckResult { id: id.into(), status, severity, message: message.into(), evidence: Value::Null }
}

#[test]
fn findings_are_grouped_by_check_most_urgent_and_severe_first() {
    let mut report = audit_report();
    let template = report.repositories[0].clone();
    report.repositories = ["api", "web", "worker"]
        .iter()
        .map(|name| {
            let mut r = template.clone();
            r.name = (*name).into();
            r.checks = vec![
                check("LC-1", Status::Info, CheckSeverity::Informational, "a note"),
                check("LC-5", Status::Warn, CheckSeverity::Low, "no policy for untagged images"),
                check(
                    "POL-1",
                    if *name == "web" { Status::Fail } else { Status::Pass },
                    CheckSeverity::Critical,
                    "public",
                ),
                check("TAG-1", Status::Fail, CheckSeverity::Medium, "tags are mutable"),
            ];
            r
        })
        .collect();
    report.summary = AuditReport::summarize(&report.repositories);
    let groups = super::audit::finding_groups(&report);
    let order: Vec<(&str, Status)> = groups.iter().map(|g| (g.id, g.status)).collect();
    // THEN the critical failure leads, information comes last, whatever the check ids' order
    assert_eq!(
        order,
        [("POL-1", Status::Fail), ("TAG-1", Status::Fail), ("LC-5", Status::Warn), ("LC-1", Status::Info)]
    );
    // AND three repositories with one message share one line
    assert_eq!(groups[1].messages, vec![("tags are mutable", vec!["api", "web", "worker"])]);
    assert_eq!(groups[1].repositories, 3);
    let html = report.to_html(&[]);
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("{needle} not in the page"));
    assert!(at("data-check=\"POL-1\"") < at("data-check=\"LC-1\""));
    assert!(html.contains("<details class=\"findings\" data-check=\"TAG-1\" open>"), "failures open");
    assert!(html.contains("<details class=\"findings\" data-check=\"LC-1\">"), "information folded");
}

#[test]
fn pages_have_a_main_landmark_a_legend_and_whole_repository_ticks() {
    let html = audit_report().to_html(&[]);
    assert!(html.contains("<main>") && html.contains("</main>"));
    assert!(html.contains("<ul class=\"legend\""), "the chart's colours are named");
    assert!(html.contains("role=\"img\" aria-label=\"Repositories per check by status"), "{html}");
    // One repository: the axis counts 0 and 1, never half a repository.
    let texts = svg_texts(&html);
    assert!(!texts.iter().any(|t| t.contains('.')), "fractional ticks: {texts:?}");
    assert!(texts.iter().any(|t| t == "1") && texts.iter().any(|t| t == "0"), "ticks at 0 and 1: {texts:?}");
    assert!(!html.contains("font-size=\"2."), "labels people can read");
    // Tables scroll in a region of their own, which the keyboard reaches.
    assert!(html.contains("<div class=\"scroll\" role=\"region\" aria-label=\"Checks by status\" tabindex=\"0\">"));
}

#[test]
fn the_cost_chart_draws_the_reports_top_n() {
    let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
    let repositories = (0..20).map(|i| cost(&format!("repo-{i:02}"), i + 1)).collect();
    let report = CostReport::new(repositories, "us-east-1", Prices::default(), 10, None, now);
    let html = report.to_html(&[]);
    let texts = svg_texts(&html);
    let drawn = (0..20).filter(|i| texts.contains(&format!("repo-{i:02}"))).count();
    assert_eq!(drawn, 10, "--top 10 draws 10 bars");
    assert!(html.contains("Top 10 repositories by cost"), "the caption says so");
}

#[test]
fn every_report_opens_with_its_ranked_actions() {
    // GIVEN an audit with a public repository and a mutable one
    let mut report = audit_report();
    report.registry_checks.clear();
    let template = report.repositories[0].clone();
    report.repositories = vec![("open", "POL-1"), ("loose", "TAG-1")]
        .into_iter()
        .map(|(name, id)| {
            let mut r = template.clone();
            r.name = name.into();
            r.checks = vec![check(id, Status::Fail, CheckSeverity::Critical, "x")];
            r
        })
        .collect();
    report.summary = AuditReport::summarize(&report.repositories);
    // THEN the markdown, the page and the topic's summary each open with them, public first
    let md = report.to_markdown();
    let fix = md.find("## Fix first").unwrap_or_else(|| panic!("{md}"));
    assert!(fix < md.find("| check | pass").unwrap_or(0), "before the tables");
    assert!(md.contains("1. 1 repository is open to anyone (POL-1)"), "{md}");
    assert!(md.contains("2. 1 repository let a push replace what a tag names (TAG-1)"), "{md}");
    let html = report.to_html(&[]);
    let first =
        html.find("<ol id=\"fix-first\"><li>1 repository is open to anyone").unwrap_or_else(|| panic!("{html}"));
    assert!(first < html.find("Checks by status").unwrap_or(0));
    let published = crate::run::Published {
        keys: vec!["reports/audit/x/report.json".into()],
        changes: None,
        table_keys: Vec::new(),
    };
    let summary = crate::run::run_summary(&report, &published, "bucket");
    let text: Value = serde_json::from_str(&summary.body).unwrap_or_default();
    let text = text["default"].as_str().unwrap_or_default();
    assert!(text.contains("Fix first:\n1. 1 repository is open to anyone (POL-1)"), "{text}");
    // AND a registry with nothing failing says so
    let mut clean = audit_report();
    clean.repositories[0].checks[0].status = Status::Pass;
    clean.registry_checks[0].status = Status::Pass;
    assert!(clean.to_markdown().contains("## Fix first\n\nNothing: no check failed."));
}
