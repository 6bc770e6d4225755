//! Redis connection and per-test key prefixes, on one server or on a Redis Cluster.
//!
//! Each test gets its own prefix (a UUID), so tests share one server without seeing each
//! other; `TestRedis::cleanup` (also run on drop) deletes the prefix's keys with
//! `SCAN` + `DEL` (on every node of a cluster), never `FLUSHALL`. `Cluster` reads a
//! cluster's topology and moves slots between its masters.

use deadpool_redis::redis;

/// The Redis that `scripts/test.sh` starts; fails the test when it is not set.
pub fn redis_url() -> String {
    crate::required_env("FRONTROW_TEST_REDIS_URL", "a Redis server")
}

/// The 3-master Redis Cluster that `scripts/test.sh` starts (its nodes' URLs).
pub fn redis_cluster_urls() -> Vec<String> {
    split_urls(&crate::required_env(
        "FRONTROW_TEST_REDIS_CLUSTER_URLS",
        "a Redis Cluster (3 masters)",
    ))
}

/// The 6-node Redis Cluster (a replica per master) for the one test that kills a master.
pub fn redis_failover_urls() -> Vec<String> {
    split_urls(&crate::required_env(
        "FRONTROW_TEST_REDIS_FAILOVER_URLS",
        "a Redis Cluster with a replica per master",
    ))
}

fn split_urls(list: &str) -> Vec<String> {
    list.split(',').map(|u| u.trim().to_owned()).collect()
}

/// A key prefix of one test on the test Redis (or on every node of a cluster).
pub struct TestRedis {
    /// The server, or the cluster's first node.
    pub url: String,
    /// Every node (one for a single server).
    pub nodes: Vec<String>,
    pub prefix: String,
}

impl TestRedis {
    pub fn new() -> Self {
        let url = redis_url();
        TestRedis {
            nodes: vec![url.clone()],
            url,
            prefix: format!("frontrow-test:{}:", uuid::Uuid::new_v4().simple()),
        }
    }

    /// A prefix on the test Redis Cluster.
    pub fn on_cluster() -> Self {
        let nodes = redis_cluster_urls();
        TestRedis {
            url: nodes[0].clone(),
            nodes,
            prefix: format!("frontrow-test:{}:", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Every key under this test's prefix (on a cluster: with the node that holds it).
    pub fn keys(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|node| self.keys_on(node))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    fn keys_on(&self, node: &str) -> Vec<String> {
        let Ok(mut conn) = redis::Client::open(node).and_then(|c| c.get_connection()) else {
            return Vec::new();
        };
        let pattern = format!("{}*", self.prefix);
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let page: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn);
            let Ok((next, mut found)) = page else {
                break;
            };
            keys.append(&mut found);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys
    }

    /// Deletes this test's keys (one at a time on a cluster: keys of several slots).
    pub fn cleanup(&self) {
        for node in &self.nodes {
            let keys = self.keys_on(node);
            let Ok(mut conn) = redis::Client::open(node.as_str()).and_then(|c| c.get_connection())
            else {
                continue;
            };
            if self.nodes.len() == 1 {
                for chunk in keys.chunks(500) {
                    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(chunk).query(&mut conn);
                }
            } else {
                // A replica refuses (READONLY): its master deletes the key.
                let mut pipe = redis::pipe();
                for key in &keys {
                    pipe.cmd("DEL").arg(key).ignore();
                }
                let _: redis::RedisResult<()> = pipe.query(&mut conn);
            }
        }
    }
}

impl Default for TestRedis {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// A master of a Redis Cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub url: String,
    pub id: String,
    /// The slot ranges it serves.
    pub slots: Vec<(u16, u16)>,
}

/// Topology and slot moves of a Redis Cluster, over plain connections to its nodes.
pub struct Cluster {
    pub nodes: Vec<String>,
}

fn conn(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

impl Cluster {
    pub fn new(nodes: Vec<String>) -> Self {
        Cluster { nodes }
    }

    /// The slot of `key` (hash tags honoured).
    pub fn slot_of(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.any())
            .expect("CLUSTER KEYSLOT")
    }

    /// A connection to the first node that answers.
    fn any(&self) -> redis::Connection {
        for node in &self.nodes {
            if let Ok(mut c) = redis::Client::open(node.as_str()).and_then(|c| c.get_connection())
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return c;
            }
        }
        panic!("no node of {:?} answers", self.nodes)
    }

    /// The masters, as the first answering node sees them.
    pub fn masters(&self) -> Vec<Master> {
        let text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut self.any())
            .expect("CLUSTER NODES");
        let mut masters = Vec::new();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let addr = fields[1].split('@').next().unwrap_or_default();
            let slots = fields[8..]
                .iter()
                .filter(|r| !r.starts_with('['))
                .map(|r| match r.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (r.parse().unwrap(), r.parse().unwrap()),
                })
                .collect();
            masters.push(Master {
                url: format!("redis://{addr}"),
                id: fields[0].to_owned(),
                slots,
            });
        }
        masters.sort_by(|a, b| a.slots.cmp(&b.slots));
        masters
    }

    /// The master serving `slot`.
    pub fn owner(&self, slot: u16) -> Master {
        self.masters()
            .into_iter()
            .find(|m| m.slots.iter().any(|&(a, b)| a <= slot && slot <= b))
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// Moves `slot` from its master to `to` the way `redis-cli --cluster reshard` does:
    /// IMPORTING/MIGRATING, `MIGRATE` of its keys in batches (clients meanwhile get `ASK`
    /// for keys already moved), then `SETSLOT NODE` on every master. Returns the number
    /// of keys moved.
    pub fn migrate_slot(&self, slot: u16, to: &Master) -> usize {
        let from = self.owner(slot);
        assert_ne!(from.id, to.id, "slot {slot} is already on {}", to.url);
        let (mut src, mut dst) = (conn(&from.url), conn(&to.url));
        let host_port = to.url.trim_start_matches("redis://").to_owned();
        let (host, port) = host_port.split_once(':').unwrap();
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("IMPORTING")
            .arg(&from.id)
            .query(&mut dst)
            .expect("SETSLOT IMPORTING");
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("MIGRATING")
            .arg(&to.id)
            .query(&mut src)
            .expect("SETSLOT MIGRATING");
        let mut moved = 0;
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(10)
                .query(&mut src)
                .expect("GETKEYSINSLOT");
            if keys.is_empty() {
                break;
            }
            let _: () = redis::cmd("MIGRATE")
                .arg(host)
                .arg(port)
                .arg("")
                .arg(0)
                .arg(5_000)
                .arg("KEYS")
                .arg(&keys)
                .query(&mut src)
                .expect("MIGRATE");
            moved += keys.len();
            // Let clients run between batches, so they meet the slot half moved.
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for node in [&mut dst, &mut src] {
            let _: () = redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg("NODE")
                .arg(&to.id)
                .query(node)
                .expect("SETSLOT NODE");
        }
        for m in self.masters() {
            if m.id != from.id && m.id != to.id {
                let _: redis::RedisResult<()> = redis::cmd("CLUSTER")
                    .arg("SETSLOT")
                    .arg(slot)
                    .arg("NODE")
                    .arg(&to.id)
                    .query(&mut conn(&m.url));
            }
        }
        moved
    }
}

/// A Redis server of one test's own (no persistence), so it can be stopped, started
/// again or flushed without touching other tests.
pub struct OwnRedis {
    pub port: u16,
    dir: std::path::PathBuf,
    /// Persistence settings (`--appendonly …`), kept across restarts.
    persistence: Vec<String>,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub fn start(port: u16, dir: std::path::PathBuf) -> OwnRedis {
        OwnRedis::start_with(port, dir, &["--appendonly", "no"])
    }

    /// A server with these persistence settings (e.g. `["--appendonly", "yes"]`); RDB
    /// snapshots stay off.
    pub fn start_with(port: u16, dir: std::path::PathBuf, persistence: &[&str]) -> OwnRedis {
        crate::assert_named_as_server_test("a Redis server");
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", ""])
            .args(persistence)
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server is not installed or cannot start ({e}); scripts/test.sh installs it"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        OwnRedis {
            port,
            dir,
            persistence: persistence.iter().map(|a| (*a).to_owned()).collect(),
            child: Some(child),
        }
    }

    /// The server's key names matching `pattern` (`KEYS`: a test's own server is small).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut c = conn(&self.url());
        redis::cmd("KEYS").arg(pattern).query(&mut c).expect("KEYS")
    }

    /// Deletes every key (`FLUSHALL`): the server lost its data.
    pub fn flushall(&self) {
        let mut c = conn(&self.url());
        let _: () = redis::cmd("FLUSHALL").query(&mut c).expect("FLUSHALL");
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A server on a free port in a fresh temp dir.
    pub fn fresh() -> OwnRedis {
        OwnRedis::fresh_with(&["--appendonly", "no"])
    }

    /// [`OwnRedis::fresh`] with these persistence settings.
    pub fn fresh_with(persistence: &[&str]) -> OwnRedis {
        let dir =
            std::env::temp_dir().join(format!("frontrow-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        OwnRedis::start_with(server_port(false), dir, persistence)
    }

    pub fn restart(&mut self) {
        self.stop();
        let args: Vec<&str> = self.persistence.iter().map(String::as_str).collect();
        let mut again = OwnRedis::start_with(self.port, self.dir.clone(), &args);
        self.child = again.child.take();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A free port for a server a test starts, below the kernel's ephemeral range (32768 on):
/// a port from [`free_port`] is free only until the next outgoing connection or `:0`
/// listener of any test takes it, which happened between choosing a Redis Cluster
/// node's port and starting the node. Below that range only explicit binds compete. With
/// `bus`, its port + 10000 (a Cluster node's bus port, still below 32768) is free too.
pub fn server_port(bus: bool) -> u16 {
    use rand::Rng;
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    let mut rng = rand::rng();
    loop {
        let p: u16 = rng.random_range(20_000..22_700);
        if free(p) && (!bus || free(p + 10_000)) {
            return p;
        }
    }
}
