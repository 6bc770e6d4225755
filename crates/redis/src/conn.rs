//! Connections: one server or a Cluster, one lazily opened multiplexed connection per
//! calling thread, every call bounded by the timeout, and the check that the server's
//! mode is the configured one.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster::ClusterClient;
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{
    self, AsyncConnectionConfig, Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, PushInfo,
    PushKind, RedisFuture, RedisResult, Value,
};
use frontrow_domain::error::QueueError;
use frontrow_domain::queue::QueueSettings;

use crate::{Inner, RedisQueue, lock, unavailable};

/// How the queue reaches Redis: one server, or a Cluster through its seed nodes.
pub(crate) enum Client {
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
pub(crate) struct Slot {
    conn: Mutex<Option<Open>>,
    connecting: tokio::sync::Mutex<()>,
}

/// An open connection and, for one server, whether its socket is still up: the
/// connection's driver says so the moment the socket ends (a reset, an EOF), even when no
/// call is under way, so the next call opens a fresh connection instead of failing on the
/// dead one (after a cut link every thread's connection is dead, not only the one whose
/// call noticed). A Cluster connection reconnects to its nodes by itself.
#[derive(Clone)]
struct Open {
    conn: Conn,
    alive: Option<Arc<AtomicBool>>,
}

impl Slot {
    fn cached(&self) -> Option<Conn> {
        let mut slot = lock(&self.conn);
        let dead = slot
            .as_ref()
            .is_some_and(|o| o.alive.as_ref().is_some_and(|a| !a.load(Ordering::Acquire)));
        if dead {
            *slot = None;
        }
        slot.as_ref().map(|o| o.conn.clone())
    }

    fn set(&self, open: Option<Open>) {
        *lock(&self.conn) = open;
    }
}

/// The connection config of one new single-server connection: the base config, with a
/// push sender that marks `alive` false when the driver reports the disconnection.
fn watched(config: &AsyncConnectionConfig, alive: &Arc<AtomicBool>) -> AsyncConnectionConfig {
    let alive = Arc::clone(alive);
    config.clone().set_push_sender(move |push: PushInfo| {
        if push.kind == PushKind::Disconnection {
            alive.store(false, Ordering::Release);
        }
        Ok::<(), ()>(())
    })
}

/// How the connections stand, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStatus {
    /// Connections opened since start (1 + reconnects, once connected).
    pub connects: u64,
}

/// Whether an `INFO cluster` answer comes from a Cluster node.
fn cluster_enabled(info: &str) -> bool {
    info.lines().any(|l| l.trim() == "cluster_enabled:1")
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
        // RESP3, for the driver's disconnection notice (see `Open`); Redis 6 or later.
        let info = url.into_connection_info()?;
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(resp3))?;
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
}

impl Inner {
    /// See [`RedisQueue::check_mode`].
    pub(crate) async fn check_mode(&self) -> Result<(), QueueError> {
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

    async fn connection(&self, slot: &Slot) -> RedisResult<Conn> {
        if let Some(conn) = slot.cached() {
            return Ok(conn);
        }
        // One caller connects; the others wait for it instead of opening their own.
        let _guard = slot.connecting.lock().await;
        if let Some(conn) = slot.cached() {
            return Ok(conn);
        }
        let open = match &self.client {
            Client::Single { client, config } => {
                let alive = Arc::new(AtomicBool::new(true));
                let conn = client
                    .get_multiplexed_async_connection_with_config(&watched(config, &alive))
                    .await?;
                Open {
                    conn: Conn::Single(conn),
                    alive: Some(alive),
                }
            }
            Client::Cluster { client, .. } => Open {
                conn: Conn::Cluster(client.get_async_connection().await?),
                alive: None,
            },
        };
        self.connects.fetch_add(1, Ordering::Relaxed);
        // A new connection may face a restarted, empty Redis: register concerts again.
        lock(&self.registered).clear();
        let conn = open.conn.clone();
        slot.set(Some(open));
        Ok(conn)
    }

    /// Runs one step on this thread's connection within the timeout; a broken or silent
    /// connection is dropped so the next call opens a fresh one.
    pub(crate) async fn run<T, F, Fut>(&self, step: F) -> Result<T, QueueError>
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
}
