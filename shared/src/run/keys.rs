//! Where a run keeps its work and its reports, in one place (the template scopes each role to
//! these prefixes).

use chrono::{DateTime, Utc};

/// Everything one run writes while it runs: `runs/<job>/<run-id>/`.
pub fn run_prefix(job: &str, run_id: &str) -> String {
    format!("runs/{job}/{run_id}/")
}

/// The registry-wide facts the plan read once (region, registry, scanning, time).
pub fn context_key(job: &str, run_id: &str) -> String {
    format!("{}context.json", run_prefix(job, run_id))
}

/// One pass's shard items: the JSON array the Map's ItemReader reads.
pub fn pass_key(job: &str, run_id: &str, pass: u32) -> String {
    format!("{}passes/{pass}.json", run_prefix(job, run_id))
}

pub fn shard_key(job: &str, run_id: &str, shard: usize) -> String {
    format!("{}shards/{shard}.json", run_prefix(job, run_id))
}

/// `reports/<job>/<date>/report.<extension>`: one per day (a second run that day replaces it).
pub fn report_key(job: &str, at: DateTime<Utc>, extension: &str) -> String {
    format!("reports/{job}/{}/report.{extension}", at.format("%Y-%m-%d"))
}

pub fn latest_key(job: &str, extension: &str) -> String {
    format!("reports/{job}/latest.{extension}")
}

/// `reports/<job>/table/dt=<date>/account=<account>/<time>.json`: one JSON Lines file per run
/// and account, in Hive-style partitions an Athena table over `reports/<job>/table/` reads
/// (docs/athena.md). Runs of one day keep their own files.
pub fn table_key(job: &str, at: DateTime<Utc>, account: &str) -> String {
    format!(
        "reports/{job}/table/dt={}/account={}/{}.json",
        at.format("%Y-%m-%d"),
        if account.is_empty() { "unknown" } else { account },
        at.format("%Y%m%dT%H%M%SZ")
    )
}
