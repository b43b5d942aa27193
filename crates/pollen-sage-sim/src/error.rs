//! The one error type of this crate.

/// What kind of problem a [`SimError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SimErrorKind {
    /// The listen address could not be bound, or the server failed while running.
    Io,
    /// A resource name that the simulator does not serve.
    UnknownResource,
    /// A record id that does not exist (or is deleted, for updates and deletes).
    NotFound,
    /// Fields given for a create or update that cannot be applied.
    InvalidRecord,
    /// A configuration value, fault or activity setting out of range.
    InvalidConfig,
}

/// An error from the simulator's Rust API: a kind and a message naming the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SimError {
    kind: SimErrorKind,
    message: String,
}

impl SimError {
    pub(crate) fn new(kind: SimErrorKind, message: impl Into<String>) -> Self {
        SimError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> SimErrorKind {
        self.kind
    }
}
