//! The one error type of this crate.

/// What kind of problem an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The body is not JSON ([`Error::position`] says where).
    Json,
    /// The body is JSON but not a pollen notification: a member is missing or of the wrong
    /// type ([`Error::pointer`] names it).
    Shape,
    /// A key or secret given to the [`Verifier`](crate::Verifier) cannot be used.
    InvalidSecret,
    /// A header the configured scheme needs is absent or unreadable.
    MissingHeader,
    /// No signature of a configured scheme verifies.
    BadSignature,
    /// The Standard Webhooks timestamp is further from the caller's clock than the tolerance.
    StaleTimestamp,
}

/// An error of a receiver: a kind to branch on and a message for people.
///
/// Messages start lowercase, have no trailing period and never contain a key, a secret or a
/// signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    pointer: Option<String>,
    position: Option<(usize, usize)>,
}

impl Error {
    /// An error of `kind` with `message` (lowercase, no trailing period).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            pointer: None,
            position: None,
        }
    }

    /// A shape error at JSON Pointer `pointer`; the message starts with the pointer.
    pub(crate) fn shape(pointer: &str, problem: &str) -> Self {
        let mut error = Error::new(ErrorKind::Shape, format!("{pointer}: {problem}"));
        error.pointer = Some(pointer.to_owned());
        error
    }

    /// A JSON syntax error, with serde_json's line and column (1-based).
    pub(crate) fn json(error: &serde_json::Error) -> Self {
        let mut out = Error::new(
            ErrorKind::Json,
            format!(
                "not JSON: {} at line {} column {}",
                strip_position(&error.to_string()),
                error.line(),
                error.column()
            ),
        );
        out.position = Some((error.line(), error.column()));
        out
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message alone.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For [`ErrorKind::Shape`]: the JSON Pointer of the offending member (`""` for the body).
    pub fn pointer(&self) -> Option<&str> {
        self.pointer.as_deref()
    }

    /// For [`ErrorKind::Json`]: the line and column (1-based) in the body.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.position
    }
}

/// serde_json's message without its own " at line L column C" suffix.
fn strip_position(text: &str) -> &str {
    text.rfind(" at line ").map_or(text, |at| &text[..at])
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
