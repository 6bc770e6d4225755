//! `gcra.lua` (the shared rate limit) against the domain's GCRA step.

use frontrow_domain::gcra::{Gcra, LimitDecision};
use frontrow_tests::redis::TestRedis;

use super::own_queue;

/// `gcra.lua` decides every request as `Gcra::step` does, on the same clock (the
/// test's, passed to the script): a burst at once, the request past it refused for
/// exactly the wait the domain computes, one more a period later (not a millisecond
/// before), a burst of one, and keys apart. A period of a minute keeps Redis's own key
/// expiry (in real time) out of the way.
#[tokio::test]
async fn the_gcra_script_steps_as_the_domain_gcra_on_redis() {
    let redis = TestRedis::new();
    let q = own_queue(&redis);
    const MINUTE: u64 = 60_000;
    let t0 = 1_900_000_000_000i64;
    // (key, period, burst, now)
    let mut steps: Vec<(&str, u64, u32, i64)> = Vec::new();
    steps.extend([("a", MINUTE, 3, t0); 4]);
    steps.extend([
        ("a", MINUTE, 3, t0 + 59_999),
        ("a", MINUTE, 3, t0 + 60_000),
        ("a", MINUTE, 3, t0 + 60_000),
        ("b", MINUTE, 1, t0),
        ("b", MINUTE, 1, t0 + 1),
        ("b", MINUTE, 1, t0 + 60_000),
        // A clock behind the stored time changes nothing of the rule.
        ("b", MINUTE, 1, t0 + 30_000),
    ]);
    let mut tats = std::collections::HashMap::new();
    let mut refused = 0;
    for (i, (key, period, burst, now)) in steps.into_iter().enumerate() {
        let step = Gcra::new(period, burst).step(tats.get(key).copied(), now);
        if let Some(tat) = step.tat_ms {
            tats.insert(key, tat);
        }
        let got = q.rate_limit_at(key, period, burst, now).await.unwrap();
        assert_eq!(got, step.decision, "step {i}: {key} at {} ms", now - t0);
        refused += usize::from(got != LimitDecision::Allowed);
    }
    assert_eq!(refused, 5, "the burst edges were met");
}
