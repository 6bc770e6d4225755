//! An instance's local view of one concert's line, fed by the concert's event stream:
//! which places are gone, how far admission has reached, and the admission batches with
//! their end times. Every status answer is computed from it in O(log n) with no Redis
//! call.
//!
//! Every change is idempotent and commutes with the others (numbers only become gone,
//! the head only moves forward, batches are keyed by their last place), so an instance
//! may apply its own writes at once and the same events again when the stream brings
//! them.
//!
//! A fan's *number* (its token's `seq`) is its place in line unless it was pre-queued:
//! then the draw gives its place (`Phase::Drawn`'s permutation, loaded once per
//! instance). Gone marks are kept by number, the counts of gone places by place.

use std::collections::BTreeMap;
use std::time::Instant;

use frontrow_domain::fenwick::Fenwick;
use frontrow_domain::lifecycle::LineLife;
use frontrow_domain::queue::Inventory;

use crate::draw::DrawState;

/// Where one number stands in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    PreQueue,
    Waiting { position: u64 },
    Active { until_ms: i64 },
    Expired,
}

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

/// The line's pre-queue, as far as this view knows it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No pre-queue: every number is its place.
    #[default]
    None,
    /// Before the opening: every number is pre-queued.
    Pre { opens_ms: i64 },
    /// The opening was reached: numbers 1..=k wait for the draw.
    Frozen { opens_ms: i64, k: u64 },
    /// Numbers 1..=k have the places `perm[n - 1]`.
    Drawn {
        opens_ms: i64,
        k: u64,
        perm: std::sync::Arc<Vec<u32>>,
    },
}

impl Phase {
    /// The state as the draw hash stores it.
    pub fn state(&self) -> DrawState {
        match self {
            Phase::None => DrawState::None,
            Phase::Pre { .. } => DrawState::Pre,
            Phase::Frozen { .. } => DrawState::Frozen,
            Phase::Drawn { .. } => DrawState::Drawn,
        }
    }

    pub fn opens_ms(&self) -> Option<i64> {
        match self {
            Phase::None => None,
            Phase::Pre { opens_ms }
            | Phase::Frozen { opens_ms, .. }
            | Phase::Drawn { opens_ms, .. } => Some(*opens_ms),
        }
    }
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
    /// The highest place known to be issued.
    seq_max: u64,
    /// Every place up to here was admitted or is gone.
    head: u64,
    /// One bit per number: it left or was dropped (so applying it twice counts once).
    dead: Vec<u64>,
    /// Gone places counted by place (1-based), for positions in O(log n).
    gone: Fenwick,
    /// Gone pre-queued numbers the draw has not placed yet (all ahead of any place).
    unplaced: u64,
    /// The pre-queue and its draw.
    phase: Phase,
    /// What the last capped tick saw is left to buy.
    pub inventory: Option<Inventory>,
    /// The line's life as last read.
    pub life: LineLife,
    /// The concert's policy as last read (`None`: not read yet).
    pub policy: Option<frontrow_domain::queue::QueuePolicy>,
    /// Standard deviation of the measured rate.
    pub rate_sd: f64,
    /// Admission batches by last place: (first place, end ms).
    batches: BTreeMap<u64, (u64, i64)>,
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
        self.seq_max
    }

    pub fn head(&self) -> u64 {
        self.head
    }

    fn grow(&mut self, place: u64) {
        let place = usize::try_from(place).unwrap_or(usize::MAX);
        while self.gone.len() < place {
            self.gone.push(0);
        }
        let words = place / 64 + 1;
        if self.dead.len() < words {
            self.dead.resize(words, 0);
        }
    }

    /// Records that `place` was issued.
    pub fn extend(&mut self, place: u64) {
        if place > self.seq_max {
            self.grow(place);
            self.seq_max = place;
        }
    }

    pub fn is_gone(&self, place: u64) -> bool {
        let i = place as usize;
        self.dead
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The place of number `n`, `None` while it waits for the draw.
    pub fn place_of(&self, n: u64) -> Option<u64> {
        match &self.phase {
            Phase::None => Some(n),
            Phase::Pre { .. } => None,
            Phase::Frozen { k, .. } => (n > *k).then_some(n),
            Phase::Drawn { k, perm, .. } => {
                if n > *k {
                    Some(n)
                } else {
                    perm.get(usize::try_from(n - 1).ok()?)
                        .map(|p| u64::from(*p))
                }
            }
        }
    }

    /// Takes the pre-queue's state from Redis: `state` as the draw hash stores it, `perm` the
    /// stored draw once it is `drawn` (a drawn state without it keeps the view frozen
    /// until the permutation is read).
    pub fn set_phase(&mut self, state: DrawState, k: u64, opens_ms: i64, perm: Option<Vec<u32>>) {
        match (state, perm) {
            (DrawState::Pre, _) => self.phase = Phase::Pre { opens_ms },
            (DrawState::Frozen, _) | (DrawState::Drawn, None) => {
                if !matches!(self.phase, Phase::Drawn { .. }) {
                    self.phase = Phase::Frozen { opens_ms, k };
                }
            }
            (DrawState::Drawn, Some(perm)) => {
                if matches!(self.phase, Phase::Drawn { .. }) {
                    return;
                }
                self.phase = Phase::Drawn {
                    opens_ms,
                    k,
                    perm: std::sync::Arc::new(perm),
                };
                // Place the pre-queued numbers that left before this view knew where.
                for n in 1..=k.min(self.seq_max) {
                    if self.is_gone(n)
                        && let Some(p) = self.place_of(n)
                        && p > 0
                    {
                        self.grow(p);
                        self.gone.add(p as usize, 1);
                    }
                }
                self.unplaced = 0;
            }
            (DrawState::None, _) => self.phase = Phase::None,
        }
    }

    /// Where the idle scan starts: every number that may still wait.
    pub fn scan_from(&self) -> u64 {
        match &self.phase {
            Phase::None => self.head + 1,
            Phase::Pre { .. } | Phase::Frozen { .. } => 1,
            Phase::Drawn { k, .. } => {
                if self.head < *k {
                    1
                } else {
                    self.head + 1
                }
            }
        }
    }

    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Gone(number) => {
                if number == 0 || self.is_gone(number) {
                    return;
                }
                self.extend(number);
                let i = number as usize;
                self.dead[i / 64] |= 1u64 << (i % 64);
                match self.place_of(number) {
                    Some(p) if p > 0 => {
                        self.grow(p);
                        self.gone.add(p as usize, 1);
                    }
                    _ => self.unplaced += 1,
                }
            }
            Event::Inventory(code) => self.inventory = Some(code),
            Event::Drawn(_) => {}
            Event::Admitted {
                first,
                last,
                until_ms,
            } => {
                self.extend(last);
                self.head = self.head.max(last);
                self.batches.insert(last, (first, until_ms));
            }
        }
    }

    /// Applies an admission this instance's own tick just made, unless the view has not
    /// seen every admission before it (another instance ticked in between): moving the
    /// head past places whose batch it does not know would answer those fans `EXPIRED`
    /// until the stream brought that batch. False when not applied: the caller reads the
    /// stream instead, which brings both admissions in order.
    pub fn apply_own_admission(&mut self, first: u64, last: u64, until_ms: i64) -> bool {
        if first > self.head + 1 {
            return false;
        }
        self.apply(Event::Admitted {
            first,
            last,
            until_ms,
        });
        true
    }

    /// Forgets batches that ended before `before_ms` (their places read expired anyway).
    pub fn prune(&mut self, before_ms: i64) {
        self.batches.retain(|_, (_, until)| *until >= before_ms);
    }

    /// Gone places in `1..=place`.
    fn gone_upto(&self, place: u64) -> u64 {
        self.gone.prefix(place as usize)
    }

    /// How many fans wait.
    #[cfg(test)]
    pub fn waiting(&self) -> u64 {
        (self.seq_max - self.head)
            - (self.gone_upto(self.seq_max) - self.gone_upto(self.head))
            - self.unplaced
    }

    /// Where number `n` stands at `now_ms`.
    pub fn standing(&self, n: u64, now_ms: i64) -> Standing {
        if self.is_gone(n) {
            return Standing::Expired;
        }
        let Some(place) = self.place_of(n) else {
            return Standing::PreQueue;
        };
        if place > self.head {
            // Unplaced gone numbers exist only before the draw, when the head is 0 and
            // every one of them is ahead of `place`.
            let ahead_gone = self.gone_upto(place) - self.gone_upto(self.head) + self.unplaced;
            return Standing::Waiting {
                position: place - self.head - ahead_gone,
            };
        }
        match self.batches.range(place..).next() {
            Some((_, &(first, until_ms))) if first <= place && until_ms > now_ms => {
                Standing::Active { until_ms }
            }
            _ => Standing::Expired,
        }
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
        let now = now_ms as u32; // the stored heartbeats are ms mod 2^32
        seen_ms
            .iter()
            .enumerate()
            .map(|(i, &seen)| (first + i as u64, seen))
            .filter(|&(n, seen)| {
                let quiet = now.wrapping_sub(seen);
                self.place_of(n).is_none_or(|p| p > self.head)
                    && n <= self.seq_max
                    && !self.is_gone(n)
                    && quiet >= quiet_ms
                    && quiet < 1 << 31
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_skip_gone_places_and_admitted_ones() {
        let mut v = View::default();
        v.extend(10);
        assert_eq!(v.standing(10, 0), Standing::Waiting { position: 10 });
        v.apply(Event::Gone(3));
        v.apply(Event::Gone(3));
        assert_eq!(v.standing(10, 0), Standing::Waiting { position: 9 });
        assert_eq!(v.standing(3, 0), Standing::Expired);
        v.apply(Event::Admitted {
            first: 1,
            last: 5,
            until_ms: 100,
        });
        assert_eq!(v.standing(10, 0), Standing::Waiting { position: 5 });
        assert_eq!(v.standing(5, 99), Standing::Active { until_ms: 100 });
        assert_eq!(v.standing(5, 100), Standing::Expired);
        assert_eq!(v.waiting(), 5);
        v.apply(Event::Gone(4));
        assert_eq!(v.standing(4, 0), Standing::Expired);
        assert_eq!(v.standing(10, 0), Standing::Waiting { position: 5 });
    }

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
    fn drawn_numbers_take_their_places_and_early_leavers_count_once() {
        let mut v = View::default();
        v.set_phase(DrawState::Pre, 0, 1_000, None);
        v.extend(4);
        assert_eq!(v.standing(2, 0), Standing::PreQueue);
        v.apply(Event::Gone(3));
        v.set_phase(DrawState::Frozen, 4, 1_000, None);
        v.extend(6);
        assert_eq!(v.standing(1, 0), Standing::PreQueue);
        assert_eq!(v.standing(5, 0), Standing::Waiting { position: 4 });
        // the draw: 4 → 1, 2 → 2, 1 → 3, 3 (gone) → 4
        v.set_phase(DrawState::Drawn, 4, 1_000, Some(vec![3, 2, 4, 1]));
        assert_eq!(v.standing(4, 0), Standing::Waiting { position: 1 });
        assert_eq!(v.standing(1, 0), Standing::Waiting { position: 3 });
        assert_eq!(v.standing(5, 0), Standing::Waiting { position: 4 });
        assert_eq!(v.waiting(), 5);
        v.apply(Event::Gone(2));
        assert_eq!(v.standing(1, 0), Standing::Waiting { position: 2 });
        v.apply(Event::Admitted {
            first: 1,
            last: 3,
            until_ms: 10,
        });
        assert_eq!(v.standing(1, 0), Standing::Active { until_ms: 10 });
        assert_eq!(v.standing(6, 0), Standing::Waiting { position: 2 });
        assert_eq!(v.scan_from(), 1);
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
