//! The seat planner: each instance keeps, per schedule, the venue's rows and which seats
//! it believes taken, so best-available is computed in memory, not by reading every seat
//! per order. Seats planned by requests still in flight are *pending*: concurrent parties
//! of one instance plan over disjoint seats, and only parties on other instances can
//! collide (the store's conditional claim decides, and the loser plans again).
//! The database stays the only judge: this is a cache that may only cost a retry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::model::VenueSeat;
use crate::model::{ScheduleId, SeatId};
use crate::seating::{self, Ask, Cell, Pick, Row};

/// How long a snapshot of taken seats is trusted before it is read again.
pub const SNAPSHOT_TTL: Duration = Duration::from_millis(1_000);
/// How many schedules one instance keeps planners for.
const MAX_SCHEDULES: usize = 256;

/// What a party's best-available request is limited to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub category: Option<String>,
    pub section: Option<String>,
    /// Only accessible seats.
    pub accessible: bool,
    /// Hidden categories and sections the fan's presale code opens.
    pub opened_categories: Vec<String>,
    pub opened_sections: Vec<String>,
}

struct Meta {
    section: String,
    category: String,
    accessible: bool,
    hidden: bool,
}

/// One schedule's planner state.
pub struct SeatPlan {
    rows: Vec<Row>,
    meta: Vec<Vec<Meta>>,
    index: HashMap<SeatId, (usize, usize)>,
    taken: Vec<Vec<bool>>,
    pending: Vec<Vec<u32>>,
    pending_total: usize,
    refreshed: Option<Instant>,
    /// A request is reading the store for a new snapshot: the others plan on this one.
    refreshing: bool,
    /// Seats won here lately, with when: a snapshot read before a win does not undo it.
    recent: Vec<(SeatId, Instant)>,
    used: Instant,
}

impl SeatPlan {
    /// A planner over `venue`, every seat believed free until the first snapshot.
    pub fn new(venue: &[VenueSeat]) -> SeatPlan {
        let mut seats: Vec<&VenueSeat> = venue.iter().collect();
        seats.sort_by_key(|s| (s.section_rank, s.row_no, s.x));
        let mut rows: Vec<Row> = Vec::new();
        let mut meta: Vec<Vec<Meta>> = Vec::new();
        for s in seats {
            let new_row = rows
                .last()
                .is_none_or(|r| r.row_no != s.row_no || r.section_rank != s.section_rank);
            if new_row {
                rows.push(Row {
                    section_rank: s.section_rank,
                    row_no: s.row_no,
                    cells: Vec::new(),
                });
                meta.push(Vec::new());
            }
            if let (Some(r), Some(m)) = (rows.last_mut(), meta.last_mut()) {
                r.cells.push(Cell {
                    id: s.id,
                    x: s.x,
                    free: true,
                    eligible: true,
                });
                m.push(Meta {
                    section: s.section.clone(),
                    category: s.category.clone(),
                    accessible: s.accessible,
                    hidden: s.hidden,
                });
            }
        }
        let mut index = HashMap::new();
        for (ri, r) in rows.iter().enumerate() {
            for (ci, c) in r.cells.iter().enumerate() {
                index.insert(c.id, (ri, ci));
            }
        }
        let taken = rows.iter().map(|r| vec![false; r.cells.len()]).collect();
        let pending = rows.iter().map(|r| vec![0; r.cells.len()]).collect();
        SeatPlan {
            rows,
            meta,
            index,
            taken,
            pending,
            pending_total: 0,
            refreshed: None,
            refreshing: false,
            recent: Vec::new(),
            used: Instant::now(),
        }
    }

    /// True when the snapshot of taken seats is older than `ttl` (or was never read).
    pub fn stale(&self, ttl: Duration) -> bool {
        self.refreshed.is_none_or(|t| t.elapsed() >= ttl)
    }

    /// True when the caller should read a new snapshot (it is stale and nobody else is
    /// reading one); the caller then calls [`SeatPlan::refresh`] or
    /// [`SeatPlan::refresh_failed`].
    pub fn begin_refresh(&mut self, ttl: Duration) -> bool {
        if self.refreshing || !self.stale(ttl) {
            return false;
        }
        self.refreshing = true;
        true
    }

    /// True when a snapshot read at or after `t` is in place.
    pub fn fresh_since(&self, t: Instant) -> bool {
        self.refreshed.is_some_and(|r| r >= t)
    }

    /// Ends a failed refresh: the next request tries again.
    pub fn refresh_failed(&mut self) {
        self.refreshing = false;
    }

    /// Replaces the snapshot read at `at`: exactly `taken` are taken, and the seats won
    /// here since `at` (the snapshot may predate them).
    pub fn refresh(&mut self, taken: &[SeatId], at: Instant) {
        for row in &mut self.taken {
            row.fill(false);
        }
        self.mark_taken(taken);
        self.recent.retain(|(_, t)| *t >= at);
        let recent: Vec<SeatId> = self.recent.iter().map(|(s, _)| *s).collect();
        self.mark_taken(&recent);
        self.refreshed = Some(at);
        self.refreshing = false;
    }

    /// Records seats as taken (a claim won here, or lost to someone else).
    pub fn mark_taken(&mut self, seats: &[SeatId]) {
        for s in seats {
            if let Some(&(r, c)) = self.index.get(s) {
                self.taken[r][c] = true;
            }
        }
    }

    /// Forgets the snapshot's age, so the next plan reads the store again.
    pub fn expire(&mut self) {
        self.refreshed = None;
    }

    /// Seats planned by requests of this instance still in flight.
    pub fn pending(&self) -> usize {
        self.pending_total
    }

    /// The best seats for `ask` among those neither taken nor pending and matching
    /// `filter`; the chosen seats become pending until [`SeatPlan::settle`].
    pub fn plan(&mut self, ask: Ask, filter: &Filter) -> Option<Pick> {
        self.used = Instant::now();
        for (ri, row) in self.rows.iter_mut().enumerate() {
            for (ci, cell) in row.cells.iter_mut().enumerate() {
                let m = &self.meta[ri][ci];
                cell.free = !self.taken[ri][ci] && self.pending[ri][ci] == 0;
                cell.eligible = filter.category.as_ref().is_none_or(|c| *c == m.category)
                    && filter.section.as_ref().is_none_or(|s| *s == m.section)
                    && (!filter.accessible || m.accessible)
                    && (!m.hidden
                        || filter.opened_categories.contains(&m.category)
                        || filter.opened_sections.contains(&m.section));
            }
        }
        let pick = seating::pick(&self.rows, ask)?;
        for s in &pick.seats {
            if let Some(&(r, c)) = self.index.get(s) {
                self.pending[r][c] += 1;
                self.pending_total += 1;
            }
        }
        Some(pick)
    }

    /// Ends a planned claim: its seats are no longer pending; `won` seats are taken.
    pub fn settle(&mut self, planned: &[SeatId], won: bool) {
        if won {
            let now = Instant::now();
            self.recent.extend(planned.iter().map(|s| (*s, now)));
        }
        for s in planned {
            if let Some(&(r, c)) = self.index.get(s) {
                self.pending[r][c] = self.pending[r][c].saturating_sub(1);
                self.pending_total = self.pending_total.saturating_sub(1);
                if won {
                    self.taken[r][c] = true;
                }
            }
        }
    }
}

/// The instance's planners, one per schedule, bounded.
#[derive(Default, Clone)]
pub struct Planners {
    plans: Arc<Mutex<HashMap<ScheduleId, Arc<Mutex<SeatPlan>>>>>,
}

/// Locks a planner (or the box office's other small maps); a poisoned lock (a panic
/// while it was held) still holds valid data, since every change is a plain field write.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Planners {
    /// The planner of `schedule`, if this instance has one.
    pub fn get(&self, schedule: ScheduleId) -> Option<Arc<Mutex<SeatPlan>>> {
        let plans = self
            .plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        plans.get(&schedule).cloned()
    }

    /// Keeps `plan` for `schedule` (the first one kept wins), dropping the least
    /// recently used planner when full.
    pub fn insert(&self, schedule: ScheduleId, plan: SeatPlan) -> Arc<Mutex<SeatPlan>> {
        let mut plans = self
            .plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = plans.get(&schedule) {
            return p.clone();
        }
        if plans.len() >= MAX_SCHEDULES {
            let oldest = plans
                .iter()
                .min_by_key(|(_, p)| lock(p).used)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                plans.remove(&id);
            }
        }
        let p = Arc::new(Mutex::new(plan));
        plans.insert(schedule, p.clone());
        p
    }

    /// Forgets the planner of `schedule` (its layout changed).
    pub fn forget(&self, schedule: ScheduleId) {
        self.plans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&schedule);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn venue(rows: u32, per_row: u32) -> Vec<VenueSeat> {
        (0..rows)
            .flat_map(|r| {
                (0..per_row).map(move |x| VenueSeat {
                    id: SeatId(i64::from(r * 100 + x)),
                    section: "Main".into(),
                    section_rank: 0,
                    row_no: r,
                    x,
                    category: if r == 0 { "VIP".into() } else { "Std".into() },
                    accessible: x == 0,
                    hidden: r == 1 && x == 7,
                })
            })
            .collect()
    }

    fn ask(count: usize) -> Ask {
        Ask {
            count,
            allow_split: false,
            strict: false,
        }
    }

    #[test]
    fn concurrent_plans_of_one_instance_are_disjoint_until_settled() {
        let mut p = SeatPlan::new(&venue(2, 8));
        let a = p.plan(ask(4), &Filter::default()).unwrap();
        let b = p.plan(ask(4), &Filter::default()).unwrap();
        assert!(a.seats.iter().all(|s| !b.seats.contains(s)));
        assert_eq!(p.pending(), 8);
        p.settle(&a.seats, false); // a lost: its seats are free again
        let c = p.plan(ask(4), &Filter::default()).unwrap();
        assert_eq!(c.seats, a.seats);
        p.settle(&b.seats, true);
        p.settle(&c.seats, true);
        assert_eq!(p.pending(), 0);
        // Both rows now have only 2 + 2 free around their taken centres.
        assert!(p.plan(ask(4), &Filter::default()).is_none());
        assert!(p.plan(ask(2), &Filter::default()).is_some());
    }

    #[test]
    fn filters_limit_the_seats_and_snapshots_replace_what_is_taken() {
        let mut p = SeatPlan::new(&venue(2, 8));
        let vip = Filter {
            category: Some("VIP".into()),
            ..Filter::default()
        };
        let a = p.plan(ask(2), &vip).unwrap();
        assert!(a.seats.iter().all(|s| s.0 < 100));
        p.settle(&a.seats, false);
        let acc = Filter {
            accessible: true,
            ..Filter::default()
        };
        let b = p.plan(ask(1), &acc).unwrap();
        assert_eq!(b.seats, vec![SeatId(0)]);
        p.settle(&b.seats, false);
        // Seat 107 is hidden: only a code opening its category reaches it.
        let std_ = Filter {
            category: Some("Std".into()),
            ..Filter::default()
        };
        let all8 = p.plan(ask(8), &std_);
        assert!(
            all8.is_none(),
            "a hidden seat breaks the row for the public"
        );
        let opened = Filter {
            opened_categories: vec!["Std".into()],
            ..std_
        };
        let c = p.plan(ask(8), &opened).unwrap();
        assert!(c.seats.contains(&SeatId(107)));
        p.settle(&c.seats, false);
        let all: Vec<SeatId> = (0..8).map(SeatId).collect();
        p.refresh(&all, Instant::now());
        assert!(p.plan(ask(1), &vip).is_none());
        p.refresh(&[], Instant::now());
        let d = p.plan(ask(1), &vip).unwrap();
        // A win after a snapshot began survives that snapshot.
        let before = Instant::now();
        p.settle(&d.seats, true);
        p.refresh(&[], before);
        assert!(
            !p.plan(ask(8), &vip)
                .is_some_and(|e| e.seats.contains(&d.seats[0]))
        );
    }

    #[test]
    fn the_planners_are_bounded() {
        let planners = Planners::default();
        for i in 0..(MAX_SCHEDULES as i64 + 10) {
            planners.insert(ScheduleId(i), SeatPlan::new(&venue(1, 1)));
        }
        let kept = (0..(MAX_SCHEDULES as i64 + 10))
            .filter(|i| planners.get(ScheduleId(*i)).is_some())
            .count();
        assert_eq!(kept, MAX_SCHEDULES);
    }
}
