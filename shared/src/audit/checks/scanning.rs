//! SCAN-1 and SCAN-2: something scans pushed images, and the newest image is clean enough.

use super::{result, tags_or_digest, Facts};
use crate::audit::model::{CheckResult, CheckSeverity, Status};
use crate::findings::FindingsPolicy;
use crate::scanning::scanned_automatically;
use serde_json::{json, Value};

pub(super) fn something_scans(f: &Facts) -> CheckResult {
    let repo = f.repository;
    if repo.settings.scan_on_push {
        result("SCAN-1", Status::Pass, CheckSeverity::High, "scan on push is on", Value::Null)
    } else if scanned_automatically(&repo.name, false, f.registry_scanning) {
        let kind = if f.registry_scanning.enhanced { "enhanced" } else { "basic" };
        result(
            "SCAN-1",
            Status::Pass,
            CheckSeverity::High,
            format!("a registry {kind} scanning rule covers this repository"),
            Value::Null,
        )
    } else {
        result(
            "SCAN-1",
            Status::Fail,
            CheckSeverity::High,
            "nothing scans images pushed here: no scan on push, no registry rule covers it",
            Value::Null,
        )
    }
}

pub(super) fn newest_image_scan(f: &Facts, findings: &FindingsPolicy) -> CheckResult {
    let Some(newest) = crate::image::newest(f.images) else {
        return result("SCAN-2", Status::Pass, CheckSeverity::High, "no images", Value::Null);
    };
    let who = tags_or_digest(newest);
    match &newest.scan {
        None => result(
            "SCAN-2",
            Status::Fail,
            CheckSeverity::High,
            format!("the newest image, {who}, was never scanned"),
            json!({"imageDigest": newest.digest}),
        ),
        Some(scan) if !scan.completed() => result(
            "SCAN-2",
            Status::Fail,
            CheckSeverity::High,
            format!("the newest image's scan is {}", scan.status),
            json!({"imageDigest": newest.digest, "status": scan.status}),
        ),
        Some(scan) => {
            let open =
                scan.counts.at_or_above(findings.threshold).saturating_sub(f.newest_image_suppressed_at_or_above);
            let counts: serde_json::Map<String, Value> =
                scan.counts.iter().map(|(s, n)| (s.as_str().to_string(), json!(n))).collect();
            if open == 0 {
                result(
                    "SCAN-2",
                    Status::Pass,
                    CheckSeverity::High,
                    format!("the newest image, {who}, has no unsuppressed finding at or above {}", findings.threshold),
                    json!(counts),
                )
            } else {
                result(
                    "SCAN-2",
                    Status::Fail,
                    CheckSeverity::High,
                    format!(
                        "the newest image, {who}, has {open} unsuppressed finding(s) at or above {}",
                        findings.threshold
                    ),
                    json!({"imageDigest": newest.digest, "counts": counts}),
                )
            }
        }
    }
}
