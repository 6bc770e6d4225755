//! Presale codes: a code opens hidden categories or sections of one schedule to its
//! holder during a window, for at most `max_tickets` tickets in all (`used` never above
//! it: a CHECK, and the conditional update that counts). Seats and standing areas learn
//! whether they are hidden; orders remember the code they used, so an order that ends
//! unpaid gives its tickets back to the code.

use sea_orm_migration::{prelude::*, schema::*};

use super::m20250101_000005_create_seats::Seats;
use super::m20261204_000001_create_orders::{Orders, StandingAreas};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hidden {
    Hidden,
}

#[derive(DeriveIden)]
enum OrderCode {
    PresaleCodeId,
}

#[derive(DeriveIden)]
pub enum PresaleCodes {
    Table,
    Id,
    ScheduleId,
    Code,
    Categories,
    Sections,
    StartsAt,
    EndsAt,
    MaxTickets,
    Used,
    UserId,
    Cancelled,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Seats::Table.into_iden(), StandingAreas::Table.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(boolean(Hidden::Hidden).default(false))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(big_integer_null(OrderCode::PresaleCodeId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PresaleCodes::Table)
                    .if_not_exists()
                    .col(big_pk_auto(PresaleCodes::Id))
                    .col(big_integer(PresaleCodes::ScheduleId))
                    .col(string_len(PresaleCodes::Code, 64))
                    .col(text(PresaleCodes::Categories))
                    .col(text(PresaleCodes::Sections))
                    .col(big_integer(PresaleCodes::StartsAt))
                    .col(big_integer(PresaleCodes::EndsAt))
                    .col(big_integer(PresaleCodes::MaxTickets))
                    .col(big_integer(PresaleCodes::Used).default(0))
                    .col(big_integer_null(PresaleCodes::UserId))
                    .col(boolean(PresaleCodes::Cancelled).default(false))
                    .col(big_integer(PresaleCodes::CreatedAt))
                    .check(Expr::cust("used >= 0 AND used <= max_tickets"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_presale_codes_schedule_code")
                    .table(PresaleCodes::Table)
                    .col(PresaleCodes::ScheduleId)
                    .col(PresaleCodes::Code)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PresaleCodes::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .drop_column(OrderCode::PresaleCodeId)
                    .to_owned(),
            )
            .await?;
        for table in [StandingAreas::Table.into_iden(), Seats::Table.into_iden()] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column(Hidden::Hidden)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
