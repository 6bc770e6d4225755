//! SeaORM entities, one per table of `frontrow-migration`. Instants are epoch
//! milliseconds; statuses are the domain's upper-case names.

pub mod checkin;
pub mod concert;
pub mod draw;
pub mod draw_receipt;
pub mod gate_key;
pub mod ledger_entry;
pub mod order;
pub mod order_payment;
pub mod order_standing;
pub mod passkey;
pub mod passkey_ceremony;
pub mod payment;
pub mod presale_code;
pub mod refund;
pub mod reservation;
pub mod return_policy;
pub mod schedule;
pub mod schedule_cancellation;
pub mod seat;
pub mod session;
pub mod standing_area;
pub mod ticket;
pub mod ticket_binding;
pub mod ticket_policy;
pub mod ticket_revocation;
pub mod user;
pub mod waitlist_entry;
pub mod wallet;
pub mod wallet_charge;
