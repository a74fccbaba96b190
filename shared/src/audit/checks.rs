//! The audit's checks: pure functions from what was collected to a verdict with evidence.

use super::model::{CheckResult, CheckSeverity, Status, Totals};
use crate::findings::FindingsPolicy;
use crate::image::Image;
use crate::lifecycle::{
    human_bytes, parse_policy, short_digest, simulate, CountType, Fate, LifecyclePolicy, StorageClass, TagStatus,
};
use crate::repository::{Encryption, Repository, TagMutability};
use crate::scanning::{scanned_automatically, RegistryScanning};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// ECR acts within 24 hours of an image becoming eligible; later than that is overdue.
pub const OVERDUE_AFTER: Duration = Duration::hours(24);
pub const IMAGES_PER_REPOSITORY: usize = 100_000;

/// The team's standard lifecycle settings, when configured (for LC-6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standard {
    pub keep_tagged: u32,
    pub untagged_days: u32,
    pub tag_prefixes: Vec<String>,
}

impl Standard {
    /// The lifecycle parameters the standard stands for: the one conversion, used by the
    /// audit's remediation, the cost projection and the CLI.
    pub fn params(&self) -> crate::lifecycle::PolicyParams {
        crate::lifecycle::PolicyParams {
            keep_tagged: self.keep_tagged,
            tag_prefixes: self.tag_prefixes.clone(),
            untagged_days: self.untagged_days,
            ..crate::lifecycle::PolicyParams::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSettings {
    pub standard: Option<Standard>,
    pub findings: FindingsPolicy,
    /// ENC-1 fails (instead of informing) without a customer-managed KMS key.
    pub require_kms: bool,
}

/// What the checks read about one repository.
pub struct Facts<'a> {
    pub repository: &'a Repository,
    pub lifecycle_policy: Option<&'a str>,
    pub repository_policy: Option<&'a str>,
    pub images: &'a [Image],
    pub registry_scanning: &'a RegistryScanning,
    /// Finding ids suppressed for the newest image, when they had to be read (SCAN-2).
    pub newest_image_suppressed_at_or_above: u64,
}

/// The lifecycle outcome the report carries beside the checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleTotals {
    pub expirable: Totals,
    pub overdue: Totals,
    pub unmanaged: Totals,
}

fn result(
    id: &'static str,
    status: Status,
    severity: CheckSeverity,
    message: impl Into<String>,
    evidence: Value,
) -> CheckResult {
    CheckResult { id, status, severity, message: message.into(), evidence }
}

fn tags_or_digest(image: &Image) -> String {
    if image.tags.is_empty() {
        short_digest(&image.digest)
    } else {
        image.tags.join("+")
    }
}

/// Runs every check; returns the results and the lifecycle totals.
pub fn run_checks(f: &Facts, settings: &AuditSettings, now: DateTime<Utc>) -> (Vec<CheckResult>, LifecycleTotals) {
    let mut out = Vec::new();
    let mut totals = LifecycleTotals::default();
    let parsed = f.lifecycle_policy.map(parse_policy);

    // LC-1 and LC-2: a policy exists and ECR's rules accept it.
    match &parsed {
        None => {
            out.push(result(
                "LC-1",
                Status::Fail,
                CheckSeverity::High,
                "no lifecycle policy: images are never expired",
                Value::Null,
            ));
            out.push(result(
                "LC-2",
                Status::Info,
                CheckSeverity::Informational,
                "no lifecycle policy to validate",
                Value::Null,
            ));
        }
        Some(Ok(p)) => {
            out.push(result(
                "LC-1",
                Status::Pass,
                CheckSeverity::High,
                format!("lifecycle policy with {} rule(s)", p.rules.len()),
                Value::Null,
            ));
            out.push(result("LC-2", Status::Pass, CheckSeverity::Medium, "the policy passes ECR's rules", Value::Null));
        }
        Some(Err(e)) => {
            out.push(result("LC-1", Status::Pass, CheckSeverity::High, "a lifecycle policy exists", Value::Null));
            let problems: Vec<String> = e.violations().iter().map(ToString::to_string).collect();
            out.push(result(
                "LC-2",
                Status::Fail,
                CheckSeverity::Medium,
                format!("the policy is not valid: {e}"),
                json!(problems),
            ));
        }
    }
    let policy: Option<&LifecyclePolicy> = parsed.as_ref().and_then(|p| p.as_ref().ok());

    // LC-3: untagged images are covered by some rule.
    let covers_untagged = policy.is_some_and(|p| {
        p.rules.iter().any(|r| {
            r.selection.storage_class() == StorageClass::Standard
                && matches!(r.selection.tag_status, TagStatus::Untagged | TagStatus::Any)
        })
    });
    out.push(if covers_untagged {
        result("LC-3", Status::Pass, CheckSeverity::Medium, "untagged images are covered by a rule", Value::Null)
    } else {
        let untagged = f.images.iter().filter(|i| !i.is_tagged()).count();
        result(
            "LC-3",
            Status::Fail,
            CheckSeverity::Medium,
            format!("no rule covers untagged images ({untagged} now)"),
            json!({"untaggedImages": untagged}),
        )
    });

    // LC-4 and LC-5: what the policy will never touch, and what it is late to remove.
    if let Some(p) = policy {
        let plan = simulate(p, f.images, now);
        let mut unmanaged_examples = Vec::new();
        let mut oldest_overdue: Option<(DateTime<Utc>, &Image)> = None;
        for (image, d) in f.images.iter().zip(&plan.decisions) {
            match d.fate {
                Fate::Expire => {
                    totals.expirable.add(image.size_bytes);
                    if let Some(since) = d.eligible_since.filter(|t| *t + OVERDUE_AFTER < now) {
                        totals.overdue.add(image.size_bytes);
                        if oldest_overdue.is_none_or(|(t, _)| since < t) {
                            oldest_overdue = Some((since, image));
                        }
                    }
                }
                // Unmanaged, defined once: no rule of the policy can ever expire it (tagged or not;
                // LC-3 says why untagged ones are). Without a valid policy, every image is.
                Fate::Unmanaged => {
                    totals.unmanaged.add(image.size_bytes);
                    if unmanaged_examples.len() < 5 {
                        unmanaged_examples.push(tags_or_digest(image));
                    }
                }
                _ => {}
            }
        }
        out.push(if totals.unmanaged.images == 0 {
            result("LC-4", Status::Pass, CheckSeverity::Low, "every image is matched by a rule", Value::Null)
        } else {
            result(
                "LC-4",
                Status::Warn,
                CheckSeverity::Low,
                format!(
                    "{} ({}) match no rule and will never be expired, e.g. {}",
                    crate::lifecycle::count(totals.unmanaged.images, "image", "images"),
                    human_bytes(totals.unmanaged.bytes),
                    unmanaged_examples.join(", ")
                ),
                json!({"images": totals.unmanaged.images, "bytes": totals.unmanaged.bytes, "examples": unmanaged_examples}),
            )
        });
        out.push(match oldest_overdue {
            None => result("LC-5", Status::Pass, CheckSeverity::High, "no expiration is overdue", Value::Null),
            Some((since, image)) => result(
                "LC-5",
                Status::Fail,
                CheckSeverity::High,
                format!(
                    "{} ({}) were eligible for expiry more than 24 h ago and still exist; the oldest, {}, since {}: check that the policy is applied",
                    crate::lifecycle::count(totals.overdue.images, "image", "images"),
                    human_bytes(totals.overdue.bytes),
                    tags_or_digest(image),
                    crate::lifecycle::to_second(since)
                ),
                json!({"images": totals.overdue.images, "bytes": totals.overdue.bytes, "oldest": {"imageDigest": image.digest, "imageTags": image.tags, "eligibleSince": since.to_rfc3339()}}),
            ),
        });
    } else {
        for image in f.images {
            totals.unmanaged.add(image.size_bytes);
        }
        out.push(result(
            "LC-4",
            Status::Info,
            CheckSeverity::Low,
            format!(
                "no valid lifecycle policy: all {} ({}) are unmanaged",
                crate::lifecycle::count(totals.unmanaged.images, "image", "images"),
                human_bytes(totals.unmanaged.bytes)
            ),
            json!({"images": totals.unmanaged.images, "bytes": totals.unmanaged.bytes}),
        ));
        out.push(result(
            "LC-5",
            Status::Info,
            CheckSeverity::High,
            "no valid lifecycle policy: nothing is scheduled to expire",
            Value::Null,
        ));
    }

    // LC-6: drift from the standard, when one is configured.
    if let Some(standard) = &settings.standard {
        out.push(drift(policy, standard));
    }

    // SCAN-1: something scans pushed images.
    let repo = f.repository;
    out.push(if repo.settings.scan_on_push {
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
    });

    // SCAN-2: the newest image was scanned and is clean enough.
    out.push(newest_image_scan(f, &settings.findings));

    // TAG-1: tag immutability.
    let exclusions = &repo.settings.exclusion_filters;
    out.push(match repo.settings.tag_mutability {
        TagMutability::Immutable => {
            result("TAG-1", Status::Pass, CheckSeverity::Medium, "tags are immutable", Value::Null)
        }
        TagMutability::ImmutableWithExclusion => result(
            "TAG-1",
            Status::Warn,
            CheckSeverity::Medium,
            format!("tags are immutable except those matching {}", exclusions.join(", ")),
            json!({"exclusions": exclusions}),
        ),
        TagMutability::Mutable => result(
            "TAG-1",
            Status::Fail,
            CheckSeverity::Medium,
            "tags are mutable: a push can silently replace what a tag names",
            Value::Null,
        ),
        TagMutability::MutableWithExclusion => result(
            "TAG-1",
            Status::Fail,
            CheckSeverity::Medium,
            format!("tags are mutable (only {} are immutable)", exclusions.join(", ")),
            json!({"exclusions": exclusions}),
        ),
    });

    // ENC-1: customer-managed KMS key.
    out.push(match &repo.settings.encryption {
        Encryption::Kms { key } => {
            result("ENC-1", Status::Pass, CheckSeverity::Low, "encrypted with KMS", json!({"kmsKey": key}))
        }
        Encryption::Aes256 if settings.require_kms => result(
            "ENC-1",
            Status::Fail,
            CheckSeverity::Low,
            "encrypted with AES256; a customer-managed KMS key is required",
            Value::Null,
        ),
        Encryption::Aes256 => {
            result("ENC-1", Status::Info, CheckSeverity::Low, "encrypted with AES256 (ECR-managed keys)", Value::Null)
        }
    });

    // POL-1: no public repository policy.
    out.push(public_policy(f.repository_policy));

    // QUOTA-1: image count against the per-repository quota.
    let count = f.images.len();
    out.push(if count * 5 >= IMAGES_PER_REPOSITORY * 4 {
        result(
            "QUOTA-1",
            Status::Warn,
            CheckSeverity::Medium,
            format!("{count} images: at or above 80 % of ECR's {IMAGES_PER_REPOSITORY} per repository"),
            json!({"images": count}),
        )
    } else {
        result("QUOTA-1", Status::Pass, CheckSeverity::Medium, format!("{count} images"), Value::Null)
    });
    (out, totals)
}

fn drift(policy: Option<&LifecyclePolicy>, standard: &Standard) -> CheckResult {
    let Some(policy) = policy else {
        return result(
            "LC-6",
            Status::Fail,
            CheckSeverity::Medium,
            "no valid lifecycle policy to compare with the standard",
            Value::Null,
        );
    };
    let mut differences = Vec::new();
    for prefix in &standard.tag_prefixes {
        let rule = policy.rules_by_priority().into_iter().find(|r| {
            r.selection.tag_status == TagStatus::Tagged
                && (r.selection.tag_prefix_list.as_ref().is_some_and(|l| l.len() == 1 && &l[0] == prefix)
                    || r.selection
                        .tag_pattern_list
                        .as_ref()
                        .is_some_and(|l| l.len() == 1 && l[0] == format!("{prefix}*")))
        });
        match rule.map(|r| (r.selection.count_type, r.selection.count_number)) {
            None => differences.push(format!("no rule keeps the last {} {prefix}* images", standard.keep_tagged)),
            Some((CountType::ImageCountMoreThan, n)) if n == standard.keep_tagged => {}
            Some((CountType::ImageCountMoreThan, n)) => {
                differences.push(format!("keeps {n} {prefix}* images (standard: {})", standard.keep_tagged))
            }
            Some((count_type, n)) => differences.push(format!(
                "{prefix}* images use {count_type} {n} (standard: keep the last {})",
                standard.keep_tagged
            )),
        }
    }
    let untagged = policy.rules.iter().find(|r| {
        r.selection.tag_status == TagStatus::Untagged && r.selection.storage_class() == StorageClass::Standard
    });
    match untagged.map(|r| (r.selection.count_type, r.selection.count_number)) {
        Some((CountType::SinceImagePushed, d)) if d == standard.untagged_days => {}
        Some((CountType::SinceImagePushed, d)) => {
            differences.push(format!("expires untagged images after {d} days (standard: {})", standard.untagged_days))
        }
        Some((count_type, n)) => differences.push(format!(
            "untagged images use {count_type} {n} (standard: {} days after push)",
            standard.untagged_days
        )),
        None => differences
            .push(format!("no rule expires untagged images (standard: after {} days)", standard.untagged_days)),
    }
    if differences.is_empty() {
        result("LC-6", Status::Pass, CheckSeverity::Medium, "matches the standard", Value::Null)
    } else {
        result(
            "LC-6",
            Status::Warn,
            CheckSeverity::Medium,
            format!("drifts from the standard: {}", differences.join("; ")),
            json!(differences),
        )
    }
}

fn newest_image_scan(f: &Facts, findings: &FindingsPolicy) -> CheckResult {
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

/// Condition keys that restrict a `"*"` principal to an organisation, account or principal.
const RESTRICTING_KEYS: &[&str] = &[
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourcearn",
    "aws:sourceowner",
];

/// Operators under which a restricting key really narrows who may call: positive matches
/// only. `…IfExists` passes when the key is absent, the negations admit everyone else.
const RESTRICTING_OPERATORS: &[&str] = &[
    "stringequals",
    "stringequalsignorecase",
    "stringlike",
    "arnequals",
    "arnlike",
    "forallvalues:stringequals",
    "foranyvalue:stringequals",
    "forallvalues:stringlike",
    "foranyvalue:stringlike",
];

/// Keys that narrow the network or transport, never the caller's identity.
const NETWORK_KEYS: &[&str] =
    &["aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:securetransport", "aws:vpcsourceip"];

fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Who a statement's principal admits, in words, when that is everyone; `None` when it names
/// principals.
fn everyone_admitted(statement: &Value) -> Option<String> {
    if let Some(not) = statement.get("NotPrincipal") {
        let excluded: Vec<&str> = match not {
            Value::Object(o) => o.values().flat_map(strings).collect(),
            other => strings(other),
        };
        return Some(format!("NotPrincipal with Allow admits everyone except {}", excluded.join(", ")));
    }
    let principal = statement.get("Principal")?;
    let star = match principal {
        Value::String(s) => s == "*",
        Value::Object(o) => o.get("AWS").is_some_and(|a| strings(a).contains(&"*")),
        _ => false,
    };
    star.then(|| match principal {
        Value::String(_) => "Principal \"*\"".to_string(),
        _ => "Principal {\"AWS\": \"*\"} (a list holding \"*\" admits everyone, whatever else it names)".to_string(),
    })
}

/// Why the statement's conditions do or do not restrict the caller: `Ok(key)` when a condition
/// limits it to an account, organisation or principal, else `Err(what the conditions do)`.
fn caller_restriction(statement: &Value) -> Result<String, String> {
    let Some(ops) = statement.get("Condition").and_then(Value::as_object) else {
        return Err("no condition".into());
    };
    let mut notes = Vec::new();
    for (operator, keys) in ops {
        let Some(keys) = keys.as_object() else { continue };
        let op = operator.to_ascii_lowercase();
        for (key, values) in keys {
            let k = key.to_ascii_lowercase();
            let any_value = strings(values).iter().any(|v| v.trim_matches('*').is_empty());
            if RESTRICTING_KEYS.contains(&k.as_str()) {
                if RESTRICTING_OPERATORS.contains(&op.as_str()) && !any_value {
                    return Ok(key.clone());
                }
                notes.push(if any_value {
                    format!("{operator} {key} \"*\" matches every caller")
                } else if op.ends_with("ifexists") {
                    format!("{operator} {key} passes when the key is absent")
                } else {
                    format!("{operator} {key} admits every account it does not name")
                });
            } else if NETWORK_KEYS.contains(&k.as_str()) {
                notes.push(format!("{key} limits the network, not who the caller is"));
            } else {
                notes.push(format!("{key} does not restrict the caller's account"));
            }
        }
    }
    Err(if notes.is_empty() { "no condition".into() } else { notes.join("; ") })
}

/// The statements of a repository policy that open it to everyone, each with why.
pub fn public_statements(doc: &Value) -> Vec<Value> {
    let statements = match &doc["Statement"] {
        Value::Array(list) => list.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    statements
        .iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .filter_map(|s| {
            let who = everyone_admitted(s)?;
            let conditions = caller_restriction(s).err()?;
            let actions = match s.get("NotAction") {
                Some(not) => format!("every action except {}", strings(not).join(", ")),
                None => strings(s.get("Action").unwrap_or(&Value::Null)).join(", "),
            };
            Some(json!({
                "sid": s.get("Sid").and_then(Value::as_str).unwrap_or("(no Sid)"),
                "principal": who,
                "actions": actions,
                "conditions": conditions,
            }))
        })
        .collect()
}

fn public_policy(text: Option<&str>) -> CheckResult {
    let Some(text) = text else {
        return result("POL-1", Status::Pass, CheckSeverity::Critical, "no repository policy", Value::Null);
    };
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        return result(
            "POL-1",
            Status::Warn,
            CheckSeverity::Critical,
            "the repository policy is not valid JSON",
            Value::Null,
        );
    };
    let public = public_statements(&doc);
    let open: Vec<String> = public.iter().map(|s| s["sid"].as_str().unwrap_or_default().to_string()).collect();
    if open.is_empty() {
        result(
            "POL-1",
            Status::Pass,
            CheckSeverity::Critical,
            "the repository policy grants nothing to everyone",
            Value::Null,
        )
    } else {
        result(
            "POL-1",
            Status::Fail,
            CheckSeverity::Critical,
            format!("the repository policy allows every AWS principal without an organisation or account condition (statement {})", open.join(", ")),
            json!({"statements": public}),
        )
    }
}

#[cfg(test)]
mod pol_1_tests {
    use super::*;

    fn policy(statement: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [statement]})
    }

    fn pull(extra: Value) -> Value {
        let mut s = json!({"Sid": "S", "Effect": "Allow", "Action": ["ecr:BatchGetImage"]});
        if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
            s.extend(extra.clone());
        }
        s
    }

    #[test]
    fn every_shape_of_a_public_policy_is_told_from_its_restricted_twin() {
        let account = json!({"StringEquals": {"aws:PrincipalAccount": "111111111111"}});
        // (shape, public statement, its restricted twin)
        let cases = [
            (
                "Principal *",
                pull(json!({"Principal": "*"})),
                pull(json!({"Principal": {"AWS": "arn:aws:iam::111111111111:root"}})),
            ),
            (
                "AWS *",
                pull(json!({"Principal": {"AWS": "*"}})),
                pull(json!({"Principal": {"AWS": "*"}, "Condition": account})),
            ),
            (
                "a list holding *",
                pull(json!({"Principal": {"AWS": ["arn:aws:iam::111111111111:root", "*"]}})),
                pull(json!({"Principal": {"AWS": ["arn:aws:iam::111111111111:root"]}})),
            ),
            (
                "NotPrincipal",
                pull(json!({"NotPrincipal": {"AWS": "arn:aws:iam::222222222222:root"}})),
                pull(json!({"Principal": {"AWS": "arn:aws:iam::222222222222:root"}})),
            ),
            (
                "NotAction",
                json!({"Sid": "S", "Effect": "Allow", "Principal": "*", "NotAction": "ecr:DeleteRepository"}),
                json!({"Sid": "S", "Effect": "Allow", "Principal": "*", "NotAction": "ecr:DeleteRepository", "Condition": account}),
            ),
            (
                "SourceIp only",
                pull(json!({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})),
                pull(
                    json!({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}),
                ),
            ),
            (
                "SourceVpce only",
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}})),
                pull(
                    json!({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1", "aws:PrincipalAccount": "111111111111"}}}),
                ),
            ),
            (
                "StringNotEquals",
                pull(
                    json!({"Principal": "*", "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "999999999999"}}}),
                ),
                pull(
                    json!({"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalAccount": "999999999999"}}}),
                ),
            ),
            (
                "IfExists",
                pull(json!({"Principal": "*", "Condition": {"StringEqualsIfExists": {"aws:PrincipalOrgID": "o-abc"}}})),
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}})),
            ),
            (
                "StringLike *",
                pull(json!({"Principal": "*", "Condition": {"StringLike": {"aws:PrincipalArn": "*"}}})),
                pull(
                    json!({"Principal": "*", "Condition": {"StringLike": {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/*"}}}),
                ),
            ),
            (
                "ArnNotLike",
                pull(
                    json!({"Principal": "*", "Condition": {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::9:root"}}}),
                ),
                pull(json!({"Principal": "*", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::9:root"}}})),
            ),
            (
                "SecureTransport",
                pull(json!({"Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}})),
                pull(
                    json!({"Principal": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceAccount": "111111111111"}}}),
                ),
            ),
            (
                "unrelated key",
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}})),
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgPaths": "o-a/r-b/"}}})),
            ),
            (
                "Deny is never public",
                pull(json!({"Principal": "*"})),
                json!({"Sid": "S", "Effect": "Deny", "Principal": "*", "Action": "ecr:*"}),
            ),
            (
                "a service principal is not everyone",
                pull(json!({"Principal": "*"})),
                pull(json!({"Principal": {"Service": "lambda.amazonaws.com"}})),
            ),
            (
                "empty condition block",
                pull(json!({"Principal": "*", "Condition": {}})),
                pull(json!({"Principal": "*", "Condition": {"StringEquals": {"aws:SourceOrgID": "o-abc"}}})),
            ),
            (
                "ForAnyValue",
                pull(
                    json!({"Principal": "*", "Condition": {"ForAnyValue:StringNotLike": {"aws:PrincipalOrgPaths": ["o-a/*"]}}}),
                ),
                pull(
                    json!({"Principal": "*", "Condition": {"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": ["o-a/*"]}}}),
                ),
            ),
        ];
        for (shape, open, twin) in cases {
            let found = public_statements(&policy(open));
            assert_eq!(found.len(), 1, "{shape}: should be public");
            assert!(!found[0]["principal"].as_str().unwrap_or_default().is_empty(), "{shape}: says who");
            assert!(public_statements(&policy(twin)).is_empty(), "{shape}: the twin is restricted");
        }
    }

    #[test]
    fn the_evidence_says_why_a_condition_does_not_restrict() {
        let found = public_statements(&policy(pull(
            json!({"Principal": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}),
        )));
        assert_eq!(found[0]["conditions"], "aws:SourceIp limits the network, not who the caller is");
        let found = public_statements(&policy(pull(json!({"NotPrincipal": {"AWS": "arn:aws:iam::2:root"}}))));
        assert_eq!(found[0]["principal"], "NotPrincipal with Allow admits everyone except arn:aws:iam::2:root");
        let found = public_statements(&policy(
            json!({"Effect": "Allow", "Principal": "*", "NotAction": "ecr:DeleteRepository"}),
        ));
        assert_eq!(found[0]["actions"], "every action except ecr:DeleteRepository");
        assert_eq!(public_policy(Some(&policy(pull(json!({"Principal": "*"}))).to_string())).status, Status::Fail);
    }
}
