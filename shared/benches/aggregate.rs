//! The organization run's aggregate (`settle_organization`) over synthetic shard results: its
//! peak memory as the organization grows, for the README's claim that it does not grow with the
//! repositories.
//!
//! Run: `make bench-aggregate` (1 and 100 registries of 1,000 repositories each), or one size:
//! `cargo bench -p ecr-keeper-core --features test-util --bench aggregate -- --registries 100
//! --repositories 1000`. Prints one JSON line: the sizes, the bytes the aggregate wrote, and
//! the process's peak resident memory (`VmHWM`, Linux), which is what a Lambda function's memory
//! size must hold.
//!
//! The store is synthetic: it makes each shard's result when the aggregate reads it (a copy of
//! one repository's real audit result, renamed) and counts what is written without keeping it,
//! so the measured memory is the aggregate's own, not the store's.

use chrono::{DateTime, TimeZone, Utc};
use ecr_keeper_core::audit::{AuditJob, AuditSettings, Remediation, RunInputs};
use ecr_keeper_core::findings::FindingsPolicy;
use ecr_keeper_core::image::Image;
use ecr_keeper_core::metrics::RepositoryMetrics;
use ecr_keeper_core::organization::{settle_organization, Keeping, KeptInStore, OrganizationPlan, PlannedTarget};
use ecr_keeper_core::run::{
    context_key, pass_index_key, shard_key, Job, ReportStore, RunContext, RunSettings, RunState, Settled, ShardRef,
    StoreError, Target,
};
use ecr_keeper_core::testing::{ecr_defaults, InMemoryRegistry};
use std::sync::atomic::{AtomicU64, Ordering};

const SHARD: usize = 50;
const RUN: &str = "bench";
/// The template repository's name, replaced in each copy.
const TEMPLATE: &str = "template-repository";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default()
}

struct Shape {
    registries: usize,
    repositories: usize,
}

impl Shape {
    fn shards_per_registry(&self) -> usize {
        self.repositories.div_ceil(SHARD)
    }

    fn account(registry: usize) -> String {
        format!("{:012}", 100_000_000_000u64 + registry as u64)
    }
}

/// Makes what the plan and the shards would have written, on demand.
struct SyntheticStore {
    shape: Shape,
    plan: String,
    index: String,
    /// One shard's result JSON for registry 0, shard 0, with `TEMPLATE-<n>` names and account 0.
    repository: (String, String),
    written: AtomicU64,
    puts: AtomicU64,
}

impl SyntheticStore {
    fn shard(&self, shard: usize) -> String {
        let per = self.shape.shards_per_registry();
        let (registry, within) = (shard / per, shard % per);
        let account = Shape::account(registry);
        let first = within * SHARD;
        let last = (first + SHARD).min(self.shape.repositories);
        let (repository, outcome) = &self.repository;
        let outcomes: Vec<String> = (first..last)
            .map(|i| {
                let name = format!("svc-{i:06}");
                let repository = repository.replace(TEMPLATE, &name).replace(&Shape::account(0), &account);
                let outcome = outcome.replace(TEMPLATE, &name).replace(&Shape::account(0), &account);
                format!("[{repository},{outcome}]")
            })
            .collect();
        format!("{{\"shard\":{shard},\"pass\":1,\"outcomes\":[{}]}}", outcomes.join(","))
    }
}

impl ReportStore for SyntheticStore {
    async fn put(&self, _key: &str, body: Vec<u8>, _content_type: &'static str) -> Result<(), StoreError> {
        self.written.fetch_add(body.len() as u64, Ordering::Relaxed);
        self.puts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        if key == context_key("audit", RUN) {
            return Ok(Some(self.plan.clone()));
        }
        if key == pass_index_key("audit", RUN, 1) {
            return Ok(Some(self.index.clone()));
        }
        let shards = self.shape.registries * self.shape.shards_per_registry();
        Ok((0..shards).find(|s| key == shard_key("audit", RUN, *s)).map(|s| self.shard(s)))
    }
}

/// One repository's real audit result (a registry with ten images, no lifecycle policy, no
/// scan on push: several checks fail), and the context it was read in.
async fn template(settings: &AuditSettings, inputs: &RunInputs) -> (String, String, RunContext) {
    let registry = InMemoryRegistry::new();
    registry.with_repository(TEMPLATE, ecr_defaults(), &[]);
    for k in 0..10 {
        let tag = format!("v1.{k}");
        let image =
            Image::new(format!("sha256:{k:064x}"), &[tag.as_str()], now() - chrono::Duration::days(k * 9), 80 << 20);
        registry.with_image(TEMPLATE, image);
    }
    let (cx, repositories) = RunContext::read(&registry, None, "us-east-1", now(), true)
        .await
        .unwrap_or_else(|e| panic!("the template registry: {e}"));
    let mut repository = repositories.into_iter().next().unwrap_or_else(|| panic!("no template repository"));
    repository.registry_id = Shape::account(0);
    repository.arn = format!("arn:aws:ecr:us-east-1:{}:repository/{TEMPLATE}", Shape::account(0));
    let job = AuditJob { settings, remediation: Remediation::default(), inputs };
    let done = job.repository(&registry, &repository, &cx).await.unwrap_or_else(|e| panic!("{e}"));
    let outcome = serde_json::json!({"outcome": "done", "result": done}).to_string();
    (serde_json::to_string(&repository).unwrap_or_default(), outcome, cx)
}

fn peak_resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    let value = args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    match value {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| panic!("{name}: \"{v}\" is not a count")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let shape = Shape { registries: arg(&args, "--registries", 1), repositories: arg(&args, "--repositories", 1000) };
    let audit_settings = audit_settings();
    let inputs = RunInputs::default();
    let (repository, outcome, cx) = template(&audit_settings, &inputs).await;
    let regions = vec!["us-east-1".to_string()];
    let targets: Vec<PlannedTarget> = (0..shape.registries)
        .map(|r| PlannedTarget {
            account: Shape::account(r),
            region: "us-east-1".into(),
            context: Some(RunContext { registry_id: Shape::account(r), ..cx.clone() }),
            error: None,
        })
        .collect();
    let plan = OrganizationPlan { now: now(), role_name: "ecr-keeper-member".into(), regions, targets };
    let index: Vec<ShardRef> = (0..shape.registries * shape.shards_per_registry())
        .map(|shard| ShardRef {
            shard,
            target: Some(Target {
                account: Shape::account(shard / shape.shards_per_registry()),
                region: "us-east-1".into(),
            }),
        })
        .collect();
    let per_repository = outcome.len() + repository.len();
    let store = SyntheticStore {
        plan: serde_json::to_string(&plan).unwrap_or_default(),
        index: serde_json::to_string(&index).unwrap_or_default(),
        repository: (repository, outcome),
        shape,
        written: AtomicU64::new(0),
        puts: AtomicU64::new(0),
    };
    drop(plan);
    let state = RunState {
        job: "audit".into(),
        run_id: RUN.into(),
        bucket: "bench".into(),
        pass: 1,
        items_key: String::new(),
        shards: index.len(),
        repositories: store.shape.registries * store.shape.repositories,
        max_concurrency: 10,
        tolerated_failure_percentage: 0,
        done: false,
        complete: None,
        report_keys: Vec::new(),
        organization: true,
    };
    drop(index);
    let settings = RunSettings { bucket: "bench".into(), ..RunSettings::default() };
    let job = AuditJob { settings: &audit_settings, remediation: Remediation::default(), inputs: &inputs };
    let before = peak_resident_kib();
    let none = RepositoryMetrics::None;
    let kept = KeptInStore { store: &store, job: AuditJob::NAME };
    let keeping = Keeping { reports: &kept, repository_metrics: &none };
    let settled = settle_organization(&job, &store, &settings, &state, keeping).await;
    let report = match settled {
        Ok(Settled::Final(report)) => report,
        Ok(Settled::NextPass(_)) => panic!("every synthetic repository is done: no second pass"),
        Err(e) => panic!("{e}"),
    };
    let index_bytes = serde_json::to_string(&report).map(|t| t.len()).unwrap_or_default();
    assert_eq!(report.totals.repositories, state.repositories, "every repository counted");
    let peak = peak_resident_kib();
    println!(
        "{}",
        serde_json::json!({
            "registries": store.shape.registries,
            "repositoriesPerRegistry": store.shape.repositories,
            "repositories": state.repositories,
            "shardResultBytesPerRepository": per_repository,
            "writtenBytes": store.written.load(Ordering::Relaxed),
            "puts": store.puts.load(Ordering::Relaxed),
            "indexBytes": index_bytes,
            "peakResidentKiBBeforeAggregate": before,
            "peakResidentKiB": peak,
        })
    );
}

fn audit_settings() -> AuditSettings {
    AuditSettings { standard: None, findings: FindingsPolicy::default(), require_kms: false, scanner_roles: Vec::new() }
}
