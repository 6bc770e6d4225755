//! `schedules`: performances of a concert, each with a rectangular seat map.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20250101_000003_create_concerts::Concerts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Schedules {
    Table,
    Id,
    ConcertId,
    StartsAt,
    TotalSeats,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Schedules::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Schedules::Id))
                    .col(big_integer(Schedules::ConcertId))
                    .col(big_integer(Schedules::StartsAt))
                    .col(big_integer(Schedules::TotalSeats))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_schedules_concert")
                            .from(Schedules::Table, Schedules::ConcertId)
                            .to(Concerts::Table, Concerts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_schedules_concert")
                    .table(Schedules::Table)
                    .col(Schedules::ConcertId)
                    .col(Schedules::StartsAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Schedules::Table).to_owned())
            .await
    }
}
