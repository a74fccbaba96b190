//! `--output-dir DIR`: the three files a scheduled run keeps (report.json, report.md,
//! report.html), rendered exactly as the run renders them. A report.json already there is the
//! previous report the HTML's "since the previous report" compares with.

use ecr_keeper_core::run::RunReport;
use std::path::{Path, PathBuf};

pub fn write<R: RunReport>(dir: &Path, report: &R) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--output-dir {}: cannot create it: {e}", dir.display()))?;
    let json_path = dir.join("report.json");
    let previous = std::fs::read_to_string(&json_path).ok().and_then(|t| serde_json::from_str::<R>(&t).ok());
    let changes = previous.map(|p| report.changes(&p)).unwrap_or_default();
    let files = [
        (json_path, serde_json::to_string(report).unwrap_or_default()),
        (dir.join("report.md"), report.to_markdown()),
        (dir.join("report.html"), report.to_html(&changes)),
    ];
    let mut written = Vec::new();
    for (path, body) in files {
        std::fs::write(&path, body).map_err(|e| format!("--output-dir: cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
