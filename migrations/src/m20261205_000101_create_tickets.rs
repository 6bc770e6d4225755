//! Tickets and the gate: one ticket per seat or standing place of a paid order (written
//! in the paying transaction), every check-in under a unique nonce, gate keys by hash,
//! the revocation list, holder-key bindings and each schedule's rotating-code rule.
//!
//! The database guards the first admission itself: `checkins.admits_ticket_id` is set
//! only on an `admitted` check-in and is unique, so two admitting check-ins of one
//! ticket cannot both commit whatever the code does.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    OrderId,
    UserId,
    ScheduleId,
    SeatId,
    AreaId,
    Label,
    Category,
    IssuedAt,
    Generation,
    HolderKey,
    AdmittedAt,
    AdmittedGate,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Checkins {
    Table,
    Id,
    Nonce,
    ScheduleId,
    TicketId,
    AdmitsTicketId,
    Gate,
    Device,
    ScannedAt,
    ReceivedAt,
    Result,
    Reason,
    FirstAt,
    FirstGate,
    Duplicate,
    OfflineResult,
}

#[derive(DeriveIden)]
enum GateKeys {
    Table,
    Id,
    ScheduleId,
    Label,
    KeyHash,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum TicketRevocations {
    Table,
    TicketId,
    ScheduleId,
    Through,
    Reason,
    RevokedAt,
}

#[derive(DeriveIden)]
enum TicketBindings {
    Table,
    Id,
    TicketId,
    Generation,
    HolderKey,
    BoundAt,
}

#[derive(DeriveIden)]
enum TicketPolicies {
    Table,
    ScheduleId,
    Rotating,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Tickets::Id))
                    .col(big_integer(Tickets::OrderId))
                    .col(big_integer(Tickets::UserId))
                    .col(big_integer(Tickets::ScheduleId))
                    .col(big_integer_null(Tickets::SeatId))
                    .col(big_integer_null(Tickets::AreaId))
                    .col(string_len(Tickets::Label, 128))
                    .col(string_len(Tickets::Category, 128))
                    .col(big_integer(Tickets::IssuedAt))
                    .col(big_integer(Tickets::Generation).default(0))
                    .col(string_len_null(Tickets::HolderKey, 66))
                    .col(big_integer_null(Tickets::AdmittedAt))
                    .col(string_len_null(Tickets::AdmittedGate, 64))
                    .col(big_integer_null(Tickets::RevokedAt))
                    .check(Expr::cust("(seat_id IS NULL) <> (area_id IS NULL)"))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_tickets_user", Tickets::UserId),
            ("ix_tickets_schedule", Tickets::ScheduleId),
            ("ix_tickets_order", Tickets::OrderId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Tickets::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Checkins::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Checkins::Id))
                    .col(string_len(Checkins::Nonce, 64))
                    .col(big_integer(Checkins::ScheduleId))
                    .col(big_integer_null(Checkins::TicketId))
                    .col(big_integer_null(Checkins::AdmitsTicketId))
                    .col(string_len(Checkins::Gate, 64))
                    .col(string_len(Checkins::Device, 64))
                    .col(big_integer(Checkins::ScannedAt))
                    .col(big_integer(Checkins::ReceivedAt))
                    .col(string_len(Checkins::Result, 20))
                    .col(string_len_null(Checkins::Reason, 20))
                    .col(big_integer_null(Checkins::FirstAt))
                    .col(string_len_null(Checkins::FirstGate, 64))
                    .col(boolean(Checkins::Duplicate).default(false))
                    .col(string_len_null(Checkins::OfflineResult, 20))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_checkins_nonce")
                    .table(Checkins::Table)
                    .col(Checkins::Nonce)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_checkins_admits_ticket")
                    .table(Checkins::Table)
                    .col(Checkins::AdmitsTicketId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_checkins_schedule")
                    .table(Checkins::Table)
                    .col(Checkins::ScheduleId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(GateKeys::Table)
                    .if_not_exists()
                    .col(big_pk_auto(GateKeys::Id))
                    .col(big_integer(GateKeys::ScheduleId))
                    .col(string_len(GateKeys::Label, 64))
                    .col(string_len(GateKeys::KeyHash, 64))
                    .col(big_integer(GateKeys::CreatedAt))
                    .col(big_integer_null(GateKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_gate_keys_hash")
                    .table(GateKeys::Table)
                    .col(GateKeys::KeyHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TicketRevocations::Table)
                    .if_not_exists()
                    .col(big_integer(TicketRevocations::TicketId).primary_key())
                    .col(big_integer(TicketRevocations::ScheduleId))
                    .col(big_integer(TicketRevocations::Through))
                    .col(string_len(TicketRevocations::Reason, 64))
                    .col(big_integer(TicketRevocations::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_ticket_revocations_schedule")
                    .table(TicketRevocations::Table)
                    .col(TicketRevocations::ScheduleId)
                    .col(TicketRevocations::RevokedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TicketBindings::Table)
                    .if_not_exists()
                    .col(big_pk_auto(TicketBindings::Id))
                    .col(big_integer(TicketBindings::TicketId))
                    .col(big_integer(TicketBindings::Generation))
                    .col(string_len(TicketBindings::HolderKey, 66))
                    .col(big_integer(TicketBindings::BoundAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TicketPolicies::Table)
                    .if_not_exists()
                    .col(big_integer(TicketPolicies::ScheduleId).primary_key())
                    .col(boolean(TicketPolicies::Rotating).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            TicketPolicies::Table.into_iden(),
            TicketBindings::Table.into_iden(),
            TicketRevocations::Table.into_iden(),
            GateKeys::Table.into_iden(),
            Checkins::Table.into_iden(),
            Tickets::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
