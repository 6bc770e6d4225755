//! The draw's phase and what it says about places: a fan's *number* (its token's
//! sequence) is its place in line, except for the numbers 1..=k pre-queued before the
//! opening, whose places the draw assigns.

use std::sync::Arc;

/// The pre-queue's phase, as an adapter stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrawPhase {
    /// No pre-queue.
    None,
    /// Before the opening: every number is pre-queued.
    Pre,
    /// The opening was reached: numbers 1..=k wait for the draw.
    Frozen,
    /// Numbers 1..=k have their places.
    Drawn,
}

impl DrawPhase {
    /// The stored code (`""` for none).
    pub const fn code(self) -> &'static str {
        match self {
            DrawPhase::None => "",
            DrawPhase::Pre => "pre",
            DrawPhase::Frozen => "frozen",
            DrawPhase::Drawn => "drawn",
        }
    }

    /// The phase a stored code names.
    pub fn from_code(code: &str) -> Option<Self> {
        [
            DrawPhase::None,
            DrawPhase::Pre,
            DrawPhase::Frozen,
            DrawPhase::Drawn,
        ]
        .into_iter()
        .find(|p| p.code() == code)
    }
}

/// What setting a sale's opening does to the line's pre-queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrawOpening {
    /// A line nobody entered gets a pre-queue and its draw.
    Create,
    /// A pre-queue not yet frozen opens at the new time.
    Move,
    /// A frozen or drawn pre-queue is left alone.
    Keep,
    /// Fans entered a line without a pre-queue: too late for one.
    Refuse,
}

impl DrawPhase {
    /// What setting the opening does in this phase, fans having `entered` or not.
    pub fn opening(self, entered: bool) -> DrawOpening {
        match self {
            DrawPhase::None if entered => DrawOpening::Refuse,
            DrawPhase::None => DrawOpening::Create,
            DrawPhase::Pre => DrawOpening::Move,
            DrawPhase::Frozen | DrawPhase::Drawn => DrawOpening::Keep,
        }
    }
}

/// How numbers map to places in each phase.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Placing {
    /// No pre-queue: every number is its place.
    #[default]
    None,
    /// Before the opening: every number is pre-queued.
    Pre { opens_ms: i64 },
    /// The opening was reached: numbers 1..=k wait for the draw.
    Frozen { opens_ms: i64, k: u64 },
    /// Numbers 1..=k have the places `perm[n - 1]`.
    Drawn {
        opens_ms: i64,
        k: u64,
        perm: Arc<Vec<u32>>,
    },
}

impl Placing {
    pub fn phase(&self) -> DrawPhase {
        match self {
            Placing::None => DrawPhase::None,
            Placing::Pre { .. } => DrawPhase::Pre,
            Placing::Frozen { .. } => DrawPhase::Frozen,
            Placing::Drawn { .. } => DrawPhase::Drawn,
        }
    }

    pub fn opens_ms(&self) -> Option<i64> {
        match self {
            Placing::None => None,
            Placing::Pre { opens_ms }
            | Placing::Frozen { opens_ms, .. }
            | Placing::Drawn { opens_ms, .. } => Some(*opens_ms),
        }
    }

    /// The place of number `n`, `None` while it waits for the draw.
    pub fn place_of(&self, n: u64) -> Option<u64> {
        match self {
            Placing::None => Some(n),
            Placing::Pre { .. } => None,
            Placing::Frozen { k, .. } => (n > *k).then_some(n),
            Placing::Drawn { k, perm, .. } => {
                if n > *k {
                    Some(n)
                } else {
                    perm.get(usize::try_from(n.checked_sub(1)?).ok()?)
                        .map(|p| u64::from(*p))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_reads_back_from_its_code() {
        for p in [
            DrawPhase::None,
            DrawPhase::Pre,
            DrawPhase::Frozen,
            DrawPhase::Drawn,
        ] {
            assert_eq!(DrawPhase::from_code(p.code()), Some(p));
        }
        assert_eq!(DrawPhase::from_code("open"), None);
    }

    #[test]
    fn an_opening_creates_moves_keeps_or_is_refused_by_phase() {
        assert_eq!(DrawPhase::None.opening(false), DrawOpening::Create);
        assert_eq!(DrawPhase::None.opening(true), DrawOpening::Refuse);
        for entered in [false, true] {
            assert_eq!(DrawPhase::Pre.opening(entered), DrawOpening::Move);
            assert_eq!(DrawPhase::Frozen.opening(entered), DrawOpening::Keep);
            assert_eq!(DrawPhase::Drawn.opening(entered), DrawOpening::Keep);
        }
    }

    #[test]
    fn drawn_numbers_take_their_drawn_places_and_later_ones_their_own() {
        let drawn = Placing::Drawn {
            opens_ms: 5,
            k: 3,
            perm: Arc::new(vec![3, 1, 2]),
        };
        assert_eq!(drawn.place_of(1), Some(3));
        assert_eq!(drawn.place_of(3), Some(2));
        assert_eq!(drawn.place_of(4), Some(4));
        assert_eq!(drawn.place_of(0), None);
        let frozen = Placing::Frozen { opens_ms: 5, k: 3 };
        assert_eq!(frozen.place_of(2), None);
        assert_eq!(frozen.place_of(4), Some(4));
        assert_eq!(Placing::Pre { opens_ms: 5 }.place_of(9), None);
        assert_eq!(drawn.opens_ms(), Some(5));
        assert_eq!(Placing::None.opens_ms(), None);
        assert_eq!(drawn.phase(), DrawPhase::Drawn);
    }
}
