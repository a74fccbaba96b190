//! LC-1 to LC-8 and USE-1: a valid policy exists, covers untagged images and every image, runs on
//! time, matches the team's standard, archives by real pulls and for at least the billed 90 days,
//! and removes no image a workload runs.

use super::{result, tags_or_digest, AuditSettings, Facts, LifecycleTotals, Standard, OVERDUE_AFTER};
use crate::audit::model::{CheckResult, CheckSeverity, Status};
use crate::image::Image;
use crate::lifecycle::{
    human_bytes, parse_policy, simulate, ActionType, CountType, Fate, LifecyclePolicy, Plan, PolicyError, StorageClass,
    TagStatus, MIN_ARCHIVE_EXPIRY_DAYS,
};
use crate::workloads::at_risk;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

pub(super) fn checks(f: &Facts, settings: &AuditSettings, now: DateTime<Utc>) -> (Vec<CheckResult>, LifecycleTotals) {
    let standard = settings.standard.as_ref();
    let parsed = f.lifecycle_policy.map(parse_policy);
    let mut out = exists_and_valid(parsed.as_ref()).to_vec();
    let policy: Option<&LifecyclePolicy> = parsed.as_ref().and_then(|p| p.as_ref().ok());
    out.push(untagged_covered(f, policy));
    let totals = match policy {
        Some(p) => {
            let plan = simulate(p, f.images, now);
            out.extend(pull_and_archive(f, p, &plan, &settings.scanner_roles, now));
            if let Some(workloads) = f.workloads {
                out.push(in_use(workloads, Some(&plan)));
            }
            let fates = Fates::of(f.images, &plan, now);
            out.push(unmanaged(&fates));
            out.push(overdue(&fates));
            fates.totals
        }
        None => {
            let mut totals = LifecycleTotals::default();
            for image in f.images {
                totals.unmanaged.add(image.size_bytes);
            }
            out.push(unmanaged_without_policy(&totals));
            out.push(result(
                "LC-5",
                Status::Info,
                CheckSeverity::High,
                "no valid lifecycle policy: nothing is scheduled to expire",
                Value::Null,
            ));
            let raw = f.lifecycle_policy.and_then(|t| serde_json::from_str::<LifecyclePolicy>(t).ok());
            if let Some(raw) = raw {
                // Simulated as written: what ECR would do if it had accepted it.
                let plan = simulate(&raw, f.images, now);
                out.extend(archive_minimum(f, &raw, &plan, now));
            }
            if let Some(workloads) = f.workloads {
                out.push(in_use(workloads, None));
            }
            totals
        }
    };
    if let Some(standard) = standard {
        out.push(drift(policy, standard));
    }
    (out, totals)
}

/// LC-1 and LC-2: a policy exists, and ECR's rules accept it (decided together: both read the
/// same parse).
fn exists_and_valid(parsed: Option<&Result<LifecyclePolicy, PolicyError>>) -> [CheckResult; 2] {
    match parsed {
        None => [
            result(
                "LC-1",
                Status::Fail,
                CheckSeverity::High,
                "no lifecycle policy: images are never expired",
                Value::Null,
            ),
            result("LC-2", Status::Info, CheckSeverity::Informational, "no lifecycle policy to validate", Value::Null),
        ],
        Some(Ok(p)) => [
            result(
                "LC-1",
                Status::Pass,
                CheckSeverity::High,
                format!("lifecycle policy with {} rule(s)", p.rules.len()),
                Value::Null,
            ),
            result("LC-2", Status::Pass, CheckSeverity::Medium, "the policy passes ECR's rules", Value::Null),
        ],
        Some(Err(e)) => {
            let problems: Vec<String> = e.violations().iter().map(ToString::to_string).collect();
            [
                result("LC-1", Status::Pass, CheckSeverity::High, "a lifecycle policy exists", Value::Null),
                result(
                    "LC-2",
                    Status::Fail,
                    CheckSeverity::Medium,
                    format!("the policy is not valid: {e}"),
                    json!(problems),
                ),
            ]
        }
    }
}

/// LC-3: untagged images are covered by some rule.
fn untagged_covered(f: &Facts, policy: Option<&LifecyclePolicy>) -> CheckResult {
    let covered = policy.is_some_and(|p| {
        p.rules.iter().any(|r| {
            r.selection.storage_class() == StorageClass::Standard
                && matches!(r.selection.tag_status, TagStatus::Untagged | TagStatus::Any)
        })
    });
    if covered {
        return result(
            "LC-3",
            Status::Pass,
            CheckSeverity::Medium,
            "untagged images are covered by a rule",
            Value::Null,
        );
    }
    let untagged = f.images.iter().filter(|i| !i.is_tagged()).count();
    result(
        "LC-3",
        Status::Fail,
        CheckSeverity::Medium,
        format!("no rule covers untagged images ({untagged} now)"),
        json!({"untaggedImages": untagged}),
    )
}

/// What a valid policy's simulation says of the images, as LC-4 and LC-5 report it.
struct Fates<'a> {
    totals: LifecycleTotals,
    unmanaged_examples: Vec<String>,
    oldest_overdue: Option<(DateTime<Utc>, &'a Image)>,
}

impl<'a> Fates<'a> {
    fn of(images: &'a [Image], plan: &Plan, now: DateTime<Utc>) -> Fates<'a> {
        let mut fates =
            Fates { totals: LifecycleTotals::default(), unmanaged_examples: Vec::new(), oldest_overdue: None };
        for (image, d) in images.iter().zip(&plan.decisions) {
            match d.fate {
                Fate::Expire => {
                    fates.totals.expirable.add(image.size_bytes);
                    if let Some(since) = d.eligible_since.filter(|t| *t + OVERDUE_AFTER < now) {
                        fates.totals.overdue.add(image.size_bytes);
                        if fates.oldest_overdue.is_none_or(|(t, _)| since < t) {
                            fates.oldest_overdue = Some((since, image));
                        }
                    }
                }
                // Unmanaged, defined once: no rule of the policy can ever expire it (tagged or not;
                // LC-3 says why untagged ones are). Without a valid policy, every image is.
                Fate::Unmanaged => {
                    fates.totals.unmanaged.add(image.size_bytes);
                    if fates.unmanaged_examples.len() < 5 {
                        fates.unmanaged_examples.push(tags_or_digest(image));
                    }
                }
                _ => {}
            }
        }
        fates
    }
}

/// LC-4: images no rule of the policy will ever expire.
fn unmanaged(fates: &Fates) -> CheckResult {
    let unmanaged = &fates.totals.unmanaged;
    if unmanaged.images == 0 {
        return result("LC-4", Status::Pass, CheckSeverity::Low, "every image is matched by a rule", Value::Null);
    }
    let examples = &fates.unmanaged_examples;
    result(
        "LC-4",
        Status::Warn,
        CheckSeverity::Low,
        format!(
            "{} ({}) match no rule and will never be expired, e.g. {}",
            crate::lifecycle::count(unmanaged.images, "image", "images"),
            human_bytes(unmanaged.bytes),
            examples.join(", ")
        ),
        json!({"images": unmanaged.images, "bytes": unmanaged.bytes, "examples": examples}),
    )
}

/// LC-4 without a valid policy: every image is unmanaged.
fn unmanaged_without_policy(totals: &LifecycleTotals) -> CheckResult {
    let unmanaged = &totals.unmanaged;
    result(
        "LC-4",
        Status::Info,
        CheckSeverity::Low,
        format!(
            "no valid lifecycle policy: all {} ({}) are unmanaged",
            crate::lifecycle::count(unmanaged.images, "image", "images"),
            human_bytes(unmanaged.bytes)
        ),
        json!({"images": unmanaged.images, "bytes": unmanaged.bytes}),
    )
}

/// LC-5: images eligible for expiry more than a day ago that still exist.
fn overdue(fates: &Fates) -> CheckResult {
    let Some((since, image)) = fates.oldest_overdue else {
        return result("LC-5", Status::Pass, CheckSeverity::High, "no expiration is overdue", Value::Null);
    };
    let overdue = &fates.totals.overdue;
    result(
        "LC-5",
        Status::Fail,
        CheckSeverity::High,
        format!(
            "{} ({}) were eligible for expiry more than 24 h ago and still exist; the oldest, {}, since {}: check that the policy is applied",
            crate::lifecycle::count(overdue.images, "image", "images"),
            human_bytes(overdue.bytes),
            tags_or_digest(image),
            crate::lifecycle::to_second(since)
        ),
        json!({"images": overdue.images, "bytes": overdue.bytes, "oldest": {"imageDigest": image.digest, "imageTags": image.tags, "eligibleSince": since.to_rfc3339()}}),
    )
}

/// LC-7 (pulls that keep images active) and LC-8 (archive expiry under the 90-day minimum),
/// only for policies that use pull times or archive storage.
fn pull_and_archive(
    f: &Facts,
    policy: &LifecyclePolicy,
    plan: &Plan,
    scanner_roles: &[String],
    now: DateTime<Utc>,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let pull_rule =
        policy.rules_by_priority().into_iter().find(|r| r.selection.count_type == CountType::SinceImagePulled);
    if let Some(rule) = pull_rule {
        let limit = Duration::days(i64::from(rule.selection.count_number));
        // Kept by the pull rule only because of a pull: measured from its push (or restore) it
        // would be archived.
        let kept_by_pulls: Vec<&Image> = f
            .images
            .iter()
            .zip(&plan.decisions)
            .filter(|(image, d)| {
                d.fate == Fate::Keep
                    && d.rule.is_some_and(|r| std::ptr::eq(&policy.rules[r], rule))
                    && image.last_pulled_at.is_some()
                    && image.effective_pushed_at() + limit < now
            })
            .map(|(image, _)| image)
            .collect();
        out.push(scanner_pulls(
            f.pull_time_update_exclusions,
            scanner_roles,
            &kept_by_pulls,
            rule.selection.count_number,
        ));
    }
    out.extend(archive_minimum(f, policy, plan, now));
    out
}

/// LC-7: ECR refreshes `lastRecordedPullTime` on every pull but Amazon Inspector's, so a
/// third-party scanner's pulls keep images "in use" unless its role is excluded (User Guide,
/// "Pull-time update exclusions"). No ECR API says who pulls: the scanners are the roles the
/// team names.
fn scanner_pulls(
    exclusions: Option<&[String]>,
    scanner_roles: &[String],
    kept_by_pulls: &[&Image],
    days: u32,
) -> CheckResult {
    let examples: Vec<String> = kept_by_pulls.iter().take(5).map(|i| tags_or_digest(i)).collect();
    let kept = format!(
        "{} {} in standard storage only because of a pull in the last {days} days{}",
        crate::lifecycle::count(kept_by_pulls.len() as u64, "image", "images"),
        if kept_by_pulls.len() == 1 { "stays" } else { "stay" },
        if examples.is_empty() { String::new() } else { format!(" (e.g. {})", examples.join(", ")) }
    );
    let evidence = |extra: Value| {
        let mut e = json!({"imagesKeptByPulls": kept_by_pulls.len(), "examples": examples});
        if let (Some(e), Value::Object(extra)) = (e.as_object_mut(), extra) {
            e.extend(extra);
        }
        e
    };
    let Some(excluded) = exclusions else {
        return result(
            "LC-7",
            Status::Info,
            CheckSeverity::Low,
            "the registry's pull-time update exclusions could not be read (ecr:ListPullTimeUpdateExclusions): pulls by scanners and tooling may keep images from archiving",
            evidence(json!({})),
        );
    };
    let missing: Vec<&String> = scanner_roles.iter().filter(|r| !excluded.contains(r)).collect();
    if let Some(first) = missing.first() {
        return result(
            "LC-7",
            Status::Warn,
            CheckSeverity::Medium,
            format!(
                "{} scanner role(s) pull images without a pull-time update exclusion, so their pulls keep images looking used ({kept}): aws ecr register-pull-time-update-exclusion --principal-arn {first}",
                missing.len()
            ),
            evidence(json!({"exclude": missing})),
        );
    }
    if scanner_roles.is_empty() && excluded.is_empty() && !kept_by_pulls.is_empty() {
        return result(
            "LC-7",
            Status::Info,
            CheckSeverity::Low,
            format!(
                "{kept}. If a third-party scanner (Snyk, Trivy, CrowdStrike…) pulls them, name its role (--scanner-role, ScannerRoleArns) to check it is excluded from pull-time updates; Inspector's pulls never count"
            ),
            evidence(json!({})),
        );
    }
    result(
        "LC-7",
        Status::Pass,
        CheckSeverity::Medium,
        if scanner_roles.is_empty() {
            "no image is kept only by a recent pull, or the registry excludes its scanners from pull-time updates"
                .to_string()
        } else {
            format!("all {} scanner role(s) are excluded from pull-time updates", scanner_roles.len())
        },
        evidence(json!({"exclusions": excluded})),
    )
}

/// LC-8: archived images are kept the 90 days they are billed for. Also read from a policy ECR
/// would refuse (an archive expiry under 90 days is one reason it would).
fn archive_minimum(f: &Facts, policy: &LifecyclePolicy, plan: &Plan, now: DateTime<Utc>) -> Option<CheckResult> {
    let archives = policy.rules.iter().any(|r| {
        r.selection.storage_class() == StorageClass::Archive
            || r.action.kind == crate::lifecycle::ActionType::Transition
    });
    if !archives {
        return None;
    }
    {
        let short: Vec<String> = policy
            .rules_by_priority()
            .into_iter()
            .filter(|r| {
                r.selection.count_type == CountType::SinceImageTransitioned
                    && r.selection.count_number < MIN_ARCHIVE_EXPIRY_DAYS
            })
            .map(|r| {
                format!("rule {} expires archived images after {} days", r.rule_priority, r.selection.count_number)
            })
            .collect();
        // Archived images the plan expires less than 90 days after archiving are billed 90 days.
        let minimum = Duration::days(i64::from(MIN_ARCHIVE_EXPIRY_DAYS));
        let early: Vec<&Image> = f
            .images
            .iter()
            .zip(&plan.decisions)
            .filter(|(image, d)| {
                d.fate == Fate::Expire
                    && image.status == crate::image::ImageStatus::Archived
                    && image.last_archived_at.is_some_and(|at| at + minimum > now)
            })
            .map(|(image, _)| image)
            .collect();
        Some(if short.is_empty() && early.is_empty() {
            result(
                "LC-8",
                Status::Pass,
                CheckSeverity::Low,
                "archived images are kept at least the 90 days they are billed for",
                Value::Null,
            )
        } else {
            let bytes: u64 = early.iter().map(|i| i.size_bytes).sum();
            let mut parts = short.clone();
            if !early.is_empty() {
                parts.push(format!(
                    "{} ({}) archived less than 90 days ago would be expired now and still billed for 90 days",
                    crate::lifecycle::count(early.len() as u64, "image", "images"),
                    human_bytes(bytes)
                ));
            }
            result(
                "LC-8",
                Status::Warn,
                CheckSeverity::Low,
                format!(
                    "{}: archived storage is billed for at least 90 days (ECR refuses an archive expiry under 90)",
                    parts.join("; ")
                ),
                json!({"rules": short, "earlyExpiries": early.len(), "bytes": bytes}),
            )
        })
    }
}

/// USE-1: no image a workload runs is expired or archived by the policy, now or later.
fn in_use(workloads: Result<&[Vec<String>], &str>, plan: Option<&Plan>) -> CheckResult {
    let workloads = match workloads {
        Ok(w) => w,
        Err(reason) => {
            return result(
                "USE-1",
                Status::Error,
                CheckSeverity::High,
                format!("the workloads could not be read: {reason}"),
                Value::Null,
            )
        }
    };
    let running = workloads.iter().filter(|w| !w.is_empty()).count();
    let Some(plan) = plan else {
        return result(
            "USE-1",
            Status::Pass,
            CheckSeverity::High,
            format!("{running} running image(s); no valid lifecycle policy removes any"),
            Value::Null,
        );
    };
    let risks = at_risk(plan, workloads);
    if risks.is_empty() {
        return result(
            "USE-1",
            Status::Pass,
            CheckSeverity::High,
            format!("{running} running image(s); the policy removes none"),
            Value::Null,
        );
    }
    let described: Vec<String> = risks
        .iter()
        .take(5)
        .map(|r| {
            let verb = if r.action == "transition" { "archived" } else { "expired" };
            let when = match (&r.eligible_since, r.now) {
                (Some(t), true) => format!("now (eligible since {t})"),
                (Some(t), false) => format!("from {t}"),
                (None, _) => "now".into(),
            };
            format!("{}, run by {}, would be {verb} by rule {} {when}", r.image(), r.run_by(), r.rule_priority)
        })
        .collect();
    result(
        "USE-1",
        Status::Fail,
        CheckSeverity::High,
        format!(
            "{} of {running} running image(s) at risk: {}; a pull of a removed image fails. Protect them (ProtectedTags, or ProtectInUse with pins)",
            risks.len(),
            described.join("; ")
        ),
        json!(risks),
    )
}

/// Where the policy archives differently from a standard that archives.
fn archive_drift(policy: &LifecyclePolicy, standard: &Standard) -> Vec<String> {
    let mut differences = Vec::new();
    if let Some(days) = standard.archive_after_days {
        let archive = policy.rules.iter().find(|r| r.action.kind == ActionType::Transition);
        match archive.map(|r| (r.selection.count_type, r.selection.count_number)) {
            Some((CountType::SinceImagePulled, d)) if d == days => {}
            Some((CountType::SinceImagePulled, d)) => {
                differences.push(format!("archives after {d} days without a pull (standard: {days})"))
            }
            Some((count_type, n)) => {
                differences.push(format!("archives by {count_type} {n} (standard: after {days} days without a pull)"))
            }
            None => differences.push(format!("archives nothing (standard: after {days} days without a pull)")),
        }
    }
    if let Some(days) = standard.expire_archived_after_days {
        let expire = policy
            .rules
            .iter()
            .find(|r| r.selection.storage_class() == StorageClass::Archive && r.action.kind == ActionType::Expire);
        match expire.map(|r| r.selection.count_number) {
            Some(d) if d == days => {}
            Some(d) => differences.push(format!("expires archived images after {d} days (standard: {days})")),
            None => differences.push(format!("never expires archived images (standard: after {days} days)")),
        }
    }
    differences
}

/// LC-6 (and REG-1/REG-2 for a template's policy): the policy against the team's standard.
pub(super) fn drift(policy: Option<&LifecyclePolicy>, standard: &Standard) -> CheckResult {
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
    differences.extend(archive_drift(policy, standard));
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
