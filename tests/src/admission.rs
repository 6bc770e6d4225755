//! Checks of a queue policy shared by several instances, written so that a slow or
//! descheduled test only loosens them: the active set is watched until it is full (not
//! for a fixed time), and the admission rate is bounded by the time measured *after*
//! each reading, from a start taken *before* the policy changed.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::app::TestApp;
use crate::wait;

/// Watches the line through every instance until `admitted_total` reaches 10 (the
/// policy's `max_active`), failing on any reading of more than 10 active; then reads
/// once more through each to see it stays there.
pub async fn fills_to_max_active_and_no_further(apps: &[&TestApp], concert: i64) {
    wait::until(
        "the active set fills to 10",
        Duration::from_millis(20),
        || async {
            let mut admitted = 0;
            for app in apps {
                let s = app.queue_stats(concert).await;
                assert!(
                    s["active"].as_u64().unwrap() <= 10,
                    "active past max_active: {s}"
                );
                admitted = s["admitted_total"].as_u64().unwrap();
            }
            if admitted >= 10 {
                Ok(())
            } else {
                Err(format!("{admitted} admitted"))
            }
        },
    )
    .await;
    for app in apps {
        let s = app.queue_stats(concert).await;
        assert_eq!(s["active"], 10, "{s}");
        assert_eq!(s["admitted_total"], 10, "{s}");
    }
}

/// After `change` (setting 10 admissions per second, one second of burst, room for
/// all), the admissions beyond the first 10 never exceed `burst + rate × elapsed` (+1
/// for a tick in flight), and at least 10 more happen.
pub async fn admits_within_the_rate(
    apps: &[&TestApp],
    concert: i64,
    change: impl Future<Output = ()>,
) {
    let start = Instant::now();
    change.await;
    let mut reads = 0usize;
    wait::until(
        "10 more admissions at 10/s",
        Duration::from_millis(100),
        || {
            reads += 1;
            let app = apps[reads % apps.len()];
            async move {
                let s = app.queue_stats(concert).await;
                let admitted = s["admitted_total"].as_u64().unwrap() - 10;
                // Measured after the reading: a late reading only raises the bound.
                let elapsed = start.elapsed();
                let allowed = 10.0 * elapsed.as_secs_f64() + 10.0 + 1.0;
                assert!(
                    (admitted as f64) <= allowed,
                    "{admitted} admitted in at most {elapsed:?}: rate exceeded"
                );
                if admitted >= 20 {
                    Ok(())
                } else {
                    Err(format!("{admitted} admitted"))
                }
            }
        },
    )
    .await;
}
