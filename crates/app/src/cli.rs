//! The command line: `serve`, `migrate`, `demo`. `--help` documents every setting.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "frontrow",
    version,
    about = "Waiting room and booking service for concert on-sales",
    after_help = crate::settings_table::help()
)]
pub struct Cli {
    /// Directory holding base.toml and $FRONTROW_ENVIRONMENT.toml (both optional).
    #[arg(
        long,
        global = true,
        default_value = "config",
        env = "FRONTROW_CONFIG_DIR"
    )]
    pub config_dir: PathBuf,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default). Applies pending migrations first.
    Serve {
        /// Load the demo concert before serving.
        #[arg(long)]
        demo: bool,
    },
    /// Manage the database schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Load the demo concert (idempotent) and exit.
    Demo,
    /// Check a concert's on-sale draw on a running service: fetches the draw document
    /// and every receipt, checks SHA-256(seed) against the commitment and recomputes
    /// the order. Exits 0 only when everything matches.
    VerifyDraw {
        /// The service, e.g. http://127.0.0.1:8080
        base_url: String,
        /// The concert whose draw to check.
        concert_id: i64,
    },
    /// The offline gate: verify ticket codes against a gate kit with no network.
    Gate {
        #[command(subcommand)]
        action: GateAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum GateAction {
    /// Verify codes against the kit (GET /api/v1/schedules/{id}/gate-kit saved to a
    /// file): one JSON line per code with its `result`. Every scan is kept in
    /// `<kit>.scans.jsonl` (lines of POST /api/v1/checkins/batch); a ticket admitted
    /// once on this device is `already_redeemed` the next time.
    Verify {
        /// The gate kit file.
        #[arg(long)]
        kit: PathBuf,
        /// This gate's name.
        #[arg(long, default_value = "offline")]
        gate: String,
        /// This device's name.
        #[arg(long, default_value = "cli")]
        device: String,
        /// Verify as of this instant (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        /// The scanned codes; `-` reads codes from standard input, one a line (for many:
        /// their signatures are checked together).
        #[arg(required = true)]
        codes: Vec<String>,
    },
    /// Merge the revocations changed since the kit was made (GET …/gate-kit?since=).
    Sync {
        #[arg(long)]
        kit: PathBuf,
        /// The service, e.g. http://127.0.0.1:8080
        #[arg(long)]
        url: String,
        /// The gate key of the kit's schedule.
        #[arg(long, env = "FRONTROW_GATE_KEY", hide_env_values = true)]
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the last migration (or --steps N).
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}
