//! A string that must never reach a log, an error message or `Debug` output.

use std::fmt;

/// What [`Secret`]'s `Debug` and `Display` print, and what a masked serialisation shows.
pub const MASK: &str = "***";

/// A credential: client secret, signing secret, subscription key, notification signature key,
/// basic-auth password, OAuth code or token.
///
/// `Debug` and `Display` print `***`; the value is only reachable through the explicit
/// [`Secret::expose`], so it cannot leak through `{:?}` of a whole configuration.
///
/// ```
/// use pollen_config::Secret;
///
/// let secret = Secret::new("s3cr3t");
/// assert_eq!(format!("{secret:?} {secret}"), "*** ***");
/// assert_eq!(secret.expose(), "s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it (signing, the token request, ...).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}
