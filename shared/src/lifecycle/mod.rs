//! Lifecycle policies: the grammar, ECR's validation rules, generation from simple parameters,
//! and an exact offline simulator of what ECR will expire or archive.

mod generate;
mod model;
mod parse;
mod report;
mod simulate;
mod validate;

pub use crate::tag_match::TagMatcher;
pub use generate::{
    generate, generation_notes, GenerateError, PolicyParam, PolicyParams, DEFAULT_KEEP_TAGGED, DEFAULT_TAG_PREFIX,
    DEFAULT_UNTAGGED_DAYS, PROTECT_COUNT,
};
pub use model::{Action, ActionType, CountType, CountUnit, LifecyclePolicy, Rule, Selection, StorageClass, TagStatus};
pub use parse::{parse_authored_policy, parse_policy, policy_notes, PolicyError};
pub use report::{
    count, human_bytes, render_table, to_second, AtRisk, PreviewAction, PreviewReport, PreviewSummary, UnmanagedImage,
};
pub use simulate::{describe_age, simulate, Decision, Fate, Plan, PlanSummary};
pub use validate::{validate, Violation, MAX_RULES, MAX_TEXT_CHARS, MIN_ARCHIVE_EXPIRY_DAYS, MIN_TEXT_CHARS};

#[cfg(test)]
mod tests;
