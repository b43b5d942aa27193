//! The one error type of this crate.

/// What kind of problem an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A [`Source`](crate::Source) failed to fetch a page (network, HTTP status, bad body).
    Source,
    /// A [`Store`](crate::Store) failed (I/O, database, serialization).
    Store,
    /// The caller no longer holds the lease its fencing token names: another worker claimed the
    /// work, so the write was rejected and nothing changed.
    LeaseLost,
    /// A poll took longer than its timeout and was abandoned.
    Timeout,
    /// A [`PollSpec`](crate::PollSpec) or argument that cannot work (zero interval, zero page size …).
    InvalidInput,
    /// The named poll state, notification or registration does not exist.
    NotFound,
    /// The operation is not supported by this implementation (e.g. deletions by a source that has none).
    Unsupported,
}

/// An error of the poller core: a kind to branch on and a message for people.
///
/// Messages start lowercase, have no trailing period and never contain secrets: sources and
/// stores must redact credentials before building one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with `message` (lowercase, no trailing period).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// A [`ErrorKind::Source`] error.
    pub fn source_failed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Source, message)
    }

    /// A [`ErrorKind::Store`] error.
    pub fn store(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Store, message)
    }

    /// A [`ErrorKind::LeaseLost`] error naming what the lease was for.
    pub fn lease_lost(what: impl std::fmt::Display) -> Self {
        Error::new(
            ErrorKind::LeaseLost,
            format!("lease on {what} is no longer held by this worker"),
        )
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message alone.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
