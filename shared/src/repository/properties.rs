//! The desired repository from `Custom::EcrRepository` properties, which CloudFormation delivers
//! as strings. Every problem is collected and named by its property.

use super::{
    check_repository_name, DeletionMode, Encryption, Ownership, RepositorySettings, RepositorySpec, ResourceTag,
    TagMutability,
};
use crate::image::PIN_TAG_PREFIX;
use crate::lifecycle::{generate, parse_authored_policy, GenerateError, PolicyParams, PROTECT_COUNT};
use serde_json::{Map, Value};
use std::fmt;

/// One reason the properties are not acceptable, naming the property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyError {
    pub property: String,
    pub message: String,
}

impl fmt::Display for PropertyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid properties: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct SpecError(pub Vec<PropertyError>);

/// Every property `Custom::EcrRepository` accepts. `ServiceToken` and `ServiceTimeout` are
/// CloudFormation's own.
pub const PROPERTIES: &[&str] = &[
    "ServiceToken",
    "ServiceTimeout",
    "RepositoryName",
    "ImageTagMutability",
    "ImageTagMutabilityExclusionFilters",
    "ScanOnPush",
    "EncryptionType",
    "KmsKey",
    "ImageRetentionCount",
    "TagPrefixes",
    "UntaggedRetentionDays",
    "ProtectedTags",
    "LifecyclePolicyText",
    "ReadPrincipals",
    "ReadWritePrincipals",
    "Tags",
    "DeletionMode",
    "AdoptExisting",
    "MaxImagesExpiredByUpdate",
    "ArchiveAfterDaysWithoutPull",
    "ExpireArchivedAfterDays",
    "ProtectInUse",
    "MaxInUseImagesExpiredByUpdate",
];

const RETENTION_PROPERTIES: &[&str] = &[
    "ImageRetentionCount",
    "TagPrefixes",
    "UntaggedRetentionDays",
    "ProtectedTags",
    "ArchiveAfterDaysWithoutPull",
    "ExpireArchivedAfterDays",
];

/// Reads every property, collecting every problem.
pub fn parse_spec(properties: &Value) -> Result<RepositorySpec, SpecError> {
    let empty = Map::new();
    let props = properties.as_object().unwrap_or(&empty);
    let mut r = Reader { props, errors: Vec::new() };

    // The accepted list once, after the last unknown property: a Reason has 4 KB.
    let unknown: Vec<&String> = props.keys().filter(|k| !PROPERTIES.contains(&k.as_str())).collect();
    for (i, key) in unknown.iter().enumerate() {
        let message = if i + 1 == unknown.len() {
            format!("unknown property (accepted: {})", PROPERTIES[2..].join(", "))
        } else {
            "unknown property".to_string()
        };
        r.bad(key, message);
    }

    let name = r.string("RepositoryName");
    match &name {
        None => r.bad("RepositoryName", "is required".into()),
        Some(n) => {
            if let Err(e) = check_repository_name(n) {
                r.bad("RepositoryName", e.to_string());
            }
        }
    }

    let tag_mutability = r.enumerated("ImageTagMutability", TagMutability::from_wire, TagMutability::ACCEPTED);
    let tag_mutability = tag_mutability.unwrap_or(TagMutability::Immutable);
    let exclusion_filters = r.exclusion_filters();
    match (tag_mutability.takes_exclusions(), exclusion_filters.is_empty()) {
        (true, true) => r.bad(
            "ImageTagMutabilityExclusionFilters",
            format!("is required with ImageTagMutability {tag_mutability} (1 to 5 wildcard filters)"),
        ),
        (false, false) => r.bad(
            "ImageTagMutabilityExclusionFilters",
            format!("is only allowed with IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION, not {tag_mutability}"),
        ),
        _ => {}
    }

    let scan_on_push = r.boolean("ScanOnPush").unwrap_or(true);
    let encryption = match r.enumerated(
        "EncryptionType",
        |s| ["AES256", "KMS"].contains(&s).then_some(s.to_string()),
        &["AES256", "KMS"],
    ) {
        Some(t) if t == "KMS" => Encryption::Kms { key: r.string("KmsKey") },
        _ => {
            if props.contains_key("KmsKey") {
                r.bad("KmsKey", "is only allowed with EncryptionType KMS".into());
            }
            Encryption::Aes256
        }
    };

    let raw_text = r.string("LifecyclePolicyText");
    let retention = PolicyParams {
        keep_tagged: r.positive("ImageRetentionCount").unwrap_or(crate::lifecycle::DEFAULT_KEEP_TAGGED),
        tag_prefixes: r.list("TagPrefixes").unwrap_or_else(|| vec![crate::lifecycle::DEFAULT_TAG_PREFIX.into()]),
        tag_patterns: Vec::new(),
        untagged_days: r.positive("UntaggedRetentionDays").unwrap_or(crate::lifecycle::DEFAULT_UNTAGGED_DAYS),
        protected: r.list("ProtectedTags").unwrap_or_default(),
        max_age_days: None,
        archive_after_days: r.positive("ArchiveAfterDaysWithoutPull"),
        expire_archived_after_days: r.positive("ExpireArchivedAfterDays"),
        protect_in_use: r.boolean("ProtectInUse").unwrap_or(false),
    };
    let lifecycle_policy = match &raw_text {
        Some(text) => match parse_authored_policy(text) {
            Ok(p) if retention.protect_in_use && !shields_pins(&p) => {
                r.bad(
                    "ProtectInUse",
                    format!(
                        "LifecyclePolicyText has no first rule for tagPrefixList [\"{PIN_TAG_PREFIX}\"] with imageCountMoreThan {PROTECT_COUNT}: add it, or leave LifecyclePolicyText out so the policy is generated"
                    ),
                );
                None
            }
            Ok(p) => Some(p),
            Err(e) => {
                r.bad("LifecyclePolicyText", e.to_string().replace('\n', " "));
                None
            }
        },
        None => match generate(&retention) {
            Ok(p) => Some(p),
            Err(e) => {
                r.bad(generated_property(&e), e.to_string());
                None
            }
        },
    };

    let read_principals = r.principals("ReadPrincipals");
    let read_write_principals = r.principals("ReadWritePrincipals");
    let tags = r.tags();
    let deletion_mode = r
        .enumerated("DeletionMode", DeletionMode::from_wire, DeletionMode::ACCEPTED)
        .unwrap_or(DeletionMode::RetainIfNotEmpty);
    let adopt_existing = r.boolean("AdoptExisting").unwrap_or(false);
    let max_images_expired_by_update = r.non_negative("MaxImagesExpiredByUpdate");
    let max_in_use_images_expired_by_update = r.non_negative("MaxInUseImagesExpiredByUpdate");

    match (r.errors.is_empty(), name, lifecycle_policy) {
        (true, Some(name), Some(lifecycle_policy)) => Ok(RepositorySpec {
            name,
            settings: RepositorySettings { tag_mutability, exclusion_filters, scan_on_push, encryption },
            lifecycle_policy,
            raw_lifecycle_policy: raw_text.is_some(),
            read_principals,
            read_write_principals,
            tags,
            deletion_mode,
            adopt_existing,
            max_images_expired_by_update,
            max_in_use_images_expired_by_update,
        }),
        _ => Err(SpecError(r.errors)),
    }
}

/// The retention properties that `LifecyclePolicyText` overrides, when both are given.
pub fn overridden_retention_properties(properties: &Value) -> Vec<&'static str> {
    match properties.get("LifecyclePolicyText") {
        Some(_) => RETENTION_PROPERTIES.iter().copied().filter(|p| properties.get(*p).is_some()).collect(),
        None => Vec::new(),
    }
}

/// A policy whose first rule shields in-use pins from every later rule.
fn shields_pins(policy: &crate::lifecycle::LifecyclePolicy) -> bool {
    policy.rules_by_priority().first().is_some_and(|r| {
        r.selection.tag_prefix_list.as_deref() == Some(&[PIN_TAG_PREFIX.to_string()][..])
            && r.selection.count_type == crate::lifecycle::CountType::ImageCountMoreThan
            && r.selection.count_number >= PROTECT_COUNT
    })
}

/// The property a user wrote that the generator refused: the parameter's own, else (too many
/// rules, an invalid result) the tag lists that make the policy.
fn generated_property(error: &GenerateError) -> &'static str {
    match error {
        GenerateError::Parameter { parameter, .. } => parameter.property().unwrap_or("TagPrefixes"),
        GenerateError::TooManyRules(_) | GenerateError::Invalid(_) => "TagPrefixes",
    }
}

/// Only `DeletionMode`, read leniently for Delete: an unreadable value keeps the repository.
pub fn deletion_mode_of(properties: &Value) -> Result<DeletionMode, PropertyError> {
    let bad = |message: String| PropertyError { property: "DeletionMode".into(), message };
    match properties.get("DeletionMode") {
        None | Some(Value::Null) => Ok(DeletionMode::RetainIfNotEmpty),
        Some(Value::String(s)) => DeletionMode::from_wire(s)
            .ok_or_else(|| bad(format!("\"{s}\" is not one of {}", DeletionMode::ACCEPTED.join(", ")))),
        Some(other) => Err(bad(format!("must be a string, found {other}"))),
    }
}

struct Reader<'a> {
    props: &'a Map<String, Value>,
    errors: Vec<PropertyError>,
}

impl Reader<'_> {
    fn bad(&mut self, property: &str, message: String) {
        self.errors.push(PropertyError { property: property.to_string(), message });
    }

    /// A scalar as CloudFormation sends it: a string (numbers and booleans are tolerated, as
    /// other callers of the function may send them typed).
    fn scalar(&mut self, key: &str) -> Option<String> {
        match self.props.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            other => {
                self.bad(key, format!("must be a string, found {other}"));
                None
            }
        }
    }

    fn string(&mut self, key: &str) -> Option<String> {
        self.scalar(key).filter(|s| !s.is_empty())
    }

    fn boolean(&mut self, key: &str) -> Option<bool> {
        let text = self.scalar(key)?;
        match text.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.bad(key, format!("\"{text}\" is not a boolean; use \"true\" or \"false\""));
                None
            }
        }
    }

    fn number(&mut self, key: &str, min: u32) -> Option<u32> {
        let text = self.scalar(key)?;
        match text.trim().parse::<u32>() {
            Ok(n) if n >= min => Some(n),
            _ => {
                self.bad(key, format!("\"{text}\" is not a whole number of at least {min}"));
                None
            }
        }
    }

    fn positive(&mut self, key: &str) -> Option<u32> {
        self.number(key, 1)
    }

    fn non_negative(&mut self, key: &str) -> Option<u32> {
        self.number(key, 0)
    }

    fn enumerated<T>(&mut self, key: &str, from_wire: impl Fn(&str) -> Option<T>, accepted: &[&str]) -> Option<T> {
        let text = self.scalar(key)?;
        let value = from_wire(&text);
        if value.is_none() {
            self.bad(key, format!("\"{text}\" is not one of {}", accepted.join(", ")));
        }
        value
    }

    /// A list of strings. CloudFormation sends lists as JSON arrays; a comma-separated string
    /// (what `CommaDelimitedList` parameters become through `Fn::Join`) is accepted too.
    fn list(&mut self, key: &str) -> Option<Vec<String>> {
        match self.props.get(key)? {
            Value::Array(items) => {
                let strings: Option<Vec<String>> = items.iter().map(|i| i.as_str().map(str::to_owned)).collect();
                match strings {
                    Some(list) => {
                        Some(list.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
                    }
                    None => {
                        self.bad(key, "must be a list of strings".into());
                        None
                    }
                }
            }
            Value::String(s) => Some(s.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()),
            other => {
                self.bad(key, format!("must be a list of strings, found {other}"));
                None
            }
        }
    }

    fn exclusion_filters(&mut self) -> Vec<String> {
        const KEY: &str = "ImageTagMutabilityExclusionFilters";
        let filters: Vec<String> = match self.props.get(KEY) {
            None | Some(Value::Null) => return Vec::new(),
            // Either plain wildcard strings or ECR's own {"filterType": "WILDCARD", "filter": "…"}.
            Some(Value::Array(items)) if items.iter().any(Value::is_object) => items
                .iter()
                .filter_map(|i| {
                    let filter = i.get("filter").or_else(|| i.get("Filter")).and_then(Value::as_str);
                    if filter.is_none() {
                        self.bad(KEY, format!("entry {i} has no \"filter\""));
                    }
                    filter.map(str::to_owned)
                })
                .collect(),
            Some(_) => self.list(KEY).unwrap_or_default(),
        };
        if filters.len() > 5 {
            self.bad(KEY, format!("has {} filters; ECR accepts 1 to 5", filters.len()));
        }
        for f in &filters {
            let ok = (1..=128).contains(&f.len()) && f.chars().all(|c| c.is_ascii_alphanumeric() || "._*-".contains(c));
            if !ok {
                self.bad(
                    KEY,
                    format!("\"{f}\" is not a wildcard filter (1–128 of letters, digits, '.', '_', '-', '*')"),
                );
            }
        }
        filters
    }

    fn principals(&mut self, key: &str) -> Vec<String> {
        let list = self.list(key).unwrap_or_default();
        for p in &list {
            let account = p.len() == 12 && p.chars().all(|c| c.is_ascii_digit());
            let arn = p.starts_with("arn:") && p.split(':').count() >= 6;
            if !(account || arn || p == "*") {
                self.bad(key, format!("\"{p}\" is not an IAM principal ARN or 12-digit account id"));
            }
            if p == "*" {
                self.bad(key, "\"*\" would open the repository to every AWS account; name the principals".into());
            }
        }
        list
    }

    fn tags(&mut self) -> Vec<ResourceTag> {
        let Some(value) = self.props.get("Tags") else { return Vec::new() };
        let Some(items) = value.as_array() else {
            self.bad("Tags", format!("must be a list of {{\"Key\": …, \"Value\": …}}, found {value}"));
            return Vec::new();
        };
        let mut tags = Vec::new();
        for item in items {
            let key = item.get("Key").and_then(Value::as_str);
            let value = item.get("Value").and_then(Value::as_str);
            match (key, value) {
                (Some(k), Some(v)) => {
                    if k.is_empty() || k.len() > 128 || v.len() > 256 {
                        self.bad("Tags", format!("tag \"{k}\": keys are 1–128 characters, values up to 256"));
                    } else if k.starts_with("aws:") || Ownership::is_key(k) {
                        self.bad("Tags", format!("tag key \"{k}\" is reserved"));
                    } else {
                        tags.push(ResourceTag::new(k, v));
                    }
                }
                _ => self.bad("Tags", format!("entry {item} needs string \"Key\" and \"Value\"")),
            }
        }
        tags
    }
}

#[cfg(test)]
mod spec_tests {
    use super::*;

    #[test]
    fn several_unknown_properties_list_the_accepted_ones_once() {
        let props = serde_json::json!({"RepositoryName": "app", "Retention": "1", "Colour": "red", "Size": "L"});
        let text = parse_spec(&props).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(text.matches("accepted:").count(), 1, "{text}");
        for key in ["Retention", "Colour", "Size"] {
            assert!(text.contains(&format!("{key}: unknown property")), "{text}");
        }
    }

    #[test]
    fn a_refused_retention_value_is_blamed_on_the_property_that_carried_it() {
        let cases = [
            (serde_json::json!({"ImageRetentionCount": "0"}), "ImageRetentionCount"),
            (serde_json::json!({"UntaggedRetentionDays": "0"}), "UntaggedRetentionDays"),
            (serde_json::json!({"ArchiveAfterDaysWithoutPull": "0"}), "ArchiveAfterDaysWithoutPull"),
            (
                serde_json::json!({"ArchiveAfterDaysWithoutPull": "30", "ExpireArchivedAfterDays": "10"}),
                "ExpireArchivedAfterDays",
            ),
            (serde_json::json!({"ProtectedTags": ["a*b*c*d*e*f"]}), "ProtectedTags"),
            (serde_json::json!({"TagPrefixes": ["rel*"]}), "TagPrefixes"),
        ];
        for (mut props, property) in cases {
            props["RepositoryName"] = serde_json::json!("app");
            let errors = parse_spec(&props).err().map(|e| e.0).unwrap_or_default();
            let blamed: Vec<&str> = errors.iter().map(|e| e.property.as_str()).collect();
            assert_eq!(blamed, [property], "{props}: {errors:?}");
        }
    }
}
