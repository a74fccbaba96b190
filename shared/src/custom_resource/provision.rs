//! What `Custom::EcrRepository` does for Create, Update and Delete. Every path is idempotent:
//! Lambda may deliver the same request twice, and CloudFormation may send Delete for an id it
//! invented or while a Create still runs.

use super::confirm::{confirm, still_manages, Stacks};
use super::model::{Outcome, Request, RequestType};
use super::plan::{apply, read_actual, same_policy, Known, Plan};
use super::progress::RequestProgress;
use crate::lifecycle::{simulate, Fate, LifecyclePolicy};
use crate::ports::{Clock, RegistryError, RegistryReads, RepositoryAdmin, SettingsWrites};
use crate::repository::{
    check_repository_name, deletion_mode_of, overridden_retention_properties, parse_spec, DeletionMode, Ownership,
    Repository, RepositorySpec, FAILED_CREATE_MARKER,
};
use crate::workloads::{at_risk, AtRisk, InUse, RegistryAddress, Workloads};
use serde_json::Value;

/// The physical id a failed Create answers with when no repository exists: deterministic per
/// request, so a retried invocation answers the same.
pub fn failed_create_id(request_id: &str) -> String {
    format!("{FAILED_CREATE_MARKER}{request_id}")
}

/// How the repository came under this resource, for the Reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    Created,
    /// Already this resource's: a retried Create, or an Update that found it gone.
    Converged,
    Adopted,
}

impl Arrival {
    fn as_str(self) -> &'static str {
        match self {
            Arrival::Created => "created",
            Arrival::Converged => "converged",
            Arrival::Adopted => "adopted",
        }
    }
}

/// The ownership tags this request writes.
fn owner(req: &Request, adopted: bool) -> Ownership {
    Ownership { stack_id: req.envelope.stack_id.clone(), logical_id: req.envelope.logical_resource_id.clone(), adopted }
}

/// A failure, and the physical id to answer with when it differs from the default.
#[derive(Debug)]
struct Failure {
    physical: Option<String>,
    message: String,
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Self {
        Failure { physical: None, message: e.to_string() }
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure { physical: None, message: message.into() })
}

pub struct Provisioner<R, C, S, W = NoWorkloads> {
    registry: R,
    clock: C,
    /// CloudFormation's own record: a request is believed, and a repository changes owner,
    /// only as it says.
    stacks: S,
    /// When set, an Update's policy may not expire or archive more running images than
    /// `MaxInUseImagesExpiredByUpdate` (default 0).
    workloads: Option<W>,
}

/// The provisioner without workload reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWorkloads;

impl Workloads for NoWorkloads {
    async fn images_in_use(&self) -> Result<Vec<crate::workloads::WorkloadImage>, crate::workloads::WorkloadError> {
        Ok(Vec::new())
    }
}

impl<R: RegistryReads + SettingsWrites + RepositoryAdmin, C: Clock, S: Stacks> Provisioner<R, C, S, NoWorkloads> {
    pub fn new(registry: R, clock: C, stacks: S) -> Self {
        Provisioner { registry, clock, stacks, workloads: None }
    }

    /// Reads running images before an Update changes the lifecycle policy.
    pub fn with_workloads<W: Workloads>(self, workloads: W) -> Provisioner<R, C, S, W> {
        Provisioner { registry: self.registry, clock: self.clock, stacks: self.stacks, workloads: Some(workloads) }
    }
}

// Never ImageWrites: the custom resource's role holds no image action, and its code cannot
// reach one either.
impl<R: RegistryReads + SettingsWrites + RepositoryAdmin, C: Clock, S: Stacks, W: Workloads> Provisioner<R, C, S, W> {
    pub async fn provide(&self, req: &Request, progress: &RequestProgress) -> Outcome {
        if let Err(reason) = self.confirmed(req, progress).await {
            tracing::warn!(
                request_type = req.request_type.as_str(), stack_id = %req.envelope.stack_id,
                logical_id = %req.envelope.logical_resource_id, reason = %reason, "request not confirmed"
            );
            let physical = match req.request_type {
                RequestType::Create => failed_create_id(&req.envelope.request_id),
                _ => req.envelope.physical_resource_id.clone().unwrap_or_default(),
            };
            return Outcome::failed(physical, reason);
        }
        match req.request_type {
            RequestType::Create => self.create(req, progress).await,
            RequestType::Update => self.update(req, progress).await,
            RequestType::Delete => self.delete(req, progress).await,
        }
    }

    /// Asks CloudFormation whether it sent this request. A Delete of nothing (a failed Create's
    /// marker) needs no confirmation: it changes nothing.
    async fn confirmed(&self, req: &Request, progress: &RequestProgress) -> Result<(), String> {
        let env = &req.envelope;
        let id = env.physical_resource_id.as_deref().unwrap_or_default();
        if req.request_type == RequestType::Delete
            && (id.starts_with(FAILED_CREATE_MARKER) || check_repository_name(id).is_err())
        {
            return Ok(());
        }
        progress.stage(format!("confirming the request with stack {}", env.stack_id));
        let found = self.stacks.stack_resource(&env.stack_id, &env.logical_resource_id).await.map_err(|e| {
            format!(
                "could not confirm this {} request with CloudFormation: {e}; nothing was changed",
                req.request_type.as_str()
            )
        })?;
        confirm(req, found.as_ref())
    }

    async fn create(&self, req: &Request, progress: &RequestProgress) -> Outcome {
        let marker = failed_create_id(&req.envelope.request_id);
        let spec = match parse_spec(&req.resource_properties) {
            Ok(spec) => spec,
            Err(e) => return Outcome::failed(marker, e.to_string()),
        };
        warn_overrides(&req.resource_properties);
        match self.create_or_adopt(req, &spec, progress).await {
            Ok((repo, summary)) => success(&repo, summary),
            Err(f) => Outcome::failed(f.physical.unwrap_or(marker), f.message),
        }
    }

    /// Creates the repository, converges one this resource already manages (a retried Create),
    /// or adopts an existing one when allowed; then applies every setting.
    async fn create_or_adopt(
        &self,
        req: &Request,
        spec: &RepositorySpec,
        progress: &RequestProgress,
    ) -> Result<(Repository, String), Failure> {
        let name = &spec.name;
        progress.stage(format!("looking up repository {name}"));
        let (repo, arrival, known) = match self.registry.describe_repository(name).await? {
            None => self.create_repository(req, spec, progress).await?,
            Some(repo) => self.take_over(req, spec, repo, progress).await?,
        };
        // From here on the repository exists: a failure answers with its name, so the Delete
        // CloudFormation sends next finds it (and, being owned, handles it by DeletionMode).
        let plan = self
            .reconcile(&repo, spec, None, known, progress)
            .await
            .map_err(|f| Failure { physical: Some(repo.name.clone()), message: f.message })?;
        Ok((repo, plan.summary(arrival.as_str())))
    }

    async fn create_repository(
        &self,
        req: &Request,
        spec: &RepositorySpec,
        progress: &RequestProgress,
    ) -> Result<(Repository, Arrival, Known), Failure> {
        let name = &spec.name;
        progress.stage(format!("creating repository {name}"));
        let mut tags = spec.tags.clone();
        tags.extend(owner(req, false).tags());
        // A timeout or a 5xx does not prove the repository was not created, so a failure from
        // here on answers with its name: the Delete CloudFormation sends next then finds it, and
        // removes it only if this resource owns it.
        progress.creating(Some(name));
        let repo = match self.registry.create_repository(name, &spec.settings, &tags).await {
            Ok(repo) => repo,
            Err(RegistryError::RepositoryAlreadyExists(_)) => {
                progress.creating(None);
                return fail(format!(
                    "repository {name} was created by someone else while this request ran; retry the stack operation"
                ));
            }
            Err(e) => return Err(Failure { physical: Some(name.clone()), message: e.to_string() }),
        };
        tracing::info!(repository = %name, "created repository");
        Ok((repo, Arrival::Created, Known::created_with(tags)))
    }

    /// An existing repository: this resource's own (a retried Create), or one to adopt.
    async fn take_over(
        &self,
        req: &Request,
        spec: &RepositorySpec,
        repo: Repository,
        progress: &RequestProgress,
    ) -> Result<(Repository, Arrival, Known), Failure> {
        let name = &spec.name;
        let env = &req.envelope;
        progress.stage(format!("reading the tags of {name}"));
        let mut tags = self.registry.list_tags(&repo.arn).await?;
        let previous = Ownership::from_tags(&tags);
        match &previous {
            Some(o) if o.is(&env.stack_id, &env.logical_resource_id) => {
                return Ok((repo, Arrival::Converged, Known::with_tags(tags)))
            }
            Some(o) => self.refuse_if_managed(name, o, spec.adopt_existing, progress).await?,
            None if !spec.adopt_existing => {
                return fail(format!(
                    "repository {name} already exists; set AdoptExisting to \"true\" to manage it with this resource (an adopted repository is kept when the stack is deleted unless DeletionMode is Force)"
                ))
            }
            _ => {}
        }
        if !spec.settings.encryption.satisfied_by(&repo.settings.encryption) {
            return fail(format!(
                "repository {name} is encrypted with {} and ECR cannot change encryption after creation; set EncryptionType to {} to adopt it",
                repo.settings.encryption.type_name(),
                repo.settings.encryption.type_name()
            ));
        }
        progress.stage(format!("adopting repository {name}"));
        if previous.is_some() {
            // The owner is gone (checked above): its tags are removed first, for IAM lets the
            // role write ownership tags only on a repository that carries none.
            self.registry.untag_repository(&repo.arn, &ownership_keys()).await?;
        }
        let ownership = owner(req, true).tags();
        self.registry.tag_repository(&repo.arn, &ownership).await?;
        tracing::info!(repository = %name, "adopted repository");
        tags.retain(|t| !Ownership::is_key(&t.key));
        tags.extend(ownership);
        Ok((repo, Arrival::Adopted, Known::with_tags(tags)))
    }

    /// A repository has one owner: one whose ownership tags name a resource CloudFormation still
    /// has is refused, whatever AdoptExisting says. Adoptable only once that stack or resource
    /// is gone, or its logical id names another repository.
    async fn refuse_if_managed(
        &self,
        name: &str,
        o: &Ownership,
        adopt_existing: bool,
        progress: &RequestProgress,
    ) -> Result<(), Failure> {
        progress.stage(format!("asking CloudFormation whether stack {} still manages {name}", o.stack_id));
        let found = self.stacks.stack_resource(&o.stack_id, &o.logical_id).await.map_err(|e| Failure {
            physical: None,
            message: format!(
                "repository {name} is tagged as managed by {} in stack {}, and {e}; nothing was changed",
                o.logical_id, o.stack_id
            ),
        })?;
        if still_manages(name, found.as_ref()) {
            return fail(format!(
                "repository {name} is managed by {} in stack {}; a repository has one owner. To move it to this stack, set DeletionMode to Retain on it in that stack, remove it from that stack's template (ecr-keeper then releases it), and create it here with AdoptExisting \"true\"",
                o.logical_id, o.stack_id
            ));
        }
        if !adopt_existing {
            return fail(format!(
                "repository {name} already exists, left by {} in stack {}, which no longer manages it; set AdoptExisting to \"true\" to manage it with this resource",
                o.logical_id, o.stack_id
            ));
        }
        Ok(())
    }

    async fn update(&self, req: &Request, progress: &RequestProgress) -> Outcome {
        let old_id = req.envelope.physical_resource_id.clone().unwrap_or_default();
        if old_id.starts_with(FAILED_CREATE_MARKER) {
            return self.create(req, progress).await;
        }
        let spec = match parse_spec(&req.resource_properties) {
            Ok(spec) => spec,
            Err(e) => return Outcome::failed(old_id, format!("{e}; nothing was changed")),
        };
        warn_overrides(&req.resource_properties);
        let old_spec = req.old_resource_properties.as_ref().and_then(|p| parse_spec(p).ok());
        let result = if spec.name != old_id {
            // Replacement: a new repository; CloudFormation then deletes the old id, and the old
            // properties' DeletionMode decides what happens to it.
            progress.stage(format!("replacing {old_id} with {}", spec.name));
            match self.create_or_adopt(req, &spec, progress).await {
                Err(f) => Err(self.discard_failed_replacement(req, progress, f).await),
                done => done,
            }
        } else {
            self.update_in_place(req, &spec, old_spec.as_ref(), progress).await
        };
        match result {
            Ok((repo, summary)) => success(&repo, summary),
            Err(f) => Outcome::failed(old_id, f.message),
        }
    }

    /// A replacement that fails after creating its new repository would leave it behind:
    /// CloudFormation rolls back by updating the old repository and never deletes the new id.
    /// So the new one is removed here, if it is still empty and this request's own creation
    /// (ECR refuses to delete a repository holding images, so nothing can be lost).
    async fn discard_failed_replacement(&self, req: &Request, progress: &RequestProgress, failure: Failure) -> Failure {
        let Some(name) = progress.created_repository() else { return failure };
        let env = &req.envelope;
        let removed = async {
            let Some(repo) = self.registry.describe_repository(&name).await? else { return Ok(false) };
            let tags = self.registry.list_tags(&repo.arn).await?;
            let ours = Ownership::from_tags(&tags)
                .is_some_and(|o| !o.adopted && o.is(&env.stack_id, &env.logical_resource_id));
            if !ours {
                return Ok(false);
            }
            self.registry.delete_repository(&name, false).await.map(|()| true)
        }
        .await;
        let message = match removed {
            Ok(true) => format!("{}; the new repository {name} was removed again", failure.message),
            Ok(false) => failure.message,
            Err(e) => {
                tracing::warn!(repository = %name, error = %e, "the new repository of a failed replacement was left in place");
                format!("{}; the new repository {name} was left in place ({e})", failure.message)
            }
        };
        Failure { physical: failure.physical, message }
    }

    async fn update_in_place(
        &self,
        req: &Request,
        spec: &RepositorySpec,
        old_spec: Option<&RepositorySpec>,
        progress: &RequestProgress,
    ) -> Result<(Repository, String), Failure> {
        let name = &spec.name;
        progress.stage(format!("looking up repository {name}"));
        let Some(repo) = self.registry.describe_repository(name).await? else {
            tracing::warn!(repository = %name, "repository is gone; creating it again");
            return self.create_or_adopt(req, spec, progress).await;
        };
        if !spec.settings.encryption.satisfied_by(&repo.settings.encryption) {
            return fail(format!(
                "EncryptionType/KmsKey cannot change on repository {name}: ECR fixes encryption at creation. \
                 To move to a new repository with the new encryption, also change RepositoryName (the old repository is then handled by its DeletionMode); nothing was changed"
            ));
        }
        progress.stage(format!("reading the lifecycle policy of {name}"));
        let current_policy = self.registry.get_lifecycle_policy(name).await?;
        let guarded = spec.max_images_expired_by_update.is_some() || self.workloads.is_some();
        if guarded && !same_policy(current_policy.as_deref(), &spec.lifecycle_policy) {
            progress.stage(format!("checking what the new lifecycle policy would expire in {name}"));
            let images = self.registry.describe_images(name).await?;
            if let Some(limit) = spec.max_images_expired_by_update {
                self.guard(name, &spec.lifecycle_policy, &images, limit)?;
            }
            if let Some(workloads) = &self.workloads {
                progress
                    .stage(format!("checking which running images the new lifecycle policy would remove from {name}"));
                let limit = spec.max_in_use_images_expired_by_update.unwrap_or(0);
                self.guard_in_use(&repo, &spec.lifecycle_policy, &images, workloads, limit).await?;
            }
        }
        let known = Known::with_lifecycle_policy(current_policy);
        let plan = self.reconcile(&repo, spec, old_spec, known, progress).await?;
        Ok((repo, plan.summary("updated")))
    }

    /// Refuses a lifecycle policy that would expire or archive more images that workloads run
    /// than allowed: the next scale-out or cold start would fail to pull them.
    async fn guard_in_use(
        &self,
        repo: &Repository,
        policy: &LifecyclePolicy,
        images: &[crate::image::Image],
        workloads: &W,
        limit: u32,
    ) -> Result<(), Failure> {
        let name = &repo.name;
        let running = workloads.images_in_use().await.map_err(|e| Failure {
            physical: None,
            message: format!(
                "could not read the workloads that run images of {name} ({e}); nothing was changed. Grant the permission, or remove the function's KEEPER_IN_USE setting to update without this check"
            ),
        })?;
        // Matched as the audit matches them: against the registry the repository's ARN names.
        let in_use = InUse::from_images(&running, &RegistryAddress::default());
        let plan = simulate(policy, images, self.clock.now());
        let risks: Vec<AtRisk> =
            at_risk(&plan, &in_use.for_repository(repo, images)).into_iter().filter(|r| r.now).collect();
        if risks.len() <= limit as usize {
            return Ok(());
        }
        let shown: Vec<String> = risks
            .iter()
            .take(3)
            .map(|r| format!("{} ({} by rule {}, run by {})", r.image(), r.action, r.rule_priority, r.run_by()))
            .collect();
        let more =
            if risks.len() > shown.len() { format!(" and {} more", risks.len() - shown.len()) } else { String::new() };
        fail(format!(
            "the new lifecycle policy would remove {} running image(s) from {name}, more than MaxInUseImagesExpiredByUpdate ({limit}): {}{more}; nothing was changed. Protect them (ProtectedTags, or ProtectInUse with the audit's pins), or raise MaxInUseImagesExpiredByUpdate",
            risks.len(),
            shown.join("; ")
        ))
    }

    /// Refuses a lifecycle policy that would expire more existing images than allowed.
    fn guard(
        &self,
        name: &str,
        policy: &LifecyclePolicy,
        images: &[crate::image::Image],
        limit: u32,
    ) -> Result<(), Failure> {
        let plan = simulate(policy, images, self.clock.now());
        let expired: Vec<usize> =
            plan.actions().into_iter().filter(|&i| plan.decisions[i].fate == Fate::Expire).collect();
        if expired.len() <= limit as usize {
            return Ok(());
        }
        let shown: Vec<String> = expired
            .iter()
            .take(5)
            .map(|&i| {
                let image = &images[i];
                if image.tags.is_empty() {
                    crate::image::short_digest(&image.digest)
                } else {
                    image.tags.join("+")
                }
            })
            .collect();
        let more = if expired.len() > shown.len() {
            format!(" and {} more", expired.len() - shown.len())
        } else {
            String::new()
        };
        fail(format!(
            "the new lifecycle policy would expire {} of the {} in {name}, more than MaxImagesExpiredByUpdate ({limit}): {}{more}; nothing was changed. Keep more images, or raise MaxImagesExpiredByUpdate if this is intended",
            expired.len(),
            crate::lifecycle::count(images.len() as u64, "image", "images"),
            shown.join(", ")
        ))
    }

    /// Reads what the plan needs and is not known yet, plans, and applies the plan.
    async fn reconcile(
        &self,
        repo: &Repository,
        spec: &RepositorySpec,
        old_spec: Option<&RepositorySpec>,
        known: Known,
        progress: &RequestProgress,
    ) -> Result<Plan, Failure> {
        let actual = read_actual(&self.registry, repo, spec, known, progress).await?;
        let plan = Plan::between(spec, old_spec, &actual);
        apply(&self.registry, repo, &plan, progress).await?;
        Ok(plan)
    }

    async fn delete(&self, req: &Request, progress: &RequestProgress) -> Outcome {
        let id = req.envelope.physical_resource_id.clone().unwrap_or_default();
        if id.starts_with(FAILED_CREATE_MARKER) || check_repository_name(&id).is_err() {
            return Outcome::success(id, "nothing to delete: no repository was created for this resource");
        }
        match self.delete_repository(req, &id, progress).await {
            Ok(reason) => {
                tracing::info!(repository = %id, outcome = %reason, "delete handled");
                Outcome::success(id, reason)
            }
            Err(f) => Outcome::failed(id, f.message),
        }
    }

    async fn delete_repository(
        &self,
        req: &Request,
        name: &str,
        progress: &RequestProgress,
    ) -> Result<String, Failure> {
        let mode = match deletion_mode_of(&req.resource_properties) {
            Ok(mode) => mode,
            Err(e) => return Ok(format!("kept {name}: {} {}, so nothing was deleted", e.property, e.message)),
        };
        progress.stage(format!("looking up repository {name}"));
        let Some(repo) = self.registry.describe_repository(name).await? else {
            return Ok(format!("repository {name} is already gone"));
        };
        progress.stage(format!("reading the tags of {name}"));
        let tags = self.registry.list_tags(&repo.arn).await?;
        let env = &req.envelope;
        let owner = match Ownership::from_tags(&tags) {
            Some(o) if o.is(&env.stack_id, &env.logical_resource_id) => o,
            Some(o) => {
                return Ok(format!(
                    "kept {name}: it is managed by {} in stack {}, not by this resource",
                    o.logical_id, o.stack_id
                ))
            }
            None => return Ok(format!("kept {name}: ecr-keeper did not create it (no ownership tags)")),
        };
        match mode {
            DeletionMode::Retain => {
                return Ok(self.release(&repo, format!("kept {name}: DeletionMode is Retain")).await)
            }
            _ if owner.adopted && mode != DeletionMode::Force => {
                let kept =
                    format!("kept {name}: it was adopted, and only DeletionMode Force deletes an adopted repository");
                return Ok(self.release(&repo, kept).await);
            }
            DeletionMode::Force => {
                progress.stage(format!("deleting repository {name} and its images"));
                return match self.registry.delete_repository(name, true).await {
                    Ok(()) | Err(RegistryError::RepositoryNotFound(_)) => {
                        Ok(format!("deleted {name} with its images (DeletionMode Force)"))
                    }
                    Err(e) => Err(e.into()),
                };
            }
            DeletionMode::RetainIfNotEmpty => {}
        }
        progress.stage(format!("checking whether {name} holds images"));
        let retained = format!(
            "kept {name}: it holds images (DeletionMode RetainIfNotEmpty); delete them, or set DeletionMode to Force, to remove it with the stack"
        );
        if self.registry.has_images(name).await? {
            return Ok(self.release(&repo, retained).await);
        }
        progress.stage(format!("deleting empty repository {name}"));
        match self.registry.delete_repository(name, false).await {
            Ok(()) | Err(RegistryError::RepositoryNotFound(_)) => Ok(format!("deleted {name} (it held no images)")),
            // An image arrived between the check and the delete: ECR refused, nothing lost.
            Err(RegistryError::RepositoryNotEmpty(_)) => Ok(self.release(&repo, retained).await),
            Err(e) => Err(e.into()),
        }
    }

    /// A repository the deleted resource keeps is released: its ownership tags go, so no stack
    /// claims it and another may adopt it. Keeping never fails over the tags.
    async fn release(&self, repo: &Repository, kept: String) -> String {
        match self.registry.untag_repository(&repo.arn, &ownership_keys()).await {
            Ok(()) => format!("{kept}; it is released (no stack owns it now, and another may adopt it)"),
            Err(e) => {
                tracing::warn!(repository = %repo.name, error = %e, "a kept repository keeps its ownership tags");
                format!("{kept}; its ownership tags were left ({e})")
            }
        }
    }
}

fn ownership_keys() -> Vec<String> {
    Ownership::KEYS.map(String::from).to_vec()
}

fn warn_overrides(properties: &Value) {
    let overridden = overridden_retention_properties(properties);
    if !overridden.is_empty() {
        tracing::warn!(
            properties = %overridden.join(", "),
            "LifecyclePolicyText is set, so these retention properties are ignored"
        );
    }
}

fn success(repo: &Repository, reason: String) -> Outcome {
    let mut outcome = Outcome::success(&repo.name, reason);
    outcome.data.insert("RepositoryUrl".into(), repo.uri.clone());
    outcome.data.insert("RepositoryArn".into(), repo.arn.clone());
    outcome.data.insert("RepositoryName".into(), repo.name.clone());
    outcome.data.insert("RegistryId".into(), repo.registry_id.clone());
    outcome
}
