//! `frontrow`: serve, migrate, load the demo concert.

use std::process::ExitCode;

use clap::Parser;
use frontrow_app::cli::{Cli, Command, GateAction, MigrateAction};
use frontrow_app::startup::{connect_store, load_demo};
use frontrow_app::{Application, Settings, telemetry};

/// mimalloc instead of glibc malloc: measured under wrk on the status endpoint, glibc's
/// malloc/free took about 15 % of the server's CPU. The `system-allocator` feature keeps
/// the system's malloc, for heap profilers that intercept it (heaptrack, valgrind).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.config_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("frontrow: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_tracing(settings.telemetry.json, &settings.telemetry.log_filter);
    match run(
        cli.command.unwrap_or(Command::Serve { demo: false }),
        settings,
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("frontrow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `frontrow gate …`: offline verification and kit sync.
async fn gate(action: GateAction) -> anyhow::Result<()> {
    use std::io::Write;
    match action {
        GateAction::Verify {
            kit,
            gate,
            device,
            at,
            codes,
        } => {
            let mut g = frontrow_app::gate::OfflineGate::open(&kit)?;
            let codes = frontrow_app::gate::codes_of(codes, std::io::stdin().lock())?;
            let verdicts = g.verify(&codes, &gate, &device, at.unwrap_or_else(chrono::Utc::now))?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for v in verdicts {
                serde_json::to_writer(&mut out, &v)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(())
        }
        GateAction::Sync { kit, url, key } => {
            let n = frontrow_app::gate::sync(&kit, &url, &key).await?;
            println!("{n} revocation(s) merged into {}", kit.display());
            Ok(())
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo } => {
            if settings.uses_dev_secrets() {
                tracing::warn!(
                    "using development defaults for auth.jwt_secret / auth.admin_key: set \
                     FRONTROW__AUTH__JWT_SECRET and FRONTROW__AUTH__ADMIN_KEY in production"
                );
            }
            if let Some(n) = settings.booking.max_held_per_user {
                tracing::warn!(
                    max_held_per_user = n,
                    "booking.max_held_per_user is ignored: a one-seat hold is an order of one, \
                     limited by booking.max_tickets_per_fan"
                );
            }
            if settings.redis_url().is_none() {
                tracing::warn!(
                    "redis.url is not set: using the in-memory queue (one instance only)"
                );
            }
            if demo {
                let id = load_demo(&settings).await?;
                tracing::info!(concert_id = id, "demo concert ready");
            }
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "frontrow listening");
            app.run_until_stopped().await
        }
        Command::VerifyDraw {
            base_url,
            concert_id,
        } => {
            let summary = frontrow_app::verify::verify_draw(&base_url, concert_id).await?;
            println!("{summary}");
            Ok(())
        }
        Command::Gate { action } => gate(action).await,
        Command::Demo => {
            let id = load_demo(&settings).await?;
            println!("demo concert id: {id}");
            Ok(())
        }
        Command::Migrate { action } => {
            let store = connect_store(&settings).await?;
            match action {
                MigrateAction::Up => {
                    store.migrate_up().await?;
                    println!("migrations applied");
                }
                MigrateAction::Down { steps } => {
                    store.migrate_down(Some(steps)).await?;
                    println!("rolled back {steps} migration(s)");
                }
                MigrateAction::Status => {
                    for (name, applied) in store.migrate_status().await? {
                        println!("{} {name}", if applied { "applied" } else { "pending" });
                    }
                }
            }
            let _ = store.close().await;
            Ok(())
        }
    }
}
