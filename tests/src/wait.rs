//! Waiting for a condition instead of for a time: a test polls until what it expects
//! has happened, and fails only when it never does within a generous bound (a hang, not
//! a slow machine). Nothing here asserts how long anything took.

use std::future::Future;
use std::time::Duration;

/// How long a test waits for something that should happen "soon" before calling it a
/// hang: long enough that two shared, busy cores never reach it for a correct program.
pub const HANG: Duration = Duration::from_secs(60);

/// Polls `check` every `every` until it answers `Ok`, then returns its value; fails the
/// test with the last `Err` (what was seen instead) once [`HANG`] has passed.
pub async fn until<T, F, Fut>(what: &str, every: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(seen) => assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: still not so after {HANG:?}: {seen}"
            ),
        }
        tokio::time::sleep(every).await;
    }
}

/// `fut`'s output, or a failure naming `what` if it has not finished after [`HANG`]:
/// for calls whose point is that they return (a timeout that fires, a stream that ends)
/// rather than how fast.
pub async fn returns<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: did not return within {HANG:?} (hung)"))
}
