//! frontrow's application crate: settings, telemetry, HTTP layer and wiring. The binary
//! (`frontrow`) is a thin CLI over `startup`.

pub mod accounts;
pub mod admission;
pub mod cache;
pub mod cli;
pub mod eta;
pub mod gate;
pub mod http;
pub mod identity;
pub mod limits;
pub mod passkeys;
pub mod pow;
pub mod returns;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod ticketing;
pub mod verify;

pub use settings::Settings;
pub use startup::{Application, ShutdownHandle};
