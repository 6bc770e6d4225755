//! A database backup taken while a sale runs (`pg_dump -Fc` on PostgreSQL,
//! `mariadb-dump --single-transaction` on MariaDB: one consistent snapshot each)
//! restores into a store that holds together: every seat sold has its buyer's payment,
//! nobody paid twice, nothing sold after the snapshot appears, everything paid before it
//! does; an instance started on the restored database serves it at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use frontrow_tests::app::{AppOptions, Db, TestApp, fresh_database_url, spawn_app_with};
use frontrow_tests::required_env;
use futures::future::join_all;
use serde_json::{Value, json};

const FANS: usize = 16;
const PRICE: i64 = 100;
const BALANCE: i64 = 1_000;

fn pg_tool(name: &str) -> String {
    let mut bins: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .map(|e| e.path().join("bin").join(name))
                .collect()
        })
        .unwrap_or_default();
    bins.retain(|p: &std::path::PathBuf| p.exists());
    bins.sort();
    bins.last()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| name.to_owned())
}

fn run(tool: &str, args: &[&str]) {
    let out = std::process::Command::new(pg_tool(tool))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} cannot run ({e}): PostgreSQL's client tools are needed")
        });
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `mariadb-dump` or `mariadb` with the connection of `url` (a `mysql://` URL), the
/// database last; `stdin`/`stdout` redirected to `file` when given.
fn run_mariadb(tool: &str, url: &str, extra: &[&str], stdin: Option<&str>, stdout: Option<&str>) {
    let u = reqwest::Url::parse(url).expect("a MariaDB URL");
    let mut cmd = std::process::Command::new(tool);
    cmd.arg(format!("--host={}", u.host_str().unwrap_or("127.0.0.1")))
        .arg(format!("--port={}", u.port().unwrap_or(3306)))
        .arg(format!("--user={}", u.username()))
        .arg("--protocol=TCP");
    if let Some(p) = u.password() {
        cmd.arg(format!("--password={p}"));
    }
    cmd.args(extra).arg(u.path().trim_start_matches('/'));
    if let Some(f) = stdin {
        cmd.stdin(std::fs::File::open(f).expect("the dump"));
    }
    if let Some(f) = stdout {
        cmd.stdout(std::fs::File::create(f).expect("the dump file"));
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{tool} cannot run ({e}): MariaDB's client tools are needed"));
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Takes one consistent snapshot of the database at `url` into `file`.
fn dump(db: Db, url: &str, file: &str) {
    match db {
        Db::Postgres => run("pg_dump", &["-Fc", "-f", file, "-d", url]),
        Db::MariaDb => run_mariadb(
            "mariadb-dump",
            url,
            &["--single-transaction", "--routines", "--triggers"],
            None,
            Some(file),
        ),
        Db::Sqlite => unreachable!("SQLite is backed up by copying its file"),
    }
}

/// Restores `file` into the (new, empty) database at `url`.
fn restore(db: Db, url: &str, file: &str) {
    match db {
        Db::Postgres => run("pg_restore", &["--no-owner", "-d", url, file]),
        Db::MariaDb => run_mariadb("mariadb", url, &[], Some(file), None),
        Db::Sqlite => unreachable!("SQLite is backed up by copying its file"),
    }
}

async fn sold_and_charged(
    app: &TestApp,
    schedule: i64,
    fans: &[frontrow_tests::app::TestUser],
) -> (usize, usize) {
    let seats = app.seats(schedule).await;
    let sold = seats
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "SOLD")
        .count();
    let mut charged = 0;
    for f in fans {
        let b = app.balance(f).await;
        assert!(
            b == BALANCE || b == BALANCE - PRICE,
            "a fan paid {} twice or wrongly",
            BALANCE - b
        );
        if b == BALANCE - PRICE {
            charged += 1;
        }
    }
    (sold, charged)
}

/// An instance on a fresh database of `db` and the test Redis: the instance, the
/// database's URL and Redis's.
async fn instance_on_a_fresh_database(db: Db) -> (TestApp, String, String) {
    let redis = required_env("FRONTROW_TEST_REDIS_URL", "a Redis server");
    let db_url = fresh_database_url(db).await;
    let app = spawn_app_with(AppOptions {
        db,
        redis: Some(redis.clone()),
        database_url: Some(db_url.clone()),
        ..AppOptions::default()
    })
    .await;
    (app, db_url, redis)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_sale_restores_a_consistent_store_on_redis_and_postgres() {
    backup_during_a_sale(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_sale_restores_a_consistent_store_on_redis_and_mariadb() {
    backup_during_a_sale(Db::MariaDb).await;
}

async fn backup_during_a_sale(db: Db) {
    let (app, db_url, redis) = instance_on_a_fresh_database(db).await;
    let concert = app.create_concert(1, FANS as u32, PRICE).await;
    let policy = json!({"max_active": 100, "admit_per_second": 1000, "active_ttl_seconds": 600, "paused": false});
    assert_eq!(app.set_policy(concert.id, &policy).await.status(), 200);
    let mut fans = Vec::new();
    for i in 0..FANS {
        let fan = app.create_user(&format!("fan{i}")).await;
        assert_eq!(app.charge(&fan, BALANCE).await.status(), 200);
        fans.push(fan);
    }

    // Fans buy one seat each while the backup is taken.
    let paid = Arc::new(AtomicUsize::new(0));
    let app_ref = &app;
    let buying = join_all(fans.iter().enumerate().map(|(i, fan)| {
        let paid = paid.clone();
        let concert = &concert;
        async move {
            tokio::time::sleep(Duration::from_millis(40 * i as u64)).await;
            let token = app_ref
                .admitted(fan, concert.id, Duration::from_secs(60))
                .await;
            let held: Value = app_ref
                .hold(fan, Some(&token), concert.schedule_id, concert.seats[i].0)
                .await
                .json()
                .await
                .unwrap();
            let res = app_ref
                .pay(
                    fan,
                    Some(&token),
                    held["id"].as_i64().unwrap(),
                    Some(&format!("k{i}")),
                )
                .await;
            assert_eq!(res.status(), 200);
            paid.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let dump = std::env::temp_dir().join(format!(
        "frontrow-backup-{}.dump",
        uuid::Uuid::new_v4().simple()
    ));
    let backup = async {
        while paid.load(Ordering::SeqCst) < FANS / 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let before = paid.load(Ordering::SeqCst);
        let (url, file) = (db_url.clone(), dump.display().to_string());
        tokio::task::spawn_blocking(move || self::dump(db, &url, &file))
            .await
            .unwrap();
        before
    };
    let (_, paid_before_dump) = tokio::join!(buying, backup);

    // Restore into a new database and serve it from a new instance.
    let restored = fresh_database_url(db).await;
    let file = dump.display().to_string();
    restore(db, &restored, &file);
    let _ = std::fs::remove_file(&dump);
    let after = spawn_app_with(AppOptions {
        db,
        redis: Some(redis),
        database_url: Some(restored),
        ..AppOptions::default()
    })
    .await;
    let (sold, charged) = sold_and_charged(&after, concert.schedule_id, &fans).await;
    println!(
        "BACKUP paid before the dump began: {paid_before_dump}, in the restored store: {sold} of {FANS}"
    );
    assert_eq!(
        sold, charged,
        "every seat sold has one payment, every payment one seat"
    );
    assert!(
        sold >= paid_before_dump,
        "a payment made before the backup is missing"
    );
    let (live_sold, live_charged) = sold_and_charged(&app, concert.schedule_id, &fans).await;
    assert_eq!((live_sold, live_charged), (FANS, FANS));
    after.stop().await;
    app.stop().await;
}

/// The queue status of `token`: its state and position (0 when not waiting).
async fn standing(app: &TestApp, token: &str) -> (String, u64) {
    let res = app.queue_status(token).await;
    let code = res.status();
    let v: Value = res
        .json()
        .await
        .unwrap_or_else(|e| panic!("status answered {code} without JSON: {e}"));
    assert_eq!(code, 200, "status of a fan in line: {v}");
    (
        v["status"].as_str().unwrap_or_default().to_owned(),
        v["position"].as_u64().unwrap_or(0),
    )
}

/// Polls `token` until ACTIVE (the fan's place in line kept by Redis).
async fn until_active(app: &TestApp, token: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while standing(app, token).await.0 != "ACTIVE" {
        assert!(std::time::Instant::now() < deadline, "never admitted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Holds seat `seat` for `fan` and pays it once.
async fn buy(
    app: &TestApp,
    fan: &frontrow_tests::app::TestUser,
    token: &str,
    schedule: i64,
    seat: i64,
    key: &str,
) {
    let res = app.hold(fan, Some(token), schedule, seat).await;
    assert_eq!(res.status(), 201, "hold: {}", res.text().await.unwrap());
    let held: Value = res.json().await.unwrap();
    let res = app
        .pay(fan, Some(token), held["id"].as_i64().unwrap(), Some(key))
        .await;
    assert_eq!(res.status(), 200, "payment: {}", res.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_while_the_line_goes_on_keeps_every_place_and_sells_nothing_twice_on_postgres() {
    restore_while_the_line_goes_on(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_while_the_line_goes_on_keeps_every_place_and_sells_nothing_twice_on_mariadb() {
    restore_while_the_line_goes_on(Db::MariaDb).await;
}

/// The book's procedure for a restore during a sale (docs/src/operator/season.md): twelve
/// fans in one line (two admitted at a time), four buy, the backup is taken, three more
/// buy (lost by the restore), the line is paused, the dump restored into a new database
/// and served by a new instance on the same line (the old one stops), the line resumed.
/// Every fan still in line keeps their place (known to the new instance, positions in
/// entry order, admitted in that order); the three whose purchase the restore undid find
/// their seats free and buy again; in the end every seat is sold once and every fan
/// charged once.
async fn restore_while_the_line_goes_on(db: Db) {
    const N: usize = 12;
    let (app, db_url, redis) = instance_on_a_fresh_database(db).await;
    let concert = app.create_concert(1, N as u32, PRICE).await;
    let policy = |paused: bool| json!({"max_active": 2, "admit_per_second": 1000, "active_ttl_seconds": 600, "paused": paused});
    assert_eq!(
        app.set_policy(concert.id, &policy(false)).await.status(),
        200
    );
    let mut fans = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..N {
        let fan = app.create_user(&format!("fan{i}")).await;
        assert_eq!(app.charge(&fan, BALANCE).await.status(), 200);
        let res = app.enter_queue(&fan, concert.id).await;
        assert!(res.status().is_success(), "enter: {}", res.status());
        let v: Value = res.json().await.unwrap();
        tokens.push(v["token"].as_str().unwrap().to_owned());
        fans.push(fan);
    }
    let seat = |i: usize| concert.seats[i].0;
    for i in 0..4 {
        until_active(&app, &tokens[i]).await;
        buy(
            &app,
            &fans[i],
            &tokens[i],
            concert.schedule_id,
            seat(i),
            &format!("k{i}"),
        )
        .await;
    }
    let dump_file = std::env::temp_dir().join(format!(
        "frontrow-restore-{}.dump",
        uuid::Uuid::new_v4().simple()
    ));
    let file = dump_file.display().to_string();
    {
        let (url, file) = (db_url.clone(), file.clone());
        tokio::task::spawn_blocking(move || dump(db, &url, &file))
            .await
            .unwrap();
    }
    for i in 4..7 {
        until_active(&app, &tokens[i]).await;
        buy(
            &app,
            &fans[i],
            &tokens[i],
            concert.schedule_id,
            seat(i),
            &format!("k{i}"),
        )
        .await;
    }
    // Pause, restore into a new database, serve it on the same line, stop the old instance.
    assert_eq!(
        app.set_policy(concert.id, &policy(true)).await.status(),
        200
    );
    let before: Vec<(String, u64)> = {
        let mut v = Vec::new();
        for t in &tokens[7..] {
            v.push(standing(&app, t).await);
        }
        v
    };
    let restored = fresh_database_url(db).await;
    restore(db, &restored, &file);
    let _ = std::fs::remove_file(&dump_file);
    let prefix = app.settings.redis.key_prefix.clone();
    let after = spawn_app_with(AppOptions {
        db,
        redis: Some(redis),
        database_url: Some(restored),
        tweak: Box::new(move |s| s.redis.key_prefix = prefix),
    })
    .await;
    app.stop().await;

    // The line is Redis's: every fan still in line is known, where they were.
    let mut kept = Vec::new();
    for t in &tokens[7..] {
        kept.push(standing(&after, t).await);
    }
    assert_eq!(kept, before, "places after the restore");
    let waiting: Vec<u64> = kept
        .iter()
        .filter(|(s, _)| s == "WAITING")
        .map(|(_, p)| *p)
        .collect();
    assert!(
        waiting.windows(2).all(|w| w[0] < w[1]),
        "positions in entry order: {kept:?}"
    );
    // The restore undid the last three purchases: their seats are free, their wallets whole.
    let map = after.seats(concert.schedule_id).await;
    let status_of = |id: i64| {
        map.as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .unwrap()
    };
    for i in 0..N {
        let want = if i < 4 { "SOLD" } else { "AVAILABLE" };
        assert_eq!(
            status_of(seat(i)),
            want,
            "seat of fan {i} after the restore"
        );
    }
    for (i, fan) in fans.iter().enumerate().take(7).skip(4) {
        assert_eq!(
            after.balance(fan).await,
            BALANCE,
            "fan {i} after the restore"
        );
    }

    // Resumed: the fans in line are admitted in entry order and buy; the three buy again.
    assert_eq!(
        after.set_policy(concert.id, &policy(false)).await.status(),
        200
    );
    for i in 7..N {
        until_active(&after, &tokens[i]).await;
        for (j, t) in tokens.iter().enumerate().skip(i + 2) {
            assert_ne!(
                standing(&after, t).await.0,
                "ACTIVE",
                "fan {j} admitted before fan {i}"
            );
        }
        buy(
            &after,
            &fans[i],
            &tokens[i],
            concert.schedule_id,
            seat(i),
            &format!("k{i}"),
        )
        .await;
    }
    for (i, fan) in fans.iter().enumerate().take(7).skip(4) {
        let token = after
            .admitted(fan, concert.id, Duration::from_secs(60))
            .await;
        buy(
            &after,
            fan,
            &token,
            concert.schedule_id,
            seat(i),
            &format!("again{i}"),
        )
        .await;
    }
    let (sold, charged) = sold_and_charged(&after, concert.schedule_id, &fans).await;
    assert_eq!(
        (sold, charged),
        (N, N),
        "every seat sold once, every fan charged once"
    );
    after.stop().await;
}
