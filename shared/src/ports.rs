//! The small traits the domain talks to the world through. Adapters live in [`crate::aws`];
//! tests use moto through the same adapters, or fakes.

use crate::image::Image;
use crate::repository::{Repository, RepositorySettings, ResourceTag, TagMutability};
use crate::scanning::RegistryScanning;
use chrono::{DateTime, Utc};
use std::future::Future;

/// What every caller reads: repositories, their settings, policies, tags and images, the
/// registry's scanning, and scans. The cost report needs nothing more.
pub trait RegistryReads: Send + Sync {
    /// `None` when the repository does not exist.
    fn describe_repository(&self, name: &str)
        -> impl Future<Output = Result<Option<Repository>, RegistryError>> + Send;

    /// Every repository of the registry (all pages), optionally only names with `prefix`.
    fn list_repositories(
        &self,
        prefix: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Repository>, RegistryError>> + Send;

    /// The policy text, `None` when the repository has none.
    fn get_lifecycle_policy(&self, name: &str) -> impl Future<Output = Result<Option<String>, RegistryError>> + Send;

    /// The repository policy text, `None` when the repository has none.
    fn get_repository_policy(&self, name: &str) -> impl Future<Output = Result<Option<String>, RegistryError>> + Send;

    fn list_tags(&self, arn: &str) -> impl Future<Output = Result<Vec<ResourceTag>, RegistryError>> + Send;

    /// Every image of the repository (all pages).
    fn describe_images(&self, name: &str) -> impl Future<Output = Result<Vec<Image>, RegistryError>> + Send;

    /// True when the repository holds at least one image (one small call).
    fn has_images(&self, name: &str) -> impl Future<Output = Result<bool, RegistryError>> + Send;

    /// Manifests of the given images (BatchGetImage, at most 100 per call): digest → (media
    /// type, manifest text).
    fn get_manifests(
        &self,
        name: &str,
        digests: &[String],
    ) -> impl Future<Output = Result<Vec<(String, Option<String>, String)>, RegistryError>> + Send;

    /// The principals whose pulls do not update `lastRecordedPullTime`.
    fn pull_time_update_exclusions(&self) -> impl Future<Output = Result<Vec<String>, RegistryError>> + Send;

    fn get_registry_scanning(&self) -> impl Future<Output = Result<RegistryScanning, RegistryError>> + Send;

    /// The registry's repository creation templates, pull-through cache rules and replication
    /// (the audit's REG-* checks), read together once per run.
    fn registry_rules(&self) -> impl Future<Output = Result<crate::registry::RegistryRules, RegistryError>> + Send;

    /// An image's latest scan — status, severity counts, every finding (all pages); `None` when
    /// it was never scanned (ECR's ScanNotFoundException).
    fn describe_scan_findings(
        &self,
        name: &str,
        digest: &str,
    ) -> impl Future<Output = Result<Option<crate::image::ScanFindings>, RegistryError>> + Send;
}

/// A repository's settings and policies: the custom resource reconciles them, the audit's
/// remediation writes the lifecycle policy and scan on push.
pub trait SettingsWrites: Send + Sync {
    fn put_tag_mutability(
        &self,
        name: &str,
        mutability: TagMutability,
        exclusion_filters: &[String],
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;

    fn put_scan_on_push(
        &self,
        name: &str,
        scan_on_push: bool,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;

    fn put_lifecycle_policy(&self, name: &str, text: &str) -> impl Future<Output = Result<(), RegistryError>> + Send;

    fn set_repository_policy(&self, name: &str, text: &str) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// Succeeds when there is no policy to delete.
    fn delete_repository_policy(&self, name: &str) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// A new repository creation template (the audit's remediation of REG-2); refused when one
    /// with its prefix exists (ECR's TemplateAlreadyExistsException).
    fn create_creation_template(
        &self,
        template: &crate::registry::CreationTemplate,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// Adds a principal to the registry's pull-time update exclusions (the audit's remediation
    /// of LC-7); succeeds when it is already there.
    fn register_pull_time_update_exclusion(
        &self,
        principal: &str,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;
}

/// Repositories made, owned and removed: the custom resource's alone (its IAM role is the
/// only one with these actions).
pub trait RepositoryAdmin: Send + Sync {
    fn create_repository(
        &self,
        name: &str,
        settings: &RepositorySettings,
        tags: &[ResourceTag],
    ) -> impl Future<Output = Result<Repository, RegistryError>> + Send;

    /// `force` deletes the images too. Without it ECR refuses a repository that holds images.
    fn delete_repository(&self, name: &str, force: bool) -> impl Future<Output = Result<(), RegistryError>> + Send;

    fn tag_repository(&self, arn: &str, tags: &[ResourceTag])
        -> impl Future<Output = Result<(), RegistryError>> + Send;

    fn untag_repository(&self, arn: &str, keys: &[String]) -> impl Future<Output = Result<(), RegistryError>> + Send;
}

/// Writes on images: the audit's in-use pins and the push reaction's scans. The custom
/// resource cannot reach these (its bounds leave them out, as its IAM role does).
pub trait ImageWrites: Send + Sync {
    /// Adds `tag` to an existing image: PutImage with the image's own manifest and media type,
    /// so ECR stores no new image and the digest stays.
    fn put_image_tag(
        &self,
        name: &str,
        digest: &str,
        media_type: Option<&str>,
        manifest: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// Removes one tag (BatchDeleteImage by tag). ECR deletes the image when it was its last
    /// tag: callers check that another tag remains.
    fn remove_image_tag(&self, name: &str, tag: &str) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// A basic scan of one image. ECR allows one per image per day: the second is
    /// [`RegistryError::QuotaExceeded`].
    fn start_image_scan(&self, name: &str, digest: &str) -> impl Future<Output = Result<(), RegistryError>> + Send;
}

/// Every ECR operation ecr-keeper uses, one method per API call (plus paging): the sum of the
/// ports above, for the adapters and stand-ins that implement them all. Callers name the part
/// they use, so a caller's code cannot reach a call its IAM role does not hold.
pub trait Registry: RegistryReads + SettingsWrites + RepositoryAdmin + ImageWrites {}

impl<R: RegistryReads + SettingsWrites + RepositoryAdmin + ImageWrites> Registry for R {}

/// The registry ports' methods in scope for a concrete registry (an adapter, a stand-in):
/// `use ecr_keeper_core::ports::prelude::*;`. Generic code names the port it needs instead.
pub mod prelude {
    pub use super::{ImageWrites, RegistryReads, RepositoryAdmin, SettingsWrites};
}

/// CloudWatch beyond PutMetricData: reading a metric back and keeping a dashboard.
pub trait MetricsStore: Send + Sync {
    /// The most recent value of a dimensionless metric of the `EcrKeeper` namespace since `since`.
    fn latest_value(
        &self,
        name: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<f64>, crate::metrics::MetricsError>> + Send;

    fn put_dashboard(
        &self,
        name: &str,
        body: &str,
    ) -> impl Future<Output = Result<(), crate::metrics::MetricsError>> + Send;
}

/// Time, injected so that lifecycle and cost logic are deterministic in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// ECR failures, classified by error code (never by message) into what a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("repository {0} does not exist")]
    RepositoryNotFound(String),
    #[error("repository {0} already exists")]
    RepositoryAlreadyExists(String),
    #[error("repository {0} still holds images")]
    RepositoryNotEmpty(String),
    #[error("{operation}: access denied ({message}); grant the function's role this permission")]
    AccessDenied { operation: &'static str, message: String },
    #[error("{operation}: ECR kept throttling the request past the retry budget; try again later")]
    Throttled { operation: &'static str },
    #[error("{operation}: an ECR quota was reached: {message}")]
    QuotaExceeded { operation: &'static str, message: String },
    #[error("{operation}: ECR rejected the request ({code}): {message}")]
    Rejected { operation: &'static str, code: String, message: String },
    #[error("{operation}: ECR failed ({code}): {message}")]
    Service { operation: &'static str, code: String, message: String },
    #[error("{operation}: could not reach ECR: {message}")]
    Transport { operation: &'static str, message: String },
}

impl RegistryError {
    /// Worth trying again later (Lambda retry, or the next scheduled run).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Service { .. } | Self::Transport { .. })
    }
}
