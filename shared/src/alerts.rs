//! Vulnerability alerts people can act on: one SNS message per image with findings not alerted
//! before, in AWS Chatbot's custom-notification format (chat) and as plain text (e-mail).
//!
//! De-duplication: the alert ledger keeps, per (account, repository, digest), the keys of the
//! open findings the last scan had. A rescan alerts only for findings missing from that set; the
//! set is then replaced by the scan's own, so a finding that was fixed and comes back alerts
//! again. The set is written only after SNS accepted the message, so a failed publish is retried
//! with the same findings, never dropped.

use crate::findings::{Finding, Severity, SeverityCounts};
use crate::lifecycle::count;
use chrono::{DateTime, Duration as Span, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::future::Future;
use std::time::Duration;

/// SNS refuses messages over 256 KiB (262,144 bytes); the margin covers the subject and the
/// attributes SNS counts with the message.
pub const MAX_MESSAGE_BYTES: usize = 250_000;
/// SNS allows 100 characters; e-mail clients cut long subjects anyway.
pub const MAX_SUBJECT_CHARS: usize = 99;
pub const DEFAULT_TOP_N: usize = 10;
/// An image may carry 1,000 tags: an alert names the first few and counts the rest.
pub const MAX_TAGS_SHOWN: usize = 10;
/// Text from the event or the scan (a tag, a package, a version, a finding id) is cut to this.
pub const MAX_FIELD_CHARS: usize = 200;
pub const MAX_TOP_N: usize = 1_000;
/// How long the ledger remembers an image's findings and a repository's last alert.
pub const LEDGER_TTL_DAYS: i64 = 90;

/// A finding's identity for de-duplication: the first 64 bits of SHA-256 over `id|package`
/// (the same CVE in two packages is two findings). 64 bits keep a 2,000-finding image's set at
/// 16 KB, far inside DynamoDB's 400 KB item limit.
pub type FindingKey = u64;

pub fn finding_key(finding: &Finding) -> FindingKey {
    let digest = Sha256::digest(format!("{}|{}", finding.id, finding.package.as_deref().unwrap_or("")).as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The ledger key of an image's alerted findings. The region is part of it: the same
/// repository name and digest in two regions of an account are two images (a replica's scan
/// must alert on its own).
pub fn image_key(account: &str, region: &str, repository: &str, digest: &str) -> String {
    format!("image#{account}/{region}/{repository}@{digest}")
}

/// The ledger key of a repository's last alert (for `KEEPER_ALERT_MIN_INTERVAL`).
pub fn repository_key(account: &str, region: &str, repository: &str) -> String {
    format!("repository#{account}/{region}/{repository}")
}

/// `KEEPER_ALERTS`: where vulnerability alerts go (the JSON log line is written in every mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertMode {
    /// SNS, de-duplicated through the ledger.
    Sns,
    /// The log line only.
    Log,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    pub top_n: usize,
    /// At most one message per repository within this span; later findings wait for a rescan.
    pub min_interval: Option<Duration>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings { top_n: DEFAULT_TOP_N, min_interval: None }
    }
}

/// Everything one alert says about one scanned image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageAlert {
    pub account: String,
    pub region: String,
    pub repository: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub scanner: &'static str,
    pub threshold: Severity,
    /// The scan's counts, as the event reported them.
    pub counts: SeverityCounts,
    /// Findings at or above the threshold that no suppression covers.
    pub open_at_or_above: u64,
    /// Open findings at or above the threshold not alerted before, most severe first.
    pub new_findings: Vec<Finding>,
    pub suppressed: usize,
    pub console_url: String,
    /// Why the scan's details could not be read: the alert then carries the event's counts.
    pub details_unavailable: Option<String>,
}

/// One SNS message: `body` is the JSON object for `MessageStructure: json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMessage {
    pub subject: String,
    pub body: String,
    /// Findings listed in the message, and new findings left out to stay under the size limit
    /// or the top-N setting.
    pub shown: usize,
    pub left_out: usize,
}

/// The message for `alert`, listing at most `top_n` findings and halving the list until the
/// whole message fits SNS's limit.
pub fn compose(alert: &ImageAlert, top_n: usize) -> AlertMessage {
    let mut shown = alert.new_findings.len().min(top_n);
    loop {
        let body = render(alert, shown);
        if body.len() <= MAX_MESSAGE_BYTES {
            return AlertMessage { subject: subject(alert), body, shown, left_out: alert.new_findings.len() - shown };
        }
        if shown == 0 {
            return minimal(alert);
        }
        shown /= 2;
    }
}

/// The smallest message that still says which image and where to look: what is sent when the
/// full one cannot fit, or SNS refused it. Every field is bounded, so it always fits.
pub fn minimal(alert: &ImageAlert) -> AlertMessage {
    let text = format!(
        "{}\nRepository: {}\nAccount: {}\nRegion: {}\nImage: {}\nBy severity: {}\nScan results: {}\n",
        headline(alert),
        clip(&alert.repository),
        clip(&alert.account),
        clip(&alert.region),
        clip(&alert.digest),
        severity_line(&alert.counts),
        clip(&alert.console_url),
    );
    let chat = json!({
        "version": "1.0",
        "source": "custom",
        "content": {"textType": "client-markdown", "title": chat_title(alert), "description": chat_code(&text)},
    });
    let body = json!({"default": chat.to_string(), "email": text}).to_string();
    AlertMessage { subject: subject(alert), body, shown: 0, left_out: alert.new_findings.len() }
}

/// At most [`MAX_FIELD_CHARS`] characters, with an ellipsis when cut.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_FIELD_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// The image's first tags, each clipped, and how many more it has.
pub fn shown_tags(tags: &[String]) -> (Vec<String>, usize) {
    let shown: Vec<String> = tags.iter().take(MAX_TAGS_SHOWN).map(|t| clip(t)).collect();
    (shown, tags.len().saturating_sub(MAX_TAGS_SHOWN))
}

fn tag_list(tags: &[String]) -> String {
    let (shown, more) = shown_tags(tags);
    match (shown.is_empty(), more) {
        (true, _) => "untagged".to_string(),
        (false, 0) => shown.join(", "),
        (false, more) => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Text from an event or a scan, shown literally in chat: in a code span, where Chatbot's
/// client markdown renders no link, emphasis or mention. Backticks and line breaks would end
/// the span, and `<…>` is Slack's own markup for mentions and links even there, so they are
/// replaced; `&` is escaped as Slack escapes it.
fn chat_code(text: &str) -> String {
    let literal: String = text
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '\n' | '\r' | '\t' => ' ',
            c => c,
        })
        .collect();
    format!("`{}`", literal.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"))
}

fn chat_title(alert: &ImageAlert) -> String {
    format!(":rotating_light: {}", chat_code(&headline(alert)))
}

fn image_name(alert: &ImageAlert) -> String {
    match alert.tags.first() {
        Some(tag) => format!("{}:{}", alert.repository, clip(tag)),
        None => format!("{}@{}", alert.repository, crate::image::short_digest(&alert.digest)),
    }
}

fn headline(alert: &ImageAlert) -> String {
    let new = alert.new_findings.len() as u64;
    match &alert.details_unavailable {
        Some(_) => format!(
            "{} at or above {} in {}",
            count(alert.open_at_or_above, "finding", "findings"),
            alert.threshold,
            image_name(alert)
        ),
        None => format!("{} {}+ in {}", count(new, "new finding", "new findings"), alert.threshold, image_name(alert)),
    }
}

/// ASCII only (SNS refuses control characters; e-mail subjects mangle the rest), ≤ 99 chars.
fn subject(alert: &ImageAlert) -> String {
    let text: String = format!("ecr-keeper: {}", headline(alert))
        .chars()
        .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' })
        .collect();
    if text.len() <= MAX_SUBJECT_CHARS {
        text
    } else {
        format!("{}...", &text[..MAX_SUBJECT_CHARS - 3])
    }
}

fn severity_line(counts: &SeverityCounts) -> String {
    counts.iter().filter(|(_, n)| *n > 0).map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>().join(", ")
}

/// One finding; in chat, its id, package and versions (the scan's text) as code spans.
fn finding_line(f: &Finding, format: Format) -> String {
    let lit = |t: &str| if format == Format::Chat { chat_code(&clip(t)) } else { clip(t) };
    let mut line = format!("{} {}", f.severity, lit(&f.id));
    if let Some(package) = &f.package {
        let _ = write!(line, " in {}", lit(package));
        if let Some(version) = &f.version {
            let _ = write!(line, " {}", lit(version));
        }
    }
    if let Some(fixed) = &f.fixed_in {
        let _ = write!(line, ", fixed in {}", lit(fixed));
    }
    if let Some(score) = &f.score {
        let _ = write!(line, " (score {})", lit(score));
    }
    line
}

fn next_steps(alert: &ImageAlert) -> Vec<String> {
    let mut steps = vec!["Review the findings in the scan results (link above)".to_string()];
    if let Some(reason) = &alert.details_unavailable {
        steps.push(format!("The findings' details could not be read ({reason}); the counts come from the scan event"));
    } else {
        steps.push(
            "Upgrade the listed packages (or rebuild on a patched base image) and push the image again".to_string(),
        );
    }
    steps.push(format!(
        "If a finding does not apply, suppress it for this repository: add {}:<finding id> to the stack's SuppressedFindings",
        alert.repository
    ));
    steps
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    /// Chatbot's client markdown.
    Chat,
    Email,
}

/// What both formats say, each in its own markup: the facts, the listed findings, how many were
/// left out, the link.
fn body(alert: &ImageAlert, listed: &[Finding], format: Format) -> String {
    let chat = format == Format::Chat;
    let label = |l: &str| if chat { format!("*{l}:*") } else { format!("{l}:") };
    let code = |v: &str| if chat { chat_code(v) } else { v.to_string() };
    let tags = code(&tag_list(&alert.tags));
    let mut facts = vec![
        ("Repository".to_string(), code(&clip(&alert.repository))),
        ("Account".into(), alert.account.clone()),
        ("Region".into(), alert.region.clone()),
        ("Image".into(), code(&clip(&alert.digest))),
        ("Tags".into(), tags),
        ("Scanner".into(), alert.scanner.to_string()),
        (
            format!("Open at or above {}", alert.threshold),
            format!("{} ({} suppressed)", alert.open_at_or_above, alert.suppressed),
        ),
        ("By severity".into(), severity_line(&alert.counts)),
    ];
    if let Some(reason) = &alert.details_unavailable {
        facts.push(("Details unavailable".into(), code(&clip(reason))));
    }
    let mut out = String::new();
    for (name, value) in facts {
        let _ = writeln!(out, "{} {value}", label(&name));
    }
    if !listed.is_empty() {
        let _ = writeln!(out, "{}", label("New findings"));
        for f in listed {
            let _ = writeln!(out, "{}{}", if chat { "• " } else { "  - " }, finding_line(f, format));
        }
    }
    let left_out = alert.new_findings.len() - listed.len();
    if left_out > 0 {
        let note = format!("…and {left_out} more new findings not listed here: see the scan results.");
        let _ = writeln!(out, "{}", if chat { format!("_{note}_") } else { format!("  {note}") });
    }
    let _ = writeln!(out, "{} {}", label("Scan results"), alert.console_url);
    out
}

fn render(alert: &ImageAlert, shown: usize) -> String {
    let listed = &alert.new_findings[..shown];
    let left_out = alert.new_findings.len() - shown;
    let steps = next_steps(alert);

    let markdown = body(alert, listed, Format::Chat);
    let mut email = format!("{}\n\n{}\nWhat to do:\n", headline(alert), body(alert, listed, Format::Email));
    for step in &steps {
        let _ = writeln!(email, "  - {step}");
    }
    email.push_str("\n-- ecr-keeper (scan-events)\n");

    let counts: serde_json::Map<String, Value> =
        alert.counts.iter().map(|(s, n)| (s.as_str().to_string(), json!(n))).collect();
    let chat = json!({
        "version": "1.0",
        "source": "custom",
        "id": format!("{}@{}", alert.repository, alert.digest),
        "content": {
            "textType": "client-markdown",
            "title": chat_title(alert),
            "description": markdown,
            "nextSteps": steps,
            "keywords": [alert.repository.clone(), alert.threshold.as_str(), alert.scanner],
        },
        "metadata": {
            "threadId": format!("{}/{}", alert.account, alert.repository),
            "summary": headline(alert),
            "eventType": "VulnerableImage",
            "relatedResources": [
                format!("arn:{}:ecr:{}:{}:repository/{}", crate::registry::partition(&alert.region), alert.region, alert.account, alert.repository),
                alert.console_url.clone(),
            ],
            "additionalContext": {
                "account": alert.account,
                "region": alert.region,
                "repository": alert.repository,
                "imageDigest": alert.digest,
                "imageTags": shown_tags(&alert.tags).0,
                "imageTagCount": alert.tags.len(),
                "threshold": alert.threshold.as_str(),
                "openAtOrAbove": alert.open_at_or_above,
                "newFindings": alert.new_findings.len(),
                "listed": shown,
                "leftOut": left_out,
                "suppressed": alert.suppressed,
                "severityCounts": counts,
                "consoleUrl": alert.console_url,
            },
        },
    });
    json!({ "default": chat.to_string(), "email": email }).to_string()
}

/// SNS, DynamoDB and the like, classified by error code into what a caller acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("{operation}: access denied ({message}); grant the function's role this permission")]
    AccessDenied { operation: &'static str, message: String },
    #[error("{operation}: throttled past the retry budget; the event is retried")]
    Throttled { operation: &'static str },
    #[error("{operation}: rejected ({code}): {message}")]
    Rejected { operation: &'static str, code: String, message: String },
    #[error("{operation}: the service failed ({code}): {message}")]
    Service { operation: &'static str, code: String, message: String },
    #[error("{operation}: could not reach the service: {message}")]
    Transport { operation: &'static str, message: String },
}

impl AlertError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Service { .. } | Self::Transport { .. })
    }
}

/// Where alert messages go (SNS in Lambda).
pub trait AlertPublisher: Send + Sync {
    fn publish(&self, message: &AlertMessage) -> impl Future<Output = Result<(), AlertError>> + Send;
}

/// What was alerted before (a DynamoDB table with a TTL in Lambda).
pub trait AlertLedger: Send + Sync {
    /// The finding keys recorded for an image (empty when none).
    fn findings(&self, image: &str) -> impl Future<Output = Result<HashSet<FindingKey>, AlertError>> + Send;

    /// Replaces an image's recorded keys.
    fn remember_findings(
        &self,
        image: &str,
        keys: &[FindingKey],
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), AlertError>> + Send;

    fn last_alert(&self, repository: &str) -> impl Future<Output = Result<Option<DateTime<Utc>>, AlertError>> + Send;

    fn remember_alert(
        &self,
        repository: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), AlertError>> + Send;
}

/// What became of an image's alert.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Delivery {
    Published {
        new: usize,
        shown: usize,
        left_out: usize,
    },
    /// Every open finding was alerted before.
    NothingNew,
    /// The repository had a message within `KEEPER_ALERT_MIN_INTERVAL`.
    Deferred {
        last_alert: String,
    },
    /// `KEEPER_ALERTS` is `log` or `off`.
    NotSent,
}

/// Where alerts go: SNS through the ledger, or nowhere but the log.
pub trait Alerts: Send + Sync {
    /// `alert.new_findings` holds every open finding at or above the threshold on entry.
    fn deliver(
        &self,
        alert: ImageAlert,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Delivery, AlertError>> + Send;
}

/// One alerter for every member account's reactor (built per event).
/// One alerter shared by the reactors a function builds (its own and each member's).
impl<A: Alerts> Alerts for std::sync::Arc<A> {
    async fn deliver(&self, alert: ImageAlert, now: DateTime<Utc>) -> Result<Delivery, AlertError> {
        (**self).deliver(alert, now).await
    }
}

impl<A: Alerts> Alerts for &A {
    async fn deliver(&self, alert: ImageAlert, now: DateTime<Utc>) -> Result<Delivery, AlertError> {
        (**self).deliver(alert, now).await
    }
}

/// `KEEPER_ALERTS=log|off`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAlerts;

impl Alerts for NoAlerts {
    async fn deliver(&self, _alert: ImageAlert, _now: DateTime<Utc>) -> Result<Delivery, AlertError> {
        Ok(Delivery::NotSent)
    }
}

/// SNS messages, de-duplicated through the ledger.
pub struct Alerter<P, L> {
    publisher: P,
    ledger: L,
    settings: AlertSettings,
}

impl<P: AlertPublisher, L: AlertLedger> Alerter<P, L> {
    pub fn new(publisher: P, ledger: L, settings: AlertSettings) -> Self {
        Alerter { publisher, ledger, settings }
    }
}

impl<P: AlertPublisher, L: AlertLedger> Alerts for Alerter<P, L> {
    async fn deliver(&self, mut alert: ImageAlert, now: DateTime<Utc>) -> Result<Delivery, AlertError> {
        let image = image_key(&alert.account, &alert.region, &alert.repository, &alert.digest);
        let current: Vec<FindingKey> = alert.new_findings.iter().map(finding_key).collect();
        let seen = self.ledger.findings(&image).await?;
        let expires_at = now + Span::days(LEDGER_TTL_DAYS);
        alert.new_findings.retain(|f| !seen.contains(&finding_key(f)));
        if alert.new_findings.is_empty() {
            // Forget what was fixed, so that it alerts again if it comes back.
            if current.iter().copied().collect::<HashSet<_>>() != seen {
                self.ledger.remember_findings(&image, &current, expires_at).await?;
            }
            return Ok(Delivery::NothingNew);
        }
        let repository = repository_key(&alert.account, &alert.region, &alert.repository);
        if let Some(interval) = self.settings.min_interval {
            if let Some(last) = self.ledger.last_alert(&repository).await? {
                if now.signed_duration_since(last).to_std().is_ok_and(|since| since < interval) {
                    return Ok(Delivery::Deferred { last_alert: last.to_rfc3339() });
                }
            }
        }
        let mut message = compose(&alert, self.settings.top_n);
        if let Err(e) = self.publisher.publish(&message).await {
            // SNS refused the message itself (its size as SNS counts it, a character it will
            // not take): the minimal message still gets the alert out. Anything else is retried.
            let AlertError::Rejected { .. } = e else { return Err(e) };
            tracing::warn!(error = %e, "SNS refused the alert; sending the minimal one");
            message = minimal(&alert);
            self.publisher.publish(&message).await?;
        }
        // The message is out: a failure to record it costs at most a repeated alert later, so
        // it is logged, not retried (a retry would publish the same message again now).
        if let Err(e) = self.ledger.remember_findings(&image, &current, expires_at).await {
            tracing::warn!(error = %e, image = %image, "alert sent but not recorded: a rescan may repeat it");
        }
        if self.settings.min_interval.is_some() {
            if let Err(e) = self.ledger.remember_alert(&repository, now, expires_at).await {
                tracing::warn!(error = %e, repository = %repository, "alert time not recorded");
            }
        }
        Ok(Delivery::Published { new: alert.new_findings.len(), shown: message.shown, left_out: message.left_out })
    }
}

/// In-memory stand-ins for the alert ports (re-exported by [`crate::testing`]).
#[cfg(any(test, feature = "test-util"))]
pub mod memory {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Records every message; fails the next `fail_next` publishes with `error`.
    #[derive(Default)]
    pub struct RecordingPublisher {
        pub sent: Mutex<Vec<AlertMessage>>,
        pub failures: Mutex<Vec<AlertError>>,
    }

    impl RecordingPublisher {
        pub fn messages(&self) -> Vec<AlertMessage> {
            self.sent.lock().map(|s| s.clone()).unwrap_or_default()
        }

        pub fn fail_next(&self, error: AlertError) {
            if let Ok(mut f) = self.failures.lock() {
                f.push(error);
            }
        }
    }

    impl AlertPublisher for RecordingPublisher {
        async fn publish(&self, message: &AlertMessage) -> Result<(), AlertError> {
            if let Some(e) = self.failures.lock().ok().and_then(|mut f| f.pop()) {
                return Err(e);
            }
            if let Ok(mut sent) = self.sent.lock() {
                sent.push(message.clone());
            }
            Ok(())
        }
    }

    #[derive(Default)]
    pub struct MemoryLedger {
        findings: Mutex<HashMap<String, HashSet<FindingKey>>>,
        alerts: Mutex<HashMap<String, DateTime<Utc>>>,
    }

    impl AlertLedger for MemoryLedger {
        async fn findings(&self, image: &str) -> Result<HashSet<FindingKey>, AlertError> {
            Ok(self.findings.lock().ok().and_then(|m| m.get(image).cloned()).unwrap_or_default())
        }

        async fn remember_findings(
            &self,
            image: &str,
            keys: &[FindingKey],
            _expires_at: DateTime<Utc>,
        ) -> Result<(), AlertError> {
            if let Ok(mut m) = self.findings.lock() {
                m.insert(image.to_string(), keys.iter().copied().collect());
            }
            Ok(())
        }

        async fn last_alert(&self, repository: &str) -> Result<Option<DateTime<Utc>>, AlertError> {
            Ok(self.alerts.lock().ok().and_then(|m| m.get(repository).copied()))
        }

        async fn remember_alert(
            &self,
            repository: &str,
            at: DateTime<Utc>,
            _expires_at: DateTime<Utc>,
        ) -> Result<(), AlertError> {
            if let Ok(mut m) = self.alerts.lock() {
                m.insert(repository.to_string(), at);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::{MemoryLedger, RecordingPublisher};
    use super::*;

    use crate::testing::finding;

    fn alert(findings: Vec<Finding>) -> ImageAlert {
        let mut counts = SeverityCounts::default();
        for f in &findings {
            counts.add(f.severity, 1);
        }
        ImageAlert {
            account: "123456789012".into(),
            region: "eu-west-1".into(),
            repository: "team-a/payments".into(),
            digest: "sha256:0123456789abcdef0123456789abcdef".into(),
            tags: vec!["v1.4.2".into()],
            scanner: "enhanced",
            threshold: Severity::High,
            open_at_or_above: findings.len() as u64,
            counts,
            new_findings: findings,
            suppressed: 1,
            console_url: "https://eu-west-1.console.aws.amazon.com/ecr/x".into(),
            details_unavailable: None,
        }
    }

    fn parts(message: &AlertMessage) -> (Value, String) {
        let body: Value = serde_json::from_str(&message.body).unwrap_or_default();
        let chat: Value = serde_json::from_str(body["default"].as_str().unwrap_or_default()).unwrap_or_default();
        (chat, body["email"].as_str().unwrap_or_default().to_string())
    }

    #[test]
    fn the_message_carries_what_to_act_on_in_both_formats() {
        // GIVEN an image with a critical and a high finding
        let a = alert(vec![finding("CVE-2024-0001", Severity::Critical), finding("CVE-2024-0002", Severity::High)]);
        // WHEN it is composed
        let m = compose(&a, 10);
        // THEN the chat part is a Chatbot custom notification and the e-mail part plain text
        let (chat, email) = parts(&m);
        assert_eq!(chat["version"], "1.0");
        assert_eq!(chat["source"], "custom");
        assert_eq!(chat["content"]["textType"], "client-markdown");
        let description = chat["content"]["description"].as_str().unwrap_or_default();
        for needle in [
            "team-a/payments",
            "123456789012",
            "eu-west-1",
            "v1.4.2",
            "CVE-2024-0001",
            "3.0.2",
            "9.8",
            "1 suppressed",
            "CRITICAL 1, HIGH 1",
        ] {
            assert!(description.contains(needle), "description lacks {needle}: {description}");
            assert!(email.contains(needle), "e-mail lacks {needle}: {email}");
        }
        assert!(chat["content"]["nextSteps"].as_array().is_some_and(|s| s.len() == 3));
        assert!(email.contains("Scan results: https://eu-west-1.console.aws.amazon.com/ecr/x"), "{email}");
        assert_eq!(chat["metadata"]["additionalContext"]["newFindings"], 2);
        assert!(!email.contains('{'), "the e-mail is text, not JSON");
        assert_eq!(m.subject, "ecr-keeper: 2 new findings HIGH+ in team-a/payments:v1.4.2");
        assert_eq!((m.shown, m.left_out), (2, 0));
    }

    #[tokio::test]
    async fn the_same_image_in_two_regions_alerts_in_each() {
        let alerter = Alerter::new(
            memory::RecordingPublisher::default(),
            memory::MemoryLedger::default(),
            AlertSettings::default(),
        );
        let here = alert(vec![finding("CVE-1", Severity::High)]);
        let mut replica = here.clone();
        replica.region = "eu-central-1".into();
        for a in [here, replica] {
            let d = alerter.deliver(a, now()).await;
            assert!(matches!(d, Ok(Delivery::Published { .. })), "{d:?}");
        }
        assert_eq!(alerter.publisher.messages().len(), 2);
    }

    #[test]
    fn eight_hundred_long_tags_cannot_push_the_alert_past_sns() {
        // GIVEN an image with 800 tags of 128 characters (ECR allows 1,000) and a big scan
        let mut a = alert(
            (0..500)
                .map(|k| Finding {
                    package: Some(format!("lib-{}-{k}", "p".repeat(300))),
                    version: Some("9".repeat(5_000)),
                    ..finding(&format!("CVE-2024-{k:05}"), Severity::High)
                })
                .collect(),
        );
        a.tags = (0..800).map(|k| format!("{k:03}-{}", "t".repeat(124))).collect();
        // WHEN it is composed
        let m = compose(&a, MAX_TOP_N);
        // THEN it fits SNS with findings listed, naming the first tags and counting the rest
        assert!(m.body.len() <= MAX_MESSAGE_BYTES, "{} bytes", m.body.len());
        assert!(m.shown > 0, "findings are still listed");
        let (chat, email) = parts(&m);
        assert!(email.contains("and 790 more"), "{}", &email[..2000.min(email.len())]);
        assert_eq!(chat["metadata"]["additionalContext"]["imageTagCount"], 800);
        assert_eq!(chat["metadata"]["additionalContext"]["imageTags"].as_array().map(Vec::len), Some(MAX_TAGS_SHOWN));
        assert!(!email.contains(&"9".repeat(MAX_FIELD_CHARS + 1)), "a version is clipped");
    }

    #[test]
    fn whatever_the_event_holds_the_message_fits() {
        // A repository name and digest far beyond ECR's own limits (a forged event): the
        // minimal message still fits.
        let mut a = alert(vec![finding("CVE-1", Severity::High)]);
        a.digest = "d".repeat(400_000);
        a.console_url = "u".repeat(400_000);
        let m = compose(&a, 10);
        assert!(m.body.len() <= MAX_MESSAGE_BYTES, "{} bytes", m.body.len());
        assert!(m.body.contains("team-a/payments"));
    }

    #[test]
    fn event_text_is_never_chat_markup() {
        // GIVEN tags and package text written to be links and mentions
        let mut a = alert(vec![Finding {
            package: Some("[click](https://evil.example) <!channel>".into()),
            version: Some("1.0`<@U123>`".into()),
            ..finding("CVE-2024-0001", Severity::Critical)
        }]);
        a.tags = vec!["<!here>".into(), "[x](https://evil.example)".into(), "*bold*\n@everyone".into()];
        let (chat, _) = parts(&compose(&a, 10));
        let description = chat["content"]["description"].as_str().unwrap_or_default();
        let title = chat["content"]["title"].as_str().unwrap_or_default();
        for text in [description, title] {
            // No raw angle brackets (Slack's mentions and links), and every link text sits
            // inside a code span, which renders it literally.
            assert!(!text.contains('<') && !text.contains('>'), "{text}");
            for line in text.lines() {
                let outside: String = line.split('`').step_by(2).collect();
                assert!(!outside.contains("](") && !outside.contains("@everyone"), "{line}");
            }
        }
        assert!(description.contains("&lt;!channel&gt;"), "{description}");
    }

    #[tokio::test]
    async fn a_message_sns_refuses_is_sent_again_minimal() {
        let publisher = memory::RecordingPublisher::default();
        publisher.fail_next(AlertError::Rejected {
            operation: "Publish",
            code: "InvalidParameter".into(),
            message: "Message too long".into(),
        });
        let alerter = Alerter::new(publisher, memory::MemoryLedger::default(), AlertSettings::default());
        let delivery = alerter.deliver(alert(vec![finding("CVE-1", Severity::High)]), now()).await;
        assert!(matches!(delivery, Ok(Delivery::Published { .. })), "{delivery:?}");
        let sent = alerter.publisher.messages();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].body.contains("Scan results"));
        assert_eq!(sent[0].shown, 0);
    }

    #[test]
    fn the_repository_arn_is_in_the_region_s_partition() {
        let mut a = alert(vec![finding("CVE-1", Severity::High)]);
        a.region = "cn-north-1".into();
        let (chat, _) = parts(&compose(&a, 10));
        assert_eq!(
            chat["metadata"]["relatedResources"][0],
            "arn:aws-cn:ecr:cn-north-1:123456789012:repository/team-a/payments"
        );
    }

    #[test]
    fn subjects_stay_ascii_and_under_100_characters() {
        let mut a = alert(vec![finding("CVE-1", Severity::High)]);
        a.repository = format!("{}/é", "x".repeat(200));
        let s = compose(&a, 10).subject;
        assert!(s.len() <= MAX_SUBJECT_CHARS && s.is_ascii() && s.ends_with("..."), "{s}");
    }

    #[test]
    fn a_huge_scan_is_cut_to_fit_and_says_how_many_were_left_out() {
        // GIVEN 2,000 findings with long fields, and room for all of them by top N
        let many: Vec<Finding> = (0..2000)
            .map(|k| Finding {
                uri: Some(format!("https://nvd.nist.gov/vuln/detail/CVE-2024-{k:05}")),
                package: Some(format!("lib-{}-{k}", "p".repeat(120))),
                ..finding(&format!("CVE-2024-{k:05}"), Severity::High)
            })
            .collect();
        let m = compose(&alert(many), MAX_TOP_N);
        // THEN the message fits SNS and both parts say how many are missing
        assert!(m.body.len() <= MAX_MESSAGE_BYTES, "{} bytes", m.body.len());
        assert!(m.shown > 0 && m.shown < MAX_TOP_N);
        assert_eq!(m.left_out, 2000 - m.shown);
        let (chat, email) = parts(&m);
        let note = format!("{} more new findings not listed", m.left_out);
        assert!(email.contains(&note) && chat["content"]["description"].as_str().unwrap_or_default().contains(&note));
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").map(|t| t.with_timezone(&Utc)).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_rescan_alerts_only_for_new_findings_and_a_returning_finding_alerts_again() {
        let alerter = Alerter::new(RecordingPublisher::default(), MemoryLedger::default(), AlertSettings::default());
        let (a, b) = (finding("CVE-A", Severity::Critical), finding("CVE-B", Severity::High));
        // GIVEN a first scan with A
        let first = alerter.deliver(alert(vec![a.clone()]), now()).await;
        assert_eq!(first, Ok(Delivery::Published { new: 1, shown: 1, left_out: 0 }));
        // WHEN the same scan comes again THEN nothing is published
        assert_eq!(alerter.deliver(alert(vec![a.clone()]), now()).await, Ok(Delivery::NothingNew));
        // WHEN B appears THEN only B is published
        assert_eq!(
            alerter.deliver(alert(vec![a.clone(), b.clone()]), now()).await.ok(),
            Some(Delivery::Published { new: 1, shown: 1, left_out: 0 })
        );
        let sent = alerter.publisher.messages();
        assert!(sent[1].body.contains("CVE-B") && !sent[1].body.contains("CVE-A"));
        // WHEN A is fixed, then comes back THEN A alerts again
        assert_eq!(alerter.deliver(alert(vec![b.clone()]), now()).await, Ok(Delivery::NothingNew));
        assert!(matches!(alerter.deliver(alert(vec![a, b]), now()).await, Ok(Delivery::Published { new: 1, .. })));
        assert_eq!(alerter.publisher.messages().len(), 3);
    }

    #[tokio::test]
    async fn a_failed_publish_records_nothing_so_the_retry_alerts() {
        let alerter = Alerter::new(RecordingPublisher::default(), MemoryLedger::default(), AlertSettings::default());
        alerter.publisher.fail_next(AlertError::Throttled { operation: "Publish" });
        let a = finding("CVE-A", Severity::Critical);
        let failed = alerter.deliver(alert(vec![a.clone()]), now()).await;
        assert!(failed.as_ref().is_err_and(AlertError::is_transient), "{failed:?}");
        assert!(matches!(alerter.deliver(alert(vec![a]), now()).await, Ok(Delivery::Published { .. })));
    }

    #[tokio::test]
    async fn the_minimum_interval_defers_a_repository_s_next_message() {
        let settings = AlertSettings { min_interval: Some(Duration::from_secs(3600)), ..AlertSettings::default() };
        let alerter = Alerter::new(RecordingPublisher::default(), MemoryLedger::default(), settings);
        let _ = alerter.deliver(alert(vec![finding("CVE-A", Severity::High)]), now()).await;
        let later = alert(vec![finding("CVE-A", Severity::High), finding("CVE-B", Severity::High)]);
        let soon = alerter.deliver(later.clone(), now() + Span::minutes(10)).await;
        assert!(matches!(soon, Ok(Delivery::Deferred { .. })), "{soon:?}");
        // The deferred finding was not recorded: it goes out once the interval has passed.
        let after = alerter.deliver(later, now() + Span::minutes(61)).await;
        assert_eq!(after, Ok(Delivery::Published { new: 1, shown: 1, left_out: 0 }));
    }

    #[test]
    fn the_same_cve_in_two_packages_is_two_findings() {
        let mut other = finding("CVE-A", Severity::High);
        other.package = Some("libssl".into());
        assert_ne!(finding_key(&finding("CVE-A", Severity::High)), finding_key(&other));
    }
}
