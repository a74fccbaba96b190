//! Images as the lifecycle engine, the audit and the cost report see them.
//!
//! [`parse_image_details`] reads what people already have on disk: the output of
//! `aws ecr describe-images` (`{"imageDetails": [...]}`) or a bare array of image details, with
//! timestamps as ISO-8601 strings or epoch seconds (the CLI prints either, depending on its
//! `cli_timestamp_format`).

use crate::findings::{Severity, SeverityCounts};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// A digest shortened for people: its algorithm and first 12 hex digits
/// (`sha256:0123456789ab`), enough to tell images apart on screen. The one short form of a
/// digest in reports, alerts, Reasons and logs.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, _)) => format!("{algorithm}:{}", short_hex(digest)),
        None => short_hex(digest).to_string(),
    }
}

/// A digest's first 12 hex digits alone, where the text must fit an image tag (no `:`).
pub fn short_hex(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.char_indices().nth(12).map_or(hex, |(end, _)| &hex[..end])
}

/// The reserved tag prefix of in-use pins. A generated policy with `ProtectInUse` shields every
/// image carrying a tag with this prefix.
pub const PIN_TAG_PREFIX: &str = "keeper-in-use-";

/// The pin of one image: unique per digest, so pinning never moves another image's tag.
pub fn pin_tag(digest: &str) -> String {
    format!("{PIN_TAG_PREFIX}{}", short_hex(digest))
}

pub fn is_pin(tag: &str) -> bool {
    tag.starts_with(PIN_TAG_PREFIX)
}

/// ECR's `imageStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageStatus {
    Active,
    Archived,
    /// Being restored from archive; lifecycle rules leave it alone until it is active.
    Activating,
}

impl ImageStatus {
    pub const ACCEPTED: &'static [&'static str] = &["ACTIVE", "ARCHIVED", "ACTIVATING"];

    pub fn from_wire(text: &str) -> Option<Self> {
        match text {
            "ACTIVE" => Some(Self::Active),
            "ARCHIVED" => Some(Self::Archived),
            "ACTIVATING" => Some(Self::Activating),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_at: DateTime<Utc>,
    /// As ECR reports it: compressed size; for a manifest list, its largest child.
    pub size_bytes: u64,
    pub last_pulled_at: Option<DateTime<Utc>>,
    pub status: ImageStatus,
    pub last_archived_at: Option<DateTime<Utc>>,
    pub last_activated_at: Option<DateTime<Utc>>,
    pub manifest_media_type: Option<String>,
    /// Digests a manifest list / OCI index references. ECR will not expire them while it exists.
    /// `describe-images` does not say; callers that read manifests fill it in.
    pub child_digests: Vec<String>,
    /// The latest scan, as DescribeImages summarises it.
    pub scan: Option<ImageScan>,
    /// The image this one refers to (OCI 1.1 `subject`; ECR's `subjectManifestDigest`): a
    /// signature, an SBOM, an attestation. ECR deletes an image's referrers with it.
    pub subject: Option<String>,
    /// ECR's `artifactMediaType`: the manifest's `artifactType`, else its config's media type.
    pub artifact_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageScan {
    /// `COMPLETE`, `FAILED`, `IN_PROGRESS`, `ACTIVE` (enhanced), …
    pub status: String,
    pub counts: SeverityCounts,
}

impl ImageScan {
    pub fn completed(&self) -> bool {
        matches!(self.status.as_str(), "COMPLETE" | "ACTIVE")
    }
}

/// An image's latest scan as DescribeImageScanFindings answers it: its status, its severity
/// counts and every finding. Since ECR moved basic scanning to AWS-native scanning,
/// DescribeImages carries no scan state for basic scans: this is where it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanFindings {
    pub scan: ImageScan,
    pub findings: Vec<crate::findings::Finding>,
}

impl Image {
    /// A plain active image, for callers that build inventories in code.
    pub fn new(digest: impl Into<String>, tags: &[&str], pushed_at: DateTime<Utc>, size_bytes: u64) -> Self {
        Image {
            digest: digest.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            pushed_at,
            size_bytes,
            last_pulled_at: None,
            status: ImageStatus::Active,
            last_archived_at: None,
            last_activated_at: None,
            manifest_media_type: None,
            child_digests: Vec::new(),
            scan: None,
            subject: None,
            artifact_type: None,
        }
    }

    /// A referrer of `subject` (a signature, an SBOM, …) of `artifact_type`.
    pub fn referring_to(mut self, subject: impl Into<String>, artifact_type: &str) -> Self {
        self.subject = Some(subject.into());
        self.artifact_type = Some(artifact_type.to_string());
        self
    }

    pub fn is_tagged(&self) -> bool {
        !self.tags.is_empty()
    }

    /// Push time as lifecycle rules see it: a restored image counts from its restore.
    pub fn effective_pushed_at(&self) -> DateTime<Utc> {
        self.last_activated_at.unwrap_or(self.pushed_at)
    }

    /// The time `sinceImagePulled` measures from: the last pull, or the push if never pulled,
    /// or the restore if restored and not pulled since.
    pub fn last_used_at(&self) -> DateTime<Utc> {
        match (self.last_pulled_at, self.last_activated_at) {
            (Some(pulled), Some(activated)) => pulled.max(activated),
            (Some(pulled), None) => pulled,
            (None, Some(activated)) => activated,
            (None, None) => self.pushed_at,
        }
    }

    pub fn is_manifest_list(&self) -> bool {
        matches!(self.manifest_media_type.as_deref(), Some(MANIFEST_LIST_V2) | Some(OCI_INDEX))
    }
}

/// The most recently pushed image; pushes within one second are told apart by digest, the same
/// order the lifecycle simulator uses, so every caller names the same image.
pub fn newest(images: &[Image]) -> Option<&Image> {
    images.iter().max_by(|a, b| a.pushed_at.cmp(&b.pushed_at).then_with(|| b.digest.cmp(&a.digest)))
}

/// What a manifest says of its referral, as ECR reports it in DescribeImages: (the OCI 1.1
/// `subject` digest, the `artifactType` or else the config's media type).
pub fn referral_of(manifest: &str) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_str::<Value>(manifest) else { return (None, None) };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let subject = text(value.get("subject").and_then(|s| s.get("digest")));
    let artifact =
        text(value.get("artifactType")).or_else(|| text(value.get("config").and_then(|c| c.get("mediaType"))));
    (subject, artifact)
}

pub const MANIFEST_LIST_V2: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    #[error("the image list is not valid JSON: {0}")]
    Json(String),
    #[error("expected the output of `aws ecr describe-images` ({{\"imageDetails\": [...]}}) or an array of image details, found {0}")]
    Shape(&'static str),
    #[error("this is one page of describe-images output (nextToken is set); the preview needs every image of the repository: run describe-images without --max-items, or merge the pages")]
    Truncated,
    #[error("imageDetails[{index}]: {message}")]
    Image { index: usize, message: String },
}

/// Refuses an inventory that cannot be a repository's at `now`: the same digest twice (ECR lists
/// each image once, with all its tags), or a push or pull after `now` (often epoch milliseconds
/// read as seconds, which lands thousands of years ahead and ranks as the newest image).
pub fn check_inventory(images: &[Image], now: DateTime<Utc>) -> Result<(), InventoryError> {
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (index, image) in images.iter().enumerate() {
        let name = match image.tags.first() {
            Some(tag) => format!("{} ({tag})", image.digest),
            None => image.digest.clone(),
        };
        if let Some(earlier) = first.insert(image.digest.as_str(), index) {
            return Err(InventoryError::Image {
                index,
                message: format!(
                    "imageDigest {name} is also imageDetails[{earlier}]; describe-images lists each image once, with all its tags"
                ),
            });
        }
        for (field, at) in [("imagePushedAt", Some(image.pushed_at)), ("lastRecordedPullTime", image.last_pulled_at)] {
            if let Some(at) = at.filter(|at| *at > now) {
                return Err(InventoryError::Image {
                    index,
                    message: format!(
                        "{field} {} of {name} is after the evaluation time {}; were epoch milliseconds given as seconds?",
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Reads `describe-images` output or a bare array of image details.
pub fn parse_image_details(text: &str) -> Result<Vec<Image>, InventoryError> {
    let value: Value = serde_json::from_str(text).map_err(|e| InventoryError::Json(e.to_string()))?;
    let items = match &value {
        Value::Array(items) => items,
        // Count rules rank every image: judging on one page would be a wrong answer, not a partial one.
        Value::Object(obj) if obj.get("nextToken").is_some_and(|t| !t.is_null()) => {
            return Err(InventoryError::Truncated)
        }
        Value::Object(obj) => match obj.get("imageDetails") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err(InventoryError::Shape("\"imageDetails\" that is not an array")),
            None => return Err(InventoryError::Shape("an object without \"imageDetails\"")),
        },
        _ => return Err(InventoryError::Shape("neither an object nor an array")),
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| image_from_detail(item).map_err(|message| InventoryError::Image { index, message }))
        .collect()
}

fn image_from_detail(v: &Value) -> Result<Image, String> {
    let obj = v.as_object().ok_or("an image detail must be a JSON object")?;
    let digest = match obj.get("imageDigest") {
        Some(Value::String(d)) if !d.is_empty() => d.clone(),
        Some(other) => return Err(format!("imageDigest must be a non-empty string, found {other}")),
        None => return Err("imageDigest is required".into()),
    };
    let at = |field: &str| format!("{field} of {digest}");
    let tags = match obj.get("imageTags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("imageTags of {digest} must be an array of strings"))?,
        Some(_) => return Err(format!("imageTags of {digest} must be an array of strings")),
    };
    let pushed_at = timestamp(obj.get("imagePushedAt"), &at("imagePushedAt"))?
        .ok_or_else(|| format!("imagePushedAt is required (image {digest})"))?;
    let size_bytes = match obj.get("imageSizeInBytes") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("imageSizeInBytes of {digest} must be a non-negative integer, found {v}"))?,
    };
    let status = match obj.get("imageStatus") {
        None | Some(Value::Null) => ImageStatus::Active,
        Some(v) => v.as_str().and_then(ImageStatus::from_wire).ok_or_else(|| {
            format!("imageStatus of {digest} is {v}; expected one of {}", ImageStatus::ACCEPTED.join(", "))
        })?,
    };
    Ok(Image {
        last_pulled_at: timestamp(obj.get("lastRecordedPullTime"), &at("lastRecordedPullTime"))?,
        last_archived_at: timestamp(obj.get("lastArchivedAt"), &at("lastArchivedAt"))?,
        last_activated_at: timestamp(obj.get("lastActivatedAt"), &at("lastActivatedAt"))?,
        manifest_media_type: obj.get("imageManifestMediaType").and_then(Value::as_str).map(str::to_owned),
        child_digests: Vec::new(),
        subject: obj.get("subjectManifestDigest").and_then(Value::as_str).map(str::to_owned),
        artifact_type: obj.get("artifactMediaType").and_then(Value::as_str).map(str::to_owned),
        scan: obj.get("imageScanStatus").and_then(|s| s.get("status")).and_then(Value::as_str).map(|status| {
            let mut counts = SeverityCounts::default();
            let summary = obj.get("imageScanFindingsSummary").and_then(|s| s.get("findingSeverityCounts"));
            for (k, n) in summary.and_then(Value::as_object).into_iter().flatten() {
                if let (Some(severity), Some(n)) = (Severity::from_wire(k), n.as_u64()) {
                    counts.add(severity, n);
                }
            }
            ImageScan { status: status.to_string(), counts }
        }),
        digest,
        tags,
        pushed_at,
        size_bytes,
        status,
    })
}

/// An ISO-8601 / RFC 3339 string or epoch seconds (integer or fractional).
fn timestamp(v: Option<&Value>, what: &str) -> Result<Option<DateTime<Utc>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_timestamp(s).map(Some).ok_or_else(|| {
            format!("{what} is \"{s}\"; expected an ISO-8601 time such as 2024-05-01T12:00:00Z or epoch seconds")
        }),
        Some(Value::Number(n)) => {
            n.as_f64().and_then(epoch_seconds).map(Some).ok_or_else(|| format!("{what} is {n}; expected epoch seconds"))
        }
        Some(other) => Err(format!("{what} must be a time, found {other}")),
    }
}

/// Parses RFC 3339 (`2024-05-01T12:00:00Z`, `…+00:00`, fractional seconds) or epoch seconds.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    text.parse::<f64>().ok().and_then(epoch_seconds)
}

fn epoch_seconds(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() {
        return None;
    }
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round().min(999_999_999.0) as u32;
    // Out-of-range values (years beyond chrono's span) are rejected, not clamped.
    if whole.abs() > 1e15 {
        return None;
    }
    Utc.timestamp_opt(whole as i64, nanos).single()
}

#[cfg(test)]
mod digest_display_tests {
    use super::{short_digest, short_hex};

    #[test]
    fn a_digest_is_shortened_one_way_everywhere() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(short_digest(digest), "sha256:0123456789ab");
        assert_eq!(short_hex(digest), "0123456789ab");
        // Short or odd input is shown as it is, never cut inside a character.
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
        assert_eq!(short_digest("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_hex("sha256:ééééééééééééé"), "éééééééééééé");
    }
}
