//! The scanner page verifies codes in the browser (static/gate-verify.js) by the rules of
//! the Rust verifier. This test writes what the Rust verifier answers for a fixed kit, a
//! fixed clock and a corpus of codes — genuine, every single-character change of one,
//! another key, rotating codes in and out of their window, another holder, another
//! schedule, revoked, outside the validity window, malformed text — to
//! tests/browser/gate-vectors.json, and fails when the file in the repository differs
//! (run with `FRONTROW_WRITE_GATE_VECTORS=1` to rewrite it). tests/browser's
//! gate-verify.test.mjs checks that the page's verifier gives the same answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};
use frontrow_app::http::ticket_dto::{GateKitView, KitRulesView, RevocationView};
use frontrow_app::ticketing::jwk;
use frontrow_domain::model::{ScheduleId, SeatId};
use frontrow_domain::tickets::code::{self, Claims};
use frontrow_domain::tickets::keys::{HolderKey, KeyId, KeySet, TicketSigner};
use frontrow_domain::tickets::model::{Place, TicketId};
use frontrow_domain::tickets::rules::{self, Gate, Precheck, window_of};
use p256::ecdsa::SigningKey as HolderSecret;
use p256::ecdsa::signature::Signer as _;
use serde_json::{Value, json};

const SCHEDULE: i64 = 7;
const REVOKED_TICKET: i64 = 13;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 19, 0, 7).unwrap()
}

fn claims(ticket: i64) -> Claims {
    Claims {
        ticket: TicketId(ticket),
        schedule: ScheduleId(SCHEDULE),
        place: Place::Seat(SeatId(1234)),
        valid_from: (now() - Duration::hours(6)).timestamp(),
        valid_until: (now() + Duration::hours(12)).timestamp(),
        kid: KeyId([0; 4]),
        generation: 0,
        holder: None,
    }
}

fn holder(seed: u8) -> (HolderSecret, HolderKey) {
    let secret = HolderSecret::from_slice(&[seed; 32]).unwrap();
    let public = secret.verifying_key().to_encoded_point(true);
    (secret, HolderKey::from_sec1(public.as_bytes()).unwrap())
}

fn rotating(static_text: &str, window: u64, secret: &HolderSecret) -> String {
    let inner = code::decode_text(static_text).unwrap();
    let sig: p256::ecdsa::Signature = secret.sign(&code::rotating_message(&inner, window));
    code::encode_rotating(&inner, window, &sig.to_bytes().into())
}

fn changed(text: &str, at: usize, to: u8) -> String {
    let mut b = text.as_bytes().to_vec();
    b[at] = to;
    String::from_utf8(b).unwrap()
}

/// (label, code) of every case.
fn corpus(signer: &TicketSigner) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |label: &str, code: String| out.push((label.to_owned(), code));
    let genuine = signer.sign(claims(1));
    push("genuine", genuine.clone());
    push("genuine with spaces", format!("  {genuine}\n"));
    for (i, ch) in genuine.bytes().enumerate() {
        let to = if ch == b'A' { b'B' } else { b'A' };
        push(&format!("char {i} changed"), changed(&genuine, i, to));
    }
    push("one char cut", genuine[..genuine.len() - 1].to_owned());
    push("one char added", format!("{genuine}A"));
    push("padded", format!("{genuine}="));
    push(
        "standard base64",
        genuine.replace('-', "+").replace('_', "/"),
    );
    push("empty", String::new());
    push("not a code", "not a code!".to_owned());
    push("too long", "A".repeat(600));
    let mut area = claims(2);
    area.place = Place::Area(3);
    push("standing area", signer.sign(area));
    let stranger = TicketSigner::from_secret(&[1; 32]);
    push("unknown key", stranger.sign(claims(3)));
    let mut forged = claims(4);
    forged.kid = signer.kid();
    let mut bytes = code::decode_text(&stranger.sign(forged)).unwrap();
    bytes[2..6].copy_from_slice(&signer.kid().0);
    push("forged under the known kid", URL_SAFE_NO_PAD.encode(&bytes));
    let mut other = claims(5);
    other.schedule = ScheduleId(SCHEDULE + 1);
    push("another schedule", signer.sign(other));
    push("revoked", signer.sign(claims(REVOKED_TICKET)));
    let mut moved = claims(REVOKED_TICKET + 1);
    moved.generation = 1;
    push(
        "generation after the revoked one",
        signer.sign(moved.clone()),
    );
    moved.generation = 0;
    push("revoked generation", signer.sign(moved));
    let mut early = claims(6);
    early.valid_from = (now() + Duration::minutes(3)).timestamp();
    push("not valid yet", signer.sign(early));
    let mut late = claims(7);
    late.valid_until = (now() - Duration::minutes(3)).timestamp();
    push("expired", signer.sign(late));
    let mut edge = claims(8);
    edge.valid_from = (now() + Duration::minutes(1)).timestamp();
    push("within the clock skew", signer.sign(edge));
    let (secret, key) = holder(3);
    let (other_secret, _) = holder(4);
    let mut bound = claims(9);
    bound.holder = Some(key);
    let bound_text = signer.sign(bound);
    push("static code of a bound ticket", bound_text.clone());
    let w = window_of(now());
    for off in -3i64..=3 {
        let win = w.checked_add_signed(off).unwrap();
        push(
            &format!("rotating, window {off:+}"),
            rotating(&bound_text, win, &secret),
        );
    }
    push(
        "rotating, another holder",
        rotating(&bound_text, w, &other_secret),
    );
    push(
        "rotating around an unbound code",
        rotating(&genuine, w, &secret),
    );
    let good = rotating(&bound_text, w, &secret);
    let len = good.len();
    for at in [1, 5, 40, len - 60, len - 2] {
        let to = if good.as_bytes()[at] == b'A' {
            b'B'
        } else {
            b'A'
        };
        push(
            &format!("rotating, char {at} changed"),
            changed(&good, at, to),
        );
    }
    out
}

fn answer(p: &Precheck) -> Value {
    match p {
        Precheck::Admissible(_) => json!({ "result": "admissible", "reason": null }),
        Precheck::Refused { result, reason, .. } => json!({
            "result": serde_json::to_value(frontrow_app::http::ticket_dto::CheckResultView::from(*result)).unwrap(),
            "reason": reason.map(|r| r.as_str()),
        }),
    }
}

fn vectors() -> Value {
    let signer = TicketSigner::from_secret(&[9; 32]);
    let keys = KeySet::new(&[signer.public()]);
    let skew = Duration::minutes(2);
    let kit = GateKitView {
        schedule_id: SCHEDULE,
        generated_at: now(),
        incremental: false,
        keys: vec![jwk(&signer.public())],
        revocations: vec![
            RevocationView {
                ticket_id: REVOKED_TICKET,
                through: u32::MAX,
                reason: "returned".into(),
                revoked_at: now(),
            },
            RevocationView {
                ticket_id: REVOKED_TICKET + 1,
                through: 0,
                reason: "moved".into(),
                revoked_at: now(),
            },
        ],
        rules: KitRulesView {
            window_seconds: rules::WINDOW_SECONDS,
            window_steps: rules::WINDOW_STEPS,
            clock_skew_seconds: skew.num_seconds(),
        },
    };
    let gate = Gate {
        keys: &keys,
        schedule: ScheduleId(SCHEDULE),
        now: now(),
        skew,
    };
    let revoked = |t: TicketId| {
        kit.revocations
            .iter()
            .find(|r| r.ticket_id == t.0)
            .map(|r| r.through)
    };
    let cases: Vec<Value> = corpus(&signer)
        .into_iter()
        .map(|(label, code)| {
            let mut a = answer(&rules::precheck(&code, gate, revoked));
            a["label"] = json!(label);
            a["code"] = json!(code);
            a
        })
        .collect();
    json!({ "now": now(), "kit": kit, "cases": cases })
}

#[test]
fn the_browser_verifier_vectors_are_the_rust_verifier_s_answers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/browser/gate-vectors.json");
    let want = serde_json::to_string_pretty(&vectors()).unwrap() + "\n";
    if std::env::var_os("FRONTROW_WRITE_GATE_VECTORS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is not what the Rust verifier answers: rewrite it with FRONTROW_WRITE_GATE_VECTORS=1 \
         and run tests/browser's gate-verify.test.mjs",
        path.display()
    );
    // The corpus covers every answer the page must tell apart.
    let v: Value = serde_json::from_str(&want).unwrap();
    for r in [
        "admissible",
        "invalid",
        "wrong_schedule",
        "revoked",
        "not_valid_yet",
        "expired",
    ] {
        assert!(
            v["cases"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["result"] == r),
            "no case answers {r}"
        );
    }
}
