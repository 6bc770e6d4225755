//! `wallets`: one balance per user, updated only by conditional updates.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20250101_000001_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Wallets {
    Table,
    UserId,
    Balance,
    Version,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Wallets::Table)
                    .if_not_exists()
                    .col(big_integer(Wallets::UserId).primary_key())
                    .col(big_integer(Wallets::Balance).default(0))
                    .col(big_integer(Wallets::Version).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_wallets_user")
                            .from(Wallets::Table, Wallets::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Wallets::Table).to_owned())
            .await
    }
}
