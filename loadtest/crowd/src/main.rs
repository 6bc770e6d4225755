//! `frontrow-crowd`: plays a crowd of fans against frontrow's waiting room.
//! See `loadtest/crowd/README.md` for what it measures and how.

mod args;
mod http;
mod probe;
mod provenance;
mod report;
mod sim;
mod token;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::args::Args;
use crate::http::{Admin, Policy, Wire, no_inventory_bound};
use crate::probe::{RedisProbe, Sample};
use crate::report::{Probes, Report};
use crate::sim::{Phases, Sim};

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let result = match rt {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("frontrow-crowd: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Stops the sampler and reads the Redis command counts when churn ends, then pauses.
struct Hooks {
    admin: Arc<Admin>,
    policy: Policy,
    stop_sampler: Option<watch::Sender<bool>>,
    sampler: Option<JoinHandle<Option<RedisProbe>>>,
    commands_after: Option<BTreeMap<String, u64>>,
    paused: bool,
}

impl Hooks {
    async fn end_of_churn(&mut self) {
        if let Some(stop) = self.stop_sampler.take() {
            let _ = stop.send(true);
        }
        if let Some(sampler) = self.sampler.take()
            && let Ok(Some(mut redis)) = sampler.await
        {
            self.commands_after = redis.commandstats().await.ok();
        }
    }
}

impl Phases for Hooks {
    async fn churn_over(&mut self) {
        self.end_of_churn().await;
    }

    async fn quiesce(&mut self) -> anyhow::Result<()> {
        self.admin
            .set_policy(Policy {
                paused: true,
                ..self.policy
            })
            .await
            .context("pausing admissions for the quiescence check")?;
        self.paused = true;
        Ok(())
    }

    async fn server_waiting(&mut self) -> Option<u64> {
        self.admin.stats().await.ok().map(|s| s.waiting)
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.validate()?;
    let admin = Arc::new(Admin::new(&args.targets[0], args.concert, &args.admin_key)?);
    let original = admin
        .policy()
        .await
        .context("reading the concert's queue policy (does the concert exist?)")?;
    let policy = match args.policy()? {
        Some((max_active, admit_per_second, active_ttl_seconds)) => {
            admin
                .set_policy(Policy {
                    max_active,
                    admit_per_second,
                    active_ttl_seconds,
                    paused: false,
                    admit_per_seat: no_inventory_bound(),
                })
                .await?
        }
        None => {
            admin
                .set_policy(Policy {
                    admit_per_seat: no_inventory_bound(),
                    ..original
                })
                .await?
        }
    };
    eprintln!(
        "[crowd] {} fans at {}/s on {} target(s); policy max_active {} admit {}/s ttl {} s{}",
        args.fans,
        args.arrival_rate,
        args.targets.len(),
        policy.max_active,
        policy.admit_per_second,
        policy.active_ttl_seconds,
        if policy.paused { " PAUSED" } else { "" }
    );

    let mut redis = match &args.redis {
        Some(u) => Some(
            RedisProbe::connect(u)
                .await
                .with_context(|| format!("connecting to Redis {u}"))?,
        ),
        None => None,
    };
    let (memory_before, commands_before) = match redis.as_mut() {
        Some(r) => (Some(r.used_memory().await?), Some(r.commandstats().await?)),
        None => (None, None),
    };
    let rss_before = probe::rss_bytes(&args.server_pids);

    let wire = Arc::new(
        Wire::new(
            &args.targets,
            args.concert,
            args.connections,
            args.source_addrs,
            Duration::from_millis(args.timeout_ms),
            &args.jwt_secret,
        )?
        .with_failover(args.failover),
    );
    let mut sim = Sim::new(args.clone(), wire, policy.active_ttl_seconds)?;
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let sampler = tokio::spawn(probe::sample(
        admin.clone(),
        redis,
        args.server_pids.clone(),
        Duration::from_millis(args.sample_ms.max(50)),
        tokio::time::Instant::now(),
        samples.clone(),
        stop_rx,
    ));
    let mut hooks = Hooks {
        admin: admin.clone(),
        policy,
        stop_sampler: Some(stop_tx),
        sampler: Some(sampler),
        commands_after: None,
        paused: false,
    };
    let outcome = sim.run(&mut hooks).await;
    hooks.end_of_churn().await;
    if (hooks.paused || args.policy.is_some())
        && let Err(e) = admin.set_policy(original).await
    {
        eprintln!("[crowd] could not restore the queue policy: {e:#}");
    }
    outcome?;

    let probes = Probes {
        redis_memory_before: memory_before,
        commands_before,
        commands_after: hooks.commands_after.take(),
        rss_before,
        samples: samples.lock().map(|s| s.clone()).unwrap_or_default(),
    };
    let report = Report::new(&args, &sim.tally, probes);
    println!("{}", report.markdown());
    if let Some(path) = &args.out {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("[crowd] wrote {}", path.display());
    }
    Ok(if report.failed_checks.is_empty() || args.no_fail {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
