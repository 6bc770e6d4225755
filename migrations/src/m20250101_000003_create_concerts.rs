//! `concerts`: the catalog's top level.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Concerts {
    Table,
    Id,
    Title,
    Venue,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Concerts::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Concerts::Id))
                    .col(string_len(Concerts::Title, 300))
                    .col(string_len(Concerts::Venue, 300))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Concerts::Table).to_owned())
            .await
    }
}
