//! The box office: seats learn their section, row label, place in the row (`x`), price
//! category and accessibility; standing areas sold by quantity; orders with their
//! standing lines and one payment each; idempotent wallet top-ups. And the database
//! guards every invariant itself, not only the code: one live reservation per seat
//! (`reservations.live_seat_id`, unique, set while held or confirmed), one payment per
//! reservation and per order (unique), standing `held + sold ≤ capacity` and a wallet
//! balance never below zero (CHECK constraints; on SQLite, whose `ALTER TABLE` cannot
//! add one, triggers that abort the write).

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

use super::m20250101_000005_create_seats::Seats;
use super::m20250101_000006_create_reservations::Reservations;
use super::m20250101_000008_create_payments::Payments;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SeatPlace {
    Section,
    SectionRank,
    RowLabel,
    X,
    Category,
    Accessible,
}

#[derive(DeriveIden)]
enum Live {
    OrderId,
    LiveSeatId,
}

#[derive(DeriveIden)]
pub enum StandingAreas {
    Table,
    Id,
    ScheduleId,
    Name,
    SectionRank,
    Category,
    Price,
    Capacity,
    Held,
    Sold,
}

#[derive(DeriveIden)]
pub enum Orders {
    Table,
    Id,
    UserId,
    ConcertId,
    ScheduleId,
    Status,
    Total,
    Together,
    LoneSeatsLeft,
    CreatedAt,
    ExpiresAt,
    AdmittedUntil,
    ExtendedAt,
    PaidAt,
    Version,
}

#[derive(DeriveIden)]
pub enum OrderStanding {
    Table,
    Id,
    OrderId,
    AreaId,
    Quantity,
    Price,
}

#[derive(DeriveIden)]
pub enum OrderPayments {
    Table,
    Id,
    OrderId,
    UserId,
    IdempotencyKey,
    Amount,
    BalanceAfter,
    PaidAt,
}

#[derive(DeriveIden)]
pub enum WalletCharges {
    Table,
    Id,
    UserId,
    IdempotencyKey,
    Amount,
    BalanceAfter,
    CreatedAt,
}

async fn add(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    col: ColumnDef,
) -> Result<(), DbErr> {
    // One column per statement: SQLite's ALTER TABLE takes one change at a time.
    let mut col = col;
    manager
        .alter_table(Table::alter().table(table).add_column(&mut col).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();

        add(
            manager,
            Seats::Table,
            string_len(SeatPlace::Section, 64)
                .default("Main")
                .to_owned(),
        )
        .await?;
        add(
            manager,
            Seats::Table,
            integer(SeatPlace::SectionRank).default(0).to_owned(),
        )
        .await?;
        add(
            manager,
            Seats::Table,
            string_len(SeatPlace::RowLabel, 64).default("").to_owned(),
        )
        .await?;
        add(
            manager,
            Seats::Table,
            integer(SeatPlace::X).default(0).to_owned(),
        )
        .await?;
        add(
            manager,
            Seats::Table,
            string_len(SeatPlace::Category, 64)
                .default("Standard")
                .to_owned(),
        )
        .await?;
        add(
            manager,
            Seats::Table,
            boolean(SeatPlace::Accessible).default(false).to_owned(),
        )
        .await?;
        // Seats of the rectangular maps made before: neighbours by number.
        db.execute_unprepared("UPDATE seats SET x = number - 1")
            .await?;

        add(
            manager,
            Reservations::Table,
            big_integer_null(Live::OrderId).to_owned(),
        )
        .await?;
        add(
            manager,
            Reservations::Table,
            big_integer_null(Live::LiveSeatId).to_owned(),
        )
        .await?;
        db.execute_unprepared(
            "UPDATE reservations SET live_seat_id = seat_id WHERE status IN ('HELD', 'CONFIRMED')",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_reservations_live_seat")
                    .table(Reservations::Table)
                    .col(Live::LiveSeatId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reservations_order")
                    .table(Reservations::Table)
                    .col(Live::OrderId)
                    .to_owned(),
            )
            .await?;
        // One payment per reservation (the unique index first: MySQL's foreign key
        // needs an index on the column at every moment).
        manager
            .create_index(
                Index::create()
                    .name("uq_payments_reservation")
                    .table(Payments::Table)
                    .col(Payments::ReservationId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_payments_reservation")
                    .table(Payments::Table)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(StandingAreas::Table)
                    .if_not_exists()
                    .col(big_pk_auto(StandingAreas::Id))
                    .col(big_integer(StandingAreas::ScheduleId))
                    .col(string_len(StandingAreas::Name, 64))
                    .col(integer(StandingAreas::SectionRank))
                    .col(string_len(StandingAreas::Category, 64))
                    .col(big_integer(StandingAreas::Price))
                    .col(big_integer(StandingAreas::Capacity))
                    .col(big_integer(StandingAreas::Held).default(0))
                    .col(big_integer(StandingAreas::Sold).default(0))
                    .check(Expr::cust(
                        "held >= 0 AND sold >= 0 AND held + sold <= capacity",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_standing_areas_schedule_name")
                    .table(StandingAreas::Table)
                    .col(StandingAreas::ScheduleId)
                    .col(StandingAreas::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Orders::Id))
                    .col(big_integer(Orders::UserId))
                    .col(big_integer(Orders::ConcertId))
                    .col(big_integer(Orders::ScheduleId))
                    .col(string_len(Orders::Status, 16))
                    .col(big_integer(Orders::Total))
                    .col(boolean(Orders::Together))
                    .col(integer(Orders::LoneSeatsLeft))
                    .col(big_integer(Orders::CreatedAt))
                    .col(big_integer(Orders::ExpiresAt))
                    .col(big_integer(Orders::AdmittedUntil))
                    .col(big_integer_null(Orders::ExtendedAt))
                    .col(big_integer_null(Orders::PaidAt))
                    .col(big_integer(Orders::Version).default(0))
                    .check(Expr::cust("total >= 0"))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_orders_user", vec![Orders::UserId, Orders::Id]),
            (
                "idx_orders_user_schedule",
                vec![Orders::UserId, Orders::ScheduleId, Orders::Status],
            ),
            (
                "idx_orders_status_expires",
                vec![Orders::Status, Orders::ExpiresAt],
            ),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(Orders::Table);
            for c in cols {
                idx.col(c);
            }
            manager.create_index(idx.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(OrderStanding::Table)
                    .if_not_exists()
                    .col(big_pk_auto(OrderStanding::Id))
                    .col(big_integer(OrderStanding::OrderId))
                    .col(big_integer(OrderStanding::AreaId))
                    .col(integer(OrderStanding::Quantity))
                    .col(big_integer(OrderStanding::Price))
                    .check(Expr::cust("quantity > 0"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_order_standing_order")
                    .table(OrderStanding::Table)
                    .col(OrderStanding::OrderId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OrderPayments::Table)
                    .if_not_exists()
                    .col(big_pk_auto(OrderPayments::Id))
                    .col(big_integer(OrderPayments::OrderId))
                    .col(big_integer(OrderPayments::UserId))
                    .col(string_len(OrderPayments::IdempotencyKey, 128))
                    .col(big_integer(OrderPayments::Amount))
                    .col(big_integer(OrderPayments::BalanceAfter))
                    .col(big_integer(OrderPayments::PaidAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_order_payments_order")
                    .table(OrderPayments::Table)
                    .col(OrderPayments::OrderId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_order_payments_user_key")
                    .table(OrderPayments::Table)
                    .col(OrderPayments::UserId)
                    .col(OrderPayments::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WalletCharges::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WalletCharges::Id))
                    .col(big_integer(WalletCharges::UserId))
                    .col(string_len(WalletCharges::IdempotencyKey, 128))
                    .col(big_integer(WalletCharges::Amount))
                    .col(big_integer(WalletCharges::BalanceAfter))
                    .col(big_integer(WalletCharges::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_wallet_charges_user_key")
                    .table(WalletCharges::Table)
                    .col(WalletCharges::UserId)
                    .col(WalletCharges::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        match backend {
            DbBackend::Sqlite => {
                for event in ["INSERT", "UPDATE OF balance"] {
                    let name = if event == "INSERT" {
                        "insert"
                    } else {
                        "update"
                    };
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER trg_wallets_balance_{name} BEFORE {event} ON wallets \
                         WHEN NEW.balance < 0 \
                         BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: wallet balance below zero'); END"
                    ))
                    .await?;
                }
            }
            _ => {
                db.execute_unprepared(
                    "ALTER TABLE wallets ADD CONSTRAINT chk_wallets_balance CHECK (balance >= 0)",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Sqlite => {
                db.execute_unprepared("DROP TRIGGER IF EXISTS trg_wallets_balance_insert")
                    .await?;
                db.execute_unprepared("DROP TRIGGER IF EXISTS trg_wallets_balance_update")
                    .await?;
            }
            DbBackend::MySql => {
                db.execute_unprepared("ALTER TABLE wallets DROP CONSTRAINT chk_wallets_balance")
                    .await?;
            }
            _ => {
                db.execute_unprepared("ALTER TABLE wallets DROP CONSTRAINT chk_wallets_balance")
                    .await?;
            }
        }
        for t in [
            WalletCharges::Table.into_iden(),
            OrderPayments::Table.into_iden(),
            OrderStanding::Table.into_iden(),
            Orders::Table.into_iden(),
            StandingAreas::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).to_owned())
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_payments_reservation")
                    .table(Payments::Table)
                    .col(Payments::ReservationId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("uq_payments_reservation")
                    .table(Payments::Table)
                    .to_owned(),
            )
            .await?;
        for name in ["uq_reservations_live_seat", "idx_reservations_order"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(Reservations::Table)
                        .to_owned(),
                )
                .await?;
        }
        for col in [Live::LiveSeatId, Live::OrderId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Reservations::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        for col in [
            SeatPlace::Accessible,
            SeatPlace::Category,
            SeatPlace::X,
            SeatPlace::RowLabel,
            SeatPlace::SectionRank,
            SeatPlace::Section,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Seats::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
