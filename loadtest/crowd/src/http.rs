//! The fans' side of the wire: a bounded set of keep-alive connections ("lanes", one
//! per source address and target), the requests a fan makes, and their parsed answers.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Client, Response, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

/// What a fan asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Enter,
    Poll,
    Leave,
    /// Gives an admitted slot back.
    Release,
    /// First quiescence pass: who is still in line.
    Census,
    /// Second quiescence pass: the positions checked.
    Check,
    /// An SSE event (never sent as a request).
    Event,
}

impl Action {
    pub fn endpoint(self) -> Endpoint {
        match self {
            Action::Enter => Endpoint::Enter,
            Action::Poll | Action::Census | Action::Check => Endpoint::Status,
            Action::Leave | Action::Release => Endpoint::Leave,
            Action::Event => Endpoint::Events,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Enter = 0,
    Status = 1,
    Leave = 2,
    Events = 3,
}

pub const ENDPOINTS: [&str; 4] = ["enter", "status", "leave", "events"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Waiting,
    Active,
    Expired,
    Other,
}

/// The part of a `TicketView` the simulator reads.
#[derive(Debug)]
pub struct Ticket {
    /// Only kept from enter answers.
    pub token: Option<String>,
    pub standing: Standing,
    pub position: Option<u64>,
    /// `active_until` in ms since the epoch.
    pub active_until_ms: Option<i64>,
    pub poll_after_ms: Option<u64>,
}

#[derive(Deserialize)]
struct TicketBody {
    token: String,
    status: String,
    position: Option<u64>,
    active_until: Option<DateTime<Utc>>,
    poll_after_ms: Option<u64>,
}

impl Ticket {
    pub fn parse(body: &[u8], keep_token: bool) -> Option<Ticket> {
        let b: TicketBody = serde_json::from_slice(body).ok()?;
        Some(Ticket {
            token: keep_token.then_some(b.token),
            standing: match b.status.as_str() {
                "WAITING" => Standing::Waiting,
                "ACTIVE" => Standing::Active,
                "EXPIRED" => Standing::Expired,
                _ => Standing::Other,
            },
            position: b.position,
            active_until_ms: b.active_until.map(|t| t.timestamp_millis()),
            poll_after_ms: b.poll_after_ms,
        })
    }
}

/// One answered (or failed) request, back to the driver.
#[derive(Debug)]
pub struct Outcome {
    pub fan: u32,
    pub action: Action,
    /// When the request left (after it got a connection slot).
    pub sent: Instant,
    pub recv: Instant,
    /// Wall clock at `recv`, ms since the epoch (for the admission-notice delay).
    pub recv_wall_ms: i64,
    pub result: Result<Answer, String>,
    /// Times the request moved to another instance after failing on the wire
    /// (`--failover`).
    pub failovers: u32,
}

#[derive(Debug)]
pub struct Answer {
    pub code: u16,
    pub retry_after_ms: Option<u64>,
    pub ticket: Option<Ticket>,
}

/// An event of an SSE stream (or its end).
#[derive(Debug)]
pub enum StreamEvent {
    /// The endpoint answered something else than a stream (e.g. 404 today).
    Refused {
        fan: u32,
        code: u16,
    },
    Ticket {
        fan: u32,
        at: Instant,
        wall_ms: i64,
        ticket: Ticket,
    },
    Ended {
        fan: u32,
        error: Option<String>,
    },
}

/// A keep-alive pool from one source address to one target, bounded by its permits.
pub struct Lane {
    client: Client,
    permits: Arc<Semaphore>,
    enter_url: Arc<str>,
    status_url: Arc<str>,
    leave_url: Arc<str>,
    events_url: Arc<str>,
}

/// Everything a request task needs, shared.
pub struct Wire {
    pub lanes: Vec<Lane>,
    pub targets: usize,
    jwt: EncodingKey,
    timeout: Duration,
    pub sse_client: Client,
    /// Move a request that failed on the wire to the next instance.
    failover: bool,
}

pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn retry_after_ms(r: &Response) -> Option<u64> {
    r.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s * 1000)
}

#[derive(Serialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

impl Wire {
    /// Lanes of `connections / (targets × source_addrs)` connections each.
    pub fn new(
        targets: &[String],
        concert: i64,
        connections: usize,
        source_addrs: u8,
        timeout: Duration,
        jwt_secret: &str,
    ) -> anyhow::Result<Wire> {
        let sources: Vec<Option<IpAddr>> = if source_addrs <= 1 {
            vec![None]
        } else {
            (0..source_addrs)
                .map(|i| Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, i.saturating_add(2)))))
                .collect()
        };
        let per_lane = (connections / (sources.len() * targets.len())).max(1);
        let mut lanes = Vec::new();
        for src in &sources {
            let client = Client::builder()
                .http1_only()
                .tcp_nodelay(true)
                .local_address(*src)
                .pool_max_idle_per_host(per_lane)
                .pool_idle_timeout(Duration::from_secs(60))
                .timeout(timeout)
                .build()
                .context("building the HTTP client")?;
            for t in targets {
                let base = t.trim_end_matches('/');
                lanes.push(Lane {
                    client: client.clone(),
                    permits: Arc::new(Semaphore::new(per_lane)),
                    enter_url: format!("{base}/api/v1/concerts/{concert}/queue").into(),
                    status_url: format!("{base}/api/v1/queue/status").into(),
                    leave_url: format!("{base}/api/v1/queue").into(),
                    events_url: format!("{base}/api/v1/queue/events").into(),
                });
            }
        }
        let sse_client = Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(0)
            .build()
            .context("building the SSE client")?;
        Ok(Wire {
            lanes,
            targets: targets.len(),
            jwt: EncodingKey::from_secret(jwt_secret.as_bytes()),
            timeout,
            sse_client,
            failover: false,
        })
    }

    /// Moves a request that fails on the wire (refused or cut, not timed out) to the
    /// next instance, each instance tried once.
    pub fn with_failover(mut self, on: bool) -> Self {
        self.failover = on;
        self
    }

    /// The lane of the same source address on the `k`-th next instance.
    fn next_target(&self, lane: usize, k: usize) -> usize {
        let t = self.targets;
        lane - lane % t + (lane % t + k) % t
    }

    /// A fresh HS256 access token for `user`, as the server's `Auth::issue` makes them.
    pub fn access_token(&self, user: i64) -> Result<String, String> {
        let now = wall_ms() / 1000;
        let claims = Claims {
            sub: user.to_string(),
            iat: now,
            exp: now + 24 * 3600,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.jwt)
            .map_err(|e| format!("signing: {e}"))
    }

    /// Runs one request on `lane` and reports it on `tx`. `arg` is the user id (enter)
    /// or the queue token (everything else).
    pub async fn run(
        self: Arc<Self>,
        lane: usize,
        fan: u32,
        action: Action,
        arg: Arg,
        tx: mpsc::UnboundedSender<Outcome>,
    ) {
        let tries = if self.failover { self.targets } else { 1 };
        let mut failovers = 0;
        let mut sent = Instant::now();
        let mut result = Err("no instance".to_owned());
        for k in 0..tries {
            (sent, result) = self.attempt(self.next_target(lane, k), action, &arg).await;
            match &result {
                Err(kind) if kind == "connect" || kind == "request" => {
                    if k + 1 < tries {
                        failovers += 1;
                    }
                }
                _ => break,
            }
        }
        let recv = Instant::now();
        let _ = tx.send(Outcome {
            fan,
            action,
            sent,
            recv,
            recv_wall_ms: wall_ms(),
            result: result.map(|(code, retry_after_ms, body)| Answer {
                code,
                retry_after_ms,
                ticket: if code < 300 {
                    Ticket::parse(&body, action == Action::Enter)
                } else {
                    None
                },
            }),
            failovers,
        });
    }

    /// One try of a request on `lane`: when it left (after it got a connection slot),
    /// and what came back.
    async fn attempt(
        &self,
        lane: usize,
        action: Action,
        arg: &Arg,
    ) -> (Instant, Result<(u16, Option<u64>, Vec<u8>), String>) {
        let l = &self.lanes[lane];
        let _permit = l.permits.clone().acquire_owned().await;
        let sent = Instant::now();
        let req = match (action, arg) {
            (Action::Enter, Arg::User(user)) => match self.access_token(*user) {
                Ok(jwt) => Ok(l.client.post(&*l.enter_url).bearer_auth(jwt)),
                Err(e) => Err(e),
            },
            (Action::Leave | Action::Release, Arg::Token(t)) => {
                Ok(l.client.delete(&*l.leave_url).header("x-queue-token", t))
            }
            (Action::Event, _) => Err("events are not requests".to_owned()),
            (_, Arg::Token(t)) => Ok(l.client.get(&*l.status_url).header("x-queue-token", t)),
            (_, Arg::User(_)) => Err("a token request without a token".to_owned()),
        };
        let result = match req {
            Ok(req) => send(req).await,
            Err(e) => Err(e),
        };
        (sent, result)
    }

    /// Follows a fan's SSE stream until it says ACTIVE or EXPIRED, ends, or `stop` fires.
    pub async fn stream(
        self: Arc<Self>,
        lane: usize,
        fan: u32,
        token: String,
        tx: mpsc::UnboundedSender<StreamEvent>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let url = &self.lanes[lane].events_url;
        let resp = tokio::time::timeout(
            self.timeout,
            self.sse_client
                .get(&**url)
                .query(&[("token", token.as_str())])
                .header("accept", "text/event-stream")
                .send(),
        )
        .await;
        let mut resp = match resp {
            Ok(Ok(r)) if r.status() == StatusCode::OK => r,
            Ok(Ok(r)) => {
                let _ = tx.send(StreamEvent::Refused {
                    fan,
                    code: r.status().as_u16(),
                });
                return;
            }
            Ok(Err(e)) => {
                let _ = tx.send(StreamEvent::Ended {
                    fan,
                    error: Some(e.to_string()),
                });
                return;
            }
            Err(_) => {
                let _ = tx.send(StreamEvent::Ended {
                    fan,
                    error: Some("timed out".into()),
                });
                return;
            }
        };
        let mut buf: Vec<u8> = Vec::new();
        let error = 'stream: loop {
            let chunk = tokio::select! {
                c = resp.chunk() => c,
                _ = stop.changed() => break None,
            };
            match chunk {
                Ok(Some(bytes)) => buf.extend_from_slice(&bytes),
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
            // events end with a blank line; their `data:` lines carry a TicketView
            while let Some(end) = find_event_end(&buf) {
                let event: Vec<u8> = buf.drain(..end).collect();
                let data: Vec<u8> = event
                    .split(|b| *b == b'\n')
                    .filter_map(|line| line.strip_prefix(b"data:"))
                    .flat_map(|d| d.strip_prefix(b" ").unwrap_or(d).iter().copied())
                    .collect();
                if let Some(ticket) = Ticket::parse(&data, false) {
                    let done = matches!(ticket.standing, Standing::Active | Standing::Expired);
                    let _ = tx.send(StreamEvent::Ticket {
                        fan,
                        at: Instant::now(),
                        wall_ms: wall_ms(),
                        ticket,
                    });
                    if done {
                        break 'stream None;
                    }
                }
            }
        };
        let _ = tx.send(StreamEvent::Ended { fan, error });
    }
}

/// Index just past the blank line ending the first complete event, if any.
fn find_event_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The user id or queue token a request carries.
#[derive(Debug)]
pub enum Arg {
    User(i64),
    Token(String),
}

async fn send(req: reqwest::RequestBuilder) -> Result<(u16, Option<u64>, Vec<u8>), String> {
    let resp = req.send().await.map_err(|e| error_kind(&e))?;
    let code = resp.status().as_u16();
    let retry = retry_after_ms(&resp);
    let body = resp.bytes().await.map_err(|e| error_kind(&e))?;
    Ok((code, retry, body.to_vec()))
}

/// A short, countable name of a transport error.
fn error_kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else if e.is_body() || e.is_decode() {
        "body".into()
    } else {
        "request".into()
    }
}

/// The operator's side: policy and stats of the concert, on the first target.
pub struct Admin {
    client: Client,
    policy_url: String,
    stats_url: String,
    key: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Policy {
    pub max_active: u64,
    pub admit_per_second: u64,
    pub active_ttl_seconds: u64,
    #[serde(default)]
    pub paused: bool,
    /// Fans admitted per free seat: the crowd never buys, so it lifts the inventory
    /// bound to measure the line alone.
    #[serde(default = "no_inventory_bound")]
    pub admit_per_seat: f64,
}

/// The largest `admit_per_seat` the service accepts.
pub fn no_inventory_bound() -> f64 {
    1_000_000.0
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct QueueStats {
    pub waiting: u64,
    pub active: u64,
    pub admitted_total: u64,
    pub expired_total: u64,
    pub admit_rate: f64,
}

impl Admin {
    pub fn new(target: &str, concert: i64, key: &str) -> anyhow::Result<Admin> {
        let base = target.trim_end_matches('/');
        Ok(Admin {
            client: Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .context("building the admin client")?,
            policy_url: format!("{base}/api/v1/admin/concerts/{concert}/queue-policy"),
            stats_url: format!("{base}/api/v1/admin/concerts/{concert}/queue-stats"),
            key: key.to_owned(),
        })
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<T> {
        let resp = req
            .header("x-admin-key", &self.key)
            .send()
            .await
            .with_context(|| format!("{what}: request failed"))?;
        let code = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if !code.is_success() {
            anyhow::bail!("{what}: {code}: {body}");
        }
        serde_json::from_str(&body).with_context(|| format!("{what}: unexpected body {body}"))
    }

    pub async fn policy(&self) -> anyhow::Result<Policy> {
        self.json(self.client.get(&self.policy_url), "GET queue-policy")
            .await
    }

    pub async fn set_policy(&self, p: Policy) -> anyhow::Result<Policy> {
        self.json(
            self.client.put(&self.policy_url).json(&p),
            "PUT queue-policy",
        )
        .await
    }

    pub async fn stats(&self) -> anyhow::Result<QueueStats> {
        self.json(self.client.get(&self.stats_url), "GET queue-stats")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_view_parses_with_or_without_poll_after() {
        let w = br#"{"token":"1.ab","status":"WAITING","position":3,"ahead":2,"eta_seconds":1,"active_until":null}"#;
        let t = Ticket::parse(w, true).expect("parses");
        assert_eq!(t.standing, Standing::Waiting);
        assert_eq!(t.position, Some(3));
        assert_eq!(t.token.as_deref(), Some("1.ab"));
        assert_eq!(t.poll_after_ms, None);
        let a = br#"{"token":"1.ab","status":"ACTIVE","position":null,"active_until":"2026-01-01T00:10:00Z","poll_after_ms":500}"#;
        let t = Ticket::parse(a, false).expect("parses");
        assert_eq!(t.standing, Standing::Active);
        assert_eq!(t.active_until_ms, Some(1_767_226_200_000));
        assert_eq!(t.poll_after_ms, Some(500));
        assert!(t.token.is_none());
    }

    #[test]
    fn an_sse_event_ends_at_a_blank_line() {
        assert_eq!(find_event_end(b"data: {}\n\nrest"), Some(10));
        assert_eq!(find_event_end(b"data: {}\r\n\r\n"), Some(12));
        assert_eq!(find_event_end(b"data: {}\n"), None);
    }
}
