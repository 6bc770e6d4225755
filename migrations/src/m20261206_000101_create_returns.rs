//! Returns, the waiting list and cancelled shows: each schedule's return cutoff, the
//! cancellation of a schedule (one row: the first cancel wins), every refund credited
//! to a wallet, the waiting list's entries, the order a waiting-list offer made, and the
//! seat an offer holds.
//!
//! The database guards "credited once" itself: `refunds.refund_key` is unique (one
//! refund per returned ticket, `ticket:<id>`, and one per order of a cancelled show,
//! `cancel:<order id>`), as is a fan's idempotency key; and one live entry per fan and
//! schedule on the waiting list (`waitlist_entries.live_user_id`, set while waiting or
//! offered, is unique with the schedule).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReturnPolicies {
    Table,
    ScheduleId,
    CutoffMinutes,
}

#[derive(DeriveIden)]
enum ScheduleCancellations {
    Table,
    ScheduleId,
    ConcertId,
    CancelledAt,
}

#[derive(DeriveIden)]
enum Refunds {
    Table,
    Id,
    RefundKey,
    UserId,
    ScheduleId,
    OrderId,
    TicketId,
    Kind,
    Amount,
    BalanceAfter,
    IdempotencyKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WaitlistEntries {
    Table,
    Id,
    ScheduleId,
    UserId,
    LiveUserId,
    Quantity,
    Fulfilled,
    Status,
    OfferMs,
    JoinedAt,
    OfferOrderId,
    OfferedAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    WaitlistEntryId,
}

#[derive(DeriveIden)]
enum Seats {
    Table,
    OfferOrderId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReturnPolicies::Table)
                    .if_not_exists()
                    .col(big_integer(ReturnPolicies::ScheduleId).primary_key())
                    .col(big_integer(ReturnPolicies::CutoffMinutes))
                    .check(Expr::cust("cutoff_minutes >= 0"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ScheduleCancellations::Table)
                    .if_not_exists()
                    .col(big_integer(ScheduleCancellations::ScheduleId).primary_key())
                    .col(big_integer(ScheduleCancellations::ConcertId))
                    .col(big_integer(ScheduleCancellations::CancelledAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Refunds::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Refunds::Id))
                    .col(string_len(Refunds::RefundKey, 40))
                    .col(big_integer(Refunds::UserId))
                    .col(big_integer(Refunds::ScheduleId))
                    .col(big_integer(Refunds::OrderId))
                    .col(big_integer_null(Refunds::TicketId))
                    .col(string_len(Refunds::Kind, 16))
                    .col(big_integer(Refunds::Amount))
                    .col(big_integer(Refunds::BalanceAfter))
                    .col(string_len_null(Refunds::IdempotencyKey, 128))
                    .col(big_integer(Refunds::CreatedAt))
                    .check(Expr::cust("amount >= 0"))
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            ("uq_refunds_key", vec![Refunds::RefundKey], true),
            (
                "uq_refunds_user_idempotency",
                vec![Refunds::UserId, Refunds::IdempotencyKey],
                true,
            ),
            ("ix_refunds_order", vec![Refunds::OrderId], false),
            (
                "ix_refunds_schedule",
                vec![Refunds::ScheduleId, Refunds::Kind],
                false,
            ),
            ("ix_refunds_ticket", vec![Refunds::TicketId], false),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(Refunds::Table);
            for c in cols {
                idx.col(c);
            }
            if unique {
                idx.unique();
            }
            manager.create_index(idx.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(WaitlistEntries::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WaitlistEntries::Id))
                    .col(big_integer(WaitlistEntries::ScheduleId))
                    .col(big_integer(WaitlistEntries::UserId))
                    .col(big_integer_null(WaitlistEntries::LiveUserId))
                    .col(integer(WaitlistEntries::Quantity))
                    .col(integer(WaitlistEntries::Fulfilled).default(0))
                    .col(string_len(WaitlistEntries::Status, 16))
                    .col(big_integer(WaitlistEntries::OfferMs))
                    .col(big_integer(WaitlistEntries::JoinedAt))
                    .col(big_integer_null(WaitlistEntries::OfferOrderId))
                    .col(big_integer_null(WaitlistEntries::OfferedAt))
                    .col(big_integer_null(WaitlistEntries::EndedAt))
                    .check(Expr::cust(
                        "quantity > 0 AND fulfilled >= 0 AND fulfilled <= quantity",
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            (
                "uq_waitlist_live_user",
                vec![WaitlistEntries::ScheduleId, WaitlistEntries::LiveUserId],
                true,
            ),
            (
                "ix_waitlist_schedule_status",
                vec![
                    WaitlistEntries::ScheduleId,
                    WaitlistEntries::Status,
                    WaitlistEntries::Id,
                ],
                false,
            ),
            (
                "ix_waitlist_user",
                vec![WaitlistEntries::UserId, WaitlistEntries::ScheduleId],
                false,
            ),
            (
                "ix_waitlist_offer_order",
                vec![WaitlistEntries::OfferOrderId],
                false,
            ),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(WaitlistEntries::Table);
            for c in cols {
                idx.col(c);
            }
            if unique {
                idx.unique();
            }
            manager.create_index(idx.to_owned()).await?;
        }
        // One column per statement: SQLite's ALTER TABLE takes one change at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(big_integer_null(Orders::WaitlistEntryId))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Seats::Table)
                    .add_column(big_integer_null(Seats::OfferOrderId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Seats::Table)
                    .drop_column(Seats::OfferOrderId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .drop_column(Orders::WaitlistEntryId)
                    .to_owned(),
            )
            .await?;
        for t in [
            WaitlistEntries::Table.into_iden(),
            Refunds::Table.into_iden(),
            ScheduleCancellations::Table.into_iden(),
            ReturnPolicies::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        Ok(())
    }
}
