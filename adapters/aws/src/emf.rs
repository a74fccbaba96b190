//! The Embedded Metric Format writer: the lines of [`emf_lines`] on stdout, where Lambda's log
//! pipeline turns them into metrics.

use ecr_keeper_core::metrics::{emf_lines, Metric, MetricsError, MetricsSink};
use ecr_keeper_core::ports::{Clock, SystemClock};
use std::io::Write;
use std::sync::Mutex;

/// Embedded Metric Format: one JSON log line per set of dimension values; CloudWatch Logs turns
/// them into metrics.
pub struct EmfSink<W: Write + Send> {
    out: Mutex<W>,
    clock: Box<dyn Clock>,
}

impl EmfSink<std::io::Stdout> {
    pub fn stdout() -> Self {
        EmfSink { out: Mutex::new(std::io::stdout()), clock: Box::new(SystemClock) }
    }
}

impl<W: Write + Send> EmfSink<W> {
    pub fn new(out: W, clock: impl Clock + 'static) -> Self {
        EmfSink { out: Mutex::new(out), clock: Box::new(clock) }
    }

    pub fn into_inner(self) -> W {
        match self.out.into_inner() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl<W: Write + Send> MetricsSink for EmfSink<W> {
    async fn publish(&self, metrics: &[Metric]) -> Result<(), MetricsError> {
        if metrics.is_empty() {
            return Ok(());
        }
        let lines = emf_lines(metrics, self.clock.now().timestamp_millis().max(0) as u64);
        let mut out = self.out.lock().map_err(|_| MetricsError::Write("the output lock is poisoned".into()))?;
        for line in lines {
            writeln!(out, "{line}").map_err(|e| MetricsError::Write(e.to_string()))?;
        }
        out.flush().map_err(|e| MetricsError::Write(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};
    use ecr_keeper_core::metrics::{names, DIM_SEVERITY};
    use serde_json::{json, Value};

    struct FixedClock(i64);

    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            Utc.timestamp_millis_opt(self.0).single().unwrap_or_default()
        }
    }

    #[tokio::test]
    async fn emf_lines_carry_namespace_dimensions_units_and_values() {
        let sink = EmfSink::new(Vec::new(), FixedClock(1_700_000_000_000));
        let metrics = vec![
            Metric::for_repository(names::IMAGE_PUSHES, "app", 1),
            Metric::for_repository(names::SCANS_STARTED, "app", 1),
            Metric::for_repository(names::FINDINGS, "app", 3).with(DIM_SEVERITY, "HIGH"),
            Metric::for_repository(names::FINDINGS, "app", 0).with(DIM_SEVERITY, "LOW"),
        ];
        assert!(sink.publish(&metrics).await.is_ok());
        let text = String::from_utf8(sink.into_inner()).unwrap_or_default();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap_or_default()).collect();
        assert_eq!(lines.len(), 3, "{text}");
        let first = &lines[0];
        assert_eq!(first["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(first["_aws"]["CloudWatchMetrics"][0]["Namespace"], "EcrKeeper");
        assert_eq!(first["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Repository"]]));
        assert_eq!(
            first["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "ImagePushes", "Unit": "Count"}, {"Name": "ScansStarted", "Unit": "Count"}])
        );
        assert_eq!(first["Repository"], "app");
        assert_eq!(first["ImagePushes"], 1.0);
        assert_eq!(lines[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Repository", "Severity"]]));
        assert_eq!(lines[1]["Severity"], "HIGH");
        assert_eq!(lines[1]["Findings"], 3.0);
        assert_eq!(lines[2]["Severity"], "LOW");
        assert_eq!(lines[2]["Findings"], 0.0, "zeros are emitted so graphs and alarms stay continuous");
    }
}
