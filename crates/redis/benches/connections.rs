//! The connection scheme, measured on one Redis and on a Redis Cluster: calls per second
//! from two single-threaded runtimes (what actix workers are) with 64 calls in flight
//! each, through one connection per runtime (what `RedisQueue` does) or one connection
//! shared by both (opened on a third runtime, as a shared pool would be).
//!
//!     source scripts/services.sh; services_up redis redis_cluster
//!     cargo bench -p frontrow-redis --bench connections
//!
//! The call is a one-key `EVALSHA` of a concert's hash-tagged key, the shape of every
//! queue script. Prints one line per (server, scheme).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster::ClusterClient;
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{self, Cmd, Pipeline, RedisFuture, Script, Value};

const THREADS: usize = 2;
const IN_FLIGHT: usize = 64;
const RUN: Duration = Duration::from_secs(3);

#[derive(Clone, Copy)]
enum Server {
    Single,
    Cluster,
}

async fn open(server: Server, urls: &[String]) -> Conn {
    match server {
        Server::Single => Conn::Single(
            redis::Client::open(urls[0].as_str())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
        ),
        Server::Cluster => Conn::Cluster(
            ClusterClient::new(urls.to_vec())
                .unwrap()
                .get_async_connection()
                .await
                .unwrap(),
        ),
    }
}

/// A connection handle of either kind.
#[derive(Clone)]
enum Conn {
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
        0
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Calls per second with `per_thread` connections or one shared.
fn measure(server: Server, urls: &[String], per_thread: bool) -> f64 {
    let script = Arc::new(Script::new("return redis.call('INCR', KEYS[1])"));
    let done = Arc::new(AtomicU64::new(0));
    // The shared connection lives on a runtime of its own (its driver task runs there).
    let shared_rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap(),
    );
    let shared = (!per_thread).then(|| shared_rt.block_on(open(server, urls)));
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (urls, script, done) = (urls.to_vec(), script.clone(), done.clone());
            let shared = shared.clone();
            std::thread::spawn(move || {
                current_thread().block_on(async move {
                    let conn = match shared {
                        Some(c) => c,
                        None => open(server, &urls).await,
                    };
                    let tasks: Vec<_> = (0..IN_FLIGHT)
                        .map(|i| {
                            let mut conn = conn.clone();
                            let (script, done) = (script.clone(), done.clone());
                            let key = format!("bench:{{concert:{}}}:n", (t * IN_FLIGHT + i) % 16);
                            tokio::spawn(async move {
                                while started.elapsed() < RUN {
                                    let _: i64 =
                                        script.key(&key).invoke_async(&mut conn).await.unwrap();
                                    done.fetch_add(1, Ordering::Relaxed);
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let single = std::env::var("FRONTROW_TEST_REDIS_URL").ok();
    let cluster = std::env::var("FRONTROW_TEST_REDIS_CLUSTER_URLS").ok();
    if single.is_none() && cluster.is_none() {
        panic!(
            "set FRONTROW_TEST_REDIS_URL and/or FRONTROW_TEST_REDIS_CLUSTER_URLS: \
             `source scripts/services.sh; services_up redis redis_cluster`"
        );
    }
    for (name, server, urls) in [
        ("single node", Server::Single, single.map(|u| vec![u])),
        (
            "cluster",
            Server::Cluster,
            cluster.map(|u| u.split(',').map(str::to_owned).collect()),
        ),
    ] {
        let Some(urls) = urls else { continue };
        for (scheme, per_thread) in [("one per runtime", true), ("one shared", false)] {
            let rate = measure(server, &urls, per_thread);
            println!(
                "connections {name:<11} {scheme:<15} {rate:>9.0} calls/s \
                 ({THREADS} runtimes x {IN_FLIGHT} in flight, {RUN:?})"
            );
        }
    }
}
