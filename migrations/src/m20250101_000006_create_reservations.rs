//! `reservations`: holds and purchases of seats.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20250101_000001_create_users::Users;
use super::m20250101_000005_create_seats::Seats;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Reservations {
    Table,
    Id,
    UserId,
    ConcertId,
    ScheduleId,
    SeatId,
    Price,
    Status,
    Version,
    CreatedAt,
    ExpiresAt,
    PaidAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Reservations::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Reservations::Id))
                    .col(big_integer(Reservations::UserId))
                    .col(big_integer(Reservations::ConcertId))
                    .col(big_integer(Reservations::ScheduleId))
                    .col(big_integer(Reservations::SeatId))
                    .col(big_integer(Reservations::Price))
                    .col(string_len(Reservations::Status, 16))
                    .col(big_integer(Reservations::Version).default(0))
                    .col(big_integer(Reservations::CreatedAt))
                    .col(big_integer(Reservations::ExpiresAt))
                    .col(big_integer_null(Reservations::PaidAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_reservations_user")
                            .from(Reservations::Table, Reservations::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_reservations_seat")
                            .from(Reservations::Table, Reservations::SeatId)
                            .to(Seats::Table, Seats::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_reservations_user_schedule_status",
                [
                    Reservations::UserId,
                    Reservations::ScheduleId,
                    Reservations::Status,
                ],
            ),
            (
                "idx_reservations_user_concert_status",
                [
                    Reservations::UserId,
                    Reservations::ConcertId,
                    Reservations::Status,
                ],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Reservations::Table);
            for c in cols {
                index.col(c);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_reservations_seat_status")
                    .table(Reservations::Table)
                    .col(Reservations::SeatId)
                    .col(Reservations::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Reservations::Table).to_owned())
            .await
    }
}
