//! `SeaOrmStore`: the connection pool, migrations, health and the ports it hands out.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use frontrow_domain::boxoffice::port::OrderRepository;
use frontrow_domain::draw_archive::DrawArchive;
use frontrow_domain::error::StoreError;
use frontrow_domain::ports::{
    CatalogRepository, PaymentRepository, SeatRepository, UserRepository, WalletRepository,
};
use frontrow_domain::returns::port::ReturnsRepository;
use frontrow_domain::tickets::port::TicketRepository;
use frontrow_migration::{MigrationStatus, Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::errors::store_err;

/// Pool settings (the app's `database` settings hold the defaults).
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    pub acquire_timeout: Duration,
    pub seat_claim: SeatClaim,
}

/// How an order claims its seats. Both are all-or-nothing and leave the database the
/// judge (the unique live-seat index stands behind either).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SeatClaim {
    /// One conditional `UPDATE … WHERE <free>` over the order's seats: a seat another
    /// transaction is claiming is waited for, then judged on what that one committed.
    #[default]
    Conditional,
    /// First `SELECT … FOR UPDATE SKIP LOCKED` over the order's free seats: a seat another
    /// transaction is claiming is not waited for, the order is refused at once (and
    /// best-available plans again). PostgreSQL and MariaDB/MySQL; SQLite, which locks the
    /// whole database for a write, claims conditionally either way.
    SkipLocked,
}

/// A snapshot of the connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// Every repository port, backed by one store.
#[derive(Clone)]
pub struct StorePorts {
    pub users: Arc<dyn UserRepository>,
    pub catalog: Arc<dyn CatalogRepository>,
    pub seats: Arc<dyn SeatRepository>,
    pub wallets: Arc<dyn WalletRepository>,
    pub payments: Arc<dyn PaymentRepository>,
    pub orders: Arc<dyn OrderRepository>,
    pub tickets: Arc<dyn TicketRepository>,
    pub draws: Arc<dyn DrawArchive>,
    pub returns: Arc<dyn ReturnsRepository>,
}

/// The SQL store: one pool, implementing all the repository ports.
#[derive(Clone, Debug)]
pub struct SeaOrmStore {
    pub(crate) db: DatabaseConnection,
    pub(crate) seat_claim: SeatClaim,
}

/// How long a SQLite connection waits for the write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(15);

impl SeaOrmStore {
    /// Connects to `url` (`sqlite:…`, `mysql://…` or `postgres://…`).
    ///
    /// # Errors
    /// When the URL is malformed or the database cannot be reached.
    pub async fn connect(url: &str, opts: &DbOptions) -> Result<Self, anyhow::Error> {
        let is_sqlite = url.starts_with("sqlite:");
        let url = if is_sqlite && !url.contains("mode=") && !url.contains(":memory:") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        } else {
            url.to_owned()
        };
        let mut co = ConnectOptions::new(url);
        co.max_connections(opts.max_connections)
            .min_connections(0)
            .connect_timeout(opts.connect_timeout)
            .acquire_timeout(opts.acquire_timeout)
            .sqlx_logging(false);
        if is_sqlite {
            co.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
            });
        }
        let db = Database::connect(co)
            .await
            .context("cannot connect to the database")?;
        Ok(SeaOrmStore {
            db,
            seat_claim: opts.seat_claim,
        })
    }

    /// Applies every pending migration.
    ///
    /// # Errors
    /// When a migration fails.
    pub async fn migrate_up(&self) -> anyhow::Result<()> {
        Migrator::up(&self.db, None)
            .await
            .context("migrating up failed")
    }

    /// Applies the next `steps` pending migrations.
    ///
    /// # Errors
    /// When a migration fails.
    pub async fn migrate_up_by(&self, steps: u32) -> anyhow::Result<()> {
        Migrator::up(&self.db, Some(steps))
            .await
            .context("migrating up failed")
    }

    /// Rolls back `steps` migrations (all when `None`).
    ///
    /// # Errors
    /// When a migration fails.
    pub async fn migrate_down(&self, steps: Option<u32>) -> anyhow::Result<()> {
        Migrator::down(&self.db, steps)
            .await
            .context("migrating down failed")
    }

    /// Every known migration by name, with whether it is applied.
    ///
    /// # Errors
    /// When the migration table cannot be read.
    pub async fn migrate_status(&self) -> anyhow::Result<Vec<(String, bool)>> {
        let all = Migrator::get_migration_with_status(&self.db)
            .await
            .context("reading migration status failed")?;
        Ok(all
            .iter()
            .map(|m| (m.name().to_owned(), m.status() == MigrationStatus::Applied))
            .collect())
    }

    /// Checks the database answers.
    ///
    /// # Errors
    /// `StoreError` when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(store_err)
    }

    /// `"sqlite"`, `"mysql"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Sqlite => "sqlite",
            DbBackend::MySql => "mysql",
            DbBackend::Postgres => "postgres",
            _ => "unknown",
        }
    }

    /// The pool's current size, idle connections and limit.
    pub fn pool_stats(&self) -> PoolStats {
        fn stats<DB: sea_orm::sqlx::Database>(p: &sea_orm::sqlx::Pool<DB>) -> PoolStats {
            PoolStats {
                size: p.size(),
                idle: u32::try_from(p.num_idle()).unwrap_or(u32::MAX),
                max: p.options().get_max_connections(),
            }
        }
        match self.db.get_database_backend() {
            DbBackend::Sqlite => stats(self.db.get_sqlite_connection_pool()),
            DbBackend::MySql => stats(self.db.get_mysql_connection_pool()),
            DbBackend::Postgres => stats(self.db.get_postgres_connection_pool()),
            _ => PoolStats {
                size: 0,
                idle: 0,
                max: 0,
            },
        }
    }

    /// Every repository port, sharing this store's pool.
    pub fn ports(&self) -> StorePorts {
        let me = Arc::new(self.clone());
        StorePorts {
            users: me.clone(),
            catalog: me.clone(),
            seats: me.clone(),
            wallets: me.clone(),
            payments: me.clone(),
            orders: me.clone(),
            tickets: me.clone(),
            draws: me.clone(),
            returns: me,
        }
    }

    /// The underlying connection (pool).
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Closes the pool, waiting for connections in use to be returned.
    ///
    /// # Errors
    /// When closing fails.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.db.close_by_ref().await.map_err(store_err)
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock is taken
    /// up front, waiting up to the busy timeout, so no later statement can fail to
    /// upgrade a read lock); a plain `BEGIN` elsewhere.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        if self.db.get_database_backend() == DbBackend::Sqlite {
            self.db
                .begin_with_options(TransactionOptions {
                    sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    ..TransactionOptions::default()
                })
                .await
        } else {
            self.db.begin().await
        }
    }
}
