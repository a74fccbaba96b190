//! `--output-dir DIR`: the files a scheduled run keeps (report.json, report.md, report.html and,
//! for the audit, report.ocsf.json), rendered by the same `run::render`. A report.json already there is the
//! previous report the HTML's "since the previous report" compares with.

use crate::EXIT_INVALID;
use ecr_keeper_core::run::{render, RunReport};
use std::path::Path;
use std::process::ExitCode;

/// Before any work: the directory can be created and written, so a run is never thrown away at
/// its end for an unwritable path.
pub fn check_writable(dir: Option<&Path>) -> Result<(), ExitCode> {
    let Some(dir) = dir else { return Ok(()) };
    let probe = dir.join(".ecr-keeper-write-check");
    let checked = std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create it: {e}"))
        .and_then(|()| std::fs::write(&probe, b"").map_err(|e| format!("cannot write in it: {e}")))
        .and_then(|()| std::fs::remove_file(&probe).map_err(|e| format!("cannot remove {}: {e}", probe.display())));
    checked.map_err(|e| {
        eprintln!("ecr-keeper: --output-dir {}: {e}; nothing was read", dir.display());
        ExitCode::from(EXIT_INVALID)
    })
}

/// Writes the files when `--output-dir` was given, saying where on stderr; the exit code to
/// stop with when it could not.
pub fn write_if_asked<R: RunReport>(dir: Option<&Path>, report: &R) -> Result<(), ExitCode> {
    let Some(dir) = dir else { return Ok(()) };
    write(dir, report).map_err(|e| {
        eprintln!("ecr-keeper: --output-dir {}: {e}", dir.display());
        ExitCode::from(EXIT_INVALID)
    })
}

fn write<R: RunReport>(dir: &Path, report: &R) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create it: {e}"))?;
    let previous =
        std::fs::read_to_string(dir.join("report.json")).ok().and_then(|t| serde_json::from_str::<R>(&t).ok());
    let (files, _) = render(report, previous.as_ref());
    let mut written = Vec::new();
    for (extension, body, _) in files {
        let path = dir.join(format!("report.{extension}"));
        std::fs::write(&path, body).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path.display().to_string());
    }
    eprintln!("ecr-keeper: wrote {}", written.join(", "));
    Ok(())
}
