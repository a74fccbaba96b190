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

/// Which repositories get metrics of their own (`KEEPER_REPOSITORY_METRICS`, template
/// `RepositoryMetrics`). By default none: the registry's and the organization's totals only, a
/// fixed handful of billed custom metrics whatever the repository count; each repository's
/// numbers are in the reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RepositoryMetrics {
    #[default]
    None,
    All,
    /// The repositories whose name starts with this.
    Prefix(String),
}

impl RepositoryMetrics {
    pub const ACCEPTED: &'static str = "false, true or prefix:NAME-PREFIX";

    /// `false` (or empty), `true`, or `prefix:P`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" | "false" => Ok(RepositoryMetrics::None),
            "true" => Ok(RepositoryMetrics::All),
            other => match other.strip_prefix("prefix:").map(str::trim) {
                Some(prefix) if !prefix.is_empty() => Ok(RepositoryMetrics::Prefix(prefix.to_string())),
                _ => Err(format!("\"{other}\" is not one of {}", Self::ACCEPTED)),
            },
        }
    }

    pub fn includes(&self, repository: &str) -> bool {
        match self {
            RepositoryMetrics::None => false,
            RepositoryMetrics::All => true,
            RepositoryMetrics::Prefix(p) => repository.starts_with(p.as_str()),
        }
    }

    /// For a report that carries its own totals (the audit's, the cost report's): every metric
    /// without a repository, and a repository's own only when it is included.
    pub fn select(&self, metrics: Vec<Metric>) -> Vec<Metric> {
        metrics.into_iter().filter(|m| repository_of(m).is_none_or(|r| self.includes(r))).collect()
    }

    /// For metrics that exist only per repository (the reactions'): the included repositories'
    /// as they are, beside the totals of all of them, so alarms on totals see every repository.
    pub fn per_repository_and_totals(&self, metrics: &[Metric]) -> Vec<Metric> {
        let mut out: Vec<Metric> =
            metrics.iter().filter(|m| repository_of(m).is_some_and(|r| self.includes(r))).cloned().collect();
        if out.is_empty() {
            return totals(metrics);
        }
        // Published per repository, the EMF sink adds the alarmed totals itself.
        out.extend(totals(metrics).into_iter().filter(|t| !ALARMED.contains(&t.name)));
        out
    }
}

fn repository_of(m: &Metric) -> Option<&str> {
    m.dimensions.iter().find(|(d, _)| *d == DIM_REPOSITORY).map(|(_, v)| v.as_str())
}

/// A sink that publishes [`totals`] of what it is given.
pub struct TotalsOnly<'a, S>(pub &'a S);

impl<S: MetricsSink> MetricsSink for TotalsOnly<'_, S> {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        self.0.publish(&totals(metrics)).await
    }
}

/// Which series a deployment publishes besides the repositories [`RepositoryMetrics`] names
/// (`KEEPER_METRIC_SERIES`, template `MetricSeries`). Each series is a custom metric billed
/// monthly, so by default only [`ESSENTIAL`]: what the template's alarms and dashboards read, ten
/// series whatever the registry, CloudWatch's always-free allowance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MetricSeries {
    #[default]
    Essential,
    /// Every total: the audit's CheckFailures by check, the scans' Findings by severity, bytes,
    /// push failures… (about 49 series).
    All,
}

/// The dimensionless totals the template's alarms (VulnerableImages, OverdueImages) and its
/// dashboards read.
pub const ESSENTIAL: &[&str] = &[
    names::IMAGE_PUSHES,
    names::SCANS_STARTED,
    names::IMAGES_SCANNED,
    names::VULNERABLE_IMAGES,
    names::INVALID_EVENTS,
    names::NON_COMPLIANT_REPOSITORIES,
    names::OVERDUE_IMAGES,
    names::AUDIT_INCOMPLETE,
    names::ESTIMATED_MONTHLY_COST_USD,
    names::PROJECTED_MONTHLY_COST_USD,
];

impl MetricSeries {
    pub const ACCEPTED: &'static str = "essential, all";

    /// `essential` (or empty) or `all`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" | "essential" => Ok(MetricSeries::Essential),
            "all" => Ok(MetricSeries::All),
            other => Err(format!("\"{other}\" is not one of {}", Self::ACCEPTED)),
        }
    }

    /// Whether `metric` is published: a repository's own (already chosen by
    /// [`RepositoryMetrics`]) always; a total when it is essential, or with `All`.
    pub fn keeps(&self, metric: &Metric) -> bool {
        match self {
            MetricSeries::All => true,
            MetricSeries::Essential => {
                repository_of(metric).is_some() || (metric.dimensions.is_empty() && ESSENTIAL.contains(&metric.name))
            }
        }
    }
}

/// A sink that publishes only the series `MetricSeries` keeps.
pub struct Series<S> {
    pub sink: S,
    pub series: MetricSeries,
}

impl<S: MetricsSink> MetricsSink for Series<S> {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        let kept: Vec<Metric> = metrics.iter().filter(|m| self.series.keeps(m)).cloned().collect();
        if kept.is_empty() {
            return Ok(());
        }
        self.sink.publish(&kept).await
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
    fn essential_series_are_the_ten_totals_alarms_and_dashboards_read_and_all_keeps_everything() {
        assert_eq!(MetricSeries::parse(""), Ok(MetricSeries::Essential), "the default");
        assert_eq!(MetricSeries::parse(" all "), Ok(MetricSeries::All));
        assert_eq!(MetricSeries::parse("full"), Err("\"full\" is not one of essential, all".to_string()));
        assert_eq!(ESSENTIAL.len(), 10, "CloudWatch's always-free allowance is ten custom metrics");
        let essential = MetricSeries::Essential;
        assert!(essential.keeps(&Metric::count(names::OVERDUE_IMAGES, 3)));
        let by_check = Metric::count(names::CHECK_FAILURES, 1).with(DIM_CHECK, "LC-1");
        assert!(!essential.keeps(&by_check), "a series per check id is not essential");
        assert!(!essential.keeps(&Metric::count(names::OVERDUE_BYTES, 1)));
        let by_account = Metric::count(names::IMAGE_PUSHES, 1).with(DIM_ACCOUNT, "111111111111");
        assert!(!essential.keeps(&by_account), "a series per account grows with the organization");
        let own = Metric::count(names::OVERDUE_BYTES, 1).with(DIM_REPOSITORY, "team-a/app");
        assert!(essential.keeps(&own), "a repository's own series was chosen by RepositoryMetrics");
        assert!(MetricSeries::All.keeps(&by_check) && MetricSeries::All.keeps(&by_account));
    }

    #[test]
    fn repository_metrics_are_off_by_default_and_a_prefix_or_all_selects_them() {
        assert_eq!(RepositoryMetrics::parse(""), Ok(RepositoryMetrics::None));
        assert_eq!(RepositoryMetrics::parse(" true "), Ok(RepositoryMetrics::All));
        assert_eq!(RepositoryMetrics::parse("prefix:team-a/"), Ok(RepositoryMetrics::Prefix("team-a/".into())));
        for bad in ["yes", "prefix:", "team-a/"] {
            let e = RepositoryMetrics::parse(bad).err().unwrap_or_default();
            assert!(e.ends_with("is not one of false, true or prefix:NAME-PREFIX"), "{bad}: {e}");
        }
        let report = vec![
            Metric::for_repository("ExpirableImages", "team-a/web", 2),
            Metric::for_repository("ExpirableImages", "team-b/api", 3),
            Metric::count("ExpirableImages", 5),
        ];
        let names = |ms: Vec<Metric>| -> Vec<String> {
            ms.iter().map(|m| repository_of(m).unwrap_or("total").to_string()).collect()
        };
        assert_eq!(names(RepositoryMetrics::None.select(report.clone())), ["total"]);
        assert_eq!(names(RepositoryMetrics::Prefix("team-a/".into()).select(report.clone())), ["team-a/web", "total"]);
        assert_eq!(names(RepositoryMetrics::All.select(report)), ["team-a/web", "team-b/api", "total"]);
        // The reactions' metrics exist only per repository: the totals are summed from them
        let event = [Metric::for_repository("ImagePushes", "team-b/api", 1)];
        let totals_only = RepositoryMetrics::Prefix("team-a/".into()).per_repository_and_totals(&event);
        assert_eq!((names(totals_only.clone()), totals_only[0].value), (vec!["total".to_string()], 1.0));
        let both = RepositoryMetrics::All.per_repository_and_totals(&event);
        assert_eq!(names(both), ["team-b/api", "total"]);
        // An alarmed metric's total comes from the EMF line itself: not published twice
        let vulnerable = [Metric::for_repository(names::VULNERABLE_IMAGES, "team-b/api", 1)];
        assert_eq!(RepositoryMetrics::All.per_repository_and_totals(&vulnerable).len(), 1);
    }

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
