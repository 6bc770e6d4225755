#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use p256::ecdsa::SigningKey as HolderSecret;
use p256::ecdsa::signature::Signer as _;
use proptest::prelude::*;
use std::sync::Arc;

use super::model::{Checkin, Scan};
use super::port::{BindError, Decision, MockTicketRepository};
use super::{TicketError, TicketPolicy, Tickets, gate_key_hash};
use crate::model::{ConcertId, Schedule};
use crate::ports::{MockCatalogRepository, MockClock};

use super::code::{self, Claims};
use super::keys::{HolderKey, KeyId, KeySet, TicketSigner};
use super::model::{CheckResult, FirstScan, InvalidReason, Place, Ticket, TicketId};
use super::rules::{self, Gate, Precheck, WINDOW_SECONDS, window_of};
use crate::model::{OrderId, ScheduleId, SeatId, UserId};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 19, 0, 0).unwrap()
}

fn claims(ticket: i64) -> Claims {
    Claims {
        ticket: TicketId(ticket),
        schedule: ScheduleId(7),
        place: Place::Seat(SeatId(1234)),
        valid_from: (now() - Duration::hours(6)).timestamp(),
        valid_until: (now() + Duration::hours(12)).timestamp(),
        kid: KeyId([0; 4]),
        generation: 0,
        holder: None,
    }
}

fn gate(keys: &KeySet) -> Gate<'_> {
    Gate {
        keys,
        schedule: ScheduleId(7),
        now: now(),
        skew: Duration::minutes(2),
    }
}

fn result(p: &Precheck) -> (CheckResult, Option<InvalidReason>) {
    match p {
        Precheck::Admissible(_) => (CheckResult::Admitted, None),
        Precheck::Refused { result, reason, .. } => (*result, *reason),
    }
}

fn setup() -> (TicketSigner, KeySet) {
    let s = TicketSigner::from_secret(&[9; 32]);
    let keys = KeySet::new(&[s.public()]);
    (s, keys)
}

#[test]
fn a_signed_code_round_trips_and_is_short_enough_for_a_glance() {
    let (s, keys) = setup();
    let text = s.sign(claims(123_456));
    assert!(text.len() <= 130, "{} chars", text.len());
    let p = rules::precheck(&text, gate(&keys), |_| None);
    let Precheck::Admissible(c) = p else {
        panic!("{p:?}")
    };
    assert_eq!(c.ticket, TicketId(123_456));
    assert_eq!(c.kid, s.kid());
}

#[test]
fn each_refusal_has_its_answer() {
    let (s, keys) = setup();
    let ok = s.sign(claims(1));
    let mut other = claims(1);
    other.schedule = ScheduleId(8);
    assert_eq!(
        result(&rules::precheck(&s.sign(other), gate(&keys), |_| None)).0,
        CheckResult::WrongSchedule
    );
    assert_eq!(
        result(&rules::precheck(&ok, gate(&keys), |_| Some(0))).0,
        CheckResult::Revoked
    );
    let mut early = claims(1);
    early.valid_from = (now() + Duration::minutes(3)).timestamp();
    assert_eq!(
        result(&rules::precheck(&s.sign(early), gate(&keys), |_| None)).0,
        CheckResult::NotValidYet
    );
    let mut late = claims(1);
    late.valid_until = (now() - Duration::minutes(3)).timestamp();
    assert_eq!(
        result(&rules::precheck(&s.sign(late), gate(&keys), |_| None)).0,
        CheckResult::Expired
    );
    // Within the clock skew both ends still admit.
    let mut edge = claims(1);
    edge.valid_from = (now() + Duration::minutes(1)).timestamp();
    edge.valid_until = (now() - Duration::minutes(1)).timestamp() + 1;
    assert!(matches!(
        rules::precheck(&s.sign(edge), gate(&keys), |_| None),
        Precheck::Admissible(_)
    ));
    assert_eq!(
        result(&rules::precheck("not a code!", gate(&keys), |_| None)),
        (CheckResult::Invalid, Some(InvalidReason::Format))
    );
    let stranger = TicketSigner::from_secret(&[1; 32]);
    assert_eq!(
        result(&rules::precheck(
            &stranger.sign(claims(1)),
            gate(&keys),
            |_| None
        )),
        (CheckResult::Invalid, Some(InvalidReason::UnknownKey))
    );
}

#[test]
fn the_validity_window_stretches_by_exactly_the_clock_skew() {
    // Skew 2 min: valid from `now + 2 min` admits, a second later does not; valid until
    // `now - 2 min` has expired (the end is exclusive), a second later has not.
    let (s, keys) = setup();
    let skew = Duration::minutes(2);
    let check = |c: Claims| result(&rules::precheck(&s.sign(c), gate(&keys), |_| None)).0;
    let mut from = claims(1);
    from.valid_from = (now() + skew).timestamp();
    assert_eq!(check(from.clone()), CheckResult::Admitted);
    from.valid_from += 1;
    assert_eq!(check(from), CheckResult::NotValidYet);
    let mut until = claims(1);
    until.valid_until = (now() - skew).timestamp();
    assert_eq!(check(until.clone()), CheckResult::Expired);
    until.valid_until += 1;
    assert_eq!(check(until), CheckResult::Admitted);
}

#[test]
fn a_genuine_codes_ticket_is_known_even_when_refused_and_a_forgerys_is_not() {
    let (s, keys) = setup();
    let admissible = rules::precheck(&s.sign(claims(41)), gate(&keys), |_| None);
    assert_eq!(admissible.claims().map(|c| c.ticket), Some(TicketId(41)));
    let mut other = claims(42);
    other.schedule = ScheduleId(8);
    let wrong = rules::precheck(&s.sign(other), gate(&keys), |_| None);
    assert_eq!(result(&wrong).0, CheckResult::WrongSchedule);
    assert_eq!(wrong.claims().map(|c| c.ticket), Some(TicketId(42)));
    let stranger = TicketSigner::from_secret(&[1; 32]);
    let forged = rules::precheck(&stranger.sign(claims(43)), gate(&keys), |_| None);
    assert_eq!(forged.claims(), None);
    assert_eq!(
        rules::precheck("not a code!", gate(&keys), |_| None).claims(),
        None
    );
}

#[test]
fn a_code_signed_by_another_key_under_a_published_kid_is_a_bad_signature() {
    let (s, keys) = setup();
    let forger = TicketSigner::from_secret(&[2; 32]);
    let mut c = claims(5);
    c.kid = s.kid();
    let signed = code::claims_bytes(&c);
    let forged_text = forger.sign(c.clone());
    // Re-label the forgery with the genuine kid.
    let mut bytes = code::decode_text(&forged_text).unwrap();
    bytes[2..6].copy_from_slice(&s.kid().0);
    assert_eq!(&bytes[..signed.len()], &signed[..]);
    let text = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &bytes);
    assert_eq!(
        result(&rules::precheck(&text, gate(&keys), |_| None)),
        (CheckResult::Invalid, Some(InvalidReason::Signature))
    );
}

#[test]
fn the_revocation_list_refuses_generations_up_to_its_entry() {
    let (s, keys) = setup();
    let mut c = claims(3);
    c.generation = 2;
    let text = s.sign(c);
    assert_eq!(
        result(&rules::precheck(&text, gate(&keys), |_| Some(1))).0,
        CheckResult::Admitted
    );
    assert_eq!(
        result(&rules::precheck(&text, gate(&keys), |_| Some(2))).0,
        CheckResult::Revoked
    );
    assert_eq!(
        result(&rules::precheck(&text, gate(&keys), |_| Some(u32::MAX))).0,
        CheckResult::Revoked
    );
}

#[test]
fn redemption_admits_once() {
    assert_eq!(rules::redeem(None), CheckResult::Admitted);
    let first = FirstScan {
        at: now(),
        gate: "A".into(),
    };
    assert_eq!(rules::redeem(Some(&first)), CheckResult::AlreadyRedeemed);
    assert!(rules::is_duplicate(
        Some(CheckResult::Admitted),
        CheckResult::AlreadyRedeemed
    ));
    assert!(!rules::is_duplicate(None, CheckResult::AlreadyRedeemed));
    assert!(!rules::is_duplicate(
        Some(CheckResult::Admitted),
        CheckResult::Admitted
    ));
}

fn ticket(generation: u32) -> Ticket {
    Ticket {
        id: TicketId(1),
        order_id: OrderId(1),
        user_id: UserId(1),
        schedule_id: ScheduleId(7),
        place: Place::Area(3),
        label: "Pit".into(),
        category: "Floor".into(),
        starts_at: now(),
        issued_at: now(),
        generation,
        holder: None,
        admitted: None,
        revoked_at: None,
    }
}

#[test]
fn the_stored_ticket_decides_revoked_rebound_and_redeemed() {
    assert_eq!(
        rules::stored_refusal(None, 0),
        Some((CheckResult::Invalid, Some(InvalidReason::UnknownTicket)))
    );
    assert_eq!(rules::stored_refusal(Some(&ticket(0)), 0), None);
    assert_eq!(
        rules::stored_refusal(Some(&ticket(1)), 0),
        Some((CheckResult::Revoked, None))
    );
    assert_eq!(
        rules::stored_refusal(Some(&ticket(0)), 1),
        Some((CheckResult::Invalid, Some(InvalidReason::UnknownTicket)))
    );
    let mut t = ticket(0);
    t.admitted = Some(FirstScan {
        at: now(),
        gate: "B".into(),
    });
    assert_eq!(
        rules::stored_refusal(Some(&t), 0),
        Some((CheckResult::AlreadyRedeemed, None))
    );
    t.revoked_at = Some(now());
    assert_eq!(
        rules::stored_refusal(Some(&t), 0),
        Some((CheckResult::Revoked, None))
    );
}

fn holder(seed: u8) -> (HolderSecret, HolderKey) {
    let secret = HolderSecret::from_slice(&[seed; 32]).unwrap();
    let public = secret.verifying_key().to_encoded_point(false);
    (
        secret.clone(),
        HolderKey::from_sec1(public.as_bytes()).unwrap(),
    )
}

fn rotating(static_text: &str, window: u64, secret: &HolderSecret) -> String {
    let inner = code::decode_text(static_text).unwrap();
    let msg = code::rotating_message(&inner, window);
    let sig: p256::ecdsa::Signature = secret.sign(&msg);
    code::encode_rotating(&inner, window, &sig.to_bytes().into())
}

#[test]
fn rotating_codes_hold_for_one_window_either_side_and_no_longer() {
    let (s, keys) = setup();
    let (secret, key) = holder(4);
    let mut c = claims(11);
    c.generation = 1;
    c.holder = Some(key);
    let inner = s.sign(c);
    let w = window_of(now());
    for (offset, admitted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
        let win = w.checked_add_signed(offset).unwrap();
        let got = result(&rules::precheck(
            &rotating(&inner, win, &secret),
            gate(&keys),
            |_| None,
        ));
        if admitted {
            assert_eq!(got.0, CheckResult::Admitted, "offset {offset}");
        } else {
            assert_eq!(
                got,
                (CheckResult::Invalid, Some(InvalidReason::StaleWindow)),
                "offset {offset}"
            );
        }
    }
    // A screenshot taken now is refused 30 s later (two windows on).
    let shot = rotating(&inner, w, &secret);
    let mut later = gate(&keys);
    later.now = now() + Duration::seconds(2 * WINDOW_SECONDS);
    assert_eq!(
        result(&rules::precheck(&shot, later, |_| None)).1,
        Some(InvalidReason::StaleWindow)
    );
    // The static code of a bound ticket is refused, and so is another holder's signature.
    assert_eq!(
        result(&rules::precheck(&inner, gate(&keys), |_| None)).1,
        Some(InvalidReason::RotationRequired)
    );
    let (other, _) = holder(5);
    assert_eq!(
        result(&rules::precheck(
            &rotating(&inner, w, &other),
            gate(&keys),
            |_| None
        ))
        .1,
        Some(InvalidReason::HolderSignature)
    );
    // A rotating wrapper around an unbound ticket is refused.
    let unbound = s.sign(claims(12));
    assert_eq!(
        result(&rules::precheck(
            &rotating(&unbound, w, &secret),
            gate(&keys),
            |_| None
        ))
        .1,
        Some(InvalidReason::HolderSignature)
    );
}

#[test]
fn checkins_are_counted_per_gate_and_minute() {
    let t = now();
    let rows = vec![
        ("A", t, CheckResult::Admitted),
        ("A", t + Duration::seconds(59), CheckResult::Admitted),
        ("A", t + Duration::seconds(60), CheckResult::Invalid),
        ("B", t, CheckResult::AlreadyRedeemed),
    ];
    let m = rules::per_gate_minute(rows);
    assert_eq!(m.len(), 3);
    assert_eq!(
        (m[0].gate.as_str(), m[0].admitted, m[0].refused),
        ("A", 2, 0)
    );
    assert_eq!((m[1].admitted, m[1].refused), (0, 1));
    assert_eq!((m[2].gate.as_str(), m[2].refused), ("B", 1));
    // Each bucket is named by the start of its minute.
    assert_eq!(m[0].minute, t);
    assert_eq!(m[1].minute, t + Duration::seconds(60));
    let late = rules::per_gate_minute(vec![(
        "C",
        t + Duration::seconds(61),
        CheckResult::Admitted,
    )]);
    assert_eq!(late[0].minute, t + Duration::seconds(60));
}

#[test]
fn results_and_key_ids_read_back_as_written() {
    for r in CheckResult::ALL {
        assert_eq!(CheckResult::parse(r.as_str()), Some(r));
    }
    assert_eq!(CheckResult::parse("ADMITTED"), None);
    let k = KeyId([1, 2, 0xab, 0xff]);
    assert_eq!(KeyId::from_hex(&k.to_hex()), Some(k));
    assert_eq!(KeyId::from_hex("abc"), None);
}

#[test]
fn gate_keys_are_stored_by_hash() {
    let h = super::gate_key_hash("gk_secret");
    assert_eq!(h.len(), 64);
    assert_ne!(h, super::gate_key_hash("gk_secreT"));
}

fn arb_claims() -> impl Strategy<Value = Claims> {
    (
        0i64..i64::MAX,
        0i64..1_000_000,
        any::<bool>(),
        0i64..i64::MAX,
        0i64..4_000_000_000,
        0i64..4_000_000_000,
        any::<u32>(),
    )
        .prop_map(|(t, s, area, p, from, until, generation)| Claims {
            ticket: TicketId(t),
            schedule: ScheduleId(s),
            place: if area {
                Place::Area(p)
            } else {
                Place::Seat(SeatId(p))
            },
            valid_from: from,
            valid_until: until,
            kid: KeyId([0; 4]),
            generation,
            holder: None,
        })
}

/// A mixed stream: genuine codes, one changed character, another key under a known or
/// unknown kid, rotating codes (good and stale), another schedule, and no code at all.
fn mixed_stream(kinds: &[u8]) -> Vec<String> {
    let (s, _) = setup();
    let stranger = TicketSigner::from_secret(&[1; 32]);
    let (holder_secret, holder_key) = holder(3);
    kinds
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let id = 1_000 + i64::try_from(i).unwrap();
            match kind % 8 {
                0..=2 => s.sign(claims(id)),
                3 => {
                    let mut b = s.sign(claims(id)).into_bytes();
                    let p = (i * 7) % b.len();
                    b[p] = if b[p] == b'Q' { b'R' } else { b'Q' };
                    String::from_utf8(b).unwrap()
                }
                4 => stranger.sign(claims(id)),
                5 => {
                    let mut c = claims(id);
                    c.holder = Some(holder_key.clone());
                    let w = window_of(now()) + u64::from(*kind / 8 % 4);
                    rotating(&s.sign(c), w, &holder_secret)
                }
                6 => {
                    let mut c = claims(id);
                    c.schedule = ScheduleId(8);
                    s.sign(c)
                }
                _ => "no code".to_owned(),
            }
        })
        .collect()
}

#[test]
fn one_bad_code_in_a_run_is_the_only_one_refused() {
    let (s, keys) = setup();
    let mut codes: Vec<String> = (0..100).map(|i| s.sign(claims(i))).collect();
    let mut b = codes[37].clone().into_bytes();
    let last = b.len() - 3;
    b[last] = if b[last] == b'A' { b'B' } else { b'A' };
    codes[37] = String::from_utf8(b).unwrap();
    let answers = rules::precheck_many(&codes, gate(&keys), |_| None);
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(
            matches!(a, Precheck::Admissible(_)),
            i != 37,
            "code {i}: {a:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Checking many codes at once answers each exactly as checking it alone.
    #[test]
    fn checking_many_answers_as_checking_one_by_one(kinds in prop::collection::vec(any::<u8>(), 0..150)) {
        let (_, keys) = setup();
        let codes = mixed_stream(&kinds);
        let revoked = |t: TicketId| (t.0 % 11 == 0).then_some(0);
        let many = rules::precheck_many(&codes, gate(&keys), revoked);
        let one: Vec<Precheck> = codes.iter().map(|c| rules::precheck(c, gate(&keys), revoked)).collect();
        prop_assert_eq!(many, one);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the claims, a signed code parses back to exactly them.
    #[test]
    fn any_claims_round_trip(c in arb_claims()) {
        let (s, _) = setup();
        let text = s.sign(c.clone());
        let parsed = code::parse(&text).unwrap();
        let mut want = c;
        want.kid = s.kid();
        prop_assert_eq!(&parsed.inner().claims, &want);
    }

    /// One character changed anywhere in a genuine code is never admitted.
    #[test]
    fn one_changed_character_is_never_admitted(pos in 0usize..200, with in 0usize..64) {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let (s, keys) = setup();
        let text = s.sign(claims(987_654));
        let pos = pos % text.len();
        let mut b = text.into_bytes();
        prop_assume!(b[pos] != ALPHABET[with]);
        b[pos] = ALPHABET[with];
        let mutated = String::from_utf8(b).unwrap();
        let p = rules::precheck(&mutated, gate(&keys), |_| None);
        prop_assert!(!matches!(p, Precheck::Admissible(_)), "{mutated} admitted");
    }

    /// Arbitrary text never panics and is never admitted.
    #[test]
    fn arbitrary_text_is_invalid(text in ".{0,300}") {
        let (_, keys) = setup();
        let p = rules::precheck(&text, gate(&keys), |_| None);
        prop_assert_eq!(result(&p).0, CheckResult::Invalid);
    }

    /// A rotating code is admitted exactly within one window of the scanner's.
    #[test]
    fn rotating_window_rule(offset in -5i64..=5, seconds in 0i64..WINDOW_SECONDS) {
        let (s, keys) = setup();
        let (secret, key) = holder(6);
        let mut c = claims(44);
        c.holder = Some(key);
        let inner = s.sign(c);
        let mut g = gate(&keys);
        g.now = now() + Duration::seconds(seconds);
        let w = window_of(g.now).checked_add_signed(offset).unwrap();
        let p = rules::precheck(&rotating(&inner, w, &secret), g, |_| None);
        prop_assert_eq!(matches!(p, Precheck::Admissible(_)), offset.abs() <= 1);
    }
}

fn use_case(repo: MockTicketRepository) -> Tickets {
    let mut catalog = MockCatalogRepository::new();
    catalog.expect_get_schedule().returning(|id| {
        Ok((id == ScheduleId(7)).then(|| Schedule {
            id,
            concert_id: ConcertId(1),
            starts_at: now(),
        }))
    });
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    let (signer, keys) = setup();
    Tickets::new(
        Arc::new(repo),
        Arc::new(catalog),
        Arc::new(signer),
        Arc::new(keys),
        Arc::new(clock),
        TicketPolicy::default(),
    )
}

fn gate_of(schedule: i64) -> super::model::GateKey {
    super::model::GateKey {
        id: 1,
        schedule_id: ScheduleId(schedule),
        label: "North".into(),
        created_at: now(),
        revoked_at: None,
    }
}

fn a_scan(code: String) -> Scan {
    Scan {
        code,
        gate: "North".into(),
        device: "d1".into(),
        nonce: "n1".into(),
        scanned_at: now(),
        offline_result: None,
    }
}

fn stored(new: &super::port::NewCheckin, result: CheckResult) -> Checkin {
    Checkin {
        id: 1,
        nonce: new.scan.nonce.clone(),
        schedule_id: new.schedule_id,
        ticket_id: None,
        gate: new.scan.gate.clone(),
        device: new.scan.device.clone(),
        scanned_at: new.scan.scanned_at,
        received_at: new.received_at,
        result,
        reason: None,
        first: None,
        duplicate: false,
        offline_result: None,
        replayed: false,
    }
}

#[tokio::test]
async fn a_genuine_code_goes_to_the_store_to_be_redeemed_and_a_forgery_does_not() {
    let mut repo = MockTicketRepository::new();
    repo.expect_gate_key()
        .withf(|h| h == gate_key_hash("gk_1"))
        .returning(|_| Ok(Some(gate_of(7))));
    repo.expect_record_checkin()
        .withf(|n| {
            n.decision
                == Decision::Admit {
                    ticket: TicketId(1),
                    generation: 0,
                }
        })
        .times(1)
        .returning(|n| Ok(stored(&n, CheckResult::Admitted)));
    repo.expect_record_checkin()
        .withf(|n| {
            matches!(
                n.decision,
                Decision::Refuse {
                    result: CheckResult::Invalid,
                    reason: Some(InvalidReason::UnknownKey),
                    ticket: None
                }
            )
        })
        .times(1)
        .returning(|n| Ok(stored(&n, CheckResult::Invalid)));
    let t = use_case(repo);
    let (s, _) = setup();
    let out = t.checkin("gk_1", a_scan(s.sign(claims(1)))).await.unwrap();
    assert_eq!(out.checkin.result, CheckResult::Admitted);
    let forged = TicketSigner::from_secret(&[3; 32]).sign(claims(1));
    let out = t.checkin("gk_1", a_scan(forged)).await.unwrap();
    assert_eq!(out.checkin.result, CheckResult::Invalid);
}

#[tokio::test]
async fn unknown_or_revoked_gate_keys_and_bad_scans_are_refused_before_the_store() {
    let mut repo = MockTicketRepository::new();
    repo.expect_gate_key().returning(|h| {
        Ok(
            (h == gate_key_hash("gk_revoked")).then(|| super::model::GateKey {
                revoked_at: Some(now()),
                ..gate_of(7)
            }),
        )
    });
    repo.expect_record_checkin().never();
    let t = use_case(repo);
    let code = setup().0.sign(claims(1));
    for key in ["gk_unknown", "gk_revoked"] {
        assert!(matches!(
            t.checkin(key, a_scan(code.clone())).await,
            Err(TicketError::GateKeyInvalid)
        ));
    }
    let mut bad = a_scan(code.clone());
    bad.nonce = "n".repeat(65);
    assert!(matches!(
        t.checkin("gk_unknown", bad).await,
        Err(TicketError::Invalid(_))
    ));
    let mut bad = a_scan(code);
    bad.gate = "\u{7}".into();
    assert!(matches!(
        t.checkin_batch("gk_unknown", vec![bad]).await,
        Err(TicketError::Invalid(m)) if m.contains("scans[0].gate")
    ));
    assert!(matches!(
        t.checkin_batch("gk_unknown", vec![]).await,
        Err(TicketError::Invalid(_))
    ));
}

#[tokio::test]
async fn kits_keys_and_bindings_answer_their_errors() {
    let mut repo = MockTicketRepository::new();
    repo.expect_revocations().returning(|_, since| {
        assert_eq!(since, Some(now() - super::SYNC_OVERLAP));
        Ok(vec![])
    });
    repo.expect_create_gate_key()
        .returning(|_, _, _, _| Ok(None));
    repo.expect_revoke_gate_key().returning(|_, _, _| Ok(false));
    repo.expect_ticket().returning(|_| Ok(None));
    repo.expect_bind_holder()
        .returning(|_, _, _, _| Err(BindError::AlreadyAdmitted));
    let t = use_case(repo);
    assert!(matches!(
        t.gate_kit(ScheduleId(8), None).await,
        Err(TicketError::ScheduleNotFound)
    ));
    let kit = t.gate_kit(ScheduleId(7), Some(now())).await.unwrap();
    assert!(kit.incremental && kit.keys.len() == 1);
    assert!(matches!(
        t.issue_gate_key(ScheduleId(7), "North").await,
        Err(TicketError::ScheduleNotFound)
    ));
    assert!(matches!(
        t.issue_gate_key(ScheduleId(7), "").await,
        Err(TicketError::Invalid(_))
    ));
    assert!(matches!(
        t.revoke_gate_key(ScheduleId(7), 9).await,
        Err(TicketError::NotFound)
    ));
    assert!(matches!(
        t.revoke_ticket(TicketId(9), "returned").await,
        Err(TicketError::NotFound)
    ));
    assert!(matches!(
        t.bind_holder(UserId(1), TicketId(1), b"junk").await,
        Err(TicketError::Invalid(_))
    ));
    let (_, key) = holder(8);
    assert!(matches!(
        t.bind_holder(UserId(1), TicketId(1), key.compressed())
            .await,
        Err(TicketError::AlreadyAdmitted)
    ));
}

#[tokio::test]
async fn a_schedule_requiring_rotation_shows_no_code_until_a_key_is_bound() {
    let mut repo = MockTicketRepository::new();
    repo.expect_tickets_of().returning(|_, _| {
        let mut bound = ticket(1);
        bound.id = TicketId(2);
        bound.holder = Some(holder(9).1);
        bound.generation = 1;
        Ok(vec![ticket(0), bound])
    });
    repo.expect_rotating_required()
        .times(1)
        .returning(|_| Ok(true));
    let t = use_case(repo);
    let mine = t.my_tickets(UserId(1)).await.unwrap();
    assert!(mine[0].code.is_none() && !mine[0].rotating);
    let code = mine[1].code.as_deref().unwrap();
    assert!(mine[1].rotating);
    let c = code::parse(code).unwrap().inner().claims.clone();
    assert_eq!((c.generation, c.holder.is_some()), (1, true));
    assert_eq!(
        c.valid_from,
        (now() - chrono::Duration::hours(6)).timestamp()
    );
}
