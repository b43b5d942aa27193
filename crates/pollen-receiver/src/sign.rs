//! Verifying the two signature schemes pollen signs with, as `pollen-callback` signs them.

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, ErrorKind, Result};

type HmacSha256 = Hmac<Sha256>;

/// `Elements-Webhook-Signature`: `sha256=<base64 HMAC-SHA256(key, body)>`.
pub const SIGNATURE_HEADER: &str = "elements-webhook-signature";
/// During a key rotation's grace period, the replaced keys' signatures (comma-separated).
pub const PREVIOUS_SIGNATURE_HEADER: &str = "elements-webhook-signature-previous";
/// Standard Webhooks: the notification id.
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// Standard Webhooks: Unix seconds of the attempt.
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks: `v1,<base64>` signatures, space-separated.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";

/// The default Standard Webhooks timestamp tolerance: five minutes either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// A request's headers, looked up by name without regard to case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    pairs: Vec<(String, String)>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers::default()
    }

    /// Adds a header (a repeated name keeps every value; [`Headers::get`] gives the first).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.pairs
            .push((name.into().to_ascii_lowercase(), value.into()));
    }

    /// The first value of `name`, any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (name, value) in iter {
            headers.insert(name, value);
        }
        headers
    }
}

/// The scheme a signature verified under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `Elements-Webhook-Signature` (or its `-Previous` companion).
    Elements,
    /// Standard Webhooks v1.
    StandardWebhooks,
}

/// What a successful verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The schemes that verified: every scheme the [`Verifier`] has keys for.
    pub schemes: Vec<Scheme>,
}

/// Checks a request's signatures with the receiver's keys.
///
/// Every scheme the verifier has a key for must verify (a request that lacks the Standard
/// Webhooks headers is refused by a verifier holding a Standard Webhooks secret: no downgrade).
/// Within a scheme, any of the verifier's keys matching any signature the request carries is
/// enough: that covers both sides of a rotation, the sender's (pollen sends the replaced
/// key's signature too during the grace period, in `Elements-Webhook-Signature-Previous` or
/// as a second `v1,` entry) and the receiver's (several keys while it switches).
/// Comparisons are constant-time (`hmac`'s `verify_slice`). `Debug` never shows a key.
#[derive(Clone, Default)]
pub struct Verifier {
    elements: Vec<Vec<u8>>,
    standard: Vec<Vec<u8>>,
    tolerance: Option<Duration>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("elements_keys", &self.elements.len())
            .field("standard_webhooks_secrets", &self.standard.len())
            .field("tolerance", &self.tolerance())
            .finish()
    }
}

impl Verifier {
    /// A verifier with no key yet (it refuses everything until given one).
    pub fn new() -> Self {
        Verifier::default()
    }

    /// Adds an `Elements-Webhook-Signature` key (`event.notification.signature.key`, its UTF-8
    /// bytes).
    pub fn with_elements_key(mut self, key: &str) -> Result<Self> {
        if key.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidSecret,
                "the Elements-Webhook-Signature key is empty",
            ));
        }
        self.elements.push(key.as_bytes().to_vec());
        Ok(self)
    }

    /// Adds a Standard Webhooks secret: `whsec_` (optional) and the base64 of 24 to 64 bytes.
    /// The error never quotes the secret.
    pub fn with_standard_webhooks_secret(mut self, secret: &str) -> Result<Self> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
        let key = BASE64.decode(encoded).map_err(|_| {
            Error::new(
                ErrorKind::InvalidSecret,
                "the Standard Webhooks secret is not `whsec_` followed by base64",
            )
        })?;
        if !(24..=64).contains(&key.len()) {
            return Err(Error::new(
                ErrorKind::InvalidSecret,
                format!(
                    "the Standard Webhooks secret decodes to {} bytes; expected 24 to 64",
                    key.len()
                ),
            ));
        }
        self.standard.push(key);
        Ok(self)
    }

    /// How far `webhook-timestamp` may be from `now`, either way (default
    /// [`DEFAULT_TOLERANCE`]).
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = Some(tolerance);
        self
    }

    /// The timestamp tolerance in force.
    pub fn tolerance(&self) -> Duration {
        self.tolerance.unwrap_or(DEFAULT_TOLERANCE)
    }

    /// True when the verifier holds at least one key.
    pub fn has_keys(&self) -> bool {
        !self.elements.is_empty() || !self.standard.is_empty()
    }

    /// Verifies `body` (the raw bytes) against `headers`; `now` is the caller's clock in Unix
    /// seconds, against which `webhook-timestamp` must be within the tolerance.
    pub fn verify(&self, headers: &Headers, body: &[u8], now: i64) -> Result<Verified> {
        self.check(headers, body, Some(now))
    }

    /// Like [`Verifier::verify`] but without the timestamp check, for logs whose time of
    /// receipt is unknown (the timestamp is still covered by the signature).
    pub fn verify_at_any_time(&self, headers: &Headers, body: &[u8]) -> Result<Verified> {
        self.check(headers, body, None)
    }

    fn check(&self, headers: &Headers, body: &[u8], now: Option<i64>) -> Result<Verified> {
        if !self.has_keys() {
            return Err(Error::new(
                ErrorKind::InvalidSecret,
                "no signature key or secret to verify with",
            ));
        }
        let mut schemes = Vec::new();
        if !self.elements.is_empty() {
            self.check_elements(headers, body)?;
            schemes.push(Scheme::Elements);
        }
        if !self.standard.is_empty() {
            self.check_standard(headers, body, now)?;
            schemes.push(Scheme::StandardWebhooks);
        }
        Ok(Verified { schemes })
    }

    fn check_elements(&self, headers: &Headers, body: &[u8]) -> Result<()> {
        let current = headers.get(SIGNATURE_HEADER).ok_or_else(|| {
            Error::new(
                ErrorKind::MissingHeader,
                "no Elements-Webhook-Signature header",
            )
        })?;
        let previous = headers.get(PREVIOUS_SIGNATURE_HEADER).unwrap_or_default();
        let given: Vec<Vec<u8>> = std::iter::once(current)
            .chain(previous.split(','))
            .filter_map(|s| s.trim().strip_prefix("sha256="))
            .filter_map(|b64| BASE64.decode(b64).ok())
            .collect();
        for key in &self.elements {
            for signature in &given {
                let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(body);
                if mac.verify_slice(signature).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(Error::new(
            ErrorKind::BadSignature,
            "Elements-Webhook-Signature does not verify with any of the keys given",
        ))
    }

    fn check_standard(&self, headers: &Headers, body: &[u8], now: Option<i64>) -> Result<()> {
        let need = |name: &str| {
            headers
                .get(name)
                .ok_or_else(|| Error::new(ErrorKind::MissingHeader, format!("no {name} header")))
        };
        let id = need(WEBHOOK_ID_HEADER)?;
        let timestamp_text = need(WEBHOOK_TIMESTAMP_HEADER)?;
        let signatures = need(WEBHOOK_SIGNATURE_HEADER)?;
        let timestamp: i64 = timestamp_text.trim().parse().map_err(|_| {
            Error::new(
                ErrorKind::MissingHeader,
                "webhook-timestamp is not a whole number of Unix seconds",
            )
        })?;
        if let Some(now) = now {
            let tolerance = i64::try_from(self.tolerance().as_secs()).unwrap_or(i64::MAX);
            let off = now.saturating_sub(timestamp);
            if off.saturating_abs() > tolerance {
                return Err(Error::new(
                    ErrorKind::StaleTimestamp,
                    format!(
                        "webhook-timestamp {timestamp} is {} s {} the clock ({now}); the tolerance is {tolerance} s",
                        off.saturating_abs(),
                        if off > 0 { "behind" } else { "ahead of" }
                    ),
                ));
            }
        }
        let given: Vec<Vec<u8>> = signatures
            .split(' ')
            .filter_map(|s| s.trim().strip_prefix("v1,"))
            .filter_map(|b64| BASE64.decode(b64).ok())
            .collect();
        for key in &self.standard {
            for signature in &given {
                let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
                mac.update(id.as_bytes());
                mac.update(b".");
                mac.update(timestamp_text.trim().as_bytes());
                mac.update(b".");
                mac.update(body);
                if mac.verify_slice(signature).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(Error::new(
            ErrorKind::BadSignature,
            "webhook-signature has no v1 signature that verifies with any of the secrets given",
        ))
    }
}
