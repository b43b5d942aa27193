//! Back to the vendor's JSON shape, secrets masked or exposed.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::model::{DateField, Extra, InstanceConfig, Resource};
use crate::secret::{Secret, MASK};

/// `event.poller.reconcile_interval`'s default, 24 h (the schema's `1440`).
const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// Whether a serialisation shows secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Every secret, and every unknown key that looks like one, becomes `***`: for display.
    Mask,
    /// Secrets are written as they are: for storage only, never for display.
    Expose,
}

impl Secrets {
    pub(crate) fn show(self, secret: &Secret) -> Value {
        match self {
            Secrets::Mask => Value::String(MASK.to_owned()),
            Secrets::Expose => Value::String(secret.expose().to_owned()),
        }
    }

    pub(crate) fn extra(self, extra: &Extra, into: &mut Map<String, Value>) {
        for (key, value) in extra.iter() {
            let value = if self == Secrets::Mask && Extra::looks_secret(key) {
                Value::String(MASK.to_owned())
            } else {
                value.clone()
            };
            into.insert(key.to_owned(), value);
        }
    }
}

impl InstanceConfig {
    /// The configuration in the vendor's response shape: `configuration` values as strings,
    /// `event.poller.configuration` as a JSON-encoded string, every default written out, unknown
    /// keys kept. Loading the result with [`Secrets::Expose`] gives the same configuration.
    pub fn to_json(&self, secrets: Secrets) -> Value {
        let mut top = Map::new();
        top.insert("element".into(), json!({ "key": self.element.as_str() }));

        let mut provider = Map::new();
        let p = &self.provider_data;
        for (key, value) in [
            ("code", &p.code),
            ("access_token", &p.access_token),
            ("refresh_token", &p.refresh_token),
        ] {
            if let Some(value) = value {
                provider.insert(key.into(), secrets.show(value));
            }
        }
        secrets.extra(&p.extra, &mut provider);
        top.insert("providerData".into(), Value::Object(provider));

        let c = &self.configuration;
        let mut conf = Map::new();
        let mut put = |key: &str, value: Value| {
            conf.insert(key.to_owned(), value);
        };
        let text = |s: &str| Value::String(s.to_owned());
        put("oauth.api.key", text(&c.oauth.api_key));
        put("oauth.api.secret", secrets.show(&c.oauth.api_secret));
        if let Some(url) = &c.oauth.callback_url {
            put("oauth.callback.url", text(url.as_str()));
        }
        if let Some(url) = &c.oauth.token_url {
            put("oauth.token.url", text(url.as_str()));
        }
        put("sage.api.version", text(c.sage.api_version.as_str()));
        if let Some(country) = c.sage.country {
            put("country", text(country.code()));
        }
        if let Some(secret) = &c.sage.signature_secret {
            put("signature.secret", secrets.show(secret));
        }
        if let Some(secret) = &c.sage.apim_subscription_key {
            put("apim.subscription.key", secrets.show(secret));
        }
        if let Some(business) = &c.sage.business_id {
            put("sage.business.id", text(business));
        }
        if let Some(limit) = c.sage.rate_limit {
            put("sage.rate_limit", text(&limit.to_string()));
        }
        if let Some(url) = &c.sage.base_url {
            put("base.url", text(url.as_str()));
        }
        put("event.vendor.type", text("polling"));
        let n = &c.notification;
        put("event.notification.enabled", text(&n.enabled.to_string()));
        if let Some(url) = &n.callback_url {
            put("event.notification.callback.url", text(url.as_str()));
        }
        if let Some(key) = &n.signature_key {
            put("event.notification.signature.key", secrets.show(key));
        }
        if let Some(secret) = &n.standard_webhooks_secret {
            put(
                "event.notification.standard_webhooks.secret",
                secrets.show(secret),
            );
        }
        if n.checkpoints {
            put("event.notification.checkpoints", text("true"));
        }
        if let Some(url) = &n.alerts_url {
            put("event.notification.alerts.url", text(url.as_str()));
        }
        if let Some(secret) = &n.alerts_secret {
            put("event.notification.alerts.secret", secrets.show(secret));
        }
        if let Some(basic) = &n.basic {
            put("event.notification.basic.username", text(&basic.username));
            put(
                "event.notification.basic.password",
                secrets.show(&basic.password),
            );
        }
        if !n.headers.is_empty() {
            let headers: Map<String, Value> = n
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            put(
                "event.notification.callback.headers",
                text(&Value::Object(headers).to_string()),
            );
        }
        if !n.subscriptions.is_empty() {
            let list: Vec<Value> = n.subscriptions.iter().map(|s| s.to_json(secrets)).collect();
            put(
                "event.notification.subscriptions",
                text(&Value::Array(list).to_string()),
            );
        }
        let poller = &c.poller;
        put(
            "event.poller.refresh_interval",
            text(&plain_number(poller.refresh_interval.as_secs_f64() / 60.0)),
        );
        put("event.poller.timezone", text(poller.timezone.as_str()));
        if let Some(since) = poller.backfill_since {
            put(
                "event.poller.backfill_since",
                text(&since.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            );
        }
        // Written only when it is not the default, so that instances saved before the key existed
        // read back unchanged.
        match poller.reconcile_interval {
            Some(every) if every == DEFAULT_RECONCILE_INTERVAL => {}
            Some(every) => put(
                "event.poller.reconcile_interval",
                text(&plain_number(every.as_secs_f64() / 60.0)),
            ),
            None => put("event.poller.reconcile_interval", text("0")),
        }
        if !poller.resources.is_empty() {
            let resources: Map<String, Value> = poller
                .resources
                .iter()
                .map(|(name, resource)| (name.clone(), resource_json(resource)))
                .collect();
            put(
                "event.poller.configuration",
                text(&Value::Object(resources).to_string()),
            );
        }
        secrets.extra(&c.extra, &mut conf);
        top.insert("configuration".into(), Value::Object(conf));

        top.insert("tags".into(), json!(self.tags));
        top.insert("name".into(), Value::String(self.name.clone()));
        secrets.extra(&self.extra, &mut top);
        Value::Object(top)
    }

    /// [`InstanceConfig::to_json`] with [`Secrets::Mask`]: safe to show.
    pub fn to_masked_json(&self) -> Value {
        self.to_json(Secrets::Mask)
    }
}

fn resource_json(resource: &Resource) -> Value {
    let mut map = Map::new();
    map.insert(
        "url".into(),
        Value::String(resource.url.as_str().to_owned()),
    );
    map.insert(
        "idField".into(),
        Value::String(resource.id_field.as_str().to_owned()),
    );
    let mut dates = Map::new();
    date_json(&resource.dates.updated, "updated", &mut dates);
    date_json(&resource.dates.created, "created", &mut dates);
    // Unknown keys of datesConfiguration are not credentials by design; kept verbatim.
    for (key, value) in resource.dates.extra.iter() {
        dates.insert(key.to_owned(), value.clone());
    }
    map.insert("datesConfiguration".into(), Value::Object(dates));
    map.insert(
        "filterByUpdatedDate".into(),
        Value::Bool(resource.filter_by_updated_date),
    );
    map.insert(
        "filterByCurrentDate".into(),
        Value::Bool(resource.filter_by_current_date),
    );
    map.insert(
        "createdCheckTolerance".into(),
        seconds_json(resource.created_check_tolerance),
    );
    if let Some(size) = resource.page_size {
        map.insert("pageSize".into(), Value::from(size));
    }
    map.insert("pollDelay".into(), seconds_json(resource.poll_delay));
    for (key, value) in resource.extra.iter() {
        map.insert(key.to_owned(), value.clone());
    }
    Value::Object(map)
}

fn date_json(date: &DateField, prefix: &str, into: &mut Map<String, Value>) {
    if let Some(field) = &date.field {
        into.insert(
            format!("{prefix}DateField"),
            Value::String(field.as_str().to_owned()),
        );
    }
    if let Some(format) = &date.format {
        into.insert(
            format!("{prefix}DateFormat"),
            Value::String(format.as_str().to_owned()),
        );
    }
    into.insert(
        format!("{prefix}DateTimezone"),
        Value::String(date.timezone.as_str().to_owned()),
    );
}

/// Whole seconds as an integer, others as a decimal.
fn seconds_json(duration: Duration) -> Value {
    if duration.subsec_nanos() == 0 {
        Value::from(duration.as_secs())
    } else {
        Value::from(duration.as_secs_f64())
    }
}

/// `15` rather than `15.0`; decimals as Rust prints them shortest.
fn plain_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}
