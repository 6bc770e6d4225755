//! Migrations an instance of the version before survives, on each database: applied one
//! at a time from an empty schema, each step keeps every table and column the schema had
//! before it (no drop, no rename), never turns a column that took NULL into NOT NULL, and
//! adds to a table that existed only columns that take NULL or have a default. An
//! instance of the previous version reads and writes only what it knows, so it goes on
//! serving while the step runs and after (`docs/src/operator/season.md`, "Migrations").

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use frontrow_seaorm::SeaOrmStore;
use frontrow_tests::db::{Backend, fresh_store};
use sea_orm::{FromQueryResult, Statement};

/// One column as the database describes it.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
struct Column {
    table_name: String,
    column_name: String,
    /// 1 when the column takes NULL.
    nullable: i32,
    /// 1 when an insert without it gets a value (a default, an identity, auto-increment).
    defaulted: i32,
}

/// Every column of the application's tables (the migration bookkeeping table left out).
async fn schema(store: &SeaOrmStore, backend: Backend) -> BTreeMap<(String, String), Column> {
    let db = store.connection();
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name, \
             CASE WHEN p.\"notnull\" = 0 THEN 1 ELSE 0 END AS nullable, \
             CASE WHEN p.dflt_value IS NOT NULL OR p.pk > 0 THEN 1 ELSE 0 END AS defaulted \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'seaql_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name, \
             CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS nullable, \
             CASE WHEN column_default IS NOT NULL OR is_identity = 'YES' THEN 1 ELSE 0 END AS defaulted \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'"
        }
        Backend::MySql => {
            "SELECT CAST(table_name AS CHAR) AS table_name, CAST(column_name AS CHAR) AS column_name, \
             CAST(CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS SIGNED) AS nullable, \
             CAST(CASE WHEN column_default IS NOT NULL OR extra LIKE '%auto_increment%' THEN 1 ELSE 0 END AS SIGNED) AS defaulted \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name <> 'seaql_migrations'"
        }
    };
    Column::find_by_statement(Statement::from_string(db.get_database_backend(), sql))
        .all(db)
        .await
        .expect("the schema")
        .into_iter()
        .map(|c| ((c.table_name.clone(), c.column_name.clone()), c))
        .collect()
}

/// What step `name` did that an instance of the version before would trip on.
fn breaks(
    name: &str,
    before: &BTreeMap<(String, String), Column>,
    after: &BTreeMap<(String, String), Column>,
) -> Vec<String> {
    let mut found = Vec::new();
    let tables_before: std::collections::BTreeSet<&String> =
        before.keys().map(|(t, _)| t).collect();
    for (key, was) in before {
        match after.get(key) {
            None => found.push(format!("{name}: dropped or renamed {}.{}", key.0, key.1)),
            Some(now) if was.nullable == 1 && now.nullable == 0 => {
                found.push(format!("{name}: {}.{} no longer takes NULL", key.0, key.1));
            }
            Some(_) => {}
        }
    }
    for (key, now) in after {
        if !before.contains_key(key)
            && tables_before.contains(&key.0)
            && now.nullable == 0
            && now.defaulted == 0
        {
            found.push(format!(
                "{name}: added {}.{} NOT NULL without a default (an older instance's insert would fail)",
                key.0, key.1
            ));
        }
    }
    found
}

async fn forward_only(backend: Backend) {
    let store = fresh_store(backend).await;
    store
        .migrate_down(None)
        .await
        .expect("down to an empty schema");
    let steps = store.migrate_status().await.unwrap();
    assert!(steps.iter().all(|(_, applied)| !applied));
    let mut before = schema(&store, backend).await;
    assert!(before.is_empty(), "tables left: {before:?}");
    let mut found = Vec::new();
    for (name, _) in &steps {
        store.migrate_up_by(1).await.expect(name);
        let after = schema(&store, backend).await;
        found.extend(breaks(name, &before, &after));
        before = after;
    }
    assert!(
        found.is_empty(),
        "{} on {}:\n{}",
        found.len(),
        backend.name(),
        found.join("\n")
    );
    println!(
        "{}: {} steps, {} columns in the end, every step forward-only",
        backend.name(),
        steps.len(),
        before.len()
    );
}

#[tokio::test]
async fn every_migration_keeps_what_the_version_before_reads_and_writes_on_sqlite() {
    forward_only(Backend::Sqlite).await;
}

#[tokio::test]
async fn every_migration_keeps_what_the_version_before_reads_and_writes_on_mariadb() {
    forward_only(Backend::MySql).await;
}

#[tokio::test]
async fn every_migration_keeps_what_the_version_before_reads_and_writes_on_postgres() {
    forward_only(Backend::Postgres).await;
}

/// The check itself: a dropped column, a column turned NOT NULL and a NOT NULL column
/// without a default added to an existing table are each named; a new table, a new
/// column that takes NULL and one with a default are not.
#[test]
fn the_check_names_what_would_break_an_older_instance() {
    let col = |t: &str, c: &str, nullable: i32, defaulted: i32| {
        (
            (t.to_owned(), c.to_owned()),
            Column {
                table_name: t.to_owned(),
                column_name: c.to_owned(),
                nullable,
                defaulted,
            },
        )
    };
    let before: BTreeMap<_, _> = [col("seats", "id", 0, 1), col("seats", "label", 1, 0)]
        .into_iter()
        .collect();
    let fine: BTreeMap<_, _> = [
        col("seats", "id", 0, 1),
        col("seats", "label", 1, 0),
        col("seats", "note", 1, 0),
        col("seats", "kind", 0, 1),
        col("tickets", "id", 0, 0),
    ]
    .into_iter()
    .collect();
    assert!(breaks("fine", &before, &fine).is_empty());
    let bad: BTreeMap<_, _> = [col("seats", "label", 0, 0), col("seats", "row", 0, 0)]
        .into_iter()
        .collect();
    let found = breaks("bad", &before, &bad);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found[0].contains("dropped or renamed seats.id"));
    assert!(found[1].contains("seats.label no longer takes NULL"));
    assert!(found[2].contains("added seats.row NOT NULL without a default"));
}

/// Instances started together on a database nobody migrated yet: each applies the
/// pending migrations at start, one at a time under the database's lock, and every one
/// of them starts (two applying one step at once failed with "column already exists").
async fn started_together(db: frontrow_tests::app::Db, backend: Backend) {
    let url = frontrow_tests::app::fresh_database_url(db).await;
    let opts = frontrow_tests::db::test_options(backend);
    let stores = futures::future::join_all((0..4).map(|_| SeaOrmStore::connect(&url, &opts)))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .expect("connect");
    let migrated = futures::future::join_all(stores.iter().map(SeaOrmStore::migrate_up)).await;
    for (i, m) in migrated.iter().enumerate() {
        assert!(m.is_ok(), "instance {i}: {m:?}");
    }
    let status = stores[0].migrate_status().await.unwrap();
    assert!(status.iter().all(|(_, applied)| *applied), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_started_together_migrate_one_at_a_time_on_mariadb() {
    started_together(frontrow_tests::app::Db::MariaDb, Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_started_together_migrate_one_at_a_time_on_postgres() {
    started_together(frontrow_tests::app::Db::Postgres, Backend::Postgres).await;
}
