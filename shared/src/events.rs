//! The EventBridge events ecr-keeper reacts to, typed and parsed leniently where it costs
//! nothing (digests of odd length, absent severity keys) and strictly where a wrong guess would
//! mislead (unknown detail types, missing repository).

use crate::findings::{Severity, SeverityCounts};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageActionType {
    Push,
    Delete,
    UpdateStorageClass,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageAction {
    pub action: ImageActionType,
    pub succeeded: bool,
    pub repository: String,
    pub digest: Option<String>,
    /// Absent for a push by digest.
    pub tag: Option<String>,
    pub target_storage_class: Option<String>,
    pub region: String,
    pub account: String,
}

/// Which scanner produced a scan result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanner {
    /// ECR basic scanning: `ECR Image Scan`.
    Basic,
    /// Amazon Inspector (enhanced scanning): `Inspector2 Scan`.
    Enhanced,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanResult {
    pub scanner: Scanner,
    pub status: String,
    pub repository: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub counts: SeverityCounts,
    pub region: String,
    pub account: String,
}

impl ScanResult {
    /// `COMPLETE` (basic) or `INITIAL_SCAN_COMPLETE` / `…_COMPLETE` (Inspector).
    pub fn completed(&self) -> bool {
        self.status == "COMPLETE" || self.status.ends_with("_COMPLETE")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeeperEvent {
    ImageAction(ImageAction),
    Scan(ScanResult),
}

/// Why an event was refused: permanent, so it is counted and dropped, never retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the event is not valid JSON: {0}")]
    Json(String),
    #[error("unexpected event: source {event_source:?}, detail-type {detail_type:?}; expected {expected}")]
    Unexpected { event_source: String, detail_type: String, expected: String },
    #[error("{detail_type} event: {message}")]
    Invalid { detail_type: String, message: String },
}

/// The detail types this crate understands, as `(source, detail-type)`.
pub const IMAGE_ACTION: (&str, &str) = ("aws.ecr", "ECR Image Action");
pub const ECR_SCAN: (&str, &str) = ("aws.ecr", "ECR Image Scan");
pub const INSPECTOR_SCAN: (&str, &str) = ("aws.inspector2", "Inspector2 Scan");

pub fn parse_event_text(text: &str) -> Result<KeeperEvent, EventError> {
    let value: Value = serde_json::from_str(text).map_err(|e| EventError::Json(e.to_string()))?;
    parse_event(&value, &[IMAGE_ACTION, ECR_SCAN, INSPECTOR_SCAN])
}

/// Parses an EventBridge event whose `(source, detail-type)` is one of `accepted`.
///
/// The envelope is `aws_lambda_events`' [`EventBridgeEvent`]. The details are read here:
/// the library has no type for `ECR Image Action` or `Inspector2 Scan`, and its
/// `EcrScanEventDetailType` refuses a FAILED scan, which carries no severity counts (see the
/// test `the_librarys_ecr_scan_type_refuses_a_failed_scan`).
pub fn parse_event(v: &Value, accepted: &[(&str, &str)]) -> Result<KeeperEvent, EventError> {
    let text = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let (source, detail_type) = (text("source"), text("detail-type"));
    if !accepted.iter().any(|(s, d)| *s == source && *d == detail_type) {
        let expected = accepted.iter().map(|(s, d)| format!("{s} / {d}")).collect::<Vec<_>>().join(" or ");
        return Err(EventError::Unexpected { event_source: source, detail_type, expected });
    }
    let invalid = |message: String| EventError::Invalid { detail_type: detail_type.clone(), message };
    if !v.get("detail").is_some_and(Value::is_object) {
        return Err(invalid("\"detail\" must be an object".into()));
    }
    let envelope: EventBridgeEvent<Value> =
        serde_json::from_value(v.clone()).map_err(|e| invalid(format!("not an EventBridge event: {e}")))?;
    let detail = &envelope.detail;
    let field = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_owned);
    let required =
        |key: &str| field(key).filter(|s| !s.is_empty()).ok_or_else(|| invalid(format!("detail.{key} is required")));
    let region = envelope.region.clone().unwrap_or_default();
    let account = envelope.account.clone().unwrap_or_default();
    // Member accounts forward their events here: what names where to act must be well-formed.
    if !account.is_empty() && !crate::organization::is_account(&account) {
        return Err(invalid(format!("account \"{}\" is not a 12-digit account id", clip(&account))));
    }
    if !region.is_empty() && !crate::organization::is_region(&region) {
        return Err(invalid(format!("region \"{}\" is not a region name", clip(&region))));
    }

    if (source.as_str(), detail_type.as_str()) == IMAGE_ACTION {
        let action = match required("action-type")?.as_str() {
            "PUSH" => ImageActionType::Push,
            "DELETE" => ImageActionType::Delete,
            "UPDATE_STORAGE_CLASS" => ImageActionType::UpdateStorageClass,
            other => {
                return Err(invalid(format!(
                    "action-type \"{other}\" is not one of PUSH, DELETE, UPDATE_STORAGE_CLASS"
                )))
            }
        };
        let succeeded = match required("result")?.as_str() {
            "SUCCESS" => true,
            "FAILED" => false,
            other => return Err(invalid(format!("result \"{other}\" is not one of SUCCESS, FAILED"))),
        };
        return Ok(KeeperEvent::ImageAction(ImageAction {
            action,
            succeeded,
            repository: required("repository-name")?,
            digest: field("image-digest").filter(|d| !d.is_empty()),
            tag: field("image-tag").filter(|t| !t.is_empty()),
            target_storage_class: field("target-storage-class"),
            region,
            account,
        }));
    }

    let scanner = if source == INSPECTOR_SCAN.0 { Scanner::Enhanced } else { Scanner::Basic };
    // Inspector names the repository by ARN: `arn:aws:ecr:region:account:repository/name`.
    let repository = required("repository-name")?;
    let repository = match repository.split_once(":repository/") {
        Some((prefix, name)) if repository.starts_with("arn:") => {
            // The ARN's account must be the event's: a member may not name another's image.
            let owner = prefix.split(':').nth(4).unwrap_or_default();
            if owner != account {
                return Err(invalid(format!(
                    "the repository ARN names account {}, not the event's account {account}",
                    clip(owner)
                )));
            }
            name.to_string()
        }
        _ => repository,
    };
    if crate::repository::check_repository_name(&repository).is_err() {
        return Err(invalid(format!("repository-name \"{}\" is not an ECR repository name", clip(&repository))));
    }
    let mut counts = SeverityCounts::default();
    if let Some(map) = detail.get("finding-severity-counts").and_then(Value::as_object) {
        for (key, n) in map {
            // TOTAL is Inspector's sum, not a severity; absent keys mean zero.
            if let Some(severity) = Severity::from_wire(key) {
                let n = n
                    .as_u64()
                    .ok_or_else(|| invalid(format!("finding-severity-counts.{key} must be a count, found {n}")))?;
                counts.add(severity, n);
            } else if key != "TOTAL" {
                return Err(invalid(format!("finding-severity-counts has an unknown severity \"{key}\"")));
            }
        }
    }
    let tags = detail
        .get("image-tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(KeeperEvent::Scan(ScanResult {
        scanner,
        status: field("scan-status").unwrap_or_default(),
        repository,
        digest: required("image-digest")?,
        tags,
        counts,
        region,
        account,
    }))
}

/// Event text quoted in an error, bounded (an event may carry anything).
fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Severity;

    #[test]
    fn events_naming_malformed_or_foreign_places_are_refused() {
        let mut v: Value = serde_json::from_str(include_str!("../../events/inspector2-scan.json")).unwrap_or_default();
        let good = parse_event(&v, &[INSPECTOR_SCAN]);
        assert!(good.is_ok(), "{good:?}");
        let arn = v["detail"]["repository-name"].as_str().unwrap_or_default().to_string();
        v["detail"]["repository-name"] = arn.replace(v["account"].as_str().unwrap_or_default(), "999999999999").into();
        let err = parse_event(&v, &[INSPECTOR_SCAN]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("names account 999999999999, not the event's account"), "{err}");
        for (field, value) in [("account", "../../etc"), ("region", "us east 1")] {
            let mut bad: Value =
                serde_json::from_str(include_str!("../../events/inspector2-scan.json")).unwrap_or_default();
            bad[field] = value.into();
            assert!(parse_event(&bad, &[INSPECTOR_SCAN]).is_err(), "{field}");
        }
    }

    fn sample(name: &str) -> String {
        let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn action(name: &str) -> ImageAction {
        match parse_event_text(&sample(name)) {
            Ok(KeeperEvent::ImageAction(a)) => a,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn scan(name: &str) -> ScanResult {
        match parse_event_text(&sample(name)) {
            Ok(KeeperEvent::Scan(s)) => s,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn image_action_samples_parse() {
        let push = action("ecr-image-action-push.json");
        assert_eq!(push.action, ImageActionType::Push);
        assert!(push.succeeded);
        assert_eq!(push.repository, "my-repository-name");
        assert_eq!(push.tag.as_deref(), Some("latest"));
        // The published digest has 60 hex characters, not 64: accepted as given.
        assert_eq!(push.digest.as_deref().map(str::len), Some(7 + 60));
        assert_eq!((push.region.as_str(), push.account.as_str()), ("us-west-2", "123456789012"));
        assert_eq!(action("ecr-image-action-delete.json").action, ImageActionType::Delete);
        let archive = action("ecr-image-action-archive.json");
        assert_eq!(archive.action, ImageActionType::UpdateStorageClass);
        assert_eq!(archive.target_storage_class.as_deref(), Some("ARCHIVE"));
        assert_eq!(archive.tag, None);
    }

    #[test]
    fn basic_scan_sample_parses_with_absent_severities_as_zero() {
        let s = scan("ecr-image-scan-basic.json");
        assert_eq!(s.scanner, Scanner::Basic);
        assert!(s.completed());
        assert_eq!(s.counts.get(Severity::Critical), 10);
        assert_eq!(s.counts.get(Severity::Medium), 9);
        assert_eq!(s.counts.get(Severity::High), 0);
        assert_eq!(s.counts.total(), 19);
        assert!(s.tags.is_empty());
    }

    #[test]
    fn inspector_scan_sample_names_the_repository_by_arn_and_has_a_total() {
        let s = scan("inspector2-scan.json");
        assert_eq!(s.scanner, Scanner::Enhanced);
        assert_eq!(s.repository, "amazon/amazon-ecs-sample");
        assert!(s.completed(), "INITIAL_SCAN_COMPLETE");
        assert_eq!(s.counts.get(Severity::Critical), 7);
        assert_eq!(s.counts.get(Severity::High), 61);
        assert_eq!(s.counts.total(), 7 + 61 + 62, "TOTAL is not a severity");
        assert_eq!(s.tags, ["latest"]);
    }

    #[test]
    fn events_this_crate_does_not_handle_are_refused_by_name() {
        let err = parse_event_text(&sample("inspector2-finding.json")).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unexpected event: source \"aws.inspector2\", detail-type \"Inspector2 Finding\"; expected aws.ecr / ECR Image Action or aws.ecr / ECR Image Scan or aws.inspector2 / Inspector2 Scan")
        );
        let scan_value: Value = serde_json::from_str(&sample("ecr-image-scan-basic.json")).unwrap_or_default();
        let err = parse_event(&scan_value, &[IMAGE_ACTION]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.ends_with("expected aws.ecr / ECR Image Action"), "{err}");
    }

    #[test]
    fn the_invalid_published_sample_is_rejected_clearly() {
        let err = parse_event_text(&sample("ecr-pull-through-cache-INVALID-as-published.json")).err();
        match err {
            Some(EventError::Json(message)) => {
                assert!(message.contains("trailing comma") || message.contains("line"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let mut v: Value = serde_json::from_str(&sample("ecr-image-action-push.json")).unwrap_or_default();
        v["detail"]["repository-name"] = Value::Null;
        let err = parse_event(&v, &[IMAGE_ACTION]).err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("ECR Image Action event: detail.repository-name is required"));
        v["detail"]["repository-name"] = "r".into();
        v["detail"]["action-type"] = "COPY".into();
        let err = parse_event(&v, &[IMAGE_ACTION]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("action-type \"COPY\" is not one of PUSH, DELETE, UPDATE_STORAGE_CLASS"), "{err}");
        let mut s: Value = serde_json::from_str(&sample("ecr-image-scan-basic.json")).unwrap_or_default();
        s["detail"]["finding-severity-counts"]["SEVERE"] = 1.into();
        let err = parse_event(&s, &[ECR_SCAN]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("unknown severity \"SEVERE\""), "{err}");
    }

    #[test]
    fn the_librarys_ecr_scan_type_refuses_a_failed_scan() {
        use aws_lambda_events::event::ecr_scan::EcrScanEventDetailType;
        let sample: Value = serde_json::from_str(&sample("ecr-image-scan-basic.json")).unwrap_or_default();
        // The published COMPLETE sample: accepted by both.
        assert!(serde_json::from_value::<EcrScanEventDetailType>(sample["detail"].clone()).is_ok());
        // A FAILED scan has no counts: the library refuses it, ours reads it as a scan failure.
        let mut failed = sample.clone();
        failed["detail"]["scan-status"] = "FAILED".into();
        failed["detail"].as_object_mut().map(|d| d.remove("finding-severity-counts"));
        let refused = serde_json::from_value::<EcrScanEventDetailType>(failed["detail"].clone());
        assert!(refused.is_err_and(|e| e.to_string().contains("finding-severity-counts")));
        match parse_event(&failed, &[ECR_SCAN]) {
            Ok(KeeperEvent::Scan(s)) => assert!(!s.completed()),
            other => panic!("{other:?}"),
        }
    }
}
