//! The replies of the draw's steps: setting the opening (`draw_open`), claiming the
//! draw for one caller (`draw_claim`), completing it (`draw_finish`).

use std::collections::HashSet;

use frontrow_domain::draw::Seed;
use frontrow_domain::error::QueueError;
use frontrow_domain::line::phase::DrawOpening;

use super::{Tag, flag_reply, malformed, number};
use crate::scripts::Reply;

/// `draw_open.lua` answers what the domain's rule (`DrawPhase::opening`) says setting
/// the opening does, by its tag.
impl Reply for DrawOpening {
    type Raw = String;

    fn from_raw(reply: String) -> Result<Self, QueueError> {
        match Tag::from_code(&reply) {
            Some(Tag::Created) => Ok(DrawOpening::Create),
            Some(Tag::Moved) => Ok(DrawOpening::Move),
            Some(Tag::Fixed) => Ok(DrawOpening::Keep),
            Some(Tag::Refused) => Ok(DrawOpening::Refuse),
            _ => Err(malformed("draw_open", format_args!("tag {reply:?}"))),
        }
    }
}

/// `draw_claim.lua`'s reply: `{0}`, or `{1, seed, k, epoch, left...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DrawClaim {
    /// Another caller may draw, or nobody may now.
    Lost,
    /// This caller draws the line's incarnation `epoch`: numbers 1..=k, those in `left`
    /// excluded.
    Won {
        seed: Seed,
        k: u64,
        epoch: u64,
        left: HashSet<u64>,
    },
}

impl Reply for DrawClaim {
    type Raw = Vec<String>;

    fn from_raw(reply: Vec<String>) -> Result<Self, QueueError> {
        const S: &str = "draw_claim";
        let (won, rest) = match reply.split_first() {
            Some((won, rest)) => (won.as_str(), rest),
            None => return Err(malformed(S, "no fields")),
        };
        let [seed, k, epoch, left @ ..] = rest else {
            return match (won, rest) {
                ("0", []) => Ok(DrawClaim::Lost),
                _ => Err(malformed(S, format_args!("{reply:?}"))),
            };
        };
        if won != "1" {
            return Err(malformed(S, format_args!("won is {won:?}")));
        }
        let k: u64 = number(S, "k", k)?;
        let left = left
            .iter()
            .map(|s| match number(S, "left number", s)? {
                n @ 1.. if n <= k => Ok(n),
                n => Err(malformed(
                    S,
                    format_args!("left number {n} outside 1..={k}"),
                )),
            })
            .collect::<Result<_, _>>()?;
        Ok(DrawClaim::Won {
            seed: Seed::from_hex(seed)
                .ok_or_else(|| malformed(S, "the seed is not 64 hex digits"))?,
            k,
            epoch: number(S, "epoch", epoch)?,
            left,
        })
    }
}

/// `draw_finish.lua`'s reply: whether this caller's claim completed the draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DrawFinished(pub bool);

impl Reply for DrawFinished {
    type Raw = i64;

    fn from_raw(reply: i64) -> Result<Self, QueueError> {
        flag_reply("draw_finish", reply).map(DrawFinished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replies::strings;

    #[test]
    fn draw_open_replies_are_the_domains_openings() {
        assert_eq!(
            DrawOpening::from_raw("O".into()).unwrap(),
            DrawOpening::Create
        );
        assert_eq!(
            DrawOpening::from_raw("M".into()).unwrap(),
            DrawOpening::Move
        );
        assert_eq!(
            DrawOpening::from_raw("F".into()).unwrap(),
            DrawOpening::Keep
        );
        assert_eq!(
            DrawOpening::from_raw("R".into()).unwrap(),
            DrawOpening::Refuse
        );
        assert!(DrawOpening::from_raw("W".into()).is_err());
    }

    #[test]
    fn a_won_claim_names_its_seed_and_the_numbers_that_left() {
        let seed = "ab".repeat(32);
        let won = DrawClaim::from_raw(strings(&["1", &seed, "5", "77", "2", "5"])).unwrap();
        assert_eq!(
            won,
            DrawClaim::Won {
                seed: Seed::from_hex(&seed).unwrap(),
                k: 5,
                epoch: 77,
                left: HashSet::from([2, 5]),
            }
        );
        assert_eq!(
            DrawClaim::from_raw(strings(&["0"])).unwrap(),
            DrawClaim::Lost
        );
        let none = DrawClaim::from_raw(strings(&["1", &seed, "0", "77"])).unwrap();
        assert!(matches!(none, DrawClaim::Won { k: 0, .. }));
    }

    #[test]
    fn a_malformed_claim_is_refused_not_read_as_lost() {
        let seed = "ab".repeat(32);
        for bad in [
            vec![],
            strings(&["1"]),
            strings(&["0", "x"]),
            strings(&["2", &seed, "5", "77"]),
            strings(&["1", "zz", "5", "77"]),
            strings(&["1", &seed, "-5", "77"]),
            strings(&["1", &seed, "5", "77", "x"]),
            strings(&["1", &seed, "5", "77", "6"]),
            strings(&["1", &seed, "5", "77", "0"]),
        ] {
            let err = DrawClaim::from_raw(bad.clone()).unwrap_err().to_string();
            assert!(err.contains("malformed draw_claim reply"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn draw_finish_replies_are_a_flag() {
        assert_eq!(DrawFinished::from_raw(1).unwrap(), DrawFinished(true));
        assert_eq!(DrawFinished::from_raw(0).unwrap(), DrawFinished(false));
        assert!(DrawFinished::from_raw(2).is_err());
    }
}
