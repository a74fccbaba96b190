//! The audit's findings as OCSF Compliance Findings (class 2003, OCSF 1.1.0, the version Amazon
//! Security Lake reads), one JSON object a line: `report.ocsf.json` beside `report.json`.
//!
//! No maintained crate models OCSF (the `ocsf` crate is an early alpha), so the few objects
//! are written here with `serde_json`. The attributes each class and object requires come from
//! the schema's sources (github.com/ocsf/ocsf-schema: `events/base_event.json`,
//! `events/findings/finding.json`, `events/findings/compliance_finding.json`, `objects/`
//! `metadata`, `product`, `finding_info`, `compliance`); `REQUIRED` lists them and the tests
//! check every line against it.

use super::model::{AuditReport, CheckResult, CheckSeverity, Status};
use serde_json::{json, Value};

pub const OCSF_VERSION: &str = "1.1.0";
const CATEGORY_FINDINGS: u32 = 2;
const CLASS_COMPLIANCE_FINDING: u32 = 2003;
/// Activity 1, Create: each run reports what it found then.
const ACTIVITY_CREATE: u32 = 1;

/// Every attribute a Compliance Finding and its objects must carry, as dotted paths.
pub const REQUIRED: &[&str] = &[
    "activity_id",
    "category_uid",
    "class_uid",
    "type_uid",
    "severity_id",
    "time",
    "metadata.version",
    "metadata.product.name",
    "metadata.product.vendor_name",
    "finding_info.uid",
    "finding_info.title",
    "compliance.standards",
];

/// One line per finding — FAIL, WARN or ERROR, of a repository or of the registry — in report
/// order. A PASS is no finding.
pub fn compliance_findings(report: &AuditReport) -> Vec<Value> {
    let time = chrono::DateTime::parse_from_rfc3339(&report.generated_at).map_or(0, |t| t.timestamp_millis());
    let registry_arn = format!("arn:aws:ecr:{}:{}:registry", report.region, report.registry_id);
    let registry = report
        .registry_checks
        .iter()
        .map(move |c| (registry_arn.clone(), "registry".to_string(), "AWS::ECR::Registry", c));
    let repositories = report
        .repositories
        .iter()
        .flat_map(|r| r.checks.iter().map(move |c| (r.arn.clone(), r.name.clone(), "AWS::ECR::Repository", c)));
    registry
        .chain(repositories)
        .filter(|(_, _, _, c)| c.status != Status::Pass && c.status != Status::Info)
        .map(|(uid, name, kind, c)| finding(report, time, &uid, &name, kind, c))
        .collect()
}

/// The findings as JSON Lines (the file's body).
pub fn json_lines(report: &AuditReport) -> String {
    compliance_findings(report).iter().map(|f| format!("{f}\n")).collect()
}

fn finding(report: &AuditReport, time: i64, uid: &str, name: &str, kind: &str, c: &CheckResult) -> Value {
    let (severity_id, severity) = severity(c.severity);
    let (compliance_id, compliance) = match c.status {
        Status::Fail => (3, "Fail"),
        // OCSF's Warning: "did not yield a result due to missing information" — an ERROR; a
        // WARN is ours, not OCSF's, and maps to it too.
        _ => (2, "Warning"),
    };
    json!({
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_FINDINGS,
        "category_name": "Findings",
        "class_uid": CLASS_COMPLIANCE_FINDING,
        "class_name": "Compliance Finding",
        "type_uid": CLASS_COMPLIANCE_FINDING * 100 + ACTIVITY_CREATE,
        "type_name": "Compliance Finding: Create",
        "severity_id": severity_id,
        "severity": severity,
        "time": time,
        "message": c.message,
        "status_id": 1,
        "status": "New",
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "ecr-keeper", "vendor_name": "ecr-keeper", "version": env!("CARGO_PKG_VERSION")},
        },
        // Stable across runs: the same check of the same resource is the same finding.
        "finding_info": {
            "uid": format!("ecr-keeper/{}/{}/{}", c.id, report.registry_id, uid),
            "title": format!("{} {}: {}", c.id, name, first_line(&c.message)),
            "desc": c.message,
            "types": [format!("ecr-keeper/{}", c.id)],
        },
        "compliance": {
            "standards": ["ecr-keeper"],
            "control": c.id,
            "status_id": compliance_id,
            "status": compliance,
            "status_detail": format!("{:?}", c.status).to_uppercase(),
        },
        "resources": [{"uid": uid, "name": name, "type": kind, "region": report.region}],
        "cloud": {"provider": "AWS", "region": report.region, "account": {"uid": report.registry_id}},
        "unmapped": {"evidence": c.evidence},
    })
}

/// OCSF's severity ids: 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical.
fn severity(s: CheckSeverity) -> (u32, &'static str) {
    match s {
        CheckSeverity::Informational => (1, "Informational"),
        CheckSeverity::Low => (2, "Low"),
        CheckSeverity::Medium => (3, "Medium"),
        CheckSeverity::High => (4, "High"),
        CheckSeverity::Critical => (5, "Critical"),
    }
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{RepositoryAudit, Totals};

    fn check(id: &'static str, status: Status, severity: CheckSeverity) -> CheckResult {
        CheckResult {
            id: id.into(),
            status,
            severity,
            message: format!("{id} says so\nand more"),
            evidence: json!(null),
        }
    }

    fn report() -> AuditReport {
        let repo = RepositoryAudit {
            name: "team/app".into(),
            arn: "arn:aws:ecr:us-east-1:123456789012:repository/team/app".into(),
            account: None,
            region: None,
            images: 1,
            checks: vec![
                check("LC-1", Status::Fail, CheckSeverity::High),
                check("LC-6", Status::Warn, CheckSeverity::Medium),
                check("ENC-1", Status::Info, CheckSeverity::Informational),
                check("POL-1", Status::Pass, CheckSeverity::Critical),
            ],
            expirable: Totals::default(),
            overdue: Totals::default(),
            unmanaged: Totals::default(),
        };
        let mut report = crate::testing::audit_report_of(vec![repo]);
        report.registry_id = "123456789012".into();
        report.registry_checks = vec![check("REG-2", Status::Fail, CheckSeverity::High)];
        report
    }

    fn at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
        path.split('.').try_fold(v, |v, key| v.get(key)).filter(|v| !v.is_null())
    }

    #[test]
    fn every_finding_carries_every_required_attribute_and_passes_are_none() {
        let lines = json_lines(&report());
        let findings: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap_or_default()).collect();
        assert_eq!(findings.len(), 3, "REG-2, LC-1 and LC-6; not INFO, not PASS:\n{lines}");
        for f in &findings {
            for path in REQUIRED {
                assert!(at(f, path).is_some(), "{path} missing in {f}");
            }
            assert_eq!(f["type_uid"], 200_301);
            assert_eq!(f["time"], 1_793_491_200_000_i64, "2026-11-01T00:00:00Z in milliseconds");
        }
        let ids: Vec<&str> = findings.iter().filter_map(|f| f["compliance"]["control"].as_str()).collect();
        assert_eq!(ids, ["REG-2", "LC-1", "LC-6"]);
        assert_eq!(
            (findings[1]["severity_id"].as_u64(), findings[1]["compliance"]["status_id"].as_u64()),
            (Some(4), Some(3))
        );
        assert_eq!(findings[2]["compliance"]["status_id"], 2, "a WARN is OCSF's Warning");
        assert_eq!(findings[0]["resources"][0]["type"], "AWS::ECR::Registry");
        assert_eq!(findings[1]["finding_info"]["title"], "LC-1 team/app: LC-1 says so");
    }

    #[test]
    fn a_finding_keeps_its_uid_from_run_to_run() {
        let first = compliance_findings(&report());
        let mut later = report();
        later.generated_at = "2026-11-02T00:00:00Z".into();
        later.repositories[0].checks[0].message = "LC-1 says it again".into();
        let second = compliance_findings(&later);
        let uids = |f: &[Value]| f.iter().map(|f| f["finding_info"]["uid"].clone()).collect::<Vec<_>>();
        assert_eq!(uids(&first), uids(&second));
        assert_eq!(
            first[1]["finding_info"]["uid"],
            "ecr-keeper/LC-1/123456789012/arn:aws:ecr:us-east-1:123456789012:repository/team/app"
        );
    }
}
