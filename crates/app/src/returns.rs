//! The `returns` and `waitlist` settings: how long before a schedule's start returns
//! close (unless its operator set another cutoff), and how long a waiting-list offer
//! holds a returned place. Their defaults and bounds are rows of the settings table
//! (`crate::settings_table`).

use chrono::Duration;
use frontrow_domain::returns::ReturnsPolicy;
use serde::{Deserialize, Serialize};

/// The `returns` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnsSettings {
    /// Returns close this many minutes before a schedule starts (per-schedule override:
    /// `PUT /api/v1/admin/schedules/{id}/returns`).
    pub cutoff_minutes: u32,
}

/// The `waitlist` settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WaitlistSettings {
    /// An offer holds a returned place for the waiting fan this many minutes.
    pub offer_minutes: u32,
}

/// The rules of returns and the waiting list the settings describe.
pub fn policy(
    returns: &ReturnsSettings,
    waitlist: &WaitlistSettings,
    max_quantity: u32,
) -> ReturnsPolicy {
    ReturnsPolicy {
        default_cutoff: Duration::minutes(i64::from(returns.cutoff_minutes)),
        offer_window: Duration::minutes(i64::from(waitlist.offer_minutes)),
        max_quantity,
    }
}

#[cfg(test)]
mod tests {
    use frontrow_domain::returns::MAX_CUTOFF_MINUTES;

    use crate::settings::Settings;
    use crate::settings_table::setting;

    #[test]
    fn defaults_are_a_day_and_a_quarter_hour() {
        let p = Settings::default().returns_policy();
        assert_eq!(p.default_cutoff, chrono::Duration::hours(24));
        assert_eq!(p.offer_window, chrono::Duration::minutes(15));
        assert_eq!(p.max_quantity, 8);
    }

    #[test]
    fn the_cutoff_s_bound_is_the_domain_s_and_out_of_bounds_settings_are_named() {
        let cutoff = setting("returns.cutoff_minutes").expect("a row");
        assert_eq!(cutoff.max, Some(i64::from(MAX_CUTOFF_MINUTES)));
        let mut s = Settings::default();
        s.returns.cutoff_minutes = MAX_CUTOFF_MINUTES + 1;
        assert!(
            s.validate()
                .is_err_and(|e| e.to_string().contains("returns.cutoff_minutes"))
        );
        for offer_minutes in [0, 1_441] {
            let mut s = Settings::default();
            s.waitlist.offer_minutes = offer_minutes;
            assert!(
                s.validate()
                    .is_err_and(|e| e.to_string().contains("waitlist.offer_minutes"))
            );
        }
    }
}
