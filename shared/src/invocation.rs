//! Facts about a Lambda invocation that every function needs.

use std::time::Duration;

/// Assumed when the runtime's deadline is not a real one.
pub const FALLBACK_TIME_LEFT: Duration = Duration::from_secs(60);

/// Time left before Lambda stops the invocation, from the runtime's `Lambda-Runtime-Deadline-Ms`.
///
/// Lambda always gives a deadline in the future. One already past when the invocation starts is
/// a placeholder (cargo-lambda's local emulator sends a fixed `600000`): then a conservative
/// [`FALLBACK_TIME_LEFT`] is assumed rather than failing every request at once.
pub fn time_left(deadline_ms: u64, now_ms: u64) -> Duration {
    if deadline_ms > now_ms {
        Duration::from_millis(deadline_ms - now_ms)
    } else {
        tracing::warn!(
            deadline_ms,
            now_ms,
            "the runtime's deadline has already passed; assuming {FALLBACK_TIME_LEFT:?} left"
        );
        FALLBACK_TIME_LEFT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_deadline_gives_the_time_until_it() {
        assert_eq!(time_left(1_800_000_010_000, 1_800_000_000_000), Duration::from_secs(10));
    }

    #[test]
    fn a_placeholder_deadline_gives_the_fallback() {
        assert_eq!(time_left(600_000, 1_800_000_000_000), FALLBACK_TIME_LEFT);
        assert_eq!(time_left(1_800_000_000_000, 1_800_000_000_000), FALLBACK_TIME_LEFT);
    }
}
