//! Command line of the crowd simulator.

use clap::Parser;

/// Plays a crowd of fans against frontrow's waiting room and checks its invariants.
#[derive(Debug, Clone, Parser)]
#[command(name = "frontrow-crowd", version)]
pub struct Args {
    /// How many fans arrive.
    #[arg(long, default_value_t = 1000)]
    pub fans: u32,
    /// App instances, comma-separated base URLs.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    pub targets: Vec<String>,
    /// The concert whose waiting room the fans enter (it must exist).
    #[arg(long, default_value_t = 1)]
    pub concert: i64,
    /// A fan sends every request to one instance (default: requests spread over all,
    /// as an edge proxy does).
    #[arg(long)]
    pub sticky: bool,
    /// Fans arriving per second.
    #[arg(long, default_value_t = 1000.0)]
    pub arrival_rate: f64,
    /// Poll interval when an answer carries no `poll_after_ms`.
    #[arg(long, default_value_t = 2000)]
    pub poll_ms: u64,
    /// Random spread of each poll interval, as a share of it (0.1 = ±10 %).
    #[arg(long, default_value_t = 0.1)]
    pub poll_jitter: f64,
    /// Share of fans that follow `GET /api/v1/queue/events` (SSE) instead of polling;
    /// they fall back to polling when the endpoint is missing.
    #[arg(long, default_value_t = 0.0)]
    pub sse: f64,
    /// Most SSE streams open at once (each holds a connection).
    #[arg(long, default_value_t = 512)]
    pub sse_streams: usize,
    /// A polling fan told a position at most this switches to the event stream, as the
    /// fan page does (it streams throughout; the simulator cannot hold a million
    /// streams, so it streams where the moment of admission is decided). 0 = never.
    #[arg(long, default_value_t = 0)]
    pub stream_front: u64,
    /// Share of fans that leave the line (`DELETE /api/v1/queue`) at a random moment.
    #[arg(long, default_value_t = 0.0)]
    pub leave_share: f64,
    /// Share of fans that stop polling at a random moment.
    #[arg(long, default_value_t = 0.0)]
    pub idle_share: f64,
    /// Leaving and idling fans do so within this long after entering (uniformly).
    #[arg(long, default_value_t = 30_000)]
    pub churn_window_ms: u64,
    /// HS256 secret the fans' access tokens are signed with (the server's auth.jwt_secret).
    #[arg(
        long,
        env = "FRONTROW_CROWD_JWT_SECRET",
        default_value = "frontrow-dev-secret-change-me"
    )]
    pub jwt_secret: String,
    /// User id of the first fan; fan i is user `user_base + i`.
    #[arg(long, default_value_t = 1_000_000)]
    pub user_base: i64,
    /// Operator key (`X-Admin-Key`).
    #[arg(
        long,
        env = "FRONTROW_CROWD_ADMIN_KEY",
        default_value = "frontrow-dev-admin-key"
    )]
    pub admin_key: String,
    /// Sets the policy before the run: `max_active,admit_per_second,active_ttl_seconds`.
    #[arg(long)]
    pub policy: Option<String>,
    /// Keep-alive connections in total, shared by all fans.
    #[arg(long, default_value_t = 256)]
    pub connections: usize,
    /// Source addresses to spread connections over (127.0.0.2, 127.0.0.3, …; 1 = let the
    /// system choose).
    #[arg(long, default_value_t = 1)]
    pub source_addrs: u8,
    /// Most requests in flight (default: `--connections`).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Bound of one request.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// An admitted fan gives its slot back (`DELETE /api/v1/queue`) this long after seeing
    /// ACTIVE, so the line keeps moving past `max_active`.
    #[arg(long, default_value_t = 0)]
    pub hold_active_ms: u64,
    /// Admitted fans keep their slot until it runs out.
    #[arg(long)]
    pub no_release: bool,
    /// Stop the churn phase after this long even if fans still wait (0 = when every fan
    /// is done).
    #[arg(long, default_value_t = 0)]
    pub duration_s: u64,
    /// Skip the quiescence check (pause, settle, census, position check).
    #[arg(long)]
    pub no_quiesce: bool,
    /// Leave the fans still in line or admitted at the end (default: they leave, so
    /// they do not hold the next run's places and active slots).
    #[arg(long)]
    pub no_cleanup: bool,
    /// Wait after pausing the policy and draining requests, before the census.
    #[arg(long, default_value_t = 1000)]
    pub settle_ms: u64,
    /// How long after its last poll the server may still keep an idle fan's place: its
    /// `queue.idle_timeout_seconds` plus half of it plus 2 s (92 for the default 60 s).
    /// Before the census the simulator waits until every fan that went idle is older
    /// than this (plus 3 s for the tick), and then expects each of them gone: a fan the
    /// server was about to drop would otherwise be counted in line by the census and
    /// dropped before the check, making every fan behind it look misplaced.
    #[arg(long, default_value_t = 92)]
    pub idle_drop_s: u64,
    /// The server's `queue.idle_timeout_seconds`: a fan told WAITING less than this long
    /// before must never be told EXPIRED (or 401) while it waits; such a lost place fails
    /// the run.
    #[arg(long, default_value_t = 60)]
    pub idle_timeout_s: u64,
    /// A WAITING answer only counts as an overtake when its request was sent this long
    /// after a later fan was seen ACTIVE.
    #[arg(long, default_value_t = 0)]
    pub overtake_grace_ms: u64,
    /// Redis of the waiting room, for `INFO memory` and `INFO commandstats`.
    #[arg(long)]
    pub redis: Option<String>,
    /// Server processes whose VmRSS to sample, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub server_pids: Vec<u32>,
    /// Sampling period of queue stats, Redis memory and RSS.
    #[arg(long, default_value_t = 1000)]
    pub sample_ms: u64,
    /// Progress line on stderr every this many seconds (0 = none).
    #[arg(long, default_value_t = 5)]
    pub progress_s: u64,
    /// Write the report as JSON here.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Exit 0 even when an invariant failed or a 5xx was answered.
    #[arg(long)]
    pub no_fail: bool,
    /// 503 answers (load shedding, retried after Retry-After) and 408 answers (the
    /// server's request timeout: it closed the connection before reading the request,
    /// retried on a new one as a browser does) do not fail the run; their counts are
    /// printed in the verdict as allowed.
    #[arg(long)]
    pub allow_503: bool,
    /// 429 answers (rate limits, retried after Retry-After) do not fail the run; their
    /// count is printed in the verdict as allowed.
    #[arg(long)]
    pub allow_429: bool,
    /// A request that fails on the wire (connection refused or cut, not a timeout) is
    /// sent to the next instance, as an edge proxy retries on another upstream while an
    /// instance restarts; each such move is counted and printed in the verdict as
    /// allowed. A request that fails on every instance is still a transport error.
    #[arg(long)]
    pub failover: bool,
    /// Seed of the random choices (behaviours, jitter).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Args {
    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(self.connections).max(1)
    }

    /// `(max_active, admit_per_second, active_ttl_seconds)` of `--policy`.
    pub fn policy(&self) -> anyhow::Result<Option<(u64, u64, u64)>> {
        let Some(p) = &self.policy else {
            return Ok(None);
        };
        let v: Vec<u64> = p
            .split(',')
            .map(|x| x.trim().parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("--policy {p:?}: {e}"))?;
        match v[..] {
            [a, b, c] => Ok(Some((a, b, c))),
            _ => anyhow::bail!("--policy wants max_active,admit_per_second,active_ttl_seconds"),
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let share = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(anyhow::anyhow!("{name} must be between 0 and 1"))
            }
        };
        share("--sse", self.sse)?;
        share("--leave-share", self.leave_share)?;
        share("--idle-share", self.idle_share)?;
        share("--poll-jitter", self.poll_jitter)?;
        if self.leave_share + self.idle_share > 1.0 {
            anyhow::bail!("--leave-share + --idle-share must be at most 1");
        }
        if self.targets.is_empty() || self.fans == 0 || self.arrival_rate <= 0.0 {
            anyhow::bail!("need targets, --fans > 0 and --arrival-rate > 0");
        }
        if self.connections < self.targets.len() * usize::from(self.source_addrs.max(1)) {
            anyhow::bail!("--connections must be at least targets × --source-addrs");
        }
        self.policy()?;
        Ok(())
    }
}
