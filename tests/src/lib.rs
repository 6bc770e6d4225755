//! Shared support for frontrow's adapter contract suites and black-box HTTP tests:
//! the real servers started by `scripts/test.sh` (found through `FRONTROW_TEST_*`
//! variables), a fresh database or key prefix per test, and `spawn_app`.
//!
//! A test whose server is missing fails and names the variable and the command that
//! provides it; nothing is skipped silently.

// Test support: failing loudly (unwrap/expect) is how a test reports a broken premise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod admission;
pub mod app;
pub mod db;
pub mod fault;
pub mod queues;
pub mod redis;
pub mod wait;

/// Reads a variable that `scripts/test.sh` exports, or fails the test saying so.
pub fn required_env(name: &str, what: &str) -> String {
    assert_named_as_server_test(what);
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: this test needs {what}. Run the suite with scripts/test.sh, \
             which starts it (or export {name} yourself)."
        ),
    }
}

/// What the name of a test that needs a server contains (`.config/nextest.toml`).
pub const SERVER_TEST_MARKERS: [&str; 3] = ["on_redis", "on_mariadb", "on_postgres"];

/// Fails a test that needs a server (`what`) but whose name has none of the
/// [`SERVER_TEST_MARKERS`]: `scripts/test.sh --quick` leaves out exactly the tests so
/// named, so a misnamed one would break the quick tier. Checked in the full tier too, so
/// CI catches it.
///
/// libtest runs each test on a thread named after it; on other threads (a runtime's
/// workers, threads a test spawns) there is nothing to check.
pub fn assert_named_as_server_test(what: &str) {
    let thread = std::thread::current();
    let Some(test) = thread.name() else { return };
    if test == "main" || test.starts_with("tokio-") {
        return;
    }
    assert!(
        SERVER_TEST_MARKERS.iter().any(|m| test.contains(m)),
        "test `{test}` needs {what} but its name contains none of {SERVER_TEST_MARKERS:?}: \
         name it (or its module) for the server it needs, so that `scripts/test.sh --quick` \
         leaves it out"
    );
}
