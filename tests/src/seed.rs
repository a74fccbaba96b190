//! Real image manifests pushed into moto with PutImage (moto accepts manifests whose blobs were
//! never uploaded, which is all a registry-metadata tool needs).

use serde_json::json;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Creates a repository with scan on push on or off (nothing else set).
pub async fn create_repository(ecr: &aws_sdk_ecr::Client, name: &str, scan_on_push: bool) {
    let scanning = aws_sdk_ecr::types::ImageScanningConfiguration::builder().scan_on_push(scan_on_push).build();
    let created = ecr.create_repository().repository_name(name).image_scanning_configuration(scanning).send().await;
    created.unwrap_or_else(|e| panic!("creating {name}: {e}"));
}

/// A stable fake blob digest for a name: 64 hex characters.
pub fn blob_digest(name: &str) -> String {
    let mut hex = String::with_capacity(64);
    let mut state: u64 = 0xcbf2_9ce4_8422_2325;
    while hex.len() < 64 {
        for b in name.bytes().chain(hex.len().to_le_bytes()) {
            state ^= u64::from(b);
            state = state.wrapping_mul(0x0100_0000_01b3);
        }
        hex.push_str(&format!("{state:016x}"));
    }
    format!("sha256:{}", &hex[..64])
}

/// An OCI image manifest with a config blob and the given layers (name, size).
pub fn oci_manifest(config: &str, layers: &[(&str, u64)]) -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob_digest(config), "size": 1469},
        "layers": layers.iter().map(|(name, size)| json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob_digest(name), "size": size
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

/// An OCI 1.1 referrer of `subject` (a signature, an SBOM): one layer, `artifact_type`.
pub fn referrer_manifest(subject: &str, artifact_type: &str, name: &str) -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": blob_digest("empty"), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": blob_digest(name), "size": 2_000}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1_000},
    })
    .to_string()
}

/// Pushes an OCI manifest, tagged or not; returns the digest moto assigned.
pub async fn push(ecr: &aws_sdk_ecr::Client, repository: &str, tag: Option<&str>, manifest: &str) -> String {
    push_as(ecr, repository, tag, manifest, OCI_MANIFEST, None).await
}

/// Pushes a distinct small image per call (`unique` names its own layer).
pub async fn push_unique(ecr: &aws_sdk_ecr::Client, repository: &str, tag: Option<&str>, unique: &str) -> String {
    let manifest = oci_manifest(&format!("config-{unique}"), &[("base-layer", 30_000_000), (unique, 1_000_000)]);
    push(ecr, repository, tag, &manifest).await
}

/// Pushes a manifest with an explicit media type and, optionally, digest (moto gives manifests
/// without layers a random digest from 101 values; naming it avoids collisions).
pub async fn push_as(
    ecr: &aws_sdk_ecr::Client,
    repository: &str,
    tag: Option<&str>,
    manifest: &str,
    media_type: &str,
    digest: Option<&str>,
) -> String {
    let out = ecr
        .put_image()
        .repository_name(repository)
        .image_manifest(manifest)
        .image_manifest_media_type(media_type)
        .set_image_tag(tag.map(str::to_owned))
        .set_image_digest(digest.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PutImage {repository}:{tag:?} failed: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        });
    out.image().and_then(|i| i.image_id()).and_then(|i| i.image_digest()).map(str::to_owned).unwrap_or_default()
}

/// A repository's images as `aws ecr describe-images` prints them (what `ecr-keeper lifecycle
/// preview --images` reads).
pub async fn describe_images_json(ecr: &aws_sdk_ecr::Client, repository: &str) -> serde_json::Value {
    let out = ecr.describe_images().repository_name(repository).send().await;
    let out = out.unwrap_or_else(|e| panic!("DescribeImages {repository}: {e}"));
    let details: Vec<serde_json::Value> = out
        .image_details()
        .iter()
        .map(|d| {
            json!({
                "registryId": d.registry_id(), "repositoryName": d.repository_name(), "imageDigest": d.image_digest(),
                "imageTags": d.image_tags(), "imageSizeInBytes": d.image_size_in_bytes(),
                "imagePushedAt": d.image_pushed_at().map(|t| t.secs()),
                "subjectManifestDigest": d.subject_manifest_digest(), "artifactMediaType": d.artifact_media_type(),
            })
        })
        .collect();
    json!({ "imageDetails": details })
}
