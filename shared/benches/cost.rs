//! Storage accounting at ECR's per-repository maximum: 100,000 images sharing layers.
//!
//! Run: `cargo bench -p ecr-keeper-core --bench cost`. Each iteration accounts the repository
//! (unique blobs), projects it under its own policy, and (for the no-policy case) under the
//! standard policy — two simulations and three de-duplications.

use chrono::{Duration, TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ecr_keeper_core::cost::{account_repository, Blob, CostContext, Manifest, OwnPolicy, Prices, Scanning};
use ecr_keeper_core::image::Image;
use ecr_keeper_core::lifecycle::{generate, PolicyParams};
use std::collections::HashMap;

const IMAGES: usize = 100_000;

/// Every image: 2 of 20 shared base layers, 1 of 500 dependency layers, 2 of its own, a config.
fn repository() -> (Vec<Image>, HashMap<String, Manifest>) {
    let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
    let mut images = Vec::with_capacity(IMAGES);
    let mut manifests = HashMap::with_capacity(IMAGES);
    for k in 0..IMAGES {
        let digest = format!("sha256:{k:064x}");
        let blob = |name: String, size: u64| Blob { digest: format!("sha256:{name:0>64}"), size };
        let blobs = vec![
            blob(format!("c{k}"), 1_500),
            blob(format!("b{}", k % 20), 30_000_000),
            blob(format!("b{}", (k / 20) % 20), 25_000_000),
            blob(format!("d{}", k % 500), 5_000_000),
            blob(format!("o{k}"), 2_000_000),
            blob(format!("p{k}"), 500_000),
        ];
        let tag = match k % 4 {
            0 => None,
            1 => Some(format!("v{}.{}", k / 1000, k % 1000)),
            2 => Some(format!("main-{k:07x}")),
            _ => Some(format!("release-{k}")),
        };
        let tags: Vec<&str> = tag.iter().map(String::as_str).collect();
        images.push(Image::new(&digest, &tags, now - Duration::minutes(k as i64 * 7), 62_001_500));
        manifests.insert(digest, Manifest::Image { blobs });
    }
    (images, manifests)
}

fn bench(c: &mut Criterion) {
    let (images, manifests) = repository();
    let standard = generate(&PolicyParams::default()).unwrap_or_else(|e| panic!("{e}"));
    let own = generate(&PolicyParams {
        keep_tagged: 50,
        tag_prefixes: vec!["v".into(), "release-".into()],
        ..PolicyParams::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let cx = CostContext {
        standard,
        scanning: Scanning::Basic,
        prices: Prices::default(),
        now: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default(),
        archive_projection_days: ecr_keeper_core::cost::DEFAULT_ARCHIVE_PROJECTION_DAYS,
    };
    let mut group = c.benchmark_group("cost");
    group.sample_size(10);
    group.bench_function("account 100k images with a policy", |b| {
        b.iter(|| {
            let mut working = images.clone();
            black_box(account_repository("bench", &mut working, black_box(&manifests), OwnPolicy::Valid(&own), &cx))
        })
    });
    group.bench_function("account 100k images without a policy (standard projection)", |b| {
        b.iter(|| {
            let mut working = images.clone();
            black_box(account_repository("bench", &mut working, black_box(&manifests), OwnPolicy::None, &cx))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
