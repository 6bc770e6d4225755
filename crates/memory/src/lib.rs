//! `MemoryQueue`: the waiting room kept in this process, for a single node (used when no
//! Redis is configured). Same contract as the Redis adapter: one line per concert in
//! entry order, a bounded active set, a token bucket, idle and TTL expiry.
//!
//! Each concert has its own mutex, never held across an `.await` (no method awaits).
//! The line's rules (places, head, gone places, positions, the token bucket, how many
//! one step admits) are the domain's `Line` model; this adapter adds tokens, users,
//! heartbeats and active fans around it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, PoisonError};
#[cfg(not(feature = "shuttle"))]
use std::sync::{Mutex, MutexGuard, RwLock};

// Under the `shuttle` feature (a model check, tests/shuttle.rs) the same locks are
// shuttle's, whose scheduler tries the interleavings of the critical sections.
#[cfg(feature = "shuttle")]
use shuttle::sync::{Mutex, MutexGuard, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::draw::{Draw, Seed, receipt};
use frontrow_domain::error::QueueError;
use frontrow_domain::lifecycle::{CloseReason, LineLife};
use frontrow_domain::line::admission::{TokenBucket, admissions};
use frontrow_domain::line::phase::{DrawOpening, DrawPhase};
use frontrow_domain::line::{EtaInputs, Line, Standing};
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{
    AdmissionCap, Entered, Inventory, QueuePolicy, QueueSettings, QueueStats, QueueToken,
    TickReport, Ticket, update_rate_ema, update_rate_var,
};

/// The in-process waiting rooms of every concert.
pub struct MemoryQueue {
    settings: QueueSettings,
    concerts: RwLock<HashMap<ConcertId, Arc<Mutex<Room>>>>,
    /// What is kept of a retired line: how it ended, and the last token number it
    /// issued (a new incarnation numbers on from there, so no token is issued twice).
    retired: Mutex<HashMap<ConcertId, (CloseReason, u64)>>,
}

impl MemoryQueue {
    pub fn new(settings: QueueSettings) -> Self {
        MemoryQueue {
            settings,
            concerts: RwLock::new(HashMap::new()),
            retired: Mutex::new(HashMap::new()),
        }
    }

    /// How the concert's retired line ended, and its last token number.
    fn tombstone(&self, concert: ConcertId) -> Option<(CloseReason, u64)> {
        self.retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&concert)
            .copied()
    }

    /// The ticket of a token of a retired line, `None` when the line is not retired or
    /// the token is of a later incarnation.
    fn retired_ticket(&self, token: &QueueToken) -> Option<Ticket> {
        let (reason, last) = self.tombstone(token.concert())?;
        (token.seq() <= last)
            .then(|| Ticket::expired(token).with_life(LineLife::Retired { reason }))
    }

    /// Only tokens signed with this deployment's key are looked up.
    fn verify(&self, token: &QueueToken) -> Result<(), QueueError> {
        QueueToken::verify(&self.settings.token_key, token.as_str())
            .map(|_| ())
            .ok_or(QueueError::UnknownToken)
    }

    fn existing(&self, concert: ConcertId) -> Option<Arc<Mutex<Room>>> {
        let map = self.concerts.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&concert).cloned()
    }

    fn room(&self, concert: ConcertId) -> Arc<Mutex<Room>> {
        if let Some(room) = self.existing(concert) {
            return room;
        }
        // Read before the map's lock: `retire` takes the tombstones' lock first.
        let numbered = self.tombstone(concert).map_or(0, |(_, last)| last);
        let mut map = self
            .concerts
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(concert)
            .or_insert_with(|| {
                let mut room = Room::new(concert);
                room.next_token = numbered;
                room.first_token = numbered;
                Arc::new(Mutex::new(room))
            })
            .clone()
    }
}

fn lock(room: &Mutex<Room>) -> MutexGuard<'_, Room> {
    room.lock().unwrap_or_else(PoisonError::into_inner)
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// In the pre-queue under its token's number, until the draw.
    Pre {
        seen_ms: i64,
    },
    Waiting {
        seq: u64,
        seen_ms: i64,
    },
    Active {
        until_ms: i64,
    },
}

#[derive(Debug)]
struct Record {
    state: State,
}

/// A concert's draw (its pre-queue lives in `Room::pre`).
struct MemDraw {
    seed: Seed,
    opens_ms: i64,
    /// The receipts in drawn order, once drawn.
    drawn: Option<Vec<String>>,
}

/// One concert's waiting room.
struct Room {
    concert: ConcertId,
    /// Open or closed (a retired line has no room; see `MemoryQueue::retired`).
    life: LineLife,
    policy: Option<QueuePolicy>,
    /// The last number a token was issued with (tokens are numbered in entry order;
    /// after a draw the line's own order, `next_seq`, differs from it).
    next_token: u64,
    /// The number this incarnation of the line started after: its tokens are numbered
    /// from `first_token + 1` on.
    first_token: u64,
    /// The draw, when the line has a pre-queue.
    draw: Option<MemDraw>,
    /// Pre-queued tokens by their number, and their last polls oldest first.
    pre: BTreeMap<u64, QueueToken>,
    pre_seen: BTreeSet<(i64, u64)>,
    /// What the last capped tick said is left to buy.
    inventory: Option<Inventory>,
    rate_var: f64,
    /// The line's places (its own order: after a draw it differs from token numbers).
    places: Line,
    /// The waiting tokens by place, head first.
    line: BTreeMap<u64, QueueToken>,
    /// Last poll of every waiting token, oldest first (for idle expiry).
    seen: BTreeSet<(i64, u64)>,
    /// Active tokens by expiry.
    active: BTreeSet<(i64, QueueToken)>,
    /// The tokens still in line, pre-queued or admitted, and the user of each such token:
    /// a token that leaves, expires or is dropped for idling leaves both (it is known as
    /// issued by its number, see `Room::issued`), so they follow the fans still here,
    /// not every fan who ever came.
    tokens: HashMap<QueueToken, Record>,
    users: HashMap<UserId, QueueToken>,
    bucket: TokenBucket,
    rate: f64,
    rate_ms: Option<i64>,
    admitted_total: u64,
    expired_total: u64,
}

impl Room {
    fn new(concert: ConcertId) -> Self {
        Room {
            concert,
            life: LineLife::Open,
            policy: None,
            next_token: 0,
            first_token: 0,
            draw: None,
            pre: BTreeMap::new(),
            pre_seen: BTreeSet::new(),
            inventory: None,
            rate_var: 0.0,
            places: Line::default(),
            line: BTreeMap::new(),
            seen: BTreeSet::new(),
            active: BTreeSet::new(),
            tokens: HashMap::new(),
            users: HashMap::new(),
            bucket: TokenBucket::default(),
            rate: 0.0,
            rate_ms: None,
            admitted_total: 0,
            expired_total: 0,
        }
    }

    fn policy(&self, settings: &QueueSettings) -> QueuePolicy {
        self.policy.unwrap_or(settings.default_policy)
    }

    fn push_line(&mut self, token: QueueToken, now_ms: i64) -> u64 {
        let seq = self.places.enter();
        self.line.insert(seq, token);
        self.seen.insert((now_ms, seq));
        seq
    }

    /// Takes `seq` out of the line (the caller updates the token's record).
    fn remove_line(&mut self, seq: u64, seen_ms: i64) -> Option<QueueToken> {
        let token = self.line.remove(&seq)?;
        self.seen.remove(&(seen_ms, seq));
        self.places.leave(seq);
        Some(token)
    }

    fn expire_active_token(&mut self, token: &QueueToken, until_ms: i64) {
        self.active.remove(&(until_ms, token.clone()));
        self.finish(token);
    }

    /// `token` is done (left, expired, dropped): its record and its user's entry go.
    fn finish(&mut self, token: &QueueToken) {
        self.tokens.remove(token);
        if self.users.get(&token.user()) == Some(token) {
            self.users.remove(&token.user());
        }
    }

    /// Whether this incarnation of the line issued `token` (a verified one): its number
    /// is one of those it gave.
    fn issued(&self, token: &QueueToken) -> bool {
        (self.first_token + 1..=self.next_token).contains(&token.seq())
    }

    fn ticket(&self, token: &QueueToken, settings: &QueueSettings, now_ms: i64) -> Option<Ticket> {
        let standing = match self.tokens.get(token).map(|r| r.state) {
            Some(State::Pre { .. }) => Standing::PreQueue,
            Some(State::Waiting { seq, .. }) => self.places.standing(seq, now_ms),
            Some(State::Active { until_ms }) if until_ms > now_ms => Standing::Active { until_ms },
            Some(State::Active { .. }) => Standing::Expired,
            // Issued here and finished: expired.
            None if self.issued(token) => Standing::Expired,
            None => return None,
        };
        let eta = EtaInputs {
            rate: self.rate,
            rate_sd: self.rate_var.sqrt(),
            policy: &self.policy(settings),
            opens_ms: self.draw.as_ref().map(|d| d.opens_ms),
        };
        Some(
            standing
                .ticket(token, eta)
                .with_inventory(self.inventory)
                .with_life(self.life),
        )
    }

    /// Marks a waiting token as polled now.
    fn touch(&mut self, token: &QueueToken, now_ms: i64) {
        if let Some(rec) = self.tokens.get_mut(token)
            && let State::Pre { seen_ms } = rec.state
        {
            let now_ms = now_ms.max(seen_ms);
            rec.state = State::Pre { seen_ms: now_ms };
            self.pre_seen.remove(&(seen_ms, token.seq()));
            self.pre_seen.insert((now_ms, token.seq()));
            return;
        }
        if let Some(rec) = self.tokens.get_mut(token)
            && let State::Waiting { seq, seen_ms } = rec.state
        {
            // Never moves back: instances may disagree slightly about the time.
            let now_ms = now_ms.max(seen_ms);
            rec.state = State::Waiting {
                seq,
                seen_ms: now_ms,
            };
            self.seen.remove(&(seen_ms, seq));
            self.seen.insert((now_ms, seq));
        }
    }

    /// Draws the pre-queue once the opening is reached: every pre-queued fan joins
    /// the line in the order of the seed (see `frontrow_domain::draw`).
    fn open_if_due(&mut self, now_ms: i64) {
        let Some(draw) = &self.draw else { return };
        if draw.drawn.is_some() || now_ms < draw.opens_ms {
            return;
        }
        let entrants: Vec<(QueueToken, i64)> = std::mem::take(&mut self.pre)
            .into_values()
            .map(|t| {
                let seen = match self.tokens.get(&t).map(|r| r.state) {
                    Some(State::Pre { seen_ms }) => seen_ms,
                    _ => now_ms,
                };
                (t, seen)
            })
            .collect();
        self.pre_seen.clear();
        let receipts: Vec<String> = entrants.iter().map(|(t, _)| receipt(t.as_str())).collect();
        let order = draw.seed.order(&receipts);
        let mut drawn = Vec::with_capacity(order.len());
        for i in order {
            let (token, seen_ms) = entrants[i].clone();
            let seq = self.push_line(token.clone(), seen_ms);
            if let Some(rec) = self.tokens.get_mut(&token) {
                rec.state = State::Waiting { seq, seen_ms };
            }
            drawn.push(receipts[i].clone());
        }
        if let Some(draw) = &mut self.draw {
            draw.drawn = Some(drawn);
        }
    }

    fn pre_queue_open(&self, now_ms: i64) -> bool {
        self.draw
            .as_ref()
            .is_some_and(|d| d.drawn.is_none() && now_ms < d.opens_ms)
    }

    fn enter(&mut self, user: UserId, settings: &QueueSettings, now_ms: i64) -> Entered {
        self.open_if_due(now_ms);
        if let Some(token) = self.users.get(&user).cloned() {
            let state = self.tokens.get(&token).map(|r| r.state);
            match state {
                Some(State::Waiting { .. } | State::Pre { .. }) => {
                    self.touch(&token, now_ms);
                    if let Some(ticket) = self.ticket(&token, settings, now_ms) {
                        return Entered {
                            ticket,
                            created: false,
                        };
                    }
                }
                Some(State::Active { until_ms }) if until_ms > now_ms => {
                    if let Some(ticket) = self.ticket(&token, settings, now_ms) {
                        return Entered {
                            ticket,
                            created: false,
                        };
                    }
                }
                Some(State::Active { until_ms }) => {
                    // Ran out but not swept yet: it expires now, counted once.
                    self.expire_active_token(&token, until_ms);
                    self.expired_total += 1;
                }
                None => {}
            }
        }
        self.next_token += 1;
        let token = QueueToken::issue(&settings.token_key, self.concert, self.next_token, user);
        if self.pre_queue_open(now_ms) {
            self.pre.insert(token.seq(), token.clone());
            self.pre_seen.insert((now_ms, token.seq()));
            self.tokens.insert(
                token.clone(),
                Record {
                    state: State::Pre { seen_ms: now_ms },
                },
            );
            self.users.insert(user, token.clone());
            let ticket = self
                .ticket(&token, settings, now_ms)
                .unwrap_or_else(|| Ticket::expired(&token));
            return Entered {
                ticket,
                created: true,
            };
        }
        let seq = self.push_line(token.clone(), now_ms);
        self.tokens.insert(
            token.clone(),
            Record {
                state: State::Waiting {
                    seq,
                    seen_ms: now_ms,
                },
            },
        );
        self.users.insert(user, token.clone());
        let ticket = self
            .ticket(&token, settings, now_ms)
            .unwrap_or_else(|| Ticket::expired(&token));
        Entered {
            ticket,
            created: true,
        }
    }

    fn leave(&mut self, token: &QueueToken) -> bool {
        let Some(state) = self.tokens.get(token).map(|r| r.state) else {
            // Finished already (known: nothing changes), or never issued here.
            return self.issued(token);
        };
        match state {
            State::Pre { seen_ms } => {
                self.pre.remove(&token.seq());
                self.pre_seen.remove(&(seen_ms, token.seq()));
            }
            State::Waiting { seq, seen_ms } => {
                self.remove_line(seq, seen_ms);
            }
            State::Active { until_ms } => {
                self.active.remove(&(until_ms, token.clone()));
            }
        }
        self.finish(token);
        true
    }

    fn tick(
        &mut self,
        settings: &QueueSettings,
        now_ms: i64,
        cap: Option<AdmissionCap>,
    ) -> TickReport {
        let mut report = TickReport::default();
        self.open_if_due(now_ms);
        if let Some(cap) = cap {
            self.inventory = Some(cap.inventory);
        }

        // 1. Active tokens past their end.
        while let Some((until_ms, _)) = self.active.first() {
            if *until_ms > now_ms {
                break;
            }
            if let Some((until_ms, token)) = self.active.pop_first() {
                self.expire_active_token(&token, until_ms);
                report.expired_active += 1;
            }
        }

        // 2. Waiting tokens not polled for the idle timeout, bounded per tick.
        let idle_ms =
            i64::try_from(settings.idle_timeout_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        let cutoff = now_ms.saturating_sub(idle_ms);
        while report.expired_waiting < settings.max_expire_per_tick {
            let Some(&(seen_ms, seq)) = self.seen.first() else {
                break;
            };
            if seen_ms > cutoff {
                break;
            }
            if let Some(token) = self.remove_line(seq, seen_ms) {
                self.finish(&token);
            }
            report.expired_waiting += 1;
        }
        while report.expired_waiting < settings.max_expire_per_tick {
            let Some(&(seen_ms, number)) = self.pre_seen.first() else {
                break;
            };
            if seen_ms > cutoff {
                break;
            }
            self.pre_seen.remove(&(seen_ms, number));
            if let Some(token) = self.pre.remove(&number) {
                self.finish(&token);
            }
            report.expired_waiting += 1;
        }
        self.expired_total += report.expired_active + report.expired_waiting;

        // 3. Admission through the token bucket: the next live places move to active.
        let policy = self.policy(settings);
        self.bucket.refill(now_ms, policy.admit_per_second);
        let waiting_before = self.line.len() as u64;
        let open = !self.pre_queue_open(now_ms) && self.life == LineLife::Open;
        let active = self.active.len() as u64;
        let n = admissions(
            &self.bucket,
            &policy,
            active,
            cap.as_ref(),
            waiting_before,
            open,
        );
        if let Some((_, last)) = self.places.admit(n, None) {
            let until_ms = now_ms.saturating_add(
                i64::try_from(policy.active_ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            );
            let behind = self.line.split_off(&(last + 1));
            for (seq, token) in std::mem::replace(&mut self.line, behind) {
                if let Some(rec) = self.tokens.get_mut(&token) {
                    if let State::Waiting { seen_ms, .. } = rec.state {
                        self.seen.remove(&(seen_ms, seq));
                    }
                    rec.state = State::Active { until_ms };
                }
                self.active.insert((until_ms, token));
                report.admitted += 1;
            }
            self.bucket.take(report.admitted);
            self.admitted_total += report.admitted;
        }

        // The measured rate only moves while fans wait (an empty line says nothing).
        match self.rate_ms {
            Some(last) if waiting_before > 0 => {
                if now_ms > last {
                    let elapsed = (now_ms - last) as f64 / 1000.0;
                    self.rate_var =
                        update_rate_var(self.rate_var, self.rate, report.admitted, elapsed);
                    self.rate = update_rate_ema(self.rate, report.admitted, elapsed);
                    self.rate_ms = Some(now_ms);
                }
            }
            _ => self.rate_ms = Some(self.rate_ms.map_or(now_ms, |l| l.max(now_ms))),
        }
        report.life = self.life;
        report
    }

    fn stats(&self, now_ms: i64) -> QueueStats {
        let ran_out = self
            .active
            .iter()
            .take_while(|(until, _)| *until <= now_ms)
            .count();
        QueueStats {
            waiting: (self.line.len() + self.pre.len()) as u64,
            active: (self.active.len() - ran_out) as u64,
            admitted_total: self.admitted_total,
            expired_total: self.expired_total,
            admit_rate: self.rate,
        }
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn enter(
        &self,
        concert: ConcertId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Entered, QueueError> {
        if let Some((reason, _)) = self.tombstone(concert) {
            return Err(QueueError::Closed(reason));
        }
        let room = self.room(concert);
        let mut room = lock(&room);
        if let Some(reason) = room.life.reason() {
            return Err(QueueError::Closed(reason));
        }
        Ok(room.enter(user, &self.settings, millis(now)))
    }

    async fn status(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<Ticket, QueueError> {
        self.verify(token)?;
        if let Some(ticket) = self.retired_ticket(token) {
            return Ok(ticket);
        }
        let room = self
            .existing(token.concert())
            .ok_or(QueueError::UnknownToken)?;
        let mut room = lock(&room);
        let now_ms = millis(now);
        room.touch(token, now_ms);
        room.ticket(token, &self.settings, now_ms)
            .ok_or(QueueError::UnknownToken)
    }

    async fn admission(
        &self,
        token: &QueueToken,
        now: DateTime<Utc>,
    ) -> Result<Ticket, QueueError> {
        self.verify(token)?;
        if let Some(ticket) = self.retired_ticket(token) {
            return Ok(ticket);
        }
        let room = self
            .existing(token.concert())
            .ok_or(QueueError::UnknownToken)?;
        let room = lock(&room);
        room.ticket(token, &self.settings, millis(now))
            .ok_or(QueueError::UnknownToken)
    }

    async fn leave(&self, token: &QueueToken, _now: DateTime<Utc>) -> Result<(), QueueError> {
        self.verify(token)?;
        if self.retired_ticket(token).is_some() {
            return Ok(());
        }
        let room = self
            .existing(token.concert())
            .ok_or(QueueError::UnknownToken)?;
        let mut room = lock(&room);
        if room.leave(token) {
            Ok(())
        } else {
            Err(QueueError::UnknownToken)
        }
    }

    async fn tick_capped(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        cap: Option<AdmissionCap>,
    ) -> Result<TickReport, QueueError> {
        if let Some((reason, _)) = self.tombstone(concert) {
            return Ok(TickReport {
                life: LineLife::Retired { reason },
                ..TickReport::default()
            });
        }
        let room = self.room(concert);
        let mut room = lock(&room);
        Ok(room.tick(&self.settings, millis(now), cap))
    }

    async fn life(&self, concert: ConcertId) -> Result<LineLife, QueueError> {
        if let Some((reason, _)) = self.tombstone(concert) {
            return Ok(LineLife::Retired { reason });
        }
        Ok(self
            .existing(concert)
            .map_or(LineLife::Open, |room| lock(&room).life))
    }

    async fn close(
        &self,
        concert: ConcertId,
        reason: CloseReason,
        now: DateTime<Utc>,
    ) -> Result<LineLife, QueueError> {
        if let Some((reason, _)) = self.tombstone(concert) {
            return Ok(LineLife::Retired { reason });
        }
        let room = self.room(concert);
        let mut room = lock(&room);
        room.life = room.life.close(reason, now);
        Ok(room.life)
    }

    async fn reopen(&self, concert: ConcertId) -> Result<LineLife, QueueError> {
        // Held across the room's lock so a retirement cannot slip in between.
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        match retired.remove(&concert) {
            // A new incarnation numbers on from the last token of the old one.
            Some((_, last)) => {
                let mut room = Room::new(concert);
                room.next_token = last;
                room.first_token = last;
                self.concerts
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(concert, Arc::new(Mutex::new(room)));
            }
            None => {
                if let Some(room) = self.existing(concert) {
                    lock(&room).life = LineLife::Open;
                }
            }
        }
        Ok(LineLife::Open)
    }

    async fn retire(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        closed_before: DateTime<Utc>,
    ) -> Result<bool, QueueError> {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        if retired.contains_key(&concert) {
            return Ok(true);
        }
        let Some(room) = self.existing(concert) else {
            return Ok(false);
        };
        let mut map = self
            .concerts
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let last = {
            let room = lock(&room);
            let running = room.active.iter().any(|(until, _)| *until > millis(now));
            match room.life.retire(closed_before, running) {
                Some(LineLife::Retired { reason }) => Some((reason, room.next_token)),
                _ => None,
            }
        };
        let Some(tombstone) = last else {
            return Ok(false);
        };
        map.remove(&concert);
        retired.insert(concert, tombstone);
        Ok(true)
    }

    async fn draw(&self, concert: ConcertId) -> Result<Option<Draw>, QueueError> {
        let Some(room) = self.existing(concert) else {
            return Ok(None);
        };
        let room = lock(&room);
        Ok(room.draw.as_ref().map(|d| Draw {
            commitment: d.seed.commitment(),
            opens_at: from_millis(d.opens_ms).unwrap_or_default(),
            entrants: d
                .drawn
                .as_ref()
                .map_or(room.pre.len() as u64, |r| r.len() as u64),
            seed: d.drawn.as_ref().map(|_| d.seed.to_hex()),
        }))
    }

    async fn draw_receipts(
        &self,
        concert: ConcertId,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<String>>, QueueError> {
        let Some(room) = self.existing(concert) else {
            return Ok(None);
        };
        let room = lock(&room);
        Ok(room.draw.as_ref().and_then(|d| d.drawn.as_ref()).map(|r| {
            let from = usize::try_from(offset).unwrap_or(usize::MAX).min(r.len());
            let to = from.saturating_add(usize::try_from(limit).unwrap_or(usize::MAX));
            r[from..to.min(r.len())].to_vec()
        }))
    }

    async fn policy(&self, concert: ConcertId) -> Result<QueuePolicy, QueueError> {
        Ok(match self.existing(concert) {
            Some(room) => lock(&room).policy(&self.settings),
            None => self.settings.default_policy,
        })
    }

    async fn set_policy(&self, concert: ConcertId, policy: QueuePolicy) -> Result<(), QueueError> {
        let room = self.room(concert);
        let mut room = lock(&room);
        if let Some(opens) = policy.sale_opens_at {
            // No frozen phase here: a due pre-queue is drawn at once.
            let phase = match &room.draw {
                None => DrawPhase::None,
                Some(draw) if draw.drawn.is_none() => DrawPhase::Pre,
                Some(_) => DrawPhase::Drawn,
            };
            match phase.opening(room.next_token > 0) {
                DrawOpening::Refuse => {
                    return Err(QueueError::Refused(
                        "sale_opens_at can only be set before anyone entered the line".into(),
                    ));
                }
                DrawOpening::Create => {
                    room.draw = Some(MemDraw {
                        seed: Seed::random(),
                        opens_ms: millis(opens),
                        drawn: None,
                    });
                }
                DrawOpening::Move => {
                    if let Some(draw) = &mut room.draw {
                        draw.opens_ms = millis(opens);
                    }
                }
                DrawOpening::Keep => {}
            }
        }
        room.policy = Some(policy);
        Ok(())
    }

    async fn stats(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<QueueStats, QueueError> {
        Ok(match self.existing(concert) {
            Some(room) => lock(&room).stats(millis(now)),
            None => QueueStats::default(),
        })
    }

    async fn concerts(&self) -> Result<Vec<ConcertId>, QueueError> {
        let map = self.concerts.read().unwrap_or_else(PoisonError::into_inner);
        let mut ids: Vec<ConcertId> = map.keys().copied().collect();
        ids.sort();
        Ok(ids)
    }

    async fn ping(&self) -> Result<(), QueueError> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use frontrow_domain::queue::TicketStatus;

    use super::*;

    #[test]
    fn positions_stay_gap_free_after_leaves_and_compaction() {
        let settings = QueueSettings::default();
        let mut room = Room::new(ConcertId(1));
        let tokens: Vec<QueueToken> = (0..20_000)
            .map(|u| room.enter(UserId(u), &settings, 0).ticket.token)
            .collect();
        for t in &tokens[..15_000] {
            assert!(room.leave(t));
        }
        for (i, t) in tokens[15_000..].iter().enumerate() {
            let ticket = room.ticket(t, &settings, 0).expect("known");
            assert_eq!(ticket.position, Some(i as u64 + 1));
        }
        let late = room.enter(UserId(-1), &settings, 0).ticket;
        assert_eq!(late.position, Some(5_001));
    }

    /// Fans who leave, idle out or whose admission ends leave no record and no user
    /// entry behind, and their tokens still answer as expired (or, leaving again, as
    /// known); a token of another incarnation stays unknown.
    #[test]
    fn the_room_keeps_only_the_fans_still_here() {
        let settings = QueueSettings::default(); // 100 a second, 600 s admissions, 60 s idle
        let mut room = Room::new(ConcertId(1));
        let tokens: Vec<QueueToken> = (0..300)
            .map(|u| room.enter(UserId(u), &settings, 0).ticket.token)
            .collect();
        for t in &tokens[..100] {
            assert!(room.leave(t));
        }
        assert_eq!((room.tokens.len(), room.users.len()), (200, 200));
        // One second on: 100 admitted; the rest keep polling.
        room.tick(&settings, 1_000, None);
        for t in &tokens[200..] {
            room.touch(t, 50_000);
        }
        // Past the idle timeout of those admitted (they need not poll), the others'
        // polls stop: every waiting fan drops out; then the admissions end.
        let report = room.tick(&settings, 111_000, None);
        assert_eq!(report.expired_waiting, 100);
        room.tick(&settings, 602_000, None);
        assert_eq!((room.tokens.len(), room.users.len()), (0, 0), "nobody left");
        for t in &tokens {
            let ticket = room.ticket(t, &settings, 602_000).expect("issued here");
            assert_eq!(ticket.status, TicketStatus::Expired, "{}", t.seq());
            assert!(room.leave(t), "a finished token is still known");
        }
        // A fan who comes back gets a new place; the room holds just them.
        let again = room.enter(UserId(7), &settings, 603_000);
        assert!(again.created);
        assert_eq!((room.tokens.len(), room.users.len()), (1, 1));
        // The next incarnation of the line does not know the first one's tokens.
        let mut next = Room::new(ConcertId(1));
        next.first_token = room.next_token;
        next.next_token = room.next_token;
        assert!(next.ticket(&tokens[0], &settings, 0).is_none());
        assert!(!next.leave(&tokens[0]));
    }
}
