//! `AsIamAllows`: a `Registry` that refuses, with ECR's AccessDeniedException, every call the
//! custom resource's role in `template.yaml` would be refused (`RepositoryResourceRole`; the same
//! rules `tests/support/check_iam.py` evaluates on the policy document). The data-safety tests
//! run the provisioner through it, so "the code never touches what it does not own" is checked
//! against what IAM would really let through, and code that tried anyway is stopped as in AWS.

use ecr_keeper_core::image::Image;
use ecr_keeper_core::ports::prelude::*;
use ecr_keeper_core::ports::{Registry, RegistryError};
use ecr_keeper_core::repository::{
    Ownership, Repository, RepositorySettings, ResourceTag, TagMutability, ADOPTED_TAG, OWNER_LOGICAL_ID_TAG,
    OWNER_STACK_TAG,
};
use ecr_keeper_core::scanning::RegistryScanning;
use std::sync::{Arc, Mutex};

pub struct AsIamAllows<R> {
    pub inner: R,
    /// The template's `AllowAdoption` parameter.
    pub allow_adoption: bool,
    /// Every refused call: (operation, repository); shared, so a test can read it after the
    /// wrapper moved into a handler.
    pub refused: Refusals,
}

pub type Refusals = Arc<Mutex<Vec<(&'static str, String)>>>;

impl<R: Registry> AsIamAllows<R> {
    pub fn new(inner: R, allow_adoption: bool) -> Self {
        AsIamAllows { inner, allow_adoption, refused: Refusals::default() }
    }

    fn deny(&self, operation: &'static str, subject: &str) -> RegistryError {
        if let Ok(mut r) = self.refused.lock() {
            r.push((operation, subject.to_string()));
        }
        RegistryError::AccessDenied {
            operation,
            message: format!("not authorized to perform ecr:{operation} on {subject} (the IAM stand-in)"),
        }
    }

    /// `aws:ResourceTag/ecr-keeper:stack-id` is present (a missing repository passes: ECR
    /// answers "not found" itself, which is what the code expects).
    async fn owned(&self, name_or_arn: &str) -> Result<bool, RegistryError> {
        let arn = if name_or_arn.starts_with("arn:") {
            name_or_arn.to_string()
        } else {
            match self.inner.describe_repository(name_or_arn).await? {
                Some(repo) => repo.arn,
                None => return Ok(true),
            }
        };
        match self.inner.list_tags(&arn).await {
            Ok(tags) => Ok(tags.iter().any(|t| t.key == OWNER_STACK_TAG)),
            Err(RegistryError::RepositoryNotFound(_)) => Ok(true),
            Err(e) => Err(e),
        }
    }

    async fn require_owned(&self, operation: &'static str, subject: &str) -> Result<(), RegistryError> {
        if self.owned(subject).await? {
            Ok(())
        } else {
            Err(self.deny(operation, subject))
        }
    }
}

fn has(tags: &[ResourceTag], key: &str) -> bool {
    tags.iter().any(|t| t.key == key)
}

/// The request carries the ownership tags a creation carries (statement CreateOwnedRepositories).
fn creation_tags(tags: &[ResourceTag]) -> bool {
    has(tags, OWNER_STACK_TAG) && has(tags, OWNER_LOGICAL_ID_TAG) && !has(tags, ADOPTED_TAG)
}

impl<R: Registry> RegistryReads for AsIamAllows<R> {
    async fn describe_repository(&self, name: &str) -> Result<Option<Repository>, RegistryError> {
        self.inner.describe_repository(name).await
    }

    async fn list_repositories(&self, prefix: Option<&str>) -> Result<Vec<Repository>, RegistryError> {
        self.inner.list_repositories(prefix).await
    }

    async fn get_lifecycle_policy(&self, name: &str) -> Result<Option<String>, RegistryError> {
        self.inner.get_lifecycle_policy(name).await
    }

    async fn get_repository_policy(&self, name: &str) -> Result<Option<String>, RegistryError> {
        self.inner.get_repository_policy(name).await
    }

    async fn list_tags(&self, arn: &str) -> Result<Vec<ResourceTag>, RegistryError> {
        self.inner.list_tags(arn).await
    }

    async fn describe_images(&self, name: &str) -> Result<Vec<Image>, RegistryError> {
        self.inner.describe_images(name).await
    }

    async fn has_images(&self, name: &str) -> Result<bool, RegistryError> {
        self.inner.has_images(name).await
    }

    async fn get_manifests(
        &self,
        name: &str,
        _digests: &[String],
    ) -> Result<Vec<(String, Option<String>, String)>, RegistryError> {
        // Not in the custom resource's role.
        Err(self.deny("BatchGetImage", name))
    }

    async fn pull_time_update_exclusions(&self) -> Result<Vec<String>, RegistryError> {
        Err(self.deny("ListPullTimeUpdateExclusions", "*"))
    }

    async fn get_registry_scanning(&self) -> Result<RegistryScanning, RegistryError> {
        Err(self.deny("GetRegistryScanningConfiguration", "*"))
    }

    async fn registry_rules(&self) -> Result<ecr_keeper_core::registry::RegistryRules, RegistryError> {
        Err(self.deny("DescribeRepositoryCreationTemplates", "*"))
    }

    async fn describe_scan_findings(
        &self,
        name: &str,
        _digest: &str,
    ) -> Result<Option<ecr_keeper_core::image::ScanFindings>, RegistryError> {
        Err(self.deny("DescribeImageScanFindings", name))
    }
}

impl<R: Registry> SettingsWrites for AsIamAllows<R> {
    async fn put_tag_mutability(&self, name: &str, m: TagMutability, f: &[String]) -> Result<(), RegistryError> {
        self.require_owned("PutImageTagMutability", name).await?;
        self.inner.put_tag_mutability(name, m, f).await
    }

    async fn put_scan_on_push(&self, name: &str, on: bool) -> Result<(), RegistryError> {
        self.require_owned("PutImageScanningConfiguration", name).await?;
        self.inner.put_scan_on_push(name, on).await
    }

    async fn put_lifecycle_policy(&self, name: &str, text: &str) -> Result<(), RegistryError> {
        self.require_owned("PutLifecyclePolicy", name).await?;
        self.inner.put_lifecycle_policy(name, text).await
    }

    async fn set_repository_policy(&self, name: &str, text: &str) -> Result<(), RegistryError> {
        self.require_owned("SetRepositoryPolicy", name).await?;
        self.inner.set_repository_policy(name, text).await
    }

    async fn delete_repository_policy(&self, name: &str) -> Result<(), RegistryError> {
        self.require_owned("DeleteRepositoryPolicy", name).await?;
        self.inner.delete_repository_policy(name).await
    }

    async fn create_creation_template(
        &self,
        template: &ecr_keeper_core::registry::CreationTemplate,
    ) -> Result<(), RegistryError> {
        Err(self.deny("CreateRepositoryCreationTemplate", &template.prefix))
    }

    async fn register_pull_time_update_exclusion(&self, principal: &str) -> Result<(), RegistryError> {
        Err(self.deny("RegisterPullTimeUpdateExclusion", principal))
    }
}

impl<R: Registry> RepositoryAdmin for AsIamAllows<R> {
    async fn create_repository(
        &self,
        name: &str,
        s: &RepositorySettings,
        t: &[ResourceTag],
    ) -> Result<Repository, RegistryError> {
        if !creation_tags(t) {
            return Err(self.deny("CreateRepository", name));
        }
        self.inner.create_repository(name, s, t).await
    }

    async fn delete_repository(&self, name: &str, force: bool) -> Result<(), RegistryError> {
        self.require_owned("DeleteRepository", name).await?;
        self.inner.delete_repository(name, force).await
    }

    async fn tag_repository(&self, arn: &str, tags: &[ResourceTag]) -> Result<(), RegistryError> {
        let owned = match self.inner.list_tags(arn).await {
            Ok(current) => has(&current, OWNER_STACK_TAG),
            // ECR answers a missing repository itself.
            Err(RegistryError::RepositoryNotFound(_)) => return self.inner.tag_repository(arn, tags).await,
            Err(e) => return Err(e),
        };
        let ownership = tags.iter().any(|t| Ownership::is_key(&t.key));
        let allowed = if owned {
            // TagOwnedRepositories: any tag but the ownership keys (NeverRewriteOwnership denies those).
            !ownership
        } else {
            // CreateOwnedRepositories (IAM cannot tell creation from an untagged repository), and
            // AdoptUnownedRepositories behind AllowAdoption; both only where no owner tag is.
            creation_tags(tags) || (self.allow_adoption && has(tags, OWNER_STACK_TAG) && has(tags, ADOPTED_TAG))
        };
        if !allowed {
            return Err(self.deny("TagResource", arn));
        }
        self.inner.tag_repository(arn, tags).await
    }

    async fn untag_repository(&self, arn: &str, keys: &[String]) -> Result<(), RegistryError> {
        // TagOwnedRepositories: an owned repository's tags, the ownership ones included (the
        // release of a repository its resource keeps).
        self.require_owned("UntagResource", arn).await?;
        self.inner.untag_repository(arn, keys).await
    }
}

impl<R: Registry> ImageWrites for AsIamAllows<R> {
    async fn put_image_tag(
        &self,
        name: &str,
        _digest: &str,
        _media_type: Option<&str>,
        _manifest: &str,
        _tag: &str,
    ) -> Result<(), RegistryError> {
        Err(self.deny("PutImage", name))
    }

    async fn remove_image_tag(&self, name: &str, _tag: &str) -> Result<(), RegistryError> {
        Err(self.deny("BatchDeleteImage", name))
    }

    async fn start_image_scan(&self, name: &str, _digest: &str) -> Result<(), RegistryError> {
        Err(self.deny("StartImageScan", name))
    }
}
