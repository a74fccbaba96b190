//! Reads what the cost report needs: per repository its lifecycle policy, its images (1,000 a
//! page) and their manifests (BatchGetImage, 100 a call); the registry scanning once; the
//! previous total from CloudWatch.

use super::{account_repository, parse_manifest, CostContext, CostReport, Manifest, Prices, Scanning};
use crate::lifecycle::{parse_policy, LifecyclePolicy};
use crate::metrics::{names, MetricsError, MetricsSink};
use crate::ports::{MetricsStore, Registry, RegistryError};
use crate::repository::Repository;
use crate::scanning::ScanFrequency;
use chrono::{DateTime, Duration, Utc};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct CostOptions {
    pub region: String,
    pub repository_prefix: Option<String>,
    pub concurrency: usize,
    pub top: usize,
    pub prices: Prices,
}

impl Default for CostOptions {
    fn default() -> Self {
        CostOptions {
            region: String::new(),
            repository_prefix: None,
            concurrency: 8,
            top: 10,
            prices: Prices::default(),
        }
    }
}

/// How far back the previous report's total is looked for (the report runs weekly).
const PREVIOUS_WINDOW: Duration = Duration::days(35);

pub async fn cost_report<R: Registry, S: MetricsStore>(
    registry: &R,
    store: Option<&S>,
    options: &CostOptions,
    standard: &LifecyclePolicy,
    now: DateTime<Utc>,
) -> Result<CostReport, RegistryError> {
    let (repositories, scanning) = tokio::try_join!(
        registry.list_repositories(options.repository_prefix.as_deref()),
        registry.get_registry_scanning()
    )?;
    let scanning = if scanning.enhanced {
        Scanning::Enhanced { continuous: scanning.rules.iter().any(|r| r.frequency == ScanFrequency::ContinuousScan) }
    } else {
        Scanning::Basic
    };
    let cx = CostContext { standard: standard.clone(), scanning, prices: options.prices, now };
    let costs = stream::iter(repositories.iter())
        .map(|repo| account(registry, repo, &cx))
        .buffered(options.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    let previous = match store {
        // EndTime is exclusive (and whole seconds): a minute of margin includes a total published
        // moments ago.
        Some(store) => match store
            .latest_value(names::ESTIMATED_MONTHLY_COST_USD, now - PREVIOUS_WINDOW, now + Duration::minutes(1))
            .await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "the previous total could not be read; the report shows no change");
                None
            }
        },
        None => None,
    };
    Ok(CostReport::new(costs, &options.region, options.prices, options.top, previous, now))
}

async fn account<R: Registry>(
    registry: &R,
    repo: &Repository,
    cx: &CostContext,
) -> Result<super::RepositoryCost, RegistryError> {
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
    let policy = policy_text.and_then(|text| match parse_policy(&text) {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(repository = %name, error = %e, "the lifecycle policy does not parse; costed as if there were none");
            None
        }
    });
    Ok(account_repository(name, &mut images, &manifests, policy.as_ref(), cx))
}

/// Publishes the report's metrics and rewrites the dashboard `dashboard` (the function's is
/// named after its stack, so two stacks in one account and region keep their own).
pub async fn publish<K: MetricsSink, S: MetricsStore>(
    report: &CostReport,
    sink: &K,
    store: &S,
    dashboard: &str,
) -> Result<(), MetricsError> {
    sink.publish(&report.metrics()).await?;
    store.put_dashboard(dashboard, &report.dashboard_body(&report.region)).await
}
