//! Scheduled runs at any registry size. A run is cut into shards of repositories; each shard is
//! one invocation (a Distributed Map item in `statemachines/scheduled-run.asl.json`); what a
//! shard could not finish goes into another pass; the shards' results are merged into the very
//! report a one-process run writes, because both go through [`run_repositories`] and
//! [`Job::report`].
//!
//! Steps, each one invocation of the job's function:
//! 1. [`plan`]: list the repositories once, cut them into shards, write pass 1's items;
//! 2. [`run_shard`]: one shard, its result written under `runs/<job>/<run-id>/shards/<n>.json`;
//! 3. [`settle`]: the next pass's items, or the merged report.

mod keys;
mod report;
mod store;

pub use keys::{
    context_key, latest_key, pass_index_key, pass_key, registry_report_prefixes, report_key, run_prefix, shard_key,
    table_key,
};
pub use report::{
    fix_first_markdown, in_order, keep_registry_report, kept_report, publish_report, render, run_summary, Published,
    Ranked, RunReport, TableRow, FIX_FIRST_IN_SUMMARY, FIX_FIRST_SHOWN,
};
pub use store::{ReportStore, StoreError};

use crate::ports::{Registry, RegistryError};
use crate::repository::Repository;
use crate::scanning::RegistryScanning;
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use tokio::time::Instant;

/// What every repository of a run shares: when the run "is", and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunContext {
    /// Second precision: the report's `generatedAt`, the same in every shard.
    pub now: DateTime<Utc>,
    pub region: String,
    pub registry_id: String,
    pub scanning: RegistryScanning,
    /// The registry's pull-time update exclusions (the audit's LC-7), read once with the
    /// scanning; `None` when they could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_time_update_exclusions: Option<Vec<String>>,
    /// Creation templates, pull-through cache rules and replication (the audit's REG-*), read
    /// once with the scanning; `None` when they could not be read. Kept in the plan's context
    /// for the report, never in a shard's item: templates carry whole lifecycle policies, and
    /// a Map item holds 256 KB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_rules: Option<crate::registry::RegistryRules>,
    /// The rules of the replication destinations this run also read (an organization run's
    /// other registries), for REG-3; kept out of shard items like the rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations_read: Vec<crate::registry::DestinationRegistry>,
    /// The applied images-per-repository quota (QUOTA-1), from the registry's rules; unlike
    /// them it travels to every shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_repository_quota: Option<u64>,
    /// What [`Job::prepare`] changed in the registry itself (or, in a dry run, would change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry_changes: Vec<RegistryChange>,
}

/// A change a run made to the registry itself, before its repositories (the audit's
/// remediation of what the registry creates, REG-2); `applied` false in a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryChange {
    pub action: String,
    /// What it changed: a creation template's prefix, say.
    pub subject: String,
    pub applied: bool,
    pub detail: String,
}

impl RunContext {
    /// Lists the repositories under `prefix` and reads the registry scanning once (both must
    /// succeed: without them there is nothing to run); with `registry_settings` (the audit),
    /// the pull-time update exclusions and the registry's rules too.
    pub async fn read<R: Registry>(
        registry: &R,
        prefix: Option<&str>,
        region: &str,
        now: DateTime<Utc>,
        registry_settings: bool,
    ) -> Result<(RunContext, Vec<Repository>), RegistryError> {
        let settings = async {
            if !registry_settings {
                return (None, None);
            }
            let (exclusions, rules) = tokio::join!(registry.pull_time_update_exclusions(), registry.registry_rules());
            (Some(exclusions), Some(rules))
        };
        let (listed, scanning, (exclusions, rules)) =
            tokio::join!(registry.list_repositories(prefix), registry.get_registry_scanning(), settings);
        let (repositories, scanning) = (listed?, scanning?);
        // Only LC-7 needs them: a registry or role without the API still gets its run.
        let pull_time_update_exclusions = exclusions
            .and_then(|e| e.map_err(|e| tracing::warn!(error = %e, "pull-time update exclusions not read")).ok());
        // Only the REG-* checks need them; without them those checks say so.
        let registry_rules =
            rules.and_then(|r| r.map_err(|e| tracing::warn!(error = %e, "registry rules not read")).ok());
        // From the scanning configuration when no repository matched: the header always names it.
        let registry_id = repositories
            .first()
            .map(|r| r.registry_id.clone())
            .or_else(|| scanning.registry_id.clone())
            .unwrap_or_default();
        let now = chrono::SubsecRound::trunc_subsecs(now, 0);
        let cx = RunContext {
            now,
            region: region.to_string(),
            registry_id,
            scanning,
            pull_time_update_exclusions,
            images_per_repository_quota: registry_rules.as_ref().and_then(|r| r.images_per_repository),
            registry_rules,
            destinations_read: Vec::new(),
            registry_changes: Vec::new(),
        };
        Ok((cx, repositories))
    }
}

/// What became of one repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Outcome<T> {
    Done {
        result: T,
    },
    /// Not started before the invocation's deadline.
    NotReached,
    /// A read failed (after the SDK's retries); `reason` is the error as a person reads it.
    ReadFailed {
        reason: String,
    },
}

impl<T> Outcome<T> {
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Done { .. })
    }
}

/// A scheduled job: the daily audit or the weekly cost report.
pub trait Job: Sync {
    /// `audit` or `cost`: the S3 prefixes and the report's name.
    const NAME: &'static str;
    /// Whether a run reads the registry's own settings (pull-time update exclusions, creation
    /// templates, pull-through cache rules, replication): the audit judges them; the cost
    /// report, whose role may not read them, does not.
    const READS_REGISTRY_SETTINGS: bool = false;
    /// One repository's result, carried in a shard's result file.
    type Done: Serialize + DeserializeOwned + Send + Sync + Clone + std::fmt::Debug;
    type Report: RunReport;

    /// Registry-wide work once per run and registry, after its context is read and before its
    /// repositories (the audit's remediation of REG-2); what it changes goes in
    /// `cx.registry_changes`. Nothing by default.
    fn prepare<R: Registry>(&self, _registry: &R, _cx: &mut RunContext) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Reads and judges one repository; `Err` is why it could not be read.
    fn repository<R: Registry>(
        &self,
        registry: &R,
        repository: &Repository,
        cx: &RunContext,
    ) -> impl Future<Output = Result<Self::Done, RegistryError>> + Send;

    /// The report over every repository, in listing order.
    fn report(&self, outcomes: Vec<(Repository, Outcome<Self::Done>)>, cx: &RunContext) -> Self::Report;
}

/// Runs `repositories` `concurrency` at a time, in order; none is started after `deadline`.
pub async fn run_repositories<J: Job, R: Registry>(
    job: &J,
    registry: &R,
    repositories: &[Repository],
    cx: &RunContext,
    concurrency: usize,
    deadline: Option<Instant>,
) -> Vec<Outcome<J::Done>> {
    stream::iter(repositories.iter())
        .map(|repo| async move {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Outcome::NotReached;
            }
            match job.repository(registry, repo, cx).await {
                Ok(result) => Outcome::Done { result },
                Err(e) => {
                    tracing::warn!(repository = %repo.name, error = %e, "could not read repository");
                    Outcome::ReadFailed { reason: e.to_string() }
                }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// The whole job in this process (the CLI, and the function's single-invocation mode).
pub async fn run_in_process<J: Job, R: Registry>(
    job: &J,
    registry: &R,
    prefix: Option<&str>,
    region: &str,
    concurrency: usize,
    deadline: Option<Instant>,
    now: DateTime<Utc>,
) -> Result<J::Report, RegistryError> {
    let (mut cx, repositories) = RunContext::read(registry, prefix, region, now, J::READS_REGISTRY_SETTINGS).await?;
    job.prepare(registry, &mut cx).await;
    let outcomes = run_repositories(job, registry, &repositories, &cx, concurrency, deadline).await;
    Ok(job.report(repositories.into_iter().zip(outcomes).collect(), &cx))
}

/// One Distributed Map item: a shard of one pass, with everything its invocation needs (so no
/// shard repeats a registry-wide read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardItem {
    pub run_id: String,
    pub pass: u32,
    /// Unique within the run, across passes: the result's key.
    pub shard: usize,
    pub context: RunContext,
    pub repositories: Vec<Repository>,
    /// In an organization run, the registry the shard reaches through its member role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

/// What a shard writes to the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", bound(serialize = "T: Serialize", deserialize = "T: DeserializeOwned"))]
pub struct ShardResult<T> {
    pub shard: usize,
    pub pass: u32,
    /// Each repository (as the plan listed it) with its outcome, in the shard's order: the
    /// aggregate builds a registry's report from its shards' results alone.
    pub outcomes: Vec<(Repository, Outcome<T>)>,
}

/// What a shard returns to the state machine: small, whatever the shard's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardSummary {
    pub shard: usize,
    pub pass: u32,
    pub done: usize,
    pub unfinished: usize,
    pub key: String,
}

/// Where the state machine is: returned by [`plan`] and [`settle`], read by the Map and the
/// Choice. Field names are the ASL file's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    pub job: String,
    pub run_id: String,
    pub bucket: String,
    pub pass: u32,
    /// The current pass's items (a JSON array the Map's ItemReader reads).
    pub items_key: String,
    pub shards: usize,
    pub repositories: usize,
    pub max_concurrency: u32,
    /// Shards that may fail (after their retries) before the Map fails the run.
    pub tolerated_failure_percentage: u32,
    /// True once the report is written: the Choice ends the run.
    pub done: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_keys: Vec<String>,
    /// An organization run: the plan is an [`crate::organization::OrganizationPlan`] and the
    /// report an [`crate::organization::OrganizationReport`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub organization: bool,
}

/// How a run is cut and how often it retries what it could not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    pub bucket: String,
    /// Repositories per shard (`KEEPER_SHARD_REPOSITORIES`).
    pub shard_repositories: usize,
    /// Passes before what is still unfinished is reported as such (`KEEPER_MAX_PASSES`).
    pub max_passes: u32,
    /// Shards at once (`KEEPER_MAX_CONCURRENCY`), handed to the Map.
    pub max_concurrency: u32,
    /// `KEEPER_TOLERATED_FAILURE_PERCENTAGE`, handed to the Map: 0 fails the run on the first
    /// shard that fails after its retries.
    pub tolerated_failure_percentage: u32,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            bucket: String::new(),
            shard_repositories: 50,
            max_passes: 3,
            max_concurrency: 10,
            tolerated_failure_percentage: 0,
        }
    }
}

/// The most repositories a shard may hold: a Distributed Map item (a shard, with its
/// repositories' descriptions) must stay under Step Functions' 256 KiB; 200 repositories of
/// ECR's longest (256-character) names measured 207,845 bytes (`run::tests`).
/// One registry: an account in a region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    pub account: String,
    pub region: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.account, self.region)
    }
}

pub const MAX_SHARD_REPOSITORIES: usize = 200;

/// Repositories read at once in one registry, wherever nothing else is asked for: the audit's
/// and the cost report's options, their functions' `KEEPER_CONCURRENCY`, the CLI's
/// `--concurrency`. The one place this default is written.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Cuts `repositories` into shards of at most `size`, numbered from `first`.
pub fn cut(
    repositories: &[Repository],
    size: usize,
    first: usize,
    run_id: &str,
    pass: u32,
    cx: &RunContext,
) -> Vec<ShardItem> {
    cut_for(repositories, size, first, run_id, pass, cx, None)
}

/// [`cut`], the items marked with the registry they reach.
pub(crate) fn cut_for(
    repositories: &[Repository],
    size: usize,
    first: usize,
    run_id: &str,
    pass: u32,
    cx: &RunContext,
    target: Option<&Target>,
) -> Vec<ShardItem> {
    repositories
        .chunks(size.max(1))
        .enumerate()
        .map(|(i, chunk)| ShardItem {
            run_id: run_id.to_string(),
            pass,
            shard: first + i,
            context: RunContext {
                registry_rules: None,
                destinations_read: Vec::new(),
                registry_changes: Vec::new(),
                ..cx.clone()
            },
            repositories: chunk.to_vec(),
            target: target.cloned(),
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: not what this step wrote ({message}); was the run started by another version?")]
    Corrupt { key: String, message: String },
    #[error(
        "run {run_id} has nothing at {key} (pass {pass}; 0 is the plan's context): was it planned in this bucket?"
    )]
    MissingPass { run_id: String, pass: u32, key: String },
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

pub(crate) async fn read_json<T: DeserializeOwned, S: ReportStore>(
    store: &S,
    key: &str,
) -> Result<Option<T>, RunError> {
    match store.get(key).await? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| RunError::Corrupt { key: key.to_string(), message: e.to_string() }),
    }
}

/// A run as its plan starts it: its id (every key's part) and its moment.
#[derive(Debug, Clone, Copy)]
pub struct RunStart<'a> {
    pub run_id: &'a str,
    pub now: DateTime<Utc>,
}

/// Step 1: lists the registry, writes pass 1's items.
pub async fn plan<J: Job, R: Registry, S: ReportStore>(
    job: &J,
    registry: &R,
    store: &S,
    settings: &RunSettings,
    prefix: Option<&str>,
    region: &str,
    start: RunStart<'_>,
) -> Result<RunState, RunError> {
    let RunStart { run_id, now } = start;
    let (mut cx, repositories) = RunContext::read(registry, prefix, region, now, J::READS_REGISTRY_SETTINGS).await?;
    job.prepare(registry, &mut cx).await;
    let items = cut(&repositories, settings.shard_repositories, 0, run_id, 1, &cx);
    store.put(&context_key(J::NAME, run_id), to_json(&cx).into_bytes(), "application/json").await?;
    let items_key = write_pass(J::NAME, store, run_id, 1, &items).await?;
    Ok(RunState::first_pass(J::NAME, run_id, settings, items_key, items.len(), repositories.len(), false))
}

impl RunState {
    /// Pass 1 of a run, as the plan leaves it.
    pub(crate) fn first_pass(
        job: &str,
        run_id: &str,
        settings: &RunSettings,
        items_key: String,
        shards: usize,
        repositories: usize,
        organization: bool,
    ) -> RunState {
        RunState {
            job: job.to_string(),
            run_id: run_id.to_string(),
            bucket: settings.bucket.clone(),
            pass: 1,
            items_key,
            shards,
            repositories,
            max_concurrency: settings.max_concurrency,
            tolerated_failure_percentage: settings.tolerated_failure_percentage,
            done: false,
            complete: None,
            report_keys: Vec::new(),
            organization,
        }
    }
}

/// Step 2: one shard; its result is written before the summary is returned, so a retried
/// invocation simply rewrites it.
pub async fn run_shard<J: Job, R: Registry, S: ReportStore>(
    job: &J,
    registry: &R,
    store: &S,
    item: &ShardItem,
    concurrency: usize,
    deadline: Option<Instant>,
) -> Result<ShardSummary, RunError> {
    let outcomes = run_repositories(job, registry, &item.repositories, &item.context, concurrency, deadline).await;
    let done = outcomes.iter().filter(|o| o.is_done()).count();
    let result = ShardResult {
        shard: item.shard,
        pass: item.pass,
        outcomes: item.repositories.iter().cloned().zip(outcomes).collect(),
    };
    let key = shard_key(J::NAME, &item.run_id, item.shard);
    store.put(&key, to_json(&result).into_bytes(), "application/json").await?;
    Ok(ShardSummary { shard: item.shard, pass: item.pass, done, unfinished: item.repositories.len() - done, key })
}

/// What [`settle`] decided.
#[derive(Debug)]
pub enum Settled<R> {
    /// Another pass over what is unfinished: its items are written.
    NextPass(RunState),
    /// Every pass is run: the report over every repository.
    Final(R),
}

/// Where one shard of a pass stands: its number and the registry it reads. A pass's index
/// (`passes/<n>.shards.json`) holds one per item, so the aggregate finds a registry's shards
/// without reading the items (every repository of the run) back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardRef {
    pub shard: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

/// Writes a pass's items and its index.
pub(crate) async fn write_pass<S: ReportStore>(
    job: &str,
    store: &S,
    run_id: &str,
    pass: u32,
    items: &[ShardItem],
) -> Result<String, RunError> {
    let index: Vec<ShardRef> = items.iter().map(|i| ShardRef { shard: i.shard, target: i.target.clone() }).collect();
    store.put(&pass_index_key(job, run_id, pass), to_json(&index).into_bytes(), "application/json").await?;
    let items_key = pass_key(job, run_id, pass);
    store.put(&items_key, to_json(&items).into_bytes(), "application/json").await?;
    Ok(items_key)
}

/// Every pass's index, pass 1 first.
pub(crate) async fn pass_indexes<S: ReportStore>(
    job: &str,
    store: &S,
    state: &RunState,
) -> Result<Vec<Vec<ShardRef>>, RunError> {
    let run_id = state.run_id.as_str();
    let mut out = Vec::new();
    for pass in 1..=state.pass {
        let key = pass_index_key(job, run_id, pass);
        let index = read_json(store, &key).await?.ok_or_else(|| RunError::MissingPass {
            run_id: run_id.to_string(),
            pass,
            key: key.clone(),
        })?;
        out.push(index);
    }
    Ok(out)
}

/// Only whether an outcome is done: what the aggregate's first look needs of a shard's result.
#[derive(Deserialize)]
struct OutcomeTag {
    outcome: String,
}

#[derive(Deserialize)]
struct ShardTags {
    outcomes: Vec<(Repository, OutcomeTag)>,
}

/// A shard's result; for a shard that wrote none (the Map tolerated its failure), its
/// repositories as failed, read back from its pass's items (the one read of every repository
/// of a pass, and only then).
async fn shard_outcomes<T: DeserializeOwned, S: ReportStore>(
    job: &str,
    store: &S,
    run_id: &str,
    pass: u32,
    shard: usize,
) -> Result<Vec<(Repository, Outcome<T>)>, RunError> {
    if let Some(result) = read_json::<ShardResult<T>, S>(store, &shard_key(job, run_id, shard)).await? {
        return Ok(result.outcomes);
    }
    let key = pass_key(job, run_id, pass);
    let items: Vec<ShardItem> = read_json(store, &key).await?.ok_or_else(|| RunError::MissingPass {
        run_id: run_id.to_string(),
        pass,
        key: key.clone(),
    })?;
    let reason = format!("shard {shard} wrote no result");
    Ok(items
        .into_iter()
        .find(|i| i.shard == shard)
        .map(|i| i.repositories)
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r, Outcome::ReadFailed { reason: reason.clone() }))
        .collect())
}

/// Every repository of one registry (`target`; `None` in a one-registry run), in pass 1's
/// order, with its latest outcome; what never got one is not reached. Only this registry's
/// shard results are read: the aggregate holds one registry at a time.
pub(crate) async fn registry_outcomes<T: DeserializeOwned, S: ReportStore>(
    job: &str,
    store: &S,
    run_id: &str,
    indexes: &[Vec<ShardRef>],
    target: Option<&Target>,
) -> Result<Vec<(Repository, Outcome<T>)>, RunError> {
    let mut ordered: Vec<(Repository, Outcome<T>)> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    for (pass, index) in (1u32..).zip(indexes) {
        for shard in index.iter().filter(|s| s.target.as_ref() == target) {
            for (repo, outcome) in shard_outcomes::<T, S>(job, store, run_id, pass, shard.shard).await? {
                match position.get(&repo.name) {
                    Some(&i) => ordered[i].1 = outcome,
                    None => {
                        position.insert(repo.name.clone(), ordered.len());
                        ordered.push((repo, outcome));
                    }
                }
            }
        }
    }
    Ok(ordered)
}

/// The repositories of one registry not done yet, in order; results read for their outcome only.
async fn registry_unfinished<S: ReportStore>(
    job: &str,
    store: &S,
    run_id: &str,
    indexes: &[Vec<ShardRef>],
    target: Option<&Target>,
) -> Result<Vec<Repository>, RunError> {
    let mut ordered: Vec<(Repository, bool)> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    for (pass, index) in (1u32..).zip(indexes) {
        for shard in index.iter().filter(|s| s.target.as_ref() == target) {
            let outcomes: Vec<(Repository, bool)> =
                match read_json::<ShardTags, S>(store, &shard_key(job, run_id, shard.shard)).await? {
                    Some(tags) => tags.outcomes.into_iter().map(|(r, t)| (r, t.outcome == "done")).collect(),
                    None => shard_outcomes::<serde_json::Value, S>(job, store, run_id, pass, shard.shard)
                        .await?
                        .into_iter()
                        .map(|(r, _)| (r, false))
                        .collect(),
                };
            for (repo, done) in outcomes {
                match position.get(&repo.name) {
                    Some(&i) => ordered[i].1 = done,
                    None => {
                        position.insert(repo.name.clone(), ordered.len());
                        ordered.push((repo, done));
                    }
                }
            }
        }
    }
    Ok(ordered.into_iter().filter(|(_, done)| !done).map(|(r, _)| r).collect())
}

/// The next pass's items over what is unfinished in `registries` (each registry's context and
/// target, in the plan's order), when there is any and passes are left; each registry's
/// results are read for their outcome only, one registry at a time.
pub(crate) async fn next_pass<S: ReportStore>(
    job: &str,
    store: &S,
    settings: &RunSettings,
    state: &RunState,
    indexes: &[Vec<ShardRef>],
    registries: &[(&RunContext, Option<&Target>)],
) -> Result<Option<RunState>, RunError> {
    if state.pass >= settings.max_passes {
        return Ok(None);
    }
    let run_id = state.run_id.as_str();
    let first = indexes.iter().flatten().map(|s| s.shard + 1).max().unwrap_or(0);
    let pass = state.pass + 1;
    let (mut items, mut unfinished) = (Vec::new(), 0);
    for (cx, target) in registries {
        let repositories = registry_unfinished(job, store, run_id, indexes, *target).await?;
        unfinished += repositories.len();
        let first = first + items.len();
        items.extend(cut_for(&repositories, settings.shard_repositories, first, run_id, pass, cx, *target));
    }
    if items.is_empty() {
        return Ok(None);
    }
    let items_key = write_pass(job, store, run_id, pass, &items).await?;
    Ok(Some(RunState { pass, items_key, shards: items.len(), repositories: unfinished, done: false, ..state.clone() }))
}

/// Step 3: reads every pass's items and every shard's result; writes the next pass's items
/// while repositories are unfinished and passes are left, or merges everything into the report.
pub async fn settle<J: Job, S: ReportStore>(
    job: &J,
    store: &S,
    settings: &RunSettings,
    state: &RunState,
) -> Result<Settled<J::Report>, RunError> {
    let run_id = state.run_id.as_str();
    let cx: RunContext = read_json(store, &context_key(J::NAME, run_id)).await?.ok_or_else(|| {
        RunError::MissingPass { run_id: run_id.to_string(), pass: 0, key: context_key(J::NAME, run_id) }
    })?;
    let indexes = pass_indexes(J::NAME, store, state).await?;
    if let Some(next) = next_pass(J::NAME, store, settings, state, &indexes, &[(&cx, None)]).await? {
        return Ok(Settled::NextPass(next));
    }
    let outcomes = registry_outcomes::<J::Done, S>(J::NAME, store, run_id, &indexes, None).await?;
    Ok(Settled::Final(job.report(outcomes, &cx)))
}

#[cfg(test)]
mod tests;
