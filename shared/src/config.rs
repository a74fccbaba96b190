//! Function configuration from `KEEPER_*` environment variables, parsed once at start with
//! errors that name the variable and the accepted values.

use crate::findings::{parse_suppressions, FindingsPolicy};
use crate::reactions::parse_threshold;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

/// `KEEPER_METRICS`: where metrics go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsMode {
    /// Embedded Metric Format lines on stdout (the default in Lambda).
    Emf,
    /// PutMetricData calls.
    CloudWatch,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    pub metrics: MetricsMode,
    pub findings: FindingsPolicy,
    pub cache_ttl: Duration,
}

pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

impl EventsConfig {
    /// `get` reads a variable (`std::env::var(..).ok()` in the functions).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let metrics = match set("KEEPER_METRICS").as_deref().map(str::trim) {
            None | Some("emf") => MetricsMode::Emf,
            Some("cloudwatch") => MetricsMode::CloudWatch,
            Some("off") => MetricsMode::Off,
            Some(other) => {
                return Err(ConfigError {
                    variable: "KEEPER_METRICS",
                    message: format!("\"{other}\" is not one of emf, cloudwatch, off"),
                })
            }
        };
        let mut findings = FindingsPolicy::default();
        if let Some(text) = set("KEEPER_SEVERITY_THRESHOLD") {
            findings.threshold = parse_threshold(&text)
                .map_err(|message| ConfigError { variable: "KEEPER_SEVERITY_THRESHOLD", message })?;
        }
        if let Some(text) = set("KEEPER_SUPPRESSED_FINDINGS") {
            findings.suppressions = parse_suppressions(&text)
                .map_err(|message| ConfigError { variable: "KEEPER_SUPPRESSED_FINDINGS", message })?;
        }
        let cache_ttl = match set("KEEPER_CACHE_TTL_SECONDS") {
            None => DEFAULT_CACHE_TTL,
            Some(text) => Duration::from_secs(text.trim().parse().map_err(|_| ConfigError {
                variable: "KEEPER_CACHE_TTL_SECONDS",
                message: format!("\"{text}\" is not a whole number of seconds"),
            })?),
        };
        Ok(EventsConfig { metrics, findings, cache_ttl })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Severity;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn defaults_are_emf_high_and_five_minutes() {
        let c = EventsConfig::from_env(env(&[])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.metrics, MetricsMode::Emf);
        assert_eq!(c.findings.threshold, Severity::High);
        assert_eq!(c.cache_ttl, DEFAULT_CACHE_TTL);
    }

    #[test]
    fn bad_values_name_the_variable_and_the_choices() {
        let e = EventsConfig::from_env(env(&[("KEEPER_METRICS", "statsd")])).err().map(|e| e.to_string());
        assert_eq!(e.as_deref(), Some("KEEPER_METRICS: \"statsd\" is not one of emf, cloudwatch, off"));
        let e = EventsConfig::from_env(env(&[("KEEPER_SEVERITY_THRESHOLD", "SEVERE")])).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("KEEPER_SEVERITY_THRESHOLD: \"SEVERE\" is not one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNDEFINED")
        );
        assert!(EventsConfig::from_env(env(&[("KEEPER_SUPPRESSED_FINDINGS", "team/*:")])).is_err());
        assert!(EventsConfig::from_env(env(&[("KEEPER_CACHE_TTL_SECONDS", "5m")])).is_err());
    }
}
