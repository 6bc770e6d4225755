//! The demo concert (`frontrow demo`, `frontrow serve --demo`): a standing floor and
//! seated stalls on the first night, a plain hall the next.

use frontrow_domain::model::{Money, NewConcert, NewSchedule};
use frontrow_domain::venue::{
    CategoryRange, Layout, LayoutRow, PriceCategory, Section, SectionKind,
};

use super::wiring::connect_store;
use crate::settings::Settings;

/// The demo's first night: a standing floor in front, then stalls of ten rows with a
/// centre aisle (the first three rows premium, two accessible seats at the back).
fn demo_layout() -> Layout {
    let rows = (0..10u32)
        .map(|r| {
            let mut seats: Vec<Option<u32>> = (1..=10).map(Some).collect();
            seats.push(None);
            seats.extend((11..=20).map(Some));
            LayoutRow {
                label: frontrow_domain::venue::row_letters(r),
                seats,
                accessible: if r == 9 { vec![1, 20] } else { vec![] },
                blocked: vec![],
                categories: if r < 3 {
                    vec![CategoryRange {
                        from: 1,
                        to: 20,
                        category: "Premium".into(),
                    }]
                } else {
                    vec![]
                },
            }
        })
        .collect();
    Layout {
        categories: vec![
            PriceCategory {
                name: "Premium".into(),
                price: Money::from_u32(80_00),
                hidden: false,
            },
            PriceCategory {
                name: "Standard".into(),
                price: Money::from_u32(50_00),
                hidden: false,
            },
            PriceCategory {
                name: "Floor".into(),
                price: Money::from_u32(40_00),
                hidden: false,
            },
        ],
        sections: vec![
            Section {
                name: "Floor".into(),
                category: "Floor".into(),
                kind: SectionKind::Standing { capacity: 200 },
            },
            Section {
                name: "Stalls".into(),
                category: "Standard".into(),
                kind: SectionKind::Seated { rows },
            },
        ],
    }
}

/// Title of the demo concert; loading it twice does nothing the second time.
pub const DEMO_TITLE: &str = "frontrow Live: Demo Night";

/// Creates the demo concert unless it exists. Returns its id.
pub async fn load_demo(settings: &Settings) -> anyhow::Result<i64> {
    let store = connect_store(settings).await?;
    store.migrate_up().await?;
    let repos = store.ports();
    if let Some(c) = repos
        .catalog
        .list_concerts()
        .await?
        .into_iter()
        .find(|c| c.title == DEMO_TITLE)
    {
        let _ = store.close().await;
        return Ok(c.id.0);
    }
    let starts = chrono::Utc::now() + chrono::Duration::days(30);
    let detail = repos
        .catalog
        .create_concert(NewConcert {
            title: DEMO_TITLE.into(),
            venue: "Hall 1".into(),
            schedules: vec![
                NewSchedule {
                    starts_at: starts,
                    rows: 10,
                    seats_per_row: 20,
                    price: Money::from_u32(50_00),
                    layout: Some(demo_layout()),
                },
                NewSchedule {
                    starts_at: starts + chrono::Duration::days(1),
                    rows: 10,
                    seats_per_row: 20,
                    price: Money::from_u32(45_00),
                    layout: None,
                },
            ],
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot create the demo concert: {e}"))?;
    let _ = store.close().await;
    Ok(detail.concert.id.0)
}
