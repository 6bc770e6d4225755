//! The `returns` and `waitlist` settings: how long before a schedule's start returns
//! close (unless its operator set another cutoff), and how long a waiting-list offer
//! holds a returned place.

use chrono::Duration;
use frontrow_domain::returns::{MAX_CUTOFF_MINUTES, ReturnsPolicy};
use serde::Deserialize;

/// The `returns` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReturnsSettings {
    /// Returns close this many minutes before a schedule starts (per-schedule override:
    /// `PUT /api/v1/admin/schedules/{id}/returns`).
    pub cutoff_minutes: u32,
}

impl Default for ReturnsSettings {
    fn default() -> Self {
        ReturnsSettings {
            cutoff_minutes: 1_440,
        }
    }
}

/// The `waitlist` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WaitlistSettings {
    /// An offer holds a returned place for the waiting fan this many minutes.
    pub offer_minutes: u32,
}

impl Default for WaitlistSettings {
    fn default() -> Self {
        WaitlistSettings { offer_minutes: 15 }
    }
}

/// The most minutes an offer may hold a place: a day.
const MAX_OFFER_MINUTES: u32 = 1_440;

/// The rules of returns and the waiting list the settings describe.
///
/// # Errors
/// The setting out of bounds, named.
pub fn policy(
    returns: &ReturnsSettings,
    waitlist: &WaitlistSettings,
    max_quantity: u32,
) -> Result<ReturnsPolicy, String> {
    if returns.cutoff_minutes > MAX_CUTOFF_MINUTES {
        return Err(format!(
            "returns.cutoff_minutes: must be at most {MAX_CUTOFF_MINUTES}"
        ));
    }
    if !(1..=MAX_OFFER_MINUTES).contains(&waitlist.offer_minutes) {
        return Err(format!(
            "waitlist.offer_minutes: must be between 1 and {MAX_OFFER_MINUTES}"
        ));
    }
    Ok(ReturnsPolicy {
        default_cutoff: Duration::minutes(i64::from(returns.cutoff_minutes)),
        offer_window: Duration::minutes(i64::from(waitlist.offer_minutes)),
        max_quantity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_day_and_a_quarter_hour() {
        let p = policy(&ReturnsSettings::default(), &WaitlistSettings::default(), 8);
        assert_eq!(
            p,
            Ok(ReturnsPolicy {
                default_cutoff: Duration::hours(24),
                offer_window: Duration::minutes(15),
                max_quantity: 8,
            })
        );
    }

    #[test]
    fn out_of_bounds_settings_are_named() {
        let w = WaitlistSettings::default();
        let r = ReturnsSettings {
            cutoff_minutes: MAX_CUTOFF_MINUTES + 1,
        };
        assert!(policy(&r, &w, 8).is_err_and(|e| e.starts_with("returns.cutoff_minutes")));
        let r = ReturnsSettings::default();
        for offer_minutes in [0, MAX_OFFER_MINUTES + 1] {
            let w = WaitlistSettings { offer_minutes };
            assert!(policy(&r, &w, 8).is_err_and(|e| e.starts_with("waitlist.offer_minutes")));
        }
    }
}
