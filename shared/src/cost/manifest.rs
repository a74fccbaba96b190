//! Image manifests, as far as storage is concerned: which blobs an image is made of, or which
//! images a manifest list / index points to.

use serde_json::Value;

pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub use crate::image::{MANIFEST_LIST_V2, OCI_INDEX};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// A single-platform image: its config and layer blobs.
    Image { blobs: Vec<Blob> },
    /// A manifest list or OCI index: the digests of the images it references.
    List { children: Vec<String> },
    /// A media type this accounting does not read; storage falls back to `imageSizeInBytes`.
    Unknown { media_type: String },
}

/// Reads a manifest. `media_type` is what ECR reported (`imageManifestMediaType`); the
/// manifest's own `mediaType`, then its shape, decide when that is absent.
pub fn parse_manifest(media_type: Option<&str>, text: &str) -> Manifest {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return Manifest::Unknown { media_type: media_type.unwrap_or("(not JSON)").to_string() };
    };
    let declared = media_type.or_else(|| v.get("mediaType").and_then(Value::as_str));
    let blob = |b: &Value| {
        Some(Blob {
            digest: b.get("digest")?.as_str()?.to_string(),
            size: b.get("size").and_then(Value::as_u64).unwrap_or(0),
        })
    };
    let kind = match declared {
        Some(DOCKER_MANIFEST_V2) | Some(OCI_MANIFEST) => "image",
        Some(MANIFEST_LIST_V2) | Some(OCI_INDEX) => "list",
        Some(_) => "unknown",
        // OCI allows omitting mediaType: judge by shape.
        None if v.get("layers").is_some() => "image",
        None if v.get("manifests").is_some() => "list",
        None => "unknown",
    };
    match kind {
        "image" => {
            let mut blobs: Vec<Blob> = v.get("config").and_then(blob).into_iter().collect();
            blobs.extend(v.get("layers").and_then(Value::as_array).into_iter().flatten().filter_map(blob));
            Manifest::Image { blobs }
        }
        "list" => Manifest::List {
            children: v
                .get("manifests")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m.get("digest").and_then(Value::as_str).map(str::to_owned))
                .collect(),
        },
        _ => Manifest::Unknown { media_type: declared.unwrap_or("(none)").to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_and_oci_images_list_their_blobs() {
        let docker = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"digest":"sha256:c","size":7},"layers":[{"digest":"sha256:l1","size":100},{"digest":"sha256:l2","size":50}]}"#;
        let m = parse_manifest(None, docker);
        assert_eq!(
            m,
            Manifest::Image {
                blobs: vec![
                    Blob { digest: "sha256:c".into(), size: 7 },
                    Blob { digest: "sha256:l1".into(), size: 100 },
                    Blob { digest: "sha256:l2".into(), size: 50 }
                ]
            }
        );
        let oci_without_media_type = r#"{"schemaVersion":2,"config":{"digest":"sha256:c","size":7},"layers":[]}"#;
        assert!(matches!(parse_manifest(None, oci_without_media_type), Manifest::Image { blobs } if blobs.len() == 1));
    }

    #[test]
    fn lists_and_indexes_name_their_children() {
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",
            "manifests":[{"digest":"sha256:amd64","size":1},{"digest":"sha256:arm64","size":1}]}"#;
        assert_eq!(
            parse_manifest(Some(OCI_INDEX), index),
            Manifest::List { children: vec!["sha256:amd64".into(), "sha256:arm64".into()] }
        );
    }

    #[test]
    fn other_media_types_are_unknown() {
        let helm = r#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json"}}"#;
        assert_eq!(
            parse_manifest(Some("application/vnd.docker.distribution.manifest.v1+prettyjws"), helm),
            Manifest::Unknown { media_type: "application/vnd.docker.distribution.manifest.v1+prettyjws".into() }
        );
        assert!(matches!(parse_manifest(None, "not json"), Manifest::Unknown { .. }));
    }
}
