//! The `Queue` contract of a line's life (`close`, `reopen`, `retire` in
//! `frontrow_domain::ports::Queue`), run unchanged against `MemoryQueue`, `RedisQueue`
//! and `RedisQueue` on a Redis Cluster, with two instances where the backend is shared.
//! Time is driven through `now`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::error::QueueError;
use frontrow_domain::lifecycle::{CloseReason, LineLife};
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_domain::ports::Queue;
use frontrow_domain::queue::{QueuePolicy, QueueToken, TicketStatus};
use frontrow_tests::queues::{Harness, on_memory, on_redis, on_redis_cluster};

const CONCERT: ConcertId = ConcertId(7);
const T0: i64 = 1_900_000_000_000;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(T0 + ms).single().expect("time")
}

fn policy(max_active: u64, active_ttl_seconds: u64) -> QueuePolicy {
    QueuePolicy {
        max_active,
        admit_per_second: 100,
        active_ttl_seconds,
        ..QueuePolicy::default()
    }
}

async fn enter(q: &dyn Queue, user: i64, now: DateTime<Utc>) -> QueueToken {
    q.enter(CONCERT, UserId(user), now)
        .await
        .expect("enter")
        .ticket
        .token
}

async fn status(q: &dyn Queue, token: &QueueToken, now: DateTime<Utc>) -> TicketStatus {
    q.status(token, now).await.expect("status").status
}

/// Every Redis key of the concert's line (its hash tag), on every node.
fn line_keys(h: &Harness) -> Vec<String> {
    h.redis.as_ref().map_or_else(Vec::new, |r| {
        r.keys()
            .into_iter()
            .filter(|k| k.contains(&format!("{{concert:{}}}", CONCERT.0)))
            .collect()
    })
}

async fn assert_a_closed_line_refuses_entrants_and_tells_its_fans(a: &dyn Queue, b: &dyn Queue) {
    a.set_policy(CONCERT, policy(2, 600)).await.expect("policy");
    let tokens: Vec<QueueToken> =
        futures::future::join_all((0..5).map(|u| enter(a, u, at(0)))).await;
    let mut tokens = tokens;
    tokens.sort_by_key(QueueToken::seq);
    assert_eq!(a.tick(CONCERT, at(1)).await.expect("tick").admitted, 2);
    let life = a
        .close(CONCERT, CloseReason::Operator, at(10))
        .await
        .expect("close");
    assert_eq!(
        life,
        LineLife::Closed {
            reason: CloseReason::Operator,
            since: at(10)
        }
    );
    // Closing again keeps the first reason and time.
    assert_eq!(
        b.close(CONCERT, CloseReason::SoldOut, at(20))
            .await
            .expect("close"),
        life
    );
    assert_eq!(b.life(CONCERT).await.expect("life"), life);
    let waiting = b.status(&tokens[4], at(21)).await.expect("status");
    assert_eq!(
        (waiting.status, waiting.position),
        (TicketStatus::Closed, None)
    );
    assert_eq!(status(a, &tokens[0], at(21)).await, TicketStatus::Active);
    assert_eq!(
        b.admission(&tokens[3], at(21)).await.expect("gate").status,
        TicketStatus::Closed
    );
    assert!(matches!(
        b.enter(CONCERT, UserId(99), at(22)).await,
        Err(QueueError::Closed(CloseReason::Operator))
    ));
    // Room for two more: nobody is admitted from a closed line.
    a.leave(&tokens[0], at(23)).await.expect("leave");
    let report = a.tick(CONCERT, at(3_000)).await.expect("tick");
    assert_eq!((report.admitted, report.life), (0, life));

    assert_eq!(b.reopen(CONCERT).await.expect("reopen"), LineLife::Open);
    let back = a.status(&tokens[4], at(3_001)).await.expect("status");
    assert_eq!(
        (back.status, back.position),
        (TicketStatus::Waiting, Some(3)),
        "a reopened line goes on where it was"
    );
    assert_eq!(a.tick(CONCERT, at(5_000)).await.expect("tick").admitted, 1);
    assert!(b.enter(CONCERT, UserId(99), at(5_001)).await.is_ok());
}

async fn assert_a_retired_line_keeps_nothing_but_how_it_ended(h: &Harness) {
    let (a, b) = (h.first.as_ref(), h.second.as_ref());
    a.set_policy(CONCERT, policy(5, 60)).await.expect("policy");
    let mut tokens = Vec::new();
    for user in 0..20 {
        tokens.push(enter(a, user, at(0)).await);
    }
    assert_eq!(a.tick(CONCERT, at(1)).await.expect("tick").admitted, 5);
    b.leave(&tokens[10], at(2)).await.expect("leave");
    assert_eq!(status(b, &tokens[12], at(3)).await, TicketStatus::Waiting);
    a.close(CONCERT, CloseReason::SoldOut, at(1_000))
        .await
        .expect("close");

    // Not closed long enough, then admissions still running: not yet.
    assert!(!a.retire(CONCERT, at(2_000), at(999)).await.expect("retire"));
    assert!(
        !a.retire(CONCERT, at(2_000), at(1_000))
            .await
            .expect("retire")
    );
    assert!(
        a.retire(CONCERT, at(61_001), at(1_000))
            .await
            .expect("retire")
    );
    assert!(
        b.retire(CONCERT, at(61_002), at(1_000))
            .await
            .expect("retire again")
    );

    assert_eq!(
        a.life(CONCERT).await.expect("life"),
        LineLife::Retired {
            reason: CloseReason::SoldOut
        }
    );
    assert!(!a.concerts().await.expect("concerts").contains(&CONCERT));
    // Late pollers, through either instance, read how it ended; nothing is an error.
    for q in [a, b] {
        for t in [&tokens[0], &tokens[10], &tokens[12], &tokens[19]] {
            let ticket = q.status(t, at(62_000)).await.expect("status");
            assert_eq!(
                (ticket.status, ticket.position),
                (TicketStatus::SoldOut, None)
            );
            assert_eq!(
                q.admission(t, at(62_000)).await.expect("gate").status,
                TicketStatus::SoldOut
            );
        }
        q.leave(&tokens[12], at(62_000))
            .await
            .expect("a late leave is a no-op");
    }
    assert!(matches!(
        b.enter(CONCERT, UserId(99), at(62_001)).await,
        Err(QueueError::Closed(CloseReason::SoldOut))
    ));
    let report = a.tick(CONCERT, at(62_002)).await.expect("tick");
    assert_eq!(
        report.life,
        LineLife::Retired {
            reason: CloseReason::SoldOut
        }
    );
    assert!(!a.concerts().await.expect("concerts").contains(&CONCERT));
    if h.redis.is_some() {
        let left = line_keys(h);
        assert_eq!(left.len(), 1, "only the line's life is kept: {left:?}");
        assert!(left[0].ends_with(":life"), "{left:?}");
    }

    // Seats came back: a new incarnation, numbered afresh on Redis, on from the last
    // token in memory; the old tokens are never waiting nor admitted again.
    assert_eq!(b.reopen(CONCERT).await.expect("reopen"), LineLife::Open);
    let again = a
        .enter(CONCERT, UserId(0), at(70_000))
        .await
        .expect("enter");
    assert!(again.created);
    assert_eq!(again.ticket.position, Some(1));
    assert_ne!(again.ticket.token, tokens[0]);
    for q in [a, b] {
        match q.status(&tokens[12], at(70_001)).await {
            Err(QueueError::UnknownToken) => {}
            Ok(t) => assert!(
                !matches!(t.status, TicketStatus::Waiting | TicketStatus::Active),
                "{t:?}"
            ),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        status(b, &again.ticket.token, at(70_002)).await,
        TicketStatus::Waiting
    );
    assert_eq!(a.tick(CONCERT, at(70_003)).await.expect("tick").admitted, 1);
}

macro_rules! life_contract {
    ($adapter:ident) => {
        mod $adapter {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_closed_line_refuses_entrants_and_tells_its_fans() {
                let h = $adapter();
                assert_a_closed_line_refuses_entrants_and_tells_its_fans(
                    h.first.as_ref(),
                    h.second.as_ref(),
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_retired_line_keeps_nothing_but_how_it_ended() {
                let h = $adapter();
                assert_a_retired_line_keeps_nothing_but_how_it_ended(&h).await;
            }
        }
    };
}

life_contract!(on_memory);
life_contract!(on_redis);
life_contract!(on_redis_cluster);
