//! The one error type of this crate.

/// What kind of problem an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An endpoint or sender setting that cannot work (a bad header, an unreadable
    /// `whsec_` secret, a CIDR that does not parse, a retry schedule out of order …).
    InvalidConfig,
    /// The [`Store`](pollen_core::Store) failed.
    Store,
    /// Looking up an instance's endpoint failed.
    Endpoints,
    /// The HTTP client could not be built.
    Client,
}

/// An error of the sender: a kind to branch on and a message for people.
///
/// Messages start lowercase, have no trailing period and never contain secrets.
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

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidConfig, message)
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

impl From<pollen_core::Error> for Error {
    fn from(e: pollen_core::Error) -> Self {
        Error::new(ErrorKind::Store, format!("store: {e}"))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
