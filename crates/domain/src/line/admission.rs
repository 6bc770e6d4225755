//! One admission step's arithmetic: the token bucket, how many fans one step admits,
//! how far the head moves past gone places, and when a waiting fan counts as idle.
//! The Redis adapter's `tick.lua` does the same steps atomically in Lua; a test runs
//! both on the same inputs.

use crate::queue::{AdmissionCap, QueuePolicy};

/// A token bucket of one second's burst, kept in thousandths of an admission so every
/// refill is an exact integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenBucket {
    /// `None`: never filled (a first step starts full).
    milli: Option<u64>,
    /// When it was last filled (it never moves back: instances' clocks may differ).
    at_ms: i64,
}

impl TokenBucket {
    /// A bucket as stored.
    pub fn stored(milli: Option<u64>, at_ms: i64) -> Self {
        TokenBucket { milli, at_ms }
    }

    pub fn milli(&self) -> Option<u64> {
        self.milli
    }

    pub fn at_ms(&self) -> i64 {
        self.at_ms
    }

    /// Refills it for the time since the last fill (at most one second's worth).
    pub fn refill(&mut self, now_ms: i64, admit_per_second: u64) {
        let capacity = admit_per_second.saturating_mul(1000);
        self.milli = Some(match self.milli {
            None => {
                self.at_ms = now_ms;
                capacity
            }
            Some(milli) => {
                let elapsed = now_ms.saturating_sub(self.at_ms).clamp(0, 1000) as u64;
                self.at_ms = self.at_ms.max(now_ms);
                milli
                    .saturating_add(elapsed * admit_per_second)
                    .min(capacity)
            }
        });
    }

    /// Whole admissions in it.
    pub fn whole(&self) -> u64 {
        self.milli.unwrap_or(0) / 1000
    }

    /// Spends `n` admissions (at most [`Self::whole`]).
    pub fn take(&mut self, n: u64) {
        self.milli = Some(
            self.milli
                .unwrap_or(0)
                .saturating_sub(n.saturating_mul(1000)),
        );
    }
}

/// How many fans one step admits: what the bucket holds, within the policy's active
/// limit and the inventory cap, and no more than wait. Nobody while `open` is false
/// (paused, closed, or before the draw).
pub fn admissions(
    bucket: &TokenBucket,
    policy: &QueuePolicy,
    active: u64,
    cap: Option<&AdmissionCap>,
    waiting: u64,
    open: bool,
) -> u64 {
    if !open || policy.paused {
        return 0;
    }
    let mut room = policy.max_active.saturating_sub(active);
    if let Some(cap) = cap {
        room = room.min(cap.room(active));
    }
    bucket.whole().min(room).min(waiting)
}

/// The last place of an admission of `n` fans after `head`: the head moves past `n`
/// live places, skipping gone ones (`gone_between(a, b)` counts gone places in
/// `(a, b]`), never past `issued`. Each step O(log n) whatever the batch size.
pub fn admit_through(
    head: u64,
    n: u64,
    issued: u64,
    gone_between: impl Fn(u64, u64) -> u64,
) -> u64 {
    let mut last = head + n;
    loop {
        let want = issued.min(head + n + gone_between(head, last));
        if want == last {
            return last;
        }
        last = want;
    }
}

/// A heartbeat as stored: ms mod 2^32.
pub fn heartbeat(now_ms: i64) -> u32 {
    now_ms as u32
}

/// Whether a fan whose last heartbeat was `seen` (ms mod 2^32) has been quiet for
/// `idle_ms` at `now_ms`. A heartbeat "ahead" of now (a wrapped difference over half
/// the range: another instance's clock runs ahead) is fresh.
pub fn quiet(now_ms: i64, seen: u32, idle_ms: u32) -> bool {
    let quiet = heartbeat(now_ms).wrapping_sub(seen);
    quiet >= idle_ms && quiet < 1 << 31
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Inventory, SeatCounts};

    #[test]
    fn a_bucket_starts_full_and_refills_one_second_at_most() {
        let mut b = TokenBucket::default();
        b.refill(10_000, 5);
        assert_eq!(b.whole(), 5);
        b.take(5);
        assert_eq!(b.whole(), 0);
        b.refill(10_400, 5);
        assert_eq!(b.milli(), Some(2_000));
        b.refill(99_000, 5);
        assert_eq!(b.whole(), 5);
        // A clock behind the last fill adds nothing and does not move it back.
        b.take(5);
        b.refill(50_000, 5);
        assert_eq!((b.whole(), b.at_ms()), (0, 99_000));
    }

    #[test]
    fn admissions_stay_within_bucket_room_cap_and_line() {
        let mut bucket = TokenBucket::default();
        bucket.refill(0, 10);
        let policy = QueuePolicy {
            max_active: 8,
            admit_per_second: 10,
            ..QueuePolicy::default()
        };
        assert_eq!(admissions(&bucket, &policy, 0, None, 100, true), 8);
        assert_eq!(admissions(&bucket, &policy, 5, None, 100, true), 3);
        assert_eq!(admissions(&bucket, &policy, 9, None, 100, true), 0);
        assert_eq!(admissions(&bucket, &policy, 0, None, 2, true), 2);
        assert_eq!(admissions(&bucket, &policy, 0, None, 100, false), 0);
        let cap = AdmissionCap::new(
            SeatCounts {
                free: 2,
                held: 0,
                holders: 1,
            },
            &QueuePolicy {
                admit_per_seat: 1.0,
                ..policy
            },
        );
        assert_eq!(cap.inventory, Inventory::Available);
        // 2 seats, 3 active of whom 1 holds: 2 compete already.
        assert_eq!(admissions(&bucket, &policy, 3, Some(&cap), 100, true), 0);
        assert_eq!(admissions(&bucket, &policy, 1, Some(&cap), 100, true), 2);
        let paused = QueuePolicy {
            paused: true,
            ..policy
        };
        assert_eq!(admissions(&bucket, &paused, 0, None, 100, true), 0);
    }

    #[test]
    fn the_head_moves_past_live_places_only() {
        let gone = [3u64, 4, 8];
        let between = |a: u64, b: u64| gone.iter().filter(|&&g| g > a && g <= b).count() as u64;
        assert_eq!(admit_through(0, 2, 10, between), 2);
        assert_eq!(admit_through(0, 3, 10, between), 5);
        assert_eq!(admit_through(2, 4, 10, between), 9);
        assert_eq!(admit_through(2, 40, 10, between), 10);
    }

    #[test]
    fn quiet_means_old_enough_and_not_from_the_future() {
        assert!(quiet(10_000, heartbeat(5_000), 5_000));
        assert!(!quiet(10_000, heartbeat(5_001), 5_000));
        assert!(!quiet(10_000, heartbeat(12_000), 5_000));
        // Across the 2^32 wrap.
        let t = (1i64 << 32) + 100;
        assert!(quiet(t, heartbeat(t - 6_000), 5_000));
    }
}
