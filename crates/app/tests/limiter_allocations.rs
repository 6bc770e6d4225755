//! The rate limit of the status path allocates nothing once a client has been seen: every
//! fan's poll passes through it. Counted by `allocation-counter`, a global allocator that
//! counts the allocations of the measuring thread (a count, not a timing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use frontrow_app::Settings;
use frontrow_app::guard::limits::{Class, Limited, Limits};
use frontrow_app::http::limits::client_address;

/// Runs a future that never waits (in-process limits answer at once) to its end.
fn now<T>(f: impl Future<Output = T>) -> T {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-process limit check waited"),
    }
}

/// What the middleware does for a status poll: class, address, limit.
fn status_poll(limits: &Limits, peer: IpAddr, headers: &HeaderMap) -> Result<(), Limited> {
    let class = Class::of("GET", "/api/v1/queue/status").expect("a limited route");
    let address = client_address(limits, peer, headers);
    now(limits.check(class, Some(address), None))
}

fn limits(trusted_proxies: &str) -> Limits {
    let mut settings = Settings::default().limits;
    settings.enabled = true;
    settings.trusted_proxies = trusted_proxies.into();
    // No refusal in this test: the common path is an allowed poll.
    settings.status_per_minute = 60_000_000;
    settings.status_burst = 1_000_000;
    Limits::new(&settings, None).expect("limits on")
}

const CHECKS: u64 = 10_000;

#[test]
fn a_status_poll_of_a_known_client_allocates_nothing() {
    let limits = limits("");
    let headers = HeaderMap::new();
    let clients: Vec<IpAddr> = ["203.0.113.9", "2001:db8:1:2::7", "::ffff:198.51.100.4"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    // First sight of a client stores its key (that allocates, once).
    for ip in &clients {
        status_poll(&limits, *ip, &headers).unwrap();
    }
    let counted = allocation_counter::measure(|| {
        for i in 0..CHECKS {
            let ip = clients[(i % 3) as usize];
            assert!(status_poll(&limits, ip, &headers).is_ok());
        }
    });
    assert_eq!(
        counted.count_total, 0,
        "{CHECKS} status checks: {counted:?}"
    );
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_address_costs_no_allocation_either() {
    let limits = limits("10.0.0.0/8");
    let mut headers = HeaderMap::new();
    let xff = HeaderName::from_static("x-forwarded-for");
    headers.append(
        xff.clone(),
        HeaderValue::from_static("6.6.6.6, 203.0.113.9"),
    );
    headers.append(xff, HeaderValue::from_static("10.0.0.2"));
    let proxy: IpAddr = "10.1.2.3".parse().unwrap();
    let client: IpAddr = "203.0.113.9".parse().unwrap();
    assert_eq!(client_address(&limits, proxy, &headers), client);
    status_poll(&limits, proxy, &headers).unwrap();
    let counted = allocation_counter::measure(|| {
        for _ in 0..CHECKS {
            assert!(status_poll(&limits, proxy, &headers).is_ok());
        }
    });
    assert_eq!(
        counted.count_total, 0,
        "{CHECKS} status checks: {counted:?}"
    );
}

#[test]
fn the_counter_sees_an_allocation_when_there_is_one() {
    // The allocator counts this thread: a key never seen before is stored.
    let limits = limits("");
    let headers = HeaderMap::new();
    let counted = allocation_counter::measure(|| {
        status_poll(&limits, "192.0.2.1".parse().unwrap(), &headers).unwrap();
    });
    assert!(counted.count_total > 0, "{counted:?}");
}
