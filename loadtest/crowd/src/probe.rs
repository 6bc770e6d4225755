//! What the servers cost: Redis `INFO memory` / `INFO commandstats`, the app instances'
//! VmRSS, and the waiting room's own stats, sampled during the run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::http::Admin;

/// A Redis connection for INFO only.
pub struct RedisProbe {
    con: redis::aio::MultiplexedConnection,
}

impl RedisProbe {
    pub async fn connect(url: &str) -> anyhow::Result<RedisProbe> {
        let client = redis::Client::open(url)?;
        let con = client.get_multiplexed_async_connection().await?;
        Ok(RedisProbe { con })
    }

    async fn info(&mut self, section: &str) -> anyhow::Result<String> {
        Ok(redis::cmd("INFO")
            .arg(section)
            .query_async::<String>(&mut self.con)
            .await?)
    }

    pub async fn used_memory(&mut self) -> anyhow::Result<u64> {
        let info = self.info("memory").await?;
        field(&info, "used_memory").ok_or_else(|| anyhow::anyhow!("INFO memory has no used_memory"))
    }

    /// Calls per command since the server started.
    pub async fn commandstats(&mut self) -> anyhow::Result<BTreeMap<String, u64>> {
        let info = self.info("commandstats").await?;
        Ok(parse_commandstats(&info))
    }
}

fn field(info: &str, name: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

/// `cmdstat_evalsha:calls=12,usec=…` lines → `{"evalsha": 12}`.
pub fn parse_commandstats(info: &str) -> BTreeMap<String, u64> {
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// Sum of VmRSS (bytes) of `pids`; `None` if one cannot be read.
pub fn rss_bytes(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter()
        .map(|pid| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
        })
        .sum()
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub t_s: f64,
    pub waiting: Option<u64>,
    pub active: Option<u64>,
    pub admitted_total: Option<u64>,
    pub redis_used_memory: Option<u64>,
    pub server_rss: Option<u64>,
}

/// Samples every `period` until `stop` says so; the samples land in `out`.
pub async fn sample(
    admin: Arc<Admin>,
    mut redis: Option<RedisProbe>,
    pids: Vec<u32>,
    period: Duration,
    start: Instant,
    out: Arc<Mutex<Vec<Sample>>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<RedisProbe> {
    let mut tick = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return redis,
        }
        let stats = admin.stats().await.ok();
        let mem = match redis.as_mut() {
            Some(r) => r.used_memory().await.ok(),
            None => None,
        };
        let s = Sample {
            t_s: start.elapsed().as_secs_f64(),
            waiting: stats.map(|s| s.waiting),
            active: stats.map(|s| s.active),
            admitted_total: stats.map(|s| s.admitted_total),
            redis_used_memory: mem,
            server_rss: rss_bytes(&pids),
        };
        if let Ok(mut v) = out.lock() {
            v.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commandstats_lines_give_calls_per_command() {
        let info = "# Commandstats\r\ncmdstat_evalsha:calls=12,usec=30,usec_per_call=2.5,rejected_calls=0,failed_calls=0\r\ncmdstat_zrank:calls=7,usec=1\r\n";
        let m = parse_commandstats(info);
        assert_eq!(m.get("evalsha"), Some(&12));
        assert_eq!(m.get("zrank"), Some(&7));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn used_memory_is_read_not_its_lookalikes() {
        let info = "used_memory_human:1M\r\nused_memory:1048576\r\nused_memory_rss:2\r\n";
        assert_eq!(field(info, "used_memory"), Some(1_048_576));
    }
}
