//! An instance's local view of one concert's line, fed by the concert's event stream:
//! which places are gone, how far admission has reached, and the admission batches with
//! their end times. Every status answer is computed from it in O(log n) with no Redis
//! call.
//!
//! Every change is idempotent and commutes with the others (places only become gone,
//! the head only moves forward, batches are keyed by their last place), so an instance
//! may apply its own writes at once and the same events again when the stream brings
//! them.

use std::collections::BTreeMap;
use std::time::Instant;

use frontrow_domain::fenwick::Fenwick;

/// Where one place stands in the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    Waiting { position: u64 },
    Active { until_ms: i64 },
    Expired,
}

/// What one stream event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Gone(u64),
    Admitted {
        first: u64,
        last: u64,
        until_ms: i64,
    },
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
    /// One bit per place: it left or was dropped (so applying it twice counts once).
    dead: Vec<u64>,
    /// Gone places counted by place (1-based), for positions in O(log n).
    gone: Fenwick,
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

    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Gone(place) => {
                if place == 0 || self.is_gone(place) {
                    return;
                }
                self.extend(place);
                let i = place as usize;
                self.dead[i / 64] |= 1u64 << (i % 64);
                self.gone.add(i, 1);
            }
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
        (self.seq_max - self.head) - (self.gone_upto(self.seq_max) - self.gone_upto(self.head))
    }

    /// Where `place` stands at `now_ms`.
    pub fn standing(&self, place: u64, now_ms: i64) -> Standing {
        if self.is_gone(place) {
            return Standing::Expired;
        }
        if place > self.head {
            let ahead_gone = self.gone_upto(place) - self.gone_upto(self.head);
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
            .filter(|&(place, seen)| {
                let quiet = now.wrapping_sub(seen);
                place > self.head
                    && place <= self.seq_max
                    && !self.is_gone(place)
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
        for bad in ["", "7", "7:x:1", "7:g", "7:g:1:2", "x:g:1"] {
            assert_eq!(parse_event(bad), None, "{bad}");
        }
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
