//! Placing orders in groups. Orders that arrive while the store is busy placing others
//! wait in one queue; a leader (at most [`LEADERS`] at a time, each a task of its own)
//! takes up to [`MAX_GROUP`] of them, one per fan, and places them in **one**
//! transaction: one statement per step for the whole group instead of one per order, and
//! one commit. Every order of a group is judged on its own — the group holds what each
//! order asks for, all of it or nothing, exactly as if it had come alone — and one
//! order's refusal never refuses another's. A lone order is a group of one: there is no
//! second code path.
//!
//! Locks are taken in one order, by every transaction of the store: the fans' wallet rows
//! (ascending; the allowance), presale codes, seats (ascending), standing areas
//! (ascending); the orders and positions written after them are the group's own rows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use frontrow_domain::boxoffice::model::{Order, OrderStatus, PlaceOrder, StandingPosition};
use frontrow_domain::boxoffice::port::PlaceError;
use frontrow_domain::error::StoreError;
use frontrow_domain::model::{OrderId, ReservationStatus, SeatId, SeatStatus};
use frontrow_domain::returns::model::RefundKind;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Value,
};
use tokio::sync::oneshot;

use crate::convert::{at, money, ms, raw};
use crate::entity::{
    order, order_standing, presale_code, reservation, seat, standing_area, wallet,
};
use crate::errors::{MAX_ATTEMPTS, backoff, is_transient, is_unique_violation};
use crate::orders::{claimable, end_reservations, expire_area_holds, seat_position};
use crate::store::{SeaOrmStore, SeatClaim};

/// Groups placed at once (each on a connection of its own). Measured with
/// `loadtest/boxoffice.sh` on PostgreSQL, 2 cores (first order → last payment): 2 leaders
/// of 128 took 5.68 s, 4 of 64 5.00 s, 8 of 32 6.02 s (reports 20261205T153519Z and the
/// two runs after it, in docs/src/performance/figures.md).
pub(crate) const LEADERS: usize = 4;
/// The most orders in one group.
pub(crate) const MAX_GROUP: usize = 64;
/// Values per `IN (…)` list.
const IN_CHUNK: usize = 500;

/// Why a group read its standing areas again, under their locks: what an unlocked read
/// decided did not hold (another order took places between), or an order would have
/// been refused `AreaFull` (a refusal is judged under the lock).
const AREAS_AGAIN: &str = "standing areas to be read again under their locks";

const HELD: &str = OrderStatus::Held.as_str();
const PAID: &str = OrderStatus::Paid.as_str();

/// An order waiting for its group, and where its answer goes.
struct Job {
    req: PlaceOrder,
    answer: oneshot::Sender<Result<Order, PlaceError>>,
}

#[derive(Default)]
struct QueueState {
    jobs: VecDeque<Job>,
    leaders: usize,
}

/// The orders waiting to be placed, and how many leaders are placing them.
#[derive(Default)]
pub(crate) struct PlaceQueue {
    state: Mutex<QueueState>,
    /// Groups placed, and the orders in them, since start.
    groups: AtomicU64,
    grouped: AtomicU64,
}

impl std::fmt::Debug for PlaceQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("PlaceQueue")
            .field("waiting", &s.jobs.len())
            .field("leaders", &s.leaders)
            .finish()
    }
}

impl PlaceQueue {
    /// The queue's state (a panic elsewhere leaves it consistent: every change is one
    /// push, one drain or one count).
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `job`; true when the caller must start a leader.
    fn push(&self, job: Job) -> bool {
        let mut s = self.lock();
        s.jobs.push_back(job);
        if s.leaders < LEADERS {
            s.leaders += 1;
            true
        } else {
            false
        }
    }

    /// The next group: the oldest waiting orders, one per fan (a fan's second order
    /// waits for the next group, so it sees the first), up to [`MAX_GROUP`]. When none
    /// is waiting the leader retires, in the same step, so an order queued after this
    /// look finds a free leader's place.
    fn next_group(&self) -> Option<Vec<Job>> {
        let mut s = self.lock();
        if s.jobs.is_empty() {
            s.leaders -= 1;
            return None;
        }
        let mut fans = HashSet::new();
        let mut group = Vec::new();
        let mut rest = VecDeque::with_capacity(s.jobs.len());
        while let Some(job) = s.jobs.pop_front() {
            if group.len() < MAX_GROUP && fans.insert(job.req.user_id) {
                group.push(job);
            } else {
                rest.push_back(job);
            }
        }
        s.jobs = rest;
        Some(group)
    }
}

/// Retires a leader that ended without retiring itself (a panic, or its runtime
/// stopping): the orders still waiting get a new leader while a runtime runs.
struct Retire {
    store: SeaOrmStore,
    retired: bool,
}

impl Drop for Retire {
    fn drop(&mut self) {
        if self.retired {
            return;
        }
        let waiting = {
            let mut s = self.store.placing.lock();
            s.leaders -= 1;
            !s.jobs.is_empty() && s.leaders < LEADERS
        };
        if waiting && let Ok(rt) = tokio::runtime::Handle::try_current() {
            self.store.placing.lock().leaders += 1;
            let store = self.store.clone();
            rt.spawn(async move { store.lead().await });
        }
    }
}

/// What the group's transaction decided for one order before writing anything.
struct Decided<'r> {
    req: &'r PlaceOrder,
    seats: Vec<seat::Model>,
    /// The standing lines by area name, with the area.
    lines: Vec<(standing_area::Model, u32)>,
    code: Option<presale_code::Model>,
    wanted: u64,
}

/// How orders were grouped since the store started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderGroups {
    /// Transactions that placed orders.
    pub groups: u64,
    /// Orders placed by them (refused ones included).
    pub orders: u64,
}

impl SeaOrmStore {
    /// How orders were grouped since the store started (see `place.rs`).
    pub fn order_groups(&self) -> OrderGroups {
        OrderGroups {
            groups: self.placing.groups.load(Ordering::Relaxed),
            orders: self.placing.grouped.load(Ordering::Relaxed),
        }
    }

    /// Places `req` with whatever orders are waiting beside it (see the module).
    pub(crate) async fn place_grouped(&self, req: PlaceOrder) -> Result<Order, PlaceError> {
        let (answer, answered) = oneshot::channel();
        if self.placing.push(Job { req, answer }) {
            let store = self.clone();
            // A task of its own: a caller that goes away (a client hanging up) never
            // takes the group's transaction with it.
            tokio::spawn(async move { store.lead().await });
        }
        answered.await.unwrap_or_else(|_| {
            Err(PlaceError::Unavailable(StoreError::new(
                "the order's group ended without an answer (the server is stopping)",
            )))
        })
    }

    /// Places groups until none is waiting.
    async fn lead(self) {
        let mut retire = Retire {
            store: self.clone(),
            retired: false,
        };
        while let Some(group) = self.placing.next_group() {
            self.placing.groups.fetch_add(1, Ordering::Relaxed);
            self.placing
                .grouped
                .fetch_add(group.len() as u64, Ordering::Relaxed);
            let reqs: Vec<&PlaceOrder> = group.iter().map(|j| &j.req).collect();
            let answers = self.place_group(&reqs).await;
            for (job, answer) in group.into_iter().zip(answers) {
                // A caller that went away leaves its hold to expire, as after any answer lost.
                let _ = job.answer.send(answer);
            }
        }
        retire.retired = true;
    }

    /// One group's transaction, tried again on a transient failure; a group of several
    /// that fails otherwise is placed again order by order, so one order's failure is
    /// nobody else's.
    #[tracing::instrument(skip_all, fields(orders = reqs.len()))]
    async fn place_group(&self, reqs: &[&PlaceOrder]) -> Vec<Result<Order, PlaceError>> {
        let mut sweep = false;
        let mut lock_areas = false;
        let mut tries = 0;
        loop {
            tries += 1;
            let e = match self.try_place_group(reqs, sweep, lock_areas).await {
                Ok(answers) => return answers,
                Err(e) => e,
            };
            if !lock_areas && matches!(&e, DbErr::Custom(m) if m == AREAS_AGAIN) {
                lock_areas = true;
                tries -= 1;
            } else if is_unique_violation(&e) && !sweep {
                // A hold that expired between the seats' read and their claim: its
                // reservation still held the seat's live index. Again, ending it first.
                sweep = true;
            } else if tries < MAX_ATTEMPTS && is_transient(&e) {
                tracing::debug!(error = %e, tries, "retrying a group of orders");
                backoff(tries).await;
            } else if reqs.len() > 1 {
                tracing::debug!(error = %e, "a group of orders failed: placing them one by one");
                let mut answers = Vec::with_capacity(reqs.len());
                for r in reqs {
                    answers.extend(Box::pin(self.place_group(&[*r])).await);
                }
                return answers;
            } else {
                return vec![Err(PlaceError::Unavailable(StoreError::new(e)))];
            }
        }
    }

    /// One attempt at a group (see the module). `Err` only for a database failure;
    /// each order's own refusal is in its answer.
    #[allow(clippy::too_many_lines)] // one transaction, step by step, in the lock order
    async fn try_place_group(
        &self,
        reqs: &[&PlaceOrder],
        sweep: bool,
        lock_areas: bool,
    ) -> Result<Vec<Result<Order, PlaceError>>, DbErr> {
        let mut out: Vec<Option<Result<Order, PlaceError>>> = reqs.iter().map(|_| None).collect();
        let now = reqs.iter().map(|r| ms(r.now)).max().unwrap_or(0);

        // Seats of another schedule or none at all: refused before any lock.
        let found = self.seats_by_id(reqs).await?;
        let mut live: Vec<Decided<'_>> = Vec::with_capacity(reqs.len());
        let mut index: Vec<usize> = Vec::with_capacity(reqs.len());
        for (i, r) in reqs.iter().enumerate() {
            let missing: Vec<SeatId> = r
                .seats
                .iter()
                .filter(|s| {
                    found
                        .get(&s.0)
                        .is_none_or(|m| m.schedule_id != r.schedule_id.0)
                })
                .copied()
                .collect();
            if missing.is_empty() {
                let mut seats: Vec<seat::Model> = r
                    .seats
                    .iter()
                    .filter_map(|s| found.get(&s.0).cloned())
                    .collect();
                seats.sort_by_key(|s| s.id);
                let wanted = u64::try_from(seats.len()).unwrap_or(u64::MAX)
                    + r.standing.iter().map(|(_, q)| u64::from(*q)).sum::<u64>();
                live.push(Decided {
                    req: r,
                    seats,
                    lines: Vec::new(),
                    code: None,
                    wanted,
                });
                index.push(i);
            } else {
                out[i] = Some(Err(PlaceError::SeatsNotFound(missing)));
            }
        }
        if live.is_empty() {
            return all_answered(out);
        }

        let txn = self.begin_write().await?;
        let backend = txn.get_database_backend();
        let locking = backend != DbBackend::Sqlite;
        // `refuse` ends an order's part in the group before anything of it is written.
        let mut refused: Vec<Option<PlaceError>> = live.iter().map(|_| None).collect();

        // 1. The fans' allowance: their wallet rows, locked ascending, serialise each
        //    fan's orders (across groups and instances); the counts below then see every
        //    other one. SQLite's write transaction is the whole database's lock already.
        let users: BTreeSet<i64> = live.iter().map(|d| d.req.user_id.0).collect();
        if locking {
            let users: Vec<i64> = users.iter().copied().collect();
            for chunk in users.chunks(IN_CHUNK) {
                wallet::Entity::find()
                    .select_only()
                    .column(wallet::Column::UserId)
                    .filter(wallet::Column::UserId.is_in(chunk.iter().copied()))
                    .order_by_asc(wallet::Column::UserId)
                    .lock(LockType::Update)
                    .into_tuple::<i64>()
                    .all(&txn)
                    .await?;
            }
        }
        let mut by_schedule: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for d in &live {
            by_schedule
                .entry(d.req.schedule_id.0)
                .or_default()
                .push(d.req.user_id.0);
        }
        let mut allowances = HashMap::new();
        for (schedule, users) in &by_schedule {
            allowances.insert(*schedule, allowance(&txn, *schedule, users, now).await?);
        }
        for (k, d) in live.iter().enumerate() {
            let a = &allowances[&d.req.schedule_id.0];
            let already = a.tickets.get(&d.req.user_id.0).copied().unwrap_or(0);
            if a.cancelled {
                refused[k] = Some(PlaceError::ScheduleCancelled);
            } else if already + d.wanted > u64::from(d.req.max_per_fan) {
                refused[k] = Some(PlaceError::FanLimit {
                    limit: d.req.max_per_fan,
                    already,
                });
            }
        }

        // 2. Presale codes: checked and counted after the fans' locks (given back below
        //    if the order is refused for anything else).
        for (k, d) in live.iter_mut().enumerate() {
            let (None, Some(c)) = (&refused[k], &d.req.presale_code) else {
                continue;
            };
            let r = d.req;
            match crate::presale::take_code(&txn, r.schedule_id.0, c, r.user_id.0, d.wanted, now)
                .await?
            {
                Ok(row) => d.code = Some(row),
                Err(e) => refused[k] = Some(e),
            }
        }
        let opens = |d: &Decided<'_>, category: &str, section: &str| {
            d.code
                .as_ref()
                .is_some_and(|c| crate::presale::opens(c, category, section))
        };
        for (k, d) in live.iter().enumerate() {
            if refused[k].is_some() {
                continue;
            }
            let closed: Vec<SeatId> = d
                .seats
                .iter()
                .filter(|s| s.hidden && !opens(d, &s.category, &s.section))
                .map(|s| SeatId(s.id))
                .collect();
            if !closed.is_empty() {
                refused[k] = Some(PlaceError::SeatsNotOnSale(closed));
            }
        }

        // 3. Standing areas by name (read; their places are taken under lock below).
        let areas = areas_by_name(&txn, &live).await?;
        for (k, d) in live.iter_mut().enumerate() {
            if refused[k].is_some() {
                continue;
            }
            let mut standing = d.req.standing.clone();
            standing.sort();
            for (name, qty) in standing {
                let Some(area) = areas.get(&(d.req.schedule_id.0, name.clone())) else {
                    refused[k] = Some(PlaceError::AreaNotFound(name));
                    break;
                };
                if area.hidden && !opens(d, &area.category, &area.name) {
                    refused[k] = Some(PlaceError::AreaNotOnSale(name));
                    break;
                }
                d.lines.push((area.clone(), qty));
            }
        }

        // 4. Seats, ascending: the free ones locked (a seat another transaction is
        //    claiming is skipped under SKIP LOCKED, and counts as taken), then given to
        //    the group's orders in their order of arrival.
        let want: BTreeSet<i64> = live
            .iter()
            .enumerate()
            .filter(|(k, _)| refused[*k].is_none())
            .flat_map(|(_, d)| d.seats.iter().map(|s| s.id))
            .collect();
        let free = self.lock_free_seats(&txn, &want, now).await?;
        let mut claimed: HashSet<i64> = HashSet::new();
        for (k, d) in live.iter().enumerate() {
            if refused[k].is_some() {
                continue;
            }
            let taken: Vec<SeatId> = d
                .seats
                .iter()
                .filter(|s| !free.contains(&s.id) || claimed.contains(&s.id))
                .map(|s| SeatId(s.id))
                .collect();
            if taken.is_empty() {
                claimed.extend(d.seats.iter().map(|s| s.id));
            } else {
                refused[k] = Some(PlaceError::SeatsTaken(taken));
            }
        }

        // 5. Standing places, given in order of arrival: first from an unlocked read,
        //    counted by the group's last statement (an area's row is every standing fan's:
        //    locked for that statement and the commit only); when that read does not hold,
        //    or an order would be refused, again with the areas' rows locked ascending
        //    from here (a full area's expired holds are ended once, then looked at again).
        let taken_places = take_places(&txn, &live, &mut refused, now, lock_areas).await?;

        // Codes of refused orders go back.
        for (k, d) in live.iter().enumerate() {
            if let (Some(_), Some(code)) = (&refused[k], &d.code) {
                crate::presale::give_back(
                    &txn,
                    code.id,
                    i64::try_from(d.wanted).unwrap_or(i64::MAX),
                )
                .await?;
            }
        }

        // 6. The winners' writes: expired holds' reservations ended, seats held, the
        //    orders and their positions inserted, the areas' places counted.
        let winners: Vec<&Decided<'_>> = live
            .iter()
            .enumerate()
            .filter(|(k, _)| refused[*k].is_none())
            .map(|(_, d)| d)
            .collect();
        if !winners.is_empty() {
            let stale_seats: Vec<i64> = winners
                .iter()
                .flat_map(|d| d.seats.iter())
                .filter(|s| sweep || s.status != SeatStatus::Available.as_str())
                .map(|s| s.id)
                .collect();
            end_stale_holds(&txn, &stale_seats, now).await?;
            hold_seats(&txn, &winners, now).await?;
        }
        let ids = insert_orders(&txn, &winners).await?;
        insert_positions(&txn, &winners, &ids).await?;
        for (area, q) in &taken_places {
            if !count_places(&txn, *area, *q).await? {
                txn.rollback().await?;
                return Err(DbErr::Custom(if lock_areas {
                    format!("standing area {area} would pass its capacity")
                } else {
                    AREAS_AGAIN.to_owned()
                }));
            }
        }
        // The answers before the commit: nothing can fail after it (a retry would
        // place the group twice).
        let mut won = ids.iter();
        for (k, d) in live.iter().enumerate() {
            out[index[k]] = Some(match refused[k].take() {
                Some(e) => Err(e),
                None => {
                    let id = won
                        .next()
                        .ok_or_else(|| DbErr::Custom("an order without an id".into()))?;
                    Ok(placed(d, *id)?)
                }
            });
        }
        let answers = all_answered(out)?;
        txn.commit().await?;
        Ok(answers)
    }

    /// The group's seats by id (any schedule; the caller checks), read without locks.
    async fn seats_by_id(&self, reqs: &[&PlaceOrder]) -> Result<HashMap<i64, seat::Model>, DbErr> {
        let ids: BTreeSet<i64> = reqs
            .iter()
            .flat_map(|r| r.seats.iter().map(|s| s.0))
            .collect();
        let ids: Vec<i64> = ids.into_iter().collect();
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            for s in seat::Entity::find()
                .filter(seat::Column::Id.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?
            {
                found.insert(s.id, s);
            }
        }
        Ok(found)
    }

    /// Of `want`, the seats free at `now`, locked for this transaction (PostgreSQL and
    /// MariaDB/MySQL: `FOR UPDATE`, skipping seats another transaction holds when the
    /// store claims with SKIP LOCKED; SQLite: its write lock is the database's).
    async fn lock_free_seats(
        &self,
        txn: &DatabaseTransaction,
        want: &BTreeSet<i64>,
        now: i64,
    ) -> Result<HashSet<i64>, DbErr> {
        let backend = txn.get_database_backend();
        let want: Vec<i64> = want.iter().copied().collect();
        let mut free = HashSet::with_capacity(want.len());
        for chunk in want.chunks(IN_CHUNK) {
            let mut q = seat::Entity::find()
                .select_only()
                .column(seat::Column::Id)
                .filter(seat::Column::Id.is_in(chunk.iter().copied()))
                .filter(claimable(now))
                .order_by_asc(seat::Column::Id);
            if backend != DbBackend::Sqlite {
                q = if self.seat_claim == SeatClaim::SkipLocked {
                    q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                } else {
                    q.lock(LockType::Update)
                };
            }
            free.extend(q.into_tuple::<i64>().all(txn).await?);
        }
        Ok(free)
    }
}

fn all_answered(
    out: Vec<Option<Result<Order, PlaceError>>>,
) -> Result<Vec<Result<Order, PlaceError>>, DbErr> {
    out.into_iter()
        .map(|o| o.ok_or_else(|| DbErr::Custom("an order of the group left unanswered".into())))
        .collect()
}

/// The fans' tickets of one schedule, and whether its show is cancelled.
struct Allowance {
    /// Live and paid tickets per fan.
    tickets: HashMap<i64, u64>,
    cancelled: bool,
}

/// The live and paid tickets of `users` in `schedule` at `now` (seats, standing places,
/// less returned standing places; a returned seat is no longer live), and whether the
/// show is cancelled: one statement.
async fn allowance(
    conn: &impl ConnectionTrait,
    schedule: i64,
    users: &[i64],
    now: i64,
) -> Result<Allowance, DbErr> {
    let backend = conn.get_database_backend();
    // SUM of an integer is a DECIMAL on MariaDB/MySQL: read back as a 64-bit integer.
    let int = match backend {
        DbBackend::MySql => "SIGNED",
        DbBackend::Postgres => "BIGINT",
        _ => "INTEGER", // SQLite
    };
    let mut tickets = HashMap::with_capacity(users.len());
    let mut cancelled = false;
    for chunk in users.chunks(IN_CHUNK) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "SELECT u.id AS user_id, \
               (SELECT COUNT(*) FROM reservations r WHERE r.user_id = u.id AND r.schedule_id = ? \
                 AND r.live_seat_id IS NOT NULL AND (r.status = '{confirmed}' OR r.expires_at > ?)) AS seats, \
               (SELECT CAST(COALESCE(SUM(l.quantity), 0) AS {int}) FROM order_standing l \
                 JOIN orders o ON o.id = l.order_id WHERE o.user_id = u.id AND o.schedule_id = ? \
                 AND (o.status = '{PAID}' OR (o.status = '{HELD}' AND o.expires_at > ?))) AS standing, \
               (SELECT COUNT(*) FROM refunds f WHERE f.user_id = u.id AND f.schedule_id = ? \
                 AND f.kind = '{ret}' AND f.ticket_id IN (SELECT t.id FROM tickets t \
                   WHERE t.user_id = u.id AND t.schedule_id = ? AND t.area_id IS NOT NULL)) AS returned, \
               (SELECT COUNT(*) FROM schedule_cancellations WHERE schedule_id = ?) AS cancelled \
             FROM users u WHERE u.id IN ({marks})",
            confirmed = ReservationStatus::Confirmed.as_str(),
            ret = RefundKind::Return.as_str(),
        );
        let mut values: Vec<Value> = vec![
            schedule.into(),
            now.into(),
            schedule.into(),
            now.into(),
            schedule.into(),
            schedule.into(),
            schedule.into(),
        ];
        values.extend(chunk.iter().map(|u| Value::from(*u)));
        for row in conn.query_all_raw(raw(backend, &sql, values)).await? {
            let count = |col: &str| -> Result<u64, DbErr> {
                let n: i64 = row.try_get("", col)?;
                Ok(u64::try_from(n).unwrap_or(0))
            };
            let user: i64 = row.try_get("", "user_id")?;
            let held = count("seats")? + count("standing")?.saturating_sub(count("returned")?);
            tickets.insert(user, held);
            cancelled |= count("cancelled")? > 0;
        }
    }
    Ok(Allowance { tickets, cancelled })
}

/// The standing areas the group's orders name, by (schedule, name).
async fn areas_by_name(
    txn: &DatabaseTransaction,
    live: &[Decided<'_>],
) -> Result<HashMap<(i64, String), standing_area::Model>, DbErr> {
    let schedules: BTreeSet<i64> = live
        .iter()
        .filter(|d| !d.req.standing.is_empty())
        .map(|d| d.req.schedule_id.0)
        .collect();
    let names: BTreeSet<&str> = live
        .iter()
        .flat_map(|d| d.req.standing.iter().map(|(n, _)| n.as_str()))
        .collect();
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(standing_area::Entity::find()
        .filter(standing_area::Column::ScheduleId.is_in(schedules))
        .filter(standing_area::Column::Name.is_in(names))
        .all(txn)
        .await?
        .into_iter()
        .map(|a| ((a.schedule_id, a.name.clone()), a))
        .collect())
}

/// Gives the standing places of the orders not yet refused, in order of arrival, from
/// the areas' rows read unlocked, or with `lock` under their row locks (ascending); with
/// `lock`, an order that does not fit is refused `AreaFull` (after the full areas'
/// expired holds were ended once), without, the group is to be placed again with `lock`
/// ([`AREAS_AGAIN`]). The places to count per area.
async fn take_places(
    txn: &DatabaseTransaction,
    live: &[Decided<'_>],
    refused: &mut [Option<PlaceError>],
    now: i64,
    lock: bool,
) -> Result<BTreeMap<i64, i64>, DbErr> {
    let ids: BTreeSet<i64> = live
        .iter()
        .enumerate()
        .filter(|(k, _)| refused[*k].is_none())
        .flat_map(|(_, d)| d.lines.iter().map(|(a, _)| a.id))
        .collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let sqlite = txn.get_database_backend() == DbBackend::Sqlite;
    // SQLite's write transaction is the database's lock: its read is as good as a lock.
    let lock = lock || sqlite;
    let locking = lock && !sqlite;
    let read = || async {
        let mut q = standing_area::Entity::find()
            .filter(standing_area::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(standing_area::Column::Id);
        if locking {
            q = q.lock(LockType::Update);
        }
        let left: BTreeMap<i64, i64> = q
            .all(txn)
            .await?
            .into_iter()
            .map(|a| (a.id, a.capacity - a.held - a.sold))
            .collect();
        Ok::<_, DbErr>(left)
    };
    let mut left = read().await?;
    let mut expired_once = false;
    loop {
        let mut room = left.clone();
        let mut full: Vec<(usize, i64, String)> = Vec::new();
        for (k, d) in live.iter().enumerate() {
            if refused[k].is_some() || d.lines.is_empty() {
                continue;
            }
            let short = d
                .lines
                .iter()
                .find(|(a, q)| room.get(&a.id).copied().unwrap_or(0) < i64::from(*q));
            match short {
                Some((a, _)) => full.push((k, a.id, a.name.clone())),
                None => {
                    for (a, q) in &d.lines {
                        *room.entry(a.id).or_default() -= i64::from(*q);
                    }
                }
            }
        }
        if !full.is_empty() && !lock {
            return Err(DbErr::Custom(AREAS_AGAIN.to_owned()));
        }
        if !full.is_empty() && !expired_once {
            expired_once = true;
            let mut ended = 0;
            for area in full.iter().map(|(_, a, _)| *a).collect::<BTreeSet<_>>() {
                ended += expire_area_holds(txn, area, now).await?;
            }
            if ended > 0 {
                left = read().await?;
                continue;
            }
        }
        for (k, area, name) in full {
            refused[k] = Some(PlaceError::AreaFull {
                area: name,
                available: u64::try_from(room.get(&area).copied().unwrap_or(0)).unwrap_or(0),
            });
        }
        return Ok(left
            .iter()
            .map(|(id, was)| (*id, was - room.get(id).copied().unwrap_or(*was)))
            .filter(|(_, q)| *q > 0)
            .collect());
    }
}

/// Ends the held reservations of `seats` whose holds expired (the seats' new holds
/// would fail the unique live-seat index otherwise).
async fn end_stale_holds(txn: &DatabaseTransaction, seats: &[i64], now: i64) -> Result<(), DbErr> {
    let mut stale: Vec<i64> = Vec::new();
    for chunk in seats.chunks(IN_CHUNK) {
        stale.extend(
            reservation::Entity::find()
                .select_only()
                .column(reservation::Column::Id)
                .filter(reservation::Column::LiveSeatId.is_in(chunk.iter().copied()))
                .filter(reservation::Column::Status.eq(ReservationStatus::Held.as_str()))
                .filter(reservation::Column::ExpiresAt.lte(now))
                .into_tuple::<i64>()
                .all(txn)
                .await?,
        );
    }
    end_reservations(txn, &stale, ReservationStatus::Expired).await
}

/// Holds the winners' seats, each for its fan until its order's expiry: one conditional
/// update per chunk (`CASE` gives each seat its holder), refused by the database for a
/// seat that is no longer free.
async fn hold_seats(
    txn: &DatabaseTransaction,
    winners: &[&Decided<'_>],
    now: i64,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let seats: Vec<(i64, i64, i64)> = winners
        .iter()
        .flat_map(|d| {
            d.seats
                .iter()
                .map(|s| (s.id, d.req.user_id.0, ms(d.req.expires_at)))
        })
        .collect();
    for chunk in seats.chunks(IN_CHUNK) {
        let whens = vec!["WHEN ? THEN ?"; chunk.len()].join(" ");
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "UPDATE seats SET status = '{held}', version = version + 1, \
               held_by = CASE id {whens} END, held_until = CASE id {whens} END \
             WHERE id IN ({marks}) AND (status = '{available}' OR (status = '{held}' \
               AND held_until <= ? AND offer_order_id IS NULL))",
            held = SeatStatus::Held.as_str(),
            available = SeatStatus::Available.as_str(),
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 5 + 1);
        values.extend(
            chunk
                .iter()
                .flat_map(|(id, by, _)| [Value::from(*id), Value::from(*by)]),
        );
        values.extend(
            chunk
                .iter()
                .flat_map(|(id, _, until)| [Value::from(*id), Value::from(*until)]),
        );
        values.extend(chunk.iter().map(|(id, _, _)| Value::from(*id)));
        values.push(now.into());
        let n = txn
            .execute_raw(raw(backend, &sql, values))
            .await?
            .rows_affected();
        if n != u64::try_from(chunk.len()).unwrap_or(u64::MAX) {
            // Locked and seen free above: only wrong code gets here, and the database
            // refused it.
            return Err(DbErr::Custom(format!(
                "{} of {} seats locked free were not free when held",
                chunk.len() as u64 - n,
                chunk.len()
            )));
        }
    }
    Ok(())
}

fn order_row(d: &Decided<'_>) -> order::ActiveModel {
    let r = d.req;
    order::ActiveModel {
        user_id: Set(r.user_id.0),
        concert_id: Set(r.concert_id.0),
        schedule_id: Set(r.schedule_id.0),
        status: Set(HELD.to_owned()),
        total: Set(total(d)),
        together: Set(r.together),
        lone_seats_left: Set(i32::try_from(r.lone_seats_left).unwrap_or(i32::MAX)),
        created_at: Set(ms(r.now)),
        expires_at: Set(ms(r.expires_at)),
        admitted_until: Set(ms(r.admitted_until)),
        extended_at: Set(None),
        paid_at: Set(None),
        version: Set(0),
        presale_code_id: Set(d.code.as_ref().map(|c| c.id)),
        ..Default::default()
    }
}

fn total(d: &Decided<'_>) -> i64 {
    d.seats.iter().map(|s| s.price).sum::<i64>()
        + d.lines
            .iter()
            .map(|(a, q)| a.price * i64::from(*q))
            .sum::<i64>()
}

/// Inserts the winners' orders; their ids, in the winners' order. One statement with
/// `RETURNING` on PostgreSQL and SQLite (matched by fan: a group has one order per
/// fan); MariaDB/MySQL return the id of one row per statement.
async fn insert_orders(
    txn: &DatabaseTransaction,
    winners: &[&Decided<'_>],
) -> Result<Vec<i64>, DbErr> {
    let backend = txn.get_database_backend();
    if winners.is_empty() {
        return Ok(Vec::new());
    }
    if backend == DbBackend::MySql {
        let mut ids = Vec::with_capacity(winners.len());
        for d in winners {
            ids.push(
                order::Entity::insert(order_row(d))
                    .exec(txn)
                    .await?
                    .last_insert_id,
            );
        }
        return Ok(ids);
    }
    let mut ids = Vec::with_capacity(winners.len());
    for chunk in winners.chunks(MAX_GROUP) {
        let mut stmt = order::Entity::insert_many(chunk.iter().map(|d| order_row(d))).into_query();
        stmt.returning(Query::returning().columns([order::Column::Id, order::Column::UserId]));
        let rows = txn.query_all(&stmt).await?;
        let mut by_user: HashMap<i64, i64> = HashMap::with_capacity(rows.len());
        for row in rows {
            by_user.insert(row.try_get("", "user_id")?, row.try_get("", "id")?);
        }
        for d in chunk {
            ids.push(
                *by_user
                    .get(&d.req.user_id.0)
                    .ok_or_else(|| DbErr::Custom("an inserted order was not returned".into()))?,
            );
        }
    }
    Ok(ids)
}

/// Inserts the winners' reservations (one per seat, live on it) and standing lines.
async fn insert_positions(
    txn: &DatabaseTransaction,
    winners: &[&Decided<'_>],
    ids: &[i64],
) -> Result<(), DbErr> {
    let rows: Vec<reservation::ActiveModel> = winners
        .iter()
        .zip(ids)
        .flat_map(|(d, id)| {
            let r = d.req;
            d.seats.iter().map(move |s| reservation::ActiveModel {
                user_id: Set(r.user_id.0),
                concert_id: Set(r.concert_id.0),
                schedule_id: Set(r.schedule_id.0),
                seat_id: Set(s.id),
                price: Set(s.price),
                status: Set(ReservationStatus::Held.as_str().to_owned()),
                version: Set(0),
                created_at: Set(ms(r.now)),
                expires_at: Set(ms(r.expires_at)),
                paid_at: Set(None),
                extended_at: Set(None),
                order_id: Set(Some(*id)),
                live_seat_id: Set(Some(s.id)),
                ..Default::default()
            })
        })
        .collect();
    for chunk in rows.chunks(IN_CHUNK / 5) {
        reservation::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    let lines: Vec<order_standing::ActiveModel> = winners
        .iter()
        .zip(ids)
        .flat_map(|(d, id)| {
            d.lines
                .iter()
                .map(move |(a, q)| order_standing::ActiveModel {
                    order_id: Set(*id),
                    area_id: Set(a.id),
                    quantity: Set(i32::try_from(*q).unwrap_or(i32::MAX)),
                    price: Set(a.price),
                    ..Default::default()
                })
        })
        .collect();
    for chunk in lines.chunks(IN_CHUNK / 5) {
        order_standing::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Counts `q` more held places in `area`; false, counting nothing, when held + sold would
/// pass its capacity (the database refuses, not the code).
async fn count_places(txn: &DatabaseTransaction, area: i64, q: i64) -> Result<bool, DbErr> {
    let n = standing_area::Entity::update_many()
        .col_expr(
            standing_area::Column::Held,
            Expr::col(standing_area::Column::Held).add(q),
        )
        .filter(standing_area::Column::Id.eq(area))
        .filter(
            Expr::col(standing_area::Column::Held)
                .add(Expr::col(standing_area::Column::Sold))
                .add(q)
                .lte(Expr::col(standing_area::Column::Capacity)),
        )
        .exec(txn)
        .await?
        .rows_affected;
    Ok(n > 0)
}

/// The answer for a placed order, from what the group wrote (no second read).
fn placed(d: &Decided<'_>, id: i64) -> Result<Order, DbErr> {
    let r = d.req;
    let seats = d
        .seats
        .iter()
        .map(|s| seat_position(s, s.price))
        .collect::<Result<Vec<_>, DbErr>>()?;
    let standing = d
        .lines
        .iter()
        .map(|(a, q)| {
            Ok(StandingPosition {
                area: a.name.clone(),
                category: a.category.clone(),
                quantity: *q,
                price: money(a.price)?,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    Ok(Order {
        id: OrderId(id),
        user_id: r.user_id,
        concert_id: r.concert_id,
        schedule_id: r.schedule_id,
        status: OrderStatus::Held,
        total: money(total(d))?,
        seats,
        standing,
        together: r.together,
        lone_seats_left: r.lone_seats_left,
        created_at: at(ms(r.now))?,
        expires_at: at(ms(r.expires_at))?,
        admitted_until: at(ms(r.admitted_until))?,
        extended_at: None,
        paid_at: None,
        offer: false,
        refunds: Vec::new(),
        show_cancelled: false,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use frontrow_domain::model::{ConcertId, ScheduleId, UserId};

    use super::*;

    fn job(user: i64) -> (Job, oneshot::Receiver<Result<Order, PlaceError>>) {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let (answer, answered) = oneshot::channel();
        let req = PlaceOrder {
            user_id: UserId(user),
            concert_id: ConcertId(1),
            schedule_id: ScheduleId(1),
            seats: vec![SeatId(user)],
            standing: vec![],
            now: at,
            expires_at: at,
            admitted_until: at,
            max_per_fan: 8,
            together: true,
            lone_seats_left: 0,
            presale_code: None,
        };
        (Job { req, answer }, answered)
    }

    fn users(group: &[Job]) -> Vec<i64> {
        group.iter().map(|j| j.req.user_id.0).collect()
    }

    #[test]
    fn a_group_takes_one_order_per_fan_in_arrival_order_and_the_rest_wait() {
        let q = PlaceQueue::default();
        let mut answers = Vec::new();
        let mut leads = 0;
        for user in [1, 2, 1, 3, 2, 1] {
            let (j, a) = job(user);
            leads += usize::from(q.push(j));
            answers.push(a);
        }
        // The first pushes start leaders, up to the limit.
        assert_eq!(leads, LEADERS.min(6));
        assert_eq!(users(&q.next_group().unwrap()), [1, 2, 3]);
        // A fan's second order waits for the next group, and keeps its place.
        assert_eq!(users(&q.next_group().unwrap()), [1, 2]);
        assert_eq!(users(&q.next_group().unwrap()), [1]);
        // An empty queue retires the leader that looked, in the same step.
        let before = q.lock().leaders;
        assert!(q.next_group().is_none());
        assert_eq!(q.lock().leaders, before - 1);
    }

    #[test]
    fn a_group_holds_at_most_max_group_orders() {
        let q = PlaceQueue::default();
        let mut answers = Vec::new();
        for user in 0..(MAX_GROUP as i64 + 5) {
            let (j, a) = job(user);
            q.push(j);
            answers.push(a);
        }
        assert_eq!(q.next_group().unwrap().len(), MAX_GROUP);
        assert_eq!(q.next_group().unwrap().len(), 5);
    }

    #[test]
    fn a_leader_is_started_again_once_one_retired() {
        let q = PlaceQueue::default();
        let mut answers = Vec::new();
        for user in 0..LEADERS as i64 {
            let (j, a) = job(user);
            assert!(q.push(j), "leader {user} started");
            answers.push(a);
        }
        let (j, a) = job(100);
        assert!(!q.push(j), "no more than LEADERS at once");
        answers.push(a);
        while q.next_group().is_some() {}
        // The leader that found the queue empty retired: the next order starts one.
        let (j, a) = job(101);
        assert!(q.push(j));
        answers.push(a);
    }
}
