//! Why an operator's request — a replay, a key rotation — was refused: one type that the API
//! answers with 400, 404 or 500, the command line with exit 1, and the console with its
//! error page, each naming the field at fault.

use std::fmt;

/// Why a request was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum Refused {
    /// A bad request; `field` names the request field at fault (`since`, `key`, `grace`).
    Invalid {
        /// The request field at fault, as the API spells it.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// What the request names does not exist (the message says what).
    NotFound(String),
    /// The store failed while `doing` it.
    Store {
        /// What was being done (`replaying`).
        doing: &'static str,
        /// The store's error.
        error: pollen_store::Error,
    },
}

impl Refused {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Refused {
        Refused::Invalid {
            field,
            message: message.into(),
        }
    }

    /// Wraps a store error with what was being done, for `map_err`.
    pub(crate) fn store(doing: &'static str) -> impl FnOnce(pollen_store::Error) -> Refused {
        move |error| Refused::Store { doing, error }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Invalid { field, message } => write!(f, "{field}: {message}"),
            Refused::NotFound(message) => f.write_str(message),
            Refused::Store { doing, error } => write!(f, "{doing} failed: {error}"),
        }
    }
}

impl std::error::Error for Refused {}
