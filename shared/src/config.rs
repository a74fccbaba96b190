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

/// Configuration of the scheduled audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub metrics: MetricsMode,
    pub settings: crate::audit::AuditSettings,
    pub repository_prefix: Option<String>,
    pub concurrency: usize,
    pub remediation: crate::audit::Remediation,
}

impl AuditConfig {
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let events = EventsConfig::from_env(&get)?;
        let set = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let number = |name: &'static str| -> Result<Option<u32>, ConfigError> {
            set(name)
                .map(|v| {
                    v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError {
                        variable: name,
                        message: format!("\"{v}\" is not a whole number of at least 1"),
                    })
                })
                .transpose()
        };
        let keep = number("KEEPER_STANDARD_KEEP_TAGGED")?;
        let days = number("KEEPER_STANDARD_UNTAGGED_DAYS")?;
        let prefixes: Vec<String> = set("KEEPER_STANDARD_TAG_PREFIXES")
            .map(|v| v.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        let standard = (keep.is_some() || days.is_some() || !prefixes.is_empty()).then(|| crate::audit::Standard {
            keep_tagged: keep.unwrap_or(crate::lifecycle::DEFAULT_KEEP_TAGGED),
            untagged_days: days.unwrap_or(crate::lifecycle::DEFAULT_UNTAGGED_DAYS),
            tag_prefixes: if prefixes.is_empty() {
                vec![crate::lifecycle::DEFAULT_TAG_PREFIX.into()]
            } else {
                prefixes
            },
        });
        let require_kms = match set("KEEPER_REQUIRE_KMS").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError {
                    variable: "KEEPER_REQUIRE_KMS",
                    message: format!("\"{other}\" is not true or false"),
                })
            }
        };
        let mut remediation = crate::audit::Remediation { apply: true, ..Default::default() };
        for part in set("KEEPER_REMEDIATE").unwrap_or_default().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "lifecycle" => remediation.lifecycle = true,
                "scan" => remediation.scan = true,
                "none" => {}
                other => {
                    return Err(ConfigError {
                        variable: "KEEPER_REMEDIATE",
                        message: format!("\"{other}\" is not one of lifecycle, scan, none"),
                    })
                }
            }
        }
        Ok(AuditConfig {
            metrics: events.metrics,
            settings: crate::audit::AuditSettings { standard, findings: events.findings, require_kms },
            repository_prefix: set("KEEPER_REPOSITORY_PREFIX"),
            concurrency: number("KEEPER_CONCURRENCY")?.map_or(8, |n| n as usize),
            remediation,
        })
    }
}

#[cfg(test)]
mod audit_config_tests {
    use super::*;

    #[test]
    fn the_audit_reads_its_standard_and_remediation() {
        let vars = [
            ("KEEPER_STANDARD_KEEP_TAGGED", "20"),
            ("KEEPER_STANDARD_TAG_PREFIXES", "v, release-"),
            ("KEEPER_REMEDIATE", "lifecycle,scan"),
        ];
        let c = AuditConfig::from_env(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
            .unwrap_or_else(|e| panic!("{e}"));
        let standard = c.settings.standard.unwrap_or_else(|| panic!("no standard"));
        assert_eq!((standard.keep_tagged, standard.untagged_days), (20, 7));
        assert_eq!(standard.tag_prefixes, ["v", "release-"]);
        assert!(c.remediation.lifecycle && c.remediation.scan && c.remediation.apply);
        let bad = AuditConfig::from_env(|k| (k == "KEEPER_REMEDIATE").then(|| "delete".to_string()))
            .err()
            .map(|e| e.to_string());
        assert_eq!(bad.as_deref(), Some("KEEPER_REMEDIATE: \"delete\" is not one of lifecycle, scan, none"));
    }
}
