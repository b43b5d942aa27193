//! The one error type of this crate.

use std::fmt;

/// What kind of problem an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A hub resource name that is not in the table ([`crate::HUB_RESOURCES`]).
    UnknownResource,
    /// A hub URL or where clause that cannot be turned into a Sage request.
    InvalidRequest,
    /// Settings that cannot work (v3 without a country, a base URL that is not http(s) …).
    InvalidConfig,
    /// The instance must be authorised again: the refresh token or code was refused
    /// (`invalid_grant`), the OAuth client was refused, there are no tokens at all, or Sage
    /// says the business has no active subscription. Nothing is retried until new tokens or a
    /// new code are supplied.
    NeedsReauthorization,
    /// Sage answered 401 even with a freshly refreshed token.
    Unauthorized,
    /// Sage answered 429 (or 503) and the retries ran out, or it asked to wait longer than
    /// allowed.
    RateLimited,
    /// Sage answered an error status (its error array, if any, is in [`Error::api_errors`]).
    Api,
    /// The connection failed or timed out, after the retries.
    Transport,
    /// A 2xx response whose body is not the JSON expected.
    MalformedResponse,
    /// A response body larger than the configured cap.
    ResponseTooLarge,
    /// The token endpoint failed in a way that may pass (5xx, connection, bad body).
    TokenEndpoint,
    /// The caller's [`TokenStore`](crate::TokenStore) failed to load or save tokens.
    TokenStore,
    /// The caller's [`BudgetStore`](crate::BudgetStore) failed: the call was not sent, as it
    /// could not be counted against the rate budget.
    BudgetStore,
}

/// One diagnosis of Sage's error array
/// (`[{"$severity","$dataCode","$message","$source"}]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ApiError {
    /// `$severity`, e.g. `error` or `APIM error`.
    #[serde(rename = "$severity", default)]
    pub severity: String,
    /// `$dataCode`, e.g. `AuthorizationFailure`, `RecordNotFound`, `InvalidParameter`.
    #[serde(rename = "$dataCode", default)]
    pub data_code: String,
    /// `$message`, for people.
    #[serde(rename = "$message", default)]
    pub message: String,
    /// `$source`: the parameter or header concerned, often empty.
    #[serde(rename = "$source", default)]
    pub source: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.data_code, self.message.trim_end())?;
        if !self.source.is_empty() {
            write!(f, " (source {})", self.source)?;
        }
        Ok(())
    }
}

/// An error of the Sage connector: a kind to branch on, a message for people, and for HTTP
/// errors the status and Sage's diagnoses.
///
/// Messages start lowercase, have no trailing period and never contain a token, secret or
/// authorization code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    api_errors: Vec<ApiError>,
}

impl Error {
    /// An error of `kind` with `message` (lowercase, no trailing period).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            status: None,
            api_errors: Vec::new(),
        }
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub(crate) fn with_api_errors(mut self, errors: Vec<ApiError>) -> Self {
        self.api_errors = errors;
        self
    }

    /// Carries over the status and diagnoses of `other`.
    pub(crate) fn with_status_of(mut self, other: &Error) -> Self {
        self.status = other.status;
        self.api_errors.clone_from(&other.api_errors);
        self
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message alone.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status, when the error is an HTTP answer.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Sage's error array, when the response carried one.
    pub fn api_errors(&self) -> &[ApiError] {
        &self.api_errors
    }

    /// The first diagnosis's `$dataCode`, if any.
    pub fn data_code(&self) -> Option<&str> {
        self.api_errors.first().map(|e| e.data_code.as_str())
    }
}

impl From<Error> for pollen_core::Error {
    /// Configuration and request problems are the core's `InvalidInput`; everything else is a
    /// failed fetch (`Source`), which the core retries on its own schedule.
    fn from(error: Error) -> Self {
        let kind = match error.kind {
            ErrorKind::UnknownResource | ErrorKind::InvalidRequest | ErrorKind::InvalidConfig => {
                pollen_core::ErrorKind::InvalidInput
            }
            _ => pollen_core::ErrorKind::Source,
        };
        pollen_core::Error::new(kind, error.message)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
