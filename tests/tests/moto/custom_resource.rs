//! `Custom::EcrRepository` on moto, through the real SDK adapter and the real HTTP transport;
//! CloudFormation's ResponseURL is a loopback recorder.

use aws_sdk_ecr::Client;
use ecr_keeper_aws::HttpsTransport;
use ecr_keeper_aws::{CloudFormationStacks, EcrRegistry};
use ecr_keeper_core::custom_resource::{
    CustomResourceHandler, Provisioner, ResponsePolicy, Status, MAX_RESPONSE_BYTES,
};
use ecr_keeper_core::ports::SystemClock;
use ecr_keeper_tests::{seed, LocalAws, ResponseRecorder};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// For the test with no AWS at all (the watchdog's black hole).
const STACK: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/app/11111111-2222-3333-4444-555555555555";
const LOGICAL: &str = "AppRepository";
static REQUESTS: AtomicUsize = AtomicUsize::new(0);

type Handler = CustomResourceHandler<EcrRegistry, SystemClock, CloudFormationStacks, HttpsTransport>;

/// moto with two stacks, `app` and `other`, each holding a `Custom::EcrRepository` named
/// LOGICAL: every request is confirmed with moto's CloudFormation, as with AWS's.
struct Fixture {
    _aws: LocalAws,
    ecr: Client,
    recorder: ResponseRecorder,
    handler: Handler,
    stack: String,
    other_stack: String,
}

impl Fixture {
    async fn new() -> Fixture {
        Self::with_script(&[]).await
    }

    async fn with_script(statuses: &[u16]) -> Fixture {
        let aws = LocalAws::start();
        let ecr = aws.ecr().await;
        let recorder = ResponseRecorder::start(statuses).await;
        let transport = HttpsTransport::new().unwrap_or_else(|e| panic!("{e}"));
        let stacks = CloudFormationStacks::new(aws.cloudformation().await);
        let handler = CustomResourceHandler::new(
            Provisioner::new(EcrRegistry::new(ecr.clone()), SystemClock, stacks),
            transport,
            ResponsePolicy { first_backoff: Duration::from_millis(20), ..ResponsePolicy::default() },
        );
        let stack = aws.stack_with("app", &[LOGICAL]).await;
        let other_stack = aws.stack_with("other", &[LOGICAL]).await;
        Fixture { _aws: aws, ecr, recorder, handler, stack, other_stack }
    }

    fn event(&self, kind: &str, physical: Option<&str>, props: Value, old: Option<Value>) -> Value {
        let n = REQUESTS.fetch_add(1, Ordering::SeqCst);
        let mut e = json!({
            "RequestType": kind,
            "ResponseURL": self.recorder.url(),
            "StackId": self.stack,
            "RequestId": format!("request-{n}"),
            "ResourceType": "Custom::EcrRepository",
            "LogicalResourceId": LOGICAL,
            "ResourceProperties": with_token(props),
        });
        if let Some(p) = physical {
            e["PhysicalResourceId"] = json!(p);
        }
        if let Some(o) = old {
            e["OldResourceProperties"] = with_token(o);
        }
        e
    }

    /// Sends the event as CloudFormation would (its resource in the matching `*_IN_PROGRESS`
    /// state, then complete under the answered id); returns the one response it received.
    async fn send(&self, event: Value) -> Value {
        let before = self.recorder.requests().len();
        self._aws.sending(&event);
        let handled = self.handler.handle(event.clone(), Duration::from_secs(60)).await;
        assert!(handled.is_ok(), "{handled:?}");
        let requests = self.recorder.requests();
        assert_eq!(requests.len(), before + 1, "exactly one response per request");
        let last = &requests[before];
        assert_eq!(last.method, "PUT");
        assert_eq!(last.header("content-type"), Some(""), "S3 pre-signed URLs need an empty Content-Type");
        assert_eq!(last.header("content-length").and_then(|l| l.parse().ok()), Some(last.body.len()));
        assert!(last.body.len() <= MAX_RESPONSE_BYTES);
        let body = last.json();
        assert!(!body["PhysicalResourceId"].as_str().unwrap_or_default().is_empty());
        assert_eq!(body["StackId"], event["StackId"]);
        assert_eq!(body["LogicalResourceId"], LOGICAL);
        if body["Status"] == "SUCCESS" {
            self._aws.answered(&event, body["PhysicalResourceId"].as_str().unwrap_or_default());
        }
        body
    }

    async fn create(&self, props: Value) -> Value {
        self.send(self.event("Create", None, props, None)).await
    }

    async fn update(&self, physical: &str, props: Value, old: Value) -> Value {
        self.send(self.event("Update", Some(physical), props, Some(old))).await
    }

    async fn delete(&self, physical: &str, props: Value) -> Value {
        self.send(self.event("Delete", Some(physical), props, None)).await
    }

    async fn repository(&self, name: &str) -> Option<aws_sdk_ecr::types::Repository> {
        match self.ecr.describe_repositories().repository_names(name).send().await {
            Ok(out) => out.repositories().first().cloned(),
            Err(_) => None,
        }
    }

    async fn repository_names(&self) -> Vec<String> {
        let out = self.ecr.describe_repositories().send().await.unwrap_or_else(|e| panic!("{e}"));
        out.repositories().iter().filter_map(|r| r.repository_name().map(str::to_owned)).collect()
    }

    async fn tags(&self, name: &str) -> Vec<(String, String)> {
        let arn = format!("arn:aws:ecr:us-east-1:123456789012:repository/{name}");
        let out = self.ecr.list_tags_for_resource().resource_arn(arn).send().await.unwrap_or_else(|e| panic!("{e}"));
        let mut tags: Vec<(String, String)> =
            out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        tags.sort();
        tags
    }

    async fn lifecycle_policy(&self, name: &str) -> Option<Value> {
        let out = self.ecr.get_lifecycle_policy().repository_name(name).send().await.ok()?;
        out.lifecycle_policy_text().and_then(|t| serde_json::from_str(t).ok())
    }

    async fn repository_policy(&self, name: &str) -> Option<Value> {
        let out = self.ecr.get_repository_policy().repository_name(name).send().await.ok()?;
        out.policy_text().and_then(|t| serde_json::from_str(t).ok())
    }

    async fn image_count(&self, name: &str) -> usize {
        let out = self.ecr.list_images().repository_name(name).send().await.unwrap_or_else(|e| panic!("{e}"));
        out.image_ids().len()
    }
}

fn with_token(mut props: Value) -> Value {
    props["ServiceToken"] = json!("arn:aws:lambda:us-east-1:123456789012:function:repository-resource");
    props
}

fn reason(body: &Value) -> &str {
    body["Reason"].as_str().unwrap_or_default()
}

fn keep_counts(policy: &Value) -> Vec<(String, u64)> {
    policy["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["selection"]["tagStatus"].as_str().unwrap_or_default().to_string(),
                r["selection"]["countNumber"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_with_defaults_gives_the_seed_repository() {
    let f = Fixture::new().await;
    let body = f.create(json!({"RepositoryName": "app-template-dev"})).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], "app-template-dev");
    assert_eq!(body["Data"]["RepositoryName"], "app-template-dev");
    assert_eq!(body["Data"]["RegistryId"], "123456789012");
    assert_eq!(body["Data"]["RepositoryArn"], "arn:aws:ecr:us-east-1:123456789012:repository/app-template-dev");
    assert_eq!(body["Data"]["RepositoryUrl"], "123456789012.dkr.ecr.us-east-1.amazonaws.com/app-template-dev");

    let repo = f.repository("app-template-dev").await.unwrap_or_else(|| panic!("repository missing"));
    assert_eq!(repo.image_tag_mutability().map(|m| m.as_str()), Some("IMMUTABLE"));
    assert_eq!(repo.image_scanning_configuration().map(|s| s.scan_on_push()), Some(true));
    assert_eq!(repo.encryption_configuration().map(|e| e.encryption_type().as_str()), Some("AES256"));
    let policy = f.lifecycle_policy("app-template-dev").await.unwrap_or_default();
    assert_eq!(keep_counts(&policy), [("tagged".to_string(), 10), ("untagged".to_string(), 7)]);
    assert_eq!(policy["rules"][0]["selection"]["tagPrefixList"], json!(["v"]));
    assert_eq!(
        f.tags("app-template-dev").await,
        [
            ("ecr-keeper:logical-id".to_string(), LOGICAL.to_string()),
            ("ecr-keeper:stack-id".to_string(), f.stack.clone())
        ]
    );
    assert_eq!(f.repository_policy("app-template-dev").await, None, "no principals, no repository policy");
}

fn every_property() -> Value {
    json!({
        "RepositoryName": "team-a/service",
        "ImageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
        "ImageTagMutabilityExclusionFilters": ["latest", "dev-*"],
        "ScanOnPush": "false",
        "EncryptionType": "KMS",
        "KmsKey": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "ImageRetentionCount": "5",
        "TagPrefixes": ["v", "release-"],
        "UntaggedRetentionDays": "3",
        "ProtectedTags": ["latest", "prod-*"],
        "ReadPrincipals": ["arn:aws:iam::111111111111:root"],
        "ReadWritePrincipals": ["arn:aws:iam::123456789012:role/ci"],
        "Tags": [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "dev"}],
        "DeletionMode": "Force",
        "AdoptExisting": "false",
        "MaxImagesExpiredByUpdate": "20"
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn create_with_every_property() {
    let f = Fixture::new().await;
    let body = f.create(every_property()).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let repo = f.repository("team-a/service").await.unwrap_or_else(|| panic!("repository missing"));
    assert_eq!(repo.image_tag_mutability().map(|m| m.as_str()), Some("IMMUTABLE_WITH_EXCLUSION"));
    let filters: Vec<&str> = repo.image_tag_mutability_exclusion_filters().iter().map(|f| f.filter()).collect();
    assert_eq!(filters, ["latest", "dev-*"]);
    assert_eq!(repo.image_scanning_configuration().map(|s| s.scan_on_push()), Some(false));
    let enc = repo.encryption_configuration().unwrap_or_else(|| panic!("no encryption"));
    assert_eq!(enc.encryption_type().as_str(), "KMS");
    assert_eq!(enc.kms_key(), Some("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"));

    let policy = f.lifecycle_policy("team-a/service").await.unwrap_or_default();
    let rules = policy["rules"].as_array().cloned().unwrap_or_default();
    let filters: Vec<Value> = rules
        .iter()
        .map(|r| {
            if r["selection"]["tagPatternList"].is_null() {
                r["selection"]["tagPrefixList"].clone()
            } else {
                r["selection"]["tagPatternList"].clone()
            }
        })
        .collect();
    assert_eq!(filters, [json!(["latest"]), json!(["prod-*"]), json!(["v"]), json!(["release-"]), json!(null)]);
    assert_eq!(rules[2]["selection"]["countNumber"], 5);
    assert_eq!(rules[4]["selection"]["countNumber"], 3);

    let repo_policy = f.repository_policy("team-a/service").await.unwrap_or_default();
    assert_eq!(repo_policy["Statement"][0]["Principal"]["AWS"], json!(["arn:aws:iam::111111111111:root"]));
    assert_eq!(repo_policy["Statement"][0]["Action"].as_array().map(Vec::len), Some(4));
    assert_eq!(repo_policy["Statement"][1]["Principal"]["AWS"], json!(["arn:aws:iam::123456789012:role/ci"]));
    assert!(repo_policy["Statement"][1]["Action"].as_array().is_some_and(|a| a.contains(&json!("ecr:PutImage"))));
    let tags = f.tags("team-a/service").await;
    assert!(tags.contains(&("team".into(), "a".into())) && tags.contains(&("env".into(), "dev".into())), "{tags:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn update_in_place_reconciles_every_setting() {
    let f = Fixture::new().await;
    let old = json!({
        "RepositoryName": "app", "ImageTagMutability": "MUTABLE", "ScanOnPush": "true",
        "ReadPrincipals": ["arn:aws:iam::111111111111:root"],
        "Tags": [{"Key": "team", "Value": "a"}, {"Key": "temporary", "Value": "yes"}]
    });
    assert_eq!(f.create(old.clone()).await["Status"], "SUCCESS");
    let new = json!({
        "RepositoryName": "app", "ImageTagMutability": "IMMUTABLE", "ScanOnPush": "false",
        "ImageRetentionCount": "25", "UntaggedRetentionDays": "2",
        "Tags": [{"Key": "team", "Value": "b"}]
    });
    let body = f.update("app", new.clone(), old.clone()).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], "app", "in place: same physical id");
    let r = reason(&body);
    for change in ["ImageTagMutability IMMUTABLE", "ScanOnPush false", "lifecycle policy", "repository policy removed"]
    {
        assert!(r.contains(change), "{change} missing from {r}");
    }
    let repo = f.repository("app").await.unwrap_or_else(|| panic!("gone"));
    assert_eq!(repo.image_tag_mutability().map(|m| m.as_str()), Some("IMMUTABLE"));
    assert_eq!(repo.image_scanning_configuration().map(|s| s.scan_on_push()), Some(false));
    let policy = f.lifecycle_policy("app").await.unwrap_or_default();
    assert_eq!(keep_counts(&policy), [("tagged".to_string(), 25), ("untagged".to_string(), 2)]);
    assert_eq!(f.repository_policy("app").await, None);
    let tags = f.tags("app").await;
    assert!(tags.contains(&("team".into(), "b".into())));
    assert!(!tags.iter().any(|(k, _)| k == "temporary"), "{tags:?}");
    assert!(tags.iter().any(|(k, _)| k == "ecr-keeper:stack-id"), "ownership survives updates");

    // The same update again changes nothing.
    let again = f.update("app", new.clone(), new).await;
    assert_eq!(reason(&again), "updated app; nothing to change");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_name_replaces_and_the_old_repository_keeps_its_images() {
    let f = Fixture::new().await;
    let old = json!({"RepositoryName": "app-v1"});
    f.create(old.clone()).await;
    seed::push_unique(&f.ecr, "app-v1", Some("v1.0"), "a").await;
    let new = json!({"RepositoryName": "app-v2"});
    let body = f.update("app-v1", new, old.clone()).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], "app-v2");
    assert_eq!(body["Data"]["RepositoryName"], "app-v2");
    // CloudFormation then deletes the old physical id, with the old properties.
    let deleted = f.delete("app-v1", old).await;
    assert_eq!(deleted["Status"], "SUCCESS");
    assert!(reason(&deleted).contains("kept app-v1: it holds images"), "{deleted}");
    assert_eq!(f.image_count("app-v1").await, 1);
    let mut names = f.repository_names().await;
    names.sort();
    assert_eq!(names, ["app-v1", "app-v2"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_honours_each_mode_with_and_without_images() {
    let f = Fixture::new().await;
    let cases = [
        ("RetainIfNotEmpty", false, false, "deleted"),
        ("RetainIfNotEmpty", true, true, "kept"),
        ("Retain", false, true, "DeletionMode is Retain"),
        ("Retain", true, true, "DeletionMode is Retain"),
        ("Force", false, false, "deleted"),
        ("Force", true, false, "with its images"),
    ];
    for (k, (mode, images, survives, says)) in cases.into_iter().enumerate() {
        let name = format!("del-{k}");
        let props = json!({"RepositoryName": name, "DeletionMode": mode});
        assert_eq!(f.create(props.clone()).await["Status"], "SUCCESS");
        if images {
            seed::push_unique(&f.ecr, &name, Some("v1"), &name).await;
            seed::push_unique(&f.ecr, &name, None, &format!("{name}-untagged")).await;
        }
        let body = f.delete(&name, props.clone()).await;
        assert_eq!(body["Status"], "SUCCESS", "{mode}/{images}: {body}");
        assert!(reason(&body).contains(says), "{mode}/{images}: {}", reason(&body));
        assert_eq!(f.repository(&name).await.is_some(), survives, "{mode}/{images}");
        if survives && images {
            assert_eq!(f.image_count(&name).await, 2, "no image lost");
        }
        // Deleting again (a Lambda retry) succeeds: the repository is gone or still kept.
        assert_eq!(f.delete(&name, props).await["Status"], "SUCCESS");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn adopting_an_existing_repository() {
    let f = Fixture::new().await;
    f.ecr.create_repository().repository_name("legacy").send().await.unwrap_or_else(|e| panic!("{e}"));
    seed::push_unique(&f.ecr, "legacy", Some("v1"), "legacy").await;

    let refused = f.create(json!({"RepositoryName": "legacy"})).await;
    assert_eq!(refused["Status"], "FAILED");
    assert!(reason(&refused).contains("already exists; set AdoptExisting"), "{refused}");
    let marker = refused["PhysicalResourceId"].as_str().unwrap_or_default().to_string();
    assert!(marker.starts_with("ecr-keeper:failed-create:"), "never the existing repository's name: {marker}");
    // CloudFormation follows a failed Create with a Delete of what it returned: nothing happens.
    assert_eq!(f.delete(&marker, json!({"RepositoryName": "legacy"})).await["Status"], "SUCCESS");
    assert_eq!(f.image_count("legacy").await, 1);

    let props = json!({"RepositoryName": "legacy", "AdoptExisting": "true", "ImageTagMutability": "MUTABLE"});
    let adopted = f.create(props.clone()).await;
    assert_eq!(adopted["Status"], "SUCCESS", "{adopted}");
    assert!(reason(&adopted).starts_with("adopted legacy"), "{adopted}");
    assert!(f.lifecycle_policy("legacy").await.is_some(), "settings reconciled on adoption");
    assert!(f.tags("legacy").await.contains(&("ecr-keeper:adopted".into(), "true".into())));

    // Deleting the resource keeps an adopted repository and releases it: no ownership tags.
    let kept = f.delete("legacy", props).await;
    assert!(reason(&kept).contains("it was adopted") && reason(&kept).contains("it is released"), "{kept}");
    assert_eq!(f.image_count("legacy").await, 1);
    assert!(!f.tags("legacy").await.iter().any(|(k, _)| k.starts_with("ecr-keeper:")), "released");
    // Adopted again with DeletionMode Force, the Delete takes it with its images.
    let force = json!({"RepositoryName": "legacy", "AdoptExisting": "true", "DeletionMode": "Force"});
    assert_eq!(f.create(force.clone()).await["Status"], "SUCCESS");
    let forced = f.delete("legacy", force).await;
    assert!(reason(&forced).contains("with its images"), "{forced}");
    assert!(f.repository("legacy").await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_owned_by_another_stack_is_never_deleted() {
    let f = Fixture::new().await;
    let props = json!({"RepositoryName": "shared", "DeletionMode": "Force"});
    let mut other = f.event("Create", None, props.clone(), None);
    other["StackId"] = json!(f.other_stack);
    assert_eq!(f.send(other).await["Status"], "SUCCESS");
    let body = f.delete("shared", props).await;
    assert_eq!(body["Status"], "SUCCESS");
    assert!(
        reason(&body)
            .contains("managed by AppRepository in stack arn:aws:cloudformation:us-east-1:123456789012:stack/other"),
        "{body}"
    );
    assert!(f.repository("shared").await.is_some());
    // And creating it here is refused, naming the owner, with or without AdoptExisting.
    let refused = f.create(json!({"RepositoryName": "shared"})).await;
    assert!(reason(&refused).contains("is managed by AppRepository in stack"), "{refused}");
    let refused = f.create(json!({"RepositoryName": "shared", "AdoptExisting": "true"})).await;
    assert!(reason(&refused).contains("a repository has one owner"), "{refused}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_properties_fail_clearly_and_create_nothing() {
    let f = Fixture::new().await;
    let cases = ecr_keeper_tests::bad_repository_properties();
    for (props, expected) in cases {
        let body = f.create(props.clone()).await;
        assert_eq!(body["Status"], "FAILED", "{props}");
        assert!(reason(&body).contains(expected), "{props}: expected {expected:?} in {:?}", reason(&body));
        assert!(body["PhysicalResourceId"].as_str().unwrap_or_default().starts_with("ecr-keeper:failed-create:"));
    }
    // Several problems are reported together.
    let body = f.create(json!({"RepositoryName": "X", "ScanOnPush": "1"})).await;
    assert!(reason(&body).contains("RepositoryName") && reason(&body).contains("ScanOnPush"), "{body}");
    assert!(f.repository_names().await.is_empty(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guardrail_refuses_an_update_that_would_expire_too_much() {
    let f = Fixture::new().await;
    let old = json!({"RepositoryName": "guarded", "ImageRetentionCount": "20", "MaxImagesExpiredByUpdate": "5"});
    f.create(old.clone()).await;
    for k in 0..12 {
        seed::push_unique(&f.ecr, "guarded", Some(&format!("v1.{k}")), &format!("g{k}")).await;
    }
    let before = f.lifecycle_policy("guarded").await;
    let harsh = json!({"RepositoryName": "guarded", "ImageRetentionCount": "3", "MaxImagesExpiredByUpdate": "5", "ScanOnPush": "false"});
    let refused = f.update("guarded", harsh, old.clone()).await;
    assert_eq!(refused["Status"], "FAILED");
    assert!(
        reason(&refused).contains("would expire 9 of the 12 images in guarded, more than MaxImagesExpiredByUpdate (5)"),
        "{refused}"
    );
    assert!(reason(&refused).contains("nothing was changed"));
    assert_eq!(refused["PhysicalResourceId"], "guarded");
    assert_eq!(f.lifecycle_policy("guarded").await, before, "policy untouched");
    let repo = f.repository("guarded").await.unwrap_or_else(|| panic!("gone"));
    assert_eq!(
        repo.image_scanning_configuration().map(|s| s.scan_on_push()),
        Some(true),
        "nothing else changed either"
    );

    let gentle = json!({"RepositoryName": "guarded", "ImageRetentionCount": "8", "MaxImagesExpiredByUpdate": "5"});
    let accepted = f.update("guarded", gentle, old).await;
    assert_eq!(accepted["Status"], "SUCCESS", "{accepted}");
    assert_eq!(keep_counts(&f.lifecycle_policy("guarded").await.unwrap_or_default())[0].1, 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn encryption_cannot_change_in_place() {
    let f = Fixture::new().await;
    let old = json!({"RepositoryName": "enc"});
    f.create(old.clone()).await;
    let body = f.update("enc", json!({"RepositoryName": "enc", "EncryptionType": "KMS"}), old).await;
    assert_eq!(body["Status"], "FAILED");
    assert!(reason(&body).contains("EncryptionType/KmsKey cannot change on repository enc"), "{body}");
    assert!(reason(&body).contains("also change RepositoryName"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_raw_lifecycle_policy_replaces_the_generated_one() {
    let f = Fixture::new().await;
    let text = r#"{"rules":[{"rulePriority":1,"description":"keep 3","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}"#;
    let body =
        f.create(json!({"RepositoryName": "raw", "LifecyclePolicyText": text, "ImageRetentionCount": "50"})).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(f.lifecycle_policy("raw").await, serde_json::from_str(text).ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_create_converges_to_the_same_answer() {
    let f = Fixture::new().await;
    let event = f.event("Create", None, json!({"RepositoryName": "retried", "ScanOnPush": "false"}), None);
    let first = f.send(event.clone()).await;
    let second = f.send(event).await;
    assert_eq!(first["Status"], "SUCCESS");
    assert_eq!(second["Status"], "SUCCESS", "{second}");
    assert_eq!(first["PhysicalResourceId"], second["PhysicalResourceId"]);
    assert_eq!(first["Data"], second["Data"]);
    assert!(reason(&second).starts_with("converged retried"), "{second}");
    assert_eq!(f.repository_names().await, ["retried"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_response_is_retried_until_cloudformation_accepts_it() {
    let f = Fixture::with_script(&[500, 503]).await;
    let handled = f
        .handler
        .handle(f.event("Create", None, json!({"RepositoryName": "flaky-url"}), None), Duration::from_secs(30))
        .await;
    let handled = handled.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(handled.attempts, 3);
    let requests = f.recorder.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.body == requests[0].body), "the same body every time");
    assert_eq!(requests[2].json()["Status"], "SUCCESS");
    assert!(requests[0].path.contains("X-Amz-Signature"), "the full pre-signed URL is used");

    // A URL that keeps failing: bounded attempts, then an error so Lambda retries the invocation.
    let always = Fixture::with_script(&[500; 20]).await;
    let err = always
        .handler
        .handle(always.event("Create", None, json!({"RepositoryName": "never"}), None), Duration::from_secs(30))
        .await;
    let text = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(text.starts_with("could not deliver the Success response to 127.0.0.1:"), "{text}");
    assert!(!text.contains("SECRETSIGNATURE"), "the URL's secret part never appears: {text}");
    assert_eq!(always.recorder.requests().len(), 5);

    // A 403 (expired URL) is final at once.
    let expired = Fixture::with_script(&[403]).await;
    let err = expired
        .handler
        .handle(expired.event("Delete", Some("gone-repo"), json!({}), None), Duration::from_secs(30))
        .await;
    assert!(err.is_err());
    assert_eq!(expired.recorder.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watchdog_answers_before_the_deadline_when_aws_hangs() {
    // An "AWS" that accepts connections and never answers.
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let port = black_hole.local_addr().map(|a| a.port()).unwrap_or_default();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = black_hole.accept().await {
            held.push(s);
        }
    });
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(aws_sdk_ecr::config::Credentials::new("t", "t", None, None, "test"))
        .load()
        .await;
    let recorder = ResponseRecorder::start(&[]).await;
    let handler = CustomResourceHandler::new(
        Provisioner::new(
            EcrRegistry::new(Client::new(&config)),
            SystemClock,
            CloudFormationStacks::new(aws_sdk_cloudformation::Client::new(&config)),
        ),
        HttpsTransport::new().unwrap_or_else(|e| panic!("{e}")),
        ResponsePolicy::default(),
    );
    let event = json!({
        "RequestType": "Create", "ResponseURL": recorder.url(), "StackId": STACK, "RequestId": "slow-1",
        "ResourceType": "Custom::EcrRepository", "LogicalResourceId": LOGICAL,
        "ResourceProperties": {"RepositoryName": "slow"}
    });
    let started = std::time::Instant::now();
    let handled = handler.handle(event, Duration::from_secs(4)).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(started.elapsed() < Duration::from_secs(4), "answered within the invocation's time");
    let body = recorder.requests()[0].json();
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["PhysicalResourceId"], "ecr-keeper:failed-create:slow-1");
    assert_eq!(handled.reason, body["Reason"].as_str().unwrap_or_default());
    assert!(
        handled.reason.starts_with(&format!("timed out after 2 s while confirming the request with stack {STACK}")),
        "{}",
        handled.reason
    );
    holder.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_still_get_one_failed_answer() {
    let f = Fixture::new().await;
    let mut event = f.event("Upsert", None, json!({"RepositoryName": "x1"}), None);
    event["RequestId"] = json!("odd-1");
    let body = f.send(event).await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["PhysicalResourceId"], "ecr-keeper:failed-create:odd-1");
    assert!(reason(&body).contains("RequestType \"Upsert\" is not one of Create, Update, Delete"), "{body}");

    // Without a ResponseURL there is nobody to answer: the invocation fails visibly instead.
    let err = f.handler.handle(json!({"RequestType": "Create"}), Duration::from_secs(5)).await;
    assert!(err.is_err());
}

fn plan_cli(aws_env: &[(&'static str, String)], args: &[&str]) -> std::process::Output {
    let bin = ecr_keeper_tests::repo_root().join("target/debug/ecr-keeper");
    std::process::Command::new(&bin)
        .args(["repository", "plan"])
        .args(args)
        .envs(aws_env.iter().cloned())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (build the CLI first: cargo build -p ecr-keeper-cli)", bin.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn repository_plan_shows_what_an_update_would_change_and_changes_nothing() {
    ecr_keeper_tests::build_cli();
    // GIVEN a repository the custom resource created with defaults
    let f = Fixture::new().await;
    assert_eq!(f.create(json!({"RepositoryName": "planned"})).await["Status"], "SUCCESS");
    let policy_before = f.lifecycle_policy("planned").await;
    let dir = std::env::temp_dir().join(format!("ecr-keeper-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let props = dir.join("props.json");
    let resource = json!({"Type": "Custom::EcrRepository", "Properties": with_token(json!({
        "RepositoryName": "planned", "ScanOnPush": "false", "ImageRetentionCount": "3",
        "Tags": [{"Key": "team", "Value": "web"}]
    }))});
    std::fs::write(&props, resource.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let env = f._aws.process_env();

    // WHEN the plan is asked for
    let out = plan_cli(&env, &["--properties", &props.to_string_lossy()]);
    // THEN it lists the three changes, and the repository is unchanged
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with(&format!("planned exists, managed by {LOGICAL} in stack {}\n", f.stack)), "{text}");
    assert!(
        text.contains("an Update changes:\n  - ScanOnPush false\n  - lifecycle policy\n  - 1 tag(s) set\n"),
        "{text}"
    );
    assert_eq!(f.lifecycle_policy("planned").await, policy_before);
    let repo = f.repository("planned").await.unwrap_or_else(|| panic!("gone"));
    assert_eq!(repo.image_scanning_configuration().map(|s| s.scan_on_push()), Some(true));

    // A name that does not exist: a Create; JSON for scripts.
    let new = dir.join("new.json");
    std::fs::write(&new, json!({"RepositoryName": "not-yet"}).to_string()).unwrap_or_else(|e| panic!("{e}"));
    let out = plan_cli(&env, &["--properties", &new.to_string_lossy(), "--output", "json"]);
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(plan["action"], "create", "{plan}");
    assert_eq!(plan["changes"], json!(["lifecycle policy"]));
    assert!(f.repository("not-yet").await.is_none());

    // Bad properties: every bad one named, with the accepted values, exit 2.
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        json!({"RepositoryName": "planned", "DeletionMode": "Sometimes", "Colour": "red"}).to_string(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = plan_cli(&env, &["--properties", &bad.to_string_lossy()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("DeletionMode") && err.contains("RetainIfNotEmpty") && err.contains("Colour: unknown property"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_stack_can_neither_take_over_nor_open_up_a_live_stacks_repository() {
    // GIVEN team A's repository with an image, created by stack `app`
    let f = Fixture::new().await;
    assert_eq!(f.create(json!({"RepositoryName": "team-a/app"})).await["Status"], "SUCCESS");
    seed::push_unique(&f.ecr, "team-a/app", Some("v1"), "team-a").await;
    let owner_tags = f.tags("team-a/app").await;
    // WHEN team B's stack, sharing the ServiceToken, declares it with AdoptExisting, an outside
    // writer and DeletionMode Force
    let theirs = json!({
        "RepositoryName": "team-a/app", "AdoptExisting": "true", "DeletionMode": "Force",
        "ReadWritePrincipals": ["arn:aws:iam::999999999999:root"],
    });
    let mut take = f.event("Create", None, theirs.clone(), None);
    take["StackId"] = json!(f.other_stack);
    let refused = f.send(take).await;
    // THEN it is refused, naming team A's stack and how to move a repository
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    assert!(reason(&refused).contains(&format!("managed by {LOGICAL} in stack {}", f.stack)), "{refused}");
    assert!(reason(&refused).contains("set DeletionMode to Retain"), "{refused}");
    // AND nothing changed: owner, access, images
    assert_eq!(f.tags("team-a/app").await, owner_tags);
    assert_eq!(f.repository_policy("team-a/app").await, None);
    assert_eq!(f.image_count("team-a/app").await, 1);
    // AND CloudFormation's rollback of B's failed Create (a Delete of what it answered, Force)
    // deletes nothing
    let marker = refused["PhysicalResourceId"].as_str().unwrap_or_default().to_string();
    let mut rollback = f.event("Delete", Some(&marker), theirs, None);
    rollback["StackId"] = json!(f.other_stack);
    assert_eq!(f.send(rollback).await["Status"], "SUCCESS");
    assert_eq!(f.image_count("team-a/app").await, 1);
    assert_eq!(f.tags("team-a/app").await, owner_tags);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_delete_naming_the_owner_changes_nothing() {
    // GIVEN team A's repository with an image; CloudFormation reports it CREATE_COMPLETE
    let f = Fixture::new().await;
    assert_eq!(f.create(json!({"RepositoryName": "team-a/app"})).await["Status"], "SUCCESS");
    seed::push_unique(&f.ecr, "team-a/app", Some("v1"), "team-a").await;
    // WHEN anyone who may invoke the function sends a Delete naming team A's stack and resource,
    // with DeletionMode Force, while CloudFormation is not deleting it
    let forged =
        f.event("Delete", Some("team-a/app"), json!({"RepositoryName": "team-a/app", "DeletionMode": "Force"}), None);
    let handled = f.handler.handle(forged.clone(), Duration::from_secs(30)).await.unwrap_or_else(|e| panic!("{e}"));
    // THEN it is answered FAILED, saying what CloudFormation reports, and the images stay
    assert_eq!(handled.status, Status::Failed);
    assert!(handled.reason.contains("is CREATE_COMPLETE (stack CREATE_COMPLETE)"), "{}", handled.reason);
    assert_eq!(f.image_count("team-a/app").await, 1);
    // A forged Update that would open the repository to another account changes nothing either.
    let wider = json!({"RepositoryName": "team-a/app", "ReadWritePrincipals": ["arn:aws:iam::999999999999:root"]});
    let update = f.event("Update", Some("team-a/app"), wider, Some(json!({"RepositoryName": "team-a/app"})));
    let handled = f.handler.handle(update, Duration::from_secs(30)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(handled.status, Status::Failed);
    assert_eq!(f.repository_policy("team-a/app").await, None);
    // And a request whose ResponseURL is not CloudFormation's is not answered at all.
    let answered = f.recorder.requests().len();
    let mut exfiltrate = forged;
    exfiltrate["ResponseURL"] = json!("https://collector.example/x?X-Amz-Signature=s");
    assert!(f.handler.handle(exfiltrate, Duration::from_secs(30)).await.is_err());
    assert_eq!(f.recorder.requests().len(), answered);
    assert_eq!(f.image_count("team-a/app").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_by_last_pull_is_applied_as_ecr_takes_it() {
    // GIVEN moto taught today's lifecycle grammar (archive storage; the harness cites the page)
    let f = Fixture::new().await;
    // WHEN a repository archives images unpulled for 30 days and expires them 90 days later
    let props =
        json!({"RepositoryName": "archived", "ArchiveAfterDaysWithoutPull": "30", "ExpireArchivedAfterDays": "90"});
    let body = f.create(props).await;
    // THEN the Create succeeds and the policy ECR holds has both rules
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let policy = f.lifecycle_policy("archived").await.unwrap_or_else(|| panic!("no policy"));
    let rules = policy["rules"].as_array().cloned().unwrap_or_default();
    let transition = rules.iter().find(|r| r["action"]["type"] == "transition").unwrap_or_else(|| panic!("{policy}"));
    assert_eq!(transition["action"]["targetStorageClass"], "archive");
    assert_eq!(transition["selection"]["countType"], "sinceImagePulled");
    assert_eq!(transition["selection"]["countNumber"], 30);
    let expiry =
        rules.iter().find(|r| r["selection"]["storageClass"] == "archive").unwrap_or_else(|| panic!("{policy}"));
    assert_eq!(
        (expiry["selection"]["countType"].as_str(), expiry["selection"]["countNumber"].as_u64()),
        (Some("sinceImageTransitioned"), Some(90))
    );
}
