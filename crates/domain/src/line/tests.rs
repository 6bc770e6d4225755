//! The line model against a plain list of places, and its phases.

use proptest::prelude::*;

use super::phase::DrawPhase;
use super::{Line, Standing};

#[test]
fn positions_skip_gone_places_and_admitted_ones() {
    let mut l = Line::default();
    l.issue(10);
    assert_eq!(l.standing(10, 0), Standing::Waiting { position: 10 });
    assert!(l.leave(3));
    assert!(!l.leave(3));
    assert_eq!(l.standing(10, 0), Standing::Waiting { position: 9 });
    assert_eq!(l.standing(3, 0), Standing::Expired);
    l.admitted(1, 5, 100);
    assert_eq!(l.standing(10, 0), Standing::Waiting { position: 5 });
    assert_eq!(l.standing(5, 99), Standing::Active { until_ms: 100 });
    assert_eq!(l.standing(5, 100), Standing::Expired);
    assert_eq!(l.waiting(), 5);
    assert!(l.leave(4));
    assert_eq!(l.standing(4, 0), Standing::Expired);
    assert_eq!(l.standing(10, 0), Standing::Waiting { position: 5 });
}

#[test]
fn drawn_numbers_take_their_places_and_early_leavers_count_once() {
    let mut l = Line::default();
    l.set_phase(DrawPhase::Pre, 0, 1_000, None);
    l.issue(4);
    assert_eq!(l.standing(2, 0), Standing::PreQueue);
    assert!(l.leave(3));
    assert!(!l.leave(3));
    l.set_phase(DrawPhase::Frozen, 4, 1_000, None);
    l.issue(6);
    assert_eq!(l.standing(1, 0), Standing::PreQueue);
    assert_eq!(l.standing(3, 0), Standing::Expired);
    assert_eq!(l.standing(5, 0), Standing::Waiting { position: 4 });
    // the draw: 4 → 1, 2 → 2, 1 → 3, 3 (gone) → 4
    l.set_phase(DrawPhase::Drawn, 4, 1_000, Some(vec![3, 2, 4, 1]));
    assert_eq!(l.standing(4, 0), Standing::Waiting { position: 1 });
    assert_eq!(l.standing(1, 0), Standing::Waiting { position: 3 });
    assert_eq!(l.standing(5, 0), Standing::Waiting { position: 4 });
    assert_eq!(l.waiting(), 5);
    assert!(!l.leave(3));
    assert!(l.leave(2));
    assert_eq!(l.standing(1, 0), Standing::Waiting { position: 2 });
    l.admitted(1, 3, 10);
    assert_eq!(l.standing(1, 0), Standing::Active { until_ms: 10 });
    assert_eq!(l.standing(6, 0), Standing::Waiting { position: 2 });
    assert_eq!(l.scan_from(), 1);
    assert!(l.may_wait(5) && !l.may_wait(1) && !l.may_wait(2) && !l.may_wait(7));
}

#[test]
fn a_line_everyone_passed_forgets_its_places() {
    let mut l = Line::default();
    for _ in 0..10_000 {
        l.enter();
    }
    for n in (2..5_000).step_by(2) {
        l.leave(n);
    }
    while l.admit(700, Some(1_000)).is_some() {}
    assert!(l.slots() >= 9_000, "batches keep their places");
    l.forget(2_000);
    assert_eq!((l.slots(), l.batches(), l.waiting()), (0, 0, 0));
    let next = l.enter();
    assert_eq!(l.standing(next, 0), Standing::Waiting { position: 1 });
    assert_eq!(l.standing(17, 0), Standing::Expired);
}

#[test]
fn a_resumed_line_answers_as_the_one_it_resumes() {
    let mut full = Line::default();
    full.issue(50);
    for n in [3, 12, 13, 40] {
        full.leave(n);
    }
    full.admitted(1, 20, 500);
    let mut resumed = Line::resume(50, 20, 10);
    resumed.admitted(11, 20, 500);
    for n in [12, 13, 40] {
        resumed.leave(n);
    }
    assert_eq!(resumed.slots(), 40);
    for n in 11..=50 {
        assert_eq!(resumed.standing(n, 0), full.standing(n, 0), "{n}");
    }
}

#[derive(Debug, Clone)]
enum Op {
    Enter,
    /// Leave the i-th issued place (mod the count).
    Leave(usize),
    /// Admit n with a batch lasting this long (0: no batch kept, as in memory).
    Admit(u64, i64),
    /// Time passes, then ended batches are forgotten.
    Forget(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Enter),
        3 => any::<usize>().prop_map(Op::Leave),
        2 => (0u64..40, 0i64..50).prop_map(|(n, ttl)| Op::Admit(n, ttl)),
        1 => (0i64..60).prop_map(Op::Forget),
    ]
}

/// The plain model: each place waiting, gone, or admitted until a time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plain {
    Waiting,
    Gone,
    Admitted(i64),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The position is the number of live places up to mine; nobody is overtaken by
    /// any sequence of enters, leaves, admissions and forgetting; and forgetting (the
    /// rebase) changes no standing.
    #[test]
    fn standings_match_a_plain_list(ops in proptest::collection::vec(op(), 1..600)) {
        let mut line = Line::default();
        let mut plain: Vec<Plain> = Vec::new();
        let mut now = 0i64;
        let mut head = 0u64;
        for op in ops {
            match op {
                Op::Enter => {
                    let place = line.enter();
                    plain.push(Plain::Waiting);
                    prop_assert_eq!(place, plain.len() as u64);
                }
                Op::Leave(i) if !plain.is_empty() => {
                    let i = i % plain.len();
                    let changed = line.leave(i as u64 + 1);
                    match plain[i] {
                        Plain::Gone => prop_assert!(!changed),
                        Plain::Admitted(until) if until <= now => {}
                        _ => {
                            // A forgotten place is one whose batch ended: never a live one.
                            prop_assert!(changed);
                            plain[i] = Plain::Gone;
                        }
                    }
                }
                Op::Leave(_) => {}
                Op::Admit(n, ttl) => {
                    let waiting: Vec<usize> = (0..plain.len()).filter(|&i| plain[i] == Plain::Waiting).collect();
                    match line.admit(n, (ttl > 0).then_some(now + ttl)) {
                        Some((first, last)) => {
                            let admitted: Vec<usize> = waiting.iter().copied().take(n as usize).collect();
                            prop_assert_eq!(admitted.len() as u64, n.min(waiting.len() as u64));
                            prop_assert_eq!(first, head + 1);
                            head = last;
                            prop_assert_eq!(last, admitted.last().map_or(0, |&i| i as u64 + 1));
                            for i in admitted {
                                plain[i] = Plain::Admitted(now + ttl);
                            }
                        }
                        None => prop_assert!(n == 0 || waiting.is_empty()),
                    }
                }
                Op::Forget(dt) => {
                    now += dt;
                    line.forget(now);
                }
            }
            let mut ahead = 0u64;
            for (i, state) in plain.iter().enumerate() {
                let want = match *state {
                    Plain::Waiting => {
                        ahead += 1;
                        Standing::Waiting { position: ahead }
                    }
                    Plain::Gone => Standing::Expired,
                    Plain::Admitted(until) if until > now => Standing::Active { until_ms: until },
                    Plain::Admitted(_) => Standing::Expired,
                };
                prop_assert_eq!(line.standing(i as u64 + 1, now), want, "place {}", i + 1);
            }
            prop_assert_eq!(line.waiting(), ahead);
            // Memory follows what a standing still needs: the places after the base.
            prop_assert!(line.slots() as u64 <= line.issued() - line.base());
        }
    }
}
