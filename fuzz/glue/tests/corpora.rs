//! Replays every saved fuzz input (seeds, and the corpora `make fuzz` kept) through the same
//! entry points the fuzz targets drive, on stable Rust: a regression found by fuzzing stays
//! found.

use ecr_keeper_fuzz_glue as fuzz_targets;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut replayed = [0, 0];
    for (i, kind) in ["seeds", "corpus"].iter().enumerate() {
        let dir = fuzz.join(kind).join(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} panics", entry.path().display());
            replayed[i] += 1;
        }
    }
    assert!(replayed[0] >= 3, "{target}: only {} seeds", replayed[0]);
    assert!(replayed[1] >= 100, "{target}: only {} corpus inputs (run `make fuzz`)", replayed[1]);
}

#[test]
fn lifecycle_policy_corpus() {
    replay("lifecycle_policy", fuzz_targets::lifecycle_policy);
}

#[test]
fn event_corpus() {
    replay("event", fuzz_targets::event);
}

#[test]
fn custom_resource_request_corpus() {
    replay("custom_resource_request", fuzz_targets::custom_resource_request);
}

#[test]
fn manifest_corpus() {
    replay("manifest", fuzz_targets::manifest);
}

#[test]
fn image_details_corpus() {
    replay("image_details", fuzz_targets::image_details);
}
