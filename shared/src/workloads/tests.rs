//! Running images: references resolved to this registry, what a policy puts at risk, and pins
//! that never delete an image.

use super::*;
use crate::lifecycle::{generate, parse_policy, simulate, PolicyParams};
use crate::ports::prelude::*;
use crate::repository::TagMutability;
use crate::testing::{ecr_defaults, InMemoryRegistry, ACCOUNT, REGION};
use chrono::{DateTime, Duration, TimeZone, Utc};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default()
}

fn here() -> RegistryAddress {
    RegistryAddress { account: Some(ACCOUNT.into()), region: Some(REGION.into()) }
}

fn digest(n: u32) -> String {
    format!("sha256:{n:02x}{}", "0".repeat(62))
}

fn image(n: u32, tags: &[&str], days_ago: i64) -> Image {
    Image::new(digest(n), tags, now() - Duration::days(days_ago), 1_000)
}

#[test]
fn references_resolve_to_this_registry_only() {
    let host = format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com");
    let tag = |repo: &str, t: &str| Some((repo.to_string(), Pointer::Tag(t.to_string())));
    assert_eq!(resolve_reference(&format!("{host}/team/app:v1.3"), &here()), tag("team/app", "v1.3"));
    assert_eq!(resolve_reference("team/app:v1.3", &here()), tag("team/app", "v1.3"));
    assert_eq!(resolve_reference("app", &here()), tag("app", "latest"));
    let pinned = format!("{host}/app@{}", digest(7));
    assert_eq!(resolve_reference(&pinned, &here()), Some(("app".into(), Pointer::Digest(digest(7)))));
    // Tag and digest together: the digest is what runs.
    let both = format!("app:v1@{}", digest(8));
    assert_eq!(resolve_reference(&both, &here()), Some(("app:v1".into(), Pointer::Digest(digest(8)))));
    // Other registries: Docker Hub, another account, another region, a registry with a port.
    for foreign in [
        "docker.io/library/nginx:1.27",
        "210987654321.dkr.ecr.us-east-1.amazonaws.com/app:v1",
        &format!("{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/app:v1"),
        "localhost:5000/app:v1",
        "public.ecr.aws/nginx/nginx:1",
    ] {
        assert_eq!(resolve_reference(foreign, &here()), None, "{foreign}");
    }
    let in_use = InUse::from_images(
        &[
            WorkloadImage::new("docker.io/library/nginx", "ecs service a"),
            WorkloadImage::new("app:v1", "ecs service b"),
        ],
        &here(),
    );
    assert_eq!(in_use.foreign, 1);
    assert_eq!(in_use.workloads_of("app", &image(1, &["v1", "latest"], 1)), ["ecs service b"]);
    assert!(in_use.workloads_of("app", &image(2, &["v2"], 1)).is_empty());
    assert!(in_use.workloads_of("other", &image(1, &["v1"], 1)).is_empty());
}

#[test]
fn reference_lists_read_lines_json_arrays_and_kubectl_pods() {
    let lines = parse_reference_list("# running in batch\napp:v1.3\n\n  worker@sha256:abc # nightly\n", "refs.txt");
    assert_eq!(
        lines.ok(),
        Some(vec![WorkloadImage::new("app:v1.3", "refs.txt:2"), WorkloadImage::new("worker@sha256:abc", "refs.txt:4")])
    );
    let array = parse_reference_list(r#"["app:v1", "app:v2"]"#, "refs.json").ok().unwrap_or_default();
    assert_eq!(array.len(), 2);
    assert_eq!(array[1].workload, "refs.json[1]");
    let pods = serde_json::json!({"items": [{
        "metadata": {"namespace": "shop", "name": "web-5d8f"},
        "spec": {"containers": [{"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:v4"}]},
        "status": {"containerStatuses": [{"imageID": format!("docker-pullable://123456789012.dkr.ecr.us-east-1.amazonaws.com/web@{}", digest(4))}]}
    }]});
    let pods = parse_reference_list(&pods.to_string(), "pods.json").ok().unwrap_or_default();
    let in_use = InUse::from_images(&pods, &here());
    let running = image(4, &["v4"], 1);
    assert_eq!(in_use.workloads_of("web", &running), ["pod shop/web-5d8f"]);
    // Only the digest that runs, even once the tag moved on.
    assert_eq!(in_use.workloads_of("web", &image(4, &[], 1)), ["pod shop/web-5d8f"]);
    let bad = parse_reference_list("{not json", "pods.json").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(bad.starts_with("pods.json: not JSON"), "{bad}");
}

#[test]
fn workload_sources_are_checked_and_named() {
    assert_eq!(
        WorkloadSource::parse_list("ecs, lambda,inspector,file:refs.txt,s3://b/k/refs.txt"),
        Ok(vec![
            WorkloadSource::Ecs,
            WorkloadSource::Lambda,
            WorkloadSource::Inspector,
            WorkloadSource::File("refs.txt".into()),
            WorkloadSource::S3 { bucket: "b".into(), key: "k/refs.txt".into() }
        ])
    );
    let e = WorkloadSource::parse_list("ecs,eks").err().unwrap_or_default();
    assert_eq!(e, format!("\"eks\" is not a workload source (accepted: {SOURCES_ACCEPTED})"));
    assert!(WorkloadSource::parse_list(" , ").is_err());
    assert!(WorkloadSource::parse_list("s3://bucket-only").is_err());
}

#[test]
fn an_in_use_image_a_rule_would_expire_or_archive_is_at_risk_with_its_workload() {
    // GIVEN keep the last 2 v* images, untagged after 7 days; v1.3 is old and an ECS service runs it
    let policy =
        generate(&PolicyParams { keep_tagged: 2, ..PolicyParams::default() }).unwrap_or_else(|e| panic!("{e}"));
    let images = vec![
        image(1, &["v1.3"], 30),
        image(2, &["v1.8"], 3),
        image(3, &["v1.9"], 2),
        image(4, &[], 2), // untagged, run by digest by a batch job
        image(5, &["v1.7"], 20),
    ];
    let uses = [
        WorkloadImage::new("app:v1.3", "ecs service prod/web"),
        WorkloadImage::new(format!("app@{}", digest(4)), "file refs.txt:1"),
        WorkloadImage::new("app:v1.9", "lambda function thumbnails"),
    ];
    let in_use = InUse::from_images(&uses, &here());
    let plan = simulate(&policy, &images, now());
    // WHEN the plan is checked against the running images
    let risks = at_risk(&plan, &in_use.for_images("app", &images));
    // THEN v1.3 is expired now, the untagged one in 5 days; v1.9 is kept, v1.7 is not running
    assert_eq!(risks.len(), 2, "{risks:?}");
    assert_eq!(
        (risks[0].image_tags.as_slice(), risks[0].action.as_str(), risks[0].now),
        (&["v1.3".to_string()][..], "expire", true)
    );
    assert_eq!(risks[0].workloads, ["ecs service prod/web"]);
    assert_eq!(risks[0].rule_priority, 1);
    assert_eq!(risks[1].image_digest, digest(4));
    assert!(!risks[1].now);
    assert_eq!(risks[1].eligible_since.as_deref(), Some("2026-11-06T00:00:00Z"));
    assert_eq!(risks[1].workloads, ["file refs.txt:1"]);

    // An archive rule puts a running, rarely pulled image at risk too (archived images cannot be pulled).
    let archive = generate(&PolicyParams {
        keep_tagged: 1,
        tag_prefixes: vec!["release-".into()],
        archive_after_days: Some(14),
        ..PolicyParams::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let images = vec![image(6, &["v1.3"], 30)];
    let plan = simulate(&archive, &images, now());
    let risks = at_risk(&plan, &in_use.for_images("app", &images));
    assert_eq!(risks.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(), ["transition"]);
}

#[test]
fn a_message_names_three_workloads_and_counts_the_rest() {
    let risk = |n: usize| AtRisk {
        image_digest: digest(1),
        image_tags: vec![],
        action: "expire".into(),
        rule_priority: 1,
        workloads: (0..n).map(|k| format!("ecs task prod/{k}")).collect(),
        eligible_since: None,
        now: true,
    };
    assert_eq!(risk(2).run_by(), "ecs task prod/0, ecs task prod/1");
    assert_eq!(risk(100).run_by(), "ecs task prod/0, ecs task prod/1, ecs task prod/2 and 97 more");
    assert_eq!(risk(1).image(), "sha256:010000000000");
}

#[test]
fn the_pin_rule_spares_a_pinned_image_from_every_other_rule() {
    let params = PolicyParams { keep_tagged: 1, protect_in_use: true, ..PolicyParams::default() };
    let policy = generate(&params).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy.rules[0].selection.tag_prefix_list.as_deref(), Some(&[PIN_TAG_PREFIX.to_string()][..]));
    let old = image(1, &["v1.3"], 30);
    let pinned = Image { tags: vec!["v1.3".into(), pin_tag(&old.digest)], ..old.clone() };
    let newer = image(2, &["v1.9"], 1);
    let before = simulate(&policy, std::slice::from_ref(&old), now());
    assert_eq!(before.decisions[0].fate, Fate::Keep, "alone it is the newest v*");
    let without = [old.clone(), newer.clone()];
    assert_eq!(simulate(&policy, &without, now()).decisions[0].fate, Fate::Expire);
    let with = [pinned, newer];
    let plan = simulate(&policy, &with, now());
    assert_eq!((plan.decisions[0].fate, plan.decisions[0].rule), (Fate::Keep, Some(0)));
    assert_eq!(pin_tag(&old.digest), format!("keeper-in-use-{}", &old.digest[7..19]));
}

fn repository_with(registry: &InMemoryRegistry, name: &str, images: &[Image]) {
    registry.with_repository(name, ecr_defaults(), &[]);
    for i in images {
        registry.with_image(name, i.clone()).with_manifest(
            name,
            &i.digest,
            Some("application/vnd.oci.image.manifest.v1+json"),
            &format!("{{\"schemaVersion\":2,\"digest\":\"{}\"}}", i.digest),
        );
    }
}

#[tokio::test]
async fn pins_are_added_with_the_images_own_manifest_and_removed_only_when_another_tag_stays() {
    // GIVEN v1.3 running, v1.2 pinned but no longer running (it has another tag), and an
    // untagged image whose only tag is an old pin
    let registry = InMemoryRegistry::new();
    let v13 = image(1, &["v1.3"], 30);
    let v12 = image(2, &["v1.2", &pin_tag(&digest(2))], 40);
    let lone = image(3, &[&pin_tag(&digest(3))], 50);
    repository_with(&registry, "app", &[v13.clone(), v12.clone(), lone.clone()]);
    let running = vec![vec!["ecs service prod/web".to_string()], vec![], vec![]];
    let images = registry.images("app");
    let plan = plan_pins(&images, &running);
    assert_eq!(plan.pin, [(digest(1), pin_tag(&digest(1)))]);
    assert_eq!(plan.unpin, [(digest(2), pin_tag(&digest(2)))]);
    assert_eq!(plan.stays.len(), 1);

    // WHEN a dry run, THEN nothing is written
    let dry = apply_pins(&registry, "app", &plan, false).await;
    assert_eq!(dry.iter().filter(|o| o.applied).count(), 0);
    assert!(registry.writes().is_empty(), "{:?}", registry.writes());

    // WHEN applied
    let done = apply_pins(&registry, "app", &plan, true).await;
    let applied: Vec<(&str, bool)> = done.iter().map(|o| (o.action, o.applied)).collect();
    assert_eq!(applied, [("pin-in-use", true), ("unpin", true), ("keep-pin", false)], "{done:?}");
    // THEN the same three images remain, same digests; v1.3 pinned, v1.2 unpinned, the lone pin kept
    let after = registry.images("app");
    let digests: Vec<&str> = after.iter().map(|i| i.digest.as_str()).collect();
    assert_eq!(digests, [digest(1), digest(2), digest(3)]);
    assert_eq!(after[0].tags, ["v1.3".to_string(), pin_tag(&digest(1))]);
    assert_eq!(after[1].tags, ["v1.2"]);
    assert_eq!(after[2].tags, [pin_tag(&digest(3))]);
    assert!(done[2].detail.contains("only tag"), "{}", done[2].detail);
    // And a second run has nothing to do for v1.3.
    assert!(plan_pins(&after, &running).pin.is_empty());
}

#[tokio::test]
async fn an_immutable_repository_accepts_a_new_pin_tag() {
    let registry = InMemoryRegistry::new();
    let mut settings = ecr_defaults();
    settings.tag_mutability = TagMutability::Immutable;
    registry.with_repository("locked", settings, &[]);
    let v1 = image(1, &["v1"], 3);
    registry.with_image("locked", v1.clone()).with_manifest("locked", &v1.digest, None, "{}");
    let plan = plan_pins(&registry.images("locked"), &[vec!["lambda function f".into()]]);
    let done = apply_pins(&registry, "locked", &plan, true).await;
    assert!(done[0].applied, "{:?}", done);
    assert_eq!(registry.images("locked")[0].tags, ["v1".to_string(), pin_tag(&v1.digest)]);
}

#[tokio::test]
async fn an_unpin_is_skipped_when_the_other_tag_went_away_meanwhile() {
    let registry = InMemoryRegistry::new();
    let pinned = image(2, &["v1.2", &pin_tag(&digest(2))], 40);
    repository_with(&registry, "app", std::slice::from_ref(&pinned));
    let plan = plan_pins(&registry.images("app"), &[vec![]]);
    assert_eq!(plan.unpin.len(), 1);
    // Someone removes v1.2 between the read and the unpin.
    registry.remove_image_tag("app", "v1.2").await.unwrap_or_else(|e| panic!("{e}"));
    let done = apply_pins(&registry, "app", &plan, true).await;
    assert_eq!((done[0].action, done[0].applied), ("keep-pin", false));
    assert_eq!(registry.images("app").len(), 1, "the image must survive");
}

#[test]
fn a_pin_tag_that_already_names_another_image_is_not_moved() {
    let a = format!("sha256:abcdefabcdef{}", "1".repeat(52));
    let b = format!("sha256:abcdefabcdef{}", "2".repeat(52));
    let images = [Image::new(&a, &["v1"], now(), 1), Image::new(&b, &["v2", &pin_tag(&a)], now(), 1)];
    let plan = plan_pins(&images, &[vec!["ecs service a".into()], vec!["ecs service b".into()]]);
    assert!(plan.pin.is_empty(), "{plan:?}");
    assert!(plan.cannot_pin[0].1.contains("already names another image"), "{plan:?}");
}

#[test]
fn an_archived_running_image_cannot_be_pinned_and_says_why() {
    let mut archived = image(1, &["v1"], 200);
    archived.status = ImageStatus::Archived;
    let plan = plan_pins(&[archived], &[vec!["ecs service a".into()]]);
    assert!(plan.pin.is_empty());
    assert!(plan.cannot_pin[0].1.starts_with("archived"), "{:?}", plan.cannot_pin);
}

#[test]
fn a_policy_text_without_the_pin_rule_is_refused_with_protect_in_use() {
    let props = serde_json::json!({
        "RepositoryName": "app",
        "ProtectInUse": "true",
        "LifecyclePolicyText": generate(&PolicyParams::default()).map(|p| p.to_json()).unwrap_or_default(),
    });
    let e = crate::repository::parse_spec(&props).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        e.contains("ProtectInUse: LifecyclePolicyText has no first rule for tagPrefixList [\"keeper-in-use-\"]"),
        "{e}"
    );
    let generated = serde_json::json!({"RepositoryName": "app", "ProtectInUse": "true", "ArchiveAfterDaysWithoutPull": "30", "ExpireArchivedAfterDays": "180"});
    let spec = crate::repository::parse_spec(&generated).unwrap_or_else(|e| panic!("{e}"));
    let text = spec.lifecycle_policy.to_json();
    assert!(parse_policy(&text).is_ok());
    let first = &spec.lifecycle_policy.rules_by_priority()[0].selection;
    assert_eq!(first.tag_prefix_list.as_deref(), Some(&[PIN_TAG_PREFIX.to_string()][..]));
    let short = serde_json::json!({"RepositoryName": "app", "ExpireArchivedAfterDays": "30"});
    let e = crate::repository::parse_spec(&short).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("ExpireArchivedAfterDays: expire-archived-after-days: must be at least 90, not 30"), "{e}");
}

#[test]
fn an_inspector_coverage_entry_names_its_image_by_digest() {
    let hex = "a".repeat(64);
    assert_eq!(
        inspector_image_reference(&format!("arn:aws:ecr:eu-west-1:123456789012:repository/team/app/sha256:{hex}")),
        Some(format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app@sha256:{hex}"))
    );
    assert_eq!(
        inspector_image_reference(&format!("arn:aws-cn:ecr:cn-north-1:123456789012:repository/app/sha256:{hex}")),
        Some(format!("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app@sha256:{hex}"))
    );
    for other in [
        "arn:aws:ecr:eu-west-1:123456789012:repository/team/app".to_string(),
        format!("arn:aws:ecr:eu-west-1:123456789012:repository/sha256:{hex}"),
        format!("arn:aws:lambda:eu-west-1:123456789012:function:f/sha256:{hex}"),
        "i-0123456789abcdef0".to_string(),
        format!("arn:aws:ecr:eu-west-1:123456789012:repository/app/sha256:{}", "z".repeat(64)),
    ] {
        assert_eq!(inspector_image_reference(&other), None, "{other}");
    }
    let at = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).single();
    assert_eq!(inspector_workload(3, at), "inspector: 3 ECS tasks or EKS pods, last seen 2026-12-06T10:00:00Z");
    assert_eq!(inspector_workload(1, None), "inspector: 1 ECS task or EKS pod");
}
