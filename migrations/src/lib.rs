//! frontrow's database schema as sea-orm-migration steps. Instants are BIGINT epoch
//! milliseconds and money BIGINT minor units, so one schema serves SQLite, MySQL and
//! PostgreSQL alike.

pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20250101_000001_create_users;
mod m20250101_000002_create_wallets;
mod m20250101_000003_create_concerts;
mod m20250101_000004_create_schedules;
mod m20250101_000005_create_seats;
mod m20250101_000006_create_reservations;
mod m20250101_000007_create_ledger_entries;
mod m20250101_000008_create_payments;
mod m20261126_000001_add_extended_at_to_reservations;
mod m20261126_000002_add_users_external_subject;
mod m20261204_000001_create_orders;
mod m20261204_000002_create_presale_codes;
mod m20261205_000101_create_tickets;
mod m20261205_000301_create_sessions_and_passkeys;
mod m20261206_000101_create_returns;
mod m20261206_000201_create_draws;
mod m20261207_000001_orders_of_one;
mod m20261208_000001_sign_in_keys;

/// Every migration of frontrow, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_create_users::Migration),
            Box::new(m20250101_000002_create_wallets::Migration),
            Box::new(m20250101_000003_create_concerts::Migration),
            Box::new(m20250101_000004_create_schedules::Migration),
            Box::new(m20250101_000005_create_seats::Migration),
            Box::new(m20250101_000006_create_reservations::Migration),
            Box::new(m20250101_000007_create_ledger_entries::Migration),
            Box::new(m20250101_000008_create_payments::Migration),
            Box::new(m20261126_000001_add_extended_at_to_reservations::Migration),
            Box::new(m20261126_000002_add_users_external_subject::Migration),
            Box::new(m20261204_000001_create_orders::Migration),
            Box::new(m20261204_000002_create_presale_codes::Migration),
            Box::new(m20261205_000101_create_tickets::Migration),
            Box::new(m20261205_000301_create_sessions_and_passkeys::Migration),
            Box::new(m20261206_000101_create_returns::Migration),
            Box::new(m20261206_000201_create_draws::Migration),
            Box::new(m20261207_000001_orders_of_one::Migration),
            Box::new(m20261208_000001_sign_in_keys::Migration),
        ]
    }
}
