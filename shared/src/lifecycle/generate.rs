//! Lifecycle policies from a few simple parameters: "keep the last N `v*` images, expire
//! untagged after D days", plus protected tags, a max-age catch-all and archiving.
//!
//! ECR's tag lists are AND (an image must match *every* entry), so "keep v* or release-*" is
//! one rule per prefix, each keeping its own last N. Rules are ordered so that each does what
//! its parameter promises under ECR's "first matching rule decides" semantics.

use super::model::{
    Action, ActionType, CountType, CountUnit, LifecyclePolicy, Rule, Selection, StorageClass, TagStatus,
};
use super::validate::{validate, Violation, MAX_RULES, MAX_WILDCARDS_PER_PATTERN, MIN_ARCHIVE_EXPIRY_DAYS};
use crate::image::PIN_TAG_PREFIX;

/// A count no realistic set of protected images reaches: the rule matches (and so shields)
/// protected images but never expires them. 9999 is the figure AWS users rely on in practice.
pub const PROTECT_COUNT: u32 = 9999;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyParams {
    /// Keep this many newest images per tag prefix / pattern.
    pub keep_tagged: u32,
    pub tag_prefixes: Vec<String>,
    pub tag_patterns: Vec<String>,
    pub untagged_days: u32,
    /// Tag patterns (`latest`, `prod-*`) whose images are never expired.
    pub protected: Vec<String>,
    /// Expire any image not kept by another rule once it is older than this.
    pub max_age_days: Option<u32>,
    /// Move images no other rule keeps to archive storage after this many days without a pull.
    pub archive_after_days: Option<u32>,
    /// Expire archived images this many days after they were archived (ECR's minimum: 90).
    pub expire_archived_after_days: Option<u32>,
    /// Shield images carrying an in-use pin (`keeper-in-use-…`, added by the audit) from every
    /// other rule.
    pub protect_in_use: bool,
}

pub const DEFAULT_KEEP_TAGGED: u32 = 10;
pub const DEFAULT_UNTAGGED_DAYS: u32 = 7;
pub const DEFAULT_TAG_PREFIX: &str = "v";

impl Default for PolicyParams {
    /// The seed's standard policy: keep the last 10 `v*` images, expire untagged after 7 days.
    fn default() -> Self {
        PolicyParams {
            keep_tagged: DEFAULT_KEEP_TAGGED,
            tag_prefixes: Vec::new(),
            tag_patterns: Vec::new(),
            untagged_days: DEFAULT_UNTAGGED_DAYS,
            protected: Vec::new(),
            max_age_days: None,
            archive_after_days: None,
            expire_archived_after_days: None,
            protect_in_use: false,
        }
    }
}

impl PolicyParams {
    /// What the generated policy keeps, in words, with the prefixes it really uses
    /// (`v` when none is given).
    pub fn describe(&self) -> String {
        let mut kept: Vec<String> = self.tag_prefixes.iter().map(|p| format!("{p}*")).collect();
        kept.extend(self.tag_patterns.iter().cloned());
        if kept.is_empty() {
            kept.push(format!("{DEFAULT_TAG_PREFIX}*"));
        }
        let mut text =
            format!("keep the last {} of {}, untagged {} days", self.keep_tagged, kept.join(", "), self.untagged_days);
        if let Some(d) = self.archive_after_days {
            text.push_str(&format!(", archive after {d} days without a pull"));
        }
        if let Some(d) = self.expire_archived_after_days {
            text.push_str(&format!(", expire archived after {d} days"));
        }
        text
    }
}

/// A generator parameter, named as the CLI's flag (its `Display`) or as the custom resource's
/// property ([`PolicyParam::property`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyParam {
    KeepTagged,
    UntaggedDays,
    MaxAgeDays,
    ArchiveAfterDaysWithoutPull,
    ExpireArchivedAfterDays,
    TagPrefix,
    TagPattern,
    Protect,
}

impl PolicyParam {
    /// The CLI's flag, without its dashes.
    pub fn flag(self) -> &'static str {
        match self {
            PolicyParam::KeepTagged => "keep-tagged",
            PolicyParam::UntaggedDays => "untagged-days",
            PolicyParam::MaxAgeDays => "max-age-days",
            PolicyParam::ArchiveAfterDaysWithoutPull => "archive-after-days-without-pull",
            PolicyParam::ExpireArchivedAfterDays => "expire-archived-after-days",
            PolicyParam::TagPrefix => "tag-prefix",
            PolicyParam::TagPattern => "tag-pattern",
            PolicyParam::Protect => "protect",
        }
    }

    /// The `Custom::EcrRepository` property a user wrote for it (`None`: the resource has none;
    /// its tag patterns are written in `TagPrefixes`).
    pub fn property(self) -> Option<&'static str> {
        match self {
            PolicyParam::KeepTagged => Some("ImageRetentionCount"),
            PolicyParam::UntaggedDays => Some("UntaggedRetentionDays"),
            PolicyParam::MaxAgeDays => None,
            PolicyParam::ArchiveAfterDaysWithoutPull => Some("ArchiveAfterDaysWithoutPull"),
            PolicyParam::ExpireArchivedAfterDays => Some("ExpireArchivedAfterDays"),
            PolicyParam::TagPrefix | PolicyParam::TagPattern => Some("TagPrefixes"),
            PolicyParam::Protect => Some("ProtectedTags"),
        }
    }
}

impl std::fmt::Display for PolicyParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.flag())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error("{parameter}: {message}")]
    Parameter { parameter: PolicyParam, message: String },
    #[error("the generated policy would have {0} rules; ECR accepts at most {MAX_RULES} (fewer prefixes, patterns or protected tags)")]
    TooManyRules(usize),
    #[error("the generated policy is not valid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Violation>),
}

fn param(parameter: PolicyParam, message: impl Into<String>) -> GenerateError {
    GenerateError::Parameter { parameter, message: message.into() }
}

/// Builds the policy; it always passes [`validate`].
/// The prefixes and patterns the keep rules select: `v` when none is given.
fn kept_selections(params: &PolicyParams) -> (Vec<String>, Vec<String>) {
    if params.tag_prefixes.is_empty() && params.tag_patterns.is_empty() {
        (vec![DEFAULT_TAG_PREFIX.to_string()], Vec::new())
    } else {
        (dedup(&params.tag_prefixes), dedup(&params.tag_patterns))
    }
}

/// Whether every tag a selection glob matches is also matched by a protected pattern, which
/// comes first: then the selection's keep rule never sees an image.
fn shields(protected: &str, selection: &str) -> bool {
    match protected.strip_suffix('*') {
        Some(start) if !start.contains('*') => selection.starts_with(start) && !selection[..start.len()].contains('*'),
        _ => false,
    }
}

/// What the generated policy will do that its parameters may not mean, one line each: a keep
/// rule no image reaches behind a protected pattern, an archive expiry with nothing archived.
pub fn generation_notes(params: &PolicyParams) -> Vec<String> {
    let mut notes = Vec::new();
    let (prefixes, patterns) = kept_selections(params);
    let selections = prefixes
        .iter()
        .map(|p| (PolicyParam::TagPrefix, p.clone(), format!("{p}*")))
        .chain(patterns.iter().map(|p| (PolicyParam::TagPattern, p.clone(), p.clone())));
    for (param, given, glob) in selections {
        if let Some(protected) = params.protected.iter().find(|g| shields(g, &glob)) {
            notes.push(format!(
                "--{} {given}: every tag it selects also matches --{} {protected}, whose rule comes first, so its \
                 keep-last-{} rule never applies (those images are never expired)",
                param.flag(),
                PolicyParam::Protect.flag(),
                params.keep_tagged
            ));
        }
    }
    if let (Some(days), None) = (params.expire_archived_after_days, params.archive_after_days) {
        notes.push(format!(
            "--{} {days}: no rule of this policy archives (add --{} D), so it expires only images archived \
             by hand or by an earlier policy",
            PolicyParam::ExpireArchivedAfterDays.flag(),
            PolicyParam::ArchiveAfterDaysWithoutPull.flag()
        ));
    }
    notes
}

pub fn generate(params: &PolicyParams) -> Result<LifecyclePolicy, GenerateError> {
    check_params(params)?;
    let (prefixes, patterns) = kept_selections(params);

    let mut rules = Vec::new();
    // The in-use pin first: a running image is never expired or archived, whatever else matches.
    if params.protect_in_use {
        rules.push(tagged(
            Filter::Prefix(PIN_TAG_PREFIX.to_string()),
            format!("Never expire or archive images pinned in use ({PIN_TAG_PREFIX}*)"),
            CountType::ImageCountMoreThan,
            PROTECT_COUNT,
            ActionType::Expire,
        ));
    }
    // Protected first: their match shields the images from every later rule.
    for pattern in dedup(&params.protected) {
        rules.push(tagged(
            Filter::Pattern(pattern.clone()),
            format!("Never expire images tagged {pattern}"),
            CountType::ImageCountMoreThan,
            PROTECT_COUNT,
            ActionType::Expire,
        ));
    }
    let n = params.keep_tagged;
    for prefix in prefixes {
        rules.push(tagged(
            Filter::Prefix(prefix.clone()),
            format!("Keep last {} tagged {prefix}*", super::count(n.into(), "image", "images")),
            CountType::ImageCountMoreThan,
            n,
            ActionType::Expire,
        ));
    }
    for pattern in patterns {
        rules.push(tagged(
            Filter::Pattern(pattern.clone()),
            format!("Keep last {} tagged {pattern}", super::count(n.into(), "image", "images")),
            CountType::ImageCountMoreThan,
            n,
            ActionType::Expire,
        ));
    }
    let d = params.untagged_days;
    rules.push(rule(
        TagStatus::Untagged,
        None,
        format!("Expire untagged images after {d} days"),
        CountType::SinceImagePushed,
        d,
        ActionType::Expire,
    ));
    // `any` must come last in its storage class, so only one catch-all can exist.
    if let Some(days) = params.max_age_days {
        rules.push(rule(
            TagStatus::Any,
            None,
            format!("Expire any other image older than {days} days"),
            CountType::SinceImagePushed,
            days,
            ActionType::Expire,
        ));
    } else if let Some(days) = params.archive_after_days {
        rules.push(rule(
            TagStatus::Any,
            None,
            format!("Archive any other image not pulled for {days} days"),
            CountType::SinceImagePulled,
            days,
            ActionType::Transition,
        ));
    }
    // Archived images have their own storage class, so this catch-all does not compete with the
    // standard-class one above.
    if let Some(days) = params.expire_archived_after_days {
        let mut expire = rule(
            TagStatus::Any,
            None,
            format!("Expire archived images {days} days after archiving"),
            CountType::SinceImageTransitioned,
            days,
            ActionType::Expire,
        );
        expire.selection.storage_class = Some(StorageClass::Archive);
        rules.push(expire);
    }

    if rules.len() > MAX_RULES {
        return Err(GenerateError::TooManyRules(rules.len()));
    }
    for (i, r) in rules.iter_mut().enumerate() {
        r.rule_priority = i as u32 + 1;
    }
    let policy = LifecyclePolicy { rules };
    let violations = validate(&policy);
    if violations.is_empty() {
        Ok(policy)
    } else {
        Err(GenerateError::Invalid(violations))
    }
}

fn check_params(p: &PolicyParams) -> Result<(), GenerateError> {
    if p.keep_tagged == 0 {
        return Err(param(PolicyParam::KeepTagged, "must be at least 1"));
    }
    if p.untagged_days == 0 {
        return Err(param(PolicyParam::UntaggedDays, "must be at least 1"));
    }
    if p.max_age_days == Some(0) {
        return Err(param(PolicyParam::MaxAgeDays, "must be at least 1"));
    }
    if p.archive_after_days == Some(0) {
        return Err(param(PolicyParam::ArchiveAfterDaysWithoutPull, "must be at least 1"));
    }
    if let Some(days) = p.expire_archived_after_days.filter(|d| *d < MIN_ARCHIVE_EXPIRY_DAYS) {
        return Err(param(
            PolicyParam::ExpireArchivedAfterDays,
            format!("must be at least {MIN_ARCHIVE_EXPIRY_DAYS}, not {days}: ECR refuses an earlier expiry because archived images are billed for 90 days at least"),
        ));
    }
    if p.max_age_days.is_some() && p.archive_after_days.is_some() {
        return Err(param(
            PolicyParam::MaxAgeDays,
            "cannot be combined with archive-after-days-without-pull: both are catch-all (tagStatus \"any\") rules, and ECR allows only one, evaluated last",
        ));
    }
    for (parameter, list) in [
        (PolicyParam::TagPrefix, &p.tag_prefixes),
        (PolicyParam::TagPattern, &p.tag_patterns),
        (PolicyParam::Protect, &p.protected),
    ] {
        for entry in list {
            if entry.is_empty() {
                return Err(param(parameter, "entries must not be empty"));
            }
            if parameter != PolicyParam::TagPrefix && entry.matches('*').count() > MAX_WILDCARDS_PER_PATTERN {
                return Err(param(
                    parameter,
                    format!("\"{entry}\" has more than {MAX_WILDCARDS_PER_PATTERN} wildcards (*), which ECR rejects"),
                ));
            }
            if parameter == PolicyParam::TagPrefix && entry.contains('*') {
                return Err(param(parameter, format!("\"{entry}\" contains '*'; use --tag-pattern for wildcards")));
            }
        }
    }
    Ok(())
}

fn dedup(list: &[String]) -> Vec<String> {
    let mut seen = Vec::new();
    for item in list {
        if !seen.contains(item) {
            seen.push(item.clone());
        }
    }
    seen
}

enum Filter {
    Prefix(String),
    Pattern(String),
}

fn tagged(filter: Filter, description: String, count: CountType, n: u32, action: ActionType) -> Rule {
    rule(TagStatus::Tagged, Some(filter), description, count, n, action)
}

fn rule(
    status: TagStatus,
    filter: Option<Filter>,
    description: String,
    count_type: CountType,
    count_number: u32,
    action: ActionType,
) -> Rule {
    let (tag_prefix_list, tag_pattern_list) = match filter {
        Some(Filter::Prefix(p)) => (Some(vec![p]), None),
        Some(Filter::Pattern(p)) => (None, Some(vec![p])),
        None => (None, None),
    };
    Rule {
        rule_priority: 0, // numbered by `generate` once the order is final
        description: Some(description),
        selection: Selection {
            tag_status: status,
            tag_pattern_list,
            tag_prefix_list,
            storage_class: None,
            count_type,
            count_unit: count_type.is_age().then_some(CountUnit::Days),
            count_number,
        },
        action: Action {
            kind: action,
            target_storage_class: (action == ActionType::Transition).then_some(StorageClass::Archive),
        },
    }
}
