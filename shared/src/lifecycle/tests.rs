//! Lifecycle engine tests: AWS's documented examples, every validation rule, generation, and
//! properties checked against a deliberately naive reference simulator.

use super::*;
use crate::image::{Image, ImageStatus};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeSet;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default()
}

fn img(name: &str, tags: &[&str], days_ago: f64) -> Image {
    let at = now() - Duration::seconds((days_ago * 86_400.0) as i64);
    Image::new(format!("sha256:{name}"), tags, at, 1_000)
}

fn expired_names(policy: &LifecyclePolicy, images: &[Image]) -> Vec<String> {
    let plan = simulate(policy, images, now());
    let mut names: Vec<String> = plan
        .decisions
        .iter()
        .zip(images)
        .filter(|(d, _)| d.fate == Fate::Expire)
        .map(|(_, i)| i.digest.trim_start_matches("sha256:").to_string())
        .collect();
    names.sort();
    names
}

fn policy(text: &str) -> LifecyclePolicy {
    match parse_policy(text) {
        Ok(p) => p,
        Err(e) => panic!("test policy should be valid: {e}"),
    }
}

/// A count rule in pattern form (`prod*`) or prefix form (`prod`).
fn count_rule(priority: u32, entries: &[&str], prefix_form: bool, n: u32) -> String {
    let list: Vec<String> =
        entries.iter().map(|e| format!("\"{}\"", if prefix_form { e.trim_end_matches('*') } else { e })).collect();
    let key = if prefix_form { "tagPrefixList" } else { "tagPatternList" };
    format!(
        r#"{{"rulePriority":{priority},"selection":{{"tagStatus":"tagged","{key}":[{}],"countType":"imageCountMoreThan","countNumber":{n}}},"action":{{"type":"expire"}}}}"#,
        list.join(",")
    )
}

fn rules(parts: &[String]) -> String {
    format!(r#"{{"rules":[{}]}}"#, parts.join(","))
}

const UNTAGGED_1_DAY: &str = r#"{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":1},"action":{"type":"expire"}}"#;
const ANY_COUNT_1: &str = r#"{"rulePriority":3,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}"#;

// ---- The six documented examples, in both the pattern and the prefix form ----------------

fn multiple_rules_images() -> Vec<Image> {
    vec![img("A", &["beta-1", "prod-1"], 10.0), img("B", &["beta-2", "prod-2"], 9.0), img("C", &["beta-3"], 8.0)]
}

#[test]
fn documented_multiple_rules_a_expires_a() {
    for prefix_form in [false, true] {
        let p = policy(&rules(&[count_rule(1, &["prod*"], prefix_form, 1), count_rule(2, &["beta*"], prefix_form, 1)]));
        assert_eq!(expired_names(&p, &multiple_rules_images()), ["A"], "prefix form: {prefix_form}");
    }
}

#[test]
fn documented_multiple_rules_b_expires_a_and_b() {
    for prefix_form in [false, true] {
        let p = policy(&rules(&[count_rule(1, &["beta*"], prefix_form, 1), count_rule(2, &["prod*"], prefix_form, 1)]));
        assert_eq!(expired_names(&p, &multiple_rules_images()), ["A", "B"], "prefix form: {prefix_form}");
    }
}

#[test]
fn documented_multiple_tags_a_expires_c() {
    let images = vec![
        img("A", &["alpha-1"], 12.0),
        img("B", &["beta-1"], 11.0),
        img("C", &["alpha-2", "beta-2"], 10.0),
        img("D", &["alpha-3"], 4.0),
        img("E", &["beta-3"], 3.0),
        img("F", &["alpha-4", "beta-4"], 2.0),
    ];
    for (key, a, b) in [("tagPatternList", "alpha*", "beta*"), ("tagPrefixList", "alpha", "beta")] {
        let text = format!(
            r#"{{"rules":[{{"rulePriority":1,"selection":{{"tagStatus":"tagged","{key}":["{a}","{b}"],"countType":"sinceImagePushed","countUnit":"days","countNumber":5}},"action":{{"type":"expire"}}}}]}}"#
        );
        assert_eq!(expired_names(&policy(&text), &images), ["C"], "{key}");
    }
}

#[test]
fn documented_multiple_tags_b_expires_a_and_b() {
    let images = vec![
        img("A", &["alpha-1", "beta-1", "gamma-1"], 10.0),
        img("B", &["alpha-2", "beta-2"], 9.0),
        img("C", &["alpha-3", "beta-3", "gamma-2"], 8.0),
    ];
    for prefix_form in [false, true] {
        let p = policy(&rules(&[count_rule(1, &["alpha*", "beta*"], prefix_form, 1)]));
        assert_eq!(expired_names(&p, &images), ["A", "B"], "prefix form: {prefix_form}");
    }
}

#[test]
fn documented_all_images_a_expires_all_but_newest() {
    let images =
        vec![img("A", &["alpha-1"], 4.0), img("B", &["beta-1"], 3.0), img("C", &[], 2.0), img("D", &["alpha-2"], 1.0)];
    let text = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
    assert_eq!(expired_names(&policy(text), &images), ["A", "B", "C"]);
}

#[test]
fn documented_all_images_b_expires_a_b_and_d() {
    let images = vec![
        img("A", &["alpha-1", "beta-1"], 4.0),
        img("B", &[], 3.0),
        img("C", &["alpha-2"], 2.0),
        img("D", &["git hash"], 1.0),
        // Pushed just after D: exactly one day old or less, so the untagged rule keeps it.
        img("E", &[], 1.0 - 1.0 / 86_400.0),
    ];
    for prefix_form in [false, true] {
        let p =
            policy(&rules(&[count_rule(1, &["alpha*"], prefix_form, 1), UNTAGGED_1_DAY.into(), ANY_COUNT_1.into()]));
        assert_eq!(expired_names(&p, &images), ["A", "B", "D"], "prefix form: {prefix_form}");
        let plan = simulate(&p, &images, now());
        // C matched rule 1, which kept it: rule 3 must not touch it even though it ranks C past 1.
        let c = images.iter().position(|i| i.digest == "sha256:C").unwrap_or_default();
        assert_eq!(plan.decisions[c].fate, Fate::Keep);
        assert_eq!(plan.rule_of(c).map(|r| r.rule_priority), Some(1));
    }
}

// ---- Simulator details ----------------------------------------------------------------------

#[test]
fn an_image_exactly_n_days_old_survives_an_age_rule() {
    let text = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}}]}"#;
    let images = vec![img("exact", &[], 7.0), img("older", &[], 7.0 + 1.0 / 86_400.0)];
    assert_eq!(expired_names(&policy(text), &images), ["older"]);
}

#[test]
fn reasons_name_the_rule_and_the_rank() {
    let p = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}"));
    let images: Vec<Image> = (0..14).map(|k| img(&format!("v{k}"), &[&format!("v1.{k}")], 20.0 - k as f64)).collect();
    let plan = simulate(&p, &images, now());
    let oldest = 0; // pushed 20 days ago: the 14th newest
    assert_eq!(plan.decisions[oldest].fate, Fate::Expire);
    assert_eq!(plan.reason(oldest), "rule 1 keeps the 10 newest images matching v*; this is #14");
    assert_eq!(plan.reason(13), "rule 1 keeps the 10 newest images matching v*; this is #1");
}

#[test]
fn count_rules_know_when_an_image_was_pushed_out() {
    let p = policy(&rules(&[count_rule(1, &["v*"], false, 2)]));
    let images = vec![img("a", &["v1"], 10.0), img("b", &["v2"], 6.0), img("c", &["v3"], 3.0), img("d", &["v4"], 1.0)];
    let plan = simulate(&p, &images, now());
    // a is #4: it left the newest two when c (#2 counting from a's newer side) was pushed.
    assert_eq!(plan.decisions[0].eligible_since, Some(images[2].pushed_at));
    assert_eq!(plan.decisions[1].eligible_since, Some(images[3].pushed_at));
    assert_eq!(plan.decisions[2].eligible_since, None);
}

#[test]
fn manifest_list_children_are_not_expired_while_the_list_exists() {
    let p = policy(&rules(&[count_rule(1, &["*"], false, 1)]));
    let mut list = img("list", &["v2"], 1.0);
    list.manifest_media_type = Some(crate::image::OCI_INDEX.into());
    list.child_digests = vec!["sha256:child".into()];
    let images = vec![img("child", &["v1"], 2.0), list, img("other", &["v0"], 3.0)];
    let plan = simulate(&p, &images, now());
    assert_eq!(plan.decisions[0].fate, Fate::Keep);
    assert_eq!(plan.decisions[0].referenced_by, Some(1));
    assert!(plan.reason(0).contains("manifest list sha256:list references it"), "{}", plan.reason(0));
    assert_eq!(plan.decisions[2].fate, Fate::Expire);
}

const SIGNATURE: &str = "application/vnd.cncf.notary.signature";

/// ECR deletes an image's referrers when it expires it (and theirs in turn), whatever their own
/// rules say; a referrer of a kept image is judged by its own rules, as any image.
#[test]
fn referrers_expire_with_their_subject_and_show_under_it() {
    let p = policy(&rules(&[count_rule(1, &["v"], true, 1)]));
    let images = vec![
        img("old", &["v1"], 10.0),
        img("new", &["v2"], 1.0),
        img("sig-old", &[], 0.5).referring_to("sha256:old", SIGNATURE),
        img("sbom-old", &[], 0.6).referring_to("sha256:old", "application/spdx+json"),
        img("sig-sbom-old", &[], 0.4).referring_to("sha256:sbom-old", SIGNATURE),
        img("sig-new", &[], 0.3).referring_to("sha256:new", SIGNATURE),
    ];
    let plan = simulate(&p, &images, now());
    assert_eq!(expired_names(&p, &images), ["old", "sbom-old", "sig-old", "sig-sbom-old"]);
    assert_eq!(plan.decisions[2].with_subject, Some(0));
    assert_eq!(plan.decisions[4].with_subject, Some(3), "a referrer of a referrer goes with it");
    assert_eq!(plan.decisions[5].fate, Fate::Unmanaged, "the kept image's signature: no rule matches it");
    assert_eq!(
        plan.reason(2),
        format!("a {SIGNATURE} of sha256:old, which expires, and ECR deletes an image's referrers with it")
    );
    assert_eq!(plan.summary().bytes_freed, 4_000, "their bytes go with the subject");
    let report = PreviewReport::from_plan(&plan);
    let sig = report
        .actions
        .iter()
        .find(|a| a.image_digest == "sha256:sig-old")
        .map(|a| (a.rule_priority, a.with_subject.clone()));
    assert_eq!(sig, Some((1, Some("sha256:old".to_string()))), "by its subject's rule");
    // The table: each referrer right under its subject, indented by depth.
    let table = render_table(&plan);
    let position = |needle: &str| table.lines().position(|l| l.contains(needle)).unwrap_or(usize::MAX);
    assert!(position("sha256:old") < position("sha256:sbom-old"), "{table}");
    assert!(position("sha256:sbom-old") < position("sha256:sig-sbom-old"), "{table}");
    assert!(
        position("sha256:new") < position("sha256:sig-new") && position("sha256:sig-new") < position("sha256:old"),
        "{table}"
    );
    assert!(table.contains(&format!("  └ {SIGNATURE} <untagged>")), "depth 2 indented: {table}");
}

#[test]
fn restored_images_are_aged_from_their_restore() {
    let text = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":30},"action":{"type":"expire"}}]}"#;
    let mut restored = img("restored", &["v1"], 100.0);
    restored.last_activated_at = Some(now() - Duration::days(2));
    let images = vec![restored, img("old", &["v0"], 100.0)];
    assert_eq!(expired_names(&policy(text), &images), ["old"]);
}

#[test]
fn pull_and_archive_rules_use_their_own_clocks() {
    let text = r#"{"rules":[
        {"rulePriority":1,"selection":{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":30},"action":{"type":"transition","targetStorageClass":"archive"}},
        {"rulePriority":2,"selection":{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90},"action":{"type":"expire"}}]}"#;
    let mut pulled_recently = img("pulled", &["v1"], 100.0);
    pulled_recently.last_pulled_at = Some(now() - Duration::days(3));
    let never_pulled = img("idle", &["v2"], 40.0);
    let mut archived_long = img("archived", &["v3"], 400.0);
    archived_long.status = ImageStatus::Archived;
    archived_long.last_archived_at = Some(now() - Duration::days(91));
    let mut archived_recent = img("archived-recent", &["v4"], 400.0);
    archived_recent.status = ImageStatus::Archived;
    archived_recent.last_archived_at = Some(now() - Duration::days(10));
    let mut restoring = img("restoring", &["v5"], 400.0);
    restoring.status = ImageStatus::Activating;
    let images = vec![pulled_recently, never_pulled, archived_long, archived_recent, restoring];
    let p = policy(text);
    let plan = simulate(&p, &images, now());
    let fates: Vec<Fate> = plan.decisions.iter().map(|d| d.fate).collect();
    assert_eq!(fates, [Fate::Keep, Fate::Transition, Fate::Expire, Fate::Keep, Fate::Restoring]);
    assert_eq!(
        plan.reason(1),
        "rule 1 archives all images not pulled for more than 30 days; this one was pushed, never pulled, 40 days ago"
    );
}

#[test]
fn generated_archive_rules_follow_ecrs_documented_shape_and_order() {
    // GIVEN the seed's standard with archiving by last pull, archive expiry and the in-use pin
    let params = PolicyParams {
        protected: vec!["latest".into()],
        archive_after_days: Some(30),
        expire_archived_after_days: Some(180),
        protect_in_use: true,
        ..PolicyParams::default()
    };
    let p = generate(&params).unwrap_or_else(|e| panic!("{e}"));
    // THEN the pin and protected tags first, the keep and untagged rules, the archive catch-all
    // last of the standard class, and the archive-class expiry after it
    let shape: Vec<(u32, String, Option<StorageClass>, CountType, u32, ActionType)> = p
        .rules
        .iter()
        .map(|r| {
            let s = &r.selection;
            (r.rule_priority, r.selection_phrase(), s.storage_class, s.count_type, s.count_number, r.action.kind)
        })
        .collect();
    assert_eq!(
        shape,
        [
            (
                1,
                "images matching keeper-in-use-*".into(),
                None,
                CountType::ImageCountMoreThan,
                PROTECT_COUNT,
                ActionType::Expire
            ),
            (
                2,
                "images matching latest".into(),
                None,
                CountType::ImageCountMoreThan,
                PROTECT_COUNT,
                ActionType::Expire
            ),
            (3, "images matching v*".into(), None, CountType::ImageCountMoreThan, 10, ActionType::Expire),
            (4, "untagged images".into(), None, CountType::SinceImagePushed, 7, ActionType::Expire),
            (5, "all images".into(), None, CountType::SinceImagePulled, 30, ActionType::Transition),
            (
                6,
                "all archived images".into(),
                Some(StorageClass::Archive),
                CountType::SinceImageTransitioned,
                180,
                ActionType::Expire
            ),
        ]
    );
    assert_eq!(p.rules[4].action.target_storage_class, Some(StorageClass::Archive));
    assert!(validate(&p).is_empty());

    // WHEN simulated: an image pulled yesterday stays, one pulled 100 days ago archives, an
    // archived one expires once archived longer than the configured days, `latest` never moves
    let mut yesterday = img("yesterday", &["build-1"], 300.0);
    yesterday.last_pulled_at = Some(now() - Duration::days(1));
    let mut long_ago = img("long-ago", &["build-2"], 300.0);
    long_ago.last_pulled_at = Some(now() - Duration::days(100));
    let mut archived_181 = img("archived-181", &["build-3"], 500.0);
    archived_181.status = ImageStatus::Archived;
    archived_181.last_archived_at = Some(now() - Duration::days(181));
    let mut archived_179 = img("archived-179", &["build-4"], 500.0);
    archived_179.status = ImageStatus::Archived;
    archived_179.last_archived_at = Some(now() - Duration::days(179));
    let latest = img("latest", &["latest"], 900.0);
    let images = vec![yesterday, long_ago, archived_181, archived_179, latest];
    let fates: Vec<Fate> = simulate(&p, &images, now()).decisions.iter().map(|d| d.fate).collect();
    assert_eq!(fates, [Fate::Keep, Fate::Transition, Fate::Expire, Fate::Keep, Fate::Keep]);

    // AND the 90-day rule: an earlier archive expiry is refused, naming it
    for days in [1, 89] {
        let e = generate(&PolicyParams { expire_archived_after_days: Some(days), ..PolicyParams::default() });
        let message = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with(&format!("expire-archived-after-days: must be at least 90, not {days}")),
            "{message}"
        );
    }
    assert!(generate(&PolicyParams { expire_archived_after_days: Some(90), ..PolicyParams::default() }).is_ok());
}

#[test]
fn unmanaged_lists_images_no_rule_matches_oldest_first() {
    let p = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}"));
    let images = vec![img("main", &["main-3f2a"], 1.0), img("latest", &["latest"], 5.0), img("v", &["v1"], 3.0)];
    let plan = simulate(&p, &images, now());
    assert_eq!(plan.unmanaged(), [1, 0]);
    assert_eq!(plan.reason(0), "no rule matches its tags (main-3f2a): it will never be expired");
    let report = PreviewReport::from_plan(&plan);
    assert_eq!(report.summary.unmanaged, 2);
    assert_eq!(report.unmanaged[0].image_tags, ["latest"]);
}

#[test]
fn preview_report_orders_actions_oldest_first_and_sums_freed_bytes() {
    let p = policy(&rules(&[count_rule(1, &["v*"], false, 1)]));
    let mut images = vec![img("new", &["v3"], 1.0), img("oldest", &["v1"], 9.0), img("mid", &["v2"], 5.0)];
    images[1].size_bytes = 7;
    images[2].size_bytes = 5;
    let report = PreviewReport::from_plan(&simulate(&p, &images, now()));
    let order: Vec<&str> = report.actions.iter().map(|a| a.image_digest.as_str()).collect();
    assert_eq!(order, ["sha256:oldest", "sha256:mid"]);
    assert_eq!(report.summary.bytes_freed, 12);
    assert_eq!(report.actions[0].action, "expire");
    assert_eq!(report.actions[0].rule_priority, 1);
}

// ---- Validation: one test per ECR rule -------------------------------------------------------

fn messages(text: &str) -> Vec<String> {
    match parse_policy(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.violations().iter().map(ToString::to_string).collect(),
    }
}

fn rule_json(priority: u32, selection: &str, action: &str) -> String {
    format!(
        r#"{{"rulePriority":{priority},"description":"padding to reach the 100 character minimum","selection":{selection},"action":{action}}}"#
    )
}

fn one(selection: &str, action: &str) -> String {
    rules(&[rule_json(1, selection, action)])
}

const EXPIRE: &str = r#"{"type":"expire"}"#;
const TRANSITION: &str = r#"{"type":"transition","targetStorageClass":"archive"}"#;

fn assert_single(text: &str, expected: &str) {
    let got = messages(text);
    assert_eq!(got, [expected.to_string()], "policy: {text}");
}

#[test]
fn valid_policies_pass() {
    assert!(messages(&one(
        r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7}"#,
        EXPIRE
    ))
    .is_empty());
    assert!(messages(&one(
        r#"{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":7}"#,
        TRANSITION
    ))
    .is_empty());
}

#[test]
fn tagged_needs_exactly_one_list() {
    assert_single(
        &rules(&[rule_json(5, r#"{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE)]),
        r#"rule 1 (priority 5): tagStatus "tagged" needs tagPrefixList or tagPatternList"#,
    );
    assert_single(
        &one(
            r#"{"tagStatus":"tagged","tagPrefixList":["v"],"tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1}"#,
            EXPIRE,
        ),
        r#"rule 1 (priority 1): tagStatus "tagged" takes tagPrefixList or tagPatternList, not both"#,
    );
    assert_single(
        &one(r#"{"tagStatus":"tagged","tagPrefixList":[],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
        "rule 1 (priority 1): tagPrefixList must not be empty",
    );
}

#[test]
fn untagged_and_any_take_no_list() {
    assert_single(
        &one(
            r#"{"tagStatus":"untagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1}"#,
            EXPIRE,
        ),
        r#"rule 1 (priority 1): tagStatus "untagged" does not take tagPrefixList"#,
    );
    assert_single(
        &one(r#"{"tagStatus":"any","tagPatternList":["v*"],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE),
        r#"rule 1 (priority 1): tagStatus "any" does not take tagPatternList"#,
    );
}

#[test]
fn patterns_have_at_most_four_wildcards() {
    assert!(messages(&one(r#"{"tagStatus":"tagged","tagPatternList":["*test*1*2*3","test*1*2*3*"],"countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE)).is_empty());
    assert_single(
        &one(
            r#"{"tagStatus":"tagged","tagPatternList":["test*1*2*3*4*5*6"],"countType":"imageCountMoreThan","countNumber":1}"#,
            EXPIRE,
        ),
        r#"rule 1 (priority 1): tagPatternList entry "test*1*2*3*4*5*6" has 6 wildcards; ECR accepts at most 4"#,
    );
}

#[test]
fn priorities_are_unique_positive_integers() {
    let sel = r#"{"tagStatus":"tagged","tagPrefixList":["a"],"countType":"imageCountMoreThan","countNumber":1}"#;
    let sel_b = r#"{"tagStatus":"tagged","tagPrefixList":["b"],"countType":"imageCountMoreThan","countNumber":1}"#;
    assert_single(
        &rules(&[rule_json(3, sel, EXPIRE), rule_json(3, sel_b, EXPIRE)]),
        "rule 2 (priority 3): rulePriority 3 is already used by rule 1; priorities must be unique",
    );
    assert_single(
        &rules(&[rule_json(0, sel, EXPIRE)]),
        "rule 1 (priority 0): rulePriority must be a positive integer, found 0",
    );
    assert_single(
        &rules(&[rule_json(1, sel, EXPIRE)]).replace("\"rulePriority\":1", "\"rulePriority\":\"1\""),
        "rule 1: rulePriority must be a positive integer, found \"1\"",
    );
}

#[test]
fn any_must_be_last_in_its_storage_class() {
    let any = r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5}"#;
    let tagged = r#"{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1}"#;
    assert_single(
        &rules(&[rule_json(1, any, EXPIRE), rule_json(2, tagged, EXPIRE)]),
        r#"rule 1 (priority 1): tagStatus "any" must have the highest rulePriority among standard rules, but rule 2 has priority 2"#,
    );
    // An archive rule after it is in another storage class, so the order is fine.
    let archive = r#"{"tagStatus":"any","storageClass":"archive","countType":"sinceImageTransitioned","countUnit":"days","countNumber":90}"#;
    assert!(messages(&rules(&[rule_json(1, any, EXPIRE), rule_json(2, archive, EXPIRE)])).is_empty());
}

#[test]
fn one_untagged_rule_per_storage_class() {
    let untagged = r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":3}"#;
    assert_single(
        &rules(&[rule_json(1, untagged, EXPIRE), rule_json(2, untagged, EXPIRE)]),
        r#"rule 2 (priority 2): only one standard rule may have tagStatus "untagged"; rule 1 already does"#,
    );
}

#[test]
fn prefixes_are_unique_across_rules() {
    let a = r#"{"tagStatus":"tagged","tagPrefixList":["v","rc"],"countType":"imageCountMoreThan","countNumber":1}"#;
    let b = r#"{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"sinceImagePushed","countUnit":"days","countNumber":9}"#;
    assert_single(
        &rules(&[rule_json(1, a, EXPIRE), rule_json(2, b, EXPIRE)]),
        r#"rule 2 (priority 2): tagPrefixList entry "v" is also used by rule 1; prefixes must be unique across standard rules"#,
    );
}

#[test]
fn count_unit_is_required_for_ages_and_forbidden_for_counts() {
    assert_single(
        &one(r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":7}"#, EXPIRE),
        r#"rule 1 (priority 1): countType "sinceImagePushed" needs countUnit "days""#,
    );
    assert_single(
        &one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countUnit":"days","countNumber":7}"#, EXPIRE),
        r#"rule 1 (priority 1): countType "imageCountMoreThan" does not take countUnit"#,
    );
    assert_single(
        &one(r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"hours","countNumber":7}"#, EXPIRE),
        r#"rule 1 (priority 1): countUnit "hours" is not one of: days"#,
    );
}

#[test]
fn count_number_is_positive() {
    assert_single(
        &one(r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":0}"#, EXPIRE),
        "rule 1 (priority 1): countNumber must be a positive integer, found 0",
    );
}

#[test]
fn since_image_pulled_only_transitions() {
    assert_single(
        &one(r#"{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":7}"#, EXPIRE),
        r#"rule 1 (priority 1): countType "sinceImagePulled" is only allowed with action type "transition""#,
    );
}

#[test]
fn since_image_transitioned_expires_archived_images_after_90_days_or_more() {
    let errors = messages(&one(
        r#"{"tagStatus":"any","countType":"sinceImageTransitioned","countUnit":"days","countNumber":30}"#,
        TRANSITION,
    ));
    assert_eq!(
        errors,
        [
            r#"rule 1 (priority 1): countType "sinceImageTransitioned" is only allowed with action type "expire""#,
            r#"rule 1 (priority 1): countType "sinceImageTransitioned" needs storageClass "archive""#,
            r#"rule 1 (priority 1): countType "sinceImageTransitioned" needs countNumber of at least 90 days (archived images have a 90-day minimum), not 30"#,
        ]
    );
}

#[test]
fn archive_storage_class_only_with_since_image_transitioned() {
    assert_single(
        &one(
            r#"{"tagStatus":"any","storageClass":"archive","countType":"sinceImagePushed","countUnit":"days","countNumber":100}"#,
            EXPIRE,
        ),
        r#"rule 1 (priority 1): storageClass "archive" is only allowed with countType "sinceImageTransitioned", not "sinceImagePushed""#,
    );
}

#[test]
fn transition_targets_archive_and_expire_has_no_target() {
    let sel = r#"{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":7}"#;
    assert_single(
        &one(sel, r#"{"type":"transition"}"#),
        r#"rule 1 (priority 1): action type "transition" needs targetStorageClass "archive""#,
    );
    assert_single(
        &one(sel, r#"{"type":"transition","targetStorageClass":"standard"}"#),
        r#"rule 1 (priority 1): action type "transition" needs targetStorageClass "archive", not "standard""#,
    );
    assert_single(
        &one(
            r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":7}"#,
            r#"{"type":"expire","targetStorageClass":"archive"}"#,
        ),
        r#"rule 1 (priority 1): targetStorageClass is only allowed with action type "transition""#,
    );
}

#[test]
fn rule_count_and_text_length_are_bounded() {
    assert_eq!(
        messages(
            r#"{"rules":[]}                                                                                          "#
        ),
        ["policy: the policy has 0 rules; ECR accepts 1 to 50"]
    );
    let smallest = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}"#;
    assert!(messages(smallest).is_empty(), "the smallest useful policy is over the minimum length");
    let many: Vec<String> = (1..=51)
        .map(|p| rule_json(p, &format!(r#"{{"tagStatus":"tagged","tagPrefixList":["p{p}"],"countType":"imageCountMoreThan","countNumber":1}}"#), EXPIRE))
        .collect();
    assert_eq!(messages(&rules(&many)), ["policy: the policy has 51 rules; ECR accepts 1 to 50"]);
    let long_description = "x".repeat(MAX_TEXT_CHARS);
    let long =
        rules(&[rule_json(1, r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}"#, EXPIRE)])
            .replace("padding to reach the 100 character minimum", &long_description);
    let got = messages(&long);
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("policy: the policy text is 30"), "{got:?}");
    assert_eq!(
        messages(r#"{"rules":[{"rulePriority":1}]}"#)[0],
        "policy: the policy text is 30 characters; ECR accepts 100 to 30720"
    );
}

#[test]
fn unknown_fields_and_wrong_types_are_errors() {
    let text = rules(&[rule_json(
        2,
        r#"{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":1,"tagSuffixList":["x"]}"#,
        r#"{"type":"delete"}"#,
    )]);
    assert_eq!(
        messages(&text),
        [
            r#"rule 1 (priority 2): unknown field "selection.tagSuffixList" (accepted: tagStatus, tagPatternList, tagPrefixList, storageClass, countType, countUnit, countNumber)"#,
            r#"rule 1 (priority 2): type "delete" is not one of: expire, transition"#,
        ]
    );
    assert_eq!(
        messages(&format!(r#"{{"rules":[],"version":1,"pad":"{}"}}"#, "x".repeat(100))),
        [
            "policy: unknown field \"pad\" (accepted: rules)",
            "policy: unknown field \"version\" (accepted: rules)",
            "policy: the policy has 0 rules; ECR accepts 1 to 50",
        ]
    );
}

#[test]
fn every_problem_is_reported_at_once_even_past_a_broken_rule() {
    let broken = r#"{"rulePriority":1,"selection":"nope","action":{"type":"expire"}}"#.to_string();
    let untagged = r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":3}"#;
    let text = rules(&[broken, rule_json(2, untagged, EXPIRE), rule_json(2, untagged, EXPIRE)]);
    let got = messages(&text);
    assert_eq!(got.len(), 5, "{got:#?}");
    assert_eq!(got[0], r#"rule 1 (priority 1): "selection" must be an object, found a string"#);
    assert!(got.iter().any(|m| m.starts_with("rule 3 (priority 2): rulePriority 2 is already used by rule 2")));
    assert!(got.iter().any(|m| m.contains("only one standard rule may have tagStatus \"untagged\"")));
}

#[test]
fn invalid_json_is_its_own_error() {
    assert!(matches!(parse_policy("{\"rules\": ["), Err(PolicyError::Json(_))));
}

// ---- Generation -----------------------------------------------------------------------------

#[test]
fn the_default_is_the_seed_standard_policy() {
    let p = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}"));
    let seed = policy(
        r#"{"rules":[
 {"rulePriority":1,"description":"Keep last 10 version-tagged images",
  "selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":10},
  "action":{"type":"expire"}},
 {"rulePriority":2,"description":"Expire untagged images after 7 days",
  "selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},
  "action":{"type":"expire"}}]}"#,
    );
    let strip = |p: &LifecyclePolicy| {
        let mut p = p.clone();
        p.rules.iter_mut().for_each(|r| r.description = None);
        p
    };
    assert_eq!(strip(&p), strip(&seed));
}

#[test]
fn generation_orders_protected_keep_untagged_then_catch_all() {
    let params = PolicyParams {
        keep_tagged: 5,
        tag_prefixes: vec!["v".into(), "release-".into(), "v".into()],
        tag_patterns: vec!["*-rc*".into()],
        untagged_days: 3,
        protected: vec!["latest".into(), "prod-*".into()],
        max_age_days: Some(90),
        archive_after_days: None,
        expire_archived_after_days: None,
        protect_in_use: false,
    };
    let p = generate(&params).unwrap_or_else(|e| panic!("{e}"));
    let phrases: Vec<(u32, String)> = p.rules.iter().map(|r| (r.rule_priority, r.selection_phrase())).collect();
    assert_eq!(
        phrases,
        [
            (1, "images matching latest".to_string()),
            (2, "images matching prod-*".to_string()),
            (3, "images matching v*".to_string()),
            (4, "images matching release-*".to_string()),
            (5, "images matching *-rc*".to_string()),
            (6, "untagged images".to_string()),
            (7, "all images".to_string()),
        ]
    );
    // A protected image survives even when it is old and also matches a keep rule.
    let images =
        vec![img("prod", &["prod-1", "v0.1"], 400.0), img("v1", &["v1.0"], 1.0), img("main", &["main-1"], 100.0)];
    assert_eq!(expired_names(&p, &images), ["main"]);
}

#[test]
fn generation_rejects_bad_parameters_by_name() {
    let bad = |f: fn(&mut PolicyParams)| {
        let mut p = PolicyParams::default();
        f(&mut p);
        generate(&p).err().map(|e| e.to_string()).unwrap_or_default()
    };
    assert_eq!(bad(|p| p.keep_tagged = 0), "keep-tagged: must be at least 1");
    assert_eq!(bad(|p| p.untagged_days = 0), "untagged-days: must be at least 1");
    assert!(bad(|p| {
        p.max_age_days = Some(30);
        p.archive_after_days = Some(30);
    })
    .starts_with("max-age-days: cannot be combined with archive-after-days"));
    assert_eq!(
        bad(|p| p.protected = vec!["a*b*c*d*e*f".into()]),
        "protect: \"a*b*c*d*e*f\" has more than 4 wildcards (*), which ECR rejects"
    );
    assert_eq!(
        bad(|p| p.tag_prefixes = vec!["v*".into()]),
        "tag-prefix: \"v*\" contains '*'; use --tag-pattern for wildcards"
    );
    assert!(bad(|p| p.tag_prefixes = (0..60).map(|k| format!("p{k}-")).collect()).contains("at most 50"));
}

// ---- Properties -----------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    const TAGS: &[&str] = &["v1", "v2", "v10", "alpha-1", "beta-2", "latest", "prod-1", "main-3f2a", "rc-1", "x"];
    const PATTERNS: &[&str] = &["v*", "alpha*", "*-1", "prod*", "latest", "*", "*a*", "v1*", "rc-?", "b*-*"];
    const PREFIXES: &[&str] = &["v", "alpha", "prod", "rc", "m", "l"];

    fn image_strategy() -> impl Strategy<Value = Vec<Image>> {
        prop::collection::vec(
            // Coarse times, so ties in push time (broken by digest) are common.
            (
                prop::collection::btree_set(0..TAGS.len(), 0..3),
                (0u32..90).prop_map(|k| k * 16),
                prop::option::of(0u32..60 * 24),
            ),
            0..40,
        )
        .prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(k, (tags, hours, pulled))| {
                    let tags: Vec<&str> = tags.into_iter().map(|t| TAGS[t]).collect();
                    let mut image = img(&format!("{k:03}"), &tags, f64::from(hours) / 24.0);
                    image.last_pulled_at = pulled.map(|h| now() - Duration::hours(i64::from(h)));
                    image
                })
                .collect()
        })
    }

    #[derive(Debug, Clone)]
    enum Filter {
        Tagged { entries: Vec<usize>, prefix: bool },
        Untagged,
        Any,
    }

    fn rule_strategy() -> impl Strategy<Value = (Filter, bool, u32, bool)> {
        let filter = prop_oneof![
            4 => (prop::collection::vec(0..10usize, 1..3), any::<bool>()).prop_map(|(entries, prefix)| Filter::Tagged { entries, prefix }),
            1 => Just(Filter::Untagged),
            1 => Just(Filter::Any),
        ];
        (filter, any::<bool>(), 1u32..20, any::<bool>())
    }

    /// Random policies that are valid: `any` last, one untagged rule, unique prefixes.
    fn policy_strategy() -> impl Strategy<Value = LifecyclePolicy> {
        prop::collection::vec(rule_strategy(), 1..6).prop_map(|specs| {
            let mut rules = Vec::new();
            let mut used_prefixes = BTreeSet::new();
            let mut untagged_seen = false;
            let mut any_rule = None;
            for (filter, count, n, transition) in specs {
                let (status, prefixes, patterns) = match filter {
                    Filter::Tagged { entries, prefix: true } => {
                        let list: Vec<String> = entries
                            .iter()
                            .map(|e| PREFIXES[e % PREFIXES.len()].to_string())
                            .filter(|p| used_prefixes.insert(p.clone()))
                            .collect();
                        if list.is_empty() {
                            continue;
                        }
                        (TagStatus::Tagged, Some(list), None)
                    }
                    Filter::Tagged { entries, prefix: false } => {
                        (TagStatus::Tagged, None, Some(entries.iter().map(|e| PATTERNS[*e].to_string()).collect()))
                    }
                    Filter::Untagged if !untagged_seen => {
                        untagged_seen = true;
                        (TagStatus::Untagged, None, None)
                    }
                    Filter::Untagged => continue,
                    Filter::Any => (TagStatus::Any, None, None),
                };
                let (count_type, kind) = match (count, transition) {
                    (true, _) => (CountType::ImageCountMoreThan, ActionType::Expire),
                    (false, false) => (CountType::SinceImagePushed, ActionType::Expire),
                    (false, true) => (CountType::SinceImagePulled, ActionType::Transition),
                };
                let rule = Rule {
                    rule_priority: 0,
                    description: None,
                    selection: Selection {
                        tag_status: status,
                        tag_pattern_list: patterns,
                        tag_prefix_list: prefixes,
                        storage_class: None,
                        count_type,
                        count_unit: count_type.is_age().then_some(CountUnit::Days),
                        count_number: n,
                    },
                    action: Action {
                        kind,
                        target_storage_class: (kind == ActionType::Transition).then_some(StorageClass::Archive),
                    },
                };
                if status == TagStatus::Any {
                    any_rule.get_or_insert(rule);
                } else {
                    rules.push(rule);
                }
            }
            rules.extend(any_rule);
            // Gapped priorities in shuffled order: nothing may depend on array order.
            for (k, r) in rules.iter_mut().enumerate() {
                r.rule_priority = (k as u32 + 1) * 3;
            }
            rules.reverse();
            LifecyclePolicy { rules }
        })
    }

    /// Glob matching by plain recursion: slow, obviously right, independent of `TagMatcher`.
    fn naive_glob(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|k| naive_glob(rest, &t[k..])),
            Some((c, rest)) => t.first() == Some(c) && naive_glob(rest, &t[1..]),
        }
    }

    fn naive_selects(rule: &Rule, image: &Image) -> bool {
        let sel = &rule.selection;
        match sel.tag_status {
            TagStatus::Any => true,
            TagStatus::Untagged => image.tags.is_empty(),
            TagStatus::Tagged => {
                let entry_matches = |entry: &String| {
                    image.tags.iter().any(|t| match &sel.tag_prefix_list {
                        Some(_) => t.starts_with(entry.as_str()),
                        None => naive_glob(entry.as_bytes(), t.as_bytes()),
                    })
                };
                let entries = sel.tag_prefix_list.as_ref().or(sel.tag_pattern_list.as_ref());
                !image.tags.is_empty() && entries.is_some_and(|e| e.iter().all(entry_matches))
            }
        }
    }

    /// The documented algorithm, step by step: per-rule selection and marking over all images,
    /// then application in priority order with shielding.
    fn reference(policy: &LifecyclePolicy, images: &[Image]) -> Vec<Option<(u32, Fate)>> {
        let mut rules: Vec<&Rule> = policy.rules.iter().collect();
        rules.sort_by_key(|r| r.rule_priority);
        let mut acted: Vec<Option<(u32, Fate)>> = vec![None; images.len()];
        let mut shielded = vec![false; images.len()];
        for rule in rules {
            let mut selected: Vec<usize> = (0..images.len()).filter(|&i| naive_selects(rule, &images[i])).collect();
            selected.sort_by(|&a, &b| {
                images[b].pushed_at.cmp(&images[a].pushed_at).then(images[a].digest.cmp(&images[b].digest))
            });
            let n = rule.selection.count_number as usize;
            let limit = Duration::days(i64::from(rule.selection.count_number));
            let marked: BTreeSet<usize> = match rule.selection.count_type {
                CountType::ImageCountMoreThan => selected.iter().skip(n).copied().collect(),
                CountType::SinceImagePulled => {
                    selected.iter().copied().filter(|&i| now() - images[i].last_used_at() > limit).collect()
                }
                _ => selected.iter().copied().filter(|&i| now() - images[i].pushed_at > limit).collect(),
            };
            for &i in &selected {
                if acted[i].is_none() && !shielded[i] && marked.contains(&i) {
                    let fate = match rule.action.kind {
                        ActionType::Expire => Fate::Expire,
                        ActionType::Transition => Fate::Transition,
                    };
                    acted[i] = Some((rule.rule_priority, fate));
                }
            }
            for &i in &selected {
                shielded[i] = true;
            }
        }
        acted
    }

    fn acted(plan: &Plan) -> Vec<Option<(u32, Fate)>> {
        (0..plan.images.len())
            .map(|i| match plan.decisions[i].fate {
                f @ (Fate::Expire | Fate::Transition) => plan.rule_of(i).map(|r| (r.rule_priority, f)),
                _ => None,
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn random_policies_validate_and_round_trip(policy in policy_strategy()) {
            prop_assert_eq!(validate(&policy), Vec::<Violation>::new());
            let reparsed = parse_policy(&policy.to_json_pretty());
            prop_assert_eq!(reparsed.as_ref().ok(), Some(&policy));
        }

        #[test]
        fn the_simulator_agrees_with_the_documented_algorithm(policy in policy_strategy(), images in image_strategy()) {
            let plan = simulate(&policy, &images, now());
            prop_assert_eq!(acted(&plan), reference(&policy, &images));
        }

        #[test]
        fn only_the_first_matching_rule_decides(policy in policy_strategy(), images in image_strategy()) {
            let plan = simulate(&policy, &images, now());
            let by_priority = policy.rules_by_priority();
            for (i, image) in images.iter().enumerate() {
                let first = by_priority.iter().find(|r| naive_selects(r, image)).map(|r| r.rule_priority);
                prop_assert_eq!(plan.rule_of(i).map(|r| r.rule_priority), first);
                prop_assert_eq!(plan.decisions[i].fate == Fate::Unmanaged, first.is_none());
            }
        }

        #[test]
        fn an_unshielded_count_rule_keeps_exactly_its_n_newest(images in image_strategy(), pattern in 0..PATTERNS.len(), n in 1u32..15) {
            let policy = LifecyclePolicy { rules: vec![Rule {
                rule_priority: 1,
                description: None,
                selection: Selection {
                    tag_status: TagStatus::Tagged,
                    tag_pattern_list: Some(vec![PATTERNS[pattern].to_string()]),
                    tag_prefix_list: None,
                    storage_class: None,
                    count_type: CountType::ImageCountMoreThan,
                    count_unit: None,
                    count_number: n,
                },
                action: Action { kind: ActionType::Expire, target_storage_class: None },
            }]};
            let plan = simulate(&policy, &images, now());
            let mut selected: Vec<usize> = (0..images.len()).filter(|&i| plan.decisions[i].rule.is_some()).collect();
            selected.sort_by(|&a, &b| images[b].pushed_at.cmp(&images[a].pushed_at).then(images[a].digest.cmp(&images[b].digest)));
            let kept: Vec<usize> = selected.iter().copied().filter(|&i| plan.decisions[i].fate == Fate::Keep).collect();
            let newest: Vec<usize> = selected.iter().copied().take(n as usize).collect();
            prop_assert_eq!(kept, newest);
            prop_assert_eq!(plan.summary().expire, selected.len().saturating_sub(n as usize));
        }

        #[test]
        fn a_higher_priority_keeping_rule_protects_what_it_matches(
            policy in policy_strategy(), images in image_strategy(), pattern in 0..PATTERNS.len()
        ) {
            let mut guarded = policy.clone();
            guarded.rules.push(Rule {
                rule_priority: 1, // every generated priority is a multiple of 3, so 1 is first
                description: None,
                selection: Selection {
                    tag_status: TagStatus::Tagged,
                    tag_pattern_list: Some(vec![PATTERNS[pattern].to_string()]),
                    tag_prefix_list: None,
                    storage_class: None,
                    count_type: CountType::ImageCountMoreThan,
                    count_unit: None,
                    count_number: PROTECT_COUNT,
                },
                action: Action { kind: ActionType::Expire, target_storage_class: None },
            });
            let guard = TagMatcher::pattern(PATTERNS[pattern]);
            let plan = simulate(&guarded, &images, now());
            let before = simulate(&policy, &images, now());
            for (i, image) in images.iter().enumerate() {
                if guard.matches_any(&image.tags) {
                    prop_assert_eq!(plan.decisions[i].fate, Fate::Keep);
                } else {
                    // Everything else is decided exactly as before.
                    prop_assert_eq!(plan.decisions[i].fate, before.decisions[i].fate);
                }
            }
        }

        #[test]
        fn generated_policies_always_validate(
            keep in 1u32..200,
            prefixes in prop::collection::vec(0..PREFIXES.len(), 0..4),
            patterns in prop::collection::vec(0..PATTERNS.len(), 0..4),
            untagged in 1u32..400,
            protected in prop::collection::vec(0..PATTERNS.len(), 0..4),
            catch_all in prop::option::of((any::<bool>(), 1u32..400)),
            archived in prop::option::of(90u32..800),
            protect_in_use in any::<bool>(),
        ) {
            let params = PolicyParams {
                keep_tagged: keep,
                tag_prefixes: prefixes.iter().map(|&k| PREFIXES[k].to_string()).collect(),
                tag_patterns: patterns.iter().map(|&k| PATTERNS[k].to_string()).collect(),
                untagged_days: untagged,
                protected: protected.iter().map(|&k| PATTERNS[k].to_string()).collect(),
                max_age_days: catch_all.filter(|c| c.0).map(|c| c.1),
                archive_after_days: catch_all.filter(|c| !c.0).map(|c| c.1),
                expire_archived_after_days: archived,
                protect_in_use,
            };
            let policy = generate(&params);
            prop_assert!(policy.is_ok(), "{:?}", policy);
            let policy = policy.unwrap_or_else(|_| LifecyclePolicy { rules: vec![] });
            prop_assert_eq!(validate(&policy), Vec::<Violation>::new());
            prop_assert_eq!(parse_policy(&policy.to_json()).ok(), Some(policy));
        }
    }
}

/// The README's checklist, every item broken in one policy: each must be reported. Value
/// mistakes sit in rules that also break cross-rule checks, which must still be found.
#[test]
fn one_policy_breaking_every_documented_check_reports_every_one() {
    use serde_json::json;
    let expire = |n: i64, selection: serde_json::Value| json!({"rulePriority": n, "selection": selection, "action": {"type": "expire"}});
    let count = |status: &str, extra: serde_json::Value| {
        let mut sel = json!({"tagStatus": status, "countType": "imageCountMoreThan", "countNumber": 5});
        if let (Some(s), Some(e)) = (sel.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        sel
    };
    let mut rules = vec![
        // unknown field; a bad enum value in a rule whose priority is also a duplicate (rule 3)
        json!({"rulePriority": 1, "selection": count("tagged", json!({"tagPrefixList": ["a"]})), "action": {"type": "expire"}, "color": "red"}),
        expire(2, json!({"tagStatus": "sometimes", "countType": "imageCountMoreThan", "countNumber": 1})),
        // countNumber 0 in a rule whose prefix repeats rule 1's and whose priority repeats rule 2's
        expire(2, count("tagged", json!({"tagPrefixList": ["a"], "countNumber": 0}))),
        // tagged without a list; tagged with both lists; untagged with a list
        expire(4, count("tagged", json!({}))),
        expire(5, count("tagged", json!({"tagPrefixList": ["b"], "tagPatternList": ["c*"]}))),
        expire(6, count("untagged", json!({"tagPrefixList": ["d"]}))),
        // a second untagged rule; five wildcards in a pattern
        expire(7, count("untagged", json!({}))),
        expire(8, count("tagged", json!({"tagPatternList": ["*a*b*c*d*"]}))),
        // countUnit missing for an age; countUnit given for a count
        expire(
            9,
            json!({"tagStatus": "tagged", "tagPrefixList": ["e"], "countType": "sinceImagePushed", "countNumber": 3}),
        ),
        expire(10, count("tagged", json!({"tagPrefixList": ["f"], "countUnit": "days"}))),
        // sinceImagePulled with expire
        expire(
            11,
            json!({"tagStatus": "tagged", "tagPrefixList": ["g"], "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 3}),
        ),
        // sinceImageTransitioned with transition, in standard storage, under 90 days
        json!({"rulePriority": 12, "selection": {"tagStatus": "tagged", "tagPrefixList": ["h"], "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 30},
               "action": {"type": "transition", "targetStorageClass": "archive"}}),
        // storageClass archive with a push age
        expire(
            13,
            json!({"tagStatus": "tagged", "tagPrefixList": ["i"], "storageClass": "archive", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 100}),
        ),
        // transition without a target; expire with one
        json!({"rulePriority": 14, "selection": {"tagStatus": "tagged", "tagPrefixList": ["j"], "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 3}, "action": {"type": "transition"}}),
        json!({"rulePriority": 15, "selection": count("tagged", json!({"tagPrefixList": ["k"]})), "action": {"type": "expire", "targetStorageClass": "archive"}}),
        // `any` that is not last; a negative priority
        expire(16, count("any", json!({}))),
        expire(-1, count("tagged", json!({"tagPrefixList": ["l"]}))),
    ];
    // More rules than ECR allows, and more text than it accepts.
    for k in 0..40 {
        let mut rule = expire(100 + k, count("tagged", json!({"tagPrefixList": [format!("pad{k}-")]})));
        rule["description"] = json!("x".repeat(800));
        rules.push(rule);
    }
    let text = json!({"rules": rules}).to_string();
    let err = parse_policy(&text).err().map(|e| e.to_string()).unwrap_or_default();
    let expected = [
        "the policy text is",
        "the policy has 57 rules; ECR accepts 1 to 50",
        "unknown field \"color\"",
        "tagStatus \"sometimes\" is not one of",
        "rule 3 (priority 2): rulePriority 2 is already used by rule 2",
        "countNumber must be a positive integer, found 0",
        "tagPrefixList entry \"a\" is also used by rule 1",
        "tagStatus \"tagged\" needs tagPrefixList or tagPatternList",
        "takes tagPrefixList or tagPatternList, not both",
        "tagStatus \"untagged\" does not take tagPrefixList",
        "only one standard rule may have tagStatus \"untagged\"",
        "has 5 wildcards",
        "countType \"sinceImagePushed\" needs countUnit \"days\"",
        "countType \"imageCountMoreThan\" does not take countUnit",
        "countType \"sinceImagePulled\" is only allowed with action type \"transition\"",
        "countType \"sinceImageTransitioned\" is only allowed with action type \"expire\"",
        "countType \"sinceImageTransitioned\" needs storageClass \"archive\"",
        "needs countNumber of at least 90 days",
        "storageClass \"archive\" is only allowed with countType \"sinceImageTransitioned\"",
        "action type \"transition\" needs targetStorageClass \"archive\"",
        "targetStorageClass is only allowed with action type \"transition\"",
        "tagStatus \"any\" must have the highest rulePriority",
        "rulePriority must be a positive integer, found -1",
    ];
    let missing: Vec<&str> = expected.iter().copied().filter(|e| !err.contains(e)).collect();
    assert!(missing.is_empty(), "not reported: {missing:#?}\nin:\n{err}");
    // A bad value is reported once, not again by the checks that would read it.
    assert_eq!(err.matches("countNumber must be a positive integer").count(), 1, "{err}");
}

#[test]
fn one_is_singular_in_generated_descriptions() {
    let policy = generate(&PolicyParams { keep_tagged: 1, ..PolicyParams::default() });
    let policy = policy.unwrap_or_else(|e| panic!("{e}"));
    let described: Vec<String> = policy.rules.iter().filter_map(|r| r.description.clone()).collect();
    assert!(described.iter().any(|d| d == "Keep last 1 image tagged v*"), "{described:?}");
    let ten = generate(&PolicyParams { keep_tagged: 10, ..PolicyParams::default() });
    let ten = ten.unwrap_or_else(|e| panic!("{e}"));
    assert!(ten.rules.iter().any(|r| r.description.as_deref() == Some("Keep last 10 images tagged v*")));
}

#[test]
fn a_key_given_twice_is_refused_in_authored_text_and_named() {
    let text = r#"{"rules":[{"rulePriority":1,"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}"#;
    // What ECR hands back is read as it is; what a person wrote is checked.
    assert!(parse_policy(text).is_ok());
    let err = parse_authored_policy(text).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("the key \"rulePriority\" appears twice in one object"), "{err}");
    // The same keys in different objects are fine.
    let ok = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}},
                          {"rulePriority":2,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}"#;
    assert!(parse_authored_policy(ok).is_ok());
}

#[test]
fn a_star_in_a_tag_prefix_is_noted_as_literal() {
    let text = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["v*","rc"],"countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}"#;
    let policy = parse_policy(text).unwrap_or_else(|e| panic!("{e}"));
    let notes = policy_notes(&policy);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("rule 1: tagPrefixList \"v*\" is a literal prefix"), "{notes:?}");
    let plain = parse_policy(&text.replace("v*", "v")).unwrap_or_else(|e| panic!("{e}"));
    assert!(policy_notes(&plain).is_empty());
}

#[test]
fn a_keep_rule_behind_a_protected_pattern_and_an_archive_expiry_without_archiving_are_noted() {
    let params = PolicyParams {
        tag_prefixes: vec!["v".into(), "release".into()],
        tag_patterns: vec!["va*-rc".into(), "*-rc".into()],
        protected: vec!["v*".into()],
        ..PolicyParams::default()
    };
    let notes = generation_notes(&params);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].starts_with("--tag-prefix v: every tag it selects also matches --protect v*"), "{notes:?}");
    assert!(notes[1].starts_with("--tag-pattern va*-rc:"), "{notes:?}");
    // A protected pattern that covers only part of a selection shields nothing.
    let partial = PolicyParams { protected: vec!["v1*".into(), "latest".into()], ..params.clone() };
    assert!(generation_notes(&partial).is_empty(), "{:?}", generation_notes(&partial));

    let archived = PolicyParams { expire_archived_after_days: Some(120), ..PolicyParams::default() };
    let notes = generation_notes(&archived);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("--expire-archived-after-days 120: no rule of this policy archives"), "{notes:?}");
    let with_archive = PolicyParams { archive_after_days: Some(30), ..archived };
    assert!(generation_notes(&with_archive).is_empty());
}
