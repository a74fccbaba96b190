//! Who scans a repository's images: the repository's own scan-on-push, or a registry scanning
//! rule (basic or enhanced) whose filters match it.

use crate::lifecycle::TagMatcher;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScanFrequency {
    ScanOnPush,
    ContinuousScan,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanRule {
    pub frequency: ScanFrequency,
    /// Wildcard repository filters (`*` matches any run of characters).
    pub repository_filters: Vec<String>,
}

/// The registry scanning configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryScanning {
    /// The registry (account) the configuration belongs to, as ECR reports it.
    pub registry_id: Option<String>,
    /// Enhanced scanning (Amazon Inspector) instead of basic.
    pub enhanced: bool,
    pub rules: Vec<ScanRule>,
}

impl RegistryScanning {
    /// The registry rule that scans `repository` automatically (on push or continuously), if any.
    pub fn covering_rule(&self, repository: &str) -> Option<&ScanRule> {
        self.rules.iter().find(|rule| {
            rule.frequency != ScanFrequency::Manual
                && rule.repository_filters.iter().any(|f| TagMatcher::pattern(f).matches(repository))
        })
    }
}

/// Whether anything scans the images pushed to a repository without being asked.
pub fn scanned_automatically(repository: &str, scan_on_push: bool, registry: &RegistryScanning) -> bool {
    scan_on_push || registry.covering_rule(repository).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_rules_cover_repositories_by_wildcard() {
        let registry = RegistryScanning {
            registry_id: None,
            enhanced: false,
            rules: vec![
                ScanRule { frequency: ScanFrequency::Manual, repository_filters: vec!["*".into()] },
                ScanRule { frequency: ScanFrequency::ScanOnPush, repository_filters: vec!["team-a/*".into()] },
            ],
        };
        assert!(scanned_automatically("team-a/api", false, &registry));
        assert!(!scanned_automatically("team-b/api", false, &registry), "a MANUAL rule scans nothing by itself");
        assert!(scanned_automatically("team-b/api", true, &registry));
    }
}
