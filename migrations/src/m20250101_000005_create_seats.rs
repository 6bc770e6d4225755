//! `seats`: one row per seat; `version` is the optimistic lock every change goes through.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20250101_000004_create_schedules::Schedules;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Seats {
    Table,
    Id,
    ScheduleId,
    RowNo,
    Number,
    Label,
    Price,
    Status,
    Version,
    HeldBy,
    HeldUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Seats::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Seats::Id))
                    .col(big_integer(Seats::ScheduleId))
                    .col(integer(Seats::RowNo))
                    .col(integer(Seats::Number))
                    .col(string_len(Seats::Label, 16))
                    .col(big_integer(Seats::Price))
                    .col(string_len(Seats::Status, 16))
                    .col(big_integer(Seats::Version).default(0))
                    .col(big_integer_null(Seats::HeldBy))
                    .col(big_integer_null(Seats::HeldUntil))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_seats_schedule")
                            .from(Seats::Table, Seats::ScheduleId)
                            .to(Schedules::Table, Schedules::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // Seat maps in order, and availability counts per schedule.
        manager
            .create_index(
                Index::create()
                    .name("idx_seats_schedule_row_number")
                    .table(Seats::Table)
                    .col(Seats::ScheduleId)
                    .col(Seats::RowNo)
                    .col(Seats::Number)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_seats_schedule_status")
                    .table(Seats::Table)
                    .col(Seats::ScheduleId)
                    .col(Seats::Status)
                    .col(Seats::HeldUntil)
                    .to_owned(),
            )
            .await?;
        // The hold sweeper.
        manager
            .create_index(
                Index::create()
                    .name("idx_seats_status_held_until")
                    .table(Seats::Table)
                    .col(Seats::Status)
                    .col(Seats::HeldUntil)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Seats::Table).to_owned())
            .await
    }
}
