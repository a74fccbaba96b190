//! Lifecycle simulation at ECR's per-repository maximum: 100,000 images against a 10-rule policy.
//!
//! Run: `cargo bench -p ecr-keeper-core --bench simulate`. Throughput is reported in
//! image×rule evaluations per second (100,000 × 10 per iteration).

use chrono::{Duration, TimeZone, Utc};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ecr_keeper_core::image::Image;
use ecr_keeper_core::lifecycle::{parse_policy, simulate, LifecyclePolicy};

const IMAGES: usize = 100_000;

fn ten_rule_policy() -> LifecyclePolicy {
    let text = r#"{"rules":[
      {"rulePriority":1,"selection":{"tagStatus":"tagged","tagPatternList":["latest"],"countType":"imageCountMoreThan","countNumber":9999},"action":{"type":"expire"}},
      {"rulePriority":2,"selection":{"tagStatus":"tagged","tagPatternList":["prod-*"],"countType":"imageCountMoreThan","countNumber":9999},"action":{"type":"expire"}},
      {"rulePriority":3,"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":50},"action":{"type":"expire"}},
      {"rulePriority":4,"selection":{"tagStatus":"tagged","tagPrefixList":["release-"],"countType":"imageCountMoreThan","countNumber":20},"action":{"type":"expire"}},
      {"rulePriority":5,"selection":{"tagStatus":"tagged","tagPatternList":["*-rc*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":30},"action":{"type":"expire"}},
      {"rulePriority":6,"selection":{"tagStatus":"tagged","tagPatternList":["feature-*-*"],"countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}},
      {"rulePriority":7,"selection":{"tagStatus":"tagged","tagPatternList":["main-*"],"countType":"imageCountMoreThan","countNumber":30},"action":{"type":"expire"}},
      {"rulePriority":8,"selection":{"tagStatus":"tagged","tagPatternList":["hotfix*","*fix*"],"countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}},
      {"rulePriority":9,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":7},"action":{"type":"expire"}},
      {"rulePriority":10,"selection":{"tagStatus":"any","countType":"sinceImagePushed","countUnit":"days","countNumber":365},"action":{"type":"expire"}}]}"#;
    parse_policy(text).unwrap_or_else(|e| panic!("benchmark policy must be valid: {e}"))
}

/// A busy repository: semver releases, release branches, release candidates, feature builds,
/// main builds, hotfixes, prod promotions and untagged rebuilds, pushed over two years.
fn inventory() -> Vec<Image> {
    let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
    (0..IMAGES)
        .map(|k| {
            let tags: Vec<String> = match k % 10 {
                0 => vec![format!("v{}.{}.{}", k / 1000, (k / 10) % 100, k % 7)],
                1 => vec![format!("release-{}", k / 10)],
                2 => vec![format!("v{}.0-rc{}", k / 100, k % 5)],
                3 | 4 => vec![format!("feature-team{}-{k:x}", k % 13)],
                5 => vec![format!("main-{:07x}", k * 2_654_435_761 % 0xfff_ffff)],
                6 => vec![format!("hotfix-{k}"), format!("prod-{k}")],
                7 => Vec::new(),
                8 => vec![format!("sha-{:012x}", k * 40_503)],
                _ => vec![format!("v{}.{}", k / 1000, k % 100), "latest".into()],
            };
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let age = Duration::minutes((k as i64 * 7_919) % (2 * 365 * 24 * 60));
            Image::new(format!("sha256:{k:064x}"), &tags, now - age, 50_000_000)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let policy = ten_rule_policy();
    let images = inventory();
    let now = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default();
    let mut group = c.benchmark_group("lifecycle");
    group.throughput(Throughput::Elements((IMAGES * policy.rules.len()) as u64));
    group.sample_size(30);
    group.bench_function("simulate 100k images x 10 rules", |b| {
        b.iter(|| {
            let plan = simulate(black_box(&policy), black_box(&images), now);
            black_box(plan.summary())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
