//! `DrawArchive`: revealed draws and their receipts, stored once in one transaction
//! (a unique concert + commitment makes a second store, even a concurrent one, a no-op).

use async_trait::async_trait;
use chrono::Utc;
use frontrow_domain::draw::Draw;
use frontrow_domain::draw_archive::{DrawArchive, Receipt};
use frontrow_domain::error::StoreError;
use frontrow_domain::model::ConcertId;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::convert::{at, ms};
use crate::entity::{draw, draw_receipt};
use crate::errors::{Fail, is_unique_violation, retrying, store_err};
use crate::store::SeaOrmStore;

/// Receipts per stored row: 2,000 × 32 bytes = 64,000 bytes, within a MySQL `BLOB`.
const RECEIPTS_PER_PAGE: usize = 2_000;

/// Rows per insert statement (about 1 MB, far below MySQL's default packet limit).
const PAGES_PER_INSERT: usize = 16;

fn corrupt(what: &str) -> DbErr {
    DbErr::Type(format!("corrupt row: {what}"))
}

fn to_draw(row: draw::Model) -> Result<Draw, DbErr> {
    Ok(Draw {
        commitment: row.commitment,
        opens_at: at(row.opens_at)?,
        entrants: u64::try_from(row.entrants).map_err(|_| corrupt("negative entrants"))?,
        seed: Some(row.seed),
    })
}

impl SeaOrmStore {
    async fn find_draw(
        &self,
        concert: ConcertId,
        commitment: &str,
    ) -> Result<Option<draw::Model>, DbErr> {
        draw::Entity::find()
            .filter(draw::Column::ConcertId.eq(concert.0))
            .filter(draw::Column::Commitment.eq(commitment))
            .one(&self.db)
            .await
    }

    async fn try_store_draw(
        &self,
        concert: ConcertId,
        draw: &Draw,
        seed: &str,
        receipts: &[Receipt],
    ) -> Result<(), Fail<StoreError>> {
        if self.find_draw(concert, &draw.commitment).await?.is_some() {
            return Ok(());
        }
        let txn = self.begin_write().await?;
        let inserted = draw::Entity::insert(draw::ActiveModel {
            concert_id: Set(concert.0),
            commitment: Set(draw.commitment.clone()),
            seed: Set(seed.to_owned()),
            opens_at: Set(ms(draw.opens_at)),
            entrants: Set(i64::try_from(draw.entrants).unwrap_or(i64::MAX)),
            drawn_at: Set(ms(Utc::now())),
            ..Default::default()
        })
        .exec(&txn)
        .await;
        let id = match inserted {
            Ok(r) => r.last_insert_id,
            // Another caller stored it meanwhile.
            Err(e) if is_unique_violation(&e) => {
                txn.rollback().await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let pages: Vec<draw_receipt::ActiveModel> = receipts
            .chunks(RECEIPTS_PER_PAGE)
            .enumerate()
            .map(|(page, chunk)| draw_receipt::ActiveModel {
                draw_id: Set(id),
                page: Set(i32::try_from(page).unwrap_or(i32::MAX)),
                receipts: Set(chunk.concat()),
            })
            .collect();
        for rows in pages.chunks(PAGES_PER_INSERT) {
            draw_receipt::Entity::insert_many(rows.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl DrawArchive for SeaOrmStore {
    #[tracing::instrument(skip_all, fields(concert = concert.0, entrants = draw.entrants), err)]
    async fn store(
        &self,
        concert: ConcertId,
        draw: &Draw,
        receipts: &[Receipt],
    ) -> Result<(), StoreError> {
        let seed = draw
            .seed
            .as_deref()
            .ok_or_else(|| StoreError::new("a draw is stored once its seed is revealed"))?;
        if receipts.len() as u64 != draw.entrants {
            return Err(StoreError::new(format!(
                "{} receipts for a draw of {} entrants",
                receipts.len(),
                draw.entrants
            )));
        }
        retrying!(self.try_store_draw(concert, draw, seed, receipts).await)
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0), err)]
    async fn latest(&self, concert: ConcertId) -> Result<Option<Draw>, StoreError> {
        draw::Entity::find()
            .filter(draw::Column::ConcertId.eq(concert.0))
            .order_by_desc(draw::Column::Id)
            .one(&self.db)
            .await
            .and_then(|row| row.map(to_draw).transpose())
            .map_err(store_err)
    }

    #[tracing::instrument(skip_all, fields(concert = concert.0, offset, limit), err)]
    async fn receipts(
        &self,
        concert: ConcertId,
        commitment: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Vec<Receipt>>, StoreError> {
        let Some(row) = self
            .find_draw(concert, commitment)
            .await
            .map_err(store_err)?
        else {
            return Ok(None);
        };
        let entrants = u64::try_from(row.entrants).unwrap_or(0);
        let end = offset.saturating_add(limit).min(entrants);
        if offset >= end {
            return Ok(Some(Vec::new()));
        }
        let per_page = RECEIPTS_PER_PAGE as u64;
        let (first, last) = (offset / per_page, (end - 1) / per_page);
        let pages = draw_receipt::Entity::find()
            .filter(draw_receipt::Column::DrawId.eq(row.id))
            .filter(draw_receipt::Column::Page.between(first as i32, last as i32))
            .order_by_asc(draw_receipt::Column::Page)
            .limit(last - first + 1)
            .all(&self.db)
            .await
            .map_err(store_err)?;
        let mut out = Vec::with_capacity((end - offset) as usize);
        let mut at_index = first * per_page;
        for page in pages {
            if page.receipts.len() % 32 != 0 || page.page as u64 != at_index / per_page {
                return Err(store_err(corrupt("a draw's receipts page")));
            }
            for chunk in page.receipts.chunks_exact(32) {
                if (offset..end).contains(&at_index) {
                    let mut r = [0u8; 32];
                    r.copy_from_slice(chunk);
                    out.push(r);
                }
                at_index += 1;
            }
        }
        if out.len() as u64 != end - offset {
            return Err(store_err(corrupt("a draw's receipts are missing")));
        }
        Ok(Some(out))
    }
}
