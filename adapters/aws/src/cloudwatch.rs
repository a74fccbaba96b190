//! The `MetricsSink` port over PutMetricData, batched within CloudWatch's limits.

use aws_sdk_cloudwatch::types::{
    Dimension, Metric as CwMetric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
};
use aws_sdk_cloudwatch::Client;
use chrono::{DateTime, Utc};
use ecr_keeper_core::metrics::{Metric, MetricsError, MetricsSink, Unit, ALARMED, NAMESPACE};
use ecr_keeper_core::ports::MetricsStore;

use crate::OnFirstCall;

/// PutMetricData accepts at most 1,000 metrics and 1 MB per request.
pub const MAX_METRICS_PER_REQUEST: usize = 1000;
const MAX_REQUEST_BYTES: usize = 900_000; // headroom under 1 MB for the envelope

#[derive(Debug, Clone)]
pub struct CloudWatchSink {
    client: OnFirstCall<Client>,
}

impl CloudWatchSink {
    /// A client, or one built at the first publish (`config::cloudwatch_on_first_call`).
    pub fn new(client: impl Into<OnFirstCall<Client>>) -> Self {
        CloudWatchSink { client: client.into() }
    }
}

/// Splits metrics into requests of at most 1,000 metrics and about 900 kB each.
pub fn batches(metrics: &[Metric]) -> Vec<&[Metric]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, m) in metrics.iter().enumerate() {
        // A generous estimate of one datum's encoded size.
        let size = 64 + m.name.len() + m.dimensions.iter().map(|(k, v)| 16 + k.len() + v.len()).sum::<usize>();
        if i > start && (i - start == MAX_METRICS_PER_REQUEST || bytes + size > MAX_REQUEST_BYTES) {
            out.push(&metrics[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < metrics.len() {
        out.push(&metrics[start..]);
    }
    out
}

fn datum(m: &Metric) -> MetricDatum {
    let unit = match m.unit {
        Unit::Count => StandardUnit::Count,
        Unit::Bytes => StandardUnit::Bytes,
        Unit::None => StandardUnit::None,
    };
    MetricDatum::builder()
        .metric_name(m.name)
        .set_dimensions(Some(
            m.dimensions.iter().map(|(k, v)| Dimension::builder().name(*k).value(v).build()).collect(),
        ))
        .value(m.value)
        .unit(unit)
        .build()
}

impl MetricsSink for CloudWatchSink {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        // The same aggregate EMF publishes for alarmed metrics.
        let aggregates: Vec<Metric> = metrics
            .iter()
            .filter(|m| ALARMED.contains(&m.name) && !m.dimensions.is_empty())
            .map(|m| Metric { dimensions: Vec::new(), ..m.clone() })
            .collect();
        let all: Vec<Metric> = metrics.iter().cloned().chain(aggregates).collect();
        for batch in batches(&all) {
            self.client
                .get()
                .put_metric_data()
                .namespace(NAMESPACE)
                .set_metric_data(Some(batch.iter().map(datum).collect()))
                .send()
                .await
                .map_err(|e| MetricsError::Publish(crate::one_line(&e)))?;
        }
        Ok(())
    }
}

/// GetMetricData and PutDashboard.
#[derive(Debug, Clone)]
pub struct CloudWatchStore {
    client: OnFirstCall<Client>,
}

impl CloudWatchStore {
    /// A client, or one built at the first call (`config::cloudwatch_on_first_call`).
    pub fn new(client: impl Into<OnFirstCall<Client>>) -> Self {
        CloudWatchStore { client: client.into() }
    }
}

fn smithy_time(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t.timestamp())
}

impl MetricsStore for CloudWatchStore {
    async fn latest_value(
        &self,
        name: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<f64>, MetricsError> {
        let query = MetricDataQuery::builder()
            .id("latest")
            .metric_stat(
                MetricStat::builder()
                    .metric(CwMetric::builder().namespace(NAMESPACE).metric_name(name).build())
                    .period(3600)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        let out = self
            .client
            .get()
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(smithy_time(since))
            .end_time(smithy_time(until))
            .send()
            .await
            .map_err(|e| MetricsError::Call { operation: "GetMetricData", message: crate::one_line(&e) })?;
        // The newest point: CloudWatch lists timestamps newest first by default, but do not rely on it.
        Ok(out
            .metric_data_results()
            .iter()
            .flat_map(|r| r.timestamps().iter().zip(r.values()))
            .max_by_key(|(t, _)| t.secs())
            .map(|(_, v)| *v))
    }

    async fn put_dashboard(&self, name: &str, body: &str) -> Result<(), MetricsError> {
        self.client
            .get()
            .put_dashboard()
            .dashboard_name(name)
            .dashboard_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| MetricsError::Call { operation: "PutDashboard", message: crate::one_line(&e) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_count_limit() {
        let metrics: Vec<Metric> =
            (0..2500).map(|_| Metric::count("ImagePushes", 1).with("Repository", "app")).collect();
        let sizes: Vec<usize> = batches(&metrics).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [1000, 1000, 500]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn batches_respect_the_size_limit() {
        let long = "r".repeat(1000);
        let metrics: Vec<Metric> =
            (0..1000).map(|_| Metric::count("ImagePushes", 1).with("Repository", long.clone())).collect();
        let batches = batches(&metrics);
        assert!(batches.len() >= 2, "1,000 metrics with 1 kB dimensions exceed 900 kB");
        assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), 1000);
    }
}
