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
    let server = match name {
        "FRONTROW_TEST_REDIS_URL" => "redis",
        "FRONTROW_TEST_MYSQL_URL" => "mariadb",
        _ => "postgres",
    };
    assert_named_for(server);
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: this test needs {what}. Run the suite with scripts/test.sh, \
             which starts it (or export {name} yourself)."
        ),
    }
}

/// Fails a test that needs `server` (`redis`, `mariadb`, `postgres`) but whose name does
/// not contain `on_<server>`: `scripts/test.sh --quick` leaves out exactly the tests so
/// named (`.config/nextest.toml`), so a misnamed one would break the quick tier. Checked
/// in the full tier too, so CI catches it.
///
/// libtest runs each test on a thread named after it; on other threads (a runtime's
/// workers, threads a test spawns) there is nothing to check.
pub fn assert_named_for(server: &str) {
    let thread = std::thread::current();
    let Some(test) = thread.name() else { return };
    if test == "main" || test.starts_with("tokio-") {
        return;
    }
    assert!(
        test.contains(&format!("on_{server}")),
        "test `{test}` needs {server} but its name does not say so: put `on_{server}` in \
         its name (or its module's) so that `scripts/test.sh --quick` leaves it out"
    );
}
