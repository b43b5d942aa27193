//! Rotating an instance's signing keys with an overlap: the new key goes into the instance's
//! configuration, the one it replaces is kept (encrypted) for a grace period during which
//! every delivery carries both signatures, so receivers switch keys at their own pace. The
//! Open Connectors callback's keys and each subscription's rotate the same way. One rule for
//! the API (`/instances/{id}/signing-keys`), `pollen keys` and the console.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use pollen_callback::{Endpoint, StandardWebhooksSecret, STANDARD_WEBHOOKS_SECRET_KEY};
use pollen_config::{InstanceConfig, Secret, Secrets};
use pollen_store::{Instance, KeyScheme, RetiredKey, SqlStore};
use serde_json::{json, Value};

pub use crate::refused::Refused;

/// How long a replaced key keeps signing by default.
pub const DEFAULT_GRACE: TimeDelta = TimeDelta::hours(24);

/// The longest grace period a rotation may ask for.
pub const MAX_GRACE: TimeDelta = TimeDelta::days(30);

/// The configuration key holding a scheme's current key.
pub fn config_key(scheme: KeyScheme) -> &'static str {
    match scheme {
        KeyScheme::StandardWebhooks => STANDARD_WEBHOOKS_SECRET_KEY,
        _ => "event.notification.signature.key",
    }
}

/// The key of a subscription's JSON holding a scheme's current key.
fn subscription_key(scheme: KeyScheme) -> &'static str {
    match scheme {
        KeyScheme::StandardWebhooks => "standardWebhooksSecret",
        _ => "signatureKey",
    }
}

/// The current `scheme` key of the callback (`subscription` `None`) or of that subscription;
/// `NotFound` for a subscription the instance does not have.
fn current<'c>(
    config: &'c InstanceConfig,
    subscription: Option<&str>,
    scheme: KeyScheme,
) -> Result<Option<&'c Secret>, Refused> {
    let n = &config.configuration.notification;
    let (signature_key, standard_webhooks) = match subscription {
        None => (&n.signature_key, &n.standard_webhooks_secret),
        Some(name) => {
            let s = n
                .subscriptions
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| Refused::NotFound(format!("no subscription named `{name}`")))?;
            (&s.signature_key, &s.standard_webhooks_secret)
        }
    };
    Ok(match scheme {
        KeyScheme::StandardWebhooks => standard_webhooks.as_ref(),
        _ => signature_key.as_ref(),
    })
}

/// `NotFound` unless `subscription` is `None` (the callback) or one of `instance`'s.
pub fn check_owner(instance: &Instance, subscription: Option<&str>) -> Result<(), Refused> {
    current(&instance.config, subscription, KeyScheme::Elements).map(|_| ())
}

/// What an operator asked for.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// Whose key: a subscription's name, or `None` for the Open Connectors callback.
    pub subscription: Option<String>,
    /// The key to replace.
    pub scheme: KeyScheme,
    /// The new key; `None`: pollen generates one (and shows it once).
    pub key: Option<Secret>,
    /// How long the replaced key keeps signing (0: it stops at once, for a leaked key).
    pub grace: TimeDelta,
}

/// A rotation done.
#[derive(Debug)]
#[non_exhaustive]
pub struct Rotated {
    /// Whose key: a subscription's name, or `None` for the Open Connectors callback.
    pub subscription: Option<String>,
    /// The key replaced.
    pub scheme: KeyScheme,
    /// The generated key, to hand to the receiver: shown once, never again.
    pub generated: Option<Secret>,
    /// Until when the replaced key signs too; `None` when there was none or no grace.
    pub previous_until: Option<DateTime<Utc>>,
    /// The instance's configuration with the new key, to be saved by the caller.
    pub config: InstanceConfig,
}

/// A grace period from text like `24h`, `90m` or `0s`, within [`MAX_GRACE`].
pub fn parse_grace(text: &str) -> Result<TimeDelta, Refused> {
    let invalid = |message: String| Refused::invalid("grace", message);
    let parsed = humantime::parse_duration(text.trim())
        .map_err(|e| invalid(format!("`{text}` is not a duration like 24h or 30m ({e})")))?;
    let grace = TimeDelta::from_std(parsed).unwrap_or(TimeDelta::MAX);
    if grace > MAX_GRACE {
        return Err(invalid(format!(
            "`{text}` is longer than the longest grace period, 30 days"
        )));
    }
    Ok(grace)
}

/// A new random key of 32 bytes: `whsec_<base64>` for Standard Webhooks, 64 hex digits else.
fn generate(scheme: KeyScheme) -> Secret {
    match scheme {
        KeyScheme::StandardWebhooks => StandardWebhooksSecret::generate(),
        _ => {
            let bytes: [u8; 32] = rand::random();
            Secret::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
        }
    }
}

/// Puts a new `scheme` key into `instance`'s configuration and keeps the one it replaces
/// signing for `rotation.grace` ([`SqlStore::retire_signing_key`]). The caller saves
/// [`Rotated::config`] (the API and console through the engine, the command line in the store,
/// where running processes pick it up within their instance sync).
pub async fn rotate(
    store: &SqlStore,
    instance: &Instance,
    rotation: Rotation,
) -> Result<Rotated, Refused> {
    if rotation.grace < TimeDelta::zero() || rotation.grace > MAX_GRACE {
        return Err(Refused::invalid("grace", "must be between 0 and 30 days"));
    }
    let scheme = rotation.scheme;
    let (key, generated) = match rotation.key {
        Some(key) => (key, None),
        None => {
            let key = generate(scheme);
            (key.clone(), Some(key))
        }
    };
    let invalid = |message: String| Refused::invalid("key", message);
    if key.expose().trim().is_empty() {
        return Err(invalid("must not be empty".to_owned()));
    }
    if scheme == KeyScheme::StandardWebhooks {
        StandardWebhooksSecret::parse(key.expose()).map_err(|e| invalid(e.to_string()))?;
    }
    let subscription = rotation.subscription.as_deref();
    let previous = current(&instance.config, subscription, scheme)?;
    if previous.is_some_and(|p| p.expose() == key.expose()) {
        return Err(invalid(
            "is the current key: a rotation needs a new one".to_owned(),
        ));
    }
    let merged = match subscription {
        None => {
            let mut merged = instance.config.to_json(Secrets::Expose);
            merged["configuration"][config_key(scheme)] = Value::String(key.expose().to_owned());
            merged
        }
        Some(name) => {
            let mut entry = instance
                .config
                .configuration
                .notification
                .subscriptions
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.to_json(Secrets::Expose))
                .unwrap_or_default();
            entry[subscription_key(scheme)] = Value::String(key.expose().to_owned());
            crate::subscriptions::with_subscription(&instance.config, name, &entry)?
        }
    };
    let config = InstanceConfig::from_json_value_for(&merged, &crate::instances::sage_vocabulary())
        .map_err(|errors| {
            invalid(
                errors
                    .errors()
                    .map(|p| p.message().to_owned())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?
        .config;
    let now = Utc::now();
    let previous_until = match previous {
        Some(previous) if rotation.grace > TimeDelta::zero() => {
            let until = now + rotation.grace;
            store
                .retire_signing_key(instance.id, subscription, scheme, previous, until, now)
                .await
                .map_err(Refused::store("retiring the replaced key"))?;
            Some(until)
        }
        _ => None,
    };
    Ok(Rotated {
        subscription: rotation.subscription,
        scheme,
        generated,
        previous_until,
        config,
    })
}

/// `endpoint`, the callback's (`subscription` `None`) or that subscription's, signing also
/// with its keys in `retired` (the instance's, still in their grace period).
pub(crate) fn with_retired(
    mut endpoint: Endpoint,
    retired: &[RetiredKey],
    subscription: Option<&str>,
) -> Endpoint {
    for retired in retired
        .iter()
        .filter(|r| r.subscription.as_deref() == subscription)
    {
        endpoint = match retired.scheme {
            KeyScheme::StandardWebhooks => {
                match StandardWebhooksSecret::parse(retired.key.expose()) {
                    Ok(secret) => {
                        endpoint.with_previous_standard_webhooks(secret, retired.expires_at)
                    }
                    // Only valid secrets are ever retired; one that is not cannot sign.
                    Err(_) => endpoint,
                }
            }
            _ => endpoint.with_previous_signature_key(retired.key.clone(), retired.expires_at),
        };
    }
    endpoint
}

fn date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A rotation as the API and `pollen keys rotate --json` show it: the generated key once.
pub fn rotated_json(rotated: &Rotated) -> Value {
    json!({
        "subscription": rotated.subscription,
        "scheme": rotated.scheme.as_str(),
        "key": rotated.generated.as_ref().map(|k| k.expose().to_owned()),
        "previousKeyValidUntil": rotated.previous_until.map(date),
    })
}

/// The instance's signing keys without a single secret: for the callback
/// (`"subscription": null`) and each subscription, which schemes are set, and until when each
/// retired key still signs.
pub fn keys_json(instance: &Instance, retired: &[RetiredKey]) -> Value {
    let owners = std::iter::once(None).chain(
        instance
            .config
            .configuration
            .notification
            .subscriptions
            .iter()
            .map(|s| Some(s.name.as_str())),
    );
    let mut out = Vec::new();
    for owner in owners {
        for scheme in KeyScheme::ALL {
            out.push(json!({
                "subscription": owner,
                "scheme": scheme.as_str(),
                "configured": matches!(current(&instance.config, owner, scheme), Ok(Some(_))),
                "retired": retired
                    .iter()
                    .filter(|r| r.scheme == scheme && r.subscription.as_deref() == owner)
                    .map(|r| json!({
                        "retiredDate": date(r.retired_at),
                        "validUntil": date(r.expires_at),
                    }))
                    .collect::<Vec<_>>(),
            }));
        }
    }
    Value::Array(out)
}
