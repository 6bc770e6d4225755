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
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
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
    /// Orders waiting to be placed in a group (`place.rs`).
    pub(crate) placing: std::sync::Arc<crate::place::PlaceQueue>,
    /// Where the pool connects, and how patiently: the migration lock opens a
    /// connection of its own there.
    url: String,
    connect_timeout: Duration,
}

/// The PostgreSQL advisory lock (and the MariaDB/MySQL named lock) one migrating
/// instance holds at a time.
const MIGRATION_LOCK_KEY: i64 = 0x6672_6f6e_7472_6f77; // "frontrow"
const MIGRATION_LOCK_NAME: &str = "frontrow_migrations";
/// How long an instance waits for another instance's migrations (MariaDB's lock wait).
const MIGRATION_LOCK_WAIT_SECONDS: u32 = 600;

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
        let mut co = ConnectOptions::new(url.clone());
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
            placing: std::sync::Arc::default(),
            url,
            connect_timeout: opts.connect_timeout,
        })
    }

    /// Applies every pending migration. Instances started together take turns: on
    /// PostgreSQL and MariaDB/MySQL the one migrating holds a lock of the database (on a
    /// connection of its own) and the others wait for it, then find the steps applied
    /// (two applying one step at once failed: "column already exists"). SQLite serves one
    /// instance.
    ///
    /// # Errors
    /// When a migration fails or the lock cannot be had.
    pub async fn migrate_up(&self) -> anyhow::Result<()> {
        let backend = self.db.get_database_backend();
        if backend == DbBackend::Sqlite {
            return Migrator::up(&self.db, None)
                .await
                .context("migrating up failed");
        }
        let mut co = ConnectOptions::new(self.url.clone());
        co.max_connections(1)
            .min_connections(1)
            .connect_timeout(self.connect_timeout)
            .sqlx_logging(false);
        let lock_db = Database::connect(co)
            .await
            .context("cannot connect for the migration lock")?;
        // A transaction keeps the lock's statements on the one connection.
        let held = lock_db.begin().await.context("the migration lock")?;
        let (take, give_back) = match backend {
            DbBackend::Postgres => (
                format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"),
                None,
            ),
            _ => (
                format!("SELECT GET_LOCK('{MIGRATION_LOCK_NAME}', {MIGRATION_LOCK_WAIT_SECONDS})"),
                Some(format!("SELECT RELEASE_LOCK('{MIGRATION_LOCK_NAME}')")),
            ),
        };
        let row = held
            .query_one_raw(Statement::from_string(backend, take))
            .await
            .context("waiting for another instance's migrations")?;
        if backend != DbBackend::Postgres {
            let got: Option<i64> = row
                .as_ref()
                .map(|r| r.try_get_by_index::<Option<i64>>(0))
                .transpose()
                .context("the migration lock's answer")?
                .flatten();
            anyhow::ensure!(
                got == Some(1),
                "another instance held the migration lock for {MIGRATION_LOCK_WAIT_SECONDS} s"
            );
        }
        let migrated = Migrator::up(&self.db, None).await;
        if let Some(sql) = give_back {
            let _ = held.execute_unprepared(&sql).await;
        }
        let _ = held.commit().await;
        let _ = lock_db.close().await;
        migrated.context("migrating up failed")
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
