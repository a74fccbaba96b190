//! The cost report on moto: the seed's table exactly, shared layers, manifest lists, unknown
//! media types, empty repositories, metrics and the dashboard through the CloudWatch bridge.

use ecr_keeper_aws::{CloudWatchSink, CloudWatchStore, EcrRegistry};
use ecr_keeper_core::cost::{cost_report, money, publish, CostOptions, CostReport, RepositoryCost, GIB};
use ecr_keeper_core::lifecycle::{generate, LifecyclePolicy, PolicyParams};
use ecr_keeper_core::metrics::RepositoryMetrics;
use ecr_keeper_tests::{seed, CallCounter, LocalAws};

const MIB: u64 = 1 << 20;
const HALF_GIB: u64 = 1 << 29;

fn standard() -> LifecyclePolicy {
    generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn repo<'a>(report: &'a CostReport, name: &str) -> &'a RepositoryCost {
    report.repositories.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("{name} not in the report"))
}

async fn report(aws: &LocalAws, store: Option<&CloudWatchStore>) -> CostReport {
    let registry = EcrRegistry::new(aws.ecr().await);
    let options = CostOptions { region: "us-east-1".into(), top: 3, ..CostOptions::default() };
    cost_report(&registry, store, &options, &standard(), chrono::Utc::now()).await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_seeds_table_for_100_images_of_half_a_gib() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    ecr.create_repository().repository_name("seed-table").send().await.unwrap_or_else(|e| panic!("{e}"));
    let counter = CallCounter::default();
    for k in 1..=100 {
        let manifest = seed::oci_manifest(&format!("cfg-{k}"), &[(&format!("layer-{k}"), HALF_GIB)]);
        seed::push(&ecr, "seed-table", Some(&format!("v{k}")), &manifest).await;
    }
    let registry = EcrRegistry::new(aws.counted_ecr(&counter).await);
    let options = CostOptions { region: "us-east-1".into(), ..CostOptions::default() };
    let report = cost_report(&registry, None::<&CloudWatchStore>, &options, &standard(), chrono::Utc::now())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = repo(&report, "seed-table");
    assert_eq!((r.images, r.tagged_images, r.untagged_images), (100, 100, 0));
    assert!(!r.has_lifecycle_policy);
    // Exact in the report (the images' config bytes count too); rounded once, for people.
    assert_eq!(money(r.monthly_cost_usd), "$5.00");
    let standard = r.with_standard_policy.as_ref().unwrap_or_else(|| panic!("no standard projection"));
    assert_eq!(standard.images_kept, 10);
    assert_eq!(money(standard.projected_monthly_cost_usd), "$0.50");
    assert_eq!(money(standard.savings_usd), "$4.50");
    assert_eq!(money(report.total.standard_policy_savings_usd), "$4.50");
    // BatchGetImage: ceil(100 / 100) calls; DescribeImages: one page.
    let calls = counter.calls();
    assert_eq!(calls.iter().filter(|c| *c == "BatchGetImage").count(), 1, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| *c == "DescribeImages").count(), 1);
    let md = report.to_markdown();
    assert!(md.contains("| seed-table | 100 → 10 | $5.00 | $0.50 | $4.50 |"), "{md}");
}

#[tokio::test(flavor = "multi_thread")]
async fn shared_layers_are_counted_once() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    ecr.create_repository().repository_name("shared").send().await.unwrap_or_else(|e| panic!("{e}"));
    for k in 0..10 {
        let manifest =
            seed::oci_manifest(&format!("cfg-{k}"), &[("base-1gib", 1 << 30), (&format!("own-{k}"), 10 * MIB)]);
        seed::push(&ecr, "shared", Some(&format!("v{k}")), &manifest).await;
    }
    let report = report(&aws, None).await;
    let r = repo(&report, "shared");
    let configs = 10 * 1469;
    assert_eq!(r.unique_bytes, (1 << 30) + 100 * MIB + configs);
    assert_eq!(r.naive_bytes, 10 * ((1 << 30) + 10 * MIB + 1469));
    assert!((r.naive_bytes as f64 / GIB - 10.1).abs() < 0.01, "naive ≈ 10.1 GiB");
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_lists_unknown_media_types_and_empty_repositories() {
    let aws = LocalAws::start();
    let ecr = aws.ecr().await;
    for name in ["multiarch", "empty"] {
        ecr.create_repository().repository_name(name).send().await.unwrap_or_else(|e| panic!("{e}"));
    }
    let amd =
        seed::push(&ecr, "multiarch", None, &seed::oci_manifest("cfg-amd", &[("base", 50 * MIB), ("amd64", 20 * MIB)]))
            .await;
    let arm =
        seed::push(&ecr, "multiarch", None, &seed::oci_manifest("cfg-arm", &[("base", 50 * MIB), ("arm64", 30 * MIB)]))
            .await;
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd, "size": 500, "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": 500, "platform": {"architecture": "arm64", "os": "linux"}}]});
    let list_digest = seed::blob_digest("the-index");
    seed::push_as(
        &ecr,
        "multiarch",
        Some("v1"),
        &index.to_string(),
        "application/vnd.oci.image.index.v1+json",
        Some(&list_digest),
    )
    .await;
    // A schema-1 manifest (a type the report does not read), with layers so moto digests it stably.
    let old = serde_json::json!({"schemaVersion": 1, "layers": [{"digest": seed::blob_digest("old"), "size": 7 * MIB}], "config": {"size": 0}});
    seed::push_as(
        &ecr,
        "multiarch",
        Some("legacy"),
        &old.to_string(),
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        None,
    )
    .await;

    let report = report(&aws, None).await;
    let r = repo(&report, "multiarch");
    assert_eq!(r.images, 4);
    // base once, both platform layers, both configs; the legacy image by its reported size.
    assert_eq!(r.unique_bytes, 50 * MIB + 20 * MIB + 30 * MIB + 2 * 1469 + 7 * MIB);
    assert_eq!(r.unknown_media_types.len(), 1, "{:?}", r.unknown_media_types);
    let json = serde_json::to_value(r).unwrap_or_default();
    assert_eq!(json["unknownMediaTypes"].as_array().map(Vec::len), Some(1));

    let e = repo(&report, "empty");
    assert_eq!((e.images, e.unique_bytes, e.monthly_cost_usd), (0, 0, 0.0));
    assert!(report.to_markdown().contains("1 image has a manifest type this report does not read"));
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_dashboard_land_in_cloudwatch_and_the_next_run_shows_the_change() {
    let aws = LocalAws::start_with_cloudwatch();
    let ecr = aws.ecr().await;
    for (name, layers) in [("big", 4u64), ("medium", 2), ("small", 1), ("tiny", 0)] {
        ecr.create_repository().repository_name(name).send().await.unwrap_or_else(|e| panic!("{e}"));
        for k in 0..layers {
            seed::push(
                &ecr,
                name,
                Some(&format!("v{k}")),
                &seed::oci_manifest(&format!("{name}-cfg-{k}"), &[(&format!("{name}-{k}"), HALF_GIB)]),
            )
            .await;
        }
    }
    let cw = aws.cloudwatch().await;
    let store = CloudWatchStore::new(cw.clone());
    let sink = CloudWatchSink::new(cw.clone());
    let first = report(&aws, Some(&store)).await;
    assert_eq!(first.previous_total, None, "nothing published yet");
    assert_eq!(first.top, ["big", "medium", "small"]);
    publish(&first, &sink, &store, "stack-a-costs", &RepositoryMetrics::All).await.unwrap_or_else(|e| panic!("{e}"));

    let listed = cw.list_metrics().namespace("EcrKeeper").send().await.unwrap_or_else(|e| panic!("{e}"));
    let mut names: Vec<&str> = listed.metrics().iter().filter_map(|m| m.metric_name()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names, ["EstimatedMonthlyCostUsd", "ProjectedMonthlyCostUsd", "StorageBytes", "UniqueStorageBytes"]);
    let dashboard = cw.get_dashboard().dashboard_name("stack-a-costs").send().await.unwrap_or_else(|e| panic!("{e}"));
    let body: serde_json::Value = serde_json::from_str(dashboard.dashboard_body().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not JSON: {e}"));
    let widgets = body["widgets"].as_array().cloned().unwrap_or_default();
    assert_eq!(widgets.len(), 4);
    assert_eq!(widgets[1]["properties"]["title"], "Top 3 repositories by cost (USD/month)");
    assert_eq!(widgets[1]["properties"]["metrics"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        widgets[1]["properties"]["metrics"][0],
        serde_json::json!(["EcrKeeper", "EstimatedMonthlyCostUsd", "Repository", "big"])
    );

    // More images; the next run reads the first run's total back.
    for k in 0..2 {
        seed::push(
            &ecr,
            "tiny",
            Some(&format!("v{k}")),
            &seed::oci_manifest(&format!("tiny-cfg-{k}"), &[(&format!("tiny-{k}"), HALF_GIB)]),
        )
        .await;
    }
    let second = report(&aws, Some(&store)).await;
    assert_eq!(second.previous_total, Some(first.total.monthly_cost_usd));
    assert_eq!(second.change_since_previous_usd.map(money), Some("$0.10".to_string()));
    assert!(second.to_markdown().contains("change +$0.10"), "{}", second.to_markdown());
}
