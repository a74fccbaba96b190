//! The lifecycle policy grammar ECR accepts, as typed values.
//!
//! Field names and order follow the ECR User Guide so that a policy we write reads like the
//! examples people copy from it. Parsing user text goes through [`super::parse_policy`], which
//! reports every problem at once; the serde derives here are for writing policies out and for
//! round-trips.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A whole lifecycle policy: `{"rules": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecyclePolicy {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rule {
    pub rule_priority: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub selection: Selection,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Selection {
    pub tag_status: TagStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_pattern_list: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_prefix_list: Option<Vec<String>>,
    /// Absent means `standard`; kept as written so a policy round-trips unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    pub count_type: CountType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_unit: Option<CountUnit>,
    pub count_number: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Action {
    #[serde(rename = "type")]
    pub kind: ActionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_storage_class: Option<StorageClass>,
}

/// Declares a string enum with its JSON spelling, once: serde, `Display`, parsing and the list
/// of accepted values (for error messages) all come from the same table.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $wire)] $variant),+ }

        impl $name {
            pub const ACCEPTED: &'static [&'static str] = &[$($wire),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }

            pub fn from_wire(text: &str) -> Option<Self> {
                match text { $($wire => Some(Self::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Which images a rule's filter considers by their tags.
    TagStatus { Tagged = "tagged", Untagged = "untagged", Any = "any" }
);
wire_enum!(
    /// Where an image is stored: `standard` (ACTIVE images) or `archive` (ARCHIVED images).
    StorageClass { Standard = "standard", Archive = "archive" }
);
/// Here rather than in `image`: an image's status knows nothing of lifecycle rules.
impl crate::image::ImageStatus {
    /// The storage class whose rules apply to an image in this status.
    pub fn storage_class(self) -> Option<StorageClass> {
        match self {
            Self::Active => Some(StorageClass::Standard),
            Self::Archived => Some(StorageClass::Archive),
            Self::Activating => None,
        }
    }
}

wire_enum!(
    CountType {
        ImageCountMoreThan = "imageCountMoreThan",
        SinceImagePushed = "sinceImagePushed",
        SinceImagePulled = "sinceImagePulled",
        SinceImageTransitioned = "sinceImageTransitioned",
    }
);
wire_enum!(CountUnit { Days = "days" });
wire_enum!(ActionType { Expire = "expire", Transition = "transition" });

impl CountType {
    /// The `since*` count types measure age in `countUnit`; only the count type has no unit.
    pub fn is_age(self) -> bool {
        !matches!(self, CountType::ImageCountMoreThan)
    }
}

impl Selection {
    pub fn storage_class(&self) -> StorageClass {
        self.storage_class.unwrap_or(StorageClass::Standard)
    }

    /// The tag filter entries of a `tagged` rule, and whether they are prefixes.
    pub fn tag_filter(&self) -> (&[String], bool) {
        match (&self.tag_prefix_list, &self.tag_pattern_list) {
            (Some(prefixes), _) => (prefixes, true),
            (None, Some(patterns)) => (patterns, false),
            (None, None) => (&[], false),
        }
    }
}

impl Rule {
    /// A short human description of what the rule selects, e.g. `images tagged v*` or
    /// `untagged images`, used in simulator explanations.
    pub fn selection_phrase(&self) -> String {
        let sel = &self.selection;
        let class = match sel.storage_class() {
            StorageClass::Standard => "",
            StorageClass::Archive => "archived ",
        };
        match sel.tag_status {
            TagStatus::Any => format!("all {class}images"),
            TagStatus::Untagged => format!("untagged {class}images"),
            TagStatus::Tagged => {
                let (entries, prefixes) = sel.tag_filter();
                let shown: Vec<String> =
                    entries.iter().map(|e| if prefixes { format!("{e}*") } else { e.clone() }).collect();
                match shown.as_slice() {
                    [one] => format!("{class}images matching {one}"),
                    many => format!("{class}images matching all of {}", many.join(", ")),
                }
            }
        }
    }
}

impl LifecyclePolicy {
    /// The policy as ECR's `lifecyclePolicyText`: compact JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Rules ordered by priority, lowest number (applied first) first.
    pub fn rules_by_priority(&self) -> Vec<&Rule> {
        let mut rules: Vec<&Rule> = self.rules.iter().collect();
        rules.sort_by_key(|r| r.rule_priority);
        rules
    }
}
