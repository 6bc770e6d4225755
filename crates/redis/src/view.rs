//! An instance's local view of one concert's line, fed by the concert's event stream:
//! the domain's line model (`frontrow_domain::line::Line`: places, head, gone places,
//! batches, the draw's placing) plus what this instance last read of the rest (rate,
//! policy, inventory, life). Every status answer is computed from it in O(log n) with
//! no Redis call.
//!
//! Every change is idempotent and commutes with the others (see the model), so an
//! instance may apply its own writes at once and the same events again when the stream
//! brings them. The model forgets places no standing needs (`prune`), so the view's
//! memory follows the fans still in line, not every place ever issued.

use std::time::Instant;

use frontrow_domain::lifecycle::LineLife;
use frontrow_domain::line::admission::quiet;
use frontrow_domain::line::phase::{DrawPhase, Placing};
use frontrow_domain::line::{Line, Standing};
use frontrow_domain::queue::Inventory;

/// What one stream event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// A number left or was dropped.
    Gone(u64),
    Admitted {
        first: u64,
        last: u64,
        until_ms: i64,
    },
    /// The inventory the last capped tick saw.
    Inventory(Inventory),
    /// The draw of the first k numbers was stored (the sync loads it).
    Drawn(u64),
}

/// Parses `evn:g:place` or `evn:a:first:last:end_ms` into (event number, event).
pub(crate) fn parse_event(raw: &str) -> Option<(u64, Event)> {
    let mut parts = raw.split(':');
    let n = parts.next()?.parse().ok()?;
    let event = match parts.next()? {
        "g" => Event::Gone(parts.next()?.parse().ok()?),
        "a" => Event::Admitted {
            first: parts.next()?.parse().ok()?,
            last: parts.next()?.parse().ok()?,
            until_ms: parts.next()?.parse().ok()?,
        },
        "i" => Event::Inventory(Inventory::from_code(parts.next()?)?),
        "d" => Event::Drawn(parts.next()?.parse().ok()?),
        _ => return None,
    };
    parts.next().is_none().then_some((n, event))
}

#[derive(Debug, Default)]
pub(crate) struct View {
    /// The line's places as the stream told them.
    pub line: Line,
    /// What the last capped tick saw is left to buy.
    pub inventory: Option<Inventory>,
    /// The line's life as last read.
    pub life: LineLife,
    /// The concert's policy as last read (`None`: not read yet).
    pub policy: Option<frontrow_domain::queue::QueuePolicy>,
    /// Standard deviation of the measured rate.
    pub rate_sd: f64,
    /// The incarnation of the line (0: nobody entered yet); tokens are signed for it.
    pub epoch: u64,
    /// The last stream event applied (events are numbered 1, 2, … per concert).
    pub evn: u64,
    /// Its stream id, where the next read starts.
    pub last_id: String,
    /// Measured admissions per second and the policy's rate and pause, for ETAs.
    pub rate: f64,
    pub admit_per_second: Option<u64>,
    pub paused: bool,
    /// When the last complete read of the stream started (`None`: never synced).
    pub synced: Option<Instant>,
}

impl View {
    pub fn seq_max(&self) -> u64 {
        self.line.issued()
    }

    pub fn head(&self) -> u64 {
        self.line.head()
    }

    /// Records that `place` was issued.
    pub fn extend(&mut self, place: u64) {
        self.line.issue(place);
    }

    pub fn phase(&self) -> &Placing {
        self.line.placing()
    }

    /// Takes the pre-queue's phase from Redis (see `Line::set_phase`).
    pub fn set_phase(&mut self, phase: DrawPhase, k: u64, opens_ms: i64, perm: Option<Vec<u32>>) {
        self.line.set_phase(phase, k, opens_ms, perm);
    }

    /// Where the idle scan starts: every number that may still wait.
    pub fn scan_from(&self) -> u64 {
        self.line.scan_from()
    }

    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Gone(number) => {
                self.line.leave(number);
            }
            Event::Inventory(code) => self.inventory = Some(code),
            Event::Drawn(_) => {}
            Event::Admitted {
                first,
                last,
                until_ms,
            } => self.line.admitted(first, last, until_ms),
        }
    }

    /// Applies an admission this instance's own tick just made, unless the view has not
    /// seen every admission before it (another instance ticked in between): moving the
    /// head past places whose batch it does not know would answer those fans `EXPIRED`
    /// until the stream brought that batch. False when not applied: the caller reads the
    /// stream instead, which brings both admissions in order.
    pub fn apply_own_admission(&mut self, first: u64, last: u64, until_ms: i64) -> bool {
        if first > self.head() + 1 {
            return false;
        }
        self.line.admitted(first, last, until_ms);
        true
    }

    /// Forgets batches that ended before `before_ms` (their places read expired anyway)
    /// and the places no standing needs since.
    pub fn prune(&mut self, before_ms: i64) {
        self.line.forget(before_ms);
    }

    /// Where number `n` stands at `now_ms`.
    pub fn standing(&self, n: u64, now_ms: i64) -> Standing {
        self.line.standing(n, now_ms)
    }

    /// The waiting places whose heartbeat (`seen_ms`, in place order from `first`) is at
    /// least `quiet_ms` old at `now_ms`, with that heartbeat.
    pub fn quiet_places(
        &self,
        first: u64,
        seen_ms: &[u32],
        now_ms: i64,
        quiet_ms: u32,
    ) -> Vec<(u64, u32)> {
        seen_ms
            .iter()
            .enumerate()
            .map(|(i, &seen)| (first + i as u64, seen))
            .filter(|&(n, seen)| self.line.may_wait(n) && quiet(now_ms, seen, quiet_ms))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_own_admission_after_one_the_view_missed_waits_for_the_stream() {
        // Instance A admitted 1..=5; instance B, whose view has not read that yet, admits
        // 6..=8. Applying B's batch at once would move B's head past 1..=5 with no batch
        // for them: their fans would read EXPIRED on B until the stream caught up.
        let mut v = View::default();
        v.extend(10);
        assert!(!v.apply_own_admission(6, 8, 100));
        assert_eq!(v.standing(3, 0), Standing::Waiting { position: 3 });
        assert_eq!(v.standing(7, 0), Standing::Waiting { position: 7 });
        // The stream brings both in order.
        v.apply(Event::Admitted {
            first: 1,
            last: 5,
            until_ms: 100,
        });
        v.apply(Event::Admitted {
            first: 6,
            last: 8,
            until_ms: 100,
        });
        assert_eq!(v.standing(3, 0), Standing::Active { until_ms: 100 });
        assert_eq!(v.standing(7, 0), Standing::Active { until_ms: 100 });
        // An own admission right after what the view knows is applied at once.
        assert!(v.apply_own_admission(9, 9, 200));
        assert_eq!(v.standing(9, 0), Standing::Active { until_ms: 200 });
        assert_eq!(v.standing(10, 0), Standing::Waiting { position: 1 });
    }

    #[test]
    fn events_parse_and_garbage_does_not() {
        assert_eq!(parse_event("7:g:12"), Some((7, Event::Gone(12))));
        assert_eq!(
            parse_event("8:a:1:5:1900"),
            Some((
                8,
                Event::Admitted {
                    first: 1,
                    last: 5,
                    until_ms: 1900
                }
            ))
        );
        assert_eq!(
            parse_event("9:i:H"),
            Some((9, Event::Inventory(Inventory::AllHeld)))
        );
        assert_eq!(parse_event("9:d:40"), Some((9, Event::Drawn(40))));
        for bad in ["", "7", "7:x:1", "7:g", "7:g:1:2", "x:g:1", "7:i:Q", "7:d"] {
            assert_eq!(parse_event(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_view_everyone_passed_forgets_its_places_and_keeps_the_others_standing() {
        let mut v = View::default();
        v.extend(10_000);
        for n in (1..9_000).step_by(3) {
            v.apply(Event::Gone(n));
        }
        v.apply(Event::Admitted {
            first: 1,
            last: 9_000,
            until_ms: 100,
        });
        let standings =
            |v: &View| -> Vec<Standing> { (9_001..=10_000).map(|n| v.standing(n, 200)).collect() };
        let before = standings(&v);
        assert_eq!(v.line.slots(), 10_000);
        v.prune(150);
        assert!(v.line.slots() <= 1_000, "{}", v.line.slots());
        assert_eq!(v.line.batches(), 0);
        assert_eq!(standings(&v), before);
        // Late copies of forgotten events change nothing.
        v.apply(Event::Gone(5));
        v.apply(Event::Admitted {
            first: 1,
            last: 3,
            until_ms: 900,
        });
        assert_eq!(standings(&v), before);
        assert_eq!(v.standing(2, 200), Standing::Expired);
    }

    #[test]
    fn quiet_places_leave_out_fresh_gone_and_future_heartbeats() {
        let mut v = View::default();
        v.extend(4);
        v.apply(Event::Gone(2));
        let seen = [0u32, 0, 9_000, 20_000];
        let quiet = v.quiet_places(1, &seen, 10_000, 5_000);
        assert_eq!(quiet, vec![(1, 0)]);
    }
}
