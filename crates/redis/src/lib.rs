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
//! Every key is named in `keys`: a concert's keys share one hash tag, so one Cluster
//! slot. On Redis Cluster ([`RedisQueue::connect_cluster`]) every script therefore runs on the
//! one shard that owns its concert's slot; the global set lives in a slot of its own and
//! is only read and written with single-key commands (`SADD`, `SMEMBERS`), never from a
//! script. The cluster client follows `MOVED` and `ASK`, so a slot that migrates in the
//! middle of a sale keeps answering, and refreshes its slot map after a failover.
//!
//! Modules, one concern each: `conn` (connections, cluster mode), `keys` (key layout),
//! `scripts` (the Lua steps), `replies` (their typed replies), `line` (one concert as an
//! instance knows it), `sync` (keeping the view current), `view` (the view itself),
//! `ticket` (answers from the view), `signing` (queue tokens), `heartbeat` (heartbeats
//! and idle fans), `draw` (the pre-queue's draw), `life` (closing and retiring a line),
//! `queue` (the `Queue` port), `limits` (shared rate limits).

mod conn;
mod draw;
mod heartbeat;
mod keys;
mod life;
mod limits;
mod line;
mod policy;
mod queue;
mod replies;
mod scripts;
mod signing;
mod sweep;
mod sync;
#[cfg(feature = "test-support")]
mod test_support;
mod ticket;
mod view;

pub use conn::ConnectionStatus;
pub use keys::USER_BUCKETS;
#[cfg(feature = "test-support")]
pub use test_support::ClaimedDraw;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;

use frontrow_domain::lifecycle::CloseReason;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use frontrow_domain::error::QueueError;
use frontrow_domain::model::ConcertId;
use frontrow_domain::queue::QueueSettings;
use thread_local::ThreadLocal;
use tokio::task::JoinHandle;

use conn::{Client, Slot};
use keys::Keys;
use line::Line;
use scripts::Scripts;

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

/// One thread's copy of the lines, and the generation of `Inner::lines_gen` it is of.
type LinesHere = (u64, HashMap<ConcertId, Arc<Line>>);

/// What every module of the adapter works on, shared with the background tasks.
struct Inner {
    client: Client,
    timeout: Duration,
    keys: Keys,
    settings: QueueSettings,
    /// One multiplexed connection per thread that calls.
    slots: ThreadLocal<Slot>,
    connects: AtomicU64,
    /// Views rebuilt from a snapshot (a new view, or one that fell behind the stream).
    snapshots: AtomicU64,
    /// Concerts this process already added to the global set.
    registered: Mutex<HashSet<ConcertId>>,
    scripts: Scripts,
    concerts: RwLock<HashMap<ConcertId, Arc<Line>>>,
    /// The same lines as `concerts`, per calling thread: a poll finds its line without
    /// touching the shared lock. Each copy is of generation `lines_gen`: a retired line
    /// dropped from `concerts` bumps it, and each thread starts its copy over.
    lines_here: ThreadLocal<RefCell<LinesHere>>,
    lines_gen: AtomicU64,
    /// Retired lines this instance answered for: how each ended and the epoch its
    /// tokens were signed for (bounded, see `life`).
    retired: Mutex<HashMap<ConcertId, (CloseReason, u64)>>,
    /// `None`: inline sync; else the largest lag a status may be answered with.
    max_lag: Option<Duration>,
    /// A place's heartbeat is not resent within this many ms (0: every one is sent).
    refresh_ms: u64,
}

impl RedisQueue {
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
                keys: Keys::new(key_prefix),
                settings,
                slots: ThreadLocal::new(),
                connects: AtomicU64::new(0),
                snapshots: AtomicU64::new(0),
                registered: Mutex::new(HashSet::new()),
                scripts: Scripts::new(),
                concerts: RwLock::new(HashMap::new()),
                lines_here: ThreadLocal::new(),
                lines_gen: AtomicU64::new(0),
                retired: Mutex::new(HashMap::new()),
                max_lag: None,
                refresh_ms: 0,
            }),
            tasks: Vec::new(),
        }
    }
}

impl Drop for RedisQueue {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::unavailable(e.to_string())
}

fn parse<T: std::str::FromStr>(raw: &str) -> Result<T, QueueError> {
    raw.parse()
        .map_err(|_| unavailable(format!("unexpected value {raw:?} from redis")))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(v: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    v.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(v: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    v.write().unwrap_or_else(PoisonError::into_inner)
}
