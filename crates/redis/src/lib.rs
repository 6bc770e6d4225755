//! `RedisQueue`: the waiting room kept in Redis, shared by every app instance.
//!
//! Per concert, keys `<prefix>{concert:ID}:<name>` (one hash tag, so one Cluster slot):
//! `line` (zset token → entry sequence, the fair order), `seen` (zset token → last poll
//! ms), `active` (zset token → end ms), `users` (hash user → token), `tokens` (hash
//! token → user), `stats` (hash: totals, token bucket, measured rate), `policy` (hash)
//! and `seq` (the entry counter). Every multi-key step is one Lua script
//! (see `scripts`); the global set `<prefix>concerts` is written by a separate command.

mod scripts;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, AsyncConnectionConfig, RedisResult, Script};
use frontrow_domain::error::QueueError;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{
    Entered, QueuePolicy, QueueSettings, QueueStats, QueueToken, RATE_EMA_TAU_SECONDS, TickReport,
    Ticket, TicketStatus, eta_seconds,
};
use thread_local::ThreadLocal;

/// The Redis waiting room.
///
/// Connection strategy, chosen by measurement (`cargo bench -p frontrow-redis --bench
/// queue -- connection`, local redis-server 7.0.15, 2 busy cores, criterion means of two
/// runs): one `PING` round trip through a deadpool-redis checkout took 172–184 µs,
/// through a clone of one shared `MultiplexedConnection` 68–69 µs (about 2.6x faster).
/// So calls are pipelined on multiplexed connections, one per calling thread: under
/// wrk on `GET /queue/status` (release build, 2 actix workers), a single connection
/// shared by both workers gave 36k req/s, one per worker thread 50k, because a
/// connection's driver task lives on the runtime that opened it and a shared one made
/// every request of the other worker hop threads twice.
///
/// Same machine, `benches/queue.rs`: `status` p50 ≈ 97 µs with 1,000 waiting and
/// ≈ 61 µs with 1,000,000 (ZRANK is O(log n)); `enter` ≈ 125 µs either way; one tick
/// admitting 10,000 ≈ 20 ms. It is opened lazily and
/// replaced after an I/O error or a timeout, so the queue starts while Redis is down and
/// recovers by itself when it returns. Every call (connecting included) is bounded by
/// the `timeout` given to [`RedisQueue::connect`] and fails with
/// `QueueError::Unavailable` past it.
pub struct RedisQueue {
    client: redis::Client,
    config: AsyncConnectionConfig,
    timeout: Duration,
    prefix: String,
    settings: QueueSettings,
    /// One multiplexed connection per thread that calls (each actix worker is a thread
    /// with its own runtime): the connection's driver task then lives on the caller's
    /// own runtime, so no request hops to another worker's thread and back.
    slots: ThreadLocal<Slot>,
    key_cache: RwLock<HashMap<ConcertId, Arc<[String; 8]>>>,
    connects: AtomicU64,
    /// Concerts this process already added to the global set.
    registered: Mutex<HashSet<ConcertId>>,
    scripts: Scripts,
}

/// A thread's connection, opened lazily; one caller connects while the others wait.
#[derive(Default)]
struct Slot {
    conn: Mutex<Option<MultiplexedConnection>>,
    connecting: tokio::sync::Mutex<()>,
}

impl Slot {
    fn cached(&self) -> Option<MultiplexedConnection> {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, conn: Option<MultiplexedConnection>) {
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = conn;
    }
}

struct Scripts {
    enter: Script,
    status: Script,
    leave: Script,
    tick: Script,
    stats: Script,
}

/// How the shared connection stands, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStatus {
    /// Connections opened since start (1 + reconnects, once connected).
    pub connects: u64,
}

const KEY_NAMES: [&str; 8] = [
    "line", "seen", "active", "users", "tokens", "stats", "policy", "seq",
];
const LINE: usize = 0;
const SEEN: usize = 1;
const USERS: usize = 3;
const TOKENS: usize = 4;
const POLICY: usize = 6;
const SEQ: usize = 7;

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::unavailable(e.to_string())
}

fn parse<T: std::str::FromStr>(raw: &str) -> Result<T, QueueError> {
    raw.parse()
        .map_err(|_| unavailable(format!("unexpected value {raw:?} from redis")))
}

impl RedisQueue {
    /// Prepares the queue on `url` (e.g. `redis://127.0.0.1:6379`) with keys under
    /// `key_prefix`. Does not connect: the first call does, so this succeeds while Redis
    /// is down. Every later call is bounded by `timeout`.
    ///
    /// # Errors
    /// When `url` is not a valid Redis URL.
    pub fn connect(
        url: &str,
        key_prefix: &str,
        settings: QueueSettings,
        timeout: Duration,
    ) -> Result<Self, anyhow::Error> {
        let client = redis::Client::open(url)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout));
        Ok(RedisQueue {
            client,
            config,
            timeout,
            prefix: key_prefix.to_owned(),
            settings,
            slots: ThreadLocal::new(),
            key_cache: RwLock::new(HashMap::new()),
            connects: AtomicU64::new(0),
            registered: Mutex::new(HashSet::new()),
            scripts: Scripts {
                enter: Script::new(&scripts::with_ticket(scripts::ENTER)),
                status: Script::new(&scripts::with_ticket(scripts::STATUS)),
                leave: Script::new(scripts::LEAVE),
                tick: Script::new(scripts::TICK),
                stats: Script::new(scripts::STATS),
            },
        })
    }

    /// The connections' state.
    pub fn connection_status(&self) -> ConnectionStatus {
        ConnectionStatus {
            connects: self.connects.load(Ordering::Relaxed),
        }
    }

    /// `(size, available)` in the shape of a pool's status: one multiplexed connection
    /// slot per calling thread, available when its connection is open.
    pub fn pool_status(&self) -> (usize, usize) {
        let (mut size, mut open) = (0, 0);
        for slot in self.slots.iter() {
            size += 1;
            open += usize::from(slot.cached().is_some());
        }
        (size, open)
    }

    fn key(&self, concert: ConcertId, name: &str) -> String {
        format!("{}{{concert:{}}}:{name}", self.prefix, concert.0)
    }

    /// The concert's keys, built once per concert (the status path is hot).
    fn keys(&self, concert: ConcertId) -> Arc<[String; 8]> {
        if let Some(keys) = self
            .key_cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&concert)
        {
            return keys.clone();
        }
        let keys = Arc::new(KEY_NAMES.map(|name| self.key(concert, name)));
        self.key_cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(concert, keys.clone());
        keys
    }

    fn concerts_key(&self) -> String {
        format!("{}concerts", self.prefix)
    }

    async fn connection(&self, slot: &Slot) -> RedisResult<MultiplexedConnection> {
        if let Some(conn) = slot.cached() {
            return Ok(conn);
        }
        // One caller connects; the others wait for it instead of opening their own.
        let _guard = slot.connecting.lock().await;
        if let Some(conn) = slot.cached() {
            return Ok(conn);
        }
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        self.connects.fetch_add(1, Ordering::Relaxed);
        // A new connection may face a restarted, empty Redis: register concerts again.
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        slot.set(Some(conn.clone()));
        Ok(conn)
    }

    /// Runs one step on the shared connection within the timeout; a broken or silent
    /// connection is dropped so the next call opens a fresh one.
    async fn run<T, F, Fut>(&self, step: F) -> Result<T, QueueError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let slot = self.slots.get_or(Slot::default);
        let call = async {
            let conn = self.connection(slot).await?;
            step(conn).await
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                if e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_timeout()
                    || e.is_unrecoverable_error()
                {
                    slot.set(None);
                }
                tracing::warn!(error = %e, "redis queue call failed");
                Err(unavailable(e))
            }
            Err(_) => {
                slot.set(None);
                tracing::warn!(timeout = ?self.timeout, "redis queue call timed out");
                Err(unavailable(format!(
                    "redis did not answer within {:?}",
                    self.timeout
                )))
            }
        }
    }

    async fn run_script(
        &self,
        script: &Script,
        concert: ConcertId,
        args: &[String],
    ) -> Result<Vec<String>, QueueError> {
        let keys = self.keys(concert);
        self.run(|mut conn| async move {
            let mut call = script.prepare_invoke();
            for key in keys.iter() {
                call.key(key);
            }
            for arg in args {
                call.arg(arg);
            }
            call.invoke_async::<Vec<String>>(&mut conn).await
        })
        .await
    }

    /// Adds the concert to the global set once per process (a separate command: the set
    /// lives outside the concert's slot).
    async fn register(&self, concert: ConcertId) -> Result<(), QueueError> {
        let known = self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&concert);
        if known {
            return Ok(());
        }
        let key = self.concerts_key();
        self.run(|mut conn| async move {
            redis::cmd("SADD")
                .arg(&key)
                .arg(concert.0)
                .query_async::<()>(&mut conn)
                .await
        })
        .await?;
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(concert);
        Ok(())
    }

    /// Turns a ticket script's reply into a `Ticket` (and its `created` flag).
    fn ticket(&self, concert: ConcertId, reply: &[String]) -> Result<(Ticket, bool), QueueError> {
        let [state, token, user, n, created, rate, aps, paused] = reply else {
            return Err(unavailable(format!(
                "unexpected reply {reply:?} from redis"
            )));
        };
        let token = QueueToken::parse(token)
            .ok_or_else(|| unavailable(format!("malformed token {token:?} in redis")))?;
        let mut ticket = Ticket {
            token,
            concert_id: concert,
            user_id: UserId(parse(user)?),
            status: TicketStatus::Expired,
            position: None,
            eta_seconds: None,
            active_until: None,
        };
        match state.as_str() {
            "W" => {
                let position: u64 = parse(n)?;
                let mut policy = self.settings.default_policy;
                if !aps.is_empty() {
                    policy.admit_per_second = parse(aps)?;
                    policy.paused = paused == "1";
                }
                ticket.status = TicketStatus::Waiting;
                ticket.position = Some(position);
                ticket.eta_seconds = eta_seconds(position, parse(rate)?, &policy);
            }
            "A" => {
                let until: f64 = parse(n)?;
                ticket.status = TicketStatus::Active;
                ticket.active_until = Utc.timestamp_millis_opt(until as i64).single();
            }
            _ => {}
        }
        Ok((ticket, created == "1"))
    }

    /// Puts `count` synthetic fans (users `first_user..`) at the back of `concert`'s line
    /// with pipelined batches, much faster than `enter`. For benchmarks and load tests
    /// only: it bypasses the one-place-per-user check.
    ///
    /// # Errors
    /// `Unavailable` when Redis does not answer.
    #[doc(hidden)]
    pub async fn bulk_fill(
        &self,
        concert: ConcertId,
        first_user: i64,
        count: u64,
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        const BATCH: u64 = 1000;
        self.register(concert).await?;
        let keys = self.keys(concert);
        let now_ms = now.timestamp_millis();
        let last: u64 = self
            .run(|mut conn| {
                let key = keys[SEQ].clone();
                async move {
                    redis::cmd("INCRBY")
                        .arg(key)
                        .arg(count)
                        .query_async::<u64>(&mut conn)
                        .await
                }
            })
            .await?;
        let first_seq = last + 1 - count;
        let mut done = 0u64;
        while done < count {
            let mut pipe = redis::pipe();
            // ~50 batches (200 commands) per round trip.
            for _ in 0..50 {
                if done >= count {
                    break;
                }
                let n = BATCH.min(count - done);
                let mut line = redis::cmd("ZADD");
                let mut seen = redis::cmd("ZADD");
                let mut users = redis::cmd("HSET");
                let mut tokens = redis::cmd("HSET");
                line.arg(&keys[LINE]);
                seen.arg(&keys[SEEN]);
                users.arg(&keys[USERS]);
                tokens.arg(&keys[TOKENS]);
                for i in done..done + n {
                    let token = QueueToken::generate(concert);
                    let user = first_user + i as i64;
                    line.arg(first_seq + i).arg(token.as_str());
                    seen.arg(now_ms).arg(token.as_str());
                    users.arg(user).arg(token.as_str());
                    tokens.arg(token.as_str()).arg(user);
                }
                pipe.add_command(line).ignore();
                pipe.add_command(seen).ignore();
                pipe.add_command(users).ignore();
                pipe.add_command(tokens).ignore();
                done += n;
            }
            self.run(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for RedisQueue {
    #[tracing::instrument(skip_all, fields(concert = concert.0, user = user.0), err(level = "debug"))]
    async fn enter(
        &self,
        concert: ConcertId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Entered, QueueError> {
        self.register(concert).await?;
        let fresh = QueueToken::generate(concert);
        let args = [
            user.0.to_string(),
            fresh.as_str().to_owned(),
            now.timestamp_millis().to_string(),
        ];
        let reply = self.run_script(&self.scripts.enter, concert, &args).await?;
        let (ticket, created) = self.ticket(concert, &reply)?;
        Ok(Entered { ticket, created })
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn status(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<Ticket, QueueError> {
        let concert = token.concert();
        let args = [
            token.as_str().to_owned(),
            now.timestamp_millis().to_string(),
        ];
        let reply = self
            .run_script(&self.scripts.status, concert, &args)
            .await?;
        if reply.first().is_some_and(|s| s == "U") {
            return Err(QueueError::UnknownToken);
        }
        Ok(self.ticket(concert, &reply)?.0)
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn leave(&self, token: &QueueToken, _now: DateTime<Utc>) -> Result<(), QueueError> {
        let keys = self.keys(token.concert());
        let script = &self.scripts.leave;
        let known: i64 = self
            .run(|mut conn| async move {
                let mut call = script.prepare_invoke();
                for key in keys.iter() {
                    call.key(key);
                }
                call.arg(token.as_str())
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await?;
        if known == 1 {
            Ok(())
        } else {
            Err(QueueError::UnknownToken)
        }
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn tick(&self, concert: ConcertId, now: DateTime<Utc>) -> Result<TickReport, QueueError> {
        let d = self.settings.default_policy;
        let args = [
            now.timestamp_millis().to_string(),
            (self.settings.idle_timeout_seconds.saturating_mul(1000)).to_string(),
            self.settings.max_expire_per_tick.to_string(),
            RATE_EMA_TAU_SECONDS.to_string(),
            d.max_active.to_string(),
            d.admit_per_second.to_string(),
            d.active_ttl_seconds.to_string(),
            u8::from(d.paused).to_string(),
        ];
        let keys = self.keys(concert);
        let script = &self.scripts.tick;
        let reply: Vec<u64> = self
            .run(|mut conn| async move {
                let mut call = script.prepare_invoke();
                for key in keys.iter() {
                    call.key(key);
                }
                for arg in &args {
                    call.arg(arg);
                }
                call.invoke_async::<Vec<u64>>(&mut conn).await
            })
            .await?;
        let [admitted, expired_waiting, expired_active] = reply[..] else {
            return Err(unavailable(format!("unexpected tick reply {reply:?}")));
        };
        Ok(TickReport {
            admitted,
            expired_waiting,
            expired_active,
        })
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn policy(&self, concert: ConcertId) -> Result<QueuePolicy, QueueError> {
        let key = self.key(concert, KEY_NAMES[POLICY]);
        let raw: Vec<Option<String>> = self
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(key)
                    .arg("max_active")
                    .arg("admit_per_second")
                    .arg("active_ttl_seconds")
                    .arg("paused")
                    .query_async::<Vec<Option<String>>>(&mut conn)
                    .await
            })
            .await?;
        match &raw[..] {
            [Some(max), Some(aps), Some(ttl), paused] => Ok(QueuePolicy {
                max_active: parse(max)?,
                admit_per_second: parse(aps)?,
                active_ttl_seconds: parse(ttl)?,
                paused: paused.as_deref() == Some("1"),
            }),
            _ => Ok(self.settings.default_policy),
        }
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn set_policy(&self, concert: ConcertId, policy: QueuePolicy) -> Result<(), QueueError> {
        let key = self.key(concert, KEY_NAMES[POLICY]);
        self.run(|mut conn| async move {
            redis::cmd("HSET")
                .arg(key)
                .arg("max_active")
                .arg(policy.max_active)
                .arg("admit_per_second")
                .arg(policy.admit_per_second)
                .arg("active_ttl_seconds")
                .arg(policy.active_ttl_seconds)
                .arg("paused")
                .arg(u8::from(policy.paused))
                .query_async::<()>(&mut conn)
                .await
        })
        .await?;
        self.register(concert).await
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn stats(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<QueueStats, QueueError> {
        let args = [now.timestamp_millis().to_string()];
        let reply = self.run_script(&self.scripts.stats, concert, &args).await?;
        let [waiting, active, admitted, expired, rate] = &reply[..] else {
            return Err(unavailable(format!("unexpected stats reply {reply:?}")));
        };
        Ok(QueueStats {
            waiting: parse(waiting)?,
            active: parse(active)?,
            admitted_total: parse(admitted)?,
            expired_total: parse(expired)?,
            admit_rate: parse(rate)?,
        })
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn concerts(&self) -> Result<Vec<ConcertId>, QueueError> {
        let key = self.concerts_key();
        let ids: Vec<i64> = self
            .run(|mut conn| async move {
                redis::cmd("SMEMBERS")
                    .arg(key)
                    .query_async::<Vec<i64>>(&mut conn)
                    .await
            })
            .await?;
        let mut ids: Vec<ConcertId> = ids.into_iter().map(ConcertId).collect();
        ids.sort();
        Ok(ids)
    }

    async fn ping(&self) -> Result<(), QueueError> {
        self.run(|mut conn| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map(|_| ())
        })
        .await
    }
}
