//! Where and how one instance's notifications are sent.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue};
use pollen_config::{InstanceConfig, Secret};
use url::Url;

use crate::error::{Error, Result};
use crate::sign::StandardWebhooksSecret;

/// The configuration key of the Standard Webhooks secret (a pollen extension: the vendor has no such
/// key). Setting it opts the instance in to the `webhook-id`, `webhook-timestamp` and
/// `webhook-signature` headers.
pub const STANDARD_WEBHOOKS_SECRET_KEY: &str = "event.notification.standard_webhooks.secret";

/// The header holding the signatures of replaced `Elements-Webhook-Signature` keys during a
/// rotation's grace period (a pollen extension: the vendor has one key).
pub const PREVIOUS_SIGNATURE_HEADER: &str = "Elements-Webhook-Signature-Previous";

/// Headers the sender sets itself; extra headers never replace them.
const RESERVED: &[&str] = &[
    "elements-webhook-id",
    "elements-webhook-signature",
    "elements-webhook-signature-previous",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "host",
    "user-agent",
];

/// One instance's callback: URL, signing keys, basic authentication and extra headers.
///
/// Its `Debug` output shows no secret: keys and the password print as `***`, extra headers by
/// name only (their values may be credentials), and a password in the URL is masked.
#[derive(Clone)]
pub struct Endpoint {
    url: Url,
    signature_key: Option<Secret>,
    standard_webhooks: Option<StandardWebhooksSecret>,
    /// Keys replaced by a rotation, each signing too until its instant (Unix seconds).
    previous_signature_keys: Vec<(Secret, i64)>,
    previous_standard_webhooks: Vec<(StandardWebhooksSecret, i64)>,
    basic: Option<(String, Secret)>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Requests in flight to it at most, when not the sender's per-endpoint limit.
    max_in_flight: Option<usize>,
}

impl Endpoint {
    /// An endpoint POSTing to `url` (absolute `http` or `https`), unsigned, without extras.
    pub fn new(url: &str) -> Result<Endpoint> {
        let parsed = Url::parse(url)
            .map_err(|e| Error::config(format!("callback url is not an absolute url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(Error::config(format!(
                "callback url must be http or https with a host, found scheme `{}`",
                parsed.scheme()
            )));
        }
        Ok(Endpoint {
            url: parsed,
            signature_key: None,
            standard_webhooks: None,
            previous_signature_keys: Vec::new(),
            previous_standard_webhooks: Vec::new(),
            basic: None,
            headers: Vec::new(),
            max_in_flight: None,
        })
    }

    /// The endpoint of a loaded instance, or `None` when its notifications are disabled or it
    /// has no callback URL.
    ///
    /// Reads `event.notification.callback.url`, `.signature.key`, `.basic.username` and
    /// `.password`, `.callback.headers` (headers the sender sets itself are skipped with a
    /// warning) and [`STANDARD_WEBHOOKS_SECRET_KEY`].
    pub fn from_config(config: &InstanceConfig) -> Result<Option<Endpoint>> {
        let settings = &config.configuration.notification;
        let Some(url) = settings.callback_url.as_ref().filter(|_| settings.enabled) else {
            return Ok(None);
        };
        let mut endpoint = Endpoint::new(url.as_str())?;
        endpoint.signature_key = settings.signature_key.clone();
        if let Some(basic) = &settings.basic {
            endpoint.basic = Some((basic.username.clone(), basic.password.clone()));
        }
        for (name, value) in &settings.headers {
            if is_reserved(name) {
                tracing::warn!(
                    header = %name,
                    "event.notification.callback.headers: the sender sets this header itself; ignored"
                );
                continue;
            }
            endpoint = endpoint.with_header(name, value)?;
        }
        if let Some(secret) = &settings.standard_webhooks_secret {
            let secret = StandardWebhooksSecret::parse(secret.expose())
                .map_err(|e| Error::config(format!("{STANDARD_WEBHOOKS_SECRET_KEY}: {e}")))?;
            endpoint.standard_webhooks = Some(secret);
        }
        Ok(Some(endpoint))
    }

    /// The endpoint of a subscription of `event.notification.subscriptions`: its URL, its
    /// `Elements-Webhook-Signature` key and Standard Webhooks secret, its in-flight limit. (The
    /// callback's basic authentication and extra headers are the callback's own.)
    pub fn from_subscription(subscription: &pollen_config::Subscription) -> Result<Endpoint> {
        let name = &subscription.name;
        let mut endpoint = Endpoint::new(subscription.url.as_str())
            .map_err(|e| Error::config(format!("subscription {name}: {e}")))?;
        endpoint.signature_key = subscription.signature_key.clone();
        if let Some(secret) = &subscription.standard_webhooks_secret {
            let secret = StandardWebhooksSecret::parse(secret.expose()).map_err(|e| {
                Error::config(format!("subscription {name}: standardWebhooksSecret: {e}"))
            })?;
            endpoint.standard_webhooks = Some(secret);
        }
        endpoint.max_in_flight = subscription.max_in_flight.map(|n| n as usize);
        Ok(endpoint)
    }

    /// At most `n` requests in flight to this endpoint (at least 1), instead of the sender's
    /// per-endpoint limit.
    pub fn with_max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n.max(1));
        self
    }

    /// Its own in-flight limit, if it has one.
    pub fn max_in_flight(&self) -> Option<usize> {
        self.max_in_flight
    }

    /// Signs every notification with `Elements-Webhook-Signature` under `key`.
    pub fn with_signature_key(mut self, key: Secret) -> Self {
        self.signature_key = Some(key);
        self
    }

    /// Adds the Standard Webhooks headers, signed with `secret`.
    pub fn with_standard_webhooks(mut self, secret: StandardWebhooksSecret) -> Self {
        self.standard_webhooks = Some(secret);
        self
    }

    /// Also signs with `key`, the `Elements-Webhook-Signature` key a rotation replaced, until
    /// `until`: its signature goes in [`PREVIOUS_SIGNATURE_HEADER`] (several: comma-separated,
    /// newest first), so that a receiver still verifying with it accepts every delivery.
    pub fn with_previous_signature_key(mut self, key: Secret, until: DateTime<Utc>) -> Self {
        self.previous_signature_keys.push((key, until.timestamp()));
        self
    }

    /// Also signs with `secret`, the Standard Webhooks secret a rotation replaced, until
    /// `until`: `webhook-signature` then lists both signatures, space-separated, as the
    /// specification allows for rotations.
    pub fn with_previous_standard_webhooks(
        mut self,
        secret: StandardWebhooksSecret,
        until: DateTime<Utc>,
    ) -> Self {
        self.previous_standard_webhooks
            .push((secret, until.timestamp()));
        self
    }

    /// Sends HTTP basic authentication (it replaces an extra `Authorization` header).
    pub fn with_basic_auth(mut self, username: impl Into<String>, password: Secret) -> Self {
        self.basic = Some((username.into(), password));
        self
    }

    /// Adds an extra header. Fails for a name or value HTTP does not allow, and for the
    /// headers the sender sets itself (the id and signature headers, `Content-Type`,
    /// `User-Agent`, framing); the error quotes the name, never the value.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self> {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::config(format!("`{name}` is not a valid HTTP header name")))?;
        if is_reserved(name) {
            return Err(Error::config(format!(
                "header `{name}` is set by the sender and cannot be overridden"
            )));
        }
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            Error::config(format!(
                "the value of header `{name}` is not a valid header value"
            ))
        })?;
        value.set_sensitive(true);
        self.headers.push((header, value));
        Ok(self)
    }

    /// The callback URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    pub(crate) fn signature_key(&self) -> Option<&Secret> {
        self.signature_key.as_ref()
    }

    pub(crate) fn standard_webhooks(&self) -> Option<&StandardWebhooksSecret> {
        self.standard_webhooks.as_ref()
    }

    /// The replaced `Elements-Webhook-Signature` keys still signing at `timestamp`.
    pub(crate) fn previous_signature_keys(&self, timestamp: i64) -> impl Iterator<Item = &Secret> {
        self.previous_signature_keys
            .iter()
            .filter(move |(_, until)| *until > timestamp)
            .map(|(key, _)| key)
    }

    /// The replaced Standard Webhooks secrets still signing at `timestamp`.
    pub(crate) fn previous_standard_webhooks(
        &self,
        timestamp: i64,
    ) -> impl Iterator<Item = &StandardWebhooksSecret> {
        self.previous_standard_webhooks
            .iter()
            .filter(move |(_, until)| *until > timestamp)
            .map(|(secret, _)| secret)
    }

    pub(crate) fn basic(&self) -> Option<(&str, &Secret)> {
        self.basic.as_ref().map(|(u, p)| (u.as_str(), p))
    }

    pub(crate) fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// The URL as logs may show it: without user info.
    pub(crate) fn display_url(&self) -> String {
        let mut url = self.url.clone();
        // Both only fail for URLs that cannot have credentials, which then have none.
        let _ = url.set_password(None);
        let _ = url.set_username("");
        url.to_string()
    }
}

fn is_reserved(name: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Endpoint")
            .field("url", &self.display_url())
            .field("signature_key", &self.signature_key)
            .field("standard_webhooks", &self.standard_webhooks)
            .field("previous_signature_keys", &self.previous_signature_keys)
            .field(
                "previous_standard_webhooks",
                &self.previous_standard_webhooks,
            )
            .field("basic", &self.basic)
            .field("headers", &headers)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

/// Where the sender finds each instance's [`Endpoint`]; asked before every delivery attempt,
/// so a changed callback URL takes effect on the next one.
pub trait Endpoints: Send + Sync + fmt::Debug {
    /// The endpoint of `instance`; `None` when it has none (the attempt then fails with that
    /// reason and is retried on the schedule).
    fn endpoint<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<Option<Arc<Endpoint>>>>;

    /// The in-flight limit of the endpoint of `lane` when it has its own
    /// ([`Endpoint::with_max_in_flight`]); `None`: the sender's per-endpoint limit.
    fn max_in_flight(&self, lane: &str) -> Option<usize> {
        let _ = lane;
        None
    }
}

/// An [`Endpoints`] held in memory, updated by whoever owns the instances.
#[derive(Debug, Default)]
pub struct EndpointMap {
    map: RwLock<HashMap<String, Arc<Endpoint>>>,
}

impl EndpointMap {
    /// An empty map.
    pub fn new() -> Self {
        EndpointMap::default()
    }

    /// Sets (or replaces) the endpoint of `instance`.
    pub fn insert(&self, instance: impl Into<String>, endpoint: Endpoint) {
        self.write().insert(instance.into(), Arc::new(endpoint));
    }

    /// Removes the endpoint of `instance`; returns whether it had one.
    pub fn remove(&self, instance: &str) -> bool {
        self.write().remove(instance).is_some()
    }

    /// Keeps only the endpoints whose key `keep` accepts (an instance's subscriptions that are
    /// gone, say).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.write().retain(|key, _| keep(key));
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Endpoint>>> {
        // The map is consistent after any panic (single inserts and removes).
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Endpoints for EndpointMap {
    fn endpoint<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<Option<Arc<Endpoint>>>> {
        let found = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(instance)
            .cloned();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn max_in_flight(&self, lane: &str) -> Option<usize> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(lane)
            .and_then(|e| e.max_in_flight)
    }
}
