//! The line's rules, once: places issued in entry order, the head (every place up to
//! it was admitted or is gone), gone places, admission batches, the draw's placing of
//! pre-queued numbers, and from these the standing of any fan. Plain data: the memory
//! adapter keeps a [`Line`] behind a mutex, the Redis adapter's per-instance view keeps
//! one fed by the line's event stream (its Lua scripts do the same steps atomically
//! where they must, see `admission`).
//!
//! Memory follows the places still in line, not every place ever issued: places at or
//! below the *base* (admitted or gone, in no batch still kept) are forgotten, and the
//! count of gone places is kept only above it.
//!
//! Every change is idempotent and commutes with the others (places only become gone,
//! the head only moves forward, batches are keyed by their last place), so an adapter
//! may apply the same change twice.

pub mod admission;
pub mod phase;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};

use crate::fenwick::Fenwick;
use crate::queue::{QueuePolicy, QueueToken, Ticket, TicketStatus, eta_range, eta_seconds};
use phase::{DrawPhase, Placing};

/// Where one number stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    PreQueue,
    Waiting { position: u64 },
    Active { until_ms: i64 },
    Expired,
}

/// What a waiting fan's ETA is computed from.
#[derive(Debug, Clone, Copy)]
pub struct EtaInputs<'a> {
    /// Measured admissions per second and its standard deviation.
    pub rate: f64,
    pub rate_sd: f64,
    pub policy: &'a QueuePolicy,
    /// The opening, for a pre-queued fan.
    pub opens_ms: Option<i64>,
}

impl Standing {
    /// The ticket of `token` standing here (inventory and the line's life are the
    /// caller's to add).
    pub fn ticket(self, token: &QueueToken, eta: EtaInputs<'_>) -> Ticket {
        let mut ticket = Ticket::expired(token);
        match self {
            Standing::PreQueue => {
                ticket.status = TicketStatus::PreQueue;
                ticket.opens_at = eta
                    .opens_ms
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
            }
            Standing::Waiting { position } => {
                ticket.status = TicketStatus::Waiting;
                ticket.position = Some(position);
                ticket.eta_seconds = eta_seconds(position, eta.rate, eta.policy);
                ticket.eta_range = eta_range(position, eta.rate, eta.rate_sd, eta.policy);
            }
            Standing::Active { until_ms } => {
                ticket.status = TicketStatus::Active;
                ticket.active_until = Utc.timestamp_millis_opt(until_ms).single();
            }
            Standing::Expired => {}
        }
        ticket
    }
}

/// Dead places below which the count of gone places is rebuilt past them (with at
/// least half of the kept slots dead, so rebuilding costs O(1) per place amortised).
const REBASE_AFTER: u64 = 64;

/// One concert's line.
#[derive(Debug, Default, Clone)]
pub struct Line {
    /// The highest place (or number) known to be issued.
    issued: u64,
    /// Every place up to here was admitted or is gone.
    head: u64,
    /// Every place up to here is forgotten (`base <= head`).
    base: u64,
    /// 1 per gone place, index `place - base`.
    gone: Fenwick,
    /// Gone pre-queued numbers the draw has not placed yet (all ahead of any place).
    unplaced: BTreeSet<u64>,
    /// Admission batches by last place: (first place, end ms).
    batches: BTreeMap<u64, (u64, i64)>,
    placing: Placing,
}

impl Line {
    /// A line resumed from stored state: places up to `forgotten` (at most `head`)
    /// matter no more (admitted or gone, in no batch still kept).
    pub fn resume(issued: u64, head: u64, forgotten: u64) -> Self {
        let base = forgotten.min(head);
        let mut line = Line {
            head,
            base,
            ..Line::default()
        };
        line.issue(issued.max(head));
        line
    }

    pub fn issued(&self) -> u64 {
        self.issued
    }

    pub fn head(&self) -> u64 {
        self.head
    }

    /// Every place up to here is forgotten.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The slots the count of gone places holds (what the line's memory grows with).
    pub fn slots(&self) -> usize {
        self.gone.len()
    }

    /// The admission batches kept.
    pub fn batches(&self) -> usize {
        self.batches.len()
    }

    pub fn placing(&self) -> &Placing {
        &self.placing
    }

    /// Records that `place` was issued.
    pub fn issue(&mut self, place: u64) {
        if place > self.issued {
            self.issued = place;
        }
        let want = usize::try_from(self.issued - self.base).unwrap_or(usize::MAX);
        while self.gone.len() < want {
            self.gone.push(0);
        }
    }

    /// Issues the next place and returns it.
    pub fn enter(&mut self) -> u64 {
        let place = self.issued + 1;
        self.issue(place);
        place
    }

    fn index(&self, place: u64) -> usize {
        usize::try_from(place.saturating_sub(self.base)).unwrap_or(usize::MAX)
    }

    fn gone_at(&self, place: u64) -> bool {
        place > self.base && self.gone.at(self.index(place)) > 0
    }

    /// Gone places in `(base, place]`.
    fn gone_upto(&self, place: u64) -> u64 {
        self.gone.prefix(self.index(place))
    }

    /// Gone places in `(a, b]` (both at least the base).
    pub fn gone_between(&self, a: u64, b: u64) -> u64 {
        self.gone_upto(b).saturating_sub(self.gone_upto(a))
    }

    pub fn place_of(&self, number: u64) -> Option<u64> {
        self.placing.place_of(number)
    }

    /// Marks `number` gone (it left or was dropped). False when nothing changed: it was
    /// gone already, or its place is forgotten.
    pub fn leave(&mut self, number: u64) -> bool {
        if number == 0 {
            return false;
        }
        match self.place_of(number) {
            None => {
                self.issue(number);
                self.unplaced.insert(number)
            }
            Some(place) if place == 0 || place <= self.base || self.gone_at(place) => false,
            Some(place) => {
                self.issue(number.max(place));
                self.gone.add(self.index(place), 1);
                self.compact();
                true
            }
        }
    }

    /// Records an admission batch: places `first..=last` until `until_ms`.
    pub fn admitted(&mut self, first: u64, last: u64, until_ms: i64) {
        self.issue(last);
        self.head = self.head.max(last);
        if last > self.base {
            self.batches.insert(last, (first, until_ms));
        }
    }

    /// Admits the next `n` live places (at most every waiting one), as a batch until
    /// `until_ms` when given: their first and last place, or `None` when nobody is
    /// admitted.
    pub fn admit(&mut self, n: u64, until_ms: Option<i64>) -> Option<(u64, u64)> {
        let n = n.min(self.waiting());
        if n == 0 {
            return None;
        }
        let head = self.head;
        let last = admission::admit_through(head, n, self.issued, |a, b| self.gone_between(a, b));
        self.head = last;
        if let Some(until_ms) = until_ms {
            self.batches.insert(last, (head + 1, until_ms));
        }
        self.compact();
        Some((head + 1, last))
    }

    /// How many fans wait (pre-queued ones included).
    pub fn waiting(&self) -> u64 {
        (self.issued - self.head)
            - self.gone_between(self.head, self.issued)
            - self.unplaced.len() as u64
    }

    /// Where number `n` stands at `now_ms`.
    pub fn standing(&self, n: u64, now_ms: i64) -> Standing {
        let Some(place) = self.place_of(n) else {
            return if self.unplaced.contains(&n) {
                Standing::Expired
            } else {
                Standing::PreQueue
            };
        };
        if place <= self.base || self.gone_at(place) {
            return Standing::Expired;
        }
        if place > self.head {
            // Unplaced gone numbers exist only before the draw, when the head is 0 and
            // every one of them is ahead of `place`.
            let ahead_gone = self.gone_between(self.head, place) + self.unplaced.len() as u64;
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

    /// Whether number `n` may still wait (pre-queued or behind the head, issued, not
    /// gone): the fans an idle scan looks at.
    pub fn may_wait(&self, n: u64) -> bool {
        n <= self.issued
            && matches!(
                self.standing(n, i64::MAX),
                Standing::PreQueue | Standing::Waiting { .. }
            )
    }

    /// Where an idle scan starts: every number that may still wait is at or after it.
    pub fn scan_from(&self) -> u64 {
        match &self.placing {
            Placing::None => self.head + 1,
            Placing::Pre { .. } | Placing::Frozen { .. } => 1,
            Placing::Drawn { k, .. } if self.head < *k => 1,
            Placing::Drawn { .. } => self.head + 1,
        }
    }

    /// Takes the pre-queue's phase as stored: `perm` is the stored draw once it is
    /// `Drawn` (a drawn phase without it stays frozen until the permutation is read).
    pub fn set_phase(&mut self, phase: DrawPhase, k: u64, opens_ms: i64, perm: Option<Vec<u32>>) {
        match (phase, perm) {
            (DrawPhase::Pre, _) => self.placing = Placing::Pre { opens_ms },
            (DrawPhase::Frozen, _) | (DrawPhase::Drawn, None) => {
                if !matches!(self.placing, Placing::Drawn { .. }) {
                    self.placing = Placing::Frozen { opens_ms, k };
                }
            }
            (DrawPhase::Drawn, Some(perm)) => {
                if matches!(self.placing, Placing::Drawn { .. }) {
                    return;
                }
                self.placing = Placing::Drawn {
                    opens_ms,
                    k,
                    perm: std::sync::Arc::new(perm),
                };
                // Place the pre-queued numbers that left before the draw.
                for n in std::mem::take(&mut self.unplaced) {
                    self.leave(n);
                }
            }
            (DrawPhase::None, _) => self.placing = Placing::None,
        }
    }

    /// Forgets batches that ended before `before_ms` (their places read expired
    /// anyway), then what no standing needs any more.
    pub fn forget(&mut self, before_ms: i64) {
        self.batches.retain(|_, (_, until)| *until >= before_ms);
        self.compact();
    }

    /// The highest place no standing needs: at or below the head and before every
    /// batch kept.
    fn floor(&self) -> u64 {
        // Batches are disjoint and in order: the first kept starts lowest.
        let before_batches = self
            .batches
            .first_key_value()
            .map_or(u64::MAX, |(_, &(first, _))| first.saturating_sub(1));
        self.head.min(before_batches)
    }

    /// Moves the base up to the floor once enough places below it are dead.
    fn compact(&mut self) {
        let floor = self.floor();
        let dead = floor.saturating_sub(self.base);
        if dead < REBASE_AFTER.min(self.gone.len() as u64).max(1)
            || dead.saturating_mul(2) < self.gone.len() as u64
        {
            return;
        }
        let kept_from = self.index(floor) + 1;
        let kept: Vec<u32> = (kept_from..=self.gone.len())
            .map(|i| self.gone.at(i) as u32)
            .collect();
        self.gone = Fenwick::from_values(kept);
        self.base = floor;
    }
}
