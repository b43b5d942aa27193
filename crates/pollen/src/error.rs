//! The error of the `pollen` library: what went wrong, one sentence naming the input.

use std::fmt;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An instance JSON, a command-line value or an API request is invalid.
    InvalidInput,
    /// The database could not be opened or used.
    Store,
    /// The Sage connector failed (bad settings, refused authorization).
    Source,
    /// Delivery could not be set up (bad callback endpoint, HTTP client).
    Callback,
    /// A local resource failed: a socket, a file, the runtime.
    Io,
}

/// A failure of the `pollen` library. The message starts lowercase and names the input.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Error {
            kind,
            message: message.to_string(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// `context: error`, for `map_err`.
    pub(crate) fn wrap<E: fmt::Display>(
        kind: ErrorKind,
        context: impl fmt::Display,
    ) -> impl FnOnce(E) -> Error {
        move |error| Error::new(kind, format!("{context}: {error}"))
    }
}

/// The `Result` of the `pollen` library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
