//! frontrow's SQL storage: SeaORM adapters of the domain's repository ports, one code
//! path for SQLite, MySQL/MariaDB and PostgreSQL (the URL picks the backend).
//!
//! Every seat, reservation and wallet change is a conditional `UPDATE … WHERE version = ?`
//! (or `balance >= ?`) inside a short transaction whose first statement is that write:
//! no table locks, no `SELECT … FOR UPDATE`, and on SQLite no read-to-write lock upgrade.

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
