//! The users index of a Redis line (which place each user holds) shrinks as fans leave:
//! a fan who leaves, or whose admission ends with a purchase (`complete` leaves), is
//! dropped from it; one who comes back gets a new place at the end, as before.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use deadpool_redis::redis;
use frontrow_domain::model::{ConcertId, UserId};
use frontrow_tests::queues::on_redis;

/// Users in the line's index: the fields of every bucket of its users hash.
fn indexed(test: &frontrow_tests::redis::TestRedis) -> i64 {
    let mut conn = redis::Client::open(test.url.as_str())
        .and_then(|c| c.get_connection())
        .expect("redis");
    test.keys()
        .iter()
        .filter(|k| k.contains("users:"))
        .map(|k| {
            redis::cmd("HLEN")
                .arg(k)
                .query::<i64>(&mut conn)
                .expect("HLEN")
        })
        .sum()
}

#[tokio::test]
async fn the_users_index_shrinks_as_fans_leave_on_redis() {
    let h = on_redis();
    let test = h.redis.as_ref().unwrap();
    let now = Utc.timestamp_millis_opt(1_900_000_000_000).unwrap();
    let concert = ConcertId(11);
    let mut tokens = Vec::new();
    for u in 1..=40 {
        let entered = h.first.enter(concert, UserId(u), now).await.unwrap();
        tokens.push(entered.ticket.token);
    }
    assert_eq!(indexed(test), 40);
    for t in &tokens[..30] {
        h.second.leave(t, now).await.unwrap();
    }
    assert_eq!(indexed(test), 10, "the 30 who left are forgotten");
    // Leaving twice, or with a token the user replaced, changes nothing.
    h.first.leave(&tokens[0], now).await.unwrap();
    assert_eq!(indexed(test), 10);
    // A fan who left comes back at the end of the line.
    let back = h.first.enter(concert, UserId(1), now).await.unwrap();
    assert!(back.created);
    assert_eq!(back.ticket.token.seq(), 41);
    assert_eq!(indexed(test), 11);
    // A fan still in line keeps their place.
    let again = h.first.enter(concert, UserId(40), now).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.ticket.token, tokens[39]);
}
