//! Keeping a run's report: JSON, markdown and HTML, dated and as `latest`, and the summary the
//! alert topic gets (headline numbers, what changed since the previous report, the keys).

use super::{latest_key, report_key, table_key, ReportStore, StoreError};
use crate::alerts::AlertMessage;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A report a scheduled run keeps.
pub trait RunReport: Serialize + DeserializeOwned + Send + Sync {
    /// "ECR lifecycle audit", "ECR storage cost".
    const TITLE: &'static str;
    fn generated_at(&self) -> DateTime<Utc>;
    /// False when something could not be read: the report names it.
    fn complete(&self) -> bool;
    fn to_markdown(&self) -> String;
    /// The self-contained page for people; `changes` from [`RunReport::changes`].
    fn to_html(&self, changes: &[String]) -> String;
    /// The numbers a summary leads with, as (label, value).
    fn headline(&self) -> Vec<(String, String)>;
    /// What changed since `previous`, a line each (empty when nothing did).
    fn changes(&self, previous: &Self) -> Vec<String>;
    /// The actions the report opens with, most consequential first (see
    /// [`crate::audit::fix_first`]); empty when there is nothing to fix.
    fn fix_first(&self) -> Vec<Ranked> {
        Vec::new()
    }
    /// The findings as OCSF JSON Lines (`report.ocsf.json`), for reports that have findings.
    fn ocsf_findings(&self) -> Option<String> {
        None
    }
    /// The report's rows for Athena (findings, per-repository costs): one flat JSON object each,
    /// snake_case columns, with the account whose partition it lands in (the partition says the
    /// account: a column of the same name would clash with it in Athena).
    fn table_rows(&self) -> Vec<TableRow> {
        Vec::new()
    }
}

/// One row of a report's Athena table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub account: String,
    /// One JSON object, on one line.
    pub json: String,
}

/// An action a report opens with: its rank (lower first), its weight within the rank (higher
/// first: bytes, dollars), and the line people read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ranked {
    pub rank: u8,
    pub weight: u64,
    pub line: String,
    /// The same line for the markdown report: names escaped, commands in code spans.
    pub markdown: String,
}

/// How many actions a report opens with, and how many the alert topic's summary carries.
pub const FIX_FIRST_SHOWN: usize = 5;
pub const FIX_FIRST_IN_SUMMARY: usize = 3;

/// Ranked actions in order: rank, then weight (largest first), then the line.
pub fn in_order(mut actions: Vec<Ranked>) -> Vec<Ranked> {
    actions.sort_by(|a, b| a.rank.cmp(&b.rank).then(b.weight.cmp(&a.weight)).then(a.line.cmp(&b.line)));
    actions
}

/// The markdown section a report opens with.
pub fn fix_first_markdown(actions: &[Ranked]) -> String {
    let mut md = String::from("## Fix first\n\n");
    if actions.is_empty() {
        md.push_str("Nothing: no check failed.\n\n");
        return md;
    }
    for (i, a) in actions.iter().take(FIX_FIRST_SHOWN).enumerate() {
        md.push_str(&format!("{}. {}\n", i + 1, a.markdown));
    }
    if actions.len() > FIX_FIRST_SHOWN {
        md.push_str(&format!(
            "\n{} more below.\n",
            crate::lifecycle::count((actions.len() - FIX_FIRST_SHOWN) as u64, "action", "actions")
        ));
    }
    md.push('\n');
    md
}

/// What [`publish_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub keys: Vec<String>,
    /// The Athena table's files this run added (one per account), beside the reports.
    pub table_keys: Vec<String>,
    /// `None` without a previous report.
    pub changes: Option<Vec<String>>,
}

/// The report a run kept last (`reports/<job>/latest.json`): what the next report compares
/// with. One that no longer parses (another version wrote it) is ignored, not fatal.
pub async fn kept_report<R: RunReport, S: ReportStore>(store: &S, job: &str) -> Result<Option<R>, StoreError> {
    let Some(text) = store.get(&latest_key(job, "json")).await? else { return Ok(None) };
    match serde_json::from_str::<R>(&text) {
        Ok(previous) => Ok(Some(previous)),
        Err(e) => {
            tracing::warn!(error = %e, "the previous report does not parse; no change is shown");
            Ok(None)
        }
    }
}

/// One file of a kept report: (extension, body, content type).
pub type ReportFile = (&'static str, String, &'static str);

/// A report's files (JSON, markdown, HTML, and the OCSF findings where the report has them), and
/// what changed since `previous`: what S3 keeps and what the CLI's `--output-dir` writes are the
/// same bytes.
pub fn render<R: RunReport>(report: &R, previous: Option<&R>) -> (Vec<ReportFile>, Option<Vec<String>>) {
    let changes = previous.map(|p| report.changes(p));
    let since = changes.as_deref().unwrap_or_default();
    let files = (0..FILE_KINDS).filter_map(|kind| render_file(report, since, kind)).collect();
    (files, changes)
}

/// How many kinds of file a report may have (see [`render_file`]).
const FILE_KINDS: usize = 4;

/// One of a report's files: 0 JSON, 1 markdown, 2 HTML, 3 the OCSF findings (`None` for a
/// report without findings). One at a time, so a writer that keeps each before making the
/// next holds one file, not four.
fn render_file<R: RunReport>(report: &R, since: &[String], kind: usize) -> Option<ReportFile> {
    match kind {
        0 => Some(("json", serde_json::to_string(report).unwrap_or_default(), "application/json")),
        1 => Some(("md", report.to_markdown(), "text/markdown; charset=utf-8")),
        2 => Some(("html", report.to_html(since), "text/html; charset=utf-8")),
        3 => report.ocsf_findings().map(|lines| ("ocsf.json", lines, "application/x-ndjson")),
        _ => None,
    }
}

/// Writes `reports/<job>/<date>/report.{json,md,html}` and `reports/<job>/latest.*`; the change
/// is reckoned from `previous` (see [`kept_report`]).
pub async fn publish_report<R: RunReport, S: ReportStore>(
    store: &S,
    job: &str,
    report: &R,
    previous: Option<&R>,
) -> Result<Published, StoreError> {
    let (files, changes) = render(report, previous);
    let at = report.generated_at();
    let mut keys = Vec::new();
    for (extension, body, content_type) in files {
        let dated = report_key(job, at, extension);
        store.put(&dated, body.clone().into_bytes(), content_type).await?;
        store.put(&latest_key(job, extension), body.into_bytes(), content_type).await?;
        keys.push(dated);
    }
    let by_account = rows_by_account(report);
    let mut table_keys = Vec::new();
    for (account, lines) in by_account {
        let key = table_key(job, at, &account);
        store.put(&key, lines.into_bytes(), "application/x-ndjson").await?;
        table_keys.push(key);
    }
    Ok(Published { keys, changes, table_keys })
}

/// A report's Athena rows as JSON Lines, one text per account (the partition it lands in).
fn rows_by_account<R: RunReport>(report: &R) -> std::collections::BTreeMap<String, String> {
    let mut by_account: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for row in report.table_rows() {
        let lines = by_account.entry(row.account).or_default();
        lines.push_str(&row.json);
        lines.push('\n');
    }
    by_account
}

/// Keeps one registry's own report in an organization run: `report.<extension>` under each of
/// `prefixes`, its Athena rows under `job`'s table (one file per registry and run); the keys
/// written. No change is reckoned: the organization's index says what changed.
pub async fn keep_registry_report<R: RunReport, S: ReportStore>(
    store: &S,
    job: &str,
    prefixes: &[String],
    region: &str,
    report: &R,
) -> Result<Vec<String>, StoreError> {
    let mut keys = Vec::new();
    // File by file: a registry of thousands of repositories makes HTML and markdown of tens of
    // megabytes, and the aggregate's memory is what one registry needs.
    for kind in 0..FILE_KINDS {
        let Some((extension, body, content_type)) = render_file(report, &[], kind) else { continue };
        for prefix in prefixes {
            let key = format!("{prefix}report.{extension}");
            store.put(&key, body.as_bytes().to_vec(), content_type).await?;
            keys.push(key);
        }
    }
    let by_account = rows_by_account(report);
    for (account, lines) in by_account {
        let key = super::keys::registry_table_key(job, report.generated_at(), &account, region);
        store.put(&key, lines.into_bytes(), "application/x-ndjson").await?;
        keys.push(key);
    }
    Ok(keys)
}

/// The alert topic's message for a finished run: headline numbers, the change since the
/// previous report, and where the reports are (bucket and keys: never a pre-signed URL, which
/// would hand the report to whoever the message is forwarded to).
pub fn run_summary<R: RunReport>(report: &R, published: &Published, bucket: &str) -> AlertMessage {
    let mut text = format!("{} — {}\n\n", R::TITLE, crate::lifecycle::to_second(report.generated_at()));
    if !report.complete() {
        text.push_str("INCOMPLETE: some repositories could not be read; the report names them.\n\n");
    }
    for (label, value) in report.headline() {
        text.push_str(&format!("{label}: {value}\n"));
    }
    let actions = report.fix_first();
    if !actions.is_empty() {
        text.push_str("\nFix first:\n");
        for (i, a) in actions.iter().take(FIX_FIRST_IN_SUMMARY).enumerate() {
            text.push_str(&format!("{}. {}\n", i + 1, a.line));
        }
    }
    match &published.changes {
        None => text.push_str("\nNo previous report to compare with.\n"),
        Some(changes) if changes.is_empty() => text.push_str("\nNo change since the previous report.\n"),
        Some(changes) => {
            text.push_str("\nSince the previous report:\n");
            for line in changes.iter().take(20) {
                text.push_str(&format!("- {line}\n"));
            }
            if changes.len() > 20 {
                text.push_str(&format!("- … and {} more in the report\n", changes.len() - 20));
            }
        }
    }
    text.push_str(&format!("\nReports in s3://{bucket}/:\n"));
    for key in &published.keys {
        text.push_str(&format!("- {key}\n"));
    }
    let status = if report.complete() { "" } else { " (incomplete)" };
    let subject = format!("{}{status}", R::TITLE);
    let body = serde_json::json!({ "default": text, "email": text }).to_string();
    AlertMessage { subject, body, shown: 0, left_out: 0 }
}
