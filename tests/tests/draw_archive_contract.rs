//! The `DrawArchive` contract (`frontrow_domain::draw_archive`) on SQLite, MariaDB and
//! PostgreSQL: a revealed draw and its receipts come back as stored, page by page
//! across the stored rows; storing again (also two at once) changes nothing; a later
//! draw of the same concert becomes the latest while the earlier stays readable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use frontrow_domain::draw::{Draw, Seed};
use frontrow_domain::draw_archive::{DrawArchive, Receipt};
use frontrow_domain::model::ConcertId;
use frontrow_tests::db::{Backend, fresh_store};

fn receipts(n: usize, salt: u8) -> Vec<Receipt> {
    (0..n)
        .map(|i| {
            let mut r = [salt; 32];
            r[..8].copy_from_slice(&(i as u64).to_be_bytes());
            r
        })
        .collect()
}

fn revealed(seed: &Seed, entrants: usize) -> Draw {
    Draw {
        commitment: seed.commitment(),
        opens_at: Utc.timestamp_millis_opt(1_900_000_000_123).unwrap(),
        entrants: entrants as u64,
        seed: Some(seed.to_hex()),
    }
}

async fn draw_archive_contract(backend: Backend) {
    let store = fresh_store(backend).await;
    let archive: &dyn DrawArchive = &store;
    let concert = ConcertId(41);
    assert_eq!(archive.latest(concert).await.unwrap(), None);

    // 4,321 receipts: three stored rows, the last one partial.
    let seed = Seed::random();
    let draw = revealed(&seed, 4_321);
    let all = receipts(4_321, 7);
    assert_eq!(
        archive
            .receipts(concert, &draw.commitment, 0, 10)
            .await
            .unwrap(),
        None
    );
    let (a, b) = tokio::join!(
        archive.store(concert, &draw, &all),
        archive.store(concert, &draw, &all)
    );
    a.unwrap();
    b.unwrap();
    archive.store(concert, &draw, &all).await.unwrap();
    assert_eq!(archive.latest(concert).await.unwrap(), Some(draw.clone()));
    assert_eq!(archive.latest(ConcertId(42)).await.unwrap(), None);

    for (offset, limit) in [(0, 4_321), (0, 1), (1_999, 2), (2_000, 2_000), (3_990, 500)] {
        let page = archive
            .receipts(concert, &draw.commitment, offset, limit)
            .await
            .unwrap()
            .unwrap();
        let end = (offset + limit).min(4_321) as usize;
        assert_eq!(page, all[offset as usize..end], "{offset}+{limit}");
    }
    let past = archive
        .receipts(concert, &draw.commitment, 4_321, 10)
        .await
        .unwrap();
    assert_eq!(past, Some(vec![]));
    assert_eq!(
        archive
            .receipts(concert, &"0".repeat(64), 0, 10)
            .await
            .unwrap(),
        None
    );

    // Refused: an unrevealed draw, receipts that do not match the count.
    let mut hidden = revealed(&Seed::random(), 3);
    hidden.seed = None;
    assert!(
        archive
            .store(concert, &hidden, &receipts(3, 1))
            .await
            .is_err()
    );
    let short = revealed(&Seed::random(), 3);
    assert!(
        archive
            .store(concert, &short, &receipts(2, 1))
            .await
            .is_err()
    );
    assert_eq!(archive.latest(concert).await.unwrap(), Some(draw.clone()));

    // A later draw of the concert (a reopened line with a new pre-queue).
    let again = revealed(&Seed::random(), 0);
    archive.store(concert, &again, &[]).await.unwrap();
    assert_eq!(archive.latest(concert).await.unwrap(), Some(again.clone()));
    assert_eq!(
        archive
            .receipts(concert, &again.commitment, 0, 10)
            .await
            .unwrap(),
        Some(vec![])
    );
    let first = archive
        .receipts(concert, &draw.commitment, 4_320, 10)
        .await
        .unwrap();
    assert_eq!(first, Some(all[4_320..].to_vec()));
}

#[tokio::test]
async fn draw_archive_contract_on_sqlite() {
    draw_archive_contract(Backend::Sqlite).await;
}

#[tokio::test]
async fn draw_archive_contract_on_mariadb() {
    draw_archive_contract(Backend::MySql).await;
}

#[tokio::test]
async fn draw_archive_contract_on_postgres() {
    draw_archive_contract(Backend::Postgres).await;
}
