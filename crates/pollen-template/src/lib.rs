//! Open Connectors poller URL templates, Java `SimpleDateFormat` patterns and CEQL.
//!
//! (The full essay and runnable example arrive with the engine.)

mod error;

pub use error::{Error, ErrorKind};
