//! The report: figures computed from the tally and the samples, printed as a Markdown
//! table and written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::args::Args;
use crate::probe::Sample;
use crate::provenance::Provenance;
use crate::sim::{OrderSource, Tally};

#[derive(Debug, Serialize)]
pub struct Quantiles {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Quantiles {
    /// From a histogram of `unit`s per millisecond (1000 for µs, 1 for ms).
    fn of(h: &Histogram<u64>, unit: f64) -> Quantiles {
        Quantiles {
            count: h.len(),
            p50: h.value_at_quantile(0.5) as f64 / unit,
            p99: h.value_at_quantile(0.99) as f64 / unit,
            max: h.max() as f64 / unit,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RedisFigures {
    pub used_memory_before: u64,
    /// At the sample with the most fans waiting.
    pub used_memory_at_peak: u64,
    pub waiting_at_peak: u64,
    pub bytes_per_waiting_fan: Option<f64>,
    /// All commands (but this probe's INFO) during the churn phase.
    pub commands: u64,
    pub commands_per_status_answer: Option<f64>,
    /// `(command, calls, calls per status answer)`, most called first.
    pub top_commands: Vec<(String, u64, f64)>,
}

#[derive(Debug, Serialize)]
pub struct RssFigures {
    pub before: u64,
    pub peak: u64,
    pub waiting_at_peak: u64,
    pub bytes_per_waiting_fan: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// Commit, machine, command line and date of this run.
    pub provenance: Provenance,
    pub fans: u32,
    pub targets: usize,
    pub sticky: bool,
    pub connections: usize,
    pub concurrency: usize,
    pub arrival_rate: f64,
    pub entry_order: OrderSource,
    pub run_s: f64,
    pub quiescence_s: f64,
    pub entered: u64,
    pub entered_existing: u64,
    pub enters_per_s: f64,
    pub status_answers: u64,
    pub status_per_s: f64,
    pub latency_ms: BTreeMap<&'static str, Quantiles>,
    pub admission_notice_delay_ms: Quantiles,
    /// How late polls went out after they fell due (the simulator's own backlog).
    pub poll_lateness_ms: Quantiles,
    /// The admission-notice delay of the fans that followed the front on the stream.
    pub admission_notice_delay_streamed_ms: Quantiles,
    pub front_streams: u64,
    pub admitted_seen: u64,
    pub released: u64,
    pub left: u64,
    pub idled: u64,
    pub expired_waiting: u64,
    pub idle_kept: u64,
    pub lost_polling: u64,
    pub failed: u64,
    pub overtakes: u64,
    pub overtaken_fans: u64,
    pub positions_up: u64,
    pub position_errors: u64,
    pub positions_checked: u64,
    pub census_waiting: u64,
    pub cleaned_up: u64,
    pub server_waiting_at_quiescence: Option<u64>,
    pub server_errors_5xx: u64,
    pub unavailable_503_429: u64,
    pub answers: BTreeMap<String, u64>,
    pub transport_errors: BTreeMap<String, u64>,
    /// Requests moved to another instance after failing on the wire (`--failover`).
    pub failovers: u64,
    /// Fans of `fans` that never got a place (enter never answered with one).
    pub never_entered: u64,
    /// Requests answered or failed, and of them the ones that were faults (5xx, 503,
    /// 429, transport errors).
    pub requests: u64,
    pub faulty_requests: u64,
    /// A WAITING answer counts as an overtake only when sent this long after a later
    /// fan was seen ACTIVE (`--overtake-grace-ms`).
    pub overtake_grace_ms: u64,
    /// Faults this run was told to accept (`--allow-503`, `--allow-429`), with counts:
    /// printed in the verdict, never silently dropped.
    pub allowed: Vec<String>,
    pub sse_streams: u64,
    pub sse_refused: u64,
    pub sse_events: u64,
    pub redis: Option<RedisFigures>,
    pub server_rss: Option<RssFigures>,
    pub simulator_bytes_per_fan: f64,
    pub failed_checks: Vec<String>,
    pub samples: Vec<Sample>,
}

/// What the probes saw around the churn phase.
pub struct Probes {
    pub redis_memory_before: Option<u64>,
    /// Calls per command, before and after the churn phase.
    pub commands_before: Option<BTreeMap<String, u64>>,
    pub commands_after: Option<BTreeMap<String, u64>>,
    pub rss_before: Option<u64>,
    pub samples: Vec<Sample>,
}

fn per_s(n: u64, s: f64) -> f64 {
    if s > 0.0 { n as f64 / s } else { 0.0 }
}

fn ratio(a: f64, b: u64) -> Option<f64> {
    (b > 0).then(|| a / b as f64)
}

impl Report {
    pub fn new(args: &Args, t: &Tally, p: Probes) -> Report {
        let enter_window = t
            .first_enter_us
            .map_or(0.0, |f| t.last_enter_us.saturating_sub(f) as f64 / 1e6);
        let peak = p
            .samples
            .iter()
            .filter(|s| s.waiting.is_some())
            .max_by_key(|s| s.waiting.unwrap_or(0));
        let waiting_at_peak = peak.and_then(|s| s.waiting).unwrap_or(0);
        let redis = match (p.redis_memory_before, &p.commands_before, &p.commands_after) {
            (Some(before), Some(cb), Some(ca)) => {
                let mut delta: Vec<(String, u64)> = ca
                    .iter()
                    .filter(|(k, _)| k.as_str() != "info")
                    .map(|(k, v)| (k.clone(), v.saturating_sub(*cb.get(k).unwrap_or(&0))))
                    .filter(|(_, d)| *d > 0)
                    .collect();
                delta.sort_by_key(|d| std::cmp::Reverse(d.1));
                let commands: u64 = delta.iter().map(|d| d.1).sum();
                let at_peak = peak.and_then(|s| s.redis_used_memory).unwrap_or(before);
                Some(RedisFigures {
                    used_memory_before: before,
                    used_memory_at_peak: at_peak,
                    waiting_at_peak,
                    bytes_per_waiting_fan: ratio(
                        at_peak.saturating_sub(before) as f64,
                        waiting_at_peak,
                    ),
                    commands,
                    commands_per_status_answer: ratio(commands as f64, t.status_answers),
                    top_commands: delta
                        .into_iter()
                        .take(8)
                        .map(|(k, d)| {
                            let r = ratio(d as f64, t.status_answers).unwrap_or(0.0);
                            (k, d, r)
                        })
                        .collect(),
                })
            }
            _ => None,
        };
        let server_rss = p.rss_before.map(|before| {
            let peak_rss = p
                .samples
                .iter()
                .filter_map(|s| s.server_rss)
                .max()
                .unwrap_or(before);
            RssFigures {
                before,
                peak: peak_rss,
                waiting_at_peak,
                bytes_per_waiting_fan: ratio(
                    peak_rss.saturating_sub(before) as f64,
                    waiting_at_peak,
                ),
            }
        });
        let mut r = Report {
            provenance: Provenance::here(),
            fans: args.fans,
            targets: args.targets.len(),
            sticky: args.sticky,
            connections: args.connections,
            concurrency: args.concurrency(),
            arrival_rate: args.arrival_rate,
            entry_order: t.order,
            run_s: t.run_s,
            quiescence_s: t.quiescence_s,
            entered: t.entered,
            entered_existing: t.entered_existing,
            enters_per_s: per_s(t.entered + t.entered_existing, enter_window),
            status_answers: t.status_answers,
            status_per_s: per_s(t.status_answers, t.run_s),
            latency_ms: crate::http::ENDPOINTS
                .iter()
                .zip(&t.latency)
                .filter(|(_, h)| !h.is_empty())
                .map(|(n, h)| (*n, Quantiles::of(h, 1000.0)))
                .collect(),
            admission_notice_delay_ms: Quantiles::of(&t.admission_delay, 1.0),
            poll_lateness_ms: Quantiles::of(&t.poll_lateness, 1.0),
            admission_notice_delay_streamed_ms: Quantiles::of(&t.admission_delay_streamed, 1.0),
            front_streams: t.front_streams,
            admitted_seen: t.admitted_seen,
            released: t.released,
            left: t.left,
            idled: t.idled,
            expired_waiting: t.expired_waiting,
            idle_kept: t.idle_kept,
            lost_polling: t.lost_polling,
            failed: t.failed,
            overtakes: t.overtakes,
            overtaken_fans: t.overtaken_fans,
            positions_up: t.positions_up,
            position_errors: t.position_errors,
            positions_checked: t.positions_checked,
            census_waiting: t.census_waiting,
            cleaned_up: t.cleaned_up,
            server_waiting_at_quiescence: t.server_waiting_at_quiescence,
            server_errors_5xx: t.server_errors,
            unavailable_503_429: t.unavailable,
            answers: t.codes.clone(),
            transport_errors: t.transport_errors.clone(),
            failovers: t.failovers,
            never_entered: u64::from(args.fans).saturating_sub(t.entered + t.entered_existing),
            requests: t.codes.values().sum::<u64>() + t.transport_errors.values().sum::<u64>(),
            faulty_requests: t.server_errors
                + t.codes
                    .iter()
                    .filter(|(k, _)| k.ends_with(" 429") || k.ends_with(" 408"))
                    .map(|(_, v)| v)
                    .sum::<u64>()
                + t.transport_errors.values().sum::<u64>(),
            overtake_grace_ms: args.overtake_grace_ms,
            allowed: Vec::new(),
            sse_streams: t.sse_streams,
            sse_refused: t.sse_refused,
            sse_events: t.sse_events,
            redis,
            server_rss,
            simulator_bytes_per_fan: t.fan_bytes as f64 / f64::from(args.fans.max(1)),
            failed_checks: Vec::new(),
            samples: p.samples,
        };
        (r.failed_checks, r.allowed) = r.verdict(args);
        r
    }

    /// Answers of one status code, over every endpoint.
    fn code(&self, code: u16) -> u64 {
        let suffix = format!(" {code}");
        self.answers
            .iter()
            .filter(|(k, _)| k.ends_with(&suffix))
            .map(|(_, v)| v)
            .sum()
    }

    /// What failed the run, and what it was told to accept. Every fault a fan could
    /// meet fails it: a broken promise of the line (overtakes, wrong or rising
    /// positions, lost places, idle fans kept), an answer that is not one (5xx,
    /// transport errors), load shed on a fan (503, 429) unless the run allows it, and a
    /// fan who never got a place — a run that did not test every fan it claims.
    pub fn verdict(&self, args: &Args) -> (Vec<String>, Vec<String>) {
        let mut f = Vec::new();
        let mut check = |n: u64, what: &str| {
            if n > 0 {
                f.push(format!("{what}: {n}"));
            }
        };
        check(self.overtakes, "overtakes");
        check(self.position_errors, "position errors at quiescence");
        check(self.positions_up, "positions that went up");
        check(
            self.idle_kept,
            "idle fans still in line after the drop bound",
        );
        check(
            self.expired_waiting,
            "places lost (EXPIRED or 401 while in line)",
        );
        let (s503, s429, s408) = (self.code(503), self.code(429), self.code(408));
        check(
            self.server_errors_5xx - s503,
            "5xx answers (other than 503)",
        );
        check(self.transport_errors.values().sum(), "transport errors");
        check(self.never_entered, "fans who never got a place");
        check(self.failed, "fans given up after 20 failed tries");
        let mut allowed = Vec::new();
        if args.failover {
            allowed.push(format!(
                "{} requests moved to another instance after failing on the wire (--failover)",
                self.failovers
            ));
        }
        for (n, code, allow, flag) in [
            (s503, 503, args.allow_503, "--allow-503"),
            (s408, 408, args.allow_503, "--allow-503"),
            (s429, 429, args.allow_429, "--allow-429"),
        ] {
            if allow {
                allowed.push(format!("{n} × {code} ({flag})"));
            } else {
                check(n, &format!("{code} answers"));
            }
        }
        (f, allowed)
    }

    pub fn markdown(&self) -> String {
        let mut s = self.provenance.markdown();
        s.push('\n');
        let approx = match self.entry_order {
            OrderSource::Exact => "exact (token seq)",
            OrderSource::Approximate => {
                "APPROXIMATE (enter send/answer times; only certain orders checked)"
            }
            OrderSource::Unknown => "unknown",
        };
        let mut row = |k: &str, v: String| {
            let _ = writeln!(s, "| {k} | {v} |");
        };
        row("figure", "value".into());
        row("---", "---".into());
        row(
            "fans",
            format!(
                "{} ({} entered, {} had a place already; {} target(s), {}, {} connections)",
                self.fans,
                self.entered,
                self.entered_existing,
                self.targets,
                if self.sticky { "sticky" } else { "spread" },
                self.connections
            ),
        );
        row(
            "run",
            format!(
                "{:.1} s churn + {:.1} s quiescence",
                self.run_s, self.quiescence_s
            ),
        );
        row(
            "enters/s",
            format!(
                "{:.0} (offered {:.0})",
                self.enters_per_s, self.arrival_rate
            ),
        );
        row(
            "status answers/s",
            format!("{:.0} ({} answers)", self.status_per_s, self.status_answers),
        );
        for (n, q) in &self.latency_ms {
            row(
                &format!("latency {n} p50 / p99 / max"),
                format!(
                    "{:.2} / {:.2} / {:.1} ms ({} answers)",
                    q.p50, q.p99, q.max, q.count
                ),
            );
        }
        let d = &self.admission_notice_delay_ms;
        row(
            "admission-notice delay p50 / p99",
            format!("{:.0} / {:.0} ms ({} fans)", d.p50, d.p99, d.count),
        );
        let d = &self.admission_notice_delay_streamed_ms;
        row(
            "admission-notice delay p50 / p99, fans streaming at the front",
            format!("{:.0} / {:.0} ms ({} fans)", d.p50, d.p99, d.count),
        );
        let l = &self.poll_lateness_ms;
        row(
            "simulator poll lateness p50 / p99 / max",
            format!(
                "{:.0} / {:.0} / {:.0} ms ({} polls; {} fans streamed near the front)",
                l.p50, l.p99, l.max, l.count, self.front_streams
            ),
        );
        row(
            "admitted seen / released / left / idled / left at cleanup",
            format!(
                "{} / {} / {} / {} / {}",
                self.admitted_seen, self.released, self.left, self.idled, self.cleaned_up
            ),
        );
        row("entry order", approx.into());
        row(
            "overtakes",
            format!(
                "{} answers ({} fans; grace {} ms after a later fan was seen ACTIVE)",
                self.overtakes, self.overtaken_fans, self.overtake_grace_ms
            ),
        );
        row(
            "position errors at quiescence",
            format!(
                "{} of {} checked (census {}, server says {} waiting)",
                self.position_errors,
                self.positions_checked,
                self.census_waiting,
                self.server_waiting_at_quiescence
                    .map_or("?".into(), |w| w.to_string())
            ),
        );
        row("positions that went up", self.positions_up.to_string());
        row(
            "lost places (EXPIRED/401 while polling)",
            format!(
                "{} ({} told WAITING within the idle timeout before; the others were polled \
                 later than it, the simulator having fallen behind: either fails the run)",
                self.expired_waiting, self.lost_polling
            ),
        );
        row(
            "idle fans still in line after the drop bound",
            self.idle_kept.to_string(),
        );
        row(
            "5xx (503 included) / 503+429+408 / transport errors",
            format!(
                "{} / {} / {}",
                self.server_errors_5xx,
                self.unavailable_503_429,
                self.transport_errors.values().sum::<u64>()
            ),
        );
        row(
            "requests moved to another instance after failing on the wire (--failover)",
            self.failovers.to_string(),
        );
        row(
            "faulty requests (5xx, 429, 408, transport errors)",
            format!(
                "{} of {} ({})",
                self.faulty_requests,
                self.requests,
                percent(self.faulty_requests, self.requests)
            ),
        );
        row(
            "fans who never got a place",
            format!(
                "{} of {} ({}; {} given up after 20 failed tries)",
                self.never_entered,
                self.fans,
                percent(self.never_entered, u64::from(self.fans)),
                self.failed
            ),
        );
        if self.sse_streams + self.sse_refused > 0 {
            row(
                "SSE streams / refused / events",
                format!(
                    "{} / {} / {}",
                    self.sse_streams, self.sse_refused, self.sse_events
                ),
            );
        }
        if let Some(r) = &self.redis {
            row(
                "Redis used_memory per waiting fan",
                format!(
                    "{} B ({:.1} MB at peak of {} waiting, {:.1} MB before)",
                    r.bytes_per_waiting_fan
                        .map_or("?".into(), |b| format!("{b:.0}")),
                    r.used_memory_at_peak as f64 / 1e6,
                    r.waiting_at_peak,
                    r.used_memory_before as f64 / 1e6
                ),
            );
            row(
                "Redis commands per status answer",
                format!(
                    "{} ({} commands)",
                    r.commands_per_status_answer
                        .map_or("?".into(), |c| format!("{c:.2}")),
                    r.commands
                ),
            );
            let top: Vec<String> = r
                .top_commands
                .iter()
                .map(|(k, _, per)| format!("{k} {per:.2}"))
                .collect();
            row("Redis top commands (per status)", top.join(", "));
        }
        if let Some(r) = &self.server_rss {
            row(
                "server RSS per waiting fan",
                format!(
                    "{} B ({:.1} MB peak, {:.1} MB before)",
                    r.bytes_per_waiting_fan
                        .map_or("?".into(), |b| format!("{b:.0}")),
                    r.peak as f64 / 1e6,
                    r.before as f64 / 1e6
                ),
            );
        }
        row(
            "simulator memory per fan",
            format!("{:.0} B", self.simulator_bytes_per_fan),
        );
        let allowed = if self.allowed.is_empty() {
            String::new()
        } else {
            format!("; faults this run allowed: {}", self.allowed.join(", "))
        };
        row(
            "result",
            if self.failed_checks.is_empty() && self.allowed.is_empty() {
                "all invariants held, no fault".into()
            } else if self.failed_checks.is_empty() {
                format!("all invariants held{allowed}")
            } else {
                format!("FAILED: {}{allowed}", self.failed_checks.join("; "))
            },
        );
        s
    }
}

/// `n` of `d` as a percentage with enough digits that a non-zero share never reads as
/// zero (0.15 % stays 0.15 %, 1 in a million reads 0.0001 %).
pub fn percent(n: u64, d: u64) -> String {
    if n == 0 || d == 0 {
        return "0 %".into();
    }
    let p = 100.0 * n as f64 / d as f64;
    // Two significant digits at least.
    let digits = (1.0 - p.log10().floor()).max(1.0) as usize;
    format!("{p:.digits$} %")
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn a_failure_rate_never_reads_as_zero() {
        assert_eq!(percent(0, 10), "0 %");
        assert_eq!(percent(15, 10_000), "0.15 %");
        assert_eq!(percent(1, 1_000_000), "0.00010 %");
        assert_eq!(percent(1_153, 1_040_000), "0.11 %");
        assert_eq!(percent(1, 3), "33.3 %");
        assert_eq!(percent(10, 10), "100.0 %");
    }
}
