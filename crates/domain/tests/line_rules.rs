//! The line's pure rules through the domain's public API: tokens, tickets, policies, ETAs,
//! the draw and a line's life. Each test here kills mutants `scripts/mutants.sh queue` or
//! `room` found alive (docs/src/testing.md, "Mutation testing").

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use frontrow_domain::draw::Seed;
use frontrow_domain::lifecycle::{CloseReason, LineLife};

/// 2026-01-01 00:00 UTC plus `seconds`.
fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

#[test]
fn close_reasons_and_lives_read_as_the_api_writes_them() {
    let reasons = [
        (CloseReason::SoldOut, "SOLD_OUT"),
        (CloseReason::Operator, "OPERATOR"),
        (CloseReason::Ended, "ENDED"),
    ];
    for (reason, text) in reasons {
        assert_eq!(reason.as_str(), text);
        let closed = LineLife::Closed {
            reason,
            since: at(0),
        };
        assert_eq!(closed.as_str(), "CLOSED");
        assert_eq!(closed.reason(), Some(reason));
        let retired = LineLife::Retired { reason };
        assert_eq!(retired.as_str(), "RETIRED");
        assert_eq!(retired.reason(), Some(reason));
    }
    assert_eq!(LineLife::Open.as_str(), "OPEN");
    assert_eq!(LineLife::Open.reason(), None);
}

#[test]
fn a_seed_never_prints_itself() {
    let seed = Seed::from_hex(&"ab".repeat(32)).unwrap();
    let printed = format!("{seed:?}");
    assert_eq!(printed, "Seed(..)");
    assert!(!printed.contains("ab"));
}

mod tokens {
    use frontrow_domain::model::{ConcertId, UserId};
    use frontrow_domain::queue::{QueueToken, TokenKey};

    const TAG: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_is_parsed_only_in_its_exact_form() {
        let t = QueueToken::parse_unchecked(&format!("42.7.9.{TAG}")).unwrap();
        assert_eq!(
            (t.concert(), t.seq(), t.user()),
            (ConcertId(42), 7, UserId(9))
        );
        let longest = i64::MAX.to_string();
        assert_eq!(longest.len(), 19);
        let t =
            QueueToken::parse_unchecked(&format!("{longest}.{longest}.{longest}.{TAG}")).unwrap();
        assert_eq!(t.seq(), 9_223_372_036_854_775_807);
        // Twenty digits are refused even when their value is small.
        let padded = format!("{:020}", 1);
        for bad in [
            format!("42.7.9.{TAG}.1"),
            format!("42.7.9.{}", &TAG[..31]),
            format!("42.7.9.{TAG}0"),
            format!("42.7.9.{}g", &TAG[..31]),
            format!("42.0.9.{TAG}"),
            format!(".7.9.{TAG}"),
            format!("42.7.-9.{TAG}"),
            format!("{padded}.7.9.{TAG}"),
            format!("42.{padded}.9.{TAG}"),
            format!("42.7.{padded}.{TAG}"),
            "42.7.9".to_owned(),
        ] {
            assert!(
                QueueToken::parse_unchecked(&bad).is_none(),
                "{bad:?} parsed"
            );
        }
    }

    #[test]
    fn a_token_prints_as_its_text_in_lower_case() {
        let upper = format!("42.7.9.{}", TAG.to_uppercase());
        let t = QueueToken::parse_unchecked(&upper).unwrap();
        assert_eq!(t.as_str(), format!("42.7.9.{TAG}"));
        assert_eq!(t.to_string(), t.as_str());
    }

    #[test]
    fn each_incarnation_of_a_line_signs_its_own_tokens() {
        let key = TokenKey::derive(b"secret");
        assert_eq!(format!("{key:?}"), "TokenKey(..)");
        let first = key.for_line(ConcertId(1), 1);
        let again = key.for_line(ConcertId(1), 2);
        let other = key.for_line(ConcertId(2), 1);
        assert_eq!(first, key.for_line(ConcertId(1), 1));
        assert_ne!(first, again);
        assert_ne!(first, other);
        assert_ne!(first, key);
        let token = QueueToken::issue(&first, ConcertId(1), 5, UserId(3));
        assert!(QueueToken::verify(&first, token.as_str()).is_some());
        assert!(QueueToken::verify(&again, token.as_str()).is_none());
        assert!(QueueToken::verify(&key, token.as_str()).is_none());
    }
}

mod tickets {
    use frontrow_domain::model::{ConcertId, UserId};
    use frontrow_domain::queue::{Inventory, QueueToken, Ticket, TicketStatus, TokenKey};

    fn waiting(position: u64) -> Ticket {
        let token = QueueToken::issue(&TokenKey::derive(b"k"), ConcertId(1), 4, UserId(2));
        Ticket {
            status: TicketStatus::Waiting,
            position: Some(position),
            eta_seconds: Some(30),
            eta_range: Some((20, 40)),
            ..Ticket::expired(&token)
        }
    }

    #[test]
    fn statuses_and_inventories_read_as_the_api_writes_them() {
        for (status, text) in [
            (TicketStatus::Waiting, "WAITING"),
            (TicketStatus::Active, "ACTIVE"),
            (TicketStatus::Expired, "EXPIRED"),
            (TicketStatus::PreQueue, "PRE_QUEUE"),
            (TicketStatus::SoldOut, "SOLD_OUT"),
            (TicketStatus::Closed, "CLOSED"),
        ] {
            assert_eq!(status.as_str(), text);
        }
        for (inventory, text, code) in [
            (Inventory::Available, "AVAILABLE", "A"),
            (Inventory::AllHeld, "ALL_HELD", "H"),
            (Inventory::SoldOut, "SOLD_OUT", "S"),
        ] {
            assert_eq!((inventory.as_str(), inventory.code()), (text, code));
            assert_eq!(Inventory::from_code(code), Some(inventory));
        }
        assert_eq!(Inventory::from_code("X"), None);
    }

    #[test]
    fn a_ticket_knows_nothing_until_told() {
        let token = QueueToken::issue(&TokenKey::derive(b"k"), ConcertId(3), 4, UserId(2));
        let t = Ticket::expired(&token);
        assert_eq!(
            (t.concert_id, t.user_id, &t.token),
            (ConcertId(3), UserId(2), &token)
        );
        assert_eq!(t.status, TicketStatus::Expired);
        assert_eq!((t.position, t.ahead()), (None, None));
    }

    #[test]
    fn the_fans_ahead_are_the_places_before_this_one() {
        assert_eq!(waiting(1).ahead(), Some(0));
        assert_eq!(waiting(5).ahead(), Some(4));
        assert_eq!(waiting(0).ahead(), Some(0));
    }

    #[test]
    fn a_sold_out_line_turns_waiting_fans_away_and_keeps_admitted_ones() {
        let sold = waiting(3).with_inventory(Some(Inventory::SoldOut));
        assert_eq!(sold.status, TicketStatus::SoldOut);
        assert_eq!(
            (sold.position, sold.eta_seconds, sold.eta_range),
            (None, None, None)
        );
        assert_eq!(sold.inventory, Some(Inventory::SoldOut));
        let held = waiting(3).with_inventory(Some(Inventory::AllHeld));
        assert_eq!(
            (held.status, held.position),
            (TicketStatus::Waiting, Some(3))
        );
        assert_eq!(held.inventory, Some(Inventory::AllHeld));
        let active = Ticket {
            status: TicketStatus::Active,
            ..waiting(3)
        }
        .with_inventory(Some(Inventory::SoldOut));
        assert_eq!(
            (active.status, active.position),
            (TicketStatus::Active, Some(3))
        );
        let pre = Ticket {
            status: TicketStatus::PreQueue,
            position: None,
            opens_at: Some(super::at(60)),
            ..waiting(3)
        }
        .with_inventory(Some(Inventory::SoldOut));
        assert_eq!((pre.status, pre.opens_at), (TicketStatus::SoldOut, None));
    }
}

mod policies {
    use frontrow_domain::queue::{MAX_ADMIT_PER_SEAT, MAX_POW_DIFFICULTY, QueuePolicy};

    fn ok(p: QueuePolicy) -> bool {
        p.validate().is_ok()
    }

    #[test]
    fn every_bound_of_a_policy_is_inclusive() {
        let d = QueuePolicy::default();
        assert!(ok(d));
        for (p, good) in [
            (QueuePolicy { max_active: 0, ..d }, false),
            (QueuePolicy { max_active: 1, ..d }, true),
            (
                QueuePolicy {
                    max_active: 10_000_000,
                    ..d
                },
                true,
            ),
            (
                QueuePolicy {
                    max_active: 10_000_001,
                    ..d
                },
                false,
            ),
            (
                QueuePolicy {
                    admit_per_second: 0,
                    ..d
                },
                false,
            ),
            (
                QueuePolicy {
                    admit_per_second: 1,
                    ..d
                },
                true,
            ),
            (
                QueuePolicy {
                    admit_per_second: 10_000_000,
                    ..d
                },
                true,
            ),
            (
                QueuePolicy {
                    admit_per_second: 10_000_001,
                    ..d
                },
                false,
            ),
            (
                QueuePolicy {
                    active_ttl_seconds: 0,
                    ..d
                },
                false,
            ),
            (
                QueuePolicy {
                    active_ttl_seconds: 1,
                    ..d
                },
                true,
            ),
            (
                QueuePolicy {
                    active_ttl_seconds: 86_400,
                    ..d
                },
                true,
            ),
            (
                QueuePolicy {
                    active_ttl_seconds: 86_401,
                    ..d
                },
                false,
            ),
            (
                QueuePolicy {
                    admit_per_seat: 0.99,
                    ..d
                },
                false,
            ),
            (
                QueuePolicy {
                    admit_per_seat: 1.0,
                    ..d
                },
                true,
            ),
            (
                QueuePolicy {
                    admit_per_seat: MAX_ADMIT_PER_SEAT,
                    ..d
                },
                true,
            ),
            (
                QueuePolicy {
                    admit_per_seat: MAX_ADMIT_PER_SEAT * 1.01,
                    ..d
                },
                false,
            ),
            (
                QueuePolicy {
                    pow_difficulty: MAX_POW_DIFFICULTY,
                    ..d
                },
                true,
            ),
            (
                QueuePolicy {
                    pow_difficulty: MAX_POW_DIFFICULTY + 1,
                    ..d
                },
                false,
            ),
        ] {
            assert_eq!(ok(p), good, "{p:?}");
        }
    }

    #[test]
    fn each_refusal_names_its_field() {
        let d = QueuePolicy::default();
        for (p, field) in [
            (QueuePolicy { max_active: 0, ..d }, "max_active"),
            (
                QueuePolicy {
                    admit_per_second: 0,
                    ..d
                },
                "admit_per_second",
            ),
            (
                QueuePolicy {
                    active_ttl_seconds: 0,
                    ..d
                },
                "active_ttl_seconds",
            ),
        ] {
            assert!(p.validate().unwrap_err().contains(field), "{p:?}");
        }
    }
}

mod rates {
    use frontrow_domain::queue::{
        QueuePolicy, RATE_EMA_TAU_SECONDS, eta_range, eta_seconds, update_rate_ema, update_rate_var,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// The weight one second of observation gets.
    fn alpha(seconds: f64) -> f64 {
        1.0 - (-seconds / RATE_EMA_TAU_SECONDS).exp()
    }

    #[test]
    fn one_observation_moves_the_average_by_its_weight() {
        let ema = update_rate_ema(4.0, 20, 2.0);
        assert!(close(ema, 4.0 + alpha(2.0) * (10.0 - 4.0)), "{ema}");
        assert!(close(update_rate_ema(4.0, 20, -1.0), 4.0));
        let var = update_rate_var(1.0, 4.0, 20, 2.0);
        assert!(close(var, 1.0 + alpha(2.0) * (36.0 - 1.0)), "{var}");
        assert!(close(update_rate_var(1.0, 4.0, 20, 0.0), 1.0));
        assert!(close(update_rate_var(1.0, 4.0, 20, -1.0), 1.0));
    }

    #[test]
    fn the_eta_uses_a_measured_rate_from_one_hundredth_per_second() {
        let policy = QueuePolicy {
            admit_per_second: 10,
            ..QueuePolicy::default()
        };
        assert_eq!(eta_seconds(1, 0.01, &policy), Some(100));
        assert_eq!(eta_seconds(1, 0.009, &policy), Some(1));
        assert_eq!(eta_seconds(25, 10.0, &policy), Some(3));
        let stopped = QueuePolicy {
            admit_per_second: 0,
            ..QueuePolicy::default()
        };
        assert_eq!(eta_seconds(1, 0.0, &stopped), None);
        assert_eq!(eta_range(1, 0.0, 0.0, &stopped), None);
    }

    #[test]
    fn the_eta_range_is_twice_the_spread_and_at_least_a_tenth_either_side() {
        let policy = QueuePolicy {
            admit_per_second: 10,
            ..QueuePolicy::default()
        };
        // Spread 2 × 1: between 100 / 12 and 100 / 8 seconds.
        assert_eq!(eta_range(100, 10.0, 1.0, &policy), Some((8, 13)));
        // No measured spread: a tenth of the rate, 100 / 11 to 100 / 9.
        assert_eq!(eta_range(100, 10.0, 0.0, &policy), Some((9, 12)));
        assert_eq!(eta_range(100, 10.0, -5.0, &policy), Some((9, 12)));
        // A wide spread: the slow end stops at a quarter of the rate.
        assert_eq!(eta_range(100, 10.0, 10.0, &policy), Some((3, 40)));
        // No measured rate: the configured one.
        assert_eq!(eta_range(100, 0.0, 1.0, &policy), Some((8, 13)));
        assert_eq!(eta_range(100, 0.01, 0.0, &policy), Some((9_090, 11_112)));
    }
}

mod polling {
    use chrono::{Duration, Utc};
    use frontrow_domain::model::{ConcertId, UserId};
    use frontrow_domain::queue::{
        MAX_POLL_MS, MIN_POLL_MS, QueueToken, Ticket, TicketStatus, TokenKey, poll_after_ms,
    };

    /// The instant the cadence is asked at (any fixed one: no wall clock).
    fn now() -> chrono::DateTime<Utc> {
        chrono::DateTime::from_timestamp(1_900_000_000, 0).expect("an instant")
    }

    fn ticket(status: TicketStatus, eta_seconds: Option<u64>) -> Ticket {
        let token = QueueToken::issue(&TokenKey::derive(b"k"), ConcertId(1), 4, UserId(2));
        Ticket {
            status,
            eta_seconds,
            ..Ticket::expired(&token)
        }
    }

    #[test]
    fn a_fan_polls_four_times_on_the_way_within_a_quarter_of_the_idle_timeout() {
        let waiting = |eta| ticket(TicketStatus::Waiting, Some(eta));
        assert_eq!(poll_after_ms(&waiting(1), 60, now()), MIN_POLL_MS);
        assert_eq!(poll_after_ms(&waiting(10), 60, now()), 2_500);
        assert_eq!(poll_after_ms(&waiting(100), 60, now()), 15_000);
        assert_eq!(poll_after_ms(&waiting(100), 8, now()), 2_000);
        assert_eq!(poll_after_ms(&waiting(100), 1, now()), MIN_POLL_MS);
        assert_eq!(poll_after_ms(&waiting(1_000), 3_600, now()), MAX_POLL_MS);
        // Paused (no ETA): at most every 5 s, within the idle bound.
        let paused = ticket(TicketStatus::Waiting, None);
        assert_eq!(poll_after_ms(&paused, 60, now()), 5_000);
        assert_eq!(poll_after_ms(&paused, 8, now()), 2_000);
        for status in [
            TicketStatus::Active,
            TicketStatus::Expired,
            TicketStatus::SoldOut,
        ] {
            assert_eq!(poll_after_ms(&ticket(status, None), 8, now()), 2_000);
            assert_eq!(poll_after_ms(&ticket(status, None), 60, now()), 15_000);
        }
    }

    #[test]
    fn a_pre_queued_fan_polls_promptly_once_the_sale_opens() {
        let pre = |opens_at| Ticket {
            opens_at,
            ..ticket(TicketStatus::PreQueue, None)
        };
        assert_eq!(poll_after_ms(&pre(None), 60, now()), MIN_POLL_MS);
        let opened = Some(now() - Duration::hours(1));
        assert_eq!(poll_after_ms(&pre(opened), 60, now()), MIN_POLL_MS);
        // Far ahead of the opening: as seldom as the idle bound allows.
        let tomorrow = Some(now() + Duration::days(1));
        assert_eq!(poll_after_ms(&pre(tomorrow), 60, now()), 15_000);
        // In between: half the time left, so the fan checks twice as the opening nears.
        let soon = Some(now() + Duration::seconds(10));
        assert_eq!(poll_after_ms(&pre(soon), 60, now()), 5_000);
        let sooner = Some(now() + Duration::seconds(3));
        assert_eq!(poll_after_ms(&pre(sooner), 60, now()), 1_500);
    }
}

mod counts {
    use frontrow_domain::fenwick::Fenwick;

    #[test]
    fn an_empty_tree_sums_to_zero_and_knows_it_is_empty() {
        let mut f = Fenwick::default();
        assert_eq!((f.len(), f.is_empty()), (0, true));
        assert_eq!((f.prefix(0), f.prefix(3)), (0, 0));
        f.add(1, 5);
        assert_eq!(f.prefix(1), 0, "no index 1 yet");
    }

    #[test]
    fn every_prefix_matches_a_plain_vector_and_outside_indexes_are_ignored() {
        let mut f = Fenwick::default();
        let mut plain: Vec<u64> = Vec::new();
        for v in [3u32, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5] {
            f.push(v);
            plain.push(u64::from(v));
        }
        assert_eq!((f.len(), f.is_empty()), (11, false));
        for (i, delta) in [(1usize, 2i32), (11, -3), (4, 1), (8, -2)] {
            f.add(i, delta);
            plain[i - 1] = plain[i - 1].checked_add_signed(i64::from(delta)).unwrap();
        }
        f.add(0, 7);
        f.add(12, 7);
        for i in 0..=11 {
            assert_eq!(f.prefix(i), plain[..i].iter().sum::<u64>(), "prefix({i})");
        }
        assert_eq!(f.prefix(100), plain.iter().sum::<u64>());
    }
}

mod settings {
    use frontrow_domain::queue::{DEFAULT_ADMIT_PER_SEAT, QueuePolicy, QueueSettings, TokenKey};

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let p = QueuePolicy::default();
        assert_eq!(
            (
                p.max_active,
                p.admit_per_second,
                p.active_ttl_seconds,
                p.paused
            ),
            (1_000, 100, 600, false)
        );
        assert_eq!((p.sale_opens_at, p.pow_difficulty), (None, 0));
        assert!((p.admit_per_seat - DEFAULT_ADMIT_PER_SEAT).abs() < f64::EPSILON);
        let s = QueueSettings::default();
        assert_eq!(s.default_policy, p);
        assert_eq!(
            (s.idle_timeout_seconds, s.max_expire_per_tick),
            (60, 10_000)
        );
        assert_eq!(
            s.token_key,
            TokenKey::derive(b"frontrow-dev-secret-change-me")
        );
    }
}
