//! The draw's lasting record: once a concert's draw is revealed, its document and its
//! receipts (first drawn first) are stored in the database, so the draw stays public
//! and checkable after the line retires or the queue's store loses its data.

use async_trait::async_trait;

use crate::draw::Draw;
use crate::error::StoreError;
use crate::model::ConcertId;

/// A receipt as bytes: `SHA-256(queue token)` (its public form is the hex of it).
pub type Receipt = [u8; 32];

/// Where revealed draws are kept for good.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DrawArchive: Send + Sync + 'static {
    /// Stores the revealed `draw` of `concert` (its `seed` is `Some`) with its
    /// `receipts` in drawn order (`draw.entrants` of them), in one transaction: a
    /// reader sees all of it or none. A draw is named by its concert and commitment;
    /// storing one that is already stored changes nothing and succeeds, also when
    /// two callers store it at once.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached or refuses the write; nothing
    /// is stored then.
    async fn store(
        &self,
        concert: ConcertId,
        draw: &Draw,
        receipts: &[Receipt],
    ) -> Result<(), StoreError>;

    /// The concert's most recently stored draw, `None` when none is stored.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn latest(&self, concert: ConcertId) -> Result<Option<Draw>, StoreError>;

    /// The receipts of the concert's draw with this `commitment`, from `offset` (0 =
    /// the first drawn), at most `limit` of them (fewer at the end, none past it);
    /// `None` when that draw is not stored.
    ///
    /// # Errors
    /// `StoreError` when the database cannot be reached.
    async fn receipts(
        &self,
        concert: ConcertId,
        commitment: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<Receipt>>, StoreError>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::draw::Seed;
    use crate::error::QueueError;
    use crate::lifecycle::{CloseReason, LineLife};
    use crate::model::Concert;
    use crate::ports::{MockCatalogRepository, MockClock, MockQueue};
    use crate::queue::TickReport;
    use crate::waiting_room::{MAX_RECEIPTS_PAGE, WaitingRoom, WaitingRoomError};

    const CONCERT: ConcertId = ConcertId(1);

    fn revealed() -> Draw {
        let seed = Seed::from_hex(&"42".repeat(32)).expect("hex");
        Draw {
            commitment: seed.commitment(),
            opens_at: Utc.timestamp_millis_opt(1_900_000_000_000).unwrap(),
            entrants: 3,
            seed: Some(seed.to_hex()),
        }
    }

    fn receipts() -> Vec<Receipt> {
        vec![[1; 32], [2; 32], [3; 32]]
    }

    fn room_of(queue: MockQueue, archive: MockDrawArchive) -> WaitingRoom {
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .returning(|| Utc.timestamp_millis_opt(1_900_000_100_000).unwrap());
        let mut catalog = MockCatalogRepository::new();
        catalog.expect_concert().returning(|id| {
            Ok(Some(Concert {
                id,
                title: "t".into(),
                venue: "v".into(),
            }))
        });
        catalog
            .expect_list_schedules()
            .returning(|_, _| Ok(Some(vec![])));
        WaitingRoom::new(Arc::new(queue), Arc::new(catalog), Arc::new(clock))
            .with_retirement(0)
            .with_draw_archive(Arc::new(archive))
    }

    fn queue_with_draw(draw: Draw) -> MockQueue {
        let mut q = MockQueue::new();
        q.expect_concerts().returning(|| Ok(vec![CONCERT]));
        q.expect_draw().returning(move |_| Ok(Some(draw.clone())));
        q.expect_draw_receipts()
            .withf(|_, offset, limit| *offset == 0 && *limit == MAX_RECEIPTS_PAGE)
            .returning(|_, _, _| Ok(Some(receipts().iter().map(hex::encode).collect())));
        q
    }

    #[tokio::test]
    async fn a_revealed_draw_is_archived_once_with_its_receipts() {
        let mut archive = MockDrawArchive::new();
        archive.expect_latest().times(1).returning(|_| Ok(None));
        archive
            .expect_store()
            .times(1)
            .withf(|c, d, r| *c == CONCERT && *d == revealed() && r == receipts().as_slice())
            .returning(|_, _, _| Ok(()));
        let room = room_of(queue_with_draw(revealed()), archive);
        assert_eq!(room.keep_draws().await.unwrap(), 1);
        // Known archived here: neither the archive nor the receipts are read again.
        assert_eq!(room.keep_draws().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_draw_stored_by_another_instance_or_not_revealed_is_not_stored() {
        let mut archive = MockDrawArchive::new();
        archive
            .expect_latest()
            .times(1)
            .returning(|_| Ok(Some(revealed())));
        let room = room_of(queue_with_draw(revealed()), archive);
        assert_eq!(room.keep_draws().await.unwrap(), 0);

        let mut hidden = revealed();
        hidden.seed = None;
        let room = room_of(queue_with_draw(hidden), MockDrawArchive::new());
        assert_eq!(room.keep_draws().await.unwrap(), 0);
    }

    /// A queue with no draw, or (`down`) one that cannot answer.
    fn queue_without_draw(down: bool) -> MockQueue {
        let mut q = MockQueue::new();
        q.expect_draw().returning(move |_| {
            if down {
                Err(QueueError::unavailable("down"))
            } else {
                Ok(None)
            }
        });
        q
    }

    #[tokio::test]
    async fn the_archive_answers_when_the_queue_has_no_draw_or_cannot_answer() {
        for down in [false, true] {
            let q = queue_without_draw(down);
            let mut archive = MockDrawArchive::new();
            archive.expect_latest().returning(|_| Ok(Some(revealed())));
            archive
                .expect_receipts()
                .withf(|_, commitment, offset, limit| {
                    commitment == revealed().commitment && *offset == 1 && *limit == 2
                })
                .returning(|_, _, _, _| Ok(Some(receipts()[1..].to_vec())));
            let room = room_of(q, archive);
            assert_eq!(room.draw(CONCERT).await.unwrap(), revealed());
            let (draw, page) = room.draw_receipts(CONCERT, 1, 2).await.unwrap();
            assert_eq!(draw, revealed());
            assert_eq!(page, vec!["02".repeat(32), "03".repeat(32)]);
        }
        // Neither has it: no draw, or the queue's outage.
        for down in [false, true] {
            let q = queue_without_draw(down);
            let mut archive = MockDrawArchive::new();
            archive.expect_latest().returning(|_| Ok(None));
            let got = room_of(q, archive).draw(CONCERT).await;
            if down {
                assert!(matches!(got, Err(WaitingRoomError::QueueUnavailable(_))));
            } else {
                assert!(matches!(got, Err(WaitingRoomError::NoDraw)));
            }
        }
    }

    #[tokio::test]
    async fn a_line_retires_only_once_its_draw_is_archived() {
        let stored = Arc::new(AtomicBool::new(false));
        let mut q = queue_with_draw(revealed());
        q.expect_policy().returning(|_| Ok(Default::default()));
        q.expect_tick_capped().returning(|_, now, _| {
            Ok(TickReport {
                admitted: 0,
                expired_waiting: 0,
                expired_active: 0,
                life: LineLife::Closed {
                    reason: CloseReason::Operator,
                    since: now - chrono::Duration::seconds(1),
                },
            })
        });
        let retired_after_store = stored.clone();
        q.expect_retire().times(1).returning(move |_, _, _| {
            assert!(retired_after_store.load(Ordering::SeqCst), "retired first");
            Ok(true)
        });
        let mut archive = MockDrawArchive::new();
        archive.expect_latest().returning(|_| Ok(None));
        let mut attempts = 0;
        let flag = stored.clone();
        archive.expect_store().times(2).returning(move |_, _, _| {
            attempts += 1;
            if attempts == 1 {
                return Err(crate::error::StoreError::new("database down"));
            }
            flag.store(true, Ordering::SeqCst);
            Ok(())
        });
        let room = room_of(q, archive);
        // The archive fails: the line stays (its draw would go with it).
        room.tick_all().await.unwrap();
        room.tick_all().await.unwrap();
    }
}
