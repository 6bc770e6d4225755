//! frontrow's SQL storage: SeaORM adapters of the domain's repository ports, one code
//! path for SQLite, MySQL/MariaDB and PostgreSQL (the URL picks the backend).
//!
//! Every seat, reservation and wallet change is a conditional `UPDATE … WHERE version = ?`
//! (or `status …`, `balance >= ?`) inside a short transaction: no table locks; row locks
//! (`SELECT … FOR UPDATE`) only where a group of orders decides under them (`place.rs`);
//! on SQLite every write transaction starts `IMMEDIATE`, so no read-to-write upgrade.

mod cancel;
mod catalog;
mod convert;
mod credentials;
mod draws;
pub mod entity;
mod errors;
mod orders;
mod payments;
mod place;
mod presale;
mod returns;
mod seats;
mod store;
mod tickets;
mod users;
mod waitlist;
mod wallets;

pub use place::OrderGroups;
pub use store::{DbOptions, PoolStats, SeaOrmStore, SeatClaim, StorePorts};
