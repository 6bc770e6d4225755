//! Rate limits per route class, keyed by client address and, on routes that take an
//! access token, by user. Over the limit: 429 problem+json with `Retry-After`, and the
//! counter `frontrow_rate_limited_total{class, key}`.
//!
//! | class | routes | keys |
//! |---|---|---|
//! | `signup` | `POST /users` | address — shared by every instance on Redis |
//! | `signin` | `POST /sessions`, `POST` under `/passkeys` | address — shared on Redis |
//! | `enter` | `POST /concerts/{id}/queue` | address and user — shared on Redis |
//! | `status` | `GET /queue/status`, `GET /queue/events`, `DELETE /queue`, `GET …/queue/challenge` | address |
//! | `booking` | `POST`/`DELETE` under `/reservations` and `/orders`, `POST` under `/tickets/`, `POST /wallet/charge` | address and user |
//! | `admin` | `/admin/…` | address |
//!
//! Sign-ups and enters are what an attacker multiplies (accounts, places in line), so
//! with a Redis queue their limits live in Redis (GCRA, one script) and hold across
//! instances; should Redis not answer, the instance falls back to its own in-process
//! limit of the same rate rather than refusing or waving everyone through. The other
//! classes (and every class on the in-memory queue, which is one instance anyway) are
//! per instance, in process (`governor`): behind a load balancer over N instances a
//! client gets up to N times those rates, which still bounds a flood.
//!
//! The client address is the socket's peer, or — only when the peer is one of
//! `limits.trusted_proxies` — the right-most `X-Forwarded-For` entry that is not a
//! trusted proxy. IPv6 addresses are keyed by their /64, which one host usually owns.
//!
//! Every fan's status poll passes here, so an in-process check allocates nothing once its
//! key has been seen: keys are small values ([`LocalKey`]), not strings; only the Redis
//! limits (sign-up, sign-in, enter) write their key as text (`tests/limiter_allocations.rs`
//! counts the allocations).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::stores::{SharedLimit, SharedLimits};
use crate::settings::{LimitsSettings, Rate};
use crate::telemetry::RATE_LIMITED;

/// The route classes, each with its own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Signup,
    Signin,
    Enter,
    Status,
    Booking,
    Admin,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Signup => "signup",
            Class::Signin => "signin",
            Class::Enter => "enter",
            Class::Status => "status",
            Class::Booking => "booking",
            Class::Admin => "admin",
        }
    }

    /// The class of a request, from its method and matched route pattern; `None` for
    /// unlimited routes (catalog reads, a user's own reads, operations endpoints).
    pub fn of(method: &str, pattern: &str) -> Option<Class> {
        let path = pattern.strip_prefix("/api/v1")?;
        if path.starts_with("/admin/") {
            return Some(Class::Admin);
        }
        match (method, path) {
            ("POST", "/users") => Some(Class::Signup),
            ("POST", "/sessions") => Some(Class::Signin),
            ("POST", p) if p.starts_with("/passkeys/") => Some(Class::Signin),
            ("POST", "/concerts/{concert_id}/queue") => Some(Class::Enter),
            (
                "GET",
                "/queue/status" | "/queue/events" | "/concerts/{concert_id}/queue/challenge",
            )
            | ("DELETE", "/queue") => Some(Class::Status),
            ("POST" | "DELETE", p)
                if p.starts_with("/reservations") || p.starts_with("/orders") =>
            {
                Some(Class::Booking)
            }
            ("POST", p) if p.starts_with("/tickets/") => Some(Class::Booking),
            ("POST", "/wallet/charge") => Some(Class::Booking),
            _ => None,
        }
    }
}

/// A refusal: when the client may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
}

/// Which key of a class refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Address,
    User,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Address => "address",
            Scope::User => "user",
        }
    }
}

/// A request over a limit: its class, the key that refused it, and when to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub class: Class,
    pub scope: Scope,
    pub retry_after: Duration,
}

/// One limit: in process, or in Redis with an in-process fallback of the same rate. The
/// clock is the real one but for tests, which move a fake one by hand.
struct Limiter<C: Clock = DefaultClock> {
    local: LocalLimiter<C>,
    clock: C,
    shared: Option<(Arc<dyn SharedLimits>, u64, u32)>,
}

type LocalLimiter<C> = RateLimiter<
    LocalKey,
    DefaultKeyedStateStore<LocalKey>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

/// Whom a per-user limit counts: a built-in account or an identity provider's subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    User(i64),
    External(Box<str>),
}

impl fmt::Display for Subject {
    /// `u<id>` or `x<subject>`: the user part of a shared (Redis) key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(id) => write!(f, "u{id}"),
            Subject::External(s) => write!(f, "x{s}"),
        }
    }
}

/// The limit key of an address: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressKey {
    V4(Ipv4Addr),
    V6Net(Ipv6Addr),
}

impl AddressKey {
    pub fn of(ip: IpAddr) -> AddressKey {
        match ip {
            IpAddr::V4(v4) => AddressKey::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(v4),
                None => AddressKey::V6Net(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
            },
        }
    }
}

impl fmt::Display for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressKey::V4(v4) => write!(f, "{v4}"),
            AddressKey::V6Net(net) => write!(f, "{net}/64"),
        }
    }
}

/// The key of one limit of a class (each class has its own limiters, so the class is
/// not part of it): a copy type for addresses, so a status poll builds no string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LocalKey {
    Address(AddressKey),
    User(Subject),
}

impl fmt::Display for LocalKey {
    /// `a:<address>` or `u:<subject>`, after the class in a shared (Redis) key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalKey::Address(a) => write!(f, "a:{a}"),
            LocalKey::User(u) => write!(f, "u:{u}"),
        }
    }
}

impl Limiter {
    fn new(rate: Rate, shared: Option<Arc<dyn SharedLimits>>) -> Limiter {
        Limiter::with_clock(rate, shared, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limiter<C> {
    fn with_clock(rate: Rate, shared: Option<Arc<dyn SharedLimits>>, clock: C) -> Limiter<C> {
        let period = rate.period();
        let burst = NonZeroU32::new(rate.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
        Limiter {
            local: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
            shared: shared.map(|q| (q, period_ms, burst.get())),
        }
    }

    async fn check(&self, class: Class, key: LocalKey) -> Result<(), Refused> {
        if let Some((store, period_ms, burst)) = &self.shared {
            let shared_key = format!("{}:{key}", class.as_str());
            match store.hit(&shared_key, *period_ms, *burst).await {
                Ok(SharedLimit::Allowed) => return Ok(()),
                Ok(SharedLimit::Refused { retry_after }) => return Err(Refused { retry_after }),
                Err(e) => {
                    tracing::warn!(error = %e, "shared rate limit unavailable: limiting in process");
                }
            }
        }
        self.local.check_key(&key).map_err(|not_until| Refused {
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    fn forget_idle(&self) {
        self.local.retain_recent();
        self.local.shrink_to_fit();
    }
}

/// One class's limits: per address, and per user where the class has one.
struct ClassLimits {
    class: Class,
    address: Limiter,
    user: Option<Limiter>,
}

/// Every rate limit of an instance.
pub struct Limits {
    trusted: Vec<Net>,
    classes: Vec<ClassLimits>,
}

impl Limits {
    /// The limits the settings describe, `None` when `limits.enabled` is false. Sign-up,
    /// sign-in and enter limits are shared through `shared` when there is one.
    pub fn new(settings: &LimitsSettings, shared: Option<Arc<dyn SharedLimits>>) -> Option<Limits> {
        if !settings.enabled {
            return None;
        }
        let s = settings;
        let shared = |on: bool| if on { shared.clone() } else { None };
        let classes = vec![
            ClassLimits {
                class: Class::Signup,
                address: Limiter::new(s.signup(), shared(true)),
                user: None,
            },
            // Password guesses are what an attacker multiplies here.
            ClassLimits {
                class: Class::Signin,
                address: Limiter::new(s.signin(), shared(true)),
                user: None,
            },
            ClassLimits {
                class: Class::Enter,
                address: Limiter::new(s.enter(), shared(true)),
                user: Some(Limiter::new(s.enter_user(), shared(true))),
            },
            ClassLimits {
                class: Class::Status,
                address: Limiter::new(s.status(), None),
                user: None,
            },
            ClassLimits {
                class: Class::Booking,
                address: Limiter::new(s.booking(), None),
                user: Some(Limiter::new(s.booking_user(), None)),
            },
            ClassLimits {
                class: Class::Admin,
                address: Limiter::new(s.admin(), None),
                user: None,
            },
        ];
        Some(Limits {
            trusted: parse_proxies(&s.trusted_proxies).unwrap_or_default(),
            classes,
        })
    }

    /// Counts one request of `class` from `address` (and `user`, when known).
    pub async fn check(
        &self,
        class: Class,
        address: Option<IpAddr>,
        user: Option<&Subject>,
    ) -> Result<(), Limited> {
        let Some(c) = self.classes.iter().find(|c| c.class == class) else {
            return Ok(());
        };
        if let Some(ip) = address {
            let key = LocalKey::Address(AddressKey::of(ip));
            if let Err(r) = c.address.check(class, key).await {
                metrics::counter!(RATE_LIMITED, "class" => class.as_str(), "key" => "address")
                    .increment(1);
                return Err(Limited {
                    class,
                    scope: Scope::Address,
                    retry_after: r.retry_after,
                });
            }
        }
        if let (Some(limiter), Some(user)) = (&c.user, user)
            && let Err(r) = limiter.check(class, LocalKey::User(user.clone())).await
        {
            metrics::counter!(RATE_LIMITED, "class" => class.as_str(), "key" => "user")
                .increment(1);
            return Err(Limited {
                class,
                scope: Scope::User,
                retry_after: r.retry_after,
            });
        }
        Ok(())
    }

    /// The client's address: `peer`, or the forwarded one behind a trusted proxy;
    /// `forwarded` gives the `X-Forwarded-For` header values in the order received.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        client_ip(peer, forwarded, &self.trusted)
    }

    /// Drops in-process state of keys that are back to a full burst (bounds memory).
    pub fn forget_idle(&self) {
        for c in &self.classes {
            c.address.forget_idle();
            if let Some(u) = &c.user {
                u.forget_idle();
            }
        }
    }
}

/// Keeps the in-process limiters small: forgets idle keys every `every`.
pub async fn housekeeping(
    limits: Arc<Limits>,
    every: Duration,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => limits.forget_idle(),
        }
    }
}

/// An address or a network (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Parses `limits.trusted_proxies`: addresses or CIDR networks, separated by commas.
pub fn parse_proxies(list: &str) -> Result<Vec<Net>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (addr, prefix) = match s.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (s, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{s:?} is not an address or network"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| format!("{s:?} has a bad prefix length"))?,
            };
            Ok(Net { addr, prefix })
        })
        .collect()
}

/// The client address: `peer`, unless `peer` is a trusted proxy; then the right-most
/// entry of `forwarded` (the `X-Forwarded-For` header values, each a list, in the order
/// received) that is not a trusted proxy.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[Net],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded.rev().flat_map(|list| list.rsplit(',')) {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // Garbage: what is left of it cannot be trusted; keep the last good hop.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    fn client_ip_of(peer: IpAddr, forwarded: &str, trusted: &[Net]) -> IpAddr {
        client_ip(peer, std::iter::once(forwarded), trusted)
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let trusted = parse_proxies("10.0.0.0/8, 192.168.1.1").unwrap_or_default();
        assert_eq!(
            client_ip_of(ip("203.0.113.9"), "1.2.3.4", &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip_of(ip("10.1.2.3"), "1.2.3.4", &trusted),
            ip("1.2.3.4")
        );
        // A client that forges its own X-Forwarded-For entry is still found: the
        // right-most untrusted hop is what the trusted proxy saw.
        assert_eq!(
            client_ip_of(ip("10.1.2.3"), "6.6.6.6, 1.2.3.4, 192.168.1.1", &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip_of(ip("192.168.1.1"), "", &trusted),
            ip("192.168.1.1")
        );
        assert_eq!(
            client_ip_of(ip("10.1.2.3"), "junk, 1.2.3.4", &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip_of(ip("10.1.2.3"), "1.2.3.4, junk", &trusted),
            ip("10.1.2.3")
        );
        // Several X-Forwarded-For headers read as one list, in the order received.
        let headers = ["6.6.6.6, 1.2.3.4", "192.168.1.1"];
        assert_eq!(
            client_ip(ip("10.1.2.3"), headers.into_iter(), &trusted),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn trusted_proxies_refuse_what_is_not_an_address_or_network() {
        assert!(parse_proxies("10.0.0.0/33").is_err());
        assert!(parse_proxies("proxy.local").is_err());
        assert_eq!(parse_proxies(" ").map(|v| v.len()), Ok(0));
        assert_eq!(parse_proxies("::1, fd00::/8").map(|v| v.len()), Ok(2));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let key = |s: &str| AddressKey::of(ip(s)).to_string();
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ff::1"), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:1.2.3.4"), "1.2.3.4");
        assert_eq!(key("1.2.3.4"), "1.2.3.4");
        assert_eq!(
            AddressKey::of(ip("::ffff:1.2.3.4")),
            AddressKey::of(ip("1.2.3.4"))
        );
    }

    #[test]
    fn shared_keys_read_as_before_keys_became_values() {
        // The Redis limits of instances of an older and a newer build count together.
        let address = LocalKey::Address(AddressKey::of(ip("203.0.113.9")));
        assert_eq!(format!("enter:{address}"), "enter:a:203.0.113.9");
        let user = LocalKey::User(Subject::User(7));
        assert_eq!(format!("enter:{user}"), "enter:u:u7");
        let external = LocalKey::User(Subject::External("auth0|42".into()));
        assert_eq!(format!("enter:{external}"), "enter:u:xauth0|42");
    }

    #[test]
    fn routes_fall_in_their_class() {
        let c = |m: &str, p: &str| Class::of(m, p);
        assert_eq!(c("POST", "/api/v1/users"), Some(Class::Signup));
        assert_eq!(c("POST", "/api/v1/sessions"), Some(Class::Signin));
        assert_eq!(c("GET", "/api/v1/sessions"), None);
        assert_eq!(
            c("POST", "/api/v1/passkeys/authentications/{ceremony}"),
            Some(Class::Signin)
        );
        assert_eq!(
            c("POST", "/api/v1/concerts/{concert_id}/queue"),
            Some(Class::Enter)
        );
        assert_eq!(c("GET", "/api/v1/queue/status"), Some(Class::Status));
        assert_eq!(c("DELETE", "/api/v1/queue"), Some(Class::Status));
        assert_eq!(c("POST", "/api/v1/reservations"), Some(Class::Booking));
        assert_eq!(
            c("POST", "/api/v1/reservations/{reservation_id}/payment"),
            Some(Class::Booking)
        );
        assert_eq!(c("POST", "/api/v1/wallet/charge"), Some(Class::Booking));
        assert_eq!(
            c("PUT", "/api/v1/admin/concerts/{concert_id}/queue-policy"),
            Some(Class::Admin)
        );
        assert_eq!(c("GET", "/api/v1/concerts"), None);
        assert_eq!(c("GET", "/api/v1/reservations/{reservation_id}"), None);
        assert_eq!(c("GET", "/healthz"), None);
        assert_eq!(c("POST", "/api/v1/orders"), Some(Class::Booking));
        assert_eq!(
            c("POST", "/api/v1/orders/{order_id}/payment"),
            Some(Class::Booking)
        );
        assert_eq!(
            c("DELETE", "/api/v1/orders/{order_id}"),
            Some(Class::Booking)
        );
        assert_eq!(c("GET", "/api/v1/orders"), None);
    }

    #[tokio::test]
    async fn a_burst_is_allowed_then_refused_until_the_period_passes() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limiter = Limiter::with_clock(
            Rate {
                per_minute: 600,
                burst: 3,
            },
            None,
            clock.clone(),
        );
        let k = || LocalKey::User(Subject::User(1));
        let check = |key: LocalKey| limiter.check(Class::Status, key);
        for _ in 0..3 {
            assert_eq!(check(k()).await, Ok(()));
        }
        let refused = check(k()).await;
        let wait = refused.err().map(|r| r.retry_after).unwrap_or_default();
        // The clock has not moved: the wait is one whole period (600 a minute).
        assert_eq!(wait, Duration::from_millis(100));
        // Another key has its own budget.
        assert_eq!(check(LocalKey::User(Subject::User(2))).await, Ok(()));
        // Not a moment earlier: the clock is the test's, nothing moves it meanwhile.
        clock.advance(wait - Duration::from_millis(1));
        assert!(check(k()).await.is_err());
        clock.advance(Duration::from_millis(1));
        assert_eq!(check(k()).await, Ok(()));
        assert!(check(k()).await.is_err(), "one came back, not two");
    }
}
