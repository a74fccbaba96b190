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
    /// `KEEPER_METRIC_SERIES` (default essential): which totals are published.
    pub metric_series: crate::metrics::MetricSeries,
    pub findings: FindingsPolicy,
    pub cache_ttl: Duration,
    /// `KEEPER_MEMBER_ROLE_NAME`: events forwarded from member accounts are handled there,
    /// through this role (unset: every event in the function's own account).
    pub member_role: Option<String>,
    /// `KEEPER_MEMBER_EXTERNAL_ID`.
    pub member_external_id: Option<String>,
    /// Which member accounts and regions the reactions serve.
    pub scope: EventScope,
    /// `KEEPER_ACCOUNT_ID` (the template sets the stack's account): the account whose events the
    /// function serves with its own credentials. Unset, every event is taken as its own.
    pub own_account: Option<String>,
    /// `KEEPER_REPOSITORY_METRICS` (default false): which of the own account's repositories get
    /// metrics of their own (`true`, `prefix:P`); the rest count in the totals only.
    pub repository_metrics: crate::metrics::RepositoryMetrics,
    /// `KEEPER_MEMBER_REPOSITORY_METRICS` (default false): per-repository metrics (with Account
    /// and Region) for member events; by default their totals only, so the bill does not grow
    /// with the organization's repositories.
    pub member_repository_metrics: bool,
}

/// The accounts and regions whose forwarded events the reactions act on (`KEEPER_ACCOUNTS`,
/// `KEEPER_EXCLUDED_ACCOUNTS`, `KEEPER_REGIONS`); the function's own account is always served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventScope {
    /// `None`: any account (the organization, as the bus admits it).
    pub accounts: Option<Vec<String>>,
    pub excluded: Vec<String>,
    /// Empty: any region.
    pub regions: Vec<String>,
}

impl EventScope {
    /// Why an event from `account` in `region` is outside the scope, if it is.
    pub fn refusal(&self, account: &str, region: &str) -> Option<String> {
        if self.excluded.iter().any(|a| a == account) {
            return Some(format!("account {account} is in KEEPER_EXCLUDED_ACCOUNTS"));
        }
        if self.accounts.as_ref().is_some_and(|list| !list.iter().any(|a| a == account)) {
            return Some(format!("account {account} is not in KEEPER_ACCOUNTS"));
        }
        if !self.regions.is_empty() && !self.regions.iter().any(|r| r == region) {
            return Some(format!("region {region} is not in KEEPER_REGIONS"));
        }
        None
    }

    fn from_env(set: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let list = |text: Option<String>| -> Vec<String> {
            text.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
        };
        let accounts = match set("KEEPER_ACCOUNTS") {
            Some(t) if t.trim().eq_ignore_ascii_case("organization") => None,
            Some(t) => Some(list(Some(t))),
            None => None,
        };
        let excluded = list(set("KEEPER_EXCLUDED_ACCOUNTS"));
        for (variable, ids) in
            [("KEEPER_ACCOUNTS", accounts.clone().unwrap_or_default()), ("KEEPER_EXCLUDED_ACCOUNTS", excluded.clone())]
        {
            if let Some(bad) = ids.iter().find(|a| !crate::organization::is_account(a)) {
                return Err(ConfigError {
                    variable,
                    message: format!("\"{bad}\" is not a 12-digit account id (or organization)"),
                });
            }
        }
        let regions = list(set("KEEPER_REGIONS"));
        if let Some(bad) = regions.iter().find(|r| !crate::organization::is_region(r)) {
            return Err(ConfigError {
                variable: "KEEPER_REGIONS",
                message: format!("\"{bad}\" is not a region name (like us-east-1)"),
            });
        }
        Ok(EventScope { accounts, excluded, regions })
    }
}

fn flag(set: &impl Fn(&str) -> Option<String>, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
    match set(variable).as_deref().map(str::trim) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ConfigError { variable, message: format!("\"{other}\" is not one of true, false") }),
    }
}

pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

/// `KEEPER_METRIC_SERIES`: `essential` (the default) or `all`.
pub fn metric_series_from_env(
    get: impl Fn(&str) -> Option<String>,
) -> Result<crate::metrics::MetricSeries, ConfigError> {
    crate::metrics::MetricSeries::parse(&get("KEEPER_METRIC_SERIES").unwrap_or_default())
        .map_err(|message| ConfigError { variable: "KEEPER_METRIC_SERIES", message })
}

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
                .map_err(|e| ConfigError { variable: "KEEPER_SEVERITY_THRESHOLD", message: e.to_string() })?;
        }
        if let Some(text) = set("KEEPER_SUPPRESSED_FINDINGS") {
            findings.suppressions = parse_suppressions(&text)
                .map_err(|e| ConfigError { variable: "KEEPER_SUPPRESSED_FINDINGS", message: e.to_string() })?;
        }
        let cache_ttl = match set("KEEPER_CACHE_TTL_SECONDS") {
            None => DEFAULT_CACHE_TTL,
            Some(text) => Duration::from_secs(text.trim().parse().map_err(|_| ConfigError {
                variable: "KEEPER_CACHE_TTL_SECONDS",
                message: format!("\"{text}\" is not a whole number of seconds"),
            })?),
        };
        // The same checks as an organization run's scope: one account stands in for the list.
        let (member_role, member_external_id) = match set("KEEPER_MEMBER_ROLE_NAME") {
            None => (None, None),
            Some(role) => {
                let external = set("KEEPER_MEMBER_EXTERNAL_ID");
                let input = crate::organization::ScopeInput {
                    accounts: "000000000000",
                    regions: "us-east-1",
                    role_name: Some(&role),
                    external_id: external.as_deref(),
                    ..Default::default()
                };
                let scope =
                    crate::organization::Scope::parse(&input, &crate::organization::ENV_FIELDS).map_err(|e| {
                        ConfigError {
                            variable: if e.field == "KEEPER_MEMBER_ROLE_NAME" {
                                "KEEPER_MEMBER_ROLE_NAME"
                            } else {
                                "KEEPER_MEMBER_EXTERNAL_ID"
                            },
                            message: e.message,
                        }
                    })?;
                (Some(scope.role_name), scope.external_id)
            }
        };
        Ok(EventsConfig {
            metrics,
            metric_series: metric_series_from_env(&get)?,
            findings,
            cache_ttl,
            member_role,
            member_external_id,
            scope: EventScope::from_env(&set)?,
            own_account: match set("KEEPER_ACCOUNT_ID") {
                Some(id) if crate::organization::is_account(id.trim()) => Some(id.trim().to_string()),
                Some(id) => {
                    return Err(ConfigError {
                        variable: "KEEPER_ACCOUNT_ID",
                        message: format!("\"{id}\" is not a 12-digit account id"),
                    })
                }
                None => None,
            },
            repository_metrics: crate::metrics::RepositoryMetrics::parse(
                &set("KEEPER_REPOSITORY_METRICS").unwrap_or_default(),
            )
            .map_err(|message| ConfigError { variable: "KEEPER_REPOSITORY_METRICS", message })?,
            member_repository_metrics: flag(&set, "KEEPER_MEMBER_REPOSITORY_METRICS", false)?,
        })
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
    fn the_event_scope_and_metric_switches_read_and_refuse_clearly() {
        let c = EventsConfig::from_env(env(&[
            ("KEEPER_ACCOUNTS", "111111111111,222222222222"),
            ("KEEPER_REGIONS", "us-east-1"),
            ("KEEPER_REPOSITORY_METRICS", "false"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.scope.refusal("111111111111", "us-east-1"), None);
        assert_eq!(
            c.scope.refusal("333333333333", "us-east-1").as_deref(),
            Some("account 333333333333 is not in KEEPER_ACCOUNTS")
        );
        assert_eq!(
            c.scope.refusal("111111111111", "eu-west-1").as_deref(),
            Some("region eu-west-1 is not in KEEPER_REGIONS")
        );
        assert!(c.repository_metrics == crate::metrics::RepositoryMetrics::None && !c.member_repository_metrics);
        let org = EventsConfig::from_env(env(&[
            ("KEEPER_ACCOUNTS", "organization"),
            ("KEEPER_EXCLUDED_ACCOUNTS", "222222222222"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(org.scope.refusal("111111111111", "sa-east-1"), None);
        assert!(org.scope.refusal("222222222222", "us-east-1").is_some());
        let bad =
            EventsConfig::from_env(env(&[("KEEPER_MEMBER_REPOSITORY_METRICS", "yes")])).err().map(|e| e.to_string());
        assert_eq!(bad.as_deref(), Some("KEEPER_MEMBER_REPOSITORY_METRICS: \"yes\" is not one of true, false"));
        assert!(EventsConfig::from_env(env(&[("KEEPER_REGIONS", "us east 1")])).is_err());
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

/// scan-events' alerting: `KEEPER_ALERTS`, `KEEPER_ALERT_TOPIC_ARN`, `KEEPER_ALERT_TABLE`,
/// `KEEPER_ALERT_TOP_N`, `KEEPER_ALERT_MIN_INTERVAL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsConfig {
    pub mode: crate::alerts::AlertMode,
    pub topic_arn: Option<String>,
    pub table: Option<String>,
    pub settings: crate::alerts::AlertSettings,
}

impl AlertsConfig {
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use crate::alerts::{AlertMode, AlertSettings, MAX_TOP_N};
        let set = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let topic_arn = set("KEEPER_ALERT_TOPIC_ARN");
        let table = set("KEEPER_ALERT_TABLE");
        let mode = match set("KEEPER_ALERTS").as_deref() {
            None if topic_arn.is_some() => AlertMode::Sns,
            None => AlertMode::Log,
            Some("sns") => AlertMode::Sns,
            Some("log") => AlertMode::Log,
            Some("off") => AlertMode::Off,
            Some(other) => {
                return Err(ConfigError {
                    variable: "KEEPER_ALERTS",
                    message: format!("\"{other}\" is not one of sns, log, off"),
                })
            }
        };
        if mode == AlertMode::Sns {
            for (variable, value, what) in [
                ("KEEPER_ALERT_TOPIC_ARN", &topic_arn, "the SNS topic ARN to publish alerts to"),
                ("KEEPER_ALERT_TABLE", &table, "the DynamoDB table that remembers what was alerted"),
            ] {
                if value.is_none() {
                    return Err(ConfigError {
                        variable,
                        message: format!("KEEPER_ALERTS=sns needs {what}; or set KEEPER_ALERTS to log or off"),
                    });
                }
            }
        }
        let mut settings = AlertSettings::default();
        if let Some(text) = set("KEEPER_ALERT_TOP_N") {
            settings.top_n =
                text.parse::<usize>().ok().filter(|n| (1..=MAX_TOP_N).contains(n)).ok_or_else(|| ConfigError {
                    variable: "KEEPER_ALERT_TOP_N",
                    message: format!("\"{text}\" is not a whole number from 1 to {MAX_TOP_N}"),
                })?;
        }
        if let Some(text) = set("KEEPER_ALERT_MIN_INTERVAL") {
            let interval = match text.parse::<u64>() {
                Ok(seconds) => Ok(Duration::from_secs(seconds)),
                Err(_) => humantime::parse_duration(&text),
            };
            settings.min_interval = Some(interval.map_err(|_| ConfigError {
                variable: "KEEPER_ALERT_MIN_INTERVAL",
                message: format!("\"{text}\" is not a duration: seconds (3600) or with a unit (15m, 1h, 1d)"),
            })?)
            .filter(|d| !d.is_zero());
        }
        Ok(AlertsConfig { mode, topic_arn, table, settings })
    }
}

#[cfg(test)]
mod alerts_config_tests {
    use super::*;
    use crate::alerts::AlertMode;

    fn read(pairs: &[(&str, &str)]) -> Result<AlertsConfig, String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AlertsConfig::from_env(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_topic_means_sns_and_no_topic_means_the_log() {
        let sns = read(&[("KEEPER_ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"), ("KEEPER_ALERT_TABLE", "t")]);
        assert_eq!(sns.map(|c| c.mode), Ok(AlertMode::Sns));
        assert_eq!(read(&[]).map(|c| (c.mode, c.settings.top_n)), Ok((AlertMode::Log, 10)));
    }

    #[test]
    fn bad_alert_settings_name_the_variable_and_the_choices() {
        assert_eq!(
            read(&[("KEEPER_ALERTS", "email")]).err().as_deref(),
            Some("KEEPER_ALERTS: \"email\" is not one of sns, log, off")
        );
        let missing = read(&[("KEEPER_ALERTS", "sns"), ("KEEPER_ALERT_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t")]).err();
        assert!(missing.is_some_and(|e| e.starts_with("KEEPER_ALERT_TABLE: KEEPER_ALERTS=sns needs")));
        assert_eq!(
            read(&[("KEEPER_ALERT_TOP_N", "0")]).err().as_deref(),
            Some("KEEPER_ALERT_TOP_N: \"0\" is not a whole number from 1 to 1000")
        );
        assert!(read(&[("KEEPER_ALERT_MIN_INTERVAL", "soon")])
            .err()
            .is_some_and(|e| e.starts_with("KEEPER_ALERT_MIN_INTERVAL:")));
        let interval = read(&[("KEEPER_ALERT_MIN_INTERVAL", "15m")]).map(|c| c.settings.min_interval);
        assert_eq!(interval, Ok(Some(Duration::from_secs(900))));
        assert_eq!(
            read(&[("KEEPER_ALERT_MIN_INTERVAL", "3600")]).map(|c| c.settings.min_interval),
            Ok(Some(Duration::from_secs(3600)))
        );
    }
}

/// A positive whole number from the environment, naming the variable when it is not one.
fn positive(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<Option<u32>, ConfigError> {
    get(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError {
                variable: name,
                message: format!("\"{v}\" is not a whole number of at least 1"),
            })
        })
        .transpose()
}

/// The team's standard from `KEEPER_STANDARD_KEEP_TAGGED`, `KEEPER_STANDARD_UNTAGGED_DAYS`,
/// `KEEPER_STANDARD_TAG_PREFIXES`, `KEEPER_STANDARD_ARCHIVE_AFTER_DAYS_WITHOUT_PULL` and
/// `KEEPER_STANDARD_EXPIRE_ARCHIVED_AFTER_DAYS`; `None` when none is set. The audit and the cost report read
/// it here, so they never disagree about what the standard keeps.
pub fn standard_from_env(get: &impl Fn(&str) -> Option<String>) -> Result<Option<crate::audit::Standard>, ConfigError> {
    let keep = positive(get, "KEEPER_STANDARD_KEEP_TAGGED")?;
    let days = positive(get, "KEEPER_STANDARD_UNTAGGED_DAYS")?;
    let prefixes: Vec<String> = get("KEEPER_STANDARD_TAG_PREFIXES")
        .map(|v| v.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    let archive_after_days = positive(get, "KEEPER_STANDARD_ARCHIVE_AFTER_DAYS_WITHOUT_PULL")?;
    let expire_archived_after_days = positive(get, "KEEPER_STANDARD_EXPIRE_ARCHIVED_AFTER_DAYS")?;
    if let Some(days) = expire_archived_after_days.filter(|d| *d < crate::lifecycle::MIN_ARCHIVE_EXPIRY_DAYS) {
        return Err(ConfigError {
            variable: "KEEPER_STANDARD_EXPIRE_ARCHIVED_AFTER_DAYS",
            message: format!(
                "\"{days}\" is below ECR's minimum: archived images are kept {} days at least",
                crate::lifecycle::MIN_ARCHIVE_EXPIRY_DAYS
            ),
        });
    }
    Ok(crate::audit::Standard::from_parts(crate::audit::StandardParts {
        keep_tagged: keep,
        untagged_days: days,
        tag_prefixes: prefixes,
        archive_after_days,
        expire_archived_after_days,
    }))
}

/// Configuration of the scheduled audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    pub metrics: MetricsMode,
    pub metric_series: crate::metrics::MetricSeries,
    pub settings: crate::audit::AuditSettings,
    pub repository_prefix: Option<String>,
    pub concurrency: usize,
    pub remediation: crate::audit::Remediation,
    /// `KEEPER_IN_USE`: where running images are read (USE-1, pins); none when unset.
    pub in_use: Vec<crate::workloads::WorkloadSource>,
    /// `KEEPER_SECURITY_HUB` (default false): the run ends with the state machine's Findings step,
    /// which imports the kept report into Security Hub (the audit does not link Security Hub).
    pub security_hub: bool,
}

impl AuditConfig {
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let events = EventsConfig::from_env(&get)?;
        let set = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let standard = standard_from_env(&get)?;
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
        let scanner_roles = set("KEEPER_SCANNER_ROLES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(crate::registry::scanner_role)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| ConfigError { variable: "KEEPER_SCANNER_ROLES", message })?;
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
        let in_use = match set("KEEPER_IN_USE") {
            None => Vec::new(),
            Some(text) => crate::workloads::WorkloadSource::parse_list(&text)
                .map_err(|message| ConfigError { variable: "KEEPER_IN_USE", message })?,
        };
        remediation.pins = match set("KEEPER_PROTECT_IN_USE").as_deref() {
            None | Some("false") => false,
            Some("true") if in_use.is_empty() => {
                return Err(ConfigError {
                    variable: "KEEPER_PROTECT_IN_USE",
                    message: "\"true\" needs KEEPER_IN_USE (ecs, lambda, inspector, file:PATH or s3://BUCKET/KEY): pins follow the workloads read".into(),
                })
            }
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError {
                    variable: "KEEPER_PROTECT_IN_USE",
                    message: format!("\"{other}\" is not true or false"),
                })
            }
        };
        Ok(AuditConfig {
            security_hub: flag(&set, "KEEPER_SECURITY_HUB", false)?,
            in_use,
            metrics: events.metrics,
            metric_series: events.metric_series,
            settings: crate::audit::AuditSettings { standard, findings: events.findings, require_kms, scanner_roles },
            repository_prefix: set("KEEPER_REPOSITORY_PREFIX"),
            concurrency: positive(&get, "KEEPER_CONCURRENCY")?.map_or(crate::run::DEFAULT_CONCURRENCY, |n| n as usize),
            remediation,
        })
    }
}

#[cfg(test)]
mod audit_config_tests {
    use super::*;

    #[test]
    fn scanner_roles_are_read_and_a_wrong_one_is_named() {
        let read = |value: &str| {
            let value = value.to_string();
            AuditConfig::from_env(move |k| (k == "KEEPER_SCANNER_ROLES").then(|| value.clone()))
        };
        let c = read(" arn:aws:iam::123456789012:role/snyk , arn:aws:iam::123456789012:role/trivy")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.settings.scanner_roles,
            ["arn:aws:iam::123456789012:role/snyk", "arn:aws:iam::123456789012:role/trivy"]
        );
        let e = read("arn:aws:iam::123456789012:role/snyk,trivy").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("KEEPER_SCANNER_ROLES") && e.contains("\"trivy\" is not an IAM role or user ARN"), "{e}");
        assert!(read("").map(|c| c.settings.scanner_roles.is_empty()).unwrap_or(false));
    }

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

#[cfg(test)]
mod standard_tests {
    use super::*;

    #[test]
    fn a_standard_may_archive_and_its_archive_expiry_is_checked_at_start() {
        let vars = [
            ("KEEPER_STANDARD_ARCHIVE_AFTER_DAYS_WITHOUT_PULL", "30"),
            ("KEEPER_STANDARD_EXPIRE_ARCHIVED_AFTER_DAYS", "180"),
        ];
        let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let standard = standard_from_env(&get).ok().flatten().unwrap_or_else(|| panic!("no standard"));
        assert_eq!((standard.archive_after_days, standard.expire_archived_after_days), (Some(30), Some(180)));
        assert_eq!(standard.keep_tagged, crate::lifecycle::DEFAULT_KEEP_TAGGED, "the rest takes the defaults");
        let early =
            standard_from_env(&|k: &str| (k == "KEEPER_STANDARD_EXPIRE_ARCHIVED_AFTER_DAYS").then(|| "30".into()));
        assert_eq!(
            early.err().map(|e| e.to_string()).as_deref(),
            Some("KEEPER_STANDARD_EXPIRE_ARCHIVED_AFTER_DAYS: \"30\" is below ECR's minimum: archived images are kept 90 days at least")
        );
    }

    #[test]
    fn the_standard_is_read_once_for_every_function() {
        let vars = [("KEEPER_STANDARD_KEEP_TAGGED", "20"), ("KEEPER_STANDARD_TAG_PREFIXES", "release-")];
        let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let standard = standard_from_env(&get).ok().flatten().unwrap_or_else(|| panic!("no standard"));
        assert_eq!(standard.params().describe(), "keep the last 20 of release-*, untagged 7 days");
        assert_eq!(standard_from_env(&|_: &str| None).ok(), Some(None));
        let bad = standard_from_env(&|k: &str| (k == "KEEPER_STANDARD_UNTAGGED_DAYS").then(|| "0".to_string()));
        assert_eq!(
            bad.err().map(|e| e.to_string()).as_deref(),
            Some("KEEPER_STANDARD_UNTAGGED_DAYS: \"0\" is not a whole number of at least 1")
        );
        // The generator's default prefix is named, not left as a bare "*".
        assert_eq!(crate::lifecycle::PolicyParams::default().describe(), "keep the last 10 of v*, untagged 7 days");
    }
}

/// Configuration of the weekly cost report.
#[derive(Debug, Clone, PartialEq)]
pub struct CostConfig {
    /// The region is the SDK's; the functions fill it in.
    pub options: crate::cost::CostOptions,
    /// The policy projected onto repositories without one: the team's standard
    /// (`KEEPER_STANDARD_*`, as the audit reads it) or ecr-keeper's defaults.
    pub standard: crate::lifecycle::LifecyclePolicy,
    /// `KEEPER_COST_DASHBOARD`: the function's is named after its stack.
    pub dashboard: String,
}

impl CostConfig {
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let defaults = crate::cost::Prices::default();
        let price = |name: &'static str, default: f64| -> Result<f64, ConfigError> {
            set(name)
                .map(|v| {
                    v.parse::<f64>().ok().filter(|p| p.is_finite() && *p >= 0.0).ok_or_else(|| ConfigError {
                        variable: name,
                        message: format!("\"{v}\" is not a price in USD of zero or more"),
                    })
                })
                .transpose()
                .map(|p| p.unwrap_or(default))
        };
        let prices = crate::cost::Prices {
            storage_per_gb_month: price("KEEPER_PRICE_PER_GB_MONTH", defaults.storage_per_gb_month)?,
            archive_per_gb_month: price("KEEPER_ARCHIVE_PRICE_PER_GB_MONTH", defaults.archive_per_gb_month)?,
            enhanced_first_scan: price("KEEPER_ENHANCED_SCAN_PRICE", defaults.enhanced_first_scan)?,
            enhanced_rescan: price("KEEPER_ENHANCED_RESCAN_PRICE", defaults.enhanced_rescan)?,
            restore_per_gb: price("KEEPER_RESTORE_PRICE_PER_GB", defaults.restore_per_gb)?,
        };
        let standard = crate::audit::Standard::params_or_default(standard_from_env(&get)?.as_ref());
        let standard = crate::lifecycle::generate(&standard)
            .map_err(|e| ConfigError { variable: "KEEPER_STANDARD_TAG_PREFIXES", message: e.to_string() })?;
        Ok(CostConfig {
            options: crate::cost::CostOptions {
                region: String::new(),
                repository_prefix: set("KEEPER_REPOSITORY_PREFIX"),
                concurrency: positive(&get, "KEEPER_CONCURRENCY")?
                    .map_or(crate::run::DEFAULT_CONCURRENCY, |n| n as usize),
                top: positive(&get, "KEEPER_TOP")?.map_or(10, |n| n as usize),
                prices,
                archive_projection_days: positive(&get, "KEEPER_ARCHIVE_PROJECTION_DAYS")?
                    .unwrap_or(crate::cost::DEFAULT_ARCHIVE_PROJECTION_DAYS),
                deadline: None,
            },
            standard,
            dashboard: set("KEEPER_COST_DASHBOARD").unwrap_or_else(|| crate::cost::DASHBOARD_NAME.to_string()),
        })
    }
}

#[cfg(test)]
mod cost_config_tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<CostConfig, String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        CostConfig::from_env(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).map_err(|e| e.to_string())
    }

    #[test]
    fn the_cost_report_projects_the_standard_the_audit_enforces() {
        let c = read(&[("KEEPER_STANDARD_KEEP_TAGGED", "20"), ("KEEPER_COST_DASHBOARD", "apps-costs")]);
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        let expected = crate::lifecycle::generate(
            &crate::audit::Standard::from_parts(crate::audit::StandardParts {
                keep_tagged: Some(20),
                ..Default::default()
            })
            .map(|s| s.params())
            .unwrap_or_default(),
        );
        assert_eq!(Ok(&c.standard), expected.as_ref());
        assert_eq!(c.dashboard, "apps-costs");
        let defaults = read(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Ok(&defaults.standard), crate::lifecycle::generate(&Default::default()).as_ref());
        assert_eq!(defaults.dashboard, crate::cost::DASHBOARD_NAME);
    }

    #[test]
    fn bad_values_name_their_variable() {
        let e = read(&[("KEEPER_PRICE_PER_GB_MONTH", "cheap")]).err().unwrap_or_default();
        assert!(e.starts_with("KEEPER_PRICE_PER_GB_MONTH: \"cheap\" is not a price"), "{e}");
        let e = read(&[("KEEPER_TOP", "0")]).err().unwrap_or_default();
        assert!(e.starts_with("KEEPER_TOP:"), "{e}");
        let e = read(&[("KEEPER_STANDARD_KEEP_TAGGED", "-1")]).err().unwrap_or_default();
        assert!(e.starts_with("KEEPER_STANDARD_KEEP_TAGGED:"), "{e}");
    }
}

/// A scheduled run's settings (the state machine's steps): `KEEPER_REPORTS_BUCKET` (required
/// for the steps), `KEEPER_SHARD_REPOSITORIES` (default 50, at most 200), `KEEPER_MAX_PASSES` (default 3,
/// at most 10), `KEEPER_MAX_CONCURRENCY` (default 10, at most 1,000),
/// `KEEPER_TOLERATED_FAILURE_PERCENTAGE` (default 0), and the alert topic the
/// summary goes to, `KEEPER_ALERT_TOPIC_ARN` (optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledRunConfig {
    pub run: crate::run::RunSettings,
    pub summary_topic_arn: Option<String>,
}

impl ScheduledRunConfig {
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = crate::run::RunSettings::default();
        let bounded = |name: &'static str, max: u32| -> Result<Option<u32>, ConfigError> {
            match positive(&get, name)? {
                Some(n) if n > max => {
                    Err(ConfigError { variable: name, message: format!("{n} is more than the most allowed, {max}") })
                }
                other => Ok(other),
            }
        };
        let text = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Ok(ScheduledRunConfig {
            run: crate::run::RunSettings {
                bucket: text("KEEPER_REPORTS_BUCKET").unwrap_or_default(),
                shard_repositories: bounded("KEEPER_SHARD_REPOSITORIES", crate::run::MAX_SHARD_REPOSITORIES as u32)?
                    .map_or(defaults.shard_repositories, |n| n as usize),
                max_passes: bounded("KEEPER_MAX_PASSES", 10)?.unwrap_or(defaults.max_passes),
                max_concurrency: bounded("KEEPER_MAX_CONCURRENCY", 1_000)?.unwrap_or(defaults.max_concurrency),
                tolerated_failure_percentage: match text("KEEPER_TOLERATED_FAILURE_PERCENTAGE") {
                    None => defaults.tolerated_failure_percentage,
                    Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 100).ok_or_else(|| ConfigError {
                        variable: "KEEPER_TOLERATED_FAILURE_PERCENTAGE",
                        message: format!("\"{v}\" is not a whole number from 0 to 100"),
                    })?,
                },
            },
            summary_topic_arn: text("KEEPER_ALERT_TOPIC_ARN"),
        })
    }

    /// The bucket, or why a state machine step cannot run without it.
    pub fn bucket(&self) -> Result<&str, ConfigError> {
        if self.run.bucket.is_empty() {
            return Err(ConfigError {
                variable: "KEEPER_REPORTS_BUCKET",
                message:
                    "not set: a scheduled run's steps keep their work in this S3 bucket (the stack's ReportsBucket)"
                        .into(),
            });
        }
        Ok(&self.run.bucket)
    }
}

#[cfg(test)]
mod scheduled_run_tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<ScheduledRunConfig, ConfigError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ScheduledRunConfig::from_env(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_and_bounds_name_the_variable() {
        let c = read(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.run.shard_repositories, c.run.max_passes, c.run.max_concurrency), (50, 3, 10));
        assert_eq!(c.bucket().map_err(|e| e.variable), Err("KEEPER_REPORTS_BUCKET"));
        let c = read(&[("KEEPER_REPORTS_BUCKET", "b"), ("KEEPER_SHARD_REPOSITORIES", "25")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.bucket().ok(), c.run.shard_repositories), (Some("b"), 25));
        let e = read(&[("KEEPER_MAX_PASSES", "11")]).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(e, "KEEPER_MAX_PASSES: 11 is more than the most allowed, 10");
        let e = read(&[("KEEPER_SHARD_REPOSITORIES", "0")]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("KEEPER_SHARD_REPOSITORIES: \"0\" is not a whole number of at least 1"), "{e}");
    }
}
