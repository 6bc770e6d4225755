//! frontrow's application crate: settings, telemetry, HTTP layer and wiring. The binary
//! (`frontrow`) is a thin CLI over `startup`.

pub mod accounts;
pub mod cache;
pub mod cli;
pub mod eta;
pub mod gate;
pub mod guard;
pub mod http;
pub mod passkeys;
pub mod returns;
pub mod settings;
pub mod settings_table;
pub mod startup;
pub mod telemetry;
pub mod ticketing;
pub mod verify;

pub use settings::Settings;
pub use startup::{Application, ShutdownHandle};
