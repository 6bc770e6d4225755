//! Fresh databases per test (SQLite, MariaDB, PostgreSQL).
//!
//! Each call to [`fresh_store`] makes a database of its own, named by a UUID, on the
//! server `scripts/test.sh` started (or a new SQLite file), and migrates it.

use std::time::Duration;

use frontrow_seaorm::{DbOptions, SeaOrmStore};
use sea_orm::{ConnectionTrait, Database};

/// The SQL backends the repository contract runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::MySql => "mysql",
            Backend::Postgres => "postgres",
        }
    }
}

/// Pool settings for tests: big enough for a thousand queued tasks, patient enough that
/// they never time out waiting for a connection.
pub fn test_options(backend: Backend) -> DbOptions {
    DbOptions {
        max_connections: match backend {
            Backend::Sqlite => 16,
            Backend::MySql | Backend::Postgres => 64,
        },
        connect_timeout: Duration::from_secs(10),
        acquire_timeout: Duration::from_secs(60),
        seat_claim: frontrow_seaorm::SeatClaim::default(),
    }
}

/// Rolls `store` back to just before migration `name` (it and every later one undone), so
/// a test of `name` keeps working when later migrations land.
///
/// # Panics
/// When `name` is not an applied migration or a step back fails.
#[allow(clippy::expect_used)]
pub async fn migrate_down_to_before(store: &SeaOrmStore, name: &str) {
    let status = store.migrate_status().await.expect("migration status");
    let at = status
        .iter()
        .position(|(n, applied)| n == name && *applied)
        .unwrap_or_else(|| panic!("{name} is not an applied migration"));
    let steps = u32::try_from(status.len() - at).expect("a few migrations");
    store
        .migrate_down(Some(steps))
        .await
        .expect("migrating down");
}

/// A migrated store on a database nobody else uses.
///
/// # Panics
/// When the server's variable is missing (run through `scripts/test.sh`) or the database
/// cannot be created or migrated.
#[allow(clippy::expect_used)]
pub async fn fresh_store(backend: Backend) -> SeaOrmStore {
    let name = format!("frontrow_{}", uuid::Uuid::new_v4().simple());
    let url = match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{name}.sqlite"));
            format!("sqlite://{}?mode=rwc", path.display())
        }
        Backend::MySql | Backend::Postgres => {
            let (var, what) = match backend {
                Backend::MySql => ("FRONTROW_TEST_MYSQL_URL", "a MariaDB/MySQL server"),
                _ => ("FRONTROW_TEST_POSTGRES_URL", "a PostgreSQL server"),
            };
            let admin = crate::required_env(var, what);
            let admin = admin.trim_end_matches('/').to_owned();
            let conn = Database::connect(admin.as_str())
                .await
                .expect("cannot connect to the test server's admin URL");
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("cannot create the test database");
            conn.close().await.ok();
            format!("{admin}/{name}")
        }
    };
    let store = SeaOrmStore::connect(&url, &test_options(backend))
        .await
        .expect("cannot connect to the fresh test database");
    store.migrate_up().await.expect("migrations failed");
    store
}
