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
    let repositories = vec![repo];
    AuditReport {
        generated_at: "2026-11-01T00:00:00Z".into(),
        region: "us-east-1".into(),
        registry_id: "1".into(),
        complete: true,
        summary: AuditReport::summarize(&repositories),
        repositories,
        unreached: vec![],
        remediation: vec![],
    }
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
}

#[test]
fn the_cost_page_escapes_names_and_draws_the_costliest() {
    let cost = |name: &str, gib: u64| RepositoryCost {
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
    };
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
