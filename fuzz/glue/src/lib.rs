//! The entry points the fuzz targets (`fuzz/`) drive, shared with the corpus regression test so
//! `make test` replays every saved input on stable Rust. Each takes arbitrary bytes and must
//! neither panic nor hang; results are checked only for invariants that hold for any input.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ecr_keeper_core::custom_resource::{response_body, Outcome, Request, RequestError, MAX_RESPONSE_BYTES};
use ecr_keeper_core::image::{Image, ImageStatus};
use ecr_keeper_core::lifecycle::{parse_policy, simulate, validate};
use serde_json::Value;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000, 0).single().unwrap_or_default()
}

/// A small inventory whose tags and ages cover every selection: prefixes, wildcards, untagged,
/// shared digests' neighbours, and ages from minutes to years.
fn inventory() -> Vec<Image> {
    let tags: [&[&str]; 10] = [
        &["v1.0"],
        &["v1.1", "latest"],
        &[],
        &["release-2024"],
        &["prod"],
        &[],
        &["v2.0-rc1"],
        &["dev-abc"],
        &["v10"],
        &[],
    ];
    tags.iter()
        .enumerate()
        .map(|(i, t)| Image {
            digest: format!("sha256:{i:064x}"),
            tags: t.iter().map(|s| s.to_string()).collect(),
            pushed_at: now() - Duration::hours(1 + (i as i64).pow(4) * 3),
            size_bytes: 1_000_000 * (i as u64 + 1),
            last_pulled_at: (i % 3 == 0).then(|| now() - Duration::days(i as i64)),
            status: if i == 9 { ImageStatus::Archived } else { ImageStatus::Active },
            last_archived_at: (i == 9).then(|| now() - Duration::days(30)),
            last_activated_at: None,
            manifest_media_type: None,
            child_digests: Vec::new(),
            scan: None,
            subject: None,
            artifact_type: None,
        })
        .collect()
}

/// A lifecycle policy's text: parse → validate → simulate.
pub fn lifecycle_policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(policy) = parse_policy(text) else { return };
    let _ = validate(&policy);
    let images = inventory();
    let plan = simulate(&policy, &images, now());
    assert_eq!(plan.decisions.len(), images.len(), "one decision per image");
    let _ = plan.summary();
    // What the generator and the custom resource write back must parse again.
    assert!(parse_policy(&policy.to_json()).is_ok(), "a parsed policy re-serialises to a parsable one");
}

/// Any EventBridge event the push and scan functions receive.
pub fn event(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = ecr_keeper_core::events::parse_event_text(text);
}

/// A custom-resource request: the envelope, the repository properties, the deletion mode, and
/// the response body built for it (which must stay within CloudFormation's 4,096 bytes).
pub fn custom_resource_request(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let envelope = match Request::from_value(&value) {
        Ok(request) => {
            let _ = ecr_keeper_core::repository::parse_spec(&request.resource_properties);
            let _ = ecr_keeper_core::repository::deletion_mode_of(&request.resource_properties);
            let _ = ecr_keeper_core::repository::overridden_retention_properties(&request.resource_properties);
            if let Some(old) = &request.old_resource_properties {
                let _ = ecr_keeper_core::repository::parse_spec(old);
            }
            request.envelope
        }
        Err(RequestError::Malformed { envelope, .. }) => *envelope,
        Err(RequestError::NotCustomResource(_)) => return,
    };
    // Ids echoed from the request can exceed the limit on their own (CloudFormation never sends
    // such ids); otherwise any Reason, however long, must be cut to fit.
    let id = "ecr-keeper:failed-create:x";
    let floor = response_body(&envelope, &Outcome::failed(id, "x")).len();
    let reason = value.get("ResourceProperties").map(Value::to_string).unwrap_or_default();
    let body = response_body(&envelope, &Outcome::failed(id, reason));
    // (The cut marker " [...] " is the only text a Reason can shrink to.)
    assert!(body.len() <= MAX_RESPONSE_BYTES.max(floor + 6), "{} bytes", body.len());
}

/// A manifest as BatchGetImage returns it; the first byte picks the media type ECR reported.
pub fn manifest(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let media_types = [
        None,
        Some(ecr_keeper_core::cost::DOCKER_MANIFEST_V2),
        Some(ecr_keeper_core::cost::OCI_MANIFEST),
        Some(ecr_keeper_core::image::MANIFEST_LIST_V2),
        Some(ecr_keeper_core::image::OCI_INDEX),
        Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
    ];
    let _ = ecr_keeper_core::cost::parse_manifest(media_types[*first as usize % media_types.len()], text);
}

/// `aws ecr describe-images` output, as the CLI's `--images` reads it.
pub fn image_details(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(images) = ecr_keeper_core::image::parse_image_details(text) {
        let _ = ecr_keeper_core::image::newest(&images);
    }
}
