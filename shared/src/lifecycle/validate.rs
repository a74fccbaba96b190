//! ECR's rules for a valid lifecycle policy, checked offline so a bad policy is refused with
//! every reason at once, before any AWS call.

use super::model::{ActionType, CountType, LifecyclePolicy, Rule, StorageClass, TagStatus};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

pub const MIN_RULES: usize = 1;
pub const MAX_RULES: usize = 50;
pub const MIN_TEXT_CHARS: usize = 100;
pub const MAX_TEXT_CHARS: usize = 30_720;
pub const MAX_WILDCARDS_PER_PATTERN: usize = 4;
/// Archived images are billed for at least 90 days, and ECR refuses shorter archive expiry.
pub const MIN_ARCHIVE_EXPIRY_DAYS: u32 = 90;

/// One reason a policy is not valid, located by rule position (1-based) and priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// 1-based position of the rule in the `rules` array; `None` for the policy as a whole.
    pub rule: Option<usize>,
    pub priority: Option<i64>,
    /// The JSON path of the offending field inside the rule (or policy), e.g. `selection.tagStatus`.
    pub field: String,
    pub message: String,
}

impl Violation {
    pub fn policy(field: &str, message: impl Into<String>) -> Self {
        Violation { rule: None, priority: None, field: field.to_string(), message: message.into() }
    }

    pub fn rule(rule: usize, priority: Option<i64>, field: &str, message: impl Into<String>) -> Self {
        Violation { rule: Some(rule), priority, field: field.to_string(), message: message.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.rule, self.priority) {
            (Some(n), Some(p)) => write!(f, "rule {n} (priority {p}): {}", self.message),
            (Some(n), None) => write!(f, "rule {n}: {}", self.message),
            _ => write!(f, "policy: {}", self.message),
        }
    }
}

/// Fields of a rule whose values were refused while parsing (they hold stand-ins). Checks that
/// read them are skipped, so a bad value is reported once and every other check still runs.
#[derive(Debug, Default)]
pub(crate) struct Unknown(pub(crate) Vec<String>);

impl Unknown {
    /// `field` (or the object holding it) was refused.
    fn has(&self, field: &str) -> bool {
        self.0.iter().any(|u| field == u || field.strip_prefix(u.as_str()).is_some_and(|rest| rest.starts_with('.')))
    }

    fn any(&self, fields: &[&str]) -> bool {
        fields.iter().any(|f| self.has(f))
    }
}

/// A rule with its 1-based position in the policy text and its refused fields.
pub(crate) type Located<'a> = (usize, &'a Rule, &'a Unknown);

/// Checks a typed policy (for example a generated one) against every ECR rule, including the
/// length of its JSON text.
pub fn validate(policy: &LifecyclePolicy) -> Vec<Violation> {
    let mut out = Vec::new();
    check_text_length(policy.to_json().chars().count(), &mut out);
    check_rule_count(policy.rules.len(), &mut out);
    let none = Unknown::default();
    let located: Vec<Located> = policy.rules.iter().enumerate().map(|(i, r)| (i + 1, r, &none)).collect();
    check_rules(&located, &mut out);
    out
}

pub(crate) fn check_text_length(chars: usize, out: &mut Vec<Violation>) {
    if !(MIN_TEXT_CHARS..=MAX_TEXT_CHARS).contains(&chars) {
        out.push(Violation::policy(
            "",
            format!("the policy text is {chars} characters; ECR accepts {MIN_TEXT_CHARS} to {MAX_TEXT_CHARS}"),
        ));
    }
}

pub(crate) fn check_rule_count(rules: usize, out: &mut Vec<Violation>) {
    if !(MIN_RULES..=MAX_RULES).contains(&rules) {
        out.push(Violation::policy(
            "rules",
            format!("the policy has {rules} rules; ECR accepts {MIN_RULES} to {MAX_RULES}"),
        ));
    }
}

/// Per-rule and cross-rule checks over the rules that parsed.
pub(crate) fn check_rules(rules: &[Located], out: &mut Vec<Violation>) {
    for &(n, rule, unknown) in rules {
        check_rule(n, rule, unknown, out);
    }
    check_unique_priorities(rules, out);
    check_any_is_last(rules, out);
    check_single_untagged(rules, out);
    check_unique_prefixes(rules, out);
}

fn check_rule(n: usize, rule: &Rule, unknown: &Unknown, out: &mut Vec<Violation>) {
    let p = (!unknown.has("rulePriority")).then(|| i64::from(rule.rule_priority));
    let mut bad = |field: &str, message: String| out.push(Violation::rule(n, p, field, message));
    let sel = &rule.selection;

    if rule.rule_priority == 0 && !unknown.has("rulePriority") {
        bad("rulePriority", "rulePriority must be a positive integer, not 0".into());
    }
    if sel.count_number == 0 && !unknown.has("selection.countNumber") {
        bad("selection.countNumber", "countNumber must be a positive integer, not 0".into());
    }

    // Tag filter lists: exactly one for `tagged`, none otherwise.
    let lists = [("tagPrefixList", &sel.tag_prefix_list), ("tagPatternList", &sel.tag_pattern_list)];
    let tags_known = !unknown.any(&["selection.tagStatus", "selection.tagPrefixList", "selection.tagPatternList"]);
    match sel.tag_status {
        _ if !tags_known => {}
        TagStatus::Tagged => match (&sel.tag_prefix_list, &sel.tag_pattern_list) {
            (None, None) => {
                bad("selection.tagStatus", "tagStatus \"tagged\" needs tagPrefixList or tagPatternList".into())
            }
            (Some(_), Some(_)) => bad(
                "selection.tagPrefixList",
                "tagStatus \"tagged\" takes tagPrefixList or tagPatternList, not both".into(),
            ),
            _ => {}
        },
        status => {
            for (name, list) in lists {
                if list.is_some() {
                    bad(&format!("selection.{name}"), format!("tagStatus \"{status}\" does not take {name}"));
                }
            }
        }
    }
    for (name, list) in lists {
        let Some(entries) = list else { continue };
        let field = format!("selection.{name}");
        if entries.is_empty() {
            bad(&field, format!("{name} must not be empty"));
        }
        for entry in entries {
            if entry.is_empty() {
                bad(&field, format!("{name} entries must not be empty strings"));
            } else if name == "tagPatternList" {
                let stars = entry.matches('*').count();
                if stars > MAX_WILDCARDS_PER_PATTERN {
                    bad(
                        &field,
                        format!(
                            "tagPatternList entry \"{entry}\" has {stars} wildcards; ECR accepts at most {MAX_WILDCARDS_PER_PATTERN}"
                        ),
                    );
                }
            }
        }
    }

    // Count unit: required for ages, forbidden for counts.
    match (sel.count_type.is_age(), sel.count_unit) {
        _ if unknown.any(&["selection.countType", "selection.countUnit"]) => {}
        (true, None) => {
            bad("selection.countUnit", format!("countType \"{}\" needs countUnit \"days\"", sel.count_type))
        }
        (false, Some(_)) => {
            bad("selection.countUnit", "countType \"imageCountMoreThan\" does not take countUnit".into())
        }
        _ => {}
    }

    let class = sel.storage_class();
    let age_known =
        !unknown.any(&["selection.countType", "action.type", "selection.storageClass", "selection.countNumber"]);
    match sel.count_type {
        _ if !age_known => {}
        CountType::SinceImagePulled if rule.action.kind != ActionType::Transition => bad(
            "selection.countType",
            "countType \"sinceImagePulled\" is only allowed with action type \"transition\"".into(),
        ),
        CountType::SinceImageTransitioned => {
            if rule.action.kind != ActionType::Expire {
                bad(
                    "selection.countType",
                    "countType \"sinceImageTransitioned\" is only allowed with action type \"expire\"".into(),
                );
            }
            if class != StorageClass::Archive {
                bad(
                    "selection.storageClass",
                    "countType \"sinceImageTransitioned\" needs storageClass \"archive\"".into(),
                );
            }
            if sel.count_number < MIN_ARCHIVE_EXPIRY_DAYS {
                bad(
                    "selection.countNumber",
                    format!(
                        "countType \"sinceImageTransitioned\" needs countNumber of at least {MIN_ARCHIVE_EXPIRY_DAYS} days (archived images have a 90-day minimum), not {}",
                        sel.count_number
                    ),
                );
            }
        }
        _ => {}
    }
    if age_known && class == StorageClass::Archive && sel.count_type != CountType::SinceImageTransitioned {
        bad(
            "selection.storageClass",
            format!(
                "storageClass \"archive\" is only allowed with countType \"sinceImageTransitioned\", not \"{}\"",
                sel.count_type
            ),
        );
    }

    match (rule.action.kind, rule.action.target_storage_class) {
        _ if unknown.any(&["action.type", "action.targetStorageClass"]) => {}
        (ActionType::Transition, None) => {
            bad("action.targetStorageClass", "action type \"transition\" needs targetStorageClass \"archive\"".into())
        }
        (ActionType::Transition, Some(StorageClass::Standard)) => bad(
            "action.targetStorageClass",
            "action type \"transition\" needs targetStorageClass \"archive\", not \"standard\"".into(),
        ),
        (ActionType::Expire, Some(_)) => bad(
            "action.targetStorageClass",
            "targetStorageClass is only allowed with action type \"transition\"".into(),
        ),
        _ => {}
    }
}

/// The rules whose `fields` all parsed, for checks that compare rules.
fn known<'a>(rules: &'a [Located<'a>], fields: &'a [&'a str]) -> impl Iterator<Item = (usize, &'a Rule)> + 'a {
    rules.iter().filter(move |(_, _, unknown)| !unknown.any(fields)).map(|&(n, rule, _)| (n, rule))
}

/// The priority a violation names: the rule's, unless it was refused.
fn priority_of(rules: &[Located], n: usize) -> Option<i64> {
    rules
        .iter()
        .find(|(m, _, _)| *m == n)
        .and_then(|(_, rule, unknown)| (!unknown.has("rulePriority")).then(|| i64::from(rule.rule_priority)))
}

fn check_unique_priorities(rules: &[Located], out: &mut Vec<Violation>) {
    let mut first: HashMap<u32, usize> = HashMap::new();
    for (n, rule) in known(rules, &["rulePriority"]) {
        if let Some(earlier) = first.insert(rule.rule_priority, n) {
            out.push(Violation::rule(
                n,
                Some(rule.rule_priority.into()),
                "rulePriority",
                format!(
                    "rulePriority {} is already used by rule {earlier}; priorities must be unique",
                    rule.rule_priority
                ),
            ));
            first.insert(rule.rule_priority, earlier);
        }
    }
}

fn check_any_is_last(rules: &[Located], out: &mut Vec<Violation>) {
    let fields = ["rulePriority", "selection.storageClass"];
    for (n, rule) in known(rules, &["rulePriority", "selection.storageClass", "selection.tagStatus"]) {
        if rule.selection.tag_status != TagStatus::Any {
            continue;
        }
        let class = rule.selection.storage_class();
        let later = known(rules, &fields).find(|(m, other)| {
            *m != n && other.selection.storage_class() == class && other.rule_priority > rule.rule_priority
        });
        if let Some((m, other)) = later {
            out.push(Violation::rule(
                n,
                Some(rule.rule_priority.into()),
                "selection.tagStatus",
                format!(
                    "tagStatus \"any\" must have the highest rulePriority among {class} rules, but rule {m} has priority {}",
                    other.rule_priority
                ),
            ));
        }
    }
}

fn check_single_untagged(rules: &[Located], out: &mut Vec<Violation>) {
    let mut first: HashMap<StorageClass, usize> = HashMap::new();
    for (n, rule) in known(rules, &["selection.tagStatus", "selection.storageClass"]) {
        if rule.selection.tag_status != TagStatus::Untagged {
            continue;
        }
        let class = rule.selection.storage_class();
        if let Some(earlier) = first.get(&class) {
            out.push(Violation::rule(
                n,
                priority_of(rules, n),
                "selection.tagStatus",
                format!("only one {class} rule may have tagStatus \"untagged\"; rule {earlier} already does"),
            ));
        } else {
            first.insert(class, n);
        }
    }
}

fn check_unique_prefixes(rules: &[Located], out: &mut Vec<Violation>) {
    let mut first: HashMap<(StorageClass, &str), usize> = HashMap::new();
    for (n, rule) in known(rules, &["selection.tagPrefixList", "selection.storageClass"]) {
        let class = rule.selection.storage_class();
        for prefix in rule.selection.tag_prefix_list.iter().flatten() {
            match first.get(&(class, prefix.as_str())) {
                Some(&earlier) if earlier != n => out.push(Violation::rule(
                    n,
                    priority_of(rules, n),
                    "selection.tagPrefixList",
                    format!(
                        "tagPrefixList entry \"{prefix}\" is also used by rule {earlier}; prefixes must be unique across {class} rules"
                    ),
                )),
                Some(_) => {}
                None => {
                    first.insert((class, prefix.as_str()), n);
                }
            }
        }
    }
}
