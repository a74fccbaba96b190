//! TAG-1 and ENC-1: the repository's own settings.

use super::result;
use crate::audit::model::{CheckResult, CheckSeverity, Status};
use crate::repository::{Encryption, Repository, TagMutability};
use serde_json::{json, Value};

pub(super) fn tag_immutability(repo: &Repository) -> CheckResult {
    let exclusions = &repo.settings.exclusion_filters;
    match repo.settings.tag_mutability {
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
    }
}

pub(super) fn encryption(repo: &Repository, require_kms: bool) -> CheckResult {
    match &repo.settings.encryption {
        Encryption::Kms { key } => {
            result("ENC-1", Status::Pass, CheckSeverity::Low, "encrypted with KMS", json!({"kmsKey": key}))
        }
        Encryption::Aes256 if require_kms => result(
            "ENC-1",
            Status::Fail,
            CheckSeverity::Low,
            "encrypted with AES256; a customer-managed KMS key is required",
            Value::Null,
        ),
        Encryption::Aes256 => {
            result("ENC-1", Status::Info, CheckSeverity::Low, "encrypted with AES256 (ECR-managed keys)", Value::Null)
        }
    }
}
