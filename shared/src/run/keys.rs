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

/// One pass's index: each shard's number and registry (see [`super::ShardRef`]).
pub fn pass_index_key(job: &str, run_id: &str, pass: u32) -> String {
    format!("{}passes/{pass}.shards.json", run_prefix(job, run_id))
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

/// Where an organization run keeps one registry's own report (`report.<extension>` under each):
/// beside the dated report and beside `latest`, so the index's relative links
/// (`registries/<account>/<region>/report.html`) work from both.
pub fn registry_report_prefixes(job: &str, at: DateTime<Utc>, account: &str, region: &str) -> [String; 2] {
    [
        format!("reports/{job}/{}/registries/{account}/{region}/", at.format("%Y-%m-%d")),
        format!("reports/{job}/registries/{account}/{region}/"),
    ]
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

/// [`table_key`] for one registry of an organization run: the registries of an account share
/// its partition, each with a file of its own.
pub fn registry_table_key(job: &str, at: DateTime<Utc>, account: &str, region: &str) -> String {
    let key = table_key(job, at, account);
    format!("{}-{region}.json", key.trim_end_matches(".json"))
}
