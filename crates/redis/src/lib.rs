//! `RedisQueue`: the waiting room kept in Redis, shared by every app instance.
//!
//! The line is a sequence: entering takes the next place number, and the queue token is
//! signed and names its concert, place and user, so no token → fan lookup is stored.
//! Admission moves a head past the next N live places (gone places are holes) and
//! records one batch with one end time, O(log n) whatever N. Redis (one Lua script per
//! step, see `scripts`) thus does O(1)/O(log n) work per fan *lifetime*: enter, admit,
//! leave, drop.
//!
//! Status polls, the heartbeat every waiting fan sends, never reach Redis. Each instance
//! keeps a view (module `view`) of each concert's line, fed by the concert's event stream (gone
//! places and admission batches), and answers a status from it with the exact position
//! as of its last read. Heartbeats are gathered in memory and flushed once a second as
//! one plain `BITFIELD SET` per 1,000 places (the last heartbeat of each place is a u32
//! in a bitfield, 4 bytes a fan); in background mode an instance resends a place's
//! heartbeat at most once per half idle timeout, and the idle rule allows for that. A
//! tick checks the places an instance believes idle against the stored heartbeats.
//!
//! Two ways to keep the view current, chosen at construction:
//! - **inline** (the default, what the contract suite runs): every status reads the new
//!   events first, one small script call; answers are as fresh as Redis itself.
//! - **background** ([`RedisQueue::with_background_sync`], what the app runs): a task
//!   reads new events every `interval`; a status is answered from memory, and an
//!   instance whose last complete read is older than `max_lag` answers `Unavailable`
//!   (503 + Retry-After) rather than a stale position.
//!
//! Keys per concert: `<prefix>{concert:ID}:<name>` (one hash tag, so one Cluster slot);
//! the users hash is split in `USER_BUCKETS` small hashes (`users:<n>`) that Redis
//! stores compactly. The global set `<prefix>concerts` lists concerts with a line.
//!
//! On Redis Cluster ([`RedisQueue::connect_cluster`]) every script therefore runs on the
//! one shard that owns its concert's slot; the global set lives in a slot of its own and
//! is only read and written with single-key commands (`SADD`, `SMEMBERS`), never from a
//! script. The cluster client follows `MOVED` and `ASK`, so a slot that migrates in the
//! middle of a sale keeps answering, and refreshes its slot map after a failover.

mod limits;
mod scripts;
mod view;

pub use limits::LimitDecision;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster::ClusterClient;
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Cmd, FromRedisValue, Pipeline, RedisFuture, RedisResult, Script,
    Value,
};
use frontrow_domain::draw::{Draw, Seed, for_chunks, receipt_digest};
use frontrow_domain::error::QueueError;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{
    AdmissionCap, DEFAULT_ADMIT_PER_SEAT, Entered, Inventory, QueuePolicy, QueueSettings,
    QueueStats, QueueToken, RATE_EMA_TAU_SECONDS, TickReport, Ticket, TicketStatus, TokenKey,
    TokenSigner, eta_range, eta_seconds,
};
use thread_local::ThreadLocal;
use tokio::task::JoinHandle;

use scripts::Scripts;
use view::{Event, Standing, View, parse_event};

/// How many small hashes hold a concert's user → place map. Below Redis's
/// `hash-max-listpack-entries` (128) per hash up to ~4 million fans, a listpack entry
/// costs ~10 bytes where a hashtable entry costs ~75.
pub const USER_BUCKETS: i64 = 32_768;

/// A background view read this recently answers without further ado (below the
/// shortest advised poll, `MIN_POLL_MS` = 500 ms; see `ready_view`).
const FRESH: Duration = Duration::from_millis(400);

/// A token that does not verify triggers a fresh read of the line at most this often.
const RECHECK: Duration = Duration::from_millis(50);

/// Events read per script call while catching up.
const SYNC_BATCH: usize = 10_000;
/// Heartbeats per flush call.
const BEAT_BATCH: usize = 1_000;
/// Places read per GETRANGE while looking for idle fans (4 bytes each).
const SCAN_BATCH: u64 = 1 << 20;

/// The Redis waiting room.
///
/// Connection strategy, chosen by measurement (`cargo bench -p frontrow-redis --bench
/// queue -- connection`): calls are pipelined on multiplexed connections, one per
/// calling thread (each actix worker is a thread with its own runtime), so a
/// connection's driver task lives on its caller's runtime and no request hops threads.
/// Connections open lazily and are replaced after an I/O error or a timeout, so the
/// queue starts while Redis is down and recovers by itself when it returns. Every call
/// (connecting included) is bounded by the `timeout` given to [`RedisQueue::connect`]
/// and fails with `QueueError::Unavailable` past it. On a Cluster each thread holds one
/// cluster connection instead (itself one multiplexed connection per node).
pub struct RedisQueue {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

struct Inner {
    client: Client,
    timeout: Duration,
    prefix: String,
    settings: QueueSettings,
    /// One multiplexed connection per thread that calls.
    slots: ThreadLocal<Slot>,
    connects: AtomicU64,
    /// Concerts this process already added to the global set.
    registered: Mutex<HashSet<ConcertId>>,
    scripts: Scripts,
    concerts: RwLock<HashMap<ConcertId, Arc<Line>>>,
    /// The same lines as `concerts`, per calling thread: a poll finds its line without
    /// touching the shared lock (lines are never dropped, so the copies stay right).
    lines_here: ThreadLocal<RefCell<HashMap<ConcertId, Arc<Line>>>>,
    /// `None`: inline sync; else the largest lag a status may be answered with.
    max_lag: Option<Duration>,
    /// A place's heartbeat is not resent within this many ms (0: every one is sent).
    refresh_ms: u64,
}

/// One concert as this instance knows it.
struct Line {
    /// The concert's keys in the scripts' KEYS order (the user bucket comes last).
    keys: [String; 13],
    users_prefix: String,
    view: RwLock<View>,
    /// Heartbeats not yet flushed: place → latest ms, one map per calling thread so the
    /// workers answering polls never wait for each other (the flush drains them all).
    beats: ThreadLocal<Mutex<HashMap<u64, i64>>>,
    /// The heartbeat this instance last sent per waiting place.
    flushed: Mutex<HashMap<u64, i64>>,
    /// Places found quiet by the last scan of the heartbeats, and when it ran.
    idle: Mutex<IdleScan>,
    /// The line's token signer and the epoch it is for, kept per calling thread so that
    /// checking a poll's token neither derives the key again nor touches a shared lock.
    signers: ThreadLocal<RefCell<Option<(u64, TokenSigner)>>>,
    /// One stream read at a time.
    syncing: tokio::sync::Mutex<()>,
    /// The drawn fans' receipts (SHA-256 of their tokens) in drawn order, computed once
    /// per instance when first asked for (the draw never changes).
    receipts: tokio::sync::Mutex<Option<Arc<Vec<[u8; 32]>>>>,
}

#[derive(Default)]
struct IdleScan {
    scanned_at_ms: Option<i64>,
    /// (place, heartbeat ms mod 2^32) in place order.
    candidates: Vec<(u64, u32)>,
}

/// How the queue reaches Redis: one server, or a Cluster through its seed nodes.
enum Client {
    Single {
        client: redis::Client,
        config: AsyncConnectionConfig,
    },
    Cluster {
        client: ClusterClient,
        /// The seed nodes, for the mode check (see `Inner::check_mode`).
        seeds: Vec<String>,
    },
}

/// One open connection of either kind; cheap to clone (a handle on a driver task).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// What `/readyz` says when the server's mode is not the one configured; it names the
/// setting to change.
const SINGLE_ON_CLUSTER: &str = "the Redis at redis.url is a Cluster node but redis.cluster \
    is false: set FRONTROW__REDIS__CLUSTER=true and list the cluster's nodes, \
    comma-separated, in FRONTROW__REDIS__URL";
const CLUSTER_ON_SINGLE: &str = "redis.cluster is true but the Redis at redis.url has \
    cluster support disabled: set FRONTROW__REDIS__CLUSTER=false (or point \
    FRONTROW__REDIS__URL at the nodes of a Redis Cluster)";

/// A thread's connection, opened lazily; one caller connects while the others wait.
#[derive(Default)]
struct Slot {
    conn: Mutex<Option<Conn>>,
    connecting: tokio::sync::Mutex<()>,
}

impl Slot {
    fn cached(&self) -> Option<Conn> {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, conn: Option<Conn>) {
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = conn;
    }
}

/// How the connections stand, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStatus {
    /// Connections opened since start (1 + reconnects, once connected).
    pub connects: u64,
}

const KEY_NAMES: [&str; 13] = [
    "seq", "head", "gone", "batches", "ends", "left", "seen", "stats", "policy", "events", "draw",
    "perm", "entrants",
];
const SEQ: usize = 0;
const DRAW: usize = 10;
const PERM: usize = 11;
const ENTRANTS: usize = 12;
/// How long one instance's claim on the draw lasts before another may take it over.
const DRAW_CLAIM_MS: u64 = 60_000;
const SEEN: usize = 6;
const STATS: usize = 7;
const POLICY: usize = 8;

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::unavailable(e.to_string())
}

fn parse<T: std::str::FromStr>(raw: &str) -> Result<T, QueueError> {
    raw.parse()
        .map_err(|_| unavailable(format!("unexpected value {raw:?} from redis")))
}

/// The ticket of `token` with nothing known yet: expired, no position, no end.
fn expired_ticket(token: &QueueToken) -> Ticket {
    Ticket::expired(token)
}

/// Big-endian u32s (as `BITFIELD u32` stores them) from a Redis string.
fn be_u32s(bytes: &[u8], count: usize) -> Vec<u32> {
    let mut out: Vec<u32> = bytes
        .chunks(4)
        .take(count)
        .map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            u32::from_be_bytes(b)
        })
        .collect();
    out.resize(count, 0);
    out
}

/// Whether an `INFO cluster` answer comes from a Cluster node.
fn cluster_enabled(info: &str) -> bool {
    info.lines().any(|l| l.trim() == "cluster_enabled:1")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Notes a waiting (or pre-queued) fan's heartbeat, flushed to Redis in batches.
fn beat(line: &Line, ticket: &Ticket, place: u64, now_ms: i64) {
    if matches!(
        ticket.status,
        TicketStatus::Waiting | TicketStatus::PreQueue
    ) {
        let mut beats = lock(line.beats.get_or_default());
        let beat = beats.entry(place).or_insert(now_ms);
        *beat = (*beat).max(now_ms);
    }
}

fn read<T>(v: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    v.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(v: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    v.write().unwrap_or_else(PoisonError::into_inner)
}

impl RedisQueue {
    /// Prepares the queue on `url` (e.g. `redis://127.0.0.1:6379`) with keys under
    /// `key_prefix`, in inline mode. Does not connect: the first call does, so this
    /// succeeds while Redis is down. Every later call is bounded by `timeout`.
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
        Ok(Self::with_client(
            Client::Single { client, config },
            key_prefix,
            settings,
            timeout,
        ))
    }

    /// Prepares the queue on a Redis Cluster reached through `seeds` (one or more node
    /// URLs; the rest of the cluster is learnt from them), otherwise as
    /// [`RedisQueue::connect`]. Every call, redirections and retries included, is bounded
    /// by `timeout`.
    ///
    /// # Errors
    /// When a seed is not a valid Redis URL, or there is none.
    pub fn connect_cluster(
        seeds: &[String],
        key_prefix: &str,
        settings: QueueSettings,
        timeout: Duration,
    ) -> Result<Self, anyhow::Error> {
        anyhow::ensure!(!seeds.is_empty(), "no Redis Cluster seed node given");
        let client = ClusterClient::builder(seeds.to_vec())
            .connection_timeout(timeout)
            .response_timeout(timeout)
            // Short waits between retries: a call is bounded by `timeout` anyway, and
            // after a failover the next call should find the promoted replica quickly.
            .min_retry_wait(10)
            .max_retry_wait(100)
            .build()?;
        Ok(Self::with_client(
            Client::Cluster {
                client,
                seeds: seeds.to_vec(),
            },
            key_prefix,
            settings,
            timeout,
        ))
    }

    fn with_client(
        client: Client,
        key_prefix: &str,
        settings: QueueSettings,
        timeout: Duration,
    ) -> Self {
        RedisQueue {
            inner: Arc::new(Inner {
                client,
                timeout,
                prefix: key_prefix.to_owned(),
                settings,
                slots: ThreadLocal::new(),
                connects: AtomicU64::new(0),
                registered: Mutex::new(HashSet::new()),
                scripts: Scripts::new(),
                concerts: RwLock::new(HashMap::new()),
                lines_here: ThreadLocal::new(),
                max_lag: None,
                refresh_ms: 0,
            }),
            tasks: Vec::new(),
        }
    }

    /// Whether this queue talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.inner.client, Client::Cluster { .. })
    }

    /// Checks that the server's mode (one node or a Cluster) is the configured one.
    ///
    /// # Errors
    /// `Unavailable` naming the setting to change when the modes differ, or when no
    /// server answers.
    pub async fn check_mode(&self) -> Result<(), QueueError> {
        self.inner.check_mode().await
    }

    /// Switches to background mode: a task reads every concert's new events each
    /// `interval` and flushes heartbeats each second; statuses are answered from memory,
    /// or `Unavailable` when the last complete read is older than `max_lag`. Must be
    /// called inside a Tokio runtime, before the queue is shared.
    #[must_use]
    pub fn with_background_sync(mut self, interval: Duration, max_lag: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.max_lag = Some(max_lag);
            // Half the idle timeout: a fan polling every 2 s sends one heartbeat to Redis
            // in 15, and idle fans leave at most that much later.
            inner.refresh_ms = inner.settings.idle_timeout_seconds.saturating_mul(500);
        }
        let weak = Arc::downgrade(&self.inner);
        self.tasks
            .push(tokio::spawn(sync_loop(weak.clone(), interval)));
        self.tasks.push(tokio::spawn(flush_loop(weak)));
        self
    }

    /// The connections' state.
    pub fn connection_status(&self) -> ConnectionStatus {
        ConnectionStatus {
            connects: self.inner.connects.load(Ordering::Relaxed),
        }
    }

    /// `(size, available)` in the shape of a pool's status: one multiplexed connection
    /// slot per calling thread, available when its connection is open.
    pub fn pool_status(&self) -> (usize, usize) {
        let (mut size, mut open) = (0, 0);
        for slot in self.inner.slots.iter() {
            size += 1;
            open += usize::from(slot.cached().is_some());
        }
        (size, open)
    }

    /// Sends this instance's pending heartbeats now (the background task does it every
    /// second).
    ///
    /// # Errors
    /// `Unavailable` when Redis does not answer; the heartbeats are kept for the next try.
    pub async fn flush_heartbeats(&self) -> Result<(), QueueError> {
        self.inner.flush_all().await
    }

    /// Puts `count` synthetic fans (users `first_user..`) at the back of `concert`'s line
    /// with pipelined batches, much faster than `enter` (into the pre-queue while the
    /// concert has one). For benchmarks and load tests only: it bypasses the
    /// one-place-per-user check.
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
        const BATCH: u64 = 10_000;
        let inner = &self.inner;
        inner.register(concert).await?;
        let line = inner.line(concert);
        let now_ms = now.timestamp_millis() as u32;
        let seq_key = line.keys[SEQ].clone();
        let last: u64 = inner
            .run(|mut conn| async move {
                redis::cmd("INCRBY")
                    .arg(seq_key)
                    .arg(count)
                    .query_async::<u64>(&mut conn)
                    .await
            })
            .await?;
        let first_seq = last + 1 - count;
        let draw_key = line.keys[DRAW].clone();
        let phase: Option<String> = inner
            .run(|mut conn| async move {
                redis::cmd("HGET")
                    .arg(draw_key)
                    .arg("state")
                    .query_async::<Option<String>>(&mut conn)
                    .await
            })
            .await?;
        let pre_queue = phase.as_deref() == Some("pre");
        let mut done = 0u64;
        while done < count {
            let n = BATCH.min(count - done);
            let mut pipe = redis::pipe();
            let mut users: HashMap<i64, redis::Cmd> = HashMap::new();
            let mut seen = redis::cmd("BITFIELD");
            seen.arg(&line.keys[SEEN]);
            for i in done..done + n {
                let user = first_user + i as i64;
                let bucket = user.rem_euclid(USER_BUCKETS);
                users
                    .entry(bucket)
                    .or_insert_with(|| {
                        let mut c = redis::cmd("HSET");
                        c.arg(format!("{}{bucket}", line.users_prefix));
                        c
                    })
                    .arg(user)
                    .arg(first_seq + i);
                seen.arg("SET")
                    .arg("u32")
                    .arg(format!("#{}", first_seq + i))
                    .arg(now_ms);
            }
            for (_, cmd) in users {
                pipe.add_command(cmd).ignore();
            }
            pipe.add_command(seen).ignore();
            if pre_queue {
                let mut entrants = redis::cmd("BITFIELD");
                entrants.arg(&line.keys[ENTRANTS]);
                for i in done..done + n {
                    entrants
                        .arg("SET")
                        .arg("i64")
                        .arg(format!("#{}", first_seq + i - 1))
                        .arg(first_user + i as i64);
                }
                pipe.add_command(entrants).ignore();
                pipe.cmd("HINCRBY")
                    .arg(&line.keys[DRAW])
                    .arg("live")
                    .arg(n)
                    .ignore();
            }
            pipe.cmd("HINCRBY")
                .arg(&line.keys[STATS])
                .arg("waiting")
                .arg(n)
                .ignore();
            inner
                .run(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
                .await?;
            done += n;
        }
        Ok(())
    }
}

impl Drop for RedisQueue {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn sync_loop(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let lines: Vec<Arc<Line>> = inner
            .concerts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let prune_before = Utc::now().timestamp_millis() - 600_000;
        for line in lines {
            if let Err(e) = inner.sync(&line).await {
                tracing::debug!(error = %e, "could not read the line's events");
            }
            write(&line.view).prune(prune_before);
        }
    }
}

async fn flush_loop(inner: Weak<Inner>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.flush_all().await {
            tracing::debug!(error = %e, "could not flush heartbeats");
        }
    }
}

impl Inner {
    fn key(&self, concert: ConcertId, name: &str) -> String {
        format!("{}{{concert:{}}}:{name}", self.prefix, concert.0)
    }

    fn concerts_key(&self) -> String {
        format!("{}concerts", self.prefix)
    }

    /// A line whose keys share the hash tag `{tag}` (not registered anywhere).
    fn new_line(&self, tag: &str) -> Line {
        let key = |name: &str| format!("{}{{{tag}}}:{name}", self.prefix);
        Line {
            keys: KEY_NAMES.map(key),
            users_prefix: key("users:"),
            view: RwLock::new(View::default()),
            beats: ThreadLocal::new(),
            flushed: Mutex::new(HashMap::new()),
            idle: Mutex::new(IdleScan::default()),
            signers: ThreadLocal::new(),
            syncing: tokio::sync::Mutex::new(()),
            receipts: tokio::sync::Mutex::new(None),
        }
    }

    /// See [`RedisQueue::check_mode`].
    async fn check_mode(&self) -> Result<(), QueueError> {
        match &self.client {
            Client::Single { .. } => {
                let info: String = self
                    .run(|mut conn| async move {
                        redis::cmd("INFO")
                            .arg("cluster")
                            .query_async::<String>(&mut conn)
                            .await
                    })
                    .await?;
                if cluster_enabled(&info) {
                    return Err(unavailable(SINGLE_ON_CLUSTER));
                }
                Ok(())
            }
            Client::Cluster { seeds, .. } => {
                // Asked of the seeds themselves: against a single node the cluster client
                // does not even connect, and its error would not say why.
                let mut last = unavailable("no seed node");
                for seed in seeds {
                    match self.seed_info(seed).await {
                        Ok(info) if cluster_enabled(&info) => return Ok(()),
                        Ok(_) => return Err(unavailable(CLUSTER_ON_SINGLE)),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }

    /// `INFO cluster` of one seed node, on a connection of its own.
    async fn seed_info(&self, seed: &str) -> Result<String, QueueError> {
        let ask = async {
            let client = redis::Client::open(seed)?;
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout));
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::cmd("INFO")
                .arg("cluster")
                .query_async::<String>(&mut conn)
                .await
        };
        match tokio::time::timeout(self.timeout, ask).await {
            Ok(Ok(info)) => Ok(info),
            Ok(Err(e)) => Err(unavailable(format!("seed {seed}: {e}"))),
            Err(_) => Err(unavailable(format!(
                "seed {seed} did not answer within {:?}",
                self.timeout
            ))),
        }
    }

    /// The concert's line as this instance knows it, made on first use.
    fn line(&self, concert: ConcertId) -> Arc<Line> {
        let here = self.lines_here.get_or_default();
        if let Some(line) = here.borrow().get(&concert) {
            return line.clone();
        }
        let line = self.shared_line(concert);
        here.borrow_mut().insert(concert, line.clone());
        line
    }

    fn shared_line(&self, concert: ConcertId) -> Arc<Line> {
        if let Some(line) = self
            .concerts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&concert)
        {
            return line.clone();
        }
        let mut map = self
            .concerts
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(concert)
            .or_insert_with(|| Arc::new(self.new_line(&format!("concert:{}", concert.0))))
            .clone()
    }

    async fn connection(&self, slot: &Slot) -> RedisResult<Conn> {
        if let Some(conn) = slot.cached() {
            return Ok(conn);
        }
        // One caller connects; the others wait for it instead of opening their own.
        let _guard = slot.connecting.lock().await;
        if let Some(conn) = slot.cached() {
            return Ok(conn);
        }
        let conn = match &self.client {
            Client::Single { client, config } => Conn::Single(
                client
                    .get_multiplexed_async_connection_with_config(config)
                    .await?,
            ),
            Client::Cluster { client, .. } => Conn::Cluster(client.get_async_connection().await?),
        };
        self.connects.fetch_add(1, Ordering::Relaxed);
        // A new connection may face a restarted, empty Redis: register concerts again.
        lock(&self.registered).clear();
        slot.set(Some(conn.clone()));
        Ok(conn)
    }

    /// Runs one step on this thread's connection within the timeout; a broken or silent
    /// connection is dropped so the next call opens a fresh one.
    async fn run<T, F, Fut>(&self, step: F) -> Result<T, QueueError>
    where
        F: FnOnce(Conn) -> Fut,
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

    /// The one way a script is called: the concert's keys (and a user's bucket of the
    /// users hash, or bucket 0), then `args`.
    async fn invoke<T: FromRedisValue>(
        &self,
        script: &Script,
        line: &Line,
        user: Option<UserId>,
        args: &[String],
    ) -> Result<T, QueueError> {
        let bucket = user.map_or(0, |u| u.0.rem_euclid(USER_BUCKETS));
        let users_key = format!("{}{bucket}", line.users_prefix);
        self.run(|mut conn| async move {
            let mut call = script.prepare_invoke();
            for key in &line.keys {
                call.key(key);
            }
            call.key(users_key);
            for arg in args {
                call.arg(arg);
            }
            call.invoke_async::<T>(&mut conn).await
        })
        .await
    }

    /// Adds the concert to the global set once per process (a separate command: the set
    /// lives outside the concert's slot).
    async fn register(&self, concert: ConcertId) -> Result<(), QueueError> {
        if lock(&self.registered).contains(&concert) {
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
        lock(&self.registered).insert(concert);
        Ok(())
    }

    /// Brings the view up to the stream's end (or reloads it from a snapshot when it is
    /// new or fell behind what the stream keeps).
    async fn sync(&self, line: &Line) -> Result<(), QueueError> {
        let _one = line.syncing.lock().await;
        let started = Instant::now();
        let fresh = read(&line.view).synced.is_none();
        if fresh {
            self.snapshot(line).await?;
        }
        loop {
            let from = format!("({}", read(&line.view).last_id);
            let args = [from, SYNC_BATCH.to_string()];
            let reply: Vec<String> = self.invoke(&self.scripts.sync, line, None, &args).await?;
            let [
                seq,
                head,
                evn,
                rate,
                aps,
                paused,
                epoch,
                var,
                inv,
                dstate,
                dk,
                dopens,
                events @ ..,
            ] = &reply[..]
            else {
                return Err(unavailable(format!("unexpected sync reply {reply:?}")));
            };
            self.follow_draw(line, dstate, parse(dk)?, parse(dopens)?)
                .await?;
            let (seq, head): (u64, u64) = (parse(seq)?, parse(head)?);
            let (evn, epoch): (u64, u64) = (parse(evn)?, parse(epoch)?);
            let mut parsed = Vec::with_capacity(events.len() / 2);
            for pair in events.chunks(2) {
                let [id, raw] = pair else {
                    return Err(unavailable("odd event list from redis"));
                };
                let (n, event) = parse_event(raw)
                    .ok_or_else(|| unavailable(format!("malformed event {raw:?}")))?;
                parsed.push((id, n, event));
            }
            let gap = {
                let mut v = write(&line.view);
                v.rate = parse(rate)?;
                v.rate_sd = parse::<f64>(var)?.max(0.0).sqrt();
                if let Some(i) = Inventory::from_code(inv) {
                    v.inventory = Some(i);
                }
                v.admit_per_second = if aps.is_empty() {
                    None
                } else {
                    Some(parse(aps)?)
                };
                v.paused = paused == "1";
                // Another incarnation of the line (Redis lost its data and fans entered
                // again), or fewer events or places than this view saw: start over.
                let mut gap = epoch != v.epoch || evn < v.evn || seq < v.seq_max();
                if !gap {
                    for (id, n, event) in &parsed {
                        if *n <= v.evn {
                            continue;
                        }
                        if *n != v.evn + 1 {
                            gap = true;
                            break;
                        }
                        v.apply(*event);
                        v.evn = *n;
                        v.last_id.clone_from(id);
                    }
                }
                if !gap {
                    v.extend(seq);
                    if head > v.head() && parsed.len() < SYNC_BATCH {
                        // The head moved without an event we kept: reload.
                        gap = true;
                    }
                }
                gap
            };
            if gap {
                self.snapshot(line).await?;
                break;
            }
            if parsed.len() < SYNC_BATCH {
                break;
            }
        }
        write(&line.view).synced = Some(started);
        Ok(())
    }

    /// Rebuilds the view from the concert's state.
    async fn snapshot(&self, line: &Line) -> Result<(), QueueError> {
        let reply: Vec<String> = self.invoke(&self.scripts.snapshot, line, None, &[]).await?;
        let [
            seq,
            head,
            evn,
            epoch,
            last_id,
            dstate,
            dk,
            dopens,
            inv,
            batches,
            rest @ ..,
        ] = &reply[..]
        else {
            return Err(unavailable(format!("unexpected snapshot reply {reply:?}")));
        };
        let batches: usize = parse(batches)?;
        if rest.len() < batches * 3 {
            return Err(unavailable("short snapshot reply"));
        }
        let (batch_part, gone_part) = rest.split_at(batches * 3);
        let mut fresh = View::default();
        fresh.extend(parse(seq)?);
        let (k, opens): (u64, i64) = (parse(dk)?, parse(dopens)?);
        let perm = if dstate == "drawn" {
            Some(self.load_perm(line, k).await?)
        } else {
            None
        };
        fresh.set_phase(dstate, k, opens, perm);
        fresh.inventory = Inventory::from_code(inv);
        for b in batch_part.chunks(3) {
            if let [first, last, until] = b {
                fresh.apply(Event::Admitted {
                    first: parse(first)?,
                    last: parse(last)?,
                    until_ms: parse::<f64>(until)? as i64,
                });
            }
        }
        let head: u64 = parse(head)?;
        // The head also covers batches that ended and were trimmed.
        if head > fresh.head() {
            fresh.apply(Event::Admitted {
                first: head,
                last: head,
                until_ms: i64::MIN,
            });
        }
        for place in gone_part {
            fresh.apply(Event::Gone(parse(place)?));
        }
        fresh.evn = parse(evn)?;
        fresh.epoch = parse(epoch)?;
        fresh.last_id.clone_from(last_id);
        let mut v = write(&line.view);
        fresh.rate = v.rate;
        fresh.rate_sd = v.rate_sd;
        fresh.admit_per_second = v.admit_per_second;
        fresh.paused = v.paused;
        fresh.synced = v.synced;
        *v = fresh;
        Ok(())
    }

    /// Makes sure the view may answer now. Inline mode reads the new events. Background
    /// mode answers from a view read within `FRESH`; an older one (the reading task fell
    /// behind) is brought up to date first, and when that fails the view may still answer
    /// until it is `max_lag` old, then the call is refused.
    ///
    /// Why `FRESH` is below the shortest advised poll: two polls of one fan at least
    /// `MIN_POLL_MS` apart, even through two instances, are then answered from views
    /// read in that order, so the position told never goes up.
    async fn ready_view(&self, line: &Line) -> Result<(), QueueError> {
        let synced = read(&line.view).synced;
        let (Some(max), Some(at)) = (self.max_lag, synced) else {
            return self.sync(line).await;
        };
        if at.elapsed() <= FRESH {
            return Ok(());
        }
        let asked = Instant::now();
        match self.sync_unless_newer(line, asked).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let lag = at.elapsed();
                if lag > max {
                    return Err(unavailable(format!(
                        "this instance's view of the line is {} ms behind redis: {e}",
                        lag.as_millis()
                    )));
                }
                Ok(())
            }
        }
    }

    /// Reads the new events unless a read that started after `asked` already finished
    /// (many callers finding the view stale at once make one read, not one each).
    async fn sync_unless_newer(&self, line: &Line, asked: Instant) -> Result<(), QueueError> {
        {
            let _wait = line.syncing.lock().await;
            if read(&line.view).synced.is_some_and(|at| at >= asked) {
                return Ok(());
            }
        }
        self.sync(line).await
    }

    /// The ticket for `token` from the view.
    fn ticket(&self, line: &Line, token: &QueueToken, now_ms: i64) -> Ticket {
        self.ticket_in(&read(&line.view), token, now_ms)
    }

    /// The ticket for `token` from a view already read-locked.
    fn ticket_in(&self, v: &View, token: &QueueToken, now_ms: i64) -> Ticket {
        let mut ticket = expired_ticket(token);
        match v.standing(token.seq(), now_ms) {
            Standing::PreQueue => {
                ticket.status = TicketStatus::PreQueue;
                ticket.opens_at = v
                    .phase()
                    .opens_ms()
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
            }
            Standing::Waiting { position } => {
                let policy = self.policy_with(v.admit_per_second.map(|aps| (aps, v.paused)));
                ticket.status = TicketStatus::Waiting;
                ticket.position = Some(position);
                ticket.eta_seconds = eta_seconds(position, v.rate, &policy);
                ticket.eta_range = eta_range(position, v.rate, v.rate_sd, &policy);
            }
            Standing::Active { until_ms } => {
                ticket.status = TicketStatus::Active;
                ticket.active_until = Utc.timestamp_millis_opt(until_ms).single();
            }
            Standing::Expired => {}
        }
        ticket.with_inventory(v.inventory)
    }

    /// Follows the draw's state as `sync` read it: a drawn line's permutation is read
    /// once, before any event of the drawn line is applied.
    async fn follow_draw(
        &self,
        line: &Line,
        state: &str,
        k: u64,
        opens_ms: i64,
    ) -> Result<(), QueueError> {
        let known = read(&line.view).phase().name();
        if state == known
            && !(state == "pre" && read(&line.view).phase().opens_ms() != Some(opens_ms))
        {
            return Ok(());
        }
        let perm = if state == "drawn" {
            Some(self.load_perm(line, k).await?)
        } else {
            None
        };
        write(&line.view).set_phase(state, k, opens_ms, perm);
        Ok(())
    }

    /// The bytes of a string key (empty when it is missing).
    async fn get_bytes(&self, key: String) -> Result<Vec<u8>, QueueError> {
        self.run(|mut conn| async move {
            redis::cmd("GET")
                .arg(key)
                .query_async::<Option<Vec<u8>>>(&mut conn)
                .await
                .map(Option::unwrap_or_default)
        })
        .await
    }

    /// The stored draw: the place of each pre-queued number 1..=k.
    async fn load_perm(&self, line: &Line, k: u64) -> Result<Vec<u32>, QueueError> {
        let bytes = self.get_bytes(line.keys[PERM].clone()).await?;
        let count = usize::try_from(k).map_err(unavailable)?;
        if bytes.len() < count * 4 {
            return Err(unavailable("the stored draw is shorter than its entrants"));
        }
        Ok(be_u32s(&bytes, count))
    }

    /// Performs the concert's draw if this caller wins the claim: reads the pre-queued
    /// numbers, orders the live ones by the seed (in Rust: a million take well under a
    /// second), stores the places, then reveals. Another caller's live claim, or a
    /// draw already done, makes this a no-op.
    async fn perform_draw(
        &self,
        concert: ConcertId,
        line: &Line,
        now_ms: i64,
    ) -> Result<(), QueueError> {
        let owner = format!("{:016x}", rand::random::<u64>());
        let args = [owner.clone(), now_ms.to_string(), DRAW_CLAIM_MS.to_string()];
        let claim: Vec<String> = self
            .invoke(&self.scripts.draw_claim, line, None, &args)
            .await?;
        let [won, seed, k, epoch, left @ ..] = &claim[..] else {
            return Ok(());
        };
        if won != "1" {
            return Ok(());
        }
        let seed = Seed::from_hex(seed).ok_or_else(|| unavailable("malformed draw seed"))?;
        let k: u64 = parse(k)?;
        let epoch: u64 = parse(epoch)?;
        let left: HashSet<u64> = left.iter().filter_map(|s| s.parse().ok()).collect();
        let read_at = Instant::now();
        let users = self.entrants(line, k).await?;
        let compute_at = Instant::now();
        let drawn = draw_places(
            &seed,
            &self.line_key(concert, epoch),
            concert,
            &users,
            &left,
        );
        let store_at = Instant::now();
        let perm_bytes: Vec<u8> = drawn.perm.iter().flat_map(|p| p.to_be_bytes()).collect();
        let key = line.keys[PERM].clone();
        self.run(|mut conn| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(perm_bytes)
                .query_async::<()>(&mut conn)
                .await
        })
        .await?;
        let args = [owner, drawn.receipts.len().to_string()];
        let done: i64 = self
            .invoke(&self.scripts.draw_finish, line, None, &args)
            .await?;
        if done == 1 {
            *line.receipts.lock().await = Some(Arc::new(drawn.receipts));
            tracing::info!(
                concert = concert.0,
                entrants = k,
                read_ms = (compute_at - read_at).as_millis() as u64,
                order_ms = (store_at - compute_at).as_millis() as u64,
                store_ms = store_at.elapsed().as_millis() as u64,
                "pre-queue drawn"
            );
        }
        Ok(())
    }

    /// The users of pre-queued numbers 1..=k.
    async fn entrants(&self, line: &Line, k: u64) -> Result<Vec<i64>, QueueError> {
        let bytes = self.get_bytes(line.keys[ENTRANTS].clone()).await?;
        let count = usize::try_from(k).map_err(unavailable)?;
        let mut users: Vec<i64> = bytes
            .chunks(8)
            .take(count)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..c.len()].copy_from_slice(c);
                i64::from_be_bytes(b)
            })
            .collect();
        users.resize(count, 0);
        Ok(users)
    }

    /// The key tokens of this incarnation of the line are signed with.
    fn line_key(&self, concert: ConcertId, epoch: u64) -> TokenKey {
        self.settings.token_key.for_line(concert, epoch)
    }

    /// Checks the token against the line as the view knows it; returns the epoch it was
    /// signed for (the scripts check it is still the line's).
    fn verify(&self, line: &Line, token: &QueueToken) -> Result<u64, QueueError> {
        let epoch = read(&line.view).epoch;
        if epoch == 0 {
            return Err(QueueError::UnknownToken);
        }
        self.signed(line, token, epoch)
            .then_some(epoch)
            .ok_or(QueueError::UnknownToken)
    }

    /// Whether `token` was signed for the line's incarnation `epoch`.
    fn signed(&self, line: &Line, token: &QueueToken, epoch: u64) -> bool {
        self.with_signer(line, token.concert(), epoch, |signer| signer.signed(token))
    }

    /// Runs `f` with this thread's kept signer of the line's incarnation `epoch` (made
    /// again when the epoch changed): issuing and checking tokens derive no key.
    fn with_signer<R>(
        &self,
        line: &Line,
        concert: ConcertId,
        epoch: u64,
        f: impl FnOnce(&TokenSigner) -> R,
    ) -> R {
        let mut kept = line.signers.get_or_default().borrow_mut();
        if !matches!(&*kept, Some((at, _)) if *at == epoch) {
            *kept = Some((epoch, self.line_key(concert, epoch).signer()));
        }
        let (_, signer) = kept
            .as_ref()
            .unwrap_or_else(|| unreachable!("set just above"));
        f(signer)
    }

    /// Runs a script about one token's place (ARGV: place, now ms, the epoch it was
    /// signed for), after checking the token against a current view of its line.
    async fn token_call<T: FromRedisValue>(
        &self,
        script: &Script,
        token: &QueueToken,
        now: DateTime<Utc>,
    ) -> Result<(Arc<Line>, T), QueueError> {
        let line = self.line(token.concert());
        self.ready_view(&line).await?;
        let epoch = self.verify_current(&line, token).await?;
        let args = [
            token.seq().to_string(),
            now.timestamp_millis().to_string(),
            epoch.to_string(),
        ];
        let reply = self.invoke(script, &line, None, &args).await?;
        Ok((line, reply))
    }

    /// The default policy with the concert's rate and pause where an operator set them.
    fn policy_with(&self, set: Option<(u64, bool)>) -> QueuePolicy {
        let mut policy = self.settings.default_policy;
        if let Some((admit_per_second, paused)) = set {
            policy.admit_per_second = admit_per_second;
            policy.paused = paused;
        }
        policy
    }

    /// A waiting fan within two seconds' worth of admissions of the head (at least 100
    /// places), answered from a view older than `RECHECK` (background mode only).
    fn near_the_front(&self, line: &Line, ticket: &Ticket) -> bool {
        let Some(position) = ticket.position else {
            return false;
        };
        if self.max_lag.is_none() {
            return false;
        }
        self.near_the_front_in(&read(&line.view), position)
    }

    /// `near_the_front` with the view already read-locked.
    fn near_the_front_in(&self, v: &View, position: u64) -> bool {
        let rate = v
            .admit_per_second
            .unwrap_or(self.settings.default_policy.admit_per_second);
        position <= rate.saturating_mul(2).max(100)
            && v.synced.is_none_or(|at| at.elapsed() >= RECHECK)
    }

    /// The common poll, answered under one read lock of the view: a view read within
    /// `FRESH` (background mode), a token signed for its epoch, a place it knows, and no
    /// fresher read needed for a fan near the front. `None` sends the caller down the
    /// full path, which handles every other case.
    fn status_from_view(&self, line: &Line, token: &QueueToken, now_ms: i64) -> Option<Ticket> {
        self.max_lag?;
        let v = read(&line.view);
        if v.epoch == 0
            || v.synced?.elapsed() > FRESH
            || token.seq() > v.seq_max()
            || !self.signed(line, token, v.epoch)
        {
            return None;
        }
        let ticket = self.ticket_in(&v, token, now_ms);
        match ticket.position {
            Some(position) if self.near_the_front_in(&v, position) => None,
            _ => Some(ticket),
        }
    }

    /// `verify`, but a token that fails against a view read more than one background
    /// interval ago gets one more try after a fresh read: the line may have started (or
    /// started over) since. Forged tokens thus cost at most one read per interval.
    async fn verify_current(&self, line: &Line, token: &QueueToken) -> Result<u64, QueueError> {
        match self.verify(line, token) {
            Ok(epoch) => Ok(epoch),
            Err(e) => {
                let stale = read(&line.view)
                    .synced
                    .is_none_or(|at| at.elapsed() >= RECHECK);
                if !stale {
                    return Err(e);
                }
                self.sync_unless_newer(line, Instant::now()).await?;
                self.verify(line, token)
            }
        }
    }

    async fn flush_all(&self) -> Result<(), QueueError> {
        let lines: Vec<Arc<Line>> = self
            .concerts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for line in lines {
            self.flush(&line).await?;
        }
        Ok(())
    }

    /// Sends the line's pending heartbeats, in batches; on failure they are kept.
    async fn flush(&self, line: &Line) -> Result<(), QueueError> {
        let mut merged: HashMap<u64, i64> = HashMap::new();
        for slot in line.beats.iter() {
            for (place, ms) in std::mem::take(&mut *lock(slot)) {
                let beat = merged.entry(place).or_insert(ms);
                *beat = (*beat).max(ms);
            }
        }
        // A place whose heartbeat this instance sent less than `refresh_ms` ago is not
        // sent again: the idle rule allows for it (see `drop_after_ms`).
        let beats: Vec<(u64, i64)> = {
            let flushed = lock(&line.flushed);
            merged
                .into_iter()
                .filter(|(place, ms)| {
                    self.refresh_ms == 0
                        || flushed
                            .get(place)
                            .is_none_or(|f| ms - f >= self.refresh_ms as i64)
                })
                .collect()
        };
        for (i, chunk) in beats.chunks(BEAT_BATCH).enumerate() {
            let mut cmd = redis::cmd("BITFIELD");
            cmd.arg(&line.keys[SEEN]);
            for (place, ms) in chunk {
                cmd.arg("SET")
                    .arg("u32")
                    .arg(format!("#{place}"))
                    .arg(*ms as u32);
            }
            let sent = self
                .run(|mut conn| async move { cmd.query_async::<Vec<i64>>(&mut conn).await })
                .await;
            if sent.is_ok() {
                let mut flushed = lock(&line.flushed);
                flushed.extend(chunk.iter().copied());
            }
            if let Err(e) = sent {
                let mut pending = lock(line.beats.get_or_default());
                for &(place, ms) in &beats[i * BEAT_BATCH..] {
                    let slot = pending.entry(place).or_insert(ms);
                    *slot = (*slot).max(ms);
                }
                return Err(e);
            }
        }
        let mut flushed = lock(&line.flushed);
        if flushed.len() > 4_096 {
            let head = read(&line.view).head();
            flushed.retain(|place, _| *place > head);
        }
        Ok(())
    }

    /// How long a waiting place's stored heartbeat must be old before the place is
    /// dropped: the idle timeout, plus (background mode) the window within which an
    /// instance does not resend a place's heartbeat and a flush period. So a fan who
    /// polls is never dropped, and one who stopped leaves between the idle timeout and
    /// this much after its last poll.
    fn drop_after_ms(&self) -> u64 {
        let idle_ms = self.settings.idle_timeout_seconds.saturating_mul(1000);
        if self.refresh_ms == 0 {
            idle_ms
        } else {
            idle_ms + self.refresh_ms + 2_000
        }
    }

    /// Up to `limit` places that may have been idle for the idle timeout at `now_ms`,
    /// from a scan of the heartbeats that is redone every `slack / 2` (a place found
    /// fresher than `idle - slack` cannot go idle before the next scan).
    async fn idle_candidates(
        &self,
        line: &Line,
        now_ms: i64,
        limit: u64,
    ) -> Result<Vec<u64>, QueueError> {
        let idle_ms = self.drop_after_ms();
        let slack = (idle_ms / 2).min(10_000);
        let due = {
            let scan = lock(&line.idle);
            scan.scanned_at_ms
                .is_none_or(|at| now_ms < at || now_ms - at >= (slack / 2) as i64)
        };
        if due {
            let (from, top) = {
                let v = read(&line.view);
                (v.scan_from(), v.seq_max())
            };
            let quiet_ms = u32::try_from(idle_ms - slack).unwrap_or(u32::MAX);
            let mut found = Vec::new();
            let mut first = from;
            while first <= top {
                let last = top.min(first + SCAN_BATCH - 1);
                let key = line.keys[SEEN].clone();
                let bytes: Vec<u8> = self
                    .run(|mut conn| async move {
                        redis::cmd("GETRANGE")
                            .arg(key)
                            .arg(first * 4)
                            .arg(last * 4 + 3)
                            .query_async::<Vec<u8>>(&mut conn)
                            .await
                    })
                    .await?;
                let mut seen: Vec<u32> = bytes
                    .chunks(4)
                    .map(|c| {
                        let mut b = [0u8; 4];
                        b[..c.len()].copy_from_slice(c);
                        u32::from_be_bytes(b)
                    })
                    .collect();
                // Places past the stored end never got a heartbeat written (yet).
                seen.resize((last - first + 1) as usize, now_ms as u32);
                found.extend(read(&line.view).quiet_places(first, &seen, now_ms, quiet_ms));
                first = last + 1;
            }
            let mut scan = lock(&line.idle);
            scan.scanned_at_ms = Some(now_ms);
            scan.candidates = found;
        }
        let idle32 = u32::try_from(idle_ms).unwrap_or(u32::MAX);
        let now32 = now_ms as u32;
        let mut scan = lock(&line.idle);
        let mut picked = Vec::new();
        scan.candidates.retain(|&(place, seen)| {
            let quiet = now32.wrapping_sub(seen);
            if (picked.len() as u64) < limit && quiet >= idle32 && quiet < 1 << 31 {
                picked.push(place);
                false
            } else {
                true
            }
        });
        Ok(picked)
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
        let inner = &self.inner;
        inner.register(concert).await?;
        let line = inner.line(concert);
        let now_ms = now.timestamp_millis();
        let fresh_epoch = rand::random::<u64>() >> 12; // exact as a Lua number (< 2^53)
        let args = [
            user.0.to_string(),
            now_ms.to_string(),
            fresh_epoch.max(1).to_string(),
        ];
        let reply: Vec<String> = inner
            .invoke(&inner.scripts.enter, &line, Some(user), &args)
            .await?;
        let [state, place, until_or_head, epoch, phase] = &reply[..] else {
            return Err(unavailable(format!("unexpected enter reply {reply:?}")));
        };
        let place: u64 = parse(place)?;
        let epoch: u64 = parse(epoch)?;
        let token = inner.with_signer(&line, concert, epoch, |s| s.issue(concert, place, user));
        if state == "A" {
            // Already admitted: the script's answer is current, the view may trail it.
            let until = Utc.timestamp_millis_opt(parse(until_or_head)?).single();
            let mut ticket = expired_ticket(&token);
            ticket.status = TicketStatus::Active;
            ticket.active_until = until;
            return Ok(Entered {
                ticket,
                created: false,
            });
        }
        write(&line.view).extend(place);
        if read(&line.view).epoch != epoch || read(&line.view).phase().name() != phase {
            // The first entry of this line (or of a new incarnation): learn its epoch.
            inner.sync(&line).await?;
        }
        inner.ready_view(&line).await?;
        let ticket = inner.ticket(&line, &token, now_ms);
        Ok(Entered {
            ticket,
            created: state == "N",
        })
    }

    // No span here: this is the hot path (every poll), answered from memory.
    async fn status(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<Ticket, QueueError> {
        let inner = &self.inner;
        let line = inner.line(token.concert());
        let now_ms = now.timestamp_millis();
        if let Some(ticket) = inner.status_from_view(&line, token, now_ms) {
            beat(&line, &ticket, token.seq(), now_ms);
            return Ok(ticket);
        }
        inner.ready_view(&line).await?;
        inner.verify_current(&line, token).await?;
        let place = token.seq();
        if place > read(&line.view).seq_max() {
            if inner.max_lag.is_none() {
                // Read just now: no such place was ever issued.
                return Err(QueueError::UnknownToken);
            }
            // Issued after this instance's last read (the signature proves it).
            write(&line.view).extend(place);
        }
        let mut ticket = inner.ticket(&line, token, now_ms);
        if inner.near_the_front(&line, &ticket) {
            // The next admissions are about these fans: answer from a view at most one
            // background interval old, so two instances disagree about them only that
            // long (one read per interval however many ask; on failure the view answers).
            let asked = Instant::now();
            let fresh_enough = asked.checked_sub(RECHECK).unwrap_or(asked);
            if inner.sync_unless_newer(&line, fresh_enough).await.is_ok() {
                ticket = inner.ticket(&line, token, now_ms);
            }
        }
        beat(&line, &ticket, place, now_ms);
        Ok(ticket)
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn admission(
        &self,
        token: &QueueToken,
        now: DateTime<Utc>,
    ) -> Result<Ticket, QueueError> {
        let inner = &self.inner;
        let (_, reply): (_, Vec<String>) = inner
            .token_call(&inner.scripts.admission, token, now)
            .await?;
        let mut ticket = expired_ticket(token);
        match &reply[..] {
            [u] if u == "U" => return Err(QueueError::UnknownToken),
            [e] if e == "E" => {}
            [p] if p == "P" => {
                ticket.status = TicketStatus::PreQueue;
                let line = inner.line(token.concert());
                ticket.opens_at = read(&line.view)
                    .phase()
                    .opens_ms()
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
            }
            [a, until] if a == "A" => {
                ticket.status = TicketStatus::Active;
                ticket.active_until = Utc.timestamp_millis_opt(parse(until)?).single();
            }
            [w, position, rate, aps, paused] if w == "W" => {
                let position: u64 = parse(position)?;
                let set = if aps.is_empty() {
                    None
                } else {
                    Some((parse(aps)?, paused == "1"))
                };
                let policy = inner.policy_with(set);
                ticket.status = TicketStatus::Waiting;
                ticket.position = Some(position);
                ticket.eta_seconds = eta_seconds(position, parse(rate)?, &policy);
                let sd = read(&inner.line(token.concert()).view).rate_sd;
                ticket.eta_range = eta_range(position, parse(rate)?, sd, &policy);
            }
            _ => return Err(unavailable(format!("unexpected admission reply {reply:?}"))),
        }
        let inventory = read(&inner.line(token.concert()).view).inventory;
        Ok(ticket.with_inventory(inventory))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn leave(&self, token: &QueueToken, now: DateTime<Utc>) -> Result<(), QueueError> {
        let inner = &self.inner;
        let (line, reply): (_, Vec<i64>) =
            inner.token_call(&inner.scripts.leave, token, now).await?;
        match reply[..] {
            [0, _] => Err(QueueError::UnknownToken),
            [_, changed] => {
                if changed == 1 {
                    // This instance reads its own write at once; the event follows.
                    write(&line.view).apply(Event::Gone(token.seq()));
                }
                Ok(())
            }
            _ => Err(unavailable(format!("unexpected leave reply {reply:?}"))),
        }
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn tick_capped(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        cap: Option<AdmissionCap>,
    ) -> Result<TickReport, QueueError> {
        let inner = &self.inner;
        let line = inner.line(concert);
        let now_ms = now.timestamp_millis();
        // Own heartbeats first, so the idle check sees them; then a current view, so
        // the idle scan covers every place.
        inner.flush(&line).await?;
        inner.sync(&line).await?;
        let idle = inner
            .idle_candidates(&line, now_ms, inner.settings.max_expire_per_tick)
            .await?;
        let d = inner.settings.default_policy;
        let mut args = vec![
            now_ms.to_string(),
            inner.drop_after_ms().to_string(),
            RATE_EMA_TAU_SECONDS.to_string(),
            d.max_active.to_string(),
            d.admit_per_second.to_string(),
            d.active_ttl_seconds.to_string(),
            u8::from(d.paused).to_string(),
            cap.map_or("-1".to_owned(), |c| c.seats.to_string()),
            cap.map_or(0, |c| c.holders).to_string(),
            cap.map_or("", |c| c.inventory.code()).to_owned(),
        ];
        args.extend(idle.iter().map(u64::to_string));
        let reply: Vec<i64> = inner
            .invoke(&inner.scripts.tick, &line, None, &args)
            .await?;
        let [
            admitted,
            expired_waiting,
            expired_active,
            first,
            last,
            until,
            to_draw,
            ref dropped @ ..,
        ] = reply[..]
        else {
            return Err(unavailable(format!("unexpected tick reply {reply:?}")));
        };
        let behind = {
            let mut v = write(&line.view);
            let behind = admitted > 0 && !v.apply_own_admission(first as u64, last as u64, until);
            for &place in dropped {
                v.apply(Event::Gone(place as u64));
            }
            if let Some(cap) = cap {
                v.inventory = Some(cap.inventory);
            }
            behind
        };
        if behind {
            // Another instance admitted a batch since this view's last read: read it (and
            // ours after it) from the stream rather than jump the head past it.
            inner.sync(&line).await?;
        }
        if to_draw == 1 {
            inner.perform_draw(concert, &line, now_ms).await?;
            inner.sync(&line).await?;
        }
        Ok(TickReport {
            admitted: admitted as u64,
            expired_waiting: expired_waiting as u64,
            expired_active: expired_active as u64,
        })
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn policy(&self, concert: ConcertId) -> Result<QueuePolicy, QueueError> {
        let inner = &self.inner;
        let key = inner.key(concert, KEY_NAMES[POLICY]);
        let raw: Vec<Option<String>> = inner
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(key)
                    .arg("max_active")
                    .arg("admit_per_second")
                    .arg("active_ttl_seconds")
                    .arg("paused")
                    .arg("sale_opens_at")
                    .arg("admit_per_seat")
                    .arg("pow_difficulty")
                    .query_async::<Vec<Option<String>>>(&mut conn)
                    .await
            })
            .await?;
        match &raw[..] {
            [
                Some(max),
                Some(aps),
                Some(ttl),
                paused,
                opens,
                per_seat,
                pow,
            ] => Ok(QueuePolicy {
                max_active: parse(max)?,
                admit_per_second: parse(aps)?,
                active_ttl_seconds: parse(ttl)?,
                paused: paused.as_deref() == Some("1"),
                sale_opens_at: match opens.as_deref() {
                    None | Some("") => None,
                    Some(ms) => Utc.timestamp_millis_opt(parse(ms)?).single(),
                },
                admit_per_seat: match per_seat.as_deref() {
                    None | Some("") => DEFAULT_ADMIT_PER_SEAT,
                    Some(x) => parse(x)?,
                },
                pow_difficulty: pow.as_deref().map(parse).transpose()?.unwrap_or(0),
            }),
            _ => Ok(inner.settings.default_policy),
        }
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn set_policy(&self, concert: ConcertId, policy: QueuePolicy) -> Result<(), QueueError> {
        let inner = &self.inner;
        let key = inner.key(concert, KEY_NAMES[POLICY]);
        if let Some(opens) = policy.sale_opens_at {
            let line = inner.line(concert);
            let seed = Seed::random();
            let args = [
                opens.timestamp_millis().to_string(),
                seed.to_hex(),
                seed.commitment(),
            ];
            let answer: String = inner
                .invoke(&inner.scripts.draw_open, &line, None, &args)
                .await?;
            if answer == "R" {
                return Err(QueueError::Refused(
                    "sale_opens_at can only be set before anyone entered the line".into(),
                ));
            }
        }
        let opens = policy
            .sale_opens_at
            .map_or(String::new(), |t| t.timestamp_millis().to_string());
        inner
            .run(|mut conn| async move {
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
                    .arg("sale_opens_at")
                    .arg(opens)
                    .arg("admit_per_seat")
                    .arg(policy.admit_per_seat)
                    .arg("pow_difficulty")
                    .arg(policy.pow_difficulty)
                    .query_async::<()>(&mut conn)
                    .await
            })
            .await?;
        {
            // This instance's ETAs follow at once; others at their next read.
            let line = inner.line(concert);
            let mut v = write(&line.view);
            v.admit_per_second = Some(policy.admit_per_second);
            v.paused = policy.paused;
        }
        inner.register(concert).await
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn stats(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
    ) -> Result<QueueStats, QueueError> {
        let inner = &self.inner;
        let line = inner.line(concert);
        let args = [now.timestamp_millis().to_string()];
        let reply: Vec<String> = inner
            .invoke(&inner.scripts.stats, &line, None, &args)
            .await?;
        let [waiting, active, admitted, expired, rate] = &reply[..] else {
            return Err(unavailable(format!("unexpected stats reply {reply:?}")));
        };
        Ok(QueueStats {
            waiting: parse(waiting)?,
            active: parse::<i64>(active)?.max(0) as u64,
            admitted_total: parse(admitted)?,
            expired_total: parse(expired)?,
            admit_rate: parse(rate)?,
        })
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn draw(&self, concert: ConcertId) -> Result<Option<Draw>, QueueError> {
        let key = self.inner.key(concert, KEY_NAMES[DRAW]);
        let raw: Vec<Option<String>> = self
            .inner
            .run(|mut conn| async move {
                redis::cmd("HMGET")
                    .arg(key)
                    .arg("state")
                    .arg("commitment")
                    .arg("opens")
                    .arg("live")
                    .arg("n")
                    .arg("seed")
                    .query_async::<Vec<Option<String>>>(&mut conn)
                    .await
            })
            .await?;
        let [Some(state), Some(commitment), Some(opens), live, n, seed] = &raw[..] else {
            return Ok(None);
        };
        let drawn = state == "drawn";
        let entrants = if drawn { n } else { live };
        Ok(Some(Draw {
            commitment: commitment.clone(),
            opens_at: Utc
                .timestamp_millis_opt(parse(opens)?)
                .single()
                .unwrap_or_default(),
            entrants: parse::<i64>(entrants.as_deref().unwrap_or("0"))?.max(0) as u64,
            seed: if drawn { seed.clone() } else { None },
        }))
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err(level = "debug"))]
    async fn draw_receipts(
        &self,
        concert: ConcertId,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<String>>, QueueError> {
        let inner = &self.inner;
        let line = inner.line(concert);
        let mut cached = line.receipts.lock().await;
        if cached.is_none() {
            let key = line.keys[DRAW].clone();
            let raw: Vec<Option<String>> = inner
                .run(|mut conn| async move {
                    redis::cmd("HMGET")
                        .arg(key)
                        .arg("state")
                        .arg("k")
                        .arg("n")
                        .query_async::<Vec<Option<String>>>(&mut conn)
                        .await
                })
                .await?;
            let [Some(state), Some(k), Some(n)] = &raw[..] else {
                return Ok(None);
            };
            if state != "drawn" {
                return Ok(None);
            }
            let (k, n): (u64, usize) = (parse(k)?, parse(n)?);
            let perm = inner.load_perm(&line, k).await?;
            let users = inner.entrants(&line, k).await?;
            let epoch: u64 = {
                let key = line.keys[STATS].clone();
                let e: Option<String> = inner
                    .run(|mut conn| async move {
                        redis::cmd("HGET")
                            .arg(key)
                            .arg("epoch")
                            .query_async::<Option<String>>(&mut conn)
                            .await
                    })
                    .await?;
                parse(e.as_deref().unwrap_or("0"))?
            };
            let signer = inner.line_key(concert, epoch).signer();
            // Number i + 1's receipt, then each put at its drawn place.
            let mut by_number = vec![[0u8; 32]; perm.len()];
            for_chunks(&mut by_number, |first, chunk| {
                for (j, slot) in chunk.iter_mut().enumerate() {
                    let i = first + j;
                    if (1..=n).contains(&(perm[i] as usize)) {
                        let user = UserId(users[i]);
                        *slot = receipt_digest(signer.issue(concert, i as u64 + 1, user).as_str());
                    }
                }
            });
            let mut receipts = vec![[0u8; 32]; n];
            for (i, &place) in perm.iter().enumerate() {
                let place = place as usize;
                if (1..=n).contains(&place) {
                    receipts[place - 1] = by_number[i];
                }
            }
            *cached = Some(Arc::new(receipts));
        }
        let all = cached.clone().unwrap_or_default();
        let from = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
        let to = from
            .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
            .min(all.len());
        Ok(Some(all[from..to].iter().map(hex::encode).collect()))
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    async fn concerts(&self) -> Result<Vec<ConcertId>, QueueError> {
        let key = self.inner.concerts_key();
        let ids: Vec<i64> = self
            .inner
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

    /// The server's mode is the configured one, a script runs on a line's keys (a line of
    /// its own, read only), the global set answers, and every node answers `PING` (on a
    /// Cluster the command goes to each node).
    async fn ping(&self) -> Result<(), QueueError> {
        let inner = &self.inner;
        inner.check_mode().await?;
        let probe = inner.new_line("probe");
        let args = [Utc::now().timestamp_millis().to_string()];
        inner
            .invoke::<Vec<String>>(&inner.scripts.stats, &probe, None, &args)
            .await?;
        self.concerts().await?;
        inner
            .run(|mut conn| async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }
}

/// A drawn pre-queue: the place of each number 1..=k and the receipts in drawn order.
struct Drawn {
    perm: Vec<u32>,
    receipts: Vec<[u8; 32]>,
}

/// The draw of numbers 1..=`users.len()` (user of each, in number order), those in
/// `left` excluded: the live ones take places 1..=n in the seed's order of their
/// receipts, the ones that left the places after them in number order.
fn draw_places(
    seed: &Seed,
    key: &TokenKey,
    concert: ConcertId,
    users: &[i64],
    left: &HashSet<u64>,
) -> Drawn {
    let live: Vec<u64> = (1..=users.len() as u64)
        .filter(|n| !left.contains(n))
        .collect();
    let signer = key.signer();
    let mut hashed: Vec<([u8; 32], String)> = vec![([0; 32], String::new()); live.len()];
    for_chunks(&mut hashed, |first, chunk| {
        for (j, slot) in chunk.iter_mut().enumerate() {
            let n = live[first + j];
            let user = UserId(users[(n - 1) as usize]);
            let digest = receipt_digest(signer.issue(concert, n, user).as_str());
            *slot = (digest, hex::encode(digest));
        }
    });
    let (digests, receipts): (Vec<[u8; 32]>, Vec<String>) = hashed.into_iter().unzip();
    let order = seed.order(&receipts);
    let mut perm = vec![0u32; users.len()];
    let mut drawn = Vec::with_capacity(order.len());
    for (rank, &i) in order.iter().enumerate() {
        perm[(live[i] - 1) as usize] = rank as u32 + 1;
        drawn.push(digests[i]);
    }
    let mut next = order.len() as u32;
    for n in 1..=users.len() as u64 {
        if left.contains(&n) {
            next += 1;
            perm[(n - 1) as usize] = next;
        }
    }
    Drawn {
        perm,
        receipts: drawn,
    }
}
