//! LC-1 to LC-6: a valid policy exists, covers untagged images and every image, runs on time,
//! and matches the team's standard.

use super::{result, tags_or_digest, Facts, LifecycleTotals, Standard, OVERDUE_AFTER};
use crate::audit::model::{CheckResult, CheckSeverity, Status};
use crate::image::Image;
use crate::lifecycle::{
    human_bytes, parse_policy, simulate, CountType, Fate, LifecyclePolicy, StorageClass, TagStatus,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub(super) fn checks(
    f: &Facts,
    standard: Option<&Standard>,
    now: DateTime<Utc>,
) -> (Vec<CheckResult>, LifecycleTotals) {
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
    if let Some(standard) = standard {
        out.push(drift(policy, standard));
    }

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
