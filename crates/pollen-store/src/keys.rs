//! Retired signing keys: a subscription's previous key, kept (encrypted) for a grace period
//! after a rotation so that the sender signs with both and receivers can switch at their pace.

use chrono::{DateTime, Utc};
use pollen_config::Secret;

use crate::error::{Error, Result};

/// Which signature a key makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyScheme {
    /// `Elements-Webhook-Signature` (`event.notification.signature.key`).
    Elements,
    /// Standard Webhooks' `webhook-signature` (`event.notification.standard_webhooks.secret`).
    StandardWebhooks,
}

impl KeyScheme {
    /// Both schemes.
    pub const ALL: [KeyScheme; 2] = [KeyScheme::Elements, KeyScheme::StandardWebhooks];

    /// `elements` or `standard-webhooks`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScheme::Elements => "elements",
            KeyScheme::StandardWebhooks => "standard-webhooks",
        }
    }

    /// The scheme named `text` (as [`KeyScheme::as_str`] writes it).
    pub fn parse(text: &str) -> Option<KeyScheme> {
        KeyScheme::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub(crate) fn stored(text: &str) -> Result<KeyScheme> {
        KeyScheme::parse(text)
            .ok_or_else(|| Error::corrupt(format!("unknown signing key scheme `{text}`")))
    }
}

/// A key replaced by a rotation, still signing until `expires_at`. `Debug` masks the key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetiredKey {
    /// The subscription it signed for; `None`: the instance's Open Connectors callback.
    pub subscription: Option<String>,
    /// Which signature it makes.
    pub scheme: KeyScheme,
    /// The key itself.
    pub key: Secret,
    /// When it was replaced.
    pub retired_at: DateTime<Utc>,
    /// When the sender stops signing with it.
    pub expires_at: DateTime<Utc>,
}

/// A retired key's row before it is opened: its key sealed.
pub(crate) struct RetiredRow {
    /// '' for the callback.
    pub(crate) subscription: String,
    pub(crate) scheme: String,
    pub(crate) sealed: Vec<u8>,
    pub(crate) retired_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

/// The encryption context of instance `id`'s retired `scheme` keys of `subscription` (the
/// callback's: `None`, the context they had before subscriptions existed).
pub(crate) fn retired_key_context(
    id: i64,
    subscription: Option<&str>,
    scheme: KeyScheme,
) -> String {
    match subscription {
        None => format!("retired-key:{id}:{}", scheme.as_str()),
        Some(name) => format!("retired-key:{id}/{name}:{}", scheme.as_str()),
    }
}

/// How the `subscription` column stores `subscription`.
pub(crate) fn stored_subscription(subscription: Option<&str>) -> &str {
    subscription.unwrap_or_default()
}
