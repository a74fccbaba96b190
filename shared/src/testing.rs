//! In-memory stand-ins for the ports, with ECR's semantics that ecr-keeper's decisions depend
//! on: not-found and already-exists errors, non-empty repositories, tags on ARNs, policy texts,
//! images with tags, digests and push times, one manual scan per image per day, findings, paged
//! reads, and injectable failures. Every call is logged, so a test can say "nothing was written".
//!
//! Behind the `test-util` feature (and `cfg(test)`): no production build contains it.

pub mod conformance;

use crate::findings::Finding;
use crate::image::Image;
use crate::metrics::{Metric, MetricsError, MetricsSink};
use crate::ports::prelude::*;
use crate::ports::{Clock, MetricsStore, RegistryError};
use crate::repository::{Repository, RepositorySettings, ResourceTag, TagMutability};
use crate::scanning::RegistryScanning;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

pub use crate::alerts::memory::{MemoryLedger, RecordingPublisher};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// A clock that reads what the test set.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn at(now: DateTime<Utc>) -> Self {
        FixedClock(Mutex::new(now))
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *lock(&self.0) = now;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.0)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; keep its state readable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Clone, Default)]
struct StoredRepository {
    repository: Option<Repository>,
    tags: Vec<ResourceTag>,
    lifecycle_policy: Option<String>,
    repository_policy: Option<String>,
    images: Vec<Image>,
    manifests: HashMap<String, (Option<String>, String)>,
    findings: HashMap<String, Vec<Finding>>,
    /// digest → day of the last manual scan.
    scanned_on: HashMap<String, chrono::NaiveDate>,
}

/// The two policy texts a repository has.
#[derive(Debug, Clone, Copy)]
enum Policy {
    Lifecycle,
    Repository,
}

/// A failure the next matching calls return.
#[derive(Debug, Clone)]
struct Injected {
    operation: &'static str,
    repository: Option<String>,
    error: RegistryError,
    /// `None`: every matching call fails.
    times: Option<u32>,
}

#[derive(Debug, Default)]
struct State {
    repositories: BTreeMap<String, StoredRepository>,
    pull_time_update_exclusions: Vec<String>,
    scanning: RegistryScanning,
    rules: crate::registry::RegistryRules,
    failures: Vec<Injected>,
    calls: Vec<String>,
    /// Reads return at most this many items a page (each page is a logged call), as ECR does.
    page_size: usize,
    /// (account, region) when not [`ACCOUNT`] in [`REGION`].
    home: Option<(String, String)>,
}

/// One ECR registry (one account, one region) in memory. Clones share the registry, so a test
/// hands one to the code under test and keeps one to look with.
#[derive(Debug, Clone)]
pub struct InMemoryRegistry {
    state: Arc<Mutex<State>>,
    clock_now: Arc<Mutex<DateTime<Utc>>>,
}

impl Default for InMemoryRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryRegistry {
    pub fn new() -> Self {
        InMemoryRegistry {
            state: Arc::new(Mutex::new(State { page_size: 100, ..State::default() })),
            clock_now: Arc::new(Mutex::new(DateTime::<Utc>::UNIX_EPOCH)),
        }
    }

    /// The day manual scans are counted against (ECR allows one per image per day).
    pub fn today(&self, now: DateTime<Utc>) -> &Self {
        *lock(&self.clock_now) = now;
        self
    }

    /// The registry of `account` in `region` (an organization's member registry).
    pub fn in_account(account: &str, region: &str) -> Self {
        let registry = Self::new();
        lock(&registry.state).home = Some((account.to_string(), region.to_string()));
        registry
    }

    pub fn with_page_size(self, page_size: usize) -> Self {
        lock(&self.state).page_size = page_size.max(1);
        self
    }

    pub fn arn(name: &str) -> String {
        format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}")
    }

    /// GIVEN a repository with these settings and tags.
    pub fn with_repository(&self, name: &str, settings: RepositorySettings, tags: &[ResourceTag]) -> &Self {
        let mut state = lock(&self.state);
        let home = state.home.clone();
        let stored = state.repositories.entry(name.to_string()).or_default();
        stored.repository = Some(repository(name, settings, home.as_ref()));
        stored.tags = tags.to_vec();
        self
    }

    pub fn with_lifecycle_policy(&self, name: &str, text: &str) -> &Self {
        self.stored(name, |r| r.lifecycle_policy = Some(text.to_string()));
        self
    }

    pub fn with_repository_policy(&self, name: &str, text: &str) -> &Self {
        self.stored(name, |r| r.repository_policy = Some(text.to_string()));
        self
    }

    pub fn with_image(&self, name: &str, image: Image) -> &Self {
        self.stored(name, |r| r.images.push(image));
        self
    }

    pub fn with_manifest(&self, name: &str, digest: &str, media_type: Option<&str>, manifest: &str) -> &Self {
        self.stored(name, |r| {
            r.manifests.insert(digest.to_string(), (media_type.map(str::to_owned), manifest.to_string()));
        });
        self
    }

    /// The findings of an image's latest scan.
    pub fn with_findings(&self, name: &str, digest: &str, findings: Vec<Finding>) -> &Self {
        self.stored(name, |r| {
            r.findings.insert(digest.to_string(), findings);
        });
        self
    }

    pub fn with_pull_time_update_exclusions(&self, principals: &[&str]) -> &Self {
        lock(&self.state).pull_time_update_exclusions = principals.iter().map(|p| p.to_string()).collect();
        self
    }

    /// Creation templates, pull-through cache rules and replication (REG-*).
    pub fn with_registry_rules(&self, rules: crate::registry::RegistryRules) -> &Self {
        lock(&self.state).rules = rules;
        self
    }

    pub fn with_scanning(&self, scanning: RegistryScanning) -> &Self {
        lock(&self.state).scanning = scanning;
        self
    }

    /// Every call of `operation` (ECR's name, e.g. `"PutLifecyclePolicy"`) about `repository`
    /// (any repository when `None`) fails with `error`; `times` limits how many do.
    pub fn failing(
        &self,
        operation: &'static str,
        repository: Option<&str>,
        error: RegistryError,
        times: Option<u32>,
    ) -> &Self {
        lock(&self.state).failures.push(Injected {
            operation,
            repository: repository.map(str::to_owned),
            error,
            times,
        });
        self
    }

    /// Each call so far, as `"Operation name"`, in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// The calls that change something (ECR's mutating operations).
    pub fn writes(&self) -> Vec<String> {
        const READS: &[&str] = &["Describe", "Get", "List", "BatchGet"];
        self.calls().into_iter().filter(|c| !READS.iter().any(|r| c.starts_with(r))).collect()
    }

    pub fn forget_calls(&self) {
        lock(&self.state).calls.clear();
    }

    pub fn repository(&self, name: &str) -> Option<Repository> {
        lock(&self.state).repositories.get(name).and_then(|r| r.repository.clone())
    }

    pub fn tags(&self, name: &str) -> Vec<ResourceTag> {
        lock(&self.state).repositories.get(name).map(|r| r.tags.clone()).unwrap_or_default()
    }

    pub fn lifecycle_policy(&self, name: &str) -> Option<String> {
        lock(&self.state).repositories.get(name).and_then(|r| r.lifecycle_policy.clone())
    }

    pub fn repository_policy(&self, name: &str) -> Option<String> {
        lock(&self.state).repositories.get(name).and_then(|r| r.repository_policy.clone())
    }

    pub fn images(&self, name: &str) -> Vec<Image> {
        lock(&self.state).repositories.get(name).map(|r| r.images.clone()).unwrap_or_default()
    }

    fn stored(&self, name: &str, change: impl FnOnce(&mut StoredRepository)) {
        let mut state = lock(&self.state);
        let home = state.home.clone();
        let stored = state.repositories.entry(name.to_string()).or_default();
        if stored.repository.is_none() {
            stored.repository = Some(repository(name, ecr_defaults(), home.as_ref()));
        }
        change(stored);
    }

    /// Logs the call, then answers an injected failure if one matches.
    fn call(&self, operation: &'static str, subject: &str) -> Result<MutexGuard<'_, State>, RegistryError> {
        let mut state = lock(&self.state);
        state.calls.push(format!("{operation} {subject}"));
        let name = subject.rsplit("repository/").next().unwrap_or(subject).to_string();
        let hit = state.failures.iter_mut().find(|f| {
            f.operation == operation
                && f.repository.as_deref().is_none_or(|r| r == name)
                && f.times.is_none_or(|t| t > 0)
        });
        if let Some(f) = hit {
            if let Some(t) = f.times.as_mut() {
                *t -= 1;
            }
            return Err(f.error.clone());
        }
        Ok(state)
    }

    /// Reads a policy text, or (with `write`) sets or removes it; answers the text before.
    fn policy(
        &self,
        operation: &'static str,
        name: &str,
        which: Policy,
        write: Option<Option<&str>>,
    ) -> Result<Option<String>, RegistryError> {
        let mut state = self.call(operation, name)?;
        let stored = existing(&mut state, name)?;
        let text = match which {
            Policy::Lifecycle => &mut stored.lifecycle_policy,
            Policy::Repository => &mut stored.repository_policy,
        };
        let before = text.clone();
        if let Some(new) = write {
            *text = new.map(str::to_owned);
        }
        Ok(before)
    }

    fn pages(&self, operation: &'static str, subject: &str, items: usize) -> Result<(), RegistryError> {
        let page_size = lock(&self.state).page_size;
        let pages = items.div_ceil(page_size).max(1);
        for page in 2..=pages {
            drop(self.call(operation, &format!("{subject} (page {page})"))?);
        }
        Ok(())
    }
}

/// What ECR gives a repository created without settings.
pub fn ecr_defaults() -> RepositorySettings {
    RepositorySettings {
        tag_mutability: TagMutability::Mutable,
        exclusion_filters: Vec::new(),
        scan_on_push: false,
        encryption: crate::repository::Encryption::Aes256,
    }
}

fn repository(name: &str, settings: RepositorySettings, home: Option<&(String, String)>) -> Repository {
    let (account, region) = home.map_or((ACCOUNT, REGION), |(a, r)| (a.as_str(), r.as_str()));
    Repository {
        name: name.to_string(),
        arn: format!("arn:aws:ecr:{region}:{account}:repository/{name}"),
        uri: format!("{account}.dkr.ecr.{region}.amazonaws.com/{name}"),
        registry_id: account.to_string(),
        settings,
    }
}

fn not_found(name: &str) -> RegistryError {
    RegistryError::RepositoryNotFound(name.to_string())
}

fn existing<'a>(state: &'a mut State, name: &str) -> Result<&'a mut StoredRepository, RegistryError> {
    state.repositories.get_mut(name).filter(|r| r.repository.is_some()).ok_or_else(|| not_found(name))
}

fn by_arn<'a>(state: &'a mut State, arn: &str) -> Result<&'a mut StoredRepository, RegistryError> {
    let name = arn.rsplit("repository/").next().unwrap_or(arn).to_string();
    existing(state, &name)
}

impl RegistryReads for InMemoryRegistry {
    async fn describe_repository(&self, name: &str) -> Result<Option<Repository>, RegistryError> {
        let state = self.call("DescribeRepositories", name)?;
        Ok(state.repositories.get(name).and_then(|r| r.repository.clone()))
    }

    async fn list_repositories(&self, prefix: Option<&str>) -> Result<Vec<Repository>, RegistryError> {
        let found: Vec<Repository> = {
            let state = self.call("DescribeRepositories", prefix.unwrap_or("*"))?;
            state
                .repositories
                .values()
                .filter_map(|r| r.repository.clone())
                .filter(|r| prefix.is_none_or(|p| r.name.starts_with(p)))
                .collect()
        };
        self.pages("DescribeRepositories", prefix.unwrap_or("*"), found.len())?;
        Ok(found)
    }

    async fn get_lifecycle_policy(&self, name: &str) -> Result<Option<String>, RegistryError> {
        self.policy("GetLifecyclePolicy", name, Policy::Lifecycle, None)
    }

    async fn get_repository_policy(&self, name: &str) -> Result<Option<String>, RegistryError> {
        self.policy("GetRepositoryPolicy", name, Policy::Repository, None)
    }

    async fn list_tags(&self, arn: &str) -> Result<Vec<ResourceTag>, RegistryError> {
        let mut state = self.call("ListTagsForResource", arn)?;
        Ok(by_arn(&mut state, arn)?.tags.clone())
    }

    async fn describe_images(&self, name: &str) -> Result<Vec<Image>, RegistryError> {
        let images = {
            let mut state = self.call("DescribeImages", name)?;
            existing(&mut state, name)?.images.clone()
        };
        self.pages("DescribeImages", name, images.len())?;
        Ok(images)
    }

    async fn has_images(&self, name: &str) -> Result<bool, RegistryError> {
        let mut state = self.call("ListImages", name)?;
        Ok(!existing(&mut state, name)?.images.is_empty())
    }

    async fn get_manifests(
        &self,
        name: &str,
        digests: &[String],
    ) -> Result<Vec<(String, Option<String>, String)>, RegistryError> {
        let mut found = Vec::new();
        for chunk in digests.chunks(100) {
            let mut state = self.call("BatchGetImage", name)?;
            let stored = existing(&mut state, name)?;
            for digest in chunk {
                if let Some((media_type, text)) = stored.manifests.get(digest) {
                    found.push((digest.clone(), media_type.clone(), text.clone()));
                }
            }
        }
        Ok(found)
    }

    async fn pull_time_update_exclusions(&self) -> Result<Vec<String>, RegistryError> {
        let state = self.call("ListPullTimeUpdateExclusions", ACCOUNT)?;
        Ok(state.pull_time_update_exclusions.clone())
    }

    async fn get_registry_scanning(&self) -> Result<RegistryScanning, RegistryError> {
        let state = self.call("GetRegistryScanningConfiguration", ACCOUNT)?;
        Ok(state.scanning.clone())
    }

    async fn registry_rules(&self) -> Result<crate::registry::RegistryRules, RegistryError> {
        let state = self.call("DescribeRepositoryCreationTemplates", ACCOUNT)?;
        Ok(state.rules.clone())
    }

    async fn describe_scan_findings(
        &self,
        name: &str,
        digest: &str,
    ) -> Result<Option<crate::image::ScanFindings>, RegistryError> {
        let findings = {
            let mut state = self.call("DescribeImageScanFindings", name)?;
            existing(&mut state, name)?.findings.get(digest).cloned()
        };
        let Some(findings) = findings else { return Ok(None) };
        self.pages("DescribeImageScanFindings", name, findings.len())?;
        // As ECR answers: a completed scan, its counts those of its findings.
        let mut counts = crate::findings::SeverityCounts::default();
        for f in &findings {
            counts.add(f.severity, 1);
        }
        let scan = crate::image::ImageScan { status: "COMPLETE".into(), counts };
        Ok(Some(crate::image::ScanFindings { scan, findings }))
    }
}

impl SettingsWrites for InMemoryRegistry {
    async fn put_tag_mutability(
        &self,
        name: &str,
        mutability: TagMutability,
        exclusion_filters: &[String],
    ) -> Result<(), RegistryError> {
        let mut state = self.call("PutImageTagMutability", name)?;
        if let Some(r) = existing(&mut state, name)?.repository.as_mut() {
            r.settings.tag_mutability = mutability;
            r.settings.exclusion_filters = exclusion_filters.to_vec();
        }
        Ok(())
    }

    async fn put_scan_on_push(&self, name: &str, scan_on_push: bool) -> Result<(), RegistryError> {
        let mut state = self.call("PutImageScanningConfiguration", name)?;
        if let Some(r) = existing(&mut state, name)?.repository.as_mut() {
            r.settings.scan_on_push = scan_on_push;
        }
        Ok(())
    }

    async fn put_lifecycle_policy(&self, name: &str, text: &str) -> Result<(), RegistryError> {
        self.policy("PutLifecyclePolicy", name, Policy::Lifecycle, Some(Some(text))).map(drop)
    }

    async fn set_repository_policy(&self, name: &str, text: &str) -> Result<(), RegistryError> {
        self.policy("SetRepositoryPolicy", name, Policy::Repository, Some(Some(text))).map(drop)
    }

    async fn delete_repository_policy(&self, name: &str) -> Result<(), RegistryError> {
        self.policy("DeleteRepositoryPolicy", name, Policy::Repository, Some(None)).map(drop)
    }

    async fn create_creation_template(
        &self,
        template: &crate::registry::CreationTemplate,
    ) -> Result<(), RegistryError> {
        let mut state = self.call("CreateRepositoryCreationTemplate", &template.prefix)?;
        if state.rules.creation_templates.iter().any(|t| t.prefix == template.prefix) {
            return Err(RegistryError::Rejected {
                operation: "CreateRepositoryCreationTemplate",
                code: "TemplateAlreadyExistsException".into(),
                message: format!("a template for {} exists", template.prefix),
            });
        }
        state.rules.creation_templates.push(template.clone());
        Ok(())
    }

    async fn register_pull_time_update_exclusion(&self, principal: &str) -> Result<(), RegistryError> {
        let mut state = self.call("RegisterPullTimeUpdateExclusion", principal)?;
        if !state.pull_time_update_exclusions.iter().any(|p| p == principal) {
            state.pull_time_update_exclusions.push(principal.to_string());
        }
        Ok(())
    }
}

impl RepositoryAdmin for InMemoryRegistry {
    async fn create_repository(
        &self,
        name: &str,
        desired: &RepositorySettings,
        initial_tags: &[ResourceTag],
    ) -> Result<Repository, RegistryError> {
        let mut state = self.call("CreateRepository", name)?;
        if state.repositories.get(name).is_some_and(|r| r.repository.is_some()) {
            return Err(RegistryError::RepositoryAlreadyExists(name.to_string()));
        }
        let created = repository(name, desired.clone(), state.home.as_ref());
        let stored =
            StoredRepository { repository: Some(created.clone()), tags: initial_tags.to_vec(), ..Default::default() };
        state.repositories.insert(name.to_string(), stored);
        Ok(created)
    }

    async fn delete_repository(&self, name: &str, force: bool) -> Result<(), RegistryError> {
        let mut state = self.call("DeleteRepository", name)?;
        if !existing(&mut state, name)?.images.is_empty() && !force {
            return Err(RegistryError::RepositoryNotEmpty(name.to_string()));
        }
        state.repositories.remove(name);
        Ok(())
    }

    async fn tag_repository(&self, arn: &str, tags: &[ResourceTag]) -> Result<(), RegistryError> {
        let mut state = self.call("TagResource", arn)?;
        let stored = by_arn(&mut state, arn)?;
        for tag in tags {
            stored.tags.retain(|t| t.key != tag.key);
            stored.tags.push(tag.clone());
        }
        Ok(())
    }

    async fn untag_repository(&self, arn: &str, keys: &[String]) -> Result<(), RegistryError> {
        let mut state = self.call("UntagResource", arn)?;
        by_arn(&mut state, arn)?.tags.retain(|t| !keys.contains(&t.key));
        Ok(())
    }
}

impl ImageWrites for InMemoryRegistry {
    async fn put_image_tag(
        &self,
        name: &str,
        digest: &str,
        media_type: Option<&str>,
        manifest: &str,
        tag: &str,
    ) -> Result<(), RegistryError> {
        let mut state = self.call("PutImage", name)?;
        let immutable = matches!(
            state.repositories.get(name).and_then(|r| r.repository.as_ref()).map(|r| r.settings.tag_mutability),
            Some(TagMutability::Immutable)
        );
        let stored = existing(&mut state, name)?;
        // PutImage names the image by its manifest: it must be the image's own.
        if stored.manifests.get(digest).map(|(_, text)| text.as_str()) != Some(manifest)
            || stored.manifests.get(digest).and_then(|(m, _)| m.as_deref()) != media_type
        {
            return Err(RegistryError::Rejected {
                operation: "PutImage",
                code: "ImageDigestDoesNotMatchException".into(),
                message: format!("the manifest given is not the manifest of {digest}"),
            });
        }
        let holder = stored.images.iter().position(|i| i.tags.iter().any(|t| t == tag));
        let Some(target) = stored.images.iter().position(|i| i.digest == digest) else {
            return Err(RegistryError::Rejected {
                operation: "PutImage",
                code: "ImageNotFoundException".into(),
                message: format!("image {digest} does not exist in {name}"),
            });
        };
        match holder {
            Some(h) if h == target => {
                return Err(RegistryError::Rejected {
                    operation: "PutImage",
                    code: "ImageAlreadyExistsException".into(),
                    message: format!("image {digest} is already tagged {tag}"),
                })
            }
            Some(_) if immutable => {
                return Err(RegistryError::Rejected {
                    operation: "PutImage",
                    code: "ImageTagAlreadyExistsException".into(),
                    message: format!("tag {tag} is on another image and the repository is immutable"),
                })
            }
            Some(h) => stored.images[h].tags.retain(|t| t != tag),
            None => {}
        }
        stored.images[target].tags.push(tag.to_string());
        Ok(())
    }

    async fn remove_image_tag(&self, name: &str, tag: &str) -> Result<(), RegistryError> {
        let mut state = self.call("BatchDeleteImage", name)?;
        let stored = existing(&mut state, name)?;
        if let Some(i) = stored.images.iter().position(|i| i.tags.iter().any(|t| t == tag)) {
            stored.images[i].tags.retain(|t| t != tag);
            // As ECR does: an image whose last tag goes is deleted.
            if stored.images[i].tags.is_empty() {
                stored.images.remove(i);
            }
        }
        Ok(())
    }

    async fn start_image_scan(&self, name: &str, digest: &str) -> Result<(), RegistryError> {
        let today = lock(&self.clock_now).date_naive();
        let mut state = self.call("StartImageScan", name)?;
        let stored = existing(&mut state, name)?;
        if !stored.images.iter().any(|i| i.digest == digest) {
            return Err(RegistryError::Rejected {
                operation: "StartImageScan",
                code: "ImageNotFoundException".into(),
                message: format!("image {digest} does not exist in {name}"),
            });
        }
        if stored.scanned_on.get(digest) == Some(&today) {
            return Err(RegistryError::QuotaExceeded {
                operation: "StartImageScan",
                message: "The scan quota per image has been exceeded. Wait and try again.".into(),
            });
        }
        stored.scanned_on.insert(digest.to_string(), today);
        Ok(())
    }
}

/// A finding in an `openssl` package, with a fix.
pub fn finding(id: &str, severity: crate::findings::Severity) -> Finding {
    Finding {
        id: id.into(),
        severity,
        package: Some("openssl".into()),
        version: Some("3.0.1".into()),
        uri: None,
        fixed_in: Some("3.0.2".into()),
        score: Some("9.8".into()),
    }
}

/// Records what was published, for assertions.
#[derive(Debug, Default)]
pub struct RecordingSink(Mutex<Vec<Metric>>);

impl RecordingSink {
    pub fn metrics(&self) -> Vec<Metric> {
        lock(&self.0).clone()
    }

    /// The sum of `name` over every dimension set that includes `dimension = value` (all when
    /// `None`).
    pub fn total(&self, name: &str, dimension: Option<(&str, &str)>) -> f64 {
        self.metrics()
            .iter()
            .filter(|m| m.name == name)
            .filter(|m| dimension.is_none_or(|(k, v)| m.dimensions.iter().any(|(dk, dv)| *dk == k && dv == v)))
            .map(|m| m.value)
            .sum()
    }
}

impl MetricsSink for RecordingSink {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        lock(&self.0).extend_from_slice(metrics);
        Ok(())
    }
}

/// CloudWatch's metric reads and dashboards in memory.
#[derive(Debug, Default)]
pub struct InMemoryMetricsStore {
    values: Mutex<HashMap<String, f64>>,
    dashboards: Mutex<HashMap<String, String>>,
}

impl InMemoryMetricsStore {
    pub fn with_value(self, name: &str, value: f64) -> Self {
        lock(&self.values).insert(name.to_string(), value);
        self
    }

    pub fn dashboard(&self, name: &str) -> Option<String> {
        lock(&self.dashboards).get(name).cloned()
    }
}

impl MetricsStore for InMemoryMetricsStore {
    async fn latest_value(
        &self,
        name: &str,
        _since: DateTime<Utc>,
        _until: DateTime<Utc>,
    ) -> Result<Option<f64>, MetricsError> {
        Ok(lock(&self.values).get(name).copied())
    }

    async fn put_dashboard(&self, name: &str, body: &str) -> Result<(), MetricsError> {
        lock(&self.dashboards).insert(name.to_string(), body.to_string());
        Ok(())
    }
}

/// An object: its body and content type.
type StoredObject = (Vec<u8>, &'static str);

/// Reports and run files in memory, as a bucket holds them.
#[derive(Debug, Clone, Default)]
pub struct InMemoryReportStore {
    objects: Arc<Mutex<BTreeMap<String, StoredObject>>>,
    failing_puts: Arc<Mutex<usize>>,
}

impl InMemoryReportStore {
    pub fn keys(&self) -> Vec<String> {
        lock(&self.objects).keys().cloned().collect()
    }

    pub fn text(&self, key: &str) -> Option<String> {
        lock(&self.objects).get(key).map(|(body, _)| String::from_utf8_lossy(body).into_owned())
    }

    pub fn content_type(&self, key: &str) -> Option<&'static str> {
        lock(&self.objects).get(key).map(|(_, t)| *t)
    }

    pub fn remove(&self, key: &str) {
        lock(&self.objects).remove(key);
    }

    /// The next `times` writes fail as throttled.
    pub fn fail_puts(&self, times: usize) {
        *lock(&self.failing_puts) = times;
    }
}

impl crate::run::ReportStore for InMemoryReportStore {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &'static str) -> Result<(), crate::run::StoreError> {
        {
            let mut failing = lock(&self.failing_puts);
            if *failing > 0 {
                *failing -= 1;
                return Err(crate::run::StoreError::Throttled { operation: "PutObject", key: key.to_string() });
            }
        }
        lock(&self.objects).insert(key.to_string(), (body, content_type));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, crate::run::StoreError> {
        Ok(self.text(key))
    }
}

/// Workloads a test sets: what `images_in_use` answers until it is changed.
#[derive(Debug, Clone, Default)]
pub struct InMemoryWorkloads(Arc<Mutex<Vec<crate::workloads::WorkloadImage>>>);

impl InMemoryWorkloads {
    /// GIVEN these workloads run these references (`(image, workload)`).
    pub fn running(list: &[(&str, &str)]) -> Self {
        let w = InMemoryWorkloads::default();
        w.set(list);
        w
    }

    pub fn set(&self, list: &[(&str, &str)]) {
        *lock(&self.0) = list.iter().map(|(i, w)| crate::workloads::WorkloadImage::new(*i, *w)).collect();
    }
}

impl crate::workloads::Workloads for InMemoryWorkloads {
    async fn images_in_use(&self) -> Result<Vec<crate::workloads::WorkloadImage>, crate::workloads::WorkloadError> {
        Ok(lock(&self.0).clone())
    }
}

/// An organization's registries in memory: a target without a registry here has no member
/// role (its reach fails as AssumeRole's would). Counts the reaches (one AssumeRole each).
#[derive(Debug, Clone, Default)]
pub struct InMemoryRegistries {
    registries: Arc<Mutex<Vec<(crate::organization::Target, InMemoryRegistry)>>>,
    reached: Arc<Mutex<Vec<crate::organization::Target>>>,
    /// Each registry's own Security Hub, reached as its registry is.
    hubs: Arc<Mutex<Vec<(crate::organization::Target, InMemorySecurityHub)>>>,
}

impl InMemoryRegistries {
    /// GIVEN the member role in `account`, and its registry in `region`.
    pub fn with(&self, account: &str, region: &str) -> InMemoryRegistry {
        let target = crate::organization::Target { account: account.into(), region: region.into() };
        let registry = InMemoryRegistry::in_account(account, region);
        lock(&self.registries).push((target.clone(), registry.clone()));
        lock(&self.hubs).push((target, InMemorySecurityHub::default()));
        registry
    }

    /// The Security Hub of the registry `with` made for `account` and `region`.
    pub fn security_hub(&self, account: &str, region: &str) -> Option<InMemorySecurityHub> {
        lock(&self.hubs).iter().find(|(t, _)| t.account == account && t.region == region).map(|(_, h)| h.clone())
    }

    /// The registry `with` made for `account` and `region`.
    pub fn registry(&self, account: &str, region: &str) -> Option<InMemoryRegistry> {
        lock(&self.registries).iter().find(|(t, _)| t.account == account && t.region == region).map(|(_, r)| r.clone())
    }

    /// Every reach, in order.
    pub fn reached(&self) -> Vec<crate::organization::Target> {
        lock(&self.reached).clone()
    }
}

impl crate::organization::Registries for InMemoryRegistries {
    type Registry = InMemoryRegistry;

    async fn reach(
        &self,
        target: &crate::organization::Target,
    ) -> Result<InMemoryRegistry, crate::organization::AccessError> {
        lock(&self.reached).push(target.clone());
        let found = lock(&self.registries).iter().find(|(t, _)| t == target).map(|(_, r)| r.clone());
        found.ok_or_else(|| no_member_role(target))
    }

    fn for_run(&self, _session: &str) -> Self {
        self.clone()
    }
}

impl crate::organization::MemberHubs for InMemoryRegistries {
    type Hub = InMemorySecurityHub;

    async fn hub(
        &self,
        target: &crate::organization::Target,
    ) -> Result<InMemorySecurityHub, crate::organization::AccessError> {
        let found = lock(&self.hubs).iter().find(|(t, _)| t == target).map(|(_, h)| h.clone());
        found.ok_or_else(|| no_member_role(target))
    }
}

/// What AssumeRole answers where the member role does not exist.
fn no_member_role(target: &crate::organization::Target) -> crate::organization::AccessError {
    crate::organization::AccessError::CannotAssume {
        role_arn: format!("arn:aws:iam::{}:role/ecr-keeper-member", target.account),
        reason: "AccessDenied".into(),
    }
}

/// Security Hub as far as the import goes: findings kept by id, updated in place (each names its
/// account itself).
#[derive(Debug, Clone, Default)]
pub struct InMemorySecurityHub {
    findings: Arc<Mutex<Vec<crate::audit::security_hub::HubFinding>>>,
}

impl InMemorySecurityHub {
    pub fn findings(&self) -> Vec<crate::audit::security_hub::HubFinding> {
        lock(&self.findings).clone()
    }
}

impl crate::audit::security_hub::SecurityFindings for InMemorySecurityHub {
    async fn active_ids(&self) -> Result<std::collections::HashSet<String>, crate::audit::security_hub::HubError> {
        Ok(lock(&self.findings).iter().filter(|f| f.record_state == "ACTIVE").map(|f| f.id.clone()).collect())
    }

    async fn import(
        &self,
        findings: &[crate::audit::security_hub::HubFinding],
    ) -> Result<usize, crate::audit::security_hub::HubError> {
        let mut kept = lock(&self.findings);
        for f in findings {
            kept.retain(|k| k.id != f.id);
            kept.push(f.clone());
        }
        Ok(0)
    }

    /// The same store: the findings carry their account themselves.
    fn for_account(&self, _account: &str) -> Self {
        self.clone()
    }
}

/// An organization's accounts: (id, organizational unit, ACTIVE).
#[derive(Debug, Clone, Default)]
pub struct InMemoryDirectory(pub Vec<(String, String, bool)>);

impl crate::organization::Directory for InMemoryDirectory {
    async fn active_accounts(&self, units: &[String]) -> Result<Vec<String>, crate::organization::DirectoryError> {
        Ok(self
            .0
            .iter()
            .filter(|(_, unit, active)| *active && (units.is_empty() || units.contains(unit)))
            .map(|(id, _, _)| id.clone())
            .collect())
    }
}

/// CloudFormation's record of stacks, as a test sets it: what `DescribeStackResource` answers.
#[derive(Debug, Clone, Default)]
pub struct InMemoryStacks(Arc<Mutex<HashMap<(String, String), crate::custom_resource::StackResource>>>);

impl InMemoryStacks {
    /// GIVEN the stack holds the resource in this state.
    pub fn set(&self, stack_id: &str, logical_id: &str, resource: crate::custom_resource::StackResource) -> &Self {
        lock(&self.0).insert((stack_id.to_string(), logical_id.to_string()), resource);
        self
    }

    /// The state CloudFormation is in while it waits for the answer to `request`: the resource
    /// `*_IN_PROGRESS` under the request's physical id.
    pub fn sending(&self, request: &crate::custom_resource::Request) -> &Self {
        use crate::custom_resource::RequestType;
        let (resource, stack) = match request.request_type {
            RequestType::Create => ("CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS"),
            RequestType::Update => ("UPDATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"),
            RequestType::Delete => ("DELETE_IN_PROGRESS", "DELETE_IN_PROGRESS"),
        };
        let env = &request.envelope;
        self.set(
            &env.stack_id,
            &env.logical_resource_id,
            crate::custom_resource::StackResource {
                resource_type: crate::custom_resource::RESOURCE_TYPE.into(),
                physical_id: env.physical_resource_id.clone(),
                resource_status: resource.into(),
                stack_status: stack.into(),
            },
        )
    }
}

impl crate::custom_resource::Stacks for InMemoryStacks {
    async fn stack_resource(
        &self,
        stack_id: &str,
        logical_id: &str,
    ) -> Result<Option<crate::custom_resource::StackResource>, crate::custom_resource::StackLookupError> {
        Ok(lock(&self.0).get(&(stack_id.to_string(), logical_id.to_string())).cloned())
    }
}

/// An audit report of these repositories, as one registry's run on 2026-11-01 would keep it.
pub fn audit_report_of(repositories: Vec<crate::audit::RepositoryAudit>) -> crate::audit::AuditReport {
    crate::audit::AuditReport {
        generated_at: "2026-11-01T00:00:00Z".into(),
        region: REGION.into(),
        registry_id: "1".into(),
        complete: true,
        summary: crate::audit::AuditReport::summarize(&repositories),
        repositories,
        unreached: vec![],
        remediation: vec![],
        registry_checks: vec![],
    }
}
