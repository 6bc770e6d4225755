//! The command line: `serve`, `migrate`, `demo`. `--help` documents every setting.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::settings::SETTINGS_HELP;

#[derive(Debug, Parser)]
#[command(
    name = "frontrow",
    version,
    about = "Waiting room and booking service for concert on-sales",
    after_help = SETTINGS_HELP
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
