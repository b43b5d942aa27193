//! The two signature schemes: the vendor's `Elements-Webhook-Signature` and Standard Webhooks.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use pollen_config::Secret;
use sha2::Sha256;

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<base64 HMAC-SHA256(key, body)>`: the value of `Elements-Webhook-Signature`, the
/// key being the UTF-8 bytes of `event.notification.signature.key`.
///
/// ```
/// let value = pollen_callback::elements_signature(b"key", br#"{"id":"1"}"#);
/// assert!(value.starts_with("sha256="));
/// ```
pub fn elements_signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", BASE64.encode(mac.finalize().into_bytes()))
}

/// A Standard Webhooks signing secret: `whsec_` followed by the base64 of 24 to 64 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct StandardWebhooksSecret {
    key: Vec<u8>,
}

impl StandardWebhooksSecret {
    /// Reads `whsec_<base64>` (the prefix may be left out). The error never quotes the secret.
    pub fn parse(text: &str) -> Result<Self> {
        let encoded = text.strip_prefix("whsec_").unwrap_or(text);
        let key = BASE64.decode(encoded.trim()).map_err(|_| {
            Error::config("the Standard Webhooks secret is not `whsec_` followed by base64")
        })?;
        if !(24..=64).contains(&key.len()) {
            return Err(Error::config(format!(
                "the Standard Webhooks secret decodes to {} bytes; expected 24 to 64",
                key.len()
            )));
        }
        Ok(StandardWebhooksSecret { key })
    }

    /// A new random secret of 32 bytes, as text (`whsec_<base64>`) to save and hand to the
    /// receiver.
    ///
    /// ```
    /// use pollen_callback::StandardWebhooksSecret;
    ///
    /// let text = StandardWebhooksSecret::generate();
    /// assert!(StandardWebhooksSecret::parse(text.expose()).is_ok());
    /// ```
    pub fn generate() -> Secret {
        let bytes: [u8; 32] = rand::random();
        Secret::new(format!("whsec_{}", BASE64.encode(bytes)))
    }

    /// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`: the value of
    /// `webhook-signature`.
    ///
    /// ```
    /// use pollen_callback::StandardWebhooksSecret;
    ///
    /// // The specification's published test vector.
    /// let secret = StandardWebhooksSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
    /// let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    /// assert_eq!(
    ///     secret.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
    ///     "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    /// );
    /// ```
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for StandardWebhooksSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StandardWebhooksSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_published_vector() {
        let secret =
            StandardWebhooksSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            secret.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1_649_367_553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
        // One byte more in the body, a different signature.
        assert_ne!(
            secret.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1_649_367_553, b"{}"),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
        assert_eq!(format!("{secret:?}"), "StandardWebhooksSecret(***)");
    }

    #[test]
    fn bad_secrets_are_named_not_quoted() {
        let err = StandardWebhooksSecret::parse("whsec_not base64!").unwrap_err();
        assert!(!err.message().contains("not base64!"), "{err}");
        let err = StandardWebhooksSecret::parse("whsec_c2hvcnQ=").unwrap_err();
        assert_eq!(
            err.message(),
            "the Standard Webhooks secret decodes to 5 bytes; expected 24 to 64"
        );
    }

    #[test]
    fn elements_signature_is_hmac_sha256_base64() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            elements_signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
        );
    }
}
