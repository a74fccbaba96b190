//! Metric names and dimensions, defined once; the `MetricsSink` port; the Embedded Metric
//! Format lines (the default inside Lambda: no API call, no latency, no extra IAM). The writer
//! that prints them lives in `ecr-keeper-aws`.

use serde_json::{json, Map, Value};
use std::future::Future;

pub const NAMESPACE: &str = "EcrKeeper";
pub const DIM_REPOSITORY: &str = "Repository";
pub const DIM_SEVERITY: &str = "Severity";
pub const DIM_CHECK: &str = "Check";
/// An organization run's per-repository metrics: the member account and region.
pub const DIM_ACCOUNT: &str = "Account";
pub const DIM_REGION: &str = "Region";

/// Every metric ecr-keeper emits.
pub mod names {
    pub const IMAGE_PUSHES: &str = "ImagePushes";
    pub const IMAGE_DELETES: &str = "ImageDeletes";
    pub const IMAGE_PUSH_FAILURES: &str = "ImagePushFailures";
    pub const IMAGE_STORAGE_CLASS_CHANGES: &str = "ImageStorageClassChanges";
    pub const SCANS_STARTED: &str = "ScansStarted";
    pub const SCAN_STARTS_SKIPPED: &str = "ScanStartsSkipped";
    /// A member role that may not start scans (read-only, the default): handled, not failed.
    pub const SCAN_STARTS_DENIED: &str = "ScanStartsDenied";
    pub const UNMANAGED_IMAGE_PUSHES: &str = "UnmanagedImagePushes";
    pub const FINDINGS: &str = "Findings";
    pub const IMAGES_SCANNED: &str = "ImagesScanned";
    pub const SCAN_FAILURES: &str = "ScanFailures";
    pub const VULNERABLE_IMAGES: &str = "VulnerableImages";
    pub const INVALID_EVENTS: &str = "InvalidEvents";
    pub const NON_COMPLIANT_REPOSITORIES: &str = "NonCompliantRepositories";
    pub const CHECK_FAILURES: &str = "CheckFailures";
    pub const EXPIRABLE_IMAGES: &str = "ExpirableImages";
    pub const EXPIRABLE_BYTES: &str = "ExpirableBytes";
    pub const OVERDUE_IMAGES: &str = "OverdueImages";
    pub const OVERDUE_BYTES: &str = "OverdueBytes";
    pub const UNMANAGED_IMAGES: &str = "UnmanagedImages";
    pub const UNMANAGED_BYTES: &str = "UnmanagedBytes";
    pub const AUDIT_INCOMPLETE: &str = "AuditIncomplete";
    pub const STORAGE_BYTES: &str = "StorageBytes";
    pub const UNIQUE_STORAGE_BYTES: &str = "UniqueStorageBytes";
    pub const ESTIMATED_MONTHLY_COST_USD: &str = "EstimatedMonthlyCostUsd";
    pub const PROJECTED_MONTHLY_COST_USD: &str = "ProjectedMonthlyCostUsd";
}

/// Metrics alarms watch across all repositories: also published without dimensions.
pub const ALARMED: &[&str] = &[names::VULNERABLE_IMAGES];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::None => "None",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub dimensions: Vec<(&'static str, String)>,
    pub value: f64,
    pub unit: Unit,
}

impl Metric {
    pub fn count(name: &'static str, value: u64) -> Self {
        Metric { name, dimensions: Vec::new(), value: value as f64, unit: Unit::Count }
    }

    pub fn with(mut self, dimension: &'static str, value: impl Into<String>) -> Self {
        self.dimensions.push((dimension, value.into()));
        self
    }

    /// A count per repository.
    pub fn for_repository(name: &'static str, repository: &str, value: u64) -> Self {
        Metric::count(name, value).with(DIM_REPOSITORY, repository)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot write metrics: {0}")]
    Write(String),
    #[error("PutMetricData failed: {0}")]
    Publish(String),
    /// Any other CloudWatch call, named.
    #[error("{operation} failed: {message}")]
    Call { operation: &'static str, message: String },
}

/// Where metrics go.
pub trait MetricsSink: Send + Sync {
    fn publish(&self, metrics: &[Metric]) -> impl Future<Output = Result<(), MetricsError>> + Send;
}

/// EMF allows at most 100 metrics per directive.
const EMF_MAX_METRICS: usize = 100;

/// The EMF lines for `metrics`: metrics sharing the same dimension values share a line.
pub fn emf_lines(metrics: &[Metric], timestamp_ms: u64) -> Vec<String> {
    type Dimensions = Vec<(&'static str, String)>;
    let mut groups: Vec<(&Dimensions, Vec<&Metric>)> = Vec::new();
    for m in metrics {
        match groups
            .iter_mut()
            .find(|(d, ms)| *d == &m.dimensions && ms.len() < EMF_MAX_METRICS && !ms.iter().any(|x| x.name == m.name))
        {
            Some((_, ms)) => ms.push(m),
            None => groups.push((&m.dimensions, vec![m])),
        }
    }
    groups
        .into_iter()
        .map(|(dimensions, ms)| {
            let mut line = Map::new();
            let keys: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
            let mut dimension_sets = vec![keys];
            if !dimensions.is_empty() && ms.iter().any(|m| ALARMED.contains(&m.name)) {
                dimension_sets.push(Vec::new());
            }
            line.insert(
                "_aws".into(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": dimension_sets,
                        "Metrics": ms.iter().map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()})).collect::<Vec<_>>(),
                    }],
                }),
            );
            for (k, v) in dimensions {
                line.insert((*k).into(), Value::String(v.clone()));
            }
            for m in ms {
                line.insert(m.name.into(), json!(m.value));
            }
            Value::Object(line).to_string()
        })
        .collect()
}

/// The same metrics without the Repository, Account and Region dimensions, summed: what a
/// deployment publishes by default for member events (and, with `KEEPER_REPOSITORY_METRICS`
/// false, for its own), so the number of billed metrics does not grow with the repositories.
pub fn totals(metrics: &[Metric]) -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::new();
    for m in metrics {
        let dimensions: Vec<(&'static str, String)> = m
            .dimensions
            .iter()
            .filter(|(d, _)| ![DIM_REPOSITORY, DIM_ACCOUNT, DIM_REGION].contains(d))
            .cloned()
            .collect();
        match out.iter_mut().find(|o| o.name == m.name && o.dimensions == dimensions && o.unit == m.unit) {
            Some(o) => o.value += m.value,
            None => out.push(Metric { name: m.name, dimensions, value: m.value, unit: m.unit }),
        }
    }
    out
}

/// A sink that publishes [`totals`] of what it is given.
pub struct TotalsOnly<'a, S>(pub &'a S);

impl<S: MetricsSink> MetricsSink for TotalsOnly<'_, S> {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        self.0.publish(&totals(metrics)).await
    }
}

/// `KEEPER_METRICS=off`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl MetricsSink for NoMetrics {
    async fn publish(&self, _metrics: &[Metric]) -> Result<(), MetricsError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarmed_metrics_also_get_a_dimensionless_aggregate() {
        let lines = emf_lines(&[Metric::for_repository(names::VULNERABLE_IMAGES, "app", 1)], 0);
        let line: Value = serde_json::from_str(&lines[0]).unwrap_or_default();
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Repository"], []]));
    }

    #[test]
    fn totals_fold_repositories_accounts_and_regions_and_keep_severity() {
        let metrics = [
            Metric::for_repository(names::FINDINGS, "a", 2).with(DIM_SEVERITY, "HIGH").with(DIM_ACCOUNT, "1"),
            Metric::for_repository(names::FINDINGS, "b", 3).with(DIM_SEVERITY, "HIGH").with(DIM_ACCOUNT, "2"),
            Metric::for_repository(names::FINDINGS, "b", 1).with(DIM_SEVERITY, "LOW"),
            Metric::for_repository(names::IMAGE_PUSHES, "a", 1),
            Metric::for_repository(names::IMAGE_PUSHES, "c", 1),
        ];
        let t = totals(&metrics);
        assert_eq!(t.len(), 3, "{t:?}");
        assert_eq!(t[0].dimensions, vec![(DIM_SEVERITY, "HIGH".to_string())]);
        assert_eq!(t[0].value, 5.0);
        assert_eq!((t[2].name, t[2].dimensions.len(), t[2].value), (names::IMAGE_PUSHES, 0, 2.0));
    }

    #[test]
    fn a_directive_never_exceeds_100_metrics() {
        let names: Vec<&'static str> = (0..150).map(|k| &*Box::leak(format!("M{k}").into_boxed_str())).collect();
        let metrics: Vec<Metric> = names.iter().map(|n| Metric::count(n, 1)).collect();
        let lines = emf_lines(&metrics, 0);
        assert_eq!(lines.len(), 2);
    }
}
