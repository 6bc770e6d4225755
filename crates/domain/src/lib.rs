//! frontrow's domain: the entities of a concert sale, the use cases (waiting room and
//! booking flow) and the ports they need. No web framework, database or Redis here:
//! adapters in other crates implement the ports.

pub mod booking;
pub mod error;
pub mod fenwick;
pub mod model;
pub mod ports;
pub mod queue;
pub mod waiting_room;

pub use booking::{Booking, BookingError, BookingPolicy};
pub use error::*;
pub use model::*;
pub use ports::*;
pub use queue::*;
pub use waiting_room::{GateError, WaitingRoom, WaitingRoomError};
