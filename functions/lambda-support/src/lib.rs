//! The Lambda side of ecr-keeper's functions, kept out of the core (which knows no runtime).

use ecr_keeper_core::invocation::time_left;
use ecr_keeper_core::ports::RegistryError;
use lambda_runtime::Diagnostic;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An AWS failure: returned so Lambda retries the event and, at last, the DLQ keeps it.
#[derive(Debug)]
pub struct AwsFailure(pub RegistryError);

impl From<AwsFailure> for Diagnostic {
    fn from(e: AwsFailure) -> Self {
        let kind = if e.0.is_transient() { "TransientAwsError" } else { "AwsError" };
        Diagnostic { error_type: kind.into(), error_message: e.0.to_string() }
    }
}

/// Time left before Lambda stops the invocation whose deadline is `deadline_ms`.
pub fn remaining(deadline_ms: u64) -> Duration {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
    time_left(deadline_ms, now_ms)
}
