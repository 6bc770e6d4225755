//! Draws kept for good: a concert's revealed draw (commitment, seed, opening, entrants)
//! and its receipts in drawn order, written when the draw is revealed so the draw stays
//! checkable after its line retires. Receipts are stored as raw 32-byte digests,
//! `RECEIPTS_PER_PAGE` to a row (64,000 bytes: within a MySQL `BLOB`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Draws {
    Table,
    Id,
    ConcertId,
    Commitment,
    Seed,
    OpensAt,
    Entrants,
    DrawnAt,
}

#[derive(DeriveIden)]
enum DrawReceipts {
    Table,
    DrawId,
    Page,
    Receipts,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Draws::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Draws::Id))
                    .col(big_integer(Draws::ConcertId))
                    .col(string_len(Draws::Commitment, 64))
                    .col(string_len(Draws::Seed, 64))
                    .col(big_integer(Draws::OpensAt))
                    .col(big_integer(Draws::Entrants))
                    .col(big_integer(Draws::DrawnAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_draws_concert_commitment")
                    .table(Draws::Table)
                    .col(Draws::ConcertId)
                    .col(Draws::Commitment)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DrawReceipts::Table)
                    .if_not_exists()
                    .col(big_integer(DrawReceipts::DrawId))
                    .col(integer(DrawReceipts::Page))
                    .col(blob(DrawReceipts::Receipts))
                    .primary_key(
                        Index::create()
                            .col(DrawReceipts::DrawId)
                            .col(DrawReceipts::Page),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_draw_receipts_draw")
                            .from(DrawReceipts::Table, DrawReceipts::DrawId)
                            .to(Draws::Table, Draws::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [DrawReceipts::Table.into_iden(), Draws::Table.into_iden()] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
