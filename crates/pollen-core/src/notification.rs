//! Open Connectors notifications: the payload POSTed to the callback, built once at commit.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::change::{Change, StableId};
use crate::checkpoint::{Tag, Windows};
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
    /// The subscription it goes to: `None` for the Open Connectors callback (subscription 0),
    /// else a name of `event.notification.subscriptions`.
    pub subscription: Option<String>,
}

impl Notification {
    /// The delivery lane it waits in: see [`lane`].
    pub fn lane(&self) -> String {
        lane(&self.key.instance, self.subscription.as_deref())
    }

    /// The body parsed back into JSON.
    pub fn payload(&self) -> Value {
        // The body was rendered from a `Value` by this crate, so it always parses.
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// The delivery lane of an instance's subscription: the instance id for the Open Connectors
/// callback (`None`), `instance/name` for a named subscription. A lane has its own endpoint,
/// in-flight limit, retries and deactivation; the outbox claims and the sender key on it.
pub fn lane(instance: &str, subscription: Option<&str>) -> String {
    match subscription {
        None => instance.to_owned(),
        Some(name) => format!("{instance}/{name}"),
    }
}

/// The (instance, subscription) of a [`lane`]: subscription names have no `/`, so the last one
/// separates them.
pub fn split_lane(lane: &str) -> (&str, Option<&str>) {
    match lane.rsplit_once('/') {
        Some((instance, name)) => (instance, Some(name)),
        None => (lane, None),
    }
}

/// The id of a notification holding the events `event_ids`, in that order.
pub fn notification_id(event_ids: &[StableId]) -> StableId {
    notification_id_after(event_ids, 0)
}

/// The id of a notification holding the events `event_ids` emitted again after the key's
/// `rewinds`-th rewind: the same events (and event ids) in a new delivery, which the outbox's
/// de-duplication of notification ids would otherwise drop. `0` is [`notification_id`].
pub fn notification_id_after(event_ids: &[StableId], rewinds: u64) -> StableId {
    notification_id_for(event_ids, rewinds, None)
}

/// [`notification_id_after`] for a named subscription: the same events under an id of that
/// subscription's own (the outbox keeps one row per notification id). `None`, the callback,
/// is [`notification_id_after`].
pub fn notification_id_for(
    event_ids: &[StableId],
    rewinds: u64,
    subscription: Option<&str>,
) -> StableId {
    let mut hasher = Sha256::new();
    hasher.update(b"pollen-notification-v1\0");
    for id in event_ids {
        hasher.update(id.0);
    }
    if rewinds > 0 {
        hasher.update(b"rewind\0");
        hasher.update(rewinds.to_be_bytes());
    }
    if let Some(name) = subscription {
        hasher.update(b"subscription\0");
        hasher.update(name.as_bytes());
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
    build_notifications_after(spec, changes, poll_date, now, 0)
}

/// [`build_notifications`] for a key rewound `rewinds` times: the same bodies and event ids
/// under notification ids of their own ([`notification_id_after`]).
///
/// Then, for each of the spec's [`subscriptions`](PollSpec::subscriptions), the changes its
/// filter accepts, grouped the same way, with the same event ids under notification ids of
/// that subscription ([`notification_id_for`]).
pub fn build_notifications_after(
    spec: &PollSpec,
    changes: &[Change],
    poll_date: DateTime<Utc>,
    now: DateTime<Utc>,
    rewinds: u64,
) -> Vec<Notification> {
    build_notifications_in(spec, changes, poll_date, now, rewinds, &Windows::default())
}

/// [`build_notifications_after`], the notifications of checkpointed subscriptions tagged with
/// their open window.
pub(crate) fn build_notifications_in(
    spec: &PollSpec,
    changes: &[Change],
    poll_date: DateTime<Utc>,
    now: DateTime<Utc>,
    rewinds: u64,
    windows: &Windows,
) -> Vec<Notification> {
    let callback = windows.tag(spec, None);
    let mut out: Vec<Notification> = changes
        .chunks(MAX_EVENTS_PER_NOTIFICATION)
        .map(|chunk| build_one(spec, chunk, poll_date, now, rewinds, None, callback))
        .collect();
    for subscription in &spec.subscriptions {
        let accepted: Vec<Change> = changes
            .iter()
            .filter(|c| subscription.accepts(c))
            .cloned()
            .collect();
        let tag = windows.tag(spec, Some(&subscription.name));
        out.extend(accepted.chunks(MAX_EVENTS_PER_NOTIFICATION).map(|chunk| {
            build_one(
                spec,
                chunk,
                poll_date,
                now,
                rewinds,
                Some(&subscription.name),
                tag,
            )
        }));
    }
    out
}

fn build_one(
    spec: &PollSpec,
    changes: &[Change],
    poll_date: DateTime<Utc>,
    now: DateTime<Utc>,
    rewinds: u64,
    subscription: Option<&str>,
    checkpoint: Option<Tag<'_>>,
) -> Notification {
    let event_ids: Vec<StableId> = changes.iter().map(|c| c.id).collect();
    let id = notification_id_for(&event_ids, rewinds, subscription);
    let info = &spec.instance;
    let resource = spec.key.resource.as_str();
    let instance_id = instance_id_value(&spec.key.instance);
    let poll_date_text = poll_date.to_rfc3339_opts(SecondsFormat::Secs, true);
    let date_text = now.to_rfc3339_opts(SecondsFormat::Secs, true);

    let action = changes.first().map_or("update", |c| c.event_type.action());
    let body = Body {
        action,
        created_date: now.format("%a %b %d %H:%M:%S UTC %Y").to_string(),
        id,
        message: Message {
            checkpoint,
            element_key: &info.element_key,
            event_id: id,
            events: Events {
                changes,
                date: &date_text,
                element_key: &info.element_key,
                hub_key: &info.hub_key,
                object_type: resource,
                poll_date: &poll_date_text,
            },
            instance_id: &instance_id,
            instance_name: &info.instance_name,
            instance_tags: &info.tags,
            instance_id_snake: &instance_id,
            raw: Raw {
                resource,
                changes,
                poll_date: poll_date.timestamp_millis(),
            },
        },
        severity: "medium",
        topic: format!("instance-{}-{}-events", spec.key.instance, info.element_key),
        user: "notifications@cloud-elements.com",
    };
    // Serializing these borrowed views cannot fail (every map key is a string).
    let body = serde_json::to_string(&body).unwrap_or_default();
    Notification {
        id,
        key: spec.key.clone(),
        created_at: now,
        event_ids,
        body,
        subscription: subscription.map(str::to_owned),
    }
}

// The body is written straight from borrowed views of the changes, in exactly the bytes that
// rendering the equivalent `serde_json::Value` gives: objects with their keys in sorted order
// (serde_json's map is a `BTreeMap`), fields here declared in that order. A test compares the
// two renderings.

#[derive(Serialize)]
struct Body<'a> {
    action: &'a str,
    #[serde(rename = "createdDate")]
    created_date: String,
    id: StableId,
    message: Message<'a>,
    severity: &'a str,
    topic: String,
    user: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    /// Only in the notifications of checkpointed subscriptions.
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<Tag<'a>>,
    #[serde(rename = "elementKey")]
    element_key: &'a str,
    #[serde(rename = "eventId")]
    event_id: StableId,
    events: Events<'a>,
    #[serde(rename = "instanceId")]
    instance_id: &'a Value,
    #[serde(rename = "instanceName")]
    instance_name: &'a str,
    #[serde(rename = "instanceTags")]
    instance_tags: &'a [String],
    #[serde(rename = "instance_id")]
    instance_id_snake: &'a Value,
    raw: Raw<'a>,
}

/// `message.events`: one entry per change.
struct Events<'a> {
    changes: &'a [Change],
    date: &'a str,
    element_key: &'a str,
    hub_key: &'a str,
    object_type: &'a str,
    poll_date: &'a str,
}

#[derive(Serialize)]
struct Event<'a> {
    date: &'a str,
    #[serde(rename = "elementKey")]
    element_key: &'a str,
    #[serde(rename = "eventId")]
    event_id: StableId,
    #[serde(rename = "eventType")]
    event_type: &'a str,
    #[serde(rename = "hubKey")]
    hub_key: &'a str,
    #[serde(rename = "objectId")]
    object_id: &'a str,
    #[serde(rename = "objectType")]
    object_type: &'a str,
    #[serde(rename = "pollDate")]
    poll_date: &'a str,
}

impl Serialize for Events<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.changes.len()))?;
        for change in self.changes {
            seq.serialize_element(&Event {
                date: self.date,
                element_key: self.element_key,
                event_id: change.id,
                event_type: change.event_type.as_str(),
                hub_key: self.hub_key,
                object_id: &change.object_id,
                object_type: self.object_type,
                poll_date: self.poll_date,
            })?;
        }
        seq.end()
    }
}

/// `message.raw`: `{<resource>: [records], "objectType": <resource>, "pollDate": millis}`, the
/// later entry winning when the resource is itself named `objectType` or `pollDate`.
struct Raw<'a> {
    resource: &'a str,
    changes: &'a [Change],
    poll_date: i64,
}

impl Serialize for Raw<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let records = RawRecords(self.changes);
        let mut keys = vec!["objectType", "pollDate"];
        if !keys.contains(&self.resource) {
            keys.push(self.resource);
        }
        keys.sort_unstable();
        let mut map = serializer.serialize_map(Some(keys.len()))?;
        for key in keys {
            match key {
                "objectType" => map.serialize_entry(key, self.resource)?,
                "pollDate" => map.serialize_entry(key, &self.poll_date)?,
                _ => map.serialize_entry(key, &records)?,
            }
        }
        map.end()
    }
}

struct RawRecords<'a>(&'a [Change]);

impl Serialize for RawRecords<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for change in self.0 {
            seq.serialize_element(&RawRecord(change))?;
        }
        seq.end()
    }
}

/// The vendor record (a non-object as `{"value": …}`) with `objectId` and `eventType` set.
struct RawRecord<'a>(&'a Change);

impl Serialize for RawRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let change = self.0;
        let added = [
            ("eventType", change.event_type.as_str()),
            ("objectId", change.object_id.as_str()),
        ];
        match &change.record {
            Value::Object(map) => {
                merged(serializer, map.iter().map(|(k, v)| (k.as_str(), v)), added)
            }
            other => merged(serializer, std::iter::once(("value", other)), added),
        }
    }
}

/// A map of `record`'s entries and `added`'s, both sorted by key, in key order; an added entry
/// replaces the record's entry of the same key.
fn merged<'v, S: Serializer>(
    serializer: S,
    record: impl Iterator<Item = (&'v str, &'v Value)>,
    added: [(&str, &str); 2],
) -> Result<S::Ok, S::Error> {
    let mut added = added.into_iter().peekable();
    let mut map = serializer.serialize_map(None)?;
    for (key, value) in record {
        let mut replaced = false;
        while let Some((extra, text)) = added.next_if(|(extra, _)| *extra <= key) {
            replaced |= extra == key;
            map.serialize_entry(extra, text)?;
        }
        if !replaced {
            map.serialize_entry(key, value)?;
        }
    }
    for (extra, text) in added {
        map.serialize_entry(extra, text)?;
    }
    map.end()
}

/// Numeric instance ids are numbers in the vendor's payloads; others stay strings.
pub(crate) fn instance_id_value(instance: &str) -> Value {
    match instance.parse::<u64>() {
        Ok(n) if !instance.starts_with('0') || instance == "0" => Value::from(n),
        _ => Value::String(instance.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::{json, Map};

    use super::*;
    use crate::change::EventType;
    use crate::spec::{InstanceInfo, PollKey, RequestTemplate};

    /// The body as it was rendered before it was written directly: through a `Value`.
    fn rendered_through_value(
        spec: &PollSpec,
        changes: &[Change],
        poll_date: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> String {
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
        json!({
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
        })
        .to_string()
    }

    fn change(n: u8, event_type: EventType, record: Value) -> Change {
        Change {
            id: StableId([n; 16]),
            object_id: format!("obj-{n}\"é\n"),
            event_type,
            changed_at: None,
            seen_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            record,
        }
    }

    #[test]
    fn a_rewound_key_gets_new_notification_ids_for_the_same_events() {
        let ids = [StableId([1; 16]), StableId([2; 16])];
        let first = notification_id(&ids);
        assert_eq!(notification_id_after(&ids, 0), first);
        let once = notification_id_after(&ids, 1);
        let twice = notification_id_after(&ids, 2);
        assert_ne!(once, first);
        assert_ne!(twice, once);
        assert_eq!(
            notification_id_after(&ids, 1),
            once,
            "stable within a rewind"
        );
    }

    #[test]
    fn the_body_is_byte_for_byte_what_rendering_a_value_gives() {
        let records = [
            json!({"id": "a", "updated_at": "2026-01-01T00:00:00Z", "nested": {"z": 1, "a": [1.5, null]}}),
            json!({"objectId": "theirs", "eventType": "theirs", "a": 1, "eventTypf": 2, "objectIc": 3, "zz": true}),
            json!({"A": 1, "eventType": 0, "objectId": 0, "value": "x"}),
            json!({}),
            json!("a string"),
            json!(42),
            Value::Null,
            json!([1, {"b": 2}]),
        ];
        let types = [EventType::Created, EventType::Updated, EventType::Deleted];
        let changes: Vec<Change> = records
            .iter()
            .enumerate()
            .map(|(i, r)| change(i as u8, types[i % 3], r.clone()))
            .collect();
        let poll_date = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 9).unwrap();
        for (instance, resource) in [
            ("42", "contacts"),
            ("007", "objectType"),
            ("e2e-bench", "pollDate"),
            ("0", "zebras"),
            ("x\"y", "a"),
            ("18446744073709551616", "objectTypf"),
        ] {
            let mut spec = PollSpec::new(
                PollKey::new(instance, resource),
                RequestTemplate::literal("/hubs/finance/contacts"),
                poll_date,
            );
            spec.instance = InstanceInfo {
                element_key: "sageaccounting".into(),
                hub_key: "finance".into(),
                instance_name: "name \"with\" quotes\t".into(),
                tags: vec!["t1".into(), "ü".into()],
            };
            for chunk in [&changes[..], &changes[..1], &changes[3..7], &[]] {
                let built = build_one(&spec, chunk, poll_date, now, 0, None, None);
                assert_eq!(
                    built.body,
                    rendered_through_value(&spec, chunk, poll_date, now),
                    "{instance}/{resource}, {} changes",
                    chunk.len()
                );
            }
        }
    }
}
