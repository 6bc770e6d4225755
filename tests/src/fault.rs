//! A TCP fault proxy for tests: it sits between the app and a server (Redis, a
//! database) and relays bytes as they are, or with the fault the test switches on while
//! it runs — added latency, a bandwidth limit, a stall, a reset, a blackhole — and back.
//!
//! - `Latency(d)`: every chunk is delivered `d` after it was read, in both directions
//!   (pipelined: a stream of chunks is delayed, not slowed); a round trip takes `2 d`
//!   longer.
//! - `Bandwidth(bytes_per_second)`: each direction delivers at most that rate.
//! - `Stall`: nothing is delivered (connections stay open, new ones are accepted and
//!   connected); what was read is delivered once the stall ends.
//! - `Blackhole`: what is read is dropped and new connections get no answer; when the
//!   blackhole ends, every connection that lost bytes is reset (its stream is broken).
//! - `Reset`: every connection is reset (RST) and new ones are reset at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the proxy does to the bytes it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Relays as they are.
    #[default]
    None,
    /// Delivers every chunk this long after it was read (each direction).
    Latency(Duration),
    /// At most this many bytes per second in each direction.
    Bandwidth(u64),
    /// Delivers nothing until the fault changes.
    Stall,
    /// Drops every byte; connections that lost bytes are reset when it ends.
    Blackhole,
    /// Resets every connection, and new ones at once.
    Reset,
}

/// A running proxy to one upstream address. Dropping it closes everything.
pub struct FaultProxy {
    port: u16,
    fault: watch::Sender<Fault>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and relays to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let upstream: SocketAddr = tokio::net::lookup_host(upstream)
            .await
            .expect("upstream address")
            .next()
            .expect("an upstream address");
        let (fault, watching) = watch::channel(Fault::None);
        let accept = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                connections.spawn(relay(client, upstream, watching.clone()));
                while connections.try_join_next().is_some() {}
            }
        });
        FaultProxy {
            port,
            fault,
            accept,
        }
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Switches the fault (for connections open now and later).
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        *self.fault.borrow()
    }

    /// `url` with its `host:port` (after `//` and any `user@`) replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (auth, hostport_path) = match rest.rsplit_once('@') {
            Some((auth, after)) => (format!("{auth}@"), after),
            None => (String::new(), rest),
        };
        let path = hostport_path.find('/').map_or("", |i| &hostport_path[i..]);
        format!("{scheme}://{auth}127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every relay.
        self.accept.abort();
    }
}

/// The `host:port` of a `scheme://[user@]host:port[/path]` URL.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Relays one connection until either side closes, or the fault resets it.
async fn relay(client: TcpStream, upstream: SocketAddr, mut fault: watch::Receiver<Fault>) {
    let now = *fault.borrow_and_update();
    match now {
        Fault::Reset => return reset(client),
        Fault::Blackhole => {
            // No answer; the connection is dropped once the blackhole ends.
            while *fault.borrow_and_update() == Fault::Blackhole {
                if fault.changed().await.is_err() {
                    break;
                }
            }
            return reset(client);
        }
        _ => {}
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return reset(client);
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // Closing a relayed connection for a fault must reset it (RST), not end it.
    let _ = client.set_zero_linger();
    let _ = server.set_zero_linger();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let poisoned = Arc::new(AtomicBool::new(false));
    let up = pump(client_read, server_write, fault.clone(), poisoned.clone());
    let down = pump(server_read, client_write, fault.clone(), poisoned.clone());
    let broken = async {
        loop {
            if fault.changed().await.is_err() {
                return std::future::pending().await;
            }
            let f = *fault.borrow_and_update();
            if f == Fault::Reset || (f != Fault::Blackhole && poisoned.load(Ordering::SeqCst)) {
                return;
            }
        }
    };
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        () = broken => {}
    }
}

/// One direction: reads chunks as they come and delivers each as the fault allows.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    fault: watch::Receiver<Fault>,
    poisoned: Arc<AtomicBool>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reading = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
    };
    let writing = async move {
        let mut fault = fault;
        while let Some((read_at, bytes)) = rx.recv().await {
            if deliver(&mut to, read_at, &bytes, &mut fault, &poisoned)
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reading, writing);
}

/// Delivers one chunk under the fault in force, following it as it changes.
async fn deliver(
    to: &mut OwnedWriteHalf,
    read_at: Instant,
    bytes: &[u8],
    fault: &mut watch::Receiver<Fault>,
    poisoned: &AtomicBool,
) -> std::io::Result<()> {
    loop {
        let now = *fault.borrow_and_update();
        match now {
            Fault::None => return to.write_all(bytes).await,
            Fault::Latency(d) => {
                tokio::select! {
                    () = tokio::time::sleep_until(read_at + d) => return to.write_all(bytes).await,
                    changed = fault.changed() => if changed.is_err() { return Ok(()) },
                }
            }
            Fault::Bandwidth(per_second) => {
                // Slices of a tenth of a second's worth, each followed by its pause.
                let slice = usize::try_from(per_second / 10)
                    .unwrap_or(usize::MAX)
                    .max(1);
                for part in bytes.chunks(slice) {
                    to.write_all(part).await?;
                    let secs = part.len() as f64 / per_second.max(1) as f64;
                    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                }
                return Ok(());
            }
            Fault::Stall => {
                if fault.changed().await.is_err() {
                    return Ok(());
                }
            }
            Fault::Blackhole => {
                poisoned.store(true, Ordering::SeqCst);
                return Ok(());
            }
            Fault::Reset => return Err(std::io::ErrorKind::ConnectionReset.into()),
        }
    }
}

/// A Redis Cluster of the test's own whose every node is reached through a fault proxy:
/// each node announces its proxy's port (`cluster-announce-port`), so the cluster's
/// redirections and topology lead clients through the proxies too; the nodes' bus
/// traffic goes direct. Faults are switched on every proxy at once.
pub struct ProxiedCluster {
    proxies: Vec<FaultProxy>,
    nodes: Vec<std::process::Child>,
    dir: std::path::PathBuf,
}

impl ProxiedCluster {
    /// Starts `masters` nodes (no replicas) and forms the cluster.
    pub async fn start(masters: usize) -> ProxiedCluster {
        crate::assert_named_as_server_test("a Redis server (redis-server, redis-cli)");
        let dir = std::env::temp_dir().join(format!(
            "frontrow-pcluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut ports = Vec::new();
        while ports.len() < masters {
            // The bus port is the client port + 10000; both must be free.
            let p = crate::redis::server_port(true);
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let mut proxies = Vec::new();
        let mut nodes = Vec::new();
        for &p in &ports {
            let proxy = FaultProxy::start(&format!("127.0.0.1:{p}")).await;
            let node_dir = dir.join(p.to_string());
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let child = std::process::Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &p.to_string()])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                ])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-announce-ip", "127.0.0.1"])
                .args(["--cluster-announce-port", &proxy.port().to_string()])
                .args(["--cluster-announce-bus-port", &(p + 10_000).to_string()])
                .arg("--dir")
                .arg(&node_dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("redis-server is not installed or cannot start");
            nodes.push(child);
            proxies.push(proxy);
        }
        for &p in &ports {
            crate::wait::until("a cluster node", Duration::from_millis(20), || async move {
                std::net::TcpStream::connect(("127.0.0.1", p))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .await;
        }
        let created = std::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli");
        assert!(
            created.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let first = ports[0];
        crate::wait::until(
            "cluster_state:ok",
            Duration::from_millis(50),
            || async move {
                let out = std::process::Command::new("redis-cli")
                    .args(["-p", &first.to_string(), "cluster", "info"])
                    .output()
                    .map_err(|e| e.to_string())?;
                let info = String::from_utf8_lossy(&out.stdout).into_owned();
                if info.contains("cluster_state:ok") {
                    Ok(())
                } else {
                    Err(info)
                }
            },
        )
        .await;
        ProxiedCluster {
            proxies,
            nodes,
            dir,
        }
    }

    /// The nodes' URLs through their proxies, comma-separated (`redis.url` of an app).
    pub fn seeds(&self) -> String {
        self.proxies
            .iter()
            .map(|p| format!("redis://127.0.0.1:{}", p.port()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Switches `fault` on every node's proxy.
    pub fn set(&self, fault: Fault) {
        for p in &self.proxies {
            p.set(fault);
        }
    }
}

impl Drop for ProxiedCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.kill();
            let _ = n.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
