//! Data safety, as a property on moto: whatever sequence of Create, Update (in place, with a new
//! name, with new encryption), Delete and adoption CloudFormation sends — including its rollbacks
//! after a failure and its clean-up Deletes after a replacement — no image ever disappears,
//! unless the request was a Delete with `DeletionMode: Force` for a repository this very resource
//! owns (by its ownership tags, adopted or created). The audit's in-use pins run in the same
//! sequences, with workloads that start and stop running images and tags removed under them:
//! a pin or unpin never makes an image disappear.

use ecr_keeper_aws::HttpsTransport;
use ecr_keeper_aws::{CloudFormationStacks, EcrRegistry};
use ecr_keeper_core::audit::{audit, AuditOptions, AuditSettings, Remediation, RunInputs};
use ecr_keeper_core::custom_resource::{CustomResourceHandler, Provisioner, ResponsePolicy, Status};
use ecr_keeper_core::ports::prelude::*;
use ecr_keeper_core::ports::{RegistryError, SystemClock};
use ecr_keeper_core::repository::{
    Encryption, RepositorySettings, TagMutability, ADOPTED_TAG, OWNER_LOGICAL_ID_TAG, OWNER_STACK_TAG,
};
use ecr_keeper_core::repository::{Ownership, ResourceTag};
use ecr_keeper_core::workloads::{is_pin, pin_tag, WorkloadError, WorkloadImage, Workloads};
use ecr_keeper_tests::iam::{AsIamAllows, Refusals};
use ecr_keeper_tests::{seed, LocalAws, ResponseRecorder};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// `legacy` exists before the stacks (no owner); `foreign` belongs to a third stack that sends
/// nothing while the two acting stacks run.
const NAMES: [&str; 4] = ["alpha", "beta", "legacy", "foreign"];
/// Each acting stack (team A's, team B's) has these two resources: resource `r` is
/// `LOGICAL[r % 2]` of stack `r / 2`.
const LOGICAL: [&str; 2] = ["RepoA", "RepoB"];
const RESOURCES: usize = 4;
const MODES: [Option<&str>; 4] = [None, Some("Retain"), Some("RetainIfNotEmpty"), Some("Force")];

#[derive(Debug, Clone)]
enum Step {
    Create {
        logical: usize,
        name: usize,
        mode: usize,
        adopt: bool,
        kms: bool,
    },
    UpdateInPlace {
        logical: usize,
        mode: usize,
        keep: u8,
    },
    Rename {
        logical: usize,
        name: usize,
    },
    ChangeEncryption {
        logical: usize,
        rename: bool,
    },
    Delete {
        logical: usize,
    },
    Push {
        name: usize,
    },
    /// The audit pins what runs (bit k: the k-th image by digest runs) and unpins the rest.
    Pin {
        name: usize,
        running: u8,
    },
    /// Someone removes one tag of an image that has two or more (so the removal alone deletes
    /// nothing): a pin may be left as an image's only tag.
    /// Everything runs and is pinned, the team's own tags are removed, then nothing runs: every
    /// pin is left as its image's only tag when the unpin comes.
    Abandon {
        name: usize,
    },
    Untag {
        name: usize,
        image: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..RESOURCES, 0..4usize, 0..4usize, any::<bool>(), any::<bool>())
            .prop_map(|(logical, name, mode, adopt, kms)| Step::Create { logical, name, mode, adopt, kms }),
        (0..RESOURCES, 0..4usize, 1..5u8).prop_map(|(logical, mode, keep)| Step::UpdateInPlace { logical, mode, keep }),
        (0..RESOURCES, 0..4usize).prop_map(|(logical, name)| Step::Rename { logical, name }),
        (0..RESOURCES, any::<bool>()).prop_map(|(logical, rename)| Step::ChangeEncryption { logical, rename }),
        (0..RESOURCES).prop_map(|logical| Step::Delete { logical }),
        (0..4usize).prop_map(|name| Step::Push { name }),
        // Mostly on `legacy` and `foreign`, which always hold images.
        (prop_oneof![0..4usize, 2..4usize], any::<u8>()).prop_map(|(name, running)| Step::Pin { name, running }),
        (prop_oneof![0..4usize, 2..4usize], any::<u8>()).prop_map(|(name, image)| Step::Untag { name, image }),
        prop_oneof![0..4usize, 2..4usize].prop_map(|name| Step::Abandon { name }),
    ]
}

type Images = BTreeMap<String, BTreeSet<String>>;

struct World {
    aws: LocalAws,
    ecr: aws_sdk_ecr::Client,
    recorder: ResponseRecorder,
    /// The provisioner talks to moto through what the template's IAM policy allows.
    handler: CustomResourceHandler<AsIamAllows<EcrRegistry>, SystemClock, CloudFormationStacks, HttpsTransport>,
    refused: Refusals,
    /// What CloudFormation believes: resource → (physical id, properties).
    stack: BTreeMap<usize, (String, Value)>,
    /// The acting stacks' ids in moto (team A's, team B's), and the foreign one's.
    stacks: [String; 2],
    foreign_stack: String,
    /// A replacement's clean-up Delete is under way (CloudFormation's state set by `update`).
    cleaning_up: bool,
    requests: usize,
    pushes: usize,
}

impl World {
    async fn new() -> World {
        let aws = LocalAws::start();
        let ecr = aws.ecr().await;
        let recorder = ResponseRecorder::start(&[]).await;
        let iam = AsIamAllows::new(EcrRegistry::new(ecr.clone()), true);
        let refused = iam.refused.clone();
        let handler = CustomResourceHandler::new(
            Provisioner::new(iam, SystemClock, CloudFormationStacks::new(aws.cloudformation().await)),
            HttpsTransport::new().unwrap_or_else(|e| panic!("{e}")),
            ResponsePolicy { first_backoff: Duration::from_millis(10), ..ResponsePolicy::default() },
        );
        let (stacks, foreign_stack) = (Default::default(), String::new());
        World {
            aws,
            ecr,
            recorder,
            handler,
            refused,
            stack: BTreeMap::new(),
            stacks,
            foreign_stack,
            cleaning_up: false,
            requests: 0,
            pushes: 0,
        }
    }

    /// The stack and logical id of resource `r`.
    fn resource(&self, r: usize) -> (&str, &str) {
        (&self.stacks[r / 2], LOGICAL[r % 2])
    }

    async fn reset(&mut self) {
        self.aws.reset();
        self.stack.clear();
        self.stacks = [self.aws.stack_with("team-a", &LOGICAL).await, self.aws.stack_with("team-b", &LOGICAL).await];
        self.foreign_stack = self.aws.stack_with("other", &["Other"]).await;
        let complete = "CREATE_COMPLETE";
        self.aws.stack_state(&self.foreign_stack, "Other", complete, complete, Some("foreign"));
        self.ecr.create_repository().repository_name("legacy").send().await.unwrap_or_else(|e| panic!("{e}"));
        let foreign = Ownership { stack_id: self.foreign_stack.clone(), logical_id: "Other".into(), adopted: false };
        let mut create = self.ecr.create_repository().repository_name("foreign");
        for t in foreign.tags() {
            create = create.tags(
                aws_sdk_ecr::types::Tag::builder().key(t.key).value(t.value).build().unwrap_or_else(|e| panic!("{e}")),
            );
        }
        create.send().await.unwrap_or_else(|e| panic!("{e}"));
        self.push("legacy").await;
        self.push("foreign").await;
    }

    async fn push(&mut self, name: &str) {
        self.pushes += 1;
        let tag = format!("v1.{}", self.pushes);
        let exists = self.ecr.describe_repositories().repository_names(name).send().await.is_ok();
        if exists {
            seed::push_unique(&self.ecr, name, Some(&tag), &format!("image-{}", self.pushes)).await;
        }
    }

    /// Every repository's repository policy.
    async fn policies(&self) -> BTreeMap<String, Option<String>> {
        let mut policies = BTreeMap::new();
        let repos = self.ecr.describe_repositories().send().await.unwrap_or_else(|e| panic!("{e}"));
        for name in repos.repositories().iter().filter_map(|r| r.repository_name()) {
            let text = self.ecr.get_repository_policy().repository_name(name).send().await.ok();
            policies.insert(name.to_string(), text.and_then(|t| t.policy_text().map(str::to_owned)));
        }
        policies
    }

    /// Every repository's images, and who owns each repository.
    async fn snapshot(&self) -> (Images, BTreeMap<String, Option<Ownership>>) {
        let (mut images, mut owners) = (Images::new(), BTreeMap::new());
        let repos = self.ecr.describe_repositories().send().await.unwrap_or_else(|e| panic!("{e}"));
        for repo in repos.repositories() {
            let (Some(name), Some(arn)) = (repo.repository_name(), repo.repository_arn()) else { continue };
            let listed = self.ecr.list_images().repository_name(name).send().await.unwrap_or_else(|e| panic!("{e}"));
            images.insert(
                name.to_string(),
                listed.image_ids().iter().filter_map(|i| i.image_digest().map(str::to_owned)).collect(),
            );
            let tags =
                self.ecr.list_tags_for_resource().resource_arn(arn).send().await.unwrap_or_else(|e| panic!("{e}"));
            let tags: Vec<ResourceTag> =
                tags.tags().iter().map(|t| ResourceTag { key: t.key().into(), value: t.value().into() }).collect();
            owners.insert(name.to_string(), Ownership::from_tags(&tags));
        }
        (images, owners)
    }

    /// Sends one request and checks the property around it; answers (status, physical id).
    async fn send(
        &mut self,
        kind: &str,
        logical: usize,
        physical: Option<&str>,
        props: &Value,
        old: Option<&Value>,
    ) -> (String, String) {
        self.requests += 1;
        let (stack_id, logical_id) = self.resource(logical);
        let (stack_id, logical_id) = (stack_id.to_string(), logical_id.to_string());
        let mut event = json!({
            "RequestType": kind, "ResponseURL": self.recorder.url(), "StackId": stack_id,
            "RequestId": format!("r-{}", self.requests), "ResourceType": "Custom::EcrRepository",
            "LogicalResourceId": logical_id, "ResourceProperties": props,
        });
        if let Some(p) = physical {
            event["PhysicalResourceId"] = json!(p);
        }
        if let Some(o) = old {
            event["OldResourceProperties"] = o.clone();
        }
        let (before, owners) = self.snapshot().await;
        let policies = self.policies().await;
        // Unless the clean-up after a replacement set it already, CloudFormation holds the
        // resource in the request's *_IN_PROGRESS state while it waits.
        if !self.cleaning_up {
            self.aws.sending(&event);
        }
        let handled = self.handler.handle(event.clone(), Duration::from_secs(30)).await;
        let handled = handled.unwrap_or_else(|e| panic!("{kind} got no answer: {e}"));
        if handled.status == Status::Success && !self.cleaning_up {
            self.aws.answered(&event, &handled.physical_resource_id);
        }
        let (after, owners_after) = self.snapshot().await;
        // A repository whose owner is another live resource never changes owner, is never
        // opened up, and never goes.
        for (repository, owner) in &owners {
            let Some(o) = owner else { continue };
            if o.is(&stack_id, &logical_id) || !self.live(o) {
                continue;
            }
            let theirs = format!("{repository} (owned by {} of {})", o.logical_id, o.stack_id);
            assert_eq!(owners_after.get(repository), Some(owner), "{kind} {event} changed the owner of {theirs}");
            assert_eq!(
                self.policies().await.get(repository),
                policies.get(repository),
                "{kind} {event} changed the access to {theirs}"
            );
        }
        let force = props.get("DeletionMode").and_then(Value::as_str) == Some("Force");
        for (repository, digests) in &before {
            let kept = after.get(repository);
            let lost: Vec<&String> = digests.iter().filter(|d| !kept.is_some_and(|k| k.contains(*d))).collect();
            if lost.is_empty() {
                continue;
            }
            let owned = owners.get(repository).cloned().flatten().is_some_and(|o| o.is(&stack_id, &logical_id));
            assert!(
                kind == "Delete" && force && owned,
                "{kind} {event} lost {} image(s) of {repository} (owner {:?}); answer: {handled:?}",
                lost.len(),
                owners.get(repository)
            );
        }
        (format!("{:?}", handled.status).to_uppercase(), handled.physical_resource_id)
    }

    /// Whether CloudFormation still has the resource `o` names managing a repository: the
    /// foreign stack's always, an acting resource while the World holds it.
    fn live(&self, o: &Ownership) -> bool {
        if o.stack_id == self.foreign_stack {
            return true;
        }
        (0..RESOURCES)
            .any(|r| self.resource(r) == (o.stack_id.as_str(), o.logical_id.as_str()) && self.stack.contains_key(&r))
    }

    fn props(name: &str, mode: Option<&str>, adopt: bool, kms: bool, keep: u8) -> Value {
        let mut p = json!({"RepositoryName": name, "ImageRetentionCount": keep.to_string(), "AdoptExisting": adopt.to_string()});
        if let Some(m) = mode {
            p["DeletionMode"] = json!(m);
        }
        if kms {
            p["EncryptionType"] = json!("KMS");
        }
        p
    }

    /// CloudFormation's side of an Update: a replacement is followed by a Delete of the old id;
    /// a failure by a rollback Update to the old properties.
    async fn update(&mut self, logical: usize, new: Value) {
        let Some((physical, old)) = self.stack.get(&logical).cloned() else { return };
        let (status, id) = self.send("Update", logical, Some(&physical), &new, Some(&old)).await;
        if status == "SUCCESS" {
            if id != physical {
                self.push(&id).await;
                // The clean-up phase: the logical id already names the new repository.
                let (stack_id, logical_id) = self.resource(logical);
                let (stack_id, logical_id) = (stack_id.to_string(), logical_id.to_string());
                let cleanup = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS";
                self.aws.stack_state(&stack_id, &logical_id, "UPDATE_COMPLETE", cleanup, Some(&id));
                self.cleaning_up = true;
                self.send("Delete", logical, Some(&physical), &old, None).await;
                self.cleaning_up = false;
                self.aws.stack_state(&stack_id, &logical_id, "UPDATE_COMPLETE", "UPDATE_COMPLETE", Some(&id));
            }
            self.stack.insert(logical, (id, new));
        } else {
            let (_, back) = self.send("Update", logical, Some(&physical), &old, Some(&new)).await;
            if back != physical {
                self.send("Delete", logical, Some(&back), &new, None).await;
            }
        }
    }

    async fn apply(&mut self, step: &Step) {
        match *step {
            Step::Create { logical, name, mode, adopt, kms } => {
                if self.stack.contains_key(&logical) {
                    return;
                }
                let props = Self::props(NAMES[name], MODES[mode], adopt, kms, 3);
                let (status, id) = self.send("Create", logical, None, &props, None).await;
                if status == "SUCCESS" {
                    // Teams push as soon as the repository exists.
                    self.push(&id).await;
                    self.stack.insert(logical, (id, props));
                } else {
                    self.send("Delete", logical, Some(&id), &props, None).await;
                }
            }
            Step::UpdateInPlace { logical, mode, keep } => {
                let Some((_, old)) = self.stack.get(&logical).cloned() else { return };
                let mut new = old.clone();
                new["ImageRetentionCount"] = json!(keep.to_string());
                match MODES[mode] {
                    Some(m) => new["DeletionMode"] = json!(m),
                    None => _ = new.as_object_mut().map(|o| o.remove("DeletionMode")),
                }
                self.update(logical, new).await;
            }
            Step::Rename { logical, name } => {
                let Some((_, old)) = self.stack.get(&logical).cloned() else { return };
                let mut new = old.clone();
                new["RepositoryName"] = json!(NAMES[name]);
                self.update(logical, new).await;
            }
            Step::ChangeEncryption { logical, rename } => {
                let Some((_, old)) = self.stack.get(&logical).cloned() else { return };
                let mut new = old.clone();
                match new.get("EncryptionType") {
                    Some(_) => _ = new.as_object_mut().map(|o| o.remove("EncryptionType")),
                    None => new["EncryptionType"] = json!("KMS"),
                }
                if rename {
                    let current = old["RepositoryName"].as_str().unwrap_or_default().to_string();
                    new["RepositoryName"] = json!(format!("{current}-kms"));
                }
                self.update(logical, new).await;
            }
            Step::Delete { logical } => {
                let Some((physical, props)) = self.stack.get(&logical).cloned() else { return };
                let (status, _) = self.send("Delete", logical, Some(&physical), &props, None).await;
                if status == "SUCCESS" {
                    self.stack.remove(&logical);
                }
            }
            Step::Push { name } => self.push(NAMES[name]).await,
            Step::Pin { name, running } => self.pin(NAMES[name], running).await,
            Step::Untag { name, image } => self.untag(NAMES[name], image).await,
            Step::Abandon { name } => {
                self.pin(NAMES[name], u8::MAX).await;
                for image in 0..self.images(NAMES[name]).await.len() {
                    self.untag(NAMES[name], image as u8).await;
                }
                self.pin(NAMES[name], 0).await;
            }
        }
    }

    /// The repository's images, by digest: (digest, tags).
    async fn images(&self, name: &str) -> Vec<(String, Vec<String>)> {
        let Ok(out) = self.ecr.describe_images().repository_name(name).send().await else { return Vec::new() };
        let mut images: Vec<(String, Vec<String>)> = out
            .image_details()
            .iter()
            .filter_map(|d| d.image_digest().map(|g| (g.to_string(), d.image_tags().to_vec())))
            .collect();
        images.sort();
        images
    }

    /// One audit with pins applied, over the repositories named `name…`, with the images the
    /// bits of `running` select as the running ones (referenced by tag where they have one).
    async fn pin(&mut self, name: &str, running: u8) {
        let images = self.images(name).await;
        let refs: Vec<(String, String)> = images
            .iter()
            .enumerate()
            .filter(|(k, _)| running & (1 << (k % 8)) != 0)
            .map(|(k, (digest, tags))| {
                let reference = match tags.iter().find(|t| !is_pin(t)) {
                    Some(tag) => format!("{name}:{tag}"),
                    None => format!("{name}@{digest}"),
                };
                (reference, format!("ecs service prod/svc-{k}"))
            })
            .collect();
        let workloads = Running(refs.iter().map(|(r, w)| WorkloadImage::new(r.as_str(), w.as_str())).collect());
        let registry = EcrRegistry::new(self.ecr.clone());
        let options = AuditOptions {
            region: "us-east-1".into(),
            repository_prefix: Some(name.to_string()),
            remediation: Remediation { pins: true, apply: true, ..Remediation::default() },
            inputs: RunInputs::read(Some(&workloads)).await,
            ..AuditOptions::default()
        };
        let (before, _) = self.snapshot().await;
        let settings = AuditSettings {
            standard: None,
            findings: Default::default(),
            require_kms: false,
            scanner_roles: Vec::new(),
        };
        let report = audit(&registry, &settings, &options, chrono::Utc::now()).await;
        let (after, _) = self.snapshot().await;
        let done = report.as_ref().map(|r| &r.remediation);
        assert_eq!(before, after, "pins changed which images exist; the audit did {done:?}");
        if let Ok(report) = report {
            // Every running image of the audited repository carries its pin afterwards.
            for (digest, tags) in self.images(name).await {
                let runs = refs.iter().any(|(r, _)| {
                    r.ends_with(&format!("@{digest}")) || tags.iter().any(|t| r == &format!("{name}:{t}"))
                });
                if runs {
                    assert!(
                        tags.contains(&pin_tag(&digest)),
                        "{digest} runs but is not pinned: {:?}",
                        report.remediation
                    );
                }
            }
        }
    }

    async fn untag(&mut self, name: &str, image: u8) {
        let images = self.images(name).await;
        if images.is_empty() {
            return;
        }
        let (_, tags) = &images[usize::from(image) % images.len()];
        if tags.len() >= 2 {
            // Prefer the team's own tag, so that a pin can end up alone.
            let tag = tags.iter().find(|t| !is_pin(t)).unwrap_or(&tags[0]);
            let id = aws_sdk_ecr::types::ImageIdentifier::builder().image_tag(tag).build();
            let removed = self.ecr.batch_delete_image().repository_name(name).image_ids(id).send().await;
            removed.unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// The workloads of one step: a fixed list.
struct Running(Vec<WorkloadImage>);

impl Workloads for Running {
    async fn images_in_use(&self) -> Result<Vec<WorkloadImage>, WorkloadError> {
        Ok(self.0.clone())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    // Each case is a real run against moto; 20 sequences of up to 14 steps, plus shrinking on
    // a failure. The seed is fixed in proptest's config file-less default: failures are saved
    // under proptest-regressions/ and replayed first.
    #![proptest_config(ProptestConfig { cases: 20, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_image_disappears_unless_a_force_delete_of_an_owned_repository(steps in prop::collection::vec(step(), 4..14)) {
        let rt = runtime();
        rt.block_on(async {
            let mut world = World::new().await;
            world.reset().await;
            for s in &steps {
                world.apply(s).await;
            }
            // The stack is deleted at the end, as CloudFormation would.
            for logical in 0..RESOURCES {
                world.apply(&Step::Delete { logical }).await;
            }
            // The product stays inside its IAM policy: nothing it asked for was refused.
            let refused = world.refused.lock().map(|r| r.clone()).unwrap_or_default();
            assert!(refused.is_empty(), "the template's policy would refuse {refused:?} after {steps:?}");
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pin_left_as_an_images_only_tag_stays_when_the_image_stops_running() {
    let mut world = World::new().await;
    world.reset().await;
    // legacy's image runs and is pinned; its own tag is removed; then it stops running.
    for step in
        [Step::Pin { name: 2, running: 1 }, Step::Untag { name: 2, image: 0 }, Step::Pin { name: 2, running: 0 }]
    {
        world.apply(&step).await;
    }
    let images = world.images("legacy").await;
    assert_eq!(images.len(), 1, "the image is still there");
    assert_eq!(images[0].1, [pin_tag(&images[0].0)], "its pin is its only tag, and stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn code_that_tried_could_not_change_a_repository_no_ecr_keeper_stack_owns() {
    // GIVEN `legacy`, created before the stack and holding an image
    let mut world = World::new().await;
    world.reset().await;
    let (before, _) = world.snapshot().await;
    let iam = AsIamAllows::new(EcrRegistry::new(world.ecr.clone()), false);
    let arn = iam.describe_repository("legacy").await.ok().flatten().map(|r| r.arn).unwrap_or_default();
    let tag = |k: &str, v: &str| ResourceTag { key: k.into(), value: v.into() };
    let claim = [tag(OWNER_STACK_TAG, &world.stacks[0]), tag(OWNER_LOGICAL_ID_TAG, "RepoA"), tag(ADOPTED_TAG, "true")];
    let settings = RepositorySettings {
        tag_mutability: TagMutability::Immutable,
        exclusion_filters: vec![],
        scan_on_push: true,
        encryption: Encryption::Aes256,
    };
    // WHEN code holding the custom resource's role tries every write on it
    let attempts = [
        ("DeleteRepository", iam.delete_repository("legacy", true).await),
        ("PutLifecyclePolicy", iam.put_lifecycle_policy("legacy", r#"{"rules":[]}"#).await),
        (
            "SetRepositoryPolicy",
            iam.set_repository_policy("legacy", r#"{"Version":"2012-10-17","Statement":[]}"#).await,
        ),
        ("DeleteRepositoryPolicy", iam.delete_repository_policy("legacy").await),
        ("PutImageTagMutability", iam.put_tag_mutability("legacy", TagMutability::Mutable, &[]).await),
        ("PutImageScanningConfiguration", iam.put_scan_on_push("legacy", false).await),
        ("UntagResource", iam.untag_repository(&arn, &["team".into()]).await),
        ("TagResource", iam.tag_repository(&arn, &[tag("team", "x")]).await),
        ("TagResource", iam.tag_repository(&arn, &claim).await),
        ("CreateRepository", iam.create_repository("unowned-new", &settings, &[]).await.map(|_| ())),
    ];
    // THEN each is refused as IAM would, and no image moved
    for (operation, outcome) in attempts {
        assert!(
            matches!(&outcome, Err(RegistryError::AccessDenied { operation: o, .. }) if *o == operation),
            "{operation}: {outcome:?}"
        );
    }
    let (after, owners) = world.snapshot().await;
    assert_eq!(before, after, "no image moved");
    assert_eq!(owners.get("legacy"), Some(&None), "legacy is still nobody's");
    assert!(!after.contains_key("unowned-new"));
}
