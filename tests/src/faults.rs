//! A `Registry` that fails (or panics on) every call about one repository, and delegates the
//! rest. The panic is the fault matrix's "bug inside the handler": it lives in this test crate
//! only, so no release build can contain it.

use ecr_keeper_core::image::Image;
use ecr_keeper_core::ports::prelude::*;
use ecr_keeper_core::ports::{Registry, RegistryError};
use ecr_keeper_core::repository::{Repository, RepositorySettings, ResourceTag, TagMutability};
use ecr_keeper_core::scanning::RegistryScanning;

pub struct FailingFor<R> {
    pub inner: R,
    /// Calls naming this repository (or its ARN), or any repository for `*`, fail.
    pub repository: String,
    pub error: Failure,
}

#[derive(Debug, Clone)]
pub enum Failure {
    Error(RegistryError),
    Panic(&'static str),
}

impl<R> FailingFor<R> {
    fn check(&self, subject: &str) -> Result<(), RegistryError> {
        let hit = self.repository == "*"
            || subject == self.repository
            || subject.ends_with(&format!("repository/{}", self.repository));
        match &self.error {
            _ if !hit => Ok(()),
            Failure::Error(e) => Err(e.clone()),
            Failure::Panic(message) => panic!("{message}"),
        }
    }
}

impl<R: Registry> RegistryReads for FailingFor<R> {
    async fn describe_repository(&self, name: &str) -> Result<Option<Repository>, RegistryError> {
        self.check(name)?;
        self.inner.describe_repository(name).await
    }

    async fn list_repositories(&self, prefix: Option<&str>) -> Result<Vec<Repository>, RegistryError> {
        self.inner.list_repositories(prefix).await
    }

    async fn get_lifecycle_policy(&self, name: &str) -> Result<Option<String>, RegistryError> {
        self.check(name)?;
        self.inner.get_lifecycle_policy(name).await
    }

    async fn get_repository_policy(&self, name: &str) -> Result<Option<String>, RegistryError> {
        self.check(name)?;
        self.inner.get_repository_policy(name).await
    }

    async fn list_tags(&self, arn: &str) -> Result<Vec<ResourceTag>, RegistryError> {
        self.check(arn)?;
        self.inner.list_tags(arn).await
    }

    async fn describe_images(&self, name: &str) -> Result<Vec<Image>, RegistryError> {
        self.check(name)?;
        self.inner.describe_images(name).await
    }

    async fn has_images(&self, name: &str) -> Result<bool, RegistryError> {
        self.check(name)?;
        self.inner.has_images(name).await
    }

    async fn get_manifests(
        &self,
        name: &str,
        digests: &[String],
    ) -> Result<Vec<(String, Option<String>, String)>, RegistryError> {
        self.check(name)?;
        self.inner.get_manifests(name, digests).await
    }

    async fn pull_time_update_exclusions(&self) -> Result<Vec<String>, RegistryError> {
        self.inner.pull_time_update_exclusions().await
    }

    async fn get_registry_scanning(&self) -> Result<RegistryScanning, RegistryError> {
        self.inner.get_registry_scanning().await
    }

    async fn registry_rules(&self) -> Result<ecr_keeper_core::registry::RegistryRules, RegistryError> {
        self.inner.registry_rules().await
    }

    async fn describe_scan_findings(
        &self,
        name: &str,
        digest: &str,
    ) -> Result<Option<ecr_keeper_core::image::ScanFindings>, RegistryError> {
        self.check(name)?;
        self.inner.describe_scan_findings(name, digest).await
    }
}

impl<R: Registry> SettingsWrites for FailingFor<R> {
    async fn put_tag_mutability(&self, name: &str, m: TagMutability, f: &[String]) -> Result<(), RegistryError> {
        self.check(name)?;
        self.inner.put_tag_mutability(name, m, f).await
    }

    async fn put_scan_on_push(&self, name: &str, on: bool) -> Result<(), RegistryError> {
        self.check(name)?;
        self.inner.put_scan_on_push(name, on).await
    }

    async fn put_lifecycle_policy(&self, name: &str, text: &str) -> Result<(), RegistryError> {
        self.check(name)?;
        self.inner.put_lifecycle_policy(name, text).await
    }

    async fn set_repository_policy(&self, name: &str, text: &str) -> Result<(), RegistryError> {
        self.check(name)?;
        self.inner.set_repository_policy(name, text).await
    }

    async fn delete_repository_policy(&self, name: &str) -> Result<(), RegistryError> {
        self.check(name)?;
        self.inner.delete_repository_policy(name).await
    }

    async fn create_creation_template(
        &self,
        template: &ecr_keeper_core::registry::CreationTemplate,
    ) -> Result<(), RegistryError> {
        self.inner.create_creation_template(template).await
    }

    async fn register_pull_time_update_exclusion(&self, principal: &str) -> Result<(), RegistryError> {
        self.inner.register_pull_time_update_exclusion(principal).await
    }
}

impl<R: Registry> RepositoryAdmin for FailingFor<R> {
    async fn create_repository(
        &self,
        name: &str,
        s: &RepositorySettings,
        t: &[ResourceTag],
    ) -> Result<Repository, RegistryError> {
        self.check(name)?;
        self.inner.create_repository(name, s, t).await
    }

    async fn delete_repository(&self, name: &str, force: bool) -> Result<(), RegistryError> {
        self.check(name)?;
        self.inner.delete_repository(name, force).await
    }

    async fn tag_repository(&self, arn: &str, tags: &[ResourceTag]) -> Result<(), RegistryError> {
        self.check(arn)?;
        self.inner.tag_repository(arn, tags).await
    }

    async fn untag_repository(&self, arn: &str, keys: &[String]) -> Result<(), RegistryError> {
        self.check(arn)?;
        self.inner.untag_repository(arn, keys).await
    }
}

impl<R: Registry> ImageWrites for FailingFor<R> {
    async fn put_image_tag(
        &self,
        name: &str,
        digest: &str,
        media_type: Option<&str>,
        manifest: &str,
        tag: &str,
    ) -> Result<(), RegistryError> {
        self.check(name)?;
        self.inner.put_image_tag(name, digest, media_type, manifest, tag).await
    }

    async fn remove_image_tag(&self, name: &str, tag: &str) -> Result<(), RegistryError> {
        self.check(name)?;
        self.inner.remove_image_tag(name, tag).await
    }

    async fn start_image_scan(&self, name: &str, digest: &str) -> Result<(), RegistryError> {
        self.check(name)?;
        self.inner.start_image_scan(name, digest).await
    }
}
