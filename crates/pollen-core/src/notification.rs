//! Open Connectors notifications: the payload POSTed to the callback, built once at commit.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::change::{Change, StableId};
use crate::spec::{PollKey, PollSpec};

/// The vendor's limit, kept: at most this many events per notification.
pub const MAX_EVENTS_PER_NOTIFICATION: usize = 10;

/// One notification as stored in the outbox and POSTed to the callback.
///
/// The body is rendered once, when the poll commits, and never again: every delivery attempt
/// sends the same bytes, so signatures and the receiver's de-duplication on [`Notification::id`]
/// hold across retries and re-deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable id derived from the ids of its events (`id` and `message.eventId` in the body).
    pub id: StableId,
    /// The (instance, resource) whose poll produced it.
    pub key: PollKey,
    /// When it was built (`createdDate` in the body).
    pub created_at: DateTime<Utc>,
    /// The `eventId`s of its events, in order.
    pub event_ids: Vec<StableId>,
    /// The JSON body, exactly as it is to be sent.
    pub body: String,
}

impl Notification {
    /// The body parsed back into JSON.
    pub fn payload(&self) -> Value {
        // The body was rendered from a `Value` by this crate, so it always parses.
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The id of a notification holding the events `event_ids`, in that order.
pub fn notification_id(event_ids: &[StableId]) -> StableId {
    let mut hasher = Sha256::new();
    hasher.update(b"pollen-notification-v1\0");
    for id in event_ids {
        hasher.update(id.0);
    }
    StableId::from_digest(&hasher.finalize())
}

/// Groups `changes` into notifications of at most [`MAX_EVENTS_PER_NOTIFICATION`] events, in
/// order, in the Open Connectors shape.
///
/// `poll_date` is the poll's start (`pollDate`), `now` the build time (`createdDate`, and each
/// event's `date` as in the vendor's captures).
pub fn build_notifications(
    spec: &PollSpec,
    changes: &[Change],
    poll_date: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<Notification> {
    changes
        .chunks(MAX_EVENTS_PER_NOTIFICATION)
        .map(|chunk| build_one(spec, chunk, poll_date, now))
        .collect()
}

fn build_one(
    spec: &PollSpec,
    changes: &[Change],
    poll_date: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Notification {
    let event_ids: Vec<StableId> = changes.iter().map(|c| c.id).collect();
    let id = notification_id(&event_ids);
    let info = &spec.instance;
    let resource = spec.key.resource.as_str();
    let instance_id = instance_id_value(&spec.key.instance);
    let poll_date_text = poll_date.to_rfc3339_opts(SecondsFormat::Secs, true);
    let date_text = now.to_rfc3339_opts(SecondsFormat::Secs, true);

    let raw_records: Vec<Value> = changes
        .iter()
        .map(|change| {
            let mut record = match &change.record {
                Value::Object(map) => map.clone(),
                other => {
                    let mut map = Map::new();
                    map.insert("value".into(), other.clone());
                    map
                }
            };
            record.insert("objectId".into(), Value::String(change.object_id.clone()));
            record.insert("eventType".into(), change.event_type.as_str().into());
            Value::Object(record)
        })
        .collect();
    let events: Vec<Value> = changes
        .iter()
        .map(|change| {
            json!({
                "date": date_text,
                "elementKey": info.element_key,
                "eventId": change.id,
                "eventType": change.event_type.as_str(),
                "hubKey": info.hub_key,
                "objectId": change.object_id,
                "objectType": resource,
                "pollDate": poll_date_text,
            })
        })
        .collect();
    let mut raw = Map::new();
    raw.insert(resource.to_owned(), Value::Array(raw_records));
    raw.insert("objectType".into(), resource.into());
    raw.insert("pollDate".into(), poll_date.timestamp_millis().into());

    let action = changes.first().map_or("update", |c| c.event_type.action());
    let body = json!({
        "severity": "medium",
        "createdDate": now.format("%a %b %d %H:%M:%S UTC %Y").to_string(),
        "topic": format!("instance-{}-{}-events", spec.key.instance, info.element_key),
        "action": action,
        "id": id,
        "message": {
            "elementKey": info.element_key,
            "eventId": id,
            "instanceId": instance_id,
            "instance_id": instance_id,
            "instanceName": info.instance_name,
            "instanceTags": info.tags,
            "raw": raw,
            "events": events,
        },
        "user": "notifications@cloud-elements.com",
    });
    Notification {
        id,
        key: spec.key.clone(),
        created_at: now,
        event_ids,
        body: body.to_string(),
    }
}

/// Numeric instance ids are numbers in the vendor's payloads; others stay strings.
fn instance_id_value(instance: &str) -> Value {
    match instance.parse::<u64>() {
        Ok(n) if !instance.starts_with('0') || instance == "0" => Value::from(n),
        _ => Value::String(instance.to_owned()),
    }
}
