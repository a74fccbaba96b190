//! Images that are running: what workloads use, which of this registry's images that is, what a
//! lifecycle policy puts at risk, and the in-use pins that make ECR's own engine spare them.
//!
//! ECR's lifecycle engine cannot see workloads. ecr-keeper reads them (ECS, Lambda, a list of
//! references for everything else) through the [`Workloads`] port, resolves the references to
//! this registry's images, and either reports the images a policy would expire or archive
//! ([`at_risk`]) or pins them with a tag a protected rule shields ([`plan_pins`]).

use crate::image::{Image, ImageStatus};
use crate::lifecycle::{ActionType, CountType, Fate, Plan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;

// The pins live with images (a pin is a tag), where the lifecycle generator, below this
// module, reads them too.
pub use crate::image::{is_pin, pin_tag, PIN_TAG_PREFIX};
// Likewise the at-risk record, which the lifecycle preview's report carries.
pub use crate::lifecycle::AtRisk;

/// One image reference a workload runs, as the workload declares it (`repo:tag`,
/// `repo@sha256:…`, with or without the registry host), and who runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadImage {
    pub image: String,
    /// E.g. `ecs service prod/web`, `lambda function resize (alias live)`, `file refs.txt:4`.
    pub workload: String,
}

impl WorkloadImage {
    pub fn new(image: impl Into<String>, workload: impl Into<String>) -> Self {
        WorkloadImage { image: image.into(), workload: workload.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    #[error("{operation}: access denied ({message}); grant the role {operation} to read workloads")]
    AccessDenied { operation: &'static str, message: String },
    #[error("{operation}: could not read workloads ({message})")]
    Failed { operation: &'static str, message: String },
    #[error("{source_name}: {message}")]
    List { source_name: String, message: String },
}

/// Where running images are read: ECS, Lambda, and reference lists.
pub trait Workloads: Send + Sync {
    fn images_in_use(&self) -> impl Future<Output = Result<Vec<WorkloadImage>, WorkloadError>> + Send;
}

/// The sources `--in-use` and `KEEPER_IN_USE` accept: `ecs`, `lambda`, `file:PATH`,
/// `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkloadSource {
    Ecs,
    Lambda,
    /// Amazon Inspector's coverage of ECR images: `inUseCount` and `lastInUseAt` for ECS tasks
    /// and EKS pods (enhanced scanning) — EKS without cluster credentials, and an organization's
    /// every account from its Inspector administrator.
    Inspector,
    File(String),
    S3 {
        bucket: String,
        key: String,
    },
}

pub const SOURCES_ACCEPTED: &str = "ecs, lambda, inspector, file:PATH, s3://BUCKET/KEY";

impl WorkloadSource {
    /// A comma-separated list; every entry is checked and the first bad one named.
    pub fn parse_list(text: &str) -> Result<Vec<WorkloadSource>, String> {
        let mut out = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let source = match entry {
                "ecs" => WorkloadSource::Ecs,
                "lambda" => WorkloadSource::Lambda,
                "inspector" => WorkloadSource::Inspector,
                _ if entry.starts_with("file:") && entry.len() > 5 => WorkloadSource::File(entry[5..].to_string()),
                _ if entry.starts_with("s3://") => match entry[5..].split_once('/') {
                    Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                        WorkloadSource::S3 { bucket: bucket.into(), key: key.into() }
                    }
                    _ => return Err(format!("\"{entry}\" is not s3://BUCKET/KEY")),
                },
                _ => return Err(format!("\"{entry}\" is not a workload source (accepted: {SOURCES_ACCEPTED})")),
            };
            if !out.contains(&source) {
                out.push(source);
            }
        }
        if out.is_empty() {
            return Err(format!("no workload source given (accepted: {SOURCES_ACCEPTED})"));
        }
        Ok(out)
    }
}

/// The image an Amazon Inspector coverage entry names, as a reference the workloads match: its
/// `resourceId` (`arn:<partition>:ecr:<region>:<account>:repository/<name>/sha256:<hex>`,
/// Inspector API Reference, CoveredResource) → `<account>.dkr.ecr.<region>.<domain>/<name>@sha256:<hex>`.
/// `None` for anything else (a repository without a digest, another resource type).
pub fn inspector_image_reference(resource_id: &str) -> Option<String> {
    let mut parts = resource_id.splitn(6, ':');
    let (arn, partition, service, region, account, rest) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if arn != "arn" || service != "ecr" || region.is_empty() || account.len() != 12 {
        return None;
    }
    let path = rest.strip_prefix("repository/")?;
    let (name, hex) = path.rsplit_once("/sha256:")?;
    if name.is_empty() || hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let domain = if partition == "aws-cn" { "amazonaws.com.cn" } else { "amazonaws.com" };
    Some(format!("{account}.dkr.ecr.{region}.{domain}/{name}@sha256:{hex}"))
}

/// Who runs an image, as Inspector counts it (the USE-1 message names the source).
pub fn inspector_workload(in_use_count: i64, last_in_use_at: Option<DateTime<Utc>>) -> String {
    let when = last_in_use_at.map(|t| format!(", last seen {}", t.format("%Y-%m-%dT%H:%M:%SZ"))).unwrap_or_default();
    let count = match in_use_count {
        1 => "1 ECS task or EKS pod".to_string(),
        n => format!("{n} ECS tasks or EKS pods"),
    };
    format!("inspector: {count}{when}")
}

/// A reference list as people produce it: one reference per line (`#` comments, blank lines),
/// or JSON — an array of strings, or `kubectl get pods -A -o json` output (every container's
/// `image` and, where the kubelet resolved it, `imageID`).
pub fn parse_reference_list(text: &str, source_name: &str) -> Result<Vec<WorkloadImage>, WorkloadError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| WorkloadError::List { source_name: source_name.into(), message: format!("not JSON: {e}") })?;
        return Ok(json_references(&value, source_name));
    }
    Ok(text
        .lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let line = line.split('#').next().unwrap_or("").trim();
            (!line.is_empty()).then(|| WorkloadImage::new(line, format!("{source_name}:{}", n + 1)))
        })
        .collect())
}

fn json_references(value: &serde_json::Value, source_name: &str) -> Vec<WorkloadImage> {
    use serde_json::Value;
    let mut out = Vec::new();
    match value {
        Value::Array(items) if items.iter().all(Value::is_string) => {
            for (n, item) in items.iter().enumerate() {
                if let Some(s) = item.as_str() {
                    out.push(WorkloadImage::new(s, format!("{source_name}[{n}]")));
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| out.extend(json_references(i, source_name))),
        Value::Object(map) => {
            // A pod list: {"items": [{"metadata": …, "spec": {"containers": …}, "status": …}]}.
            if let Some(items) = map.get("items") {
                return json_references(items, source_name);
            }
            let pod = match (
                map.get("metadata").and_then(|m| m.get("namespace")),
                map.get("metadata").and_then(|m| m.get("name")),
            ) {
                (Some(ns), Some(name)) => {
                    format!("pod {}/{}", ns.as_str().unwrap_or("?"), name.as_str().unwrap_or("?"))
                }
                _ => source_name.to_string(),
            };
            let containers = ["initContainers", "containers", "ephemeralContainers"]
                .iter()
                .filter_map(|k| map.get("spec").and_then(|s| s.get(*k)).and_then(Value::as_array))
                .flatten();
            for c in containers {
                if let Some(image) = c.get("image").and_then(Value::as_str) {
                    out.push(WorkloadImage::new(image, pod.clone()));
                }
            }
            let statuses = ["initContainerStatuses", "containerStatuses"]
                .iter()
                .filter_map(|k| map.get("status").and_then(|s| s.get(*k)).and_then(Value::as_array))
                .flatten();
            for c in statuses {
                // `docker-pullable://repo@sha256:…` names the digest that is really running.
                if let Some(id) = c.get("imageID").and_then(Value::as_str).filter(|i| i.contains("@sha256:")) {
                    let id = id.rsplit("://").next().unwrap_or(id);
                    out.push(WorkloadImage::new(id, pod.clone()));
                }
            }
        }
        _ => {}
    }
    out
}

/// A tag or a digest of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pointer {
    Tag(String),
    Digest(String),
}

/// This registry: references to other registries are not ours to protect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryAddress {
    pub account: Option<String>,
    pub region: Option<String>,
}

impl RegistryAddress {
    /// The registry a repository lives in, from its ARN (`arn:aws:ecr:REGION:ACCOUNT:repository/…`).
    pub fn of_repository(repo: &crate::repository::Repository) -> Self {
        let parts: Vec<&str> = repo.arn.split(':').collect();
        let part = |i: usize| parts.get(i).filter(|p| !p.is_empty()).map(|p| p.to_string());
        RegistryAddress { account: part(4), region: part(3) }
    }
}

/// `(repository, pointer)` when the reference is to this registry, `None` when it names another
/// registry (Docker Hub, another account or region).
pub fn resolve_reference(reference: &str, registry: &RegistryAddress) -> Option<(String, Pointer)> {
    let (host, repository, pointer) = parse_reference(reference)?;
    host.is_none_or(|h| registry.accepts(&h)).then_some((repository, pointer))
}

/// An ECR registry host: (account, region).
type EcrHost = (String, String);

/// The ECR host (account, region) a reference names, if any, its repository and pointer; `None`
/// for a host that is not an ECR registry.
fn parse_reference(reference: &str) -> Option<(Option<EcrHost>, String, Pointer)> {
    let reference = reference.trim();
    let (host, path) = match reference.split_once('/') {
        // Docker's rule: the first component is a host when it has a '.' or ':' or is localhost.
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, reference),
    };
    let host = match host {
        Some(h) => {
            let (account, region) = ecr_host(h)?;
            Some((account.to_string(), region.to_string()))
        }
        None => None,
    };
    let (name, pointer) = if let Some((name, digest)) = path.split_once('@') {
        (name, Pointer::Digest(digest.to_string()))
    } else {
        match path.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Pointer::Tag(tag.to_string())),
            _ => (path, Pointer::Tag("latest".to_string())),
        }
    };
    (!name.is_empty()).then(|| (host, name.to_string(), pointer))
}

impl RegistryAddress {
    fn accepts(&self, (account, region): &EcrHost) -> bool {
        self.account.as_ref().is_none_or(|a| a == account) && self.region.as_ref().is_none_or(|r| r == region)
    }
}

/// `123456789012.dkr.ecr.eu-west-1.amazonaws.com` (and the FIPS and China forms) → account, region.
fn ecr_host(host: &str) -> Option<(&str, &str)> {
    let mut parts = host.split('.');
    let account = parts.next().filter(|a| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit()))?;
    (parts.next()? == "dkr").then_some(())?;
    let ecr = parts.next()?;
    (ecr == "ecr" || ecr == "ecr-fips").then_some(())?;
    let region = parts.next()?;
    (parts.next()? == "amazonaws").then_some(())?;
    Some((account, region))
}

/// One use of a repository's image: the ECR host named (if any), what it points at, who.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Use {
    host: Option<EcrHost>,
    pointer: Pointer,
    workload: String,
}

/// The images workloads run, by repository name. References without a host are this
/// registry's; with one, only the registry it names matches ([`InUse::for_repository`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InUse {
    uses: HashMap<String, Vec<Use>>,
    /// References to other registries, ignored.
    pub foreign: usize,
}

impl InUse {
    pub fn from_images(images: &[WorkloadImage], registry: &RegistryAddress) -> InUse {
        let mut in_use = InUse::default();
        for w in images {
            match parse_reference(&w.image).filter(|(host, _, _)| host.as_ref().is_none_or(|h| registry.accepts(h))) {
                Some((host, repository, pointer)) => {
                    in_use.uses.entry(repository).or_default().push(Use { host, pointer, workload: w.workload.clone() })
                }
                None => in_use.foreign += 1,
            }
        }
        in_use
    }

    /// Workloads per image of `repository` (in the images' order), counting only references to
    /// the registry the repository's ARN names.
    pub fn for_repository(&self, repository: &crate::repository::Repository, images: &[Image]) -> Vec<Vec<String>> {
        let address = RegistryAddress::of_repository(repository);
        images.iter().map(|i| self.matching(&repository.name, i, Some(&address))).collect()
    }

    /// The workloads that run `image` of `repository`, sorted; empty when none does.
    pub fn workloads_of(&self, repository: &str, image: &Image) -> Vec<String> {
        self.matching(repository, image, None)
    }

    fn matching(&self, repository: &str, image: &Image, address: Option<&RegistryAddress>) -> Vec<String> {
        let Some(uses) = self.uses.get(repository) else { return Vec::new() };
        let found: BTreeSet<&String> = uses
            .iter()
            .filter(|u| match (&u.host, address) {
                (Some(host), Some(a)) => a.accepts(host),
                _ => true,
            })
            .filter(|u| match &u.pointer {
                Pointer::Digest(d) => *d == image.digest,
                Pointer::Tag(t) => image.tags.contains(t),
            })
            .map(|u| &u.workload)
            .collect();
        found.into_iter().cloned().collect()
    }

    /// Workloads per image of one repository, in the images' order.
    pub fn for_images(&self, repository: &str, images: &[Image]) -> Vec<Vec<String>> {
        images.iter().map(|i| self.workloads_of(repository, i)).collect()
    }
}

impl AtRisk {
    /// Who runs the image, for a message: three workloads at most, then how many more (a
    /// service with a hundred tasks must not fill a 4 KB CloudFormation Reason).
    pub fn run_by(&self) -> String {
        const SHOWN: usize = 3;
        let mut text = self.workloads.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
        if self.workloads.len() > SHOWN {
            text.push_str(&format!(" and {} more", self.workloads.len() - SHOWN));
        }
        text
    }

    /// The image as people name it: its tags, or its short digest.
    pub fn image(&self) -> String {
        if self.image_tags.is_empty() {
            crate::image::short_digest(&self.image_digest)
        } else {
            self.image_tags.join("+")
        }
    }
}

/// The in-use images `plan` acts on now, and those an age rule will act on later (when, is
/// said), each with the workloads that run it. A count rule's future is not known.
pub fn at_risk(plan: &Plan, workloads: &[Vec<String>]) -> Vec<AtRisk> {
    let mut out = Vec::new();
    for i in 0..plan.images.len() {
        let Some(users) = workloads.get(i).filter(|w| !w.is_empty()) else { continue };
        let decision = &plan.decisions[i];
        let Some(rule) = plan.rule_of(i) else { continue };
        let acts_now = matches!(decision.fate, Fate::Expire | Fate::Transition);
        let acts_later = decision.fate == Fate::Keep
            && decision.referenced_by.is_none()
            && rule.selection.count_type != CountType::ImageCountMoreThan
            && decision.eligible_since.is_some_and(|t| t >= plan.now);
        if !(acts_now || acts_later) {
            continue;
        }
        let image = &plan.images[i];
        out.push(AtRisk {
            image_digest: image.digest.clone(),
            image_tags: image.tags.clone(),
            action: match rule.action.kind {
                ActionType::Expire => "expire".into(),
                ActionType::Transition => "transition".into(),
            },
            rule_priority: rule.rule_priority,
            workloads: users.clone(),
            eligible_since: decision.eligible_since.map(crate::lifecycle::to_second),
            now: acts_now,
        });
    }
    out.sort_by(|a, b| (!a.now, &a.eligible_since, &a.image_digest).cmp(&(!b.now, &b.eligible_since, &b.image_digest)));
    out
}

/// What pinning does to one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinPlan {
    /// In-use images without their pin: (digest, pin tag).
    pub pin: Vec<(String, String)>,
    /// Pins of images no longer in use that can go: (digest, pin tag).
    pub unpin: Vec<(String, String)>,
    /// Pins that stay although the image is no longer in use, and why.
    pub stays: Vec<(String, String, String)>,
    /// In-use images that cannot be pinned, and why.
    pub cannot_pin: Vec<(String, String)>,
}

/// Pins for in-use images and unpins for the rest — never a removal that would delete an image:
/// ECR deletes an image whose last tag is removed, so a pin that is an image's only tag stays.
pub fn plan_pins(images: &[Image], workloads: &[Vec<String>]) -> PinPlan {
    let mut plan = PinPlan::default();
    let tagged: HashMap<&str, &str> =
        images.iter().flat_map(|i| i.tags.iter().map(move |t| (t.as_str(), i.digest.as_str()))).collect();
    for (i, image) in images.iter().enumerate() {
        let in_use = workloads.get(i).is_some_and(|w| !w.is_empty());
        let pins: Vec<&String> = image.tags.iter().filter(|t| is_pin(t)).collect();
        if in_use {
            let tag = pin_tag(&image.digest);
            if image.tags.contains(&tag) {
                continue;
            }
            // Twelve hex digits shared by two digests of one repository: moving the tag would
            // unpin the other image.
            if tagged.get(tag.as_str()).is_some_and(|other| *other != image.digest) {
                plan.cannot_pin
                    .push((image.digest.clone(), format!("{tag} already names another image of the repository")));
                continue;
            }
            match image.status {
                ImageStatus::Active => plan.pin.push((image.digest.clone(), tag)),
                ImageStatus::Archived => plan.cannot_pin.push((
                    image.digest.clone(),
                    "archived: no workload can pull it until it is restored (ECR restores within 20 minutes)".into(),
                )),
                ImageStatus::Activating => plan
                    .cannot_pin
                    .push((image.digest.clone(), "being restored from archive; pinned on the next run".into())),
            }
            continue;
        }
        let keeps_other_tag = image.tags.iter().any(|t| !is_pin(t));
        for tag in pins {
            if keeps_other_tag {
                plan.unpin.push((image.digest.clone(), tag.clone()));
            } else {
                plan.stays.push((
                    image.digest.clone(),
                    tag.clone(),
                    "no longer in use, but the pin is its only tag: removing it would delete the image".into(),
                ));
            }
        }
    }
    plan
}

/// A pin or unpin as the audit reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinOutcome {
    pub action: &'static str,
    pub digest: String,
    pub tag: String,
    pub applied: bool,
    pub detail: String,
}

/// Applies a pin plan: PutImage with the image's own manifest and media type (no new image, no
/// new digest) for pins; BatchDeleteImage by tag for unpins, each re-checked against a fresh
/// read so that a tag removed meanwhile cannot make the pin an image's last tag.
pub async fn apply_pins<R: crate::ports::RegistryReads + crate::ports::ImageWrites>(
    registry: &R,
    repository: &str,
    plan: &PinPlan,
    apply: bool,
) -> Vec<PinOutcome> {
    let mut out = Vec::new();
    let outcome = |action, digest: &str, tag: &str, applied, detail: String| PinOutcome {
        action,
        digest: digest.to_string(),
        tag: tag.to_string(),
        applied,
        detail,
    };
    if !plan.pin.is_empty() {
        let digests: Vec<String> = plan.pin.iter().map(|(d, _)| d.clone()).collect();
        let manifests = if apply { registry.get_manifests(repository, &digests).await } else { Ok(Vec::new()) };
        for (digest, tag) in &plan.pin {
            if !apply {
                out.push(outcome("pin-in-use", digest, tag, false, "dry run: would add the pin".into()));
                continue;
            }
            let found = match &manifests {
                Ok(m) => m.iter().find(|(d, _, _)| d == digest),
                Err(e) => {
                    out.push(outcome("pin-in-use", digest, tag, false, format!("failed: {e}")));
                    continue;
                }
            };
            let Some((_, media_type, manifest)) = found else {
                out.push(outcome("pin-in-use", digest, tag, false, "failed: its manifest could not be read".into()));
                continue;
            };
            match registry.put_image_tag(repository, digest, media_type.as_deref(), manifest, tag).await {
                Ok(()) => {
                    out.push(outcome("pin-in-use", digest, tag, true, "pinned: the protected rule spares it".into()))
                }
                Err(e) => out.push(outcome("pin-in-use", digest, tag, false, format!("failed: {e}"))),
            }
        }
    }
    if !plan.unpin.is_empty() {
        let fresh = if apply { registry.describe_images(repository).await.ok() } else { None };
        for (digest, tag) in &plan.unpin {
            if !apply {
                out.push(outcome("unpin", digest, tag, false, "dry run: would remove the pin".into()));
                continue;
            }
            let still_tagged = fresh
                .as_ref()
                .and_then(|images| images.iter().find(|i| &i.digest == digest))
                .is_some_and(|i| i.tags.contains(tag) && i.tags.iter().any(|t| !is_pin(t)));
            if !still_tagged {
                out.push(outcome(
                    "keep-pin",
                    digest,
                    tag,
                    false,
                    "the image's other tags are gone: the pin stays".into(),
                ));
                continue;
            }
            match registry.remove_image_tag(repository, tag).await {
                Ok(()) => out.push(outcome("unpin", digest, tag, true, "no longer in use: pin removed".into())),
                Err(e) => out.push(outcome("unpin", digest, tag, false, format!("failed: {e}"))),
            }
        }
    }
    for (digest, tag, why) in &plan.stays {
        out.push(outcome("keep-pin", digest, tag, false, why.clone()));
    }
    for (digest, why) in &plan.cannot_pin {
        out.push(outcome("pin-in-use", digest, &pin_tag(digest), false, why.clone()));
    }
    out
}

#[cfg(test)]
mod tests;
