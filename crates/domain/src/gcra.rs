//! A shared rate limit's rule: GCRA (the generic cell rate algorithm). A key keeps one
//! number, its theoretical arrival time (TAT); a request is allowed while the TAT is
//! at most `period * (burst - 1)` ahead of now, and each allowed request moves it one
//! period on. The Redis adapter's `gcra.lua` takes the same step atomically.

/// A limit of one request per `period_ms` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    period_ms: i64,
    burst: i64,
}

/// What one request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitDecision {
    Allowed,
    /// Refused; the next request of this key is allowed after this many ms.
    Refused {
        retry_after_ms: u64,
    },
}

/// One request's step: the decision, and the TAT to store when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraStep {
    pub decision: LimitDecision,
    /// The new TAT (ms) of an allowed request; a refused one changes nothing.
    pub tat_ms: Option<i64>,
}

impl Gcra {
    /// A period below 1 ms counts as 1 ms, a burst below 1 as 1.
    pub fn new(period_ms: u64, burst: u32) -> Self {
        Gcra {
            period_ms: i64::try_from(period_ms.max(1)).unwrap_or(i64::MAX),
            burst: i64::from(burst.max(1)),
        }
    }

    pub fn period_ms(&self) -> i64 {
        self.period_ms
    }

    pub fn burst(&self) -> i64 {
        self.burst
    }

    /// One request at `now_ms` against the stored TAT (`None`: none stored, or expired).
    pub fn step(&self, tat_ms: Option<i64>, now_ms: i64) -> GcraStep {
        let tat = tat_ms.unwrap_or(0).max(now_ms);
        let tolerance = self.period_ms.saturating_mul(self.burst - 1);
        let wait = tat.saturating_sub(tolerance).saturating_sub(now_ms);
        if wait > 0 {
            return GcraStep {
                decision: LimitDecision::Refused {
                    retry_after_ms: wait.unsigned_abs(),
                },
                tat_ms: None,
            };
        }
        GcraStep {
            decision: LimitDecision::Allowed,
            tat_ms: Some(tat.saturating_add(self.period_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` requests at `now_ms`, from `tat`: the decisions and the TAT after.
    fn run(
        limit: Gcra,
        mut tat: Option<i64>,
        now_ms: i64,
        n: usize,
    ) -> (Vec<LimitDecision>, Option<i64>) {
        let decisions = (0..n)
            .map(|_| {
                let step = limit.step(tat, now_ms);
                tat = step.tat_ms.or(tat);
                step.decision
            })
            .collect();
        (decisions, tat)
    }

    #[test]
    fn a_burst_is_allowed_at_once_and_the_next_waits_one_period() {
        let limit = Gcra::new(1_000, 3);
        let (decisions, tat) = run(limit, None, 10_000, 4);
        assert_eq!(decisions[..3], [LimitDecision::Allowed; 3]);
        assert_eq!(
            decisions[3],
            LimitDecision::Refused {
                retry_after_ms: 1_000
            }
        );
        assert_eq!(tat, Some(13_000));
        // One period later one more is allowed, and only one.
        let (later, _) = run(limit, tat, 11_000, 2);
        assert_eq!(
            later,
            [
                LimitDecision::Allowed,
                LimitDecision::Refused {
                    retry_after_ms: 1_000
                }
            ]
        );
        // A millisecond early still waits that millisecond.
        assert_eq!(
            limit.step(tat, 10_999).decision,
            LimitDecision::Refused { retry_after_ms: 1 }
        );
    }

    #[test]
    fn an_old_tat_counts_from_now_and_degenerate_limits_allow_one() {
        let limit = Gcra::new(0, 0);
        assert_eq!((limit.period_ms(), limit.burst()), (1, 1));
        let step = limit.step(Some(5), 100);
        assert_eq!(
            step,
            GcraStep {
                decision: LimitDecision::Allowed,
                tat_ms: Some(101)
            }
        );
        assert_eq!(
            limit.step(Some(101), 100).decision,
            LimitDecision::Refused { retry_after_ms: 1 }
        );
    }
}
