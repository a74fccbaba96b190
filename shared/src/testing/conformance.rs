//! One suite for every registry: the in-memory stand-in (core unit tests) and the ECR adapter on
//! moto (`tests/tests/moto/conformance.rs`) answer the ports alike, so a test that passes on the
//! stand-in says something about ECR. Each case panics with what differed.

use crate::image::Image;
use crate::ports::{Registry, RegistryError};
use crate::repository::{RepositorySettings, ResourceTag, TagMutability};
use serde_json::Value;
use std::future::Future;

/// What a registry under test needs beyond the ports: a push (a stand-in stores the image, ECR
/// takes a manifest). Returns the image's digest, media type and manifest.
pub trait Pushes: Send + Sync {
    fn push(
        &self,
        repository: &str,
        tag: Option<&str>,
        unique: &str,
    ) -> impl Future<Output = (String, Option<String>, String)> + Send;
}

fn settings(mutability: TagMutability, scan_on_push: bool) -> RepositorySettings {
    RepositorySettings { tag_mutability: mutability, scan_on_push, ..super::ecr_defaults() }
}

fn tag(key: &str, value: &str) -> ResourceTag {
    ResourceTag { key: key.into(), value: value.into() }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn sorted_tags(mut tags: Vec<ResourceTag>) -> Vec<ResourceTag> {
    tags.sort();
    tags
}

fn image<'a>(images: &'a [Image], digest: &str) -> Option<&'a Image> {
    images.iter().find(|i| i.digest == digest)
}

/// Every case, each on repositories named under `prefix`.
pub async fn run_all<R: Registry, P: Pushes>(registry: &R, pushes: &P, prefix: &str) {
    repositories_are_created_described_listed_and_refused_twice(registry, prefix).await;
    policies_round_trip_and_deleting_none_succeeds(registry, prefix).await;
    tags_are_added_replaced_and_removed(registry, prefix).await;
    images_are_listed_retagged_and_a_last_tag_removal_deletes_the_image(registry, pushes, prefix).await;
    a_repository_with_images_is_deleted_only_by_force(registry, pushes, prefix).await;
    a_missing_repository_is_named(registry, prefix).await;
}

pub async fn repositories_are_created_described_listed_and_refused_twice<R: Registry>(registry: &R, prefix: &str) {
    let name = format!("{prefix}/made");
    let wanted = settings(TagMutability::Immutable, true);
    let created = registry
        .create_repository(&name, &wanted, &[tag("team", "a")])
        .await
        .unwrap_or_else(|e| panic!("CreateRepository {name}: {e}"));
    assert_eq!(created.name, name);
    assert!(created.arn.ends_with(&format!(":repository/{name}")), "{}", created.arn);
    let described = registry.describe_repository(&name).await.unwrap_or_else(|e| panic!("{e}"));
    let described = described.unwrap_or_else(|| panic!("{name} is not described after its creation"));
    assert_eq!(described.settings.tag_mutability, TagMutability::Immutable);
    assert!(described.settings.scan_on_push, "scan on push as created");
    assert_eq!(registry.list_tags(&described.arn).await.unwrap_or_default(), [tag("team", "a")]);
    let again = registry.create_repository(&name, &wanted, &[]).await;
    assert!(matches!(again, Err(RegistryError::RepositoryAlreadyExists(_))), "{again:?}");
    let listed = registry.list_repositories(Some(&format!("{prefix}/ma"))).await.unwrap_or_default();
    assert_eq!(listed.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), [name.as_str()]);
    let none = registry.list_repositories(Some(&format!("{prefix}/nothing-here"))).await.unwrap_or_default();
    assert!(none.is_empty(), "{none:?}");
    registry
        .put_tag_mutability(&name, TagMutability::Mutable, &[])
        .await
        .unwrap_or_else(|e| panic!("PutImageTagMutability: {e}"));
    registry.put_scan_on_push(&name, false).await.unwrap_or_else(|e| panic!("PutImageScanningConfiguration: {e}"));
    let changed = registry.describe_repository(&name).await.ok().flatten().map(|r| r.settings);
    assert_eq!(changed, Some(settings(TagMutability::Mutable, false)), "settings written are read back");
}

pub async fn policies_round_trip_and_deleting_none_succeeds<R: Registry>(registry: &R, prefix: &str) {
    let name = format!("{prefix}/policies");
    registry.create_repository(&name, &super::ecr_defaults(), &[]).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(registry.get_lifecycle_policy(&name).await.ok(), Some(None), "no lifecycle policy yet");
    assert_eq!(registry.get_repository_policy(&name).await.ok(), Some(None), "no repository policy yet");
    let lifecycle = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}"#;
    registry.put_lifecycle_policy(&name, lifecycle).await.unwrap_or_else(|e| panic!("PutLifecyclePolicy: {e}"));
    let read = registry.get_lifecycle_policy(&name).await.ok().flatten().unwrap_or_default();
    assert_eq!(json(&read), json(lifecycle), "the lifecycle policy as written");
    let access = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Pull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"ecr:BatchGetImage"}]}"#;
    registry.set_repository_policy(&name, access).await.unwrap_or_else(|e| panic!("SetRepositoryPolicy: {e}"));
    let read = registry.get_repository_policy(&name).await.ok().flatten().unwrap_or_default();
    assert_eq!(json(&read)["Statement"][0]["Sid"], "Pull", "the repository policy as written: {read}");
    registry.delete_repository_policy(&name).await.unwrap_or_else(|e| panic!("DeleteRepositoryPolicy: {e}"));
    assert_eq!(registry.get_repository_policy(&name).await.ok(), Some(None), "deleted");
    // The port's promise: deleting a policy that is not there succeeds.
    let twice = registry.delete_repository_policy(&name).await;
    assert!(twice.is_ok(), "a second delete: {twice:?}");
}

pub async fn tags_are_added_replaced_and_removed<R: Registry>(registry: &R, prefix: &str) {
    let name = format!("{prefix}/tagged");
    let repo = registry.create_repository(&name, &super::ecr_defaults(), &[]).await;
    let arn = repo.unwrap_or_else(|e| panic!("{e}")).arn;
    registry.tag_repository(&arn, &[tag("a", "1"), tag("b", "2")]).await.unwrap_or_else(|e| panic!("{e}"));
    registry.tag_repository(&arn, &[tag("a", "one")]).await.unwrap_or_else(|e| panic!("{e}"));
    let tags = sorted_tags(registry.list_tags(&arn).await.unwrap_or_default());
    assert_eq!(tags, [tag("a", "one"), tag("b", "2")], "a tag's key is set once, its value replaced");
    registry.untag_repository(&arn, &["a".to_string()]).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(registry.list_tags(&arn).await.unwrap_or_default(), [tag("b", "2")]);
}

pub async fn images_are_listed_retagged_and_a_last_tag_removal_deletes_the_image<R: Registry, P: Pushes>(
    registry: &R,
    pushes: &P,
    prefix: &str,
) {
    let name = format!("{prefix}/images");
    registry.create_repository(&name, &super::ecr_defaults(), &[]).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(registry.has_images(&name).await.ok(), Some(false), "a new repository is empty");
    let (first, media_type, manifest) = pushes.push(&name, Some("v1"), "conformance-one").await;
    let (second, _, _) = pushes.push(&name, None, "conformance-two").await;
    assert_eq!(registry.has_images(&name).await.ok(), Some(true));
    let images = registry.describe_images(&name).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(images.len(), 2, "{images:?}");
    assert_eq!(image(&images, &first).map(|i| i.tags.clone()), Some(vec!["v1".to_string()]));
    assert_eq!(image(&images, &second).map(|i| i.tags.is_empty()), Some(true), "the second is untagged");
    // The manifest read back is the one pushed, and names the image.
    let manifests = registry.get_manifests(&name, std::slice::from_ref(&first)).await.unwrap_or_default();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    assert_eq!(json(&manifests[0].2), json(&manifest), "the manifest as pushed");
    // A second tag on the same image: the digest stays, nothing new is stored.
    registry
        .put_image_tag(&name, &first, media_type.as_deref(), &manifest, "keep")
        .await
        .unwrap_or_else(|e| panic!("PutImage: {e}"));
    let images = registry.describe_images(&name).await.unwrap_or_default();
    assert_eq!(images.len(), 2, "retagging stores no new image: {images:?}");
    let mut tags = image(&images, &first).map(|i| i.tags.clone()).unwrap_or_default();
    tags.sort();
    assert_eq!(tags, ["keep", "v1"]);
    // Removing one of two tags keeps the image; removing its last deletes it.
    registry.remove_image_tag(&name, "v1").await.unwrap_or_else(|e| panic!("{e}"));
    let images = registry.describe_images(&name).await.unwrap_or_default();
    assert_eq!(image(&images, &first).map(|i| i.tags.clone()), Some(vec!["keep".to_string()]));
    registry.remove_image_tag(&name, "keep").await.unwrap_or_else(|e| panic!("{e}"));
    let images = registry.describe_images(&name).await.unwrap_or_default();
    assert!(image(&images, &first).is_none(), "an image loses its last tag and is gone: {images:?}");
    // A tag already gone is what the caller wanted.
    assert!(registry.remove_image_tag(&name, "keep").await.is_ok());
    // Never scanned: no findings, not an error.
    let scan = registry.describe_scan_findings(&name, &second).await;
    assert!(matches!(scan, Ok(None)), "{scan:?}");
}

pub async fn a_repository_with_images_is_deleted_only_by_force<R: Registry, P: Pushes>(
    registry: &R,
    pushes: &P,
    prefix: &str,
) {
    let name = format!("{prefix}/full");
    registry.create_repository(&name, &super::ecr_defaults(), &[]).await.unwrap_or_else(|e| panic!("{e}"));
    pushes.push(&name, Some("v1"), "conformance-full").await;
    let refused = registry.delete_repository(&name, false).await;
    assert!(matches!(refused, Err(RegistryError::RepositoryNotEmpty(_))), "{refused:?}");
    assert!(registry.describe_repository(&name).await.ok().flatten().is_some(), "still there");
    registry.delete_repository(&name, true).await.unwrap_or_else(|e| panic!("forced: {e}"));
    assert_eq!(registry.describe_repository(&name).await.ok(), Some(None), "gone with its images");
}

pub async fn a_missing_repository_is_named<R: Registry>(registry: &R, prefix: &str) {
    let name = format!("{prefix}/never-made");
    assert_eq!(registry.describe_repository(&name).await.ok(), Some(None), "describe says none");
    let images = registry.describe_images(&name).await;
    assert!(matches!(&images, Err(RegistryError::RepositoryNotFound(n)) if *n == name), "{images:?}");
    let deleted = registry.delete_repository(&name, false).await;
    assert!(matches!(&deleted, Err(RegistryError::RepositoryNotFound(_))), "{deleted:?}");
}

/// 64 bits of a digest for a stand-in image (a real digest is the manifest's SHA-256).
fn hash(seed: u8, text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (seed, text).hash(&mut h);
    h.finish()
}

/// The stand-in's push: the image and its manifest stored as ECR would report them.
impl Pushes for super::InMemoryRegistry {
    async fn push(&self, repository: &str, tag: Option<&str>, unique: &str) -> (String, Option<String>, String) {
        let manifest = format!(r#"{{"schemaVersion":2,"config":{{"digest":"sha256:{unique}"}},"layers":[]}}"#);
        let media_type = "application/vnd.oci.image.manifest.v1+json".to_string();
        let digest =
            format!("sha256:{}", (0..4u8).map(|seed| format!("{:016x}", hash(seed, unique))).collect::<String>());
        let image = Image {
            digest: digest.clone(),
            tags: tag.map(str::to_string).into_iter().collect(),
            pushed_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            size_bytes: manifest.len() as u64,
            last_pulled_at: None,
            status: crate::image::ImageStatus::Active,
            last_archived_at: None,
            last_activated_at: None,
            manifest_media_type: Some(media_type.clone()),
            child_digests: Vec::new(),
            scan: None,
            subject: None,
            artifact_type: None,
        };
        self.with_image(repository, image).with_manifest(repository, &digest, Some(&media_type), &manifest);
        (digest, Some(media_type), manifest)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_stand_in_answers_as_ecr_does() {
        let registry = super::super::InMemoryRegistry::new();
        super::run_all(&registry, &registry, "conformance").await;
    }
}
