//! `MemoryQueue`: the waiting room kept in this process, for a single node (used when no
//! Redis is configured). Same contract as the Redis adapter: one line per concert in
//! entry order, a bounded active set, a token bucket, idle and TTL expiry.
//!
//! Each concert has its own mutex, never held across an `.await` (no method awaits).
//! Positions come from a Fenwick tree over entry sequence numbers, so a lookup is
//! O(log n) however long the line is.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::error::QueueError;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{
    Entered, QueuePolicy, QueueSettings, QueueStats, QueueToken, TickReport, Ticket, TicketStatus,
    eta_seconds, update_rate_ema,
};

use frontrow_domain::fenwick::Fenwick;

/// The in-process waiting rooms of every concert.
pub struct MemoryQueue {
    settings: QueueSettings,
    concerts: RwLock<HashMap<ConcertId, Arc<Mutex<Room>>>>,
}

impl MemoryQueue {
    pub fn new(settings: QueueSettings) -> Self {
        MemoryQueue {
            settings,
            concerts: RwLock::new(HashMap::new()),
        }
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
        let mut map = self
            .concerts
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(concert)
            .or_insert_with(|| Arc::new(Mutex::new(Room::new(concert))))
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
    Waiting { seq: u64, seen_ms: i64 },
    Active { until_ms: i64 },
    Done,
}

#[derive(Debug)]
struct Record {
    user: UserId,
    state: State,
}

/// One concert's waiting room.
struct Room {
    concert: ConcertId,
    policy: Option<QueuePolicy>,
    next_seq: u64,
    /// The line: entry sequence → token, head first.
    line: BTreeMap<u64, QueueToken>,
    /// 1 per waiting sequence number, indexed by `seq - base`.
    ranks: Fenwick,
    base: u64,
    /// Last poll of every waiting token, oldest first (for idle expiry).
    seen: BTreeSet<(i64, u64)>,
    /// Active tokens by expiry.
    active: BTreeSet<(i64, QueueToken)>,
    tokens: HashMap<QueueToken, Record>,
    users: HashMap<UserId, QueueToken>,
    /// Token bucket in thousandths of an admission, so refills are exact integers.
    bucket_milli: Option<u64>,
    bucket_ms: i64,
    rate: f64,
    rate_ms: Option<i64>,
    admitted_total: u64,
    expired_total: u64,
}

impl Room {
    fn new(concert: ConcertId) -> Self {
        Room {
            concert,
            policy: None,
            next_seq: 0,
            line: BTreeMap::new(),
            ranks: Fenwick::default(),
            base: 0,
            seen: BTreeSet::new(),
            active: BTreeSet::new(),
            tokens: HashMap::new(),
            users: HashMap::new(),
            bucket_milli: None,
            bucket_ms: 0,
            rate: 0.0,
            rate_ms: None,
            admitted_total: 0,
            expired_total: 0,
        }
    }

    fn policy(&self, settings: &QueueSettings) -> QueuePolicy {
        self.policy.unwrap_or(settings.default_policy)
    }

    fn position(&self, seq: u64) -> u64 {
        self.ranks.prefix((seq - self.base) as usize)
    }

    fn push_line(&mut self, token: QueueToken, now_ms: i64) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        let index = (seq - self.base) as usize;
        while self.ranks.len() + 1 < index {
            self.ranks.push(0);
        }
        self.ranks.push(1);
        self.line.insert(seq, token);
        self.seen.insert((now_ms, seq));
        seq
    }

    /// Takes `seq` out of the line (the caller updates the token's record).
    fn remove_line(&mut self, seq: u64, seen_ms: i64) -> Option<QueueToken> {
        let token = self.line.remove(&seq)?;
        self.seen.remove(&(seen_ms, seq));
        self.ranks.add((seq - self.base) as usize, -1);
        self.compact();
        Some(token)
    }

    /// Keeps the Fenwick tree proportional to the line: restarts it when the line
    /// empties, rebuilds it when most of it covers people who already left.
    fn compact(&mut self) {
        match self.line.first_key_value() {
            None => {
                self.ranks = Fenwick::default();
                self.base = self.next_seq;
            }
            Some((&head, _)) => {
                let dead = (head - self.base - 1) as usize;
                if dead > 4096 && dead > self.ranks.len() / 2 {
                    let base = head - 1;
                    let mut ranks = Fenwick::default();
                    let mut expect = base + 1;
                    for &seq in self.line.keys() {
                        while expect < seq {
                            ranks.push(0);
                            expect += 1;
                        }
                        ranks.push(1);
                        expect += 1;
                    }
                    self.ranks = ranks;
                    self.base = base;
                }
            }
        }
    }

    fn expire_active_token(&mut self, token: &QueueToken, until_ms: i64) {
        self.active.remove(&(until_ms, token.clone()));
        if let Some(rec) = self.tokens.get_mut(token) {
            rec.state = State::Done;
        }
    }

    fn ticket(&self, token: &QueueToken, settings: &QueueSettings, now_ms: i64) -> Option<Ticket> {
        let rec = self.tokens.get(token)?;
        let mut ticket = Ticket {
            token: token.clone(),
            concert_id: self.concert,
            user_id: rec.user,
            status: TicketStatus::Expired,
            position: None,
            eta_seconds: None,
            active_until: None,
        };
        match rec.state {
            State::Waiting { seq, .. } => {
                let position = self.position(seq);
                ticket.status = TicketStatus::Waiting;
                ticket.position = Some(position);
                ticket.eta_seconds = eta_seconds(position, self.rate, &self.policy(settings));
            }
            State::Active { until_ms } if until_ms > now_ms => {
                ticket.status = TicketStatus::Active;
                ticket.active_until = from_millis(until_ms);
            }
            State::Active { .. } | State::Done => {}
        }
        Some(ticket)
    }

    /// Marks a waiting token as polled now.
    fn touch(&mut self, token: &QueueToken, now_ms: i64) {
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

    fn enter(&mut self, user: UserId, settings: &QueueSettings, now_ms: i64) -> Entered {
        if let Some(token) = self.users.get(&user).cloned() {
            let state = self.tokens.get(&token).map(|r| r.state);
            match state {
                Some(State::Waiting { .. }) => {
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
                Some(State::Done) | None => {}
            }
        }
        let token = QueueToken::issue(&settings.token_key, self.concert, self.next_seq + 1, user);
        let seq = self.push_line(token.clone(), now_ms);
        self.tokens.insert(
            token.clone(),
            Record {
                user,
                state: State::Waiting {
                    seq,
                    seen_ms: now_ms,
                },
            },
        );
        self.users.insert(user, token.clone());
        let position = self.line.len() as u64;
        Entered {
            ticket: Ticket {
                token,
                concert_id: self.concert,
                user_id: user,
                status: TicketStatus::Waiting,
                position: Some(position),
                eta_seconds: eta_seconds(position, self.rate, &self.policy(settings)),
                active_until: None,
            },
            created: true,
        }
    }

    fn leave(&mut self, token: &QueueToken) -> bool {
        let Some(state) = self.tokens.get(token).map(|r| r.state) else {
            return false;
        };
        match state {
            State::Waiting { seq, seen_ms } => {
                self.remove_line(seq, seen_ms);
            }
            State::Active { until_ms } => {
                self.active.remove(&(until_ms, token.clone()));
            }
            State::Done => {}
        }
        if let Some(rec) = self.tokens.get_mut(token) {
            rec.state = State::Done;
        }
        true
    }

    fn tick(&mut self, settings: &QueueSettings, now_ms: i64) -> TickReport {
        let mut report = TickReport::default();

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
            if let Some(token) = self.remove_line(seq, seen_ms)
                && let Some(rec) = self.tokens.get_mut(&token)
            {
                rec.state = State::Done;
            }
            report.expired_waiting += 1;
        }
        self.expired_total += report.expired_active + report.expired_waiting;

        // 3. Admission through the token bucket (one second of burst).
        let policy = self.policy(settings);
        let capacity = policy.admit_per_second.saturating_mul(1000);
        let mut bucket = match self.bucket_milli {
            None => capacity,
            Some(b) => {
                let elapsed = (now_ms - self.bucket_ms).clamp(0, 1000) as u64;
                b.saturating_add(elapsed * policy.admit_per_second)
                    .min(capacity)
            }
        };
        self.bucket_ms = self.bucket_ms.max(now_ms);
        let waiting_before = self.line.len() as u64;
        if !policy.paused {
            let active = self.active.len() as u64;
            let room = policy.max_active.saturating_sub(active);
            let n = (bucket / 1000).min(room).min(waiting_before);
            let until_ms = now_ms.saturating_add(
                i64::try_from(policy.active_ttl_seconds.saturating_mul(1000)).unwrap_or(i64::MAX),
            );
            for _ in 0..n {
                let Some((&seq, _)) = self.line.first_key_value() else {
                    break;
                };
                let seen_ms = match self.tokens.get(&self.line[&seq]).map(|r| r.state) {
                    Some(State::Waiting { seen_ms, .. }) => seen_ms,
                    _ => now_ms,
                };
                if let Some(token) = self.remove_line(seq, seen_ms) {
                    self.active.insert((until_ms, token.clone()));
                    if let Some(rec) = self.tokens.get_mut(&token) {
                        rec.state = State::Active { until_ms };
                    }
                    report.admitted += 1;
                }
            }
            bucket -= report.admitted * 1000;
            self.admitted_total += report.admitted;
        }
        self.bucket_milli = Some(bucket);

        // The measured rate only moves while fans wait (an empty line says nothing).
        match self.rate_ms {
            Some(last) if waiting_before > 0 => {
                if now_ms > last {
                    let elapsed = (now_ms - last) as f64 / 1000.0;
                    self.rate = update_rate_ema(self.rate, report.admitted, elapsed);
                    self.rate_ms = Some(now_ms);
                }
            }
            _ => self.rate_ms = Some(self.rate_ms.map_or(now_ms, |l| l.max(now_ms))),
        }
        report
    }

    fn stats(&self, now_ms: i64) -> QueueStats {
        let ran_out = self
            .active
            .iter()
            .take_while(|(until, _)| *until <= now_ms)
            .count();
        QueueStats {
            waiting: self.line.len() as u64,
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
        let room = self.room(concert);
        let mut room = lock(&room);
        Ok(room.enter(user, &self.settings, millis(now)))
    }

    async fn status(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<Ticket, QueueError> {
        self.verify(token)?;
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
        let room = self
            .existing(token.concert())
            .ok_or(QueueError::UnknownToken)?;
        let room = lock(&room);
        room.ticket(token, &self.settings, millis(now))
            .ok_or(QueueError::UnknownToken)
    }

    async fn leave(&self, token: &QueueToken, _now: DateTime<Utc>) -> Result<(), QueueError> {
        self.verify(token)?;
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

    async fn tick(&self, concert: ConcertId, now: DateTime<Utc>) -> Result<TickReport, QueueError> {
        let room = self.room(concert);
        let mut room = lock(&room);
        Ok(room.tick(&self.settings, millis(now)))
    }

    async fn policy(&self, concert: ConcertId) -> Result<QueuePolicy, QueueError> {
        Ok(match self.existing(concert) {
            Some(room) => lock(&room).policy(&self.settings),
            None => self.settings.default_policy,
        })
    }

    async fn set_policy(&self, concert: ConcertId, policy: QueuePolicy) -> Result<(), QueueError> {
        let room = self.room(concert);
        lock(&room).policy = Some(policy);
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
}
