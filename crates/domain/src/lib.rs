//! frontrow's domain: the entities of a concert sale, the use cases (accounts, catalog,
//! waiting room, booking) and the ports they need. No web framework, database or Redis
//! here: adapters in other crates implement the ports.
//!
//! Items are imported by their module path (`frontrow_domain::model::Money`); the crate
//! root re-exports nothing, so each item has one name.

pub mod accounts;
pub mod booking;
pub mod boxoffice;
pub mod catalog;
pub mod credentials;
pub mod draw;
pub mod draw_archive;
pub mod error;
pub mod fenwick;
pub mod gcra;
pub mod lifecycle;
pub mod line;
pub mod model;
pub mod ports;
pub mod queue;
pub mod returns;
pub mod sales;
pub mod seating;
pub mod tickets;
pub mod venue;
pub mod waiting_room;
