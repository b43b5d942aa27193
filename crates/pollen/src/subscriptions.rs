//! An instance's subscriptions besides its Open Connectors callback
//! (`event.notification.subscriptions`): editing one without re-sending the whole instance, and
//! how each lane stands. One rule for the API (`/instances/{id}/subscriptions`),
//! `pollen subscriptions` and the console.

use pollen_config::{InstanceConfig, Secrets, MASK};
use pollen_store::{Instance, OutboxHealth, SqlStore};
use serde_json::{json, Value};

pub use crate::refused::Refused;

/// The configuration key of the list.
pub const SUBSCRIPTIONS_KEY: &str = "event.notification.subscriptions";

/// The secret keys of a subscription: given as `***`, the current value is kept.
const SECRET_KEYS: [&str; 2] = ["signatureKey", "standardWebhooksSecret"];

/// The instance JSON (secrets exposed, for storing) with subscription `name` set to `body`:
/// the one of that name replaced in place, or added last. A secret written `***` keeps the
/// subscription's current one (what the API and the console show). The caller validates the
/// result, so every problem comes back at its JSON Pointer.
pub fn with_subscription(
    config: &InstanceConfig,
    name: &str,
    body: &Value,
) -> Result<Value, Refused> {
    let Value::Object(given) = body else {
        return Err(Refused::invalid("body", "expected a subscription object"));
    };
    let mut entry = given.clone();
    match entry.get("name") {
        None => {
            entry.insert("name".into(), Value::String(name.to_owned()));
        }
        Some(Value::String(n)) if n == name => {}
        Some(_) => {
            return Err(Refused::invalid(
                "name",
                format!("the body's name differs from the path's `{name}`"),
            ))
        }
    }
    let mut list = current_list(config);
    let at = list
        .iter()
        .position(|s| s.get("name").and_then(Value::as_str) == Some(name));
    if let Some(i) = at {
        for key in SECRET_KEYS {
            if entry.get(key).and_then(Value::as_str) == Some(MASK) {
                match list[i].get(key) {
                    Some(current) => entry.insert(key.into(), current.clone()),
                    None => entry.remove(key),
                };
            }
        }
        list[i] = Value::Object(entry);
    } else {
        for key in SECRET_KEYS {
            if entry.get(key).and_then(Value::as_str) == Some(MASK) {
                return Err(Refused::invalid(
                    key,
                    "`***` keeps a current secret, and this subscription is new",
                ));
            }
        }
        list.push(Value::Object(entry));
    }
    Ok(with_list(config, list))
}

/// The instance JSON (secrets exposed) without subscription `name`.
pub fn without_subscription(config: &InstanceConfig, name: &str) -> Result<Value, Refused> {
    let mut list = current_list(config);
    let before = list.len();
    list.retain(|s| s.get("name").and_then(Value::as_str) != Some(name));
    if list.len() == before {
        return Err(Refused::NotFound(format!("no subscription named `{name}`")));
    }
    Ok(with_list(config, list))
}

fn current_list(config: &InstanceConfig) -> Vec<Value> {
    config
        .configuration
        .notification
        .subscriptions
        .iter()
        .map(|s| s.to_json(Secrets::Expose))
        .collect()
}

fn with_list(config: &InstanceConfig, list: Vec<Value>) -> Value {
    let mut json = config.to_json(Secrets::Expose);
    if let Some(conf) = json.get_mut("configuration").and_then(Value::as_object_mut) {
        if list.is_empty() {
            conf.remove(SUBSCRIPTIONS_KEY);
        } else {
            conf.insert(SUBSCRIPTIONS_KEY.into(), Value::Array(list));
        }
    }
    json
}

/// How one lane of an instance stands: its subscription (`None`: the callback), whether it is
/// active, its notifications by status.
#[derive(Debug, Clone)]
pub struct LaneStatus {
    /// The subscription's name; `None` for the Open Connectors callback.
    pub name: Option<String>,
    /// The lane (`id` or `id/name`).
    pub lane: String,
    /// Whether deliveries go out (false once deactivated after the last retry).
    pub active: bool,
    /// Its notifications by status.
    pub health: OutboxHealth,
}

/// The callback's lane and every subscription's, in configuration order.
pub async fn lanes(store: &SqlStore, instance: &Instance) -> Result<Vec<LaneStatus>, Refused> {
    let key = instance.key();
    let counts = store
        .outbox_health_by_lane(&key)
        .await
        .map_err(Refused::store("counting notifications"))?;
    let inactive = store
        .inactive_lanes(&key)
        .await
        .map_err(Refused::store("reading deactivated subscriptions"))?;
    let names = std::iter::once(None).chain(
        instance
            .config
            .configuration
            .notification
            .subscriptions
            .iter()
            .map(|s| Some(s.name.clone())),
    );
    let mut out = Vec::new();
    for name in names {
        let lane = pollen_core::lane(&key, name.as_deref());
        let active = !inactive.contains(&lane);
        let health = counts
            .iter()
            .find(|(l, _)| *l == lane)
            .map(|(_, h)| *h)
            .unwrap_or_default();
        out.push(LaneStatus {
            name,
            lane,
            active,
            health,
        });
    }
    Ok(out)
}

/// `GET /instances/{id}/subscriptions`: the callback (`name` null) and each subscription,
/// with its settings (secrets as `***`), state and counts.
pub fn lanes_json(instance: &Instance, lanes: &[LaneStatus]) -> Value {
    let n = &instance.config.configuration.notification;
    let items: Vec<Value> = lanes
        .iter()
        .map(|lane| {
            let mut item = match &lane.name {
                None => json!({
                    "name": null,
                    "url": n.callback_url.as_ref().map(|u| u.as_str()),
                }),
                Some(name) => n
                    .subscriptions
                    .iter()
                    .find(|s| s.name == *name)
                    .map(|s| s.to_json(Secrets::Mask))
                    .unwrap_or_else(|| json!({ "name": name })),
            };
            if let Some(map) = item.as_object_mut() {
                map.insert("lane".into(), json!(lane.lane));
                map.insert("active".into(), json!(lane.active));
                map.insert(
                    "notifications".into(),
                    json!({
                        "pending": lane.health.pending,
                        "failing": lane.health.failing,
                        "queued": lane.health.queued,
                        "delivered": lane.health.delivered,
                    }),
                );
            }
            item
        })
        .collect();
    json!({ "instanceId": instance.id, "subscriptions": items })
}

/// The lane of subscription `name` of `instance` (`callback`: the Open Connectors
/// callback's), or why there is none.
pub fn lane_of(instance: &Instance, name: &str) -> Result<String, Refused> {
    if name == pollen_config::CALLBACK_NAME {
        return Ok(instance.key());
    }
    let known = instance
        .config
        .configuration
        .notification
        .subscriptions
        .iter()
        .any(|s| s.name == name);
    if known {
        Ok(pollen_core::lane(&instance.key(), Some(name)))
    } else {
        Err(Refused::NotFound(format!(
            "instance {} has no subscription named `{name}`",
            instance.id
        )))
    }
}
