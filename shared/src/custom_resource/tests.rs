//! Every path of Create, Update and Delete on the in-memory registry: no process, no network.

use super::*;
use crate::image::Image;
use crate::ports::prelude::*;
use crate::ports::RegistryError;
use crate::repository::{Ownership, ResourceTag, TagMutability};
use crate::testing::{ecr_defaults, FixedClock, InMemoryRegistry, InMemoryStacks};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

const STACK: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/apps/1";
const OTHER_STACK: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/other/2";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default()
}

fn request(kind: &str, physical: Option<&str>, properties: Value, old: Option<Value>) -> Request {
    let mut v = json!({
        "RequestType": kind,
        "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=secret",
        "StackId": STACK,
        "RequestId": "req-1",
        "LogicalResourceId": "AppRepository",
        "ResourceType": "Custom::EcrRepository",
        "ResourceProperties": properties,
    });
    if let Some(id) = physical {
        v["PhysicalResourceId"] = json!(id);
    }
    if let Some(old) = old {
        v["OldResourceProperties"] = old;
    }
    match Request::from_value(&v) {
        Ok(r) => r,
        Err(e) => panic!("test request does not parse: {e}"),
    }
}

fn props(name: &str) -> Value {
    json!({"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:keeper", "RepositoryName": name})
}

/// `props(name)` with these properties added.
fn props_with(name: &str, extra: &[(&str, Value)]) -> Value {
    let mut p = props(name);
    for (key, value) in extra {
        p[*key] = value.clone();
    }
    p
}

fn ours(adopted: bool) -> Vec<ResourceTag> {
    Ownership { stack_id: STACK.into(), logical_id: "AppRepository".into(), adopted }.tags()
}

fn provisioner(
    registry: &InMemoryRegistry,
    stacks: &InMemoryStacks,
) -> Provisioner<InMemoryRegistry, FixedClock, InMemoryStacks> {
    Provisioner::new(registry.clone(), FixedClock::at(now()), stacks.clone())
}

/// The request as CloudFormation sends it: its stack holds the resource in the matching
/// `*_IN_PROGRESS` state.
async fn run(registry: &InMemoryRegistry, req: &Request) -> Outcome {
    run_with(registry, &InMemoryStacks::default(), req).await
}

async fn run_with(registry: &InMemoryRegistry, stacks: &InMemoryStacks, req: &Request) -> Outcome {
    stacks.sending(req);
    provisioner(registry, stacks).provide(req, &RequestProgress::default()).await
}

fn image(digest: &str, tags: &[&str], days_old: i64) -> Image {
    Image::new(digest, tags, now() - Duration::days(days_old), 1_000)
}

// ---- Create ----

/// A Create that must fail without writing anything: its Reason.
async fn refused_create(registry: &InMemoryRegistry, properties: Value) -> String {
    let out = run(registry, &request("Create", None, properties, None)).await;
    assert_eq!(out.status, Status::Failed, "{}", out.reason);
    assert!(out.physical_resource_id.starts_with(crate::repository::FAILED_CREATE_MARKER), "no repository is named");
    assert_eq!(registry.writes(), Vec::<String>::new(), "{}", out.reason);
    out.reason
}

#[tokio::test]
async fn create_makes_the_repository_with_settings_policy_and_ownership_tags() {
    // GIVEN an empty registry
    let registry = InMemoryRegistry::new();
    // WHEN CloudFormation creates a repository
    let out = run(&registry, &request("Create", None, props("app"), None)).await;
    // THEN it exists, owned by this resource, with ecr-keeper's defaults and a lifecycle policy
    assert_eq!(out.status, Status::Success, "{}", out.reason);
    assert_eq!(out.physical_resource_id, "app");
    assert_eq!(out.reason, "created app: lifecycle policy");
    let repo = registry.repository("app").unwrap_or_else(|| panic!("not created"));
    assert_eq!(repo.settings.tag_mutability, TagMutability::Immutable);
    assert!(repo.settings.scan_on_push);
    assert_eq!(
        Ownership::from_tags(&registry.tags("app")),
        Some(Ownership::from_tags(&ours(false)).unwrap_or_else(|| panic!()))
    );
    assert!(registry.lifecycle_policy("app").is_some_and(|p| p.contains("imageCountMoreThan")));
    assert_eq!(out.data.get("RepositoryArn").map(String::as_str), Some(InMemoryRegistry::arn("app").as_str()));
}

#[tokio::test]
async fn a_retried_create_converges_without_writing_again() {
    // GIVEN the repository this resource created on the first delivery
    let registry = InMemoryRegistry::new();
    let req = request("Create", None, props("app"), None);
    assert_eq!(run(&registry, &req).await.status, Status::Success);
    registry.forget_calls();
    // WHEN Lambda delivers the same request again
    let out = run(&registry, &req).await;
    // THEN it succeeds with nothing to change, and writes nothing
    assert_eq!(out.reason, "converged app; nothing to change");
    assert_eq!(registry.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn an_unmanaged_repository_is_refused_without_adopt_existing_and_untouched() {
    let registry = InMemoryRegistry::new();
    registry.with_repository("app", ecr_defaults(), &[ResourceTag::new("team", "web")]);
    let reason = refused_create(&registry, props("app")).await;
    assert!(reason.contains("set AdoptExisting to \"true\""), "{reason}");
}

/// A `Custom::EcrRepository` as CloudFormation reports it.
fn in_cloudformation(resource_status: &str, stack_status: &str, physical: &str) -> StackResource {
    StackResource {
        resource_type: RESOURCE_TYPE.into(),
        physical_id: Some(physical.into()),
        resource_status: resource_status.into(),
        stack_status: stack_status.into(),
    }
}

/// GIVEN repository `app` created by resource `Repo` of the other stack, which CloudFormation
/// reports as `status` (None: the stack has no such resource).
fn theirs(status: Option<(&str, &str)>) -> (InMemoryRegistry, InMemoryStacks) {
    let registry = InMemoryRegistry::new();
    let tags = Ownership { stack_id: OTHER_STACK.into(), logical_id: "Repo".into(), adopted: false }.tags();
    registry.with_repository("app", ecr_defaults(), &tags);
    registry.with_image("app", image("sha256:theirs", &["v1"], 1));
    let stacks = InMemoryStacks::default();
    if let Some((resource, stack)) = status {
        stacks.set(OTHER_STACK, "Repo", in_cloudformation(resource, stack, "app"));
    }
    (registry, stacks)
}

#[tokio::test]
async fn a_repository_of_another_stack_is_refused_naming_its_owner() {
    let (registry, stacks) = theirs(Some(("CREATE_COMPLETE", "CREATE_COMPLETE")));
    let out = run_with(&registry, &stacks, &request("Create", None, props("app"), None)).await;
    assert_eq!(out.status, Status::Failed);
    assert!(out.reason.contains("managed by Repo in stack arn:aws:cloudformation"), "{}", out.reason);
    assert_eq!(registry.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn adopt_existing_never_takes_a_repository_a_live_stack_manages() {
    // GIVEN another stack's live repository, and a Create that asks to adopt it, opening it up
    // to an outside account and deleting with its images
    for live in ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "CREATE_IN_PROGRESS"] {
        let (registry, stacks) = theirs(Some((live, live)));
        let p = props_with(
            "app",
            &[
                ("AdoptExisting", json!("true")),
                ("ReadWritePrincipals", json!(["arn:aws:iam::999999999999:root"])),
                ("DeletionMode", json!("Force")),
            ],
        );
        // WHEN the Create runs
        let out = run_with(&registry, &stacks, &request("Create", None, p, None)).await;
        // THEN it is refused, naming the owner and the way to move it, and nothing is written
        assert_eq!(out.status, Status::Failed, "{live}");
        assert!(out.physical_resource_id.starts_with(crate::repository::FAILED_CREATE_MARKER));
        assert!(out.reason.contains("a repository has one owner"), "{}", out.reason);
        assert!(out.reason.contains("set DeletionMode to Retain"), "{}", out.reason);
        assert_eq!(registry.writes(), Vec::<String>::new(), "{live}");
        // AND the rollback's Delete of the failed Create deletes nothing
        let rollback =
            run_with(&registry, &stacks, &request("Delete", Some(&out.physical_resource_id), with_mode("Force"), None))
                .await;
        assert_eq!(rollback.status, Status::Success);
        assert_eq!(registry.images("app").len(), 1);
        assert_eq!(Ownership::from_tags(&registry.tags("app")).map(|o| o.stack_id), Some(OTHER_STACK.to_string()));
    }
}

#[tokio::test]
async fn a_repository_whose_stack_is_gone_is_adoptable_and_its_old_owner_is_released() {
    for gone in [None, Some(("DELETE_COMPLETE", "DELETE_COMPLETE")), Some(("DELETE_COMPLETE", "UPDATE_COMPLETE"))] {
        let (registry, stacks) = theirs(gone);
        // Without AdoptExisting it is still refused, saying why.
        let refused = run_with(&registry, &stacks, &request("Create", None, props("app"), None)).await;
        assert!(refused.reason.contains("which no longer manages it"), "{}", refused.reason);
        assert_eq!(registry.writes(), Vec::<String>::new());
        let p = props_with("app", &[("AdoptExisting", json!("true"))]);
        let out = run_with(&registry, &stacks, &request("Create", None, p, None)).await;
        assert_eq!(out.status, Status::Success, "{}", out.reason);
        assert_eq!(Ownership::from_tags(&registry.tags("app")), Ownership::from_tags(&ours(true)), "{gone:?}");
        assert_eq!(registry.images("app").len(), 1);
    }
}

#[tokio::test]
async fn a_repository_replaced_in_its_stack_is_no_longer_managed_by_it() {
    // The owner's logical id now names another repository: `app` was left behind.
    let (registry, stacks) = theirs(None);
    stacks.set(OTHER_STACK, "Repo", in_cloudformation("UPDATE_COMPLETE", "UPDATE_COMPLETE", "app-v2"));
    let p = props_with("app", &[("AdoptExisting", json!("true"))]);
    assert_eq!(run_with(&registry, &stacks, &request("Create", None, p, None)).await.status, Status::Success);
}

// ---- Requests CloudFormation really sent ----

/// A request whose stack CloudFormation reports as `status` (resource, stack): answered FAILED,
/// and nothing is written.
async fn unconfirmed(registry: &InMemoryRegistry, req: &Request, status: Option<(&str, &str)>) -> String {
    let stacks = InMemoryStacks::default();
    if let Some((resource, stack)) = status {
        stacks.set(STACK, "AppRepository", in_cloudformation(resource, stack, "app"));
    }
    let out = provisioner(registry, &stacks).provide(req, &RequestProgress::default()).await;
    assert_eq!(out.status, Status::Failed, "{}", out.reason);
    assert!(!out.physical_resource_id.is_empty());
    assert_eq!(registry.writes(), Vec::<String>::new(), "{}", out.reason);
    assert!(out.reason.contains("nothing was changed"), "{}", out.reason);
    out.reason
}

#[tokio::test]
async fn a_forged_force_delete_of_a_live_repository_changes_nothing() {
    // GIVEN this stack's repository with an image, CREATE_COMPLETE in CloudFormation
    let registry = owned(1);
    let forged = request("Delete", Some("app"), with_mode("Force"), None);
    // WHEN someone who may invoke the function sends a Delete naming its stack
    let reason = unconfirmed(&registry, &forged, Some(("CREATE_COMPLETE", "CREATE_COMPLETE"))).await;
    // THEN it is refused, saying what CloudFormation reports
    assert!(reason.contains("is CREATE_COMPLETE (stack CREATE_COMPLETE)"), "{reason}");
    assert_eq!(registry.images("app").len(), 1);
    // Nor when the stack has no such resource, or it is not ours
    let reason = unconfirmed(&registry, &forged, None).await;
    assert!(reason.contains("has no resource AppRepository"), "{reason}");
    assert_eq!(registry.images("app").len(), 1);
}

#[tokio::test]
async fn a_forged_update_or_create_that_would_open_the_repository_changes_nothing() {
    let registry = owned(1);
    let wider = props_with("app", &[("ReadWritePrincipals", json!(["arn:aws:iam::999999999999:root"]))]);
    let update = request("Update", Some("app"), wider.clone(), Some(props("app")));
    unconfirmed(&registry, &update, Some(("CREATE_COMPLETE", "CREATE_COMPLETE"))).await;
    let create = request("Create", None, wider, None);
    unconfirmed(&registry, &create, Some(("UPDATE_COMPLETE", "UPDATE_COMPLETE"))).await;
    assert_eq!(registry.repository_policy("app"), None);
}

#[tokio::test]
async fn another_resource_type_is_not_served() {
    let registry = owned(0);
    let stacks = InMemoryStacks::default();
    let req = request("Delete", Some("app"), with_mode("Force"), None);
    stacks.set(
        STACK,
        "AppRepository",
        StackResource {
            resource_type: "AWS::CloudFormation::WaitConditionHandle".into(),
            physical_id: Some("app".into()),
            resource_status: "DELETE_IN_PROGRESS".into(),
            stack_status: "DELETE_IN_PROGRESS".into(),
        },
    );
    let out = provisioner(&registry, &stacks).provide(&req, &RequestProgress::default()).await;
    assert_eq!(out.status, Status::Failed);
    assert!(out.reason.contains("serves only Custom::EcrRepository"), "{}", out.reason);
    assert!(out.reason.contains("is of type AWS::CloudFormation::WaitConditionHandle"), "{}", out.reason);
    assert!(registry.repository("app").is_some());
}

#[tokio::test]
async fn the_clean_up_delete_after_a_replacement_is_confirmed() {
    // GIVEN a replacement app → app-v2 that succeeded: the logical id names app-v2, and the stack
    // cleans up
    let registry = owned(0);
    let stacks = InMemoryStacks::default();
    stacks.set(
        STACK,
        "AppRepository",
        in_cloudformation("UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "app-v2"),
    );
    // WHEN CloudFormation deletes the old id
    let req = request("Delete", Some("app"), props("app"), None);
    let out = provisioner(&registry, &stacks).provide(&req, &RequestProgress::default()).await;
    // THEN it is confirmed and handled
    assert_eq!(out.reason, "deleted app (it held no images)");
    // But the new id, still named by the stack, is not deletable in that phase.
    registry.with_repository("app-v2", ecr_defaults(), &ours(false));
    let req = request("Delete", Some("app-v2"), props("app-v2"), None);
    let out = provisioner(&registry, &stacks).provide(&req, &RequestProgress::default()).await;
    assert_eq!(out.status, Status::Failed, "{}", out.reason);
    assert!(registry.repository("app-v2").is_some());
}

#[tokio::test]
async fn a_request_cloudformation_cannot_be_asked_about_fails_and_changes_nothing() {
    struct Unreachable;
    impl Stacks for Unreachable {
        async fn stack_resource(&self, _: &str, _: &str) -> Result<Option<StackResource>, StackLookupError> {
            Err(StackLookupError::AccessDenied("not authorized".into()))
        }
    }
    let registry = owned(1);
    let p = Provisioner::new(registry.clone(), FixedClock::at(now()), Unreachable);
    let out = p.provide(&request("Delete", Some("app"), with_mode("Force"), None), &RequestProgress::default()).await;
    assert_eq!(out.status, Status::Failed);
    assert!(out.reason.contains("cloudformation:DescribeStackResource was denied"), "{}", out.reason);
    assert_eq!(registry.writes(), Vec::<String>::new());
    // A failed Create's marker needs no confirmation: its Delete still succeeds.
    let marker = request("Delete", Some("ecr-keeper:failed-create:r"), props("app"), None);
    assert_eq!(p.provide(&marker, &RequestProgress::default()).await.status, Status::Success);
}

#[test]
fn only_cloudformation_response_urls_are_answered() {
    for ok in [
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a?X-Amz-Signature=s",
        "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/a",
        "https://bucket.s3.us-gov-west-1.amazonaws.com/a",
        "http://127.0.0.1:8080/response",
        "http://localhost/r",
        "http://[::1]:9/r",
    ] {
        assert!(response_url_allowed(ok), "{ok}");
    }
    for bad in [
        "https://attacker.example/collect",
        "https://amazonaws.com.attacker.example/x",
        "https://amazonaws.com/x",
        "http://bucket.s3.amazonaws.com/plain-http",
        "http://10.0.0.5/r",
        "https://user@evil.example/.amazonaws.com",
        "ftp://127.0.0.1/r",
        "file:///etc/passwd",
    ] {
        assert!(!response_url_allowed(bad), "{bad}");
    }
}

#[tokio::test]
async fn adopt_existing_tags_the_repository_as_adopted_and_applies_the_settings() {
    // GIVEN an unmanaged, mutable repository with a tag of its own
    let registry = InMemoryRegistry::new();
    registry.with_repository("app", ecr_defaults(), &[ResourceTag::new("team", "web")]);
    let p = props_with("app", &[("AdoptExisting", json!("true"))]);
    // WHEN a Create adopts it
    let out = run(&registry, &request("Create", None, p, None)).await;
    // THEN the ownership tags say adopted, its own tag stays, and the settings converge
    assert_eq!(out.reason, "adopted app: ImageTagMutability IMMUTABLE, ScanOnPush true, lifecycle policy");
    let tags = registry.tags("app");
    assert!(Ownership::from_tags(&tags).is_some_and(|o| o.adopted));
    assert!(tags.contains(&ResourceTag::new("team", "web")));
}

#[tokio::test]
async fn adoption_is_refused_when_encryption_differs() {
    let registry = InMemoryRegistry::new();
    let mut kms = ecr_defaults();
    kms.encryption = crate::repository::Encryption::Kms { key: None };
    registry.with_repository("app", kms, &[]);
    let p = props_with("app", &[("AdoptExisting", json!("true"))]);
    let reason = refused_create(&registry, p).await;
    assert!(reason.contains("ECR cannot change encryption after creation"), "{reason}");
}

#[tokio::test]
async fn a_create_racing_another_creator_fails_without_claiming_its_repository() {
    let registry = InMemoryRegistry::new();
    registry.failing("CreateRepository", Some("app"), RegistryError::RepositoryAlreadyExists("app".into()), None);
    let out = run(&registry, &request("Create", None, props("app"), None)).await;
    assert_eq!(out.status, Status::Failed);
    assert!(out.reason.contains("created by someone else"), "{}", out.reason);
    assert!(out.physical_resource_id.starts_with(crate::repository::FAILED_CREATE_MARKER));
}

#[tokio::test]
async fn a_create_failing_after_the_repository_exists_answers_with_its_name() {
    // GIVEN ECR refuses the lifecycle policy
    let registry = InMemoryRegistry::new();
    let denied = RegistryError::AccessDenied { operation: "PutLifecyclePolicy", message: "no".into() };
    registry.failing("PutLifecyclePolicy", None, denied, None);
    let out = run(&registry, &request("Create", None, props("app"), None)).await;
    // THEN the failure names the repository, so CloudFormation's Delete finds it
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.physical_resource_id, "app");
    assert!(out.reason.contains("PutLifecyclePolicy: access denied"), "{}", out.reason);
}

#[tokio::test]
async fn bad_properties_fail_the_create_naming_each_property_and_touch_nothing() {
    let registry = InMemoryRegistry::new();
    let mut p = props("App Repo");
    p["ImageTagMutability"] = json!("SOMETIMES");
    let out = run(&registry, &request("Create", None, p, None)).await;
    assert_eq!(out.status, Status::Failed);
    assert!(out.reason.contains("RepositoryName") && out.reason.contains("ImageTagMutability"), "{}", out.reason);
    assert!(out.reason.contains("IMMUTABLE"), "the accepted values are named: {}", out.reason);
    assert!(registry.calls().is_empty());
}

// ---- Update ----

/// An Update of repository `app` from `old` to `new` properties.
async fn update(registry: &InMemoryRegistry, new: Value, old: Value) -> Outcome {
    run(registry, &request("Update", Some("app"), new, Some(old))).await
}

/// An Update from the defaults to `new` that must fail keeping the old id and writing nothing:
/// its Reason.
async fn refused_update(registry: &InMemoryRegistry, new: Value) -> String {
    let out = update(registry, new, props("app")).await;
    assert_eq!(out.status, Status::Failed, "{}", out.reason);
    assert_eq!(out.physical_resource_id, "app");
    assert_eq!(registry.writes(), Vec::<String>::new(), "{}", out.reason);
    out.reason
}

/// GIVEN repository `app`, created by this resource from `properties`; its calls forgotten.
async fn created(properties: Value) -> InMemoryRegistry {
    let registry = InMemoryRegistry::new();
    let out = run(&registry, &request("Create", None, properties, None)).await;
    assert_eq!(out.status, Status::Success, "{}", out.reason);
    registry.forget_calls();
    registry
}

#[tokio::test]
async fn an_update_applies_only_what_changed() {
    // GIVEN a repository created with defaults
    let registry = created(props("app")).await;
    // WHEN scan on push is turned off and a tag added
    let p = props_with("app", &[("ScanOnPush", json!("false")), ("Tags", json!([{"Key": "team", "Value": "web"}]))]);
    let out = update(&registry, p, props("app")).await;
    // THEN exactly those two writes happen
    assert_eq!(out.reason, "updated app: ScanOnPush false, 1 tag(s) set");
    assert_eq!(
        registry.writes(),
        vec!["PutImageScanningConfiguration app", &format!("TagResource {}", InMemoryRegistry::arn("app"))]
    );
}

#[tokio::test]
async fn an_unchanged_update_writes_nothing() {
    let registry = created(props("app")).await;
    let out = update(&registry, props("app"), props("app")).await;
    assert_eq!(out.reason, "updated app; nothing to change");
    assert_eq!(registry.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn an_update_removes_only_the_tags_and_policy_this_resource_set() {
    // GIVEN a repository with our tag, someone else's tag and our repository policy
    let old = props_with(
        "app",
        &[("Tags", json!([{"Key": "team", "Value": "web"}])), ("ReadPrincipals", json!(["111122223333"]))],
    );
    let registry = created(old.clone()).await;
    let arn = InMemoryRegistry::arn("app");
    registry.tag_repository(&arn, &[ResourceTag::new("cost-center", "42")]).await.unwrap_or_else(|e| panic!("{e}"));
    registry.forget_calls();
    // WHEN the tag and the principals leave the properties
    let out = update(&registry, props("app"), old).await;
    // THEN our tag and policy go; the other tag stays
    assert_eq!(out.reason, "updated app: repository policy removed, 1 tag(s) removed");
    assert_eq!(registry.repository_policy("app"), None);
    let tags = registry.tags("app");
    assert!(tags.contains(&ResourceTag::new("cost-center", "42")));
    assert!(!tags.iter().any(|t| t.key == "team"));
}

#[tokio::test]
async fn an_update_that_changes_encryption_is_refused_and_changes_nothing() {
    let registry = created(props("app")).await;
    let reason = refused_update(&registry, props_with("app", &[("EncryptionType", json!("KMS"))])).await;
    assert!(reason.contains("ECR fixes encryption at creation"), "{reason}");
}

#[tokio::test]
async fn a_policy_that_would_expire_too_many_images_is_refused() {
    // GIVEN five release images
    let registry = created(props("app")).await;
    for k in 0..5 {
        registry.with_image("app", image(&format!("sha256:{k:064}"), &[&format!("v{k}")], k));
    }
    // WHEN the update keeps one and allows one expiry
    let p = props_with("app", &[("ImageRetentionCount", json!("1")), ("MaxImagesExpiredByUpdate", json!("1"))]);
    let reason = refused_update(&registry, p).await;
    // THEN it is refused, naming what would go, and nothing is written
    assert!(reason.contains("would expire 4 of the 5 images") && reason.contains("v4"), "{reason}");
}

#[tokio::test]
async fn an_update_with_a_new_name_replaces_the_repository() {
    let registry = created(props("app")).await;
    let out = update(&registry, props("app-v2"), props("app")).await;
    assert_eq!(out.physical_resource_id, "app-v2");
    assert!(out.reason.starts_with("created app-v2"), "{}", out.reason);
    assert!(registry.repository("app").is_some(), "the old one waits for CloudFormation's Delete");
}

#[tokio::test]
async fn a_failed_replacement_removes_the_new_empty_repository_it_created() {
    let registry = created(props("app")).await;
    let denied = RegistryError::AccessDenied { operation: "PutLifecyclePolicy", message: "no".into() };
    registry.failing("PutLifecyclePolicy", Some("app-v2"), denied, None);
    let out = update(&registry, props("app-v2"), props("app")).await;
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.physical_resource_id, "app", "the old id stands");
    assert!(out.reason.ends_with("the new repository app-v2 was removed again"), "{}", out.reason);
    assert!(registry.repository("app-v2").is_none());
}

#[tokio::test]
async fn an_update_of_a_vanished_repository_creates_it_again() {
    let registry = InMemoryRegistry::new();
    let out = update(&registry, props("app"), props("app")).await;
    assert_eq!(out.status, Status::Success, "{}", out.reason);
    assert!(out.reason.starts_with("created app"), "{}", out.reason);
}

#[tokio::test]
async fn an_update_after_a_failed_create_is_a_create() {
    let registry = InMemoryRegistry::new();
    let marker = failed_create_id("req-0");
    let out = run(&registry, &request("Update", Some(&marker), props("app"), Some(props("app")))).await;
    assert_eq!(out.physical_resource_id, "app");
    assert!(registry.repository("app").is_some());
}

#[tokio::test]
async fn bad_properties_on_update_keep_the_old_id_and_change_nothing() {
    let registry = created(props("app")).await;
    let reason = refused_update(&registry, props_with("app", &[("DeletionMode", json!("Sometimes"))])).await;
    assert!(reason.contains("DeletionMode") && reason.ends_with("nothing was changed"), "{reason}");
    assert!(registry.calls().is_empty(), "refused before any call");
}

// ---- Delete ----

async fn delete(registry: &InMemoryRegistry, id: &str, properties: Value) -> Outcome {
    run(registry, &request("Delete", Some(id), properties, None)).await
}

/// GIVEN repository `app`, created by this resource, holding `images` images.
fn owned(images: usize) -> InMemoryRegistry {
    let registry = InMemoryRegistry::new();
    registry.with_repository("app", ecr_defaults(), &ours(false));
    for k in 0..images {
        registry.with_image("app", image(&format!("sha256:{k}"), &[&format!("v{k}")], 1));
    }
    registry
}

fn with_mode(mode: &str) -> Value {
    props_with("app", &[("DeletionMode", json!(mode))])
}

#[tokio::test]
async fn delete_removes_an_empty_owned_repository() {
    let registry = owned(0);
    let out = delete(&registry, "app", props("app")).await;
    assert_eq!(out.reason, "deleted app (it held no images)");
    assert!(registry.repository("app").is_none());
}

#[tokio::test]
async fn delete_keeps_a_repository_holding_images_by_default() {
    let registry = owned(1);
    let out = delete(&registry, "app", props("app")).await;
    assert_eq!(out.status, Status::Success);
    assert!(out.reason.starts_with("kept app: it holds images"), "{}", out.reason);
    assert_eq!(registry.images("app").len(), 1);
}

#[tokio::test]
async fn an_image_arriving_between_the_check_and_the_delete_is_kept() {
    let registry = owned(0);
    registry.failing("DeleteRepository", Some("app"), RegistryError::RepositoryNotEmpty("app".into()), None);
    let out = delete(&registry, "app", props("app")).await;
    assert_eq!(out.status, Status::Success);
    assert!(out.reason.starts_with("kept app: it holds images"), "{}", out.reason);
}

#[tokio::test]
async fn force_deletes_with_images_and_retain_keeps_and_releases() {
    let registry = owned(1);
    let kept = delete(&registry, "app", with_mode("Retain")).await;
    assert_eq!(
        kept.reason,
        "kept app: DeletionMode is Retain; it is released (no stack owns it now, and another may adopt it)"
    );
    assert_eq!(Ownership::from_tags(&registry.tags("app")), None, "released");
    assert_eq!(registry.images("app").len(), 1);
    let registry = owned(1);
    let out = delete(&registry, "app", with_mode("Force")).await;
    assert_eq!(out.reason, "deleted app with its images (DeletionMode Force)");
    assert!(registry.repository("app").is_none());
}

#[tokio::test]
async fn an_adopted_repository_is_deleted_only_by_force() {
    let registry = InMemoryRegistry::new();
    registry.with_repository("app", ecr_defaults(), &ours(true));
    let out = delete(&registry, "app", props("app")).await;
    assert!(out.reason.contains("only DeletionMode Force deletes an adopted repository"), "{}", out.reason);
    assert!(registry.repository("app").is_some());
}

#[tokio::test]
async fn delete_never_touches_a_repository_it_does_not_own() {
    let registry = InMemoryRegistry::new();
    registry.with_repository("app", ecr_defaults(), &[]);
    let theirs = Ownership { stack_id: OTHER_STACK.into(), logical_id: "Repo".into(), adopted: false }.tags();
    registry.with_repository("web", ecr_defaults(), &theirs);
    let unowned = delete(&registry, "app", with_mode("Force")).await;
    assert_eq!(unowned.reason, "kept app: ecr-keeper did not create it (no ownership tags)");
    let other = delete(&registry, "web", with_mode("Force")).await;
    assert!(other.reason.contains("managed by Repo"), "{}", other.reason);
    assert_eq!(registry.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn delete_of_a_gone_repository_a_failed_create_or_bad_properties_succeeds_safely() {
    let registry = InMemoryRegistry::new();
    assert_eq!(delete(&registry, "app", props("app")).await.reason, "repository app is already gone");
    let marker = failed_create_id("req-0");
    assert_eq!(delete(&registry, &marker, props("app")).await.status, Status::Success);
    registry.with_repository("app", ecr_defaults(), &ours(false));
    let out = delete(&registry, "app", with_mode("Sometimes")).await;
    assert!(out.reason.starts_with("kept app: "), "{}", out.reason);
    assert!(registry.repository("app").is_some());
}

// ---- The plan, without I/O ----

fn spec(properties: Value) -> crate::repository::RepositorySpec {
    match crate::repository::parse_spec(&properties) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn the_plan_lists_each_differing_setting_in_apply_order() {
    let desired = spec(
        json!({"RepositoryName": "app", "Tags": [{"Key": "team", "Value": "web"}], "ReadPrincipals": ["111122223333"]}),
    );
    let actual =
        ActualRepository { settings: ecr_defaults(), lifecycle_policy: None, repository_policy: None, tags: vec![] };
    let plan = Plan::between(&desired, None, &actual);
    let names: Vec<String> = plan.changes.iter().map(Change::to_string).collect();
    assert_eq!(
        names,
        ["ImageTagMutability IMMUTABLE", "ScanOnPush true", "lifecycle policy", "repository policy", "1 tag(s) set"]
    );
}

#[test]
fn a_policy_equal_as_json_is_no_change() {
    let desired = spec(props("app"));
    let reformatted = serde_json::to_string_pretty(
        &serde_json::from_str::<Value>(&desired.lifecycle_policy.to_json()).unwrap_or_default(),
    )
    .unwrap_or_default();
    let actual = ActualRepository {
        settings: desired.settings.clone(),
        lifecycle_policy: Some(reformatted),
        repository_policy: None,
        tags: vec![],
    };
    assert!(Plan::between(&desired, None, &actual).is_empty());
}

#[tokio::test]
async fn preview_changes_nothing() {
    let registry = InMemoryRegistry::new();
    registry.with_repository("app", ecr_defaults(), &[]);
    let seen = preview(&registry, &spec(props("app")), None).await.unwrap_or_else(|e| panic!("{e}"));
    match seen {
        Preview::Update { plan, owner } => {
            assert_eq!(owner, None);
            assert_eq!(
                plan.summary("would update"),
                "would update app: ImageTagMutability IMMUTABLE, ScanOnPush true, lifecycle policy"
            );
        }
        other => panic!("{other:?}"),
    }
    let new = preview(&registry, &spec(props("new")), None).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&new, Preview::Create { plan } if plan.changes == vec![Change::PutLifecyclePolicy(spec(props("new")).lifecycle_policy.to_json())]),
        "{new:?}"
    );
    assert_eq!(registry.writes(), Vec::<String>::new());
}
