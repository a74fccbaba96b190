//! Reads what the cost report needs: per repository its lifecycle policy, its images (1,000 a
//! page) and their manifests (BatchGetImage, 100 a call); the registry scanning once; the
//! previous total from CloudWatch.

use super::{
    account_repository, parse_manifest, CostContext, CostReport, Manifest, NotRead, OwnPolicy, Prices, RepositoryCost,
    Scanning,
};
use crate::lifecycle::{parse_policy, LifecyclePolicy};
use crate::metrics::{names, MetricsError, MetricsSink};
use crate::ports::{MetricsStore, Registry, RegistryError, RegistryReads};
use crate::repository::Repository;
use crate::run::{run_in_process, Job, Outcome, RunContext};
use crate::scanning::ScanFrequency;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct CostOptions {
    pub region: String,
    pub repository_prefix: Option<String>,
    pub concurrency: usize,
    pub top: usize,
    pub prices: Prices,
    /// The N of the projection "archive after N days without a pull".
    pub archive_projection_days: u32,
    /// When to stop reading: the repositories left are reported as not reached, and the report
    /// still goes out (a Lambda's time, less what writing the report takes). `None`: no limit.
    pub deadline: Option<tokio::time::Instant>,
}

/// Pulls older than a month are what most teams call "not used".
pub const DEFAULT_ARCHIVE_PROJECTION_DAYS: u32 = 30;

impl Default for CostOptions {
    fn default() -> Self {
        CostOptions {
            region: String::new(),
            repository_prefix: None,
            concurrency: crate::run::DEFAULT_CONCURRENCY,
            top: 10,
            prices: Prices::default(),
            archive_projection_days: DEFAULT_ARCHIVE_PROJECTION_DAYS,
            deadline: None,
        }
    }
}

/// How far back the previous report's total is looked for (the report runs weekly).
const PREVIOUS_WINDOW: Duration = Duration::days(35);

/// The cost report as a scheduled-run job.
#[derive(Debug, Clone)]
pub struct CostJob {
    pub standard: LifecyclePolicy,
    pub prices: Prices,
    pub top: usize,
    /// The total the previous report published, if any.
    pub previous_total: Option<f64>,
    pub archive_projection_days: u32,
}

impl CostJob {
    /// The job as `options` set it, projecting `standard` where a repository has no policy.
    pub fn new(standard: &LifecyclePolicy, options: &CostOptions, previous_total: Option<f64>) -> Self {
        CostJob {
            standard: standard.clone(),
            prices: options.prices,
            top: options.top,
            previous_total,
            archive_projection_days: options.archive_projection_days,
        }
    }

    fn context(&self, cx: &RunContext) -> CostContext {
        let scanning = if cx.scanning.enhanced {
            Scanning::Enhanced {
                continuous: cx.scanning.rules.iter().any(|r| r.frequency == ScanFrequency::ContinuousScan),
            }
        } else {
            Scanning::Basic
        };
        CostContext {
            standard: self.standard.clone(),
            scanning,
            prices: self.prices,
            now: cx.now,
            archive_projection_days: self.archive_projection_days,
        }
    }
}

impl Job for CostJob {
    const NAME: &'static str = "cost";
    type Done = RepositoryCost;
    type Report = CostReport;

    // Reads only: the cost report's role holds no ECR write.
    async fn repository<R: RegistryReads>(
        &self,
        registry: &R,
        repo: &Repository,
        cx: &RunContext,
    ) -> Result<RepositoryCost, RegistryError> {
        account(registry, repo, &self.context(cx)).await
    }

    fn report(&self, outcomes: Vec<(Repository, Outcome<RepositoryCost>)>, cx: &RunContext) -> CostReport {
        let mut costs = Vec::new();
        let mut not_read = Vec::new();
        for (repo, outcome) in outcomes {
            match outcome {
                Outcome::Done { result } => costs.push(result),
                Outcome::NotReached => {
                    not_read.push(NotRead { name: repo.name, reason: "not reached before the deadline".into() })
                }
                Outcome::ReadFailed { reason } => not_read.push(NotRead { name: repo.name, reason }),
            }
        }
        let mut report = CostReport::new(costs, &cx.region, self.prices, self.top, self.previous_total, cx.now);
        report.not_read = not_read;
        report.registry_id = cx.registry_id.clone();
        report
    }
}

/// The report in this process. Listing the repositories and reading the registry scanning must
/// succeed; a repository that cannot be read is listed under `notRead`.
pub async fn cost_report<R: Registry, S: MetricsStore>(
    registry: &R,
    store: Option<&S>,
    options: &CostOptions,
    standard: &LifecyclePolicy,
    now: DateTime<Utc>,
) -> Result<CostReport, RegistryError> {
    let previous_total = match store {
        Some(store) => previous_total(store, now).await,
        None => None,
    };
    let job = CostJob::new(standard, options, previous_total);
    run_in_process(
        &job,
        registry,
        options.repository_prefix.as_deref(),
        &options.region,
        options.concurrency,
        options.deadline,
        now,
    )
    .await
}

/// The total the previous report published to CloudWatch, if any in the last five weeks.
pub async fn previous_total<S: MetricsStore>(store: &S, now: DateTime<Utc>) -> Option<f64> {
    // EndTime is exclusive (and whole seconds): a minute of margin includes a total published
    // moments ago.
    match store.latest_value(names::ESTIMATED_MONTHLY_COST_USD, now - PREVIOUS_WINDOW, now + Duration::minutes(1)).await
    {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "the previous total could not be read; the report shows no change");
            None
        }
    }
}

async fn account<R: RegistryReads>(
    registry: &R,
    repo: &Repository,
    cx: &CostContext,
) -> Result<RepositoryCost, RegistryError> {
    let name = repo.name.as_str();
    let (policy_text, mut images) =
        tokio::try_join!(registry.get_lifecycle_policy(name), registry.describe_images(name))?;
    let mut digests: Vec<String> = images.iter().map(|i| i.digest.clone()).collect();
    digests.sort();
    digests.dedup();
    let manifests: HashMap<String, Manifest> = registry
        .get_manifests(name, &digests)
        .await?
        .into_iter()
        .map(|(digest, media_type, text)| (digest, parse_manifest(media_type.as_deref(), &text)))
        .collect();
    let parsed = policy_text.map(|text| parse_policy(&text));
    let policy = match &parsed {
        None => OwnPolicy::None,
        Some(Ok(p)) => OwnPolicy::Valid(p),
        Some(Err(e)) => {
            tracing::warn!(repository = %name, error = %e, "the lifecycle policy does not parse: costed as expiring nothing");
            OwnPolicy::Invalid
        }
    };
    Ok(account_repository(name, &mut images, &manifests, policy, cx))
}

/// Publishes the report's metrics and rewrites the dashboard `dashboard` (the function's is
/// named after its stack, so two stacks in one account and region keep their own).
/// Only the repositories `selected` names get metrics of their own; the others are in the totals
/// and, on the dashboard, in a table of the report's most expensive.
pub async fn publish<K: MetricsSink, S: MetricsStore>(
    report: &CostReport,
    sink: &K,
    store: &S,
    dashboard: &str,
    selected: &crate::metrics::RepositoryMetrics,
) -> Result<(), MetricsError> {
    sink.publish(&selected.select(report.metrics())).await?;
    store.put_dashboard(dashboard, &report.dashboard_body(&report.region, selected)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CostConfig;
    use crate::cost::money;
    use crate::image::Image;
    use crate::testing::{ecr_defaults, InMemoryMetricsStore, InMemoryRegistry, RecordingSink};
    use chrono::TimeZone;
    use serde_json::json;

    const GIB: u64 = 1 << 30;

    /// Exact money, up to floating-point noise.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().unwrap_or_default()
    }

    /// Image `k` of a repository: a shared 1 GiB base layer and a 1 GiB layer of its own.
    fn pushed(registry: &InMemoryRegistry, repo: &str, k: usize) {
        let digest = format!("sha256:{repo}-{k}");
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"digest": format!("sha256:config-{repo}-{k}"), "size": 0},
            "layers": [{"digest": "sha256:base", "size": GIB}, {"digest": format!("sha256:own-{repo}-{k}"), "size": GIB}],
        });
        registry
            .with_image(repo, Image::new(&digest, &[&format!("v{k}")], now() - Duration::days(30 - k as i64), 2 * GIB))
            .with_manifest(repo, &digest, Some("application/vnd.oci.image.manifest.v1+json"), &manifest.to_string());
    }

    /// GIVEN one repository without a policy holding 25 release images
    fn registry() -> InMemoryRegistry {
        let registry = InMemoryRegistry::new();
        registry.with_repository("app", ecr_defaults(), &[]);
        for k in 0..25 {
            pushed(&registry, "app", k);
        }
        registry
    }

    fn config(vars: &[(&str, &str)]) -> CostConfig {
        CostConfig::from_env(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn the_projection_follows_keeper_standard_settings() {
        let registry = registry();
        // WHEN the report runs with the default standard and with KEEPER_STANDARD_KEEP_TAGGED=20
        for (vars, kept) in [(vec![], 10), (vec![("KEEPER_STANDARD_KEEP_TAGGED", "20")], 20)] {
            let c = config(&vars);
            let report = cost_report(&registry, None::<&InMemoryMetricsStore>, &c.options, &c.standard, now())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            // THEN the standard's count of images is kept, and shared layers count once
            let app = &report.repositories[0];
            assert_eq!(app.unique_bytes, 26 * GIB, "25 own layers and the shared base, once");
            let projected = app.with_standard_policy.as_ref().unwrap_or_else(|| panic!("no projection"));
            assert_eq!(projected.images_kept, kept, "{vars:?}");
            assert_eq!(projected.unique_bytes, (kept as u64 + 1) * GIB);
            assert!(
                close(report.total.standard_policy_savings_usd, (25 - kept) as f64 * 0.10),
                "{} != {}",
                report.total.standard_policy_savings_usd,
                (25 - kept) as f64 * 0.10
            );
        }
    }

    /// 100 build images of 500 MiB each (no layer shared), 90 of them last pulled 31 days ago.
    fn builds() -> InMemoryRegistry {
        const MIB500: u64 = 500 << 20;
        let registry = InMemoryRegistry::new();
        registry.with_repository("builds", ecr_defaults(), &[]);
        for k in 0..100 {
            let digest = format!("sha256:build-{k}");
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"digest": format!("sha256:config-{k}"), "size": 0},
                "layers": [{"digest": format!("sha256:layer-{k}"), "size": MIB500}],
            });
            let mut image = Image::new(&digest, &[&format!("build-{k}")], now() - Duration::days(200), MIB500);
            let pulled_days_ago = if k < 90 { 31 } else { 1 };
            image.last_pulled_at = Some(now() - Duration::days(pulled_days_ago));
            registry.with_image("builds", image).with_manifest(
                "builds",
                &digest,
                Some("application/vnd.oci.image.manifest.v1+json"),
                &manifest.to_string(),
            );
        }
        registry
    }

    #[tokio::test]
    async fn archive_after_30_days_without_a_pull_is_priced_with_its_90_day_minimum() {
        let registry = builds();
        let archived_gib = 90.0 * 500.0 / 1024.0;
        // WHEN priced at the list price (archive = standard below 150 TB) and at the $0.07 tier
        for (archive_price, vars) in [(0.10, vec![]), (0.07, vec![("KEEPER_ARCHIVE_PRICE_PER_GB_MONTH", "0.07")])] {
            let c = config(&vars);
            let report = cost_report(&registry, None::<&InMemoryMetricsStore>, &c.options, &c.standard, now())
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            // THEN exactly the 90 unpulled images would be archived, and the savings are the
            // price difference; the 90-day minimum and a restore are priced beside them
            let a = report.repositories[0].with_archive.clone().unwrap_or_else(|| panic!("no archive projection"));
            assert_eq!((a.after_days_without_pull, a.images, a.unique_bytes), (30, 90, 90 * (500 << 20)));
            assert!(close(a.monthly_savings_usd, archived_gib * (0.10 - archive_price)), "{archive_price}");
            assert!(
                close(a.minimum_charge_usd, archived_gib * archive_price * 3.0),
                "{} != {}",
                a.minimum_charge_usd,
                archived_gib * archive_price * 3.0
            );
            assert!(close(a.restore_all_usd, archived_gib * 0.03), "{} != {}", a.restore_all_usd, archived_gib * 0.03);
            assert_eq!(report.total.archive_projection_savings_usd, a.monthly_savings_usd);
            let md = report.to_markdown();
            assert!(md.contains("## With archive after 30 days without a pull"), "{md}");
            assert_eq!(md.contains("archiving saves nothing"), archive_price >= 0.10, "{md}");
        }
        // A shorter projection catches nothing more: the other 10 were pulled yesterday.
        let mut options = config(&[]).options;
        options.archive_projection_days = 60;
        let report = cost_report(&registry, None::<&InMemoryMetricsStore>, &options, &config(&[]).standard, now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.repositories[0].with_archive.is_none(), "nothing unpulled for 60 days");
    }

    #[tokio::test]
    async fn a_policy_that_archives_is_projected_at_the_archive_price() {
        let registry = builds();
        // The repository's own policy archives after 30 days without a pull: what it moves is
        // still paid for, at the archive price.
        let params = crate::lifecycle::PolicyParams {
            tag_prefixes: vec!["v".into()],
            archive_after_days: Some(30),
            expire_archived_after_days: Some(90),
            ..Default::default()
        };
        let policy = crate::lifecycle::generate(&params).map(|p| p.to_json()).unwrap_or_default();
        registry.with_lifecycle_policy("builds", &policy);
        let c = config(&[("KEEPER_ARCHIVE_PRICE_PER_GB_MONTH", "0.07")]);
        let report = cost_report(&registry, None::<&InMemoryMetricsStore>, &c.options, &c.standard, now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let r = &report.repositories[0];
        assert!(r.with_archive.is_none(), "the policy archives already");
        let kept_gib = 10.0 * 500.0 / 1024.0;
        let archived_gib = 90.0 * 500.0 / 1024.0;
        assert!(
            close(r.projected_monthly_cost_usd, kept_gib * 0.10 + archived_gib * 0.07),
            "{} != {}",
            r.projected_monthly_cost_usd,
            kept_gib * 0.10 + archived_gib * 0.07
        );
    }

    #[tokio::test]
    async fn a_repository_with_its_own_policy_is_projected_by_it() {
        let registry = registry();
        registry.with_lifecycle_policy(
            "app",
            r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#,
        );
        let c = config(&[]);
        let report = cost_report(&registry, None::<&InMemoryMetricsStore>, &c.options, &c.standard, now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let app = &report.repositories[0];
        assert!(app.has_lifecycle_policy && app.with_standard_policy.is_none());
        assert!(close(app.savings_usd, 20.0 * 0.10), "{} != {}", app.savings_usd, 20.0 * 0.10);
    }

    #[tokio::test]
    async fn the_previous_total_is_read_back_and_published_with_the_dashboard() {
        let registry = registry();
        let store = InMemoryMetricsStore::default().with_value(names::ESTIMATED_MONTHLY_COST_USD, 1.0);
        let c = config(&[("KEEPER_COST_DASHBOARD", "apps-costs")]);
        let report = cost_report(&registry, Some(&store), &c.options, &c.standard, now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.previous_total, Some(1.0));
        assert!(
            report.change_since_previous_usd.is_some_and(|c| close(c, 2.6 - 1.0)),
            "{:?}",
            report.change_since_previous_usd
        );
        let sink = RecordingSink::default();
        let all = crate::metrics::RepositoryMetrics::All;
        publish(&report, &sink, &store, &c.dashboard, &all).await.unwrap_or_else(|e| panic!("{e}"));
        let total =
            sink.metrics().into_iter().find(|m| m.name == names::ESTIMATED_MONTHLY_COST_USD && m.dimensions.is_empty());
        assert_eq!(total.map(|m| m.value), Some(2.6), "the registry total, beside the per-repository one");
        assert!(store.dashboard("apps-costs").is_some_and(|d| d.contains("app")));

        // By default: the four totals alone, and the dashboard names the top repositories in text
        let sink = RecordingSink::default();
        let none = crate::metrics::RepositoryMetrics::None;
        publish(&report, &sink, &store, &c.dashboard, &none).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sink.metrics().len(), 4, "{:?}", sink.metrics());
        assert!(sink.metrics().iter().all(|m| m.dimensions.is_empty()));
        let body = store.dashboard("apps-costs").unwrap_or_default();
        assert!(body.contains("| app |") && !body.contains("\"Repository\""), "{body}");
    }

    #[tokio::test]
    async fn many_small_repositories_add_up_to_their_real_cost() {
        // GIVEN 30 repositories of 38 MiB each (1.1 GiB in all), each a fraction of a cent a month
        let registry = InMemoryRegistry::new();
        for r in 0..30 {
            let name = format!("small-{r:02}");
            registry.with_repository(&name, ecr_defaults(), &[]);
            registry.with_image(&name, Image::new(format!("sha256:{name}"), &["v1"], now(), 38 << 20));
        }
        let c = config(&[]);
        let report = cost_report(&registry, None::<&InMemoryMetricsStore>, &c.options, &c.standard, now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // THEN the total is the exact sum ($0.11), not the sum of rounded cents ($0.00)
        let exact = 30.0 * (38.0 / 1024.0) * 0.10;
        assert!(close(report.total.monthly_cost_usd, exact), "{}", report.total.monthly_cost_usd);
        let md = report.to_markdown();
        assert!(md.contains("**$0.11/month**"), "{md}");
        // AND each repository shows a real amount, never $0.00 beside real bytes
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| small-") && l.contains("| 38.0 MiB |")).collect();
        assert_eq!(rows.len(), 30, "{md}");
        assert!(rows.iter().all(|r| r.contains("| 38.0 MiB | < $0.01 |")), "{md}");
        assert_eq!(
            (money(0.004), money(0.0), money(0.111), money(-0.001)),
            ("< $0.01".into(), "$0.00".into(), "$0.11".into(), "> -$0.01".into())
        );
    }

    #[tokio::test]
    async fn an_invalid_policy_is_said_and_expires_nothing() {
        // GIVEN a repository whose policy ECR's grammar refuses (the audit's LC-2 fails)
        let registry = registry();
        registry
            .with_lifecycle_policy("app", r#"{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged"}}]}"#);
        let c = config(&[]);
        let report = cost_report(&registry, None::<&InMemoryMetricsStore>, &c.options, &c.standard, now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        // THEN it is "invalid policy", projected as ECR would (nothing expires), with no standard
        let app = &report.repositories[0];
        assert!(app.invalid_lifecycle_policy && app.with_standard_policy.is_none());
        assert!(close(app.projected_monthly_cost_usd, app.monthly_cost_usd));
        assert!(report.to_markdown().contains("| invalid policy (expires nothing) |"), "{}", report.to_markdown());
    }

    #[tokio::test]
    async fn a_repository_that_cannot_be_read_is_named_and_the_others_are_costed() {
        let registry = registry();
        registry.failing("BatchGetImage", None, RegistryError::Throttled { operation: "BatchGetImage" }, None);
        let c = config(&[]);
        let report = cost_report(&registry, None::<&InMemoryMetricsStore>, &c.options, &c.standard, now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.repositories.is_empty(), "{report:?}");
        assert!(!report.not_read.is_empty(), "{report:?}");
        assert!(report.not_read.iter().all(|n| n.reason.contains("BatchGetImage")), "{:?}", report.not_read);
    }

    #[tokio::test]
    async fn listing_failure_fails_the_report() {
        let registry = registry();
        registry.failing(
            "DescribeRepositories",
            None,
            RegistryError::Throttled { operation: "DescribeRepositories" },
            None,
        );
        let c = config(&[]);
        let result = cost_report(&registry, None::<&InMemoryMetricsStore>, &c.options, &c.standard, now()).await;
        assert!(matches!(result, Err(RegistryError::Throttled { .. })), "{result:?}");
    }
}
