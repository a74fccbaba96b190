//! Repositories: their settings as ECR reports them, ownership tags, and the desired repository
//! spec. Reading the spec from `Custom::EcrRepository` properties is in `properties`, ECR's name
//! rule in `name`, the repository policy the spec grants in `access_policy`.

mod access_policy;
mod name;
mod properties;

pub use access_policy::{PULL_ACTIONS, PUSH_ACTIONS};
pub use name::{check_repository_name, NameError};
pub use properties::{
    deletion_mode_of, overridden_retention_properties, parse_spec, PropertyError, SpecError, PROPERTIES,
};

use crate::lifecycle::LifecyclePolicy;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
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

/// Serialized as ECR names the types (a shard of a scheduled run carries it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Encryption {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "KMS")]
    /// `key` is a KMS key ARN or id; `None` means ECR's AWS-managed key.
    Kms { key: Option<String> },
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositorySettings {
    pub tag_mutability: TagMutability,
    pub exclusion_filters: Vec<String>,
    pub scan_on_push: bool,
    pub encryption: Encryption,
}

/// A repository as ECR describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    /// At most this many images that workloads run may be expired or archived by an Update's
    /// policy (checked when the function reads workloads; 0 when not given).
    pub max_in_use_images_expired_by_update: Option<u32>,
}

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

    /// The tag keys that say who owns a repository.
    pub const KEYS: [&'static str; 3] = [OWNER_STACK_TAG, OWNER_LOGICAL_ID_TAG, ADOPTED_TAG];

    pub fn is_key(key: &str) -> bool {
        Self::KEYS.contains(&key)
    }
}

/// The marker physical id returned when a Create fails before any repository exists. It can
/// never be a repository name (it has ':'), so a later Delete recognises it and does nothing.
pub const FAILED_CREATE_MARKER: &str = "ecr-keeper:failed-create:";
