//! The reply of the shared rate limit's script (`gcra.lua`).

use frontrow_domain::error::QueueError;
use frontrow_domain::gcra::LimitDecision;

use super::malformed;
use crate::scripts::Reply;

/// `gcra.lua`'s reply: `{1, 0}` allowed, `{0, ms to wait}` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GcraReply(pub LimitDecision);

impl Reply for GcraReply {
    type Raw = Vec<i64>;

    fn from_raw(reply: Vec<i64>) -> Result<Self, QueueError> {
        match reply[..] {
            [1, 0] => Ok(GcraReply(LimitDecision::Allowed)),
            [0, wait] if wait > 0 => Ok(GcraReply(LimitDecision::Refused {
                retry_after_ms: wait.unsigned_abs(),
            })),
            _ => Err(malformed("gcra", format_args!("{reply:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_replies_are_a_decision_and_others_are_refused() {
        assert_eq!(
            GcraReply::from_raw(vec![1, 0]).unwrap().0,
            LimitDecision::Allowed
        );
        assert_eq!(
            GcraReply::from_raw(vec![0, 250]).unwrap().0,
            LimitDecision::Refused {
                retry_after_ms: 250
            }
        );
        for bad in [vec![0, 0], vec![0, -3], vec![1, 5], vec![1], vec![]] {
            assert!(GcraReply::from_raw(bad.clone()).is_err(), "{bad:?}");
        }
    }
}
