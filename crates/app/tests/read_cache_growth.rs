//! The read cache stores no answer for an unknown id: 50,000 GETs of distinct unknown
//! schedule ids leave it empty and the process no bigger (in-process, over
//! `actix_web::test`, with the cache wired as in `startup`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use actix_web::{test, web};
use chrono::Utc;
use frontrow_app::cache::{CachedCatalog, ReadCache};
use frontrow_app::http::auth::Auth;
use frontrow_app::http::{AppState, build_app};
use frontrow_domain::accounts::Accounts;
use frontrow_domain::booking::Booking;
use frontrow_domain::catalog::Catalog;
use frontrow_domain::model::Money;
use frontrow_domain::ports::{
    CatalogRepository, Clock, MockCatalogRepository, MockClock, MockPaymentRepository, MockQueue,
    MockSeatRepository, MockUserRepository, MockWalletRepository,
};
use frontrow_domain::waiting_room::WaitingRoom;
use secrecy::SecretString;

/// Resident set size of this process, in bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[actix_web::test]
async fn unknown_schedule_ids_grow_the_read_cache_by_nothing() {
    let mut repo = MockCatalogRepository::new();
    repo.expect_list_seats().returning(|_, _| Ok(None));
    let cache = Arc::new(ReadCache::new(Duration::from_secs(60), 64 * 1024 * 1024));
    let catalog: Arc<dyn CatalogRepository> =
        Arc::new(CachedCatalog::new(Arc::new(repo), cache.clone()));
    let mut clock = MockClock::new();
    clock.expect_now().returning(Utc::now);
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let room = WaitingRoom::new(Arc::new(MockQueue::new()), catalog.clone(), clock.clone());
    let metrics = frontrow_app::telemetry::metrics_handle();
    let state = web::Data::new(AppState {
        queue_idle_timeout_seconds: 60,
        accounts: Accounts::new(
            Arc::new(MockUserRepository::new()),
            Arc::new(MockWalletRepository::new()),
            clock.clone(),
            Money::from_u32(1),
        ),
        catalog: Catalog::new(catalog.clone(), clock.clone()),
        sales: frontrow_domain::sales::Sales::new(
            catalog.clone(),
            Arc::new(MockPaymentRepository::new()),
            Arc::new(frontrow_domain::boxoffice::port::MockOrderRepository::new()),
            clock.clone(),
        ),
        boxoffice: frontrow_domain::boxoffice::BoxOffice::new(
            catalog.clone(),
            Arc::new(frontrow_domain::boxoffice::port::MockOrderRepository::new()),
            room.clone(),
            clock.clone(),
            frontrow_domain::boxoffice::OrderPolicy::default(),
        ),
        booking: Booking::new(
            Arc::new(MockSeatRepository::new()),
            frontrow_domain::boxoffice::BoxOffice::new(
                catalog,
                Arc::new(frontrow_domain::boxoffice::port::MockOrderRepository::new()),
                room.clone(),
                clock.clone(),
                frontrow_domain::boxoffice::OrderPolicy::default(),
            ),
            clock.clone(),
        ),
        room,
        clock,
        probes: Vec::new(),
        metrics: metrics.clone(),
    });
    let auth = web::Data::new(Auth::new(
        &SecretString::from("growth-test-secret-0123456"),
        SecretString::from("growth-test-admin-key"),
        3600,
    ));
    let app = test::init_service(build_app(state, auth)).await;
    let get = |id: u64| {
        test::TestRequest::get()
            .uri(&format!("/api/v1/schedules/{id}/seats"))
            .to_request()
    };

    // Warm up (lazy statics, metric series, allocator arenas) before measuring. The
    // latency histogram keeps its samples until drained, as a Prometheus scrape does:
    // drain it every 10,000 requests so only what the cache keeps is measured.
    for id in 0..5_000 {
        let res = test::call_service(&app, get(1_000_000_000 + id)).await;
        assert_eq!(res.status().as_u16(), 404);
    }
    metrics.run_upkeep();
    let before_entries = cache.entry_count().await;
    let before_rss = rss_bytes();
    // 50,000 ids: kept, they would be 50,000 entries (asserted 0) and several MiB of
    // answers (asserted under 5 MiB).
    for id in 0..50_000 {
        let res = test::call_service(&app, get(id)).await;
        assert_eq!(res.status().as_u16(), 404);
        if id % 10_000 == 0 {
            metrics.run_upkeep();
        }
    }
    metrics.run_upkeep();
    let after_entries = cache.entry_count().await;
    let grown = rss_bytes().saturating_sub(before_rss);
    println!(
        "READ_CACHE_GROWTH entries {before_entries} -> {after_entries}, rss +{} KiB",
        grown / 1024
    );
    assert_eq!((before_entries, after_entries), (0, 0));
    assert!(grown < 5 * 1024 * 1024, "RSS grew by {grown} bytes");
}
