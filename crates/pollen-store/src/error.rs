//! The one error type of this crate.

use std::fmt;

/// What kind of problem an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database URL is not one this crate can open (scheme, path, options).
    InvalidUrl,
    /// The database could not be reached or opened (file permissions, refused connection).
    Connect,
    /// A migration failed to apply, or the database was migrated by a newer pollen.
    Migration,
    /// The secret key does not open this database's secrets: it is not the key the database
    /// was created with.
    KeyMismatch,
    /// A secret key (text or file) is malformed, or a key file cannot be read or written.
    Key,
    /// A stored secret failed to decrypt or a stored value failed to decode: the database was
    /// altered outside pollen.
    Corrupt,
    /// A query failed (I/O, constraint, lost connection).
    Database,
    /// The named instance, poll state or notification does not exist.
    NotFound,
    /// The caller's fencing token is not the current lease's: another worker took the work.
    LeaseLost,
    /// The embedded database is held by another process that opened it exclusively (the
    /// message names the lock file and the holder's pid).
    InUse,
    /// An argument that cannot be stored (an instance configuration that does not load back,
    /// a schema name that is not an identifier, ...).
    InvalidInput,
}

/// An error of the store: a kind to branch on and a message for people.
///
/// Messages never contain a secret, a database password or an encrypted value.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message alone.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn not_found(what: impl fmt::Display) -> Self {
        Error::new(ErrorKind::NotFound, format!("no {what}"))
    }

    pub(crate) fn lease_lost(what: impl fmt::Display) -> Self {
        Error::new(
            ErrorKind::LeaseLost,
            format!("lease on {what} is no longer held by this worker"),
        )
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Corrupt, message)
    }

    /// Wraps a database error with what was being done.
    pub(crate) fn database(doing: &str, err: &sqlx::Error) -> Self {
        Error::new(ErrorKind::Database, format!("{doing}: {}", describe(err)))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .finish()
    }
}

/// A database error in words, without anything that could carry a secret: sqlx's messages name
/// the failing statement's problem, never bound values; configuration errors (which may quote a
/// URL) are summarised.
pub(crate) fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Configuration(_) => "invalid connection options".to_owned(),
        sqlx::Error::Database(db) => {
            let mut text = db.message().to_owned();
            if let Some(code) = db.code() {
                text.push_str(&format!(" (code {code})"));
            }
            text
        }
        sqlx::Error::Io(io) => format!("i/o error: {io}"),
        sqlx::Error::Tls(_) => "tls error".to_owned(),
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".to_owned(),
        sqlx::Error::PoolClosed => "the store was closed".to_owned(),
        other => lowercase_first(&other.to_string()),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<Error> for pollen_core::Error {
    fn from(err: Error) -> Self {
        use pollen_core::ErrorKind as Core;
        let kind = match err.kind {
            ErrorKind::NotFound => Core::NotFound,
            ErrorKind::LeaseLost => Core::LeaseLost,
            ErrorKind::InvalidInput => Core::InvalidInput,
            _ => Core::Store,
        };
        pollen_core::Error::new(kind, err.message)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
