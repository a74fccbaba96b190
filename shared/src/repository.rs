//! Repositories: their settings as ECR reports them, and the desired repository spec parsed from
//! `Custom::EcrRepository` properties (which CloudFormation delivers as strings).

use crate::lifecycle::{generate, parse_policy, LifecyclePolicy, PolicyParams};
use serde_json::{json, Map, Value};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagMutability {
    Mutable,
    Immutable,
    ImmutableWithExclusion,
    MutableWithExclusion,
}

impl TagMutability {
    pub const ACCEPTED: &'static [&'static str] =
        &["MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mutable => "MUTABLE",
            Self::Immutable => "IMMUTABLE",
            Self::ImmutableWithExclusion => "IMMUTABLE_WITH_EXCLUSION",
            Self::MutableWithExclusion => "MUTABLE_WITH_EXCLUSION",
        }
    }

    pub fn from_wire(text: &str) -> Option<Self> {
        Self::ACCEPTED
            .iter()
            .position(|a| *a == text)
            .map(|i| [Self::Mutable, Self::Immutable, Self::ImmutableWithExclusion, Self::MutableWithExclusion][i])
    }

    pub fn takes_exclusions(self) -> bool {
        matches!(self, Self::ImmutableWithExclusion | Self::MutableWithExclusion)
    }
}

impl fmt::Display for TagMutability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    Aes256,
    /// `key` is a KMS key ARN or id; `None` means ECR's AWS-managed key.
    Kms {
        key: Option<String>,
    },
}

impl Encryption {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Aes256 => "AES256",
            Self::Kms { .. } => "KMS",
        }
    }

    /// Whether a repository encrypted as `actual` satisfies this desired setting. A KMS
    /// repository created without a key reports the AWS-managed key's ARN, so only an explicit
    /// desired key is compared.
    pub fn satisfied_by(&self, actual: &Encryption) -> bool {
        match (self, actual) {
            (Self::Aes256, Self::Aes256) => true,
            (Self::Kms { key: None }, Self::Kms { .. }) => true,
            (Self::Kms { key: Some(want) }, Self::Kms { key: Some(have) }) => {
                want == have || have.ends_with(&format!("/{want}"))
            }
            _ => false,
        }
    }
}

/// What ECR calls the repository's configuration: the settings the resource manages directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySettings {
    pub tag_mutability: TagMutability,
    pub exclusion_filters: Vec<String>,
    pub scan_on_push: bool,
    pub encryption: Encryption,
}

/// A repository as ECR describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub name: String,
    pub arn: String,
    pub uri: String,
    pub registry_id: String,
    pub settings: RepositorySettings,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResourceTag {
    pub key: String,
    pub value: String,
}

impl ResourceTag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        ResourceTag { key: key.into(), value: value.into() }
    }
}

/// What happens to the repository when its resource is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionMode {
    /// Delete only if it holds no images; otherwise keep it and say so.
    RetainIfNotEmpty,
    Retain,
    /// Delete it with every image in it.
    Force,
}

impl DeletionMode {
    pub const ACCEPTED: &'static [&'static str] = &["RetainIfNotEmpty", "Retain", "Force"];

    pub fn from_wire(text: &str) -> Option<Self> {
        match text {
            "RetainIfNotEmpty" => Some(Self::RetainIfNotEmpty),
            "Retain" => Some(Self::Retain),
            "Force" => Some(Self::Force),
            _ => None,
        }
    }
}

/// The desired repository, from `Custom::EcrRepository` properties.
#[derive(Debug, Clone, PartialEq)]
pub struct RepositorySpec {
    pub name: String,
    pub settings: RepositorySettings,
    pub lifecycle_policy: LifecyclePolicy,
    /// True when the policy came from `LifecyclePolicyText` rather than the retention properties.
    pub raw_lifecycle_policy: bool,
    pub read_principals: Vec<String>,
    pub read_write_principals: Vec<String>,
    pub tags: Vec<ResourceTag>,
    pub deletion_mode: DeletionMode,
    pub adopt_existing: bool,
    pub max_images_expired_by_update: Option<u32>,
}

/// The actions a pull grant allows (the seed's IAM section).
pub const PULL_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetAuthorizationToken",
];
/// What a push grant adds on top of pull.
pub const PUSH_ACTIONS: &[&str] =
    &["ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"];

/// Tag keys ecr-keeper writes to mark the repositories a resource manages.
pub const OWNER_STACK_TAG: &str = "ecr-keeper:stack-id";
pub const OWNER_LOGICAL_ID_TAG: &str = "ecr-keeper:logical-id";
/// Present on repositories the resource took over rather than created: they are never deleted
/// unless `DeletionMode` is `Force`.
pub const ADOPTED_TAG: &str = "ecr-keeper:adopted";

/// Who manages a repository, read from its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    pub stack_id: String,
    pub logical_id: String,
    pub adopted: bool,
}

impl Ownership {
    pub fn tags(&self) -> Vec<ResourceTag> {
        let mut tags = vec![
            ResourceTag::new(OWNER_STACK_TAG, &self.stack_id),
            ResourceTag::new(OWNER_LOGICAL_ID_TAG, &self.logical_id),
        ];
        if self.adopted {
            tags.push(ResourceTag::new(ADOPTED_TAG, "true"));
        }
        tags
    }

    pub fn from_tags(tags: &[ResourceTag]) -> Option<Self> {
        let get = |k: &str| tags.iter().find(|t| t.key == k).map(|t| t.value.clone());
        Some(Ownership {
            stack_id: get(OWNER_STACK_TAG)?,
            logical_id: get(OWNER_LOGICAL_ID_TAG)?,
            adopted: get(ADOPTED_TAG).is_some_and(|v| v == "true"),
        })
    }

    pub fn is(&self, stack_id: &str, logical_id: &str) -> bool {
        self.stack_id == stack_id && self.logical_id == logical_id
    }

    pub fn is_key(key: &str) -> bool {
        [OWNER_STACK_TAG, OWNER_LOGICAL_ID_TAG, ADOPTED_TAG].contains(&key)
    }
}

impl RepositorySpec {
    /// The repository policy granting the configured principals pull / push, or `None` when no
    /// principal is configured (then the resource leaves the repository policy alone).
    pub fn repository_policy(&self) -> Option<String> {
        let mut statements = Vec::new();
        if !self.read_principals.is_empty() {
            statements.push(json!({
                "Sid": "EcrKeeperPull",
                "Effect": "Allow",
                "Principal": {"AWS": self.read_principals},
                "Action": PULL_ACTIONS,
            }));
        }
        if !self.read_write_principals.is_empty() {
            let actions: Vec<&str> = PULL_ACTIONS.iter().chain(PUSH_ACTIONS).copied().collect();
            statements.push(json!({
                "Sid": "EcrKeeperPushPull",
                "Effect": "Allow",
                "Principal": {"AWS": self.read_write_principals},
                "Action": actions,
            }));
        }
        (!statements.is_empty()).then(|| json!({"Version": "2012-10-17", "Statement": statements}).to_string())
    }

    pub fn has_principals(&self) -> bool {
        !self.read_principals.is_empty() || !self.read_write_principals.is_empty()
    }
}

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
];

const RETENTION_PROPERTIES: &[&str] = &["ImageRetentionCount", "TagPrefixes", "UntaggedRetentionDays", "ProtectedTags"];

/// ECR's repository name rule: 2–256 characters of
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn check_repository_name(name: &str) -> Result<(), String> {
    const RULE: &str = "2–256 characters: lowercase letters and digits, separated by '.', '_', '__' or '-' runs, in '/'-separated parts";
    if !(2..=256).contains(&name.len()) {
        return Err(format!("\"{name}\" is {} characters; ECR accepts {RULE}", name.len()));
    }
    let component_ok = |part: &str| {
        let bytes = part.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if alnum(b) {
                i += 1;
                continue;
            }
            // A separator: '.', '_', '__', or a run of '-'; always followed by an alphanumeric.
            let run = bytes[i..].iter().take_while(|&&c| c == b).count();
            let ok = match b {
                b'.' => run == 1,
                b'_' => run <= 2,
                b'-' => true,
                _ => false,
            };
            if !ok {
                return false;
            }
            i += run;
        }
        true
    };
    if name.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(format!("\"{name}\" is not a valid repository name; ECR accepts {RULE}"))
    }
}

/// The marker physical id returned when a Create fails before any repository exists. It can
/// never be a repository name (it has ':'), so a later Delete recognises it and does nothing.
pub const FAILED_CREATE_MARKER: &str = "ecr-keeper:failed-create:";

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
                r.bad("RepositoryName", e);
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
        archive_after_days: None,
    };
    let lifecycle_policy = match &raw_text {
        Some(text) => match parse_policy(text) {
            Ok(p) => Some(p),
            Err(e) => {
                r.bad("LifecyclePolicyText", e.to_string().replace('\n', " "));
                None
            }
        },
        None => match generate(&retention) {
            Ok(p) => Some(p),
            Err(e) => {
                r.bad(generated_property(&e.to_string()), e.to_string());
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

/// Maps a generator parameter error back to the property a user wrote.
fn generated_property(message: &str) -> &'static str {
    if message.starts_with("keep-tagged") {
        "ImageRetentionCount"
    } else if message.starts_with("untagged-days") {
        "UntaggedRetentionDays"
    } else if message.starts_with("protect") {
        "ProtectedTags"
    } else {
        "TagPrefixes"
    }
}

/// Only `DeletionMode`, read leniently for Delete: an unreadable value keeps the repository.
pub fn deletion_mode_of(properties: &Value) -> Result<DeletionMode, String> {
    match properties.get("DeletionMode") {
        None | Some(Value::Null) => Ok(DeletionMode::RetainIfNotEmpty),
        Some(Value::String(s)) => DeletionMode::from_wire(s)
            .ok_or_else(|| format!("DeletionMode \"{s}\" is not one of {}", DeletionMode::ACCEPTED.join(", "))),
        Some(other) => Err(format!("DeletionMode must be a string, found {other}")),
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
}
