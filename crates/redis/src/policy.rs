//! A concert's policy as Redis keeps it (the line's `policy` hash): its fields, and how a
//! stored set of them reads as a `QueuePolicy`. Read with one `HMGET`, or with every view
//! sync (then an instance answers `policy` from memory, at most one sync behind).

use chrono::{TimeZone, Utc};
use frontrow_domain::error::QueueError;
use frontrow_domain::queue::{DEFAULT_ADMIT_PER_SEAT, QueuePolicy};

use crate::parse;

/// The policy hash's fields, in the order every reader asks them.
pub(crate) const POLICY_FIELDS: [&str; 7] = [
    "max_active",
    "admit_per_second",
    "active_ttl_seconds",
    "paused",
    "sale_opens_at",
    "admit_per_seat",
    "pow_difficulty",
];

/// The fields as Lua string literals, comma-separated (for `HMGET` in a script).
pub(crate) fn lua_fields() -> String {
    POLICY_FIELDS
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The policy the stored fields (`None` or empty: unset) describe; `default` when no
/// operator set one.
pub(crate) fn parse_policy(
    raw: &[Option<&str>],
    default: QueuePolicy,
) -> Result<QueuePolicy, QueueError> {
    let field = |i: usize| raw.get(i).copied().flatten().filter(|v| !v.is_empty());
    let (Some(max), Some(aps), Some(ttl)) = (field(0), field(1), field(2)) else {
        return Ok(default);
    };
    Ok(QueuePolicy {
        max_active: parse(max)?,
        admit_per_second: parse(aps)?,
        active_ttl_seconds: parse(ttl)?,
        paused: field(3) == Some("1"),
        sale_opens_at: match field(4) {
            None => None,
            Some(ms) => Utc.timestamp_millis_opt(parse(ms)?).single(),
        },
        admit_per_seat: field(5).map_or(Ok(DEFAULT_ADMIT_PER_SEAT), parse)?,
        pow_difficulty: field(6).map(parse).transpose()?.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_fields_read_as_the_policy_and_unset_ones_as_the_default() {
        let default = QueuePolicy::default();
        assert_eq!(parse_policy(&[None; 7], default).ok(), Some(default));
        let set = parse_policy(
            &[
                Some("5"),
                Some("7"),
                Some("60"),
                Some("1"),
                Some(""),
                Some("2.5"),
                Some("3"),
            ],
            default,
        )
        .expect("parses");
        assert_eq!(
            (set.max_active, set.admit_per_second, set.active_ttl_seconds),
            (5, 7, 60)
        );
        assert!(set.paused && set.sale_opens_at.is_none());
        assert_eq!((set.admit_per_seat, set.pow_difficulty), (2.5, 3));
        assert!(parse_policy(&[Some("x"), Some("1"), Some("1")], default).is_err());
        assert!(lua_fields().starts_with("'max_active', 'admit_per_second'"));
    }
}
