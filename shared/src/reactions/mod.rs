//! What ecr-keeper does when an image is pushed or scanned.
//!
//! Push: count it; start a basic scan where nothing scans on push; warn when the pushed tag is
//! one no lifecycle rule can ever act on. Scan: count findings by severity; apply the threshold
//! and suppressions; raise one structured alert on a breach.

use crate::alerts::{AlertError, Alerts, Delivery, ImageAlert, NoAlerts};
use crate::events::{parse_event, EventError, ImageAction, ImageActionType, KeeperEvent, ScanResult, Scanner};
use crate::findings::{console_link, Assessment, Finding, FindingsPolicy, Severity, SeverityCounts};
use crate::image::Image;
use crate::lifecycle::{parse_policy, simulate, Fate, LifecyclePolicy, PolicyError};
use crate::metrics::{names, Metric, MetricsSink, DIM_SEVERITY};
use crate::ports::{Clock, ImageWrites, RegistryError, RegistryReads, SystemClock};
use crate::scanning::{scanned_automatically, RegistryScanning};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// What the repository's settings say, as far as a push is concerned.
#[derive(Debug, Clone)]
struct RepositoryFacts {
    exists: bool,
    scan_on_push: bool,
    /// `Err` holds why the stored policy could not be read.
    policy: Option<Result<LifecyclePolicy, PolicyError>>,
}

#[derive(Default)]
struct Cache {
    registry: Option<(DateTime<Utc>, RegistryScanning)>,
    repositories: HashMap<String, (DateTime<Utc>, RepositoryFacts)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum ScanDecision {
    Started,
    /// ECR's once-a-day manual scan quota for this image was already used.
    SkippedQuota,
    /// A member account's role may not start scans (read-only, as deployed by default).
    Denied {
        enable: String,
    },
    NotNeeded {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushReaction {
    #[serde(skip)]
    pub metrics: Vec<Metric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanDecision>,
    pub warnings: Vec<String>,
}

pub struct PushReactor<R, C> {
    registry: R,
    clock: C,
    ttl: Duration,
    cache: Mutex<Cache>,
    /// Acting in a member account through its member role: a refused StartImageScan is the
    /// read-only default there, not a failure.
    member: bool,
    denial_logged: std::sync::atomic::AtomicBool,
}

impl<R: RegistryReads + ImageWrites, C: Clock> PushReactor<R, C> {
    /// `ttl` bounds how stale cached settings (scanning, lifecycle policy) may be.
    pub fn new(registry: R, clock: C, ttl: Duration) -> Self {
        PushReactor {
            registry,
            clock,
            ttl,
            cache: Mutex::new(Cache::default()),
            member: false,
            denial_logged: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The reactor of a member account (see [`ScanDecision::Denied`]).
    pub fn in_member_account(mut self) -> Self {
        self.member = true;
        self
    }

    pub async fn on_image_action(&self, action: &ImageAction) -> Result<PushReaction, RegistryError> {
        let repo = action.repository.as_str();
        let mut reaction = PushReaction { metrics: Vec::new(), scan: None, warnings: Vec::new() };
        let metric = match (action.action, action.succeeded) {
            (ImageActionType::Push, true) => names::IMAGE_PUSHES,
            (ImageActionType::Push, false) => names::IMAGE_PUSH_FAILURES,
            (ImageActionType::Delete, true) => names::IMAGE_DELETES,
            (ImageActionType::UpdateStorageClass, true) => names::IMAGE_STORAGE_CLASS_CHANGES,
            (kind, false) => {
                reaction.warnings.push(format!("{kind:?} of an image in {repo} failed"));
                return Ok(reaction);
            }
        };
        reaction.metrics.push(Metric::for_repository(metric, repo, 1));
        if !(action.action == ImageActionType::Push && action.succeeded) {
            return Ok(reaction);
        }

        let facts = self.repository_facts(repo).await?;
        if !facts.exists {
            reaction.warnings.push(format!("repository {repo} no longer exists"));
            return Ok(reaction);
        }
        let scanning = self.registry_scanning().await?;
        reaction.scan = Some(self.assure_scan(action, &facts, &scanning, &mut reaction.metrics).await?);

        if let Some(warning) = self.unmanaged_warning(action, &facts) {
            reaction.metrics.push(Metric::for_repository(names::UNMANAGED_IMAGE_PUSHES, repo, 1));
            reaction.warnings.push(warning);
        }
        Ok(reaction)
    }

    async fn assure_scan(
        &self,
        action: &ImageAction,
        facts: &RepositoryFacts,
        scanning: &RegistryScanning,
        metrics: &mut Vec<Metric>,
    ) -> Result<ScanDecision, RegistryError> {
        let repo = action.repository.as_str();
        if scanning.enhanced {
            return Ok(ScanDecision::NotNeeded {
                reason: "the registry uses enhanced scanning (Amazon Inspector)".into(),
            });
        }
        if scanned_automatically(repo, facts.scan_on_push, scanning) {
            return Ok(ScanDecision::NotNeeded { reason: "scanned on push".into() });
        }
        let Some(digest) = action.digest.as_deref() else {
            return Ok(ScanDecision::NotNeeded { reason: "the event names no image digest".into() });
        };
        match self.registry.start_image_scan(repo, digest).await {
            Ok(()) => {
                tracing::info!(repository = %repo, digest = %digest, "started a basic scan: nothing scans this repository on push");
                metrics.push(Metric::for_repository(names::SCANS_STARTED, repo, 1));
                Ok(ScanDecision::Started)
            }
            Err(RegistryError::QuotaExceeded { .. }) => {
                tracing::info!(repository = %repo, digest = %digest, "scan not started: this image already had its manual scan today");
                metrics.push(Metric::for_repository(names::SCAN_STARTS_SKIPPED, repo, 1));
                Ok(ScanDecision::SkippedQuota)
            }
            Err(RegistryError::AccessDenied { .. }) if self.member => {
                let enable = "deploy the member stack with AllowRemediation=true (it grants ecr:StartImageScan), or turn on scan on push for the repository".to_string();
                if !self.denial_logged.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    tracing::warn!(repository = %repo, "the member role may not start scans, so pushes it does not scan stay unscanned: {enable}");
                }
                metrics.push(Metric::for_repository(names::SCAN_STARTS_DENIED, repo, 1));
                Ok(ScanDecision::Denied { enable })
            }
            Err(e) => {
                self.forget(repo);
                Err(e)
            }
        }
    }

    fn unmanaged_warning(&self, action: &ImageAction, facts: &RepositoryFacts) -> Option<String> {
        let repo = &action.repository;
        let policy = match &facts.policy {
            None => {
                return Some(format!(
                    "repository {repo} has no lifecycle policy: no image pushed to it is ever expired"
                ))
            }
            Some(Err(e)) => {
                return Some(format!(
                    "the lifecycle policy of {repo} cannot be read ({}): ecr-keeper cannot tell what it expires",
                    e.to_string().replace('\n', " ")
                ))
            }
            Some(Ok(policy)) => policy,
        };
        let now = self.clock.now();
        let tags: Vec<&str> = action.tag.iter().map(String::as_str).collect();
        let image = [Image::new(action.digest.clone().unwrap_or_default(), &tags, now, 0)];
        if simulate(policy, &image, now).decisions[0].fate != Fate::Unmanaged {
            return None;
        }
        Some(match &action.tag {
            Some(tag) => format!(
                "tag `{tag}` matches no rule of the lifecycle policy of {repo}: this image will never be expired"
            ),
            None => format!(
                "no rule of the lifecycle policy of {repo} covers untagged images: this image will never be expired"
            ),
        })
    }

    async fn repository_facts(&self, repo: &str) -> Result<RepositoryFacts, RegistryError> {
        if let Some(facts) = self.cached(|c| c.repositories.get(repo).cloned()) {
            return Ok(facts);
        }
        let facts = match self.registry.describe_repository(repo).await? {
            None => RepositoryFacts { exists: false, scan_on_push: false, policy: None },
            Some(r) => RepositoryFacts {
                exists: true,
                scan_on_push: r.settings.scan_on_push,
                policy: self.registry.get_lifecycle_policy(repo).await?.map(|text| parse_policy(&text)),
            },
        };
        if let Ok(mut cache) = self.cache.lock() {
            cache.repositories.insert(repo.to_string(), (self.clock.now(), facts.clone()));
        }
        Ok(facts)
    }

    async fn registry_scanning(&self) -> Result<RegistryScanning, RegistryError> {
        if let Some(scanning) = self.cached(|c| c.registry.clone()) {
            return Ok(scanning);
        }
        let scanning = self.registry.get_registry_scanning().await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.registry = Some((self.clock.now(), scanning.clone()));
        }
        Ok(scanning)
    }

    fn cached<T>(&self, get: impl Fn(&Cache) -> Option<(DateTime<Utc>, T)>) -> Option<T> {
        let now = self.clock.now();
        let cache = self.cache.lock().ok()?;
        get(&cache).filter(|(at, _)| (now - *at).to_std().is_ok_and(|age| age < self.ttl)).map(|(_, v)| v)
    }

    fn forget(&self, repo: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.repositories.remove(repo);
        }
    }
}

/// The structured log record raised when an image breaches the threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VulnerabilityAlert {
    pub alert: &'static str,
    pub account: String,
    pub region: String,
    pub repository: String,
    pub image_digest: String,
    /// The first tags (an image may carry 1,000: the log line and the answer stay small).
    pub image_tags: Vec<String>,
    pub image_tag_count: usize,
    pub scanner: &'static str,
    pub severity_counts: BTreeMap<&'static str, u64>,
    #[serde(flatten)]
    pub assessment: Assessment,
    pub console_url: String,
    /// Why the findings' details could not be read (the counts come from the event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_unavailable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReaction {
    /// Published after the event's own counts (see [`scan_counts`]).
    #[serde(skip)]
    pub metrics: Vec<Metric>,
    pub completed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assessment: Option<Assessment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<VulnerabilityAlert>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// Why reacting to an event failed: returned so Lambda retries it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReactionError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the alert was not delivered: {0}")]
    Alert(#[from] AlertError),
}

impl ReactionError {
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Registry(e) => e.is_transient(),
            Self::Alert(e) => e.is_transient(),
        }
    }
}

/// What the scan event itself says, as metrics: published before any AWS call, so that a
/// failed lookup never loses them.
pub fn scan_counts(scan: &ScanResult) -> Vec<Metric> {
    let repo = scan.repository.as_str();
    if !scan.completed() {
        return vec![Metric::for_repository(names::SCAN_FAILURES, repo, 1)];
    }
    let mut metrics = vec![Metric::for_repository(names::IMAGES_SCANNED, repo, 1)];
    // All six severities, zeros included, so graphs and alarms stay continuous.
    for (severity, n) in scan.counts.iter() {
        metrics.push(Metric::for_repository(names::FINDINGS, repo, n).with(DIM_SEVERITY, severity.as_str()));
    }
    metrics
}

pub struct ScanReactor<R, A = NoAlerts> {
    registry: R,
    policy: FindingsPolicy,
    alerts: A,
    clock: Box<dyn Clock>,
}

impl<R: RegistryReads> ScanReactor<R, NoAlerts> {
    /// Alerts go to the log only.
    pub fn new(registry: R, policy: FindingsPolicy) -> Self {
        ScanReactor { registry, policy, alerts: NoAlerts, clock: Box::new(SystemClock) }
    }
}

impl<R: RegistryReads, A: Alerts> ScanReactor<R, A> {
    pub fn with_alerts(registry: R, policy: FindingsPolicy, alerts: A, clock: impl Clock + 'static) -> Self {
        ScanReactor { registry, policy, alerts, clock: Box::new(clock) }
    }

    /// Judges a scan and alerts. The event's counts are not in the returned metrics: publish
    /// [`scan_counts`] first.
    pub async fn on_scan(&self, scan: &ScanResult) -> Result<ScanReaction, ReactionError> {
        let (mut reaction, pending) = self.judge(scan).await?;
        if let Some(image) = pending {
            self.deliver(&mut reaction, image).await?;
        }
        Ok(reaction)
    }

    /// Delivers the alert [`Self::judge`] decided on.
    pub async fn deliver(&self, reaction: &mut ScanReaction, image: ImageAlert) -> Result<(), ReactionError> {
        let (repo, digest) = (image.repository.clone(), image.digest.clone());
        let delivery = self.alerts.deliver(image, self.clock.now()).await?;
        tracing::info!(repository = %repo, digest = %digest, delivery = ?delivery, "alert");
        reaction.delivery = Some(delivery);
        Ok(())
    }

    /// Judges a scan: the reaction with its metrics (`VulnerableImages`), and the alert to deliver
    /// if any. The metrics are published before delivery is tried, so an alert SNS refuses or a
    /// ledger that fails never silences the alarm on them.
    pub async fn judge(&self, scan: &ScanResult) -> Result<(ScanReaction, Option<ImageAlert>), ReactionError> {
        let repo = scan.repository.as_str();
        let mut reaction = ScanReaction {
            metrics: Vec::new(),
            completed: scan.completed(),
            assessment: None,
            alert: None,
            delivery: None,
        };
        if !scan.completed() {
            tracing::warn!(repository = %repo, digest = %scan.digest, status = %scan.status, "scan did not complete");
            return Ok((reaction, None));
        }
        if scan.counts.at_or_above(self.policy.threshold) == 0 {
            return Ok((reaction, None));
        }
        // Only a possible breach is worth the findings' details (for suppressions and the alert).
        let (assessment, open, unavailable) = match self.registry.describe_scan_findings(repo, &scan.digest).await {
            Ok(found) => {
                let findings = found.map(|s| s.findings).unwrap_or_default();
                let open = self.policy.open_at_or_above(repo, &findings);
                (self.policy.assess(repo, &scan.counts, &findings), open, None)
            }
            Err(e) if e.is_transient() => return Err(e.into()),
            // Gone or forbidden: retrying cannot help, and the event's counts are still true.
            Err(e) => {
                tracing::warn!(repository = %repo, digest = %scan.digest, error = %e, "alerting with the event's counts only");
                (self.policy.assess(repo, &scan.counts, &[]), Vec::new(), Some(e.to_string()))
            }
        };
        if !assessment.breached() {
            reaction.assessment = Some(assessment);
            return Ok((reaction, None));
        }
        reaction.metrics.push(Metric::for_repository(names::VULNERABLE_IMAGES, repo, 1));
        let scanner = match scan.scanner {
            Scanner::Basic => "basic",
            Scanner::Enhanced => "enhanced",
        };
        let console_url = console_link(&scan.region, &scan.account, repo, &scan.digest);
        let mut image = ImageAlert {
            account: scan.account.clone(),
            region: scan.region.clone(),
            repository: repo.to_string(),
            digest: scan.digest.clone(),
            tags: scan.tags.clone(),
            scanner,
            threshold: self.policy.threshold,
            counts: scan.counts,
            open_at_or_above: assessment.unsuppressed_at_or_above,
            new_findings: open,
            suppressed: assessment.suppressed.len(),
            console_url: console_url.clone(),
            details_unavailable: unavailable.clone(),
        };
        if unavailable.is_some() {
            // No findings to tell apart: the counts stand in for them, so the same event
            // delivered twice alerts once.
            image.new_findings = vec![counts_stand_in(&scan.counts)];
        }
        let alert = VulnerabilityAlert {
            alert: "VulnerableImage",
            account: scan.account.clone(),
            region: scan.region.clone(),
            repository: repo.to_string(),
            image_digest: scan.digest.clone(),
            image_tags: crate::alerts::shown_tags(&scan.tags).0,
            image_tag_count: scan.tags.len(),
            scanner,
            severity_counts: scan.counts.iter().map(|(s, n)| (s.as_str(), n)).collect(),
            assessment: assessment.clone(),
            console_url,
            details_unavailable: unavailable,
        };
        // One JSON line whatever the alert mode, for log subscriptions and Logs Insights.
        tracing::error!(alert = %serde_json::to_string(&alert).unwrap_or_default(), "vulnerable image");
        reaction.assessment = Some(assessment);
        reaction.alert = Some(alert);
        Ok((reaction, Some(image)))
    }
}

/// A finding standing for "these counts", when the details could not be read.
fn counts_stand_in(counts: &SeverityCounts) -> Finding {
    let summary: Vec<String> = counts.iter().map(|(s, n)| format!("{s}:{n}")).collect();
    let worst = counts.iter().find(|(_, n)| *n > 0).map_or(Severity::Undefined, |(s, _)| s);
    Finding {
        id: format!("counts {}", summary.join(" ")),
        severity: worst,
        package: None,
        version: None,
        uri: None,
        fixed_in: None,
        score: None,
    }
}

/// What an event function did with one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "handled")]
pub enum Handled {
    Push(PushReaction),
    Delete(PushReaction),
    StorageClassChange(PushReaction),
    Scan(Box<ScanReaction>),
    /// A permanent problem with the event itself: counted and dropped, never retried.
    Invalid {
        reason: String,
    },
}

/// push-events: parses, reacts, publishes metrics. AWS errors are returned (Lambda retries,
/// then the DLQ keeps the event); a bad event is counted as `InvalidEvents` and dropped.
pub async fn handle_push_event<R: RegistryReads + ImageWrites, C: Clock, S: MetricsSink>(
    event: &Value,
    reactor: &PushReactor<R, C>,
    sink: &S,
) -> Result<Handled, ReactionError> {
    let action = match parse_event(event, &[crate::events::IMAGE_ACTION]) {
        Ok(KeeperEvent::ImageAction(a)) => a,
        Ok(_) => {
            return Ok(drop_invalid(
                EventError::Invalid { detail_type: "event".into(), message: "not an ECR Image Action".into() },
                sink,
            )
            .await)
        }
        Err(e) => return Ok(drop_invalid(e, sink).await),
    };
    let reaction = reactor.on_image_action(&action).await?;
    for warning in &reaction.warnings {
        tracing::warn!(repository = %action.repository, tag = action.tag.as_deref().unwrap_or(""), "{warning}");
    }
    publish(sink, &reaction.metrics).await;
    Ok(match action.action {
        ImageActionType::Push => Handled::Push(reaction),
        ImageActionType::Delete => Handled::Delete(reaction),
        ImageActionType::UpdateStorageClass => Handled::StorageClassChange(reaction),
    })
}

/// scan-events: the event's counts are published first, then the findings are read, the
/// verdict's metrics published, and only then the alert delivered. AWS errors worth retrying are returned; a bad event is counted and dropped.
pub async fn handle_scan_event<R: RegistryReads, A: Alerts, S: MetricsSink>(
    event: &Value,
    reactor: &ScanReactor<R, A>,
    sink: &S,
) -> Result<Handled, ReactionError> {
    let scan = match parse_event(event, &[crate::events::ECR_SCAN, crate::events::INSPECTOR_SCAN]) {
        Ok(KeeperEvent::Scan(s)) => s,
        Ok(_) => {
            return Ok(drop_invalid(
                EventError::Invalid { detail_type: "event".into(), message: "not a scan result".into() },
                sink,
            )
            .await)
        }
        Err(e) => return Ok(drop_invalid(e, sink).await),
    };
    publish(sink, &scan_counts(&scan)).await;
    let (mut reaction, pending) = reactor.judge(&scan).await?;
    publish(sink, &reaction.metrics).await;
    if let Some(image) = pending {
        reactor.deliver(&mut reaction, image).await?;
    }
    Ok(Handled::Scan(Box::new(reaction)))
}

/// An event outside what this deployment serves (another account without a member role, an
/// account or region outside the scope): counted and dropped, never acted on or retried.
pub async fn refuse_event<S: MetricsSink>(reason: &str, sink: &S) -> Handled {
    tracing::error!(reason = %reason, "refusing an event outside this deployment's scope");
    publish(sink, &[Metric::count(names::INVALID_EVENTS, 1)]).await;
    Handled::Invalid { reason: reason.to_string() }
}

async fn drop_invalid<S: MetricsSink>(error: EventError, sink: &S) -> Handled {
    tracing::error!(error = %error, "dropping an event that cannot be handled");
    publish(sink, &[Metric::count(names::INVALID_EVENTS, 1)]).await;
    Handled::Invalid { reason: error.to_string() }
}

/// Metrics are best effort: a failure to publish is logged, never fails the event.
async fn publish<S: MetricsSink>(sink: &S, metrics: &[Metric]) {
    if let Err(e) = sink.publish(metrics).await {
        tracing::warn!(error = %e, "metrics were not published");
    }
}

/// Severity threshold from its name, for configuration.
pub fn parse_threshold(text: &str) -> Result<Severity, crate::findings::SeverityError> {
    Severity::from_wire(text.trim()).ok_or_else(|| crate::findings::SeverityError { text: text.to_string() })
}

#[cfg(test)]
mod tests;
