//! Scan findings: severities, the threshold and suppression policy, and what an alert says.

use crate::tag_match::TagMatcher;
use serde::Serialize;
use std::fmt;

/// ECR's six severities, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Informational,
    Undefined,
}

impl Severity {
    pub const ALL: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
        Severity::Undefined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "CRITICAL",
            Self::High => "HIGH",
            Self::Medium => "MEDIUM",
            Self::Low => "LOW",
            Self::Informational => "INFORMATIONAL",
            Self::Undefined => "UNDEFINED",
        }
    }

    pub fn from_wire(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }

    /// At least as severe as `threshold`.
    pub fn at_or_above(self, threshold: Severity) -> bool {
        self <= threshold
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeverityCounts([u64; 6]);

impl SeverityCounts {
    pub fn add(&mut self, severity: Severity, n: u64) {
        self.0[severity as usize] += n;
    }

    pub fn get(&self, severity: Severity) -> u64 {
        self.0[severity as usize]
    }

    pub fn at_or_above(&self, threshold: Severity) -> u64 {
        Severity::ALL.iter().filter(|s| s.at_or_above(threshold)).map(|s| self.get(*s)).sum()
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Every severity with its count, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (Severity, u64)> + '_ {
        Severity::ALL.into_iter().map(|s| (s, self.get(s)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// CVE id or the scanner's finding name.
    pub id: String,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The version that fixes it, where the scanner knows one (enhanced scanning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_in: Option<String>,
    /// The scanner's score (CVSS), as reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
}

/// `CVE-2024-1234`, or `team-a/*:CVE-2024-1234` to suppress it only in matching repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub repositories: Option<String>,
    pub id: String,
}

impl Suppression {
    pub fn applies(&self, repository: &str, finding_id: &str) -> bool {
        self.id.eq_ignore_ascii_case(finding_id)
            && self.repositories.as_deref().is_none_or(|p| TagMatcher::pattern(p).matches(repository))
    }
}

/// An entry of a suppression list that is neither an id nor `pattern:id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{entry}\" is not a finding id (CVE-2024-1234) or repository-pattern:id (team-a/*:CVE-2024-1234)")]
pub struct SuppressionError {
    pub entry: String,
}

/// A severity name that is not one of ECR's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{text}\" is not one of {}", Severity::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "))]
pub struct SeverityError {
    pub text: String,
}

/// Parses a comma- or whitespace-separated suppression list.
pub fn parse_suppressions(text: &str) -> Result<Vec<Suppression>, SuppressionError> {
    text.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (repositories, id) = match entry.rsplit_once(':') {
                Some((r, id)) => (Some(r.to_string()), id.to_string()),
                None => (None, entry.to_string()),
            };
            if id.is_empty() || repositories.as_deref() == Some("") {
                Err(SuppressionError { entry: entry.to_string() })
            } else {
                Ok(Suppression { repositories, id })
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingsPolicy {
    pub threshold: Severity,
    pub suppressions: Vec<Suppression>,
}

impl Default for FindingsPolicy {
    fn default() -> Self {
        FindingsPolicy { threshold: Severity::High, suppressions: Vec::new() }
    }
}

/// The verdict on one scanned image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assessment {
    pub threshold: Severity,
    /// Findings at or above the threshold that no suppression covers.
    pub unsuppressed_at_or_above: u64,
    /// Up to 10 unsuppressed findings, most severe first.
    pub top_findings: Vec<Finding>,
    pub suppressed: Vec<Finding>,
}

impl Assessment {
    pub fn breached(&self) -> bool {
        self.unsuppressed_at_or_above > 0
    }
}

pub const TOP_FINDINGS: usize = 10;

impl FindingsPolicy {
    /// `counts` are the scan's totals; `findings` its detailed list (all pages). Suppressed
    /// findings are subtracted from the totals at or above the threshold.
    pub fn assess(&self, repository: &str, counts: &SeverityCounts, findings: &[Finding]) -> Assessment {
        let (suppressed, mut open): (Vec<Finding>, Vec<Finding>) =
            findings.iter().cloned().partition(|f| self.suppressions.iter().any(|s| s.applies(repository, &f.id)));
        let suppressed_at_or_above =
            suppressed.iter().filter(|f| f.severity.at_or_above(self.threshold)).count() as u64;
        open.sort_by(|a, b| a.severity.cmp(&b.severity).then_with(|| a.id.cmp(&b.id)));
        open.truncate(TOP_FINDINGS);
        Assessment {
            threshold: self.threshold,
            unsuppressed_at_or_above: counts.at_or_above(self.threshold).saturating_sub(suppressed_at_or_above),
            top_findings: open,
            suppressed,
        }
    }
}

impl FindingsPolicy {
    /// Every unsuppressed finding at or above the threshold, most severe first.
    pub fn open_at_or_above(&self, repository: &str, findings: &[Finding]) -> Vec<Finding> {
        let mut open: Vec<Finding> = findings
            .iter()
            .filter(|f| f.severity.at_or_above(self.threshold))
            .filter(|f| !self.suppressions.iter().any(|s| s.applies(repository, &f.id)))
            .cloned()
            .collect();
        open.sort_by(|a, b| a.severity.cmp(&b.severity).then_with(|| a.id.cmp(&b.id)));
        open
    }
}

/// The console page with an image's scan results.
pub fn console_link(region: &str, account: &str, repository: &str, digest: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/ecr/repositories/private/{account}/{repository}/_/image/{digest}/scan-results?region={region}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, severity: Severity) -> Finding {
        Finding { id: id.into(), severity, package: None, version: None, uri: None, fixed_in: None, score: None }
    }

    #[test]
    fn suppressions_parse_and_scope_to_repositories() {
        let s = parse_suppressions("CVE-1, team-a/*:CVE-2\nCVE-3").unwrap_or_default();
        assert_eq!(s.len(), 3);
        assert!(s[0].applies("anything", "cve-1"));
        assert!(s[1].applies("team-a/api", "CVE-2"));
        assert!(!s[1].applies("team-b/api", "CVE-2"));
        assert!(parse_suppressions(":CVE-1").is_err());
        assert!(parse_suppressions("team-a/*:").is_err());
    }

    #[test]
    fn suppressed_findings_do_not_count_toward_the_threshold() {
        let policy = FindingsPolicy {
            threshold: Severity::High,
            suppressions: parse_suppressions("app:CVE-CRIT").unwrap_or_default(),
        };
        let mut counts = SeverityCounts::default();
        counts.add(Severity::Critical, 1);
        counts.add(Severity::Medium, 4);
        let findings = [finding("CVE-CRIT", Severity::Critical), finding("CVE-MED", Severity::Medium)];
        let verdict = policy.assess("app", &counts, &findings);
        assert_eq!(verdict.unsuppressed_at_or_above, 0);
        assert!(!verdict.breached());
        assert_eq!(verdict.suppressed, [finding("CVE-CRIT", Severity::Critical)]);
        // The same finding elsewhere is not suppressed.
        assert!(policy.assess("other", &counts, &findings).breached());
    }

    #[test]
    fn top_findings_are_the_most_severe_unsuppressed_ten() {
        let policy = FindingsPolicy { threshold: Severity::Low, suppressions: Vec::new() };
        let mut findings: Vec<Finding> = (0..12).map(|k| finding(&format!("CVE-L{k:02}"), Severity::Low)).collect();
        findings.push(finding("CVE-C", Severity::Critical));
        let mut counts = SeverityCounts::default();
        counts.add(Severity::Low, 12);
        counts.add(Severity::Critical, 1);
        let verdict = policy.assess("r", &counts, &findings);
        assert_eq!(verdict.top_findings.len(), 10);
        assert_eq!(verdict.top_findings[0].id, "CVE-C");
        assert_eq!(verdict.unsuppressed_at_or_above, 13);
    }

    #[test]
    fn severities_order_from_critical_down() {
        assert!(Severity::Critical.at_or_above(Severity::High));
        assert!(Severity::High.at_or_above(Severity::High));
        assert!(!Severity::Medium.at_or_above(Severity::High));
        assert_eq!(Severity::from_wire("informational"), Some(Severity::Informational));
    }
}
