//! What a Create or Update changes on an existing repository, as data: the repository's actual
//! state is read first, [`Plan::between`] compares it with the desired spec without I/O, and
//! [`apply`] makes the calls. The plan's summary is the Reason CloudFormation shows, and
//! `ecr-keeper repository plan` prints it without applying anything.

use super::progress::RequestProgress;
use crate::lifecycle::LifecyclePolicy;
use crate::ports::{RegistryError, RegistryReads, RepositoryAdmin, SettingsWrites};
use crate::repository::{Repository, RepositorySettings, RepositorySpec, ResourceTag, TagMutability};
use serde_json::Value;
use std::collections::BTreeSet;

/// State already read from ECR, so reconciling does not read it again.
#[derive(Debug, Default)]
pub(crate) struct Known {
    lifecycle_policy: Option<Option<String>>,
    tags: Option<Vec<ResourceTag>>,
    repository_policy_absent: bool,
}

impl Known {
    /// A repository this request just created with `tags`: no policies yet.
    pub(crate) fn created_with(tags: Vec<ResourceTag>) -> Self {
        Known { lifecycle_policy: Some(None), tags: Some(tags), repository_policy_absent: true }
    }

    pub(crate) fn with_tags(tags: Vec<ResourceTag>) -> Self {
        Known { tags: Some(tags), ..Known::default() }
    }

    pub(crate) fn with_lifecycle_policy(policy: Option<String>) -> Self {
        Known { lifecycle_policy: Some(policy), ..Known::default() }
    }
}

/// What the plan compares against: the repository as ECR has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActualRepository {
    pub settings: RepositorySettings,
    pub lifecycle_policy: Option<String>,
    /// `None` both when there is none and when it was not read (the spec grants no principals,
    /// so only the old spec's policy matters).
    pub repository_policy: Option<String>,
    pub tags: Vec<ResourceTag>,
}

/// One change to a repository, in the order it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    SetTagMutability {
        mutability: TagMutability,
        exclusion_filters: Vec<String>,
    },
    SetScanOnPush(bool),
    PutLifecyclePolicy(String),
    SetRepositoryPolicy(String),
    /// Only a policy this resource wrote (the old spec granted principals) is removed.
    DeleteRepositoryPolicy,
    Tag(Vec<ResourceTag>),
    Untag(Vec<String>),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::SetTagMutability { mutability, .. } => write!(f, "ImageTagMutability {mutability}"),
            Change::SetScanOnPush(on) => write!(f, "ScanOnPush {on}"),
            Change::PutLifecyclePolicy(_) => f.write_str("lifecycle policy"),
            Change::SetRepositoryPolicy(_) => f.write_str("repository policy"),
            Change::DeleteRepositoryPolicy => f.write_str("repository policy removed"),
            Change::Tag(tags) => write!(f, "{} tag(s) set", tags.len()),
            Change::Untag(keys) => write!(f, "{} tag(s) removed", keys.len()),
        }
    }
}

/// The changes that bring one repository to its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub repository: String,
    pub changes: Vec<Change>,
}

impl Plan {
    /// Every managed setting where `actual` differs from `desired`. Tags the old spec set and the
    /// new one drops are removed; tags set by others are left alone.
    pub fn between(desired: &RepositorySpec, old: Option<&RepositorySpec>, actual: &ActualRepository) -> Plan {
        let mut changes = Vec::new();
        let want = &desired.settings;
        let have = &actual.settings;
        let filters = |f: &[String]| f.iter().cloned().collect::<BTreeSet<_>>();
        if have.tag_mutability != want.tag_mutability
            || filters(&have.exclusion_filters) != filters(&want.exclusion_filters)
        {
            changes.push(Change::SetTagMutability {
                mutability: want.tag_mutability,
                exclusion_filters: want.exclusion_filters.clone(),
            });
        }
        if have.scan_on_push != want.scan_on_push {
            changes.push(Change::SetScanOnPush(want.scan_on_push));
        }
        if !same_policy(actual.lifecycle_policy.as_deref(), &desired.lifecycle_policy) {
            changes.push(Change::PutLifecyclePolicy(desired.lifecycle_policy.to_json()));
        }
        match desired.repository_policy() {
            Some(document) if !same_json(actual.repository_policy.as_deref(), &document) => {
                changes.push(Change::SetRepositoryPolicy(document));
            }
            Some(_) => {}
            None if old.is_some_and(RepositorySpec::has_principals) => changes.push(Change::DeleteRepositoryPolicy),
            None => {}
        }
        let missing: Vec<ResourceTag> = desired.tags.iter().filter(|t| !actual.tags.contains(t)).cloned().collect();
        if !missing.is_empty() {
            changes.push(Change::Tag(missing));
        }
        let desired_keys: BTreeSet<&str> = desired.tags.iter().map(|t| t.key.as_str()).collect();
        let dropped: Vec<String> = old
            .map(|o| o.tags.iter().map(|t| t.key.clone()).filter(|k| !desired_keys.contains(k.as_str())).collect())
            .unwrap_or_default();
        if !dropped.is_empty() {
            changes.push(Change::Untag(dropped));
        }
        Plan { repository: desired.name.clone(), changes }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The Reason: `"<verb> <name>: <change>, <change>"`, or that nothing changes.
    pub fn summary(&self, verb: &str) -> String {
        if self.changes.is_empty() {
            format!("{verb} {}; nothing to change", self.repository)
        } else {
            let changes: Vec<String> = self.changes.iter().map(Change::to_string).collect();
            format!("{verb} {}: {}", self.repository, changes.join(", "))
        }
    }
}

/// Reads what [`Plan::between`] compares and `known` does not already hold.
pub(crate) async fn read_actual<R: RegistryReads>(
    registry: &R,
    repo: &Repository,
    spec: &RepositorySpec,
    known: Known,
    progress: &RequestProgress,
) -> Result<ActualRepository, RegistryError> {
    let name = &repo.name;
    let lifecycle_policy = match known.lifecycle_policy {
        Some(p) => p,
        None => {
            progress.stage(format!("reading the lifecycle policy of {name}"));
            registry.get_lifecycle_policy(name).await?
        }
    };
    let repository_policy = if spec.has_principals() && !known.repository_policy_absent {
        progress.stage(format!("reading the repository policy of {name}"));
        registry.get_repository_policy(name).await?
    } else {
        None
    };
    let tags = match known.tags {
        Some(t) => t,
        None => {
            progress.stage(format!("reading the tags of {name}"));
            registry.list_tags(&repo.arn).await?
        }
    };
    Ok(ActualRepository { settings: repo.settings.clone(), lifecycle_policy, repository_policy, tags })
}

/// Makes the plan's calls, in order; stops at the first failure.
pub(crate) async fn apply<R: RegistryReads + SettingsWrites + RepositoryAdmin>(
    registry: &R,
    repo: &Repository,
    plan: &Plan,
    progress: &RequestProgress,
) -> Result<(), RegistryError> {
    let name = &repo.name;
    for change in &plan.changes {
        match change {
            Change::SetTagMutability { mutability, exclusion_filters } => {
                progress.stage(format!("setting tag mutability of {name}"));
                registry.put_tag_mutability(name, *mutability, exclusion_filters).await?;
            }
            Change::SetScanOnPush(on) => {
                progress.stage(format!("setting scan on push of {name}"));
                registry.put_scan_on_push(name, *on).await?;
            }
            Change::PutLifecyclePolicy(text) => {
                progress.stage(format!("applying the lifecycle policy to {name}"));
                registry.put_lifecycle_policy(name, text).await?;
            }
            Change::SetRepositoryPolicy(document) => {
                progress.stage(format!("setting the repository policy of {name}"));
                registry.set_repository_policy(name, document).await?;
            }
            Change::DeleteRepositoryPolicy => {
                progress.stage(format!("removing the repository policy of {name}"));
                registry.delete_repository_policy(name).await?;
            }
            Change::Tag(tags) => {
                progress.stage(format!("tagging {name}"));
                registry.tag_repository(&repo.arn, tags).await?;
            }
            Change::Untag(keys) => {
                progress.stage(format!("untagging {name}"));
                registry.untag_repository(&repo.arn, keys).await?;
            }
        }
        tracing::info!(repository = %name, change = %change, "reconciled");
    }
    Ok(())
}

fn same_json(current: Option<&str>, desired: &str) -> bool {
    let parse = |t: &str| serde_json::from_str::<Value>(t).ok();
    current.and_then(parse).is_some_and(|c| Some(c) == parse(desired))
}

pub(crate) fn same_policy(current: Option<&str>, desired: &LifecyclePolicy) -> bool {
    same_json(current, &desired.to_json())
}

/// What a Create or Update of `spec` would do to the registry as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preview {
    /// No repository by that name: a Create (or an Update) creates it, then applies these.
    Create { plan: Plan },
    /// The repository exists; `owner` is who manages it (none: an adoption needs AdoptExisting).
    Update { plan: Plan, owner: Option<crate::repository::Ownership> },
}

/// Reads the repository and plans, changing nothing. `old` is the previous properties' spec,
/// when known (it decides which tags and repository policy this resource would remove).
pub async fn preview<R: RegistryReads>(
    registry: &R,
    spec: &RepositorySpec,
    old: Option<&RepositorySpec>,
) -> Result<Preview, RegistryError> {
    let progress = RequestProgress::default();
    match registry.describe_repository(&spec.name).await? {
        None => {
            // A new repository has the spec's settings and no policies or tags of its own yet.
            let fresh = ActualRepository {
                settings: spec.settings.clone(),
                lifecycle_policy: None,
                repository_policy: None,
                tags: Vec::new(),
            };
            let mut plan = Plan::between(spec, None, &fresh);
            // The spec's tags are set by CreateRepository itself.
            plan.changes.retain(|c| !matches!(c, Change::Tag(_)));
            Ok(Preview::Create { plan })
        }
        Some(repo) => {
            let actual = read_actual(registry, &repo, spec, Known::default(), &progress).await?;
            let owner = crate::repository::Ownership::from_tags(&actual.tags);
            Ok(Preview::Update { plan: Plan::between(spec, old, &actual), owner })
        }
    }
}
