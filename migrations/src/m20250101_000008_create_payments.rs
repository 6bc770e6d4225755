//! `payments`: stored receipts; `UNIQUE(user_id, idempotency_key)` makes a key pay once.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20250101_000001_create_users::Users;
use super::m20250101_000006_create_reservations::Reservations;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Payments {
    Table,
    Id,
    UserId,
    ReservationId,
    IdempotencyKey,
    Amount,
    BalanceAfter,
    PaidAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Payments::Id))
                    .col(big_integer(Payments::UserId))
                    .col(big_integer(Payments::ReservationId))
                    .col(string_len(Payments::IdempotencyKey, 128))
                    .col(big_integer(Payments::Amount))
                    .col(big_integer(Payments::BalanceAfter))
                    .col(big_integer(Payments::PaidAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payments_user")
                            .from(Payments::Table, Payments::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_payments_reservation")
                            .from(Payments::Table, Payments::ReservationId)
                            .to(Reservations::Table, Reservations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_payments_user_key")
                    .table(Payments::Table)
                    .col(Payments::UserId)
                    .col(Payments::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_payments_reservation")
                    .table(Payments::Table)
                    .col(Payments::ReservationId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Payments::Table).to_owned())
            .await
    }
}
