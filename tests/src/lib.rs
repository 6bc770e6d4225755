//! Shared support for frontrow's adapter contract suites and black-box HTTP tests:
//! the real servers started by `scripts/test.sh` (found through `FRONTROW_TEST_*`
//! variables), a fresh database or key prefix per test, and `spawn_app`.
//!
//! A test whose server is missing fails and names the variable and the command that
//! provides it; nothing is skipped silently.

// Test support: failing loudly (unwrap/expect) is how a test reports a broken premise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod db;
pub mod redis;

/// Reads a variable that `scripts/test.sh` exports, or fails the test saying so.
pub fn required_env(name: &str, what: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: this test needs {what}. Run the suite with scripts/test.sh, \
             which starts it (or export {name} yourself)."
        ),
    }
}
