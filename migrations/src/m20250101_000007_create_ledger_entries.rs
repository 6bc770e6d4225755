//! `ledger_entries`: every change of a wallet balance, with the balance after it.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20250101_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum LedgerEntries {
    Table,
    Id,
    UserId,
    Delta,
    BalanceAfter,
    Kind,
    ReservationId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LedgerEntries::Table)
                    .if_not_exists()
                    .col(big_pk_auto(LedgerEntries::Id))
                    .col(big_integer(LedgerEntries::UserId))
                    .col(big_integer(LedgerEntries::Delta))
                    .col(big_integer(LedgerEntries::BalanceAfter))
                    .col(string_len(LedgerEntries::Kind, 16))
                    .col(big_integer_null(LedgerEntries::ReservationId))
                    .col(big_integer(LedgerEntries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ledger_entries_user")
                            .from(LedgerEntries::Table, LedgerEntries::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ledger_entries_user")
                    .table(LedgerEntries::Table)
                    .col(LedgerEntries::UserId)
                    .col(LedgerEntries::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LedgerEntries::Table).to_owned())
            .await
    }
}
