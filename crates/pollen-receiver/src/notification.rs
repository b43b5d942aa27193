//! The parts of a pollen notification body a receiver needs, read leniently: members this
//! crate does not use are ignored, so bodies with more in them (Open Connectors' `raw`,
//! changed fields …) still parse.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// One event of a notification's `message.events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `eventId`: stable across retries, re-deliveries and re-polls.
    pub event_id: String,
    /// `eventType`: `CREATED`, `UPDATED` or `DELETED`.
    pub event_type: String,
    /// `objectId`: the record's id (a JSON number is kept as its text).
    pub object_id: String,
    /// `objectType`: the resource, e.g. `contacts`.
    pub object_type: String,
}

/// `message.checkpoint` of an event notification in a checkpointed lane: which window its
/// events belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointTag {
    /// The chain's latest checkpoint when the notification was written (`None`: the chain's
    /// first window). The window is the one the checkpoint whose `previous` equals this
    /// closes.
    pub after: Option<String>,
    /// The resource of the chain.
    pub object_type: String,
    /// The lane: `callback` or a subscription's name.
    pub subscription: String,
}

/// `message.checkpoint` of a checkpoint notification (`"action": "checkpoint"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The checkpoint's id (also the notification id).
    pub id: String,
    /// The chain's checkpoint before this one (`None` for the first).
    pub previous: Option<String>,
    /// Counts the chain's checkpoints from 1.
    pub sequence: u64,
    /// The number of distinct event ids in the window.
    pub events: u64,
    /// [`digest`](crate::digest) of the window's event ids.
    pub digest: String,
    /// The window's start, exclusive (the previous checkpoint's `to`).
    pub from: String,
    /// The window's end, inclusive.
    pub to: String,
    /// The resource of the chain.
    pub object_type: String,
    /// The lane: `callback` or a subscription's name.
    pub subscription: String,
}

/// What a notification carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload {
    /// Events, with the window tag when the lane has checkpoints.
    Events {
        /// `message.events`.
        events: Vec<Event>,
        /// `message.checkpoint`, absent in lanes without checkpoints.
        checkpoint: Option<CheckpointTag>,
    },
    /// A checkpoint closing a window.
    Checkpoint(Checkpoint),
}

/// A notification body, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `id`: the notification id, the same on every attempt.
    pub id: String,
    /// `message.instanceId` as text (a JSON number is kept as its digits).
    pub instance_id: String,
    /// Events or a checkpoint.
    pub payload: Payload,
}

impl Notification {
    /// Parses a notification body (the raw bytes, as received).
    ///
    /// ```
    /// use pollen_receiver::{Notification, Payload};
    ///
    /// let body = br#"{"action":"create","id":"n-1","message":{"instanceId":42,
    ///   "events":[{"eventId":"e-1","eventType":"CREATED","objectId":"c-1","objectType":"contacts"}]}}"#;
    /// let n = Notification::parse(body)?;
    /// assert_eq!(n.instance_id, "42");
    /// let Payload::Events { events, checkpoint } = n.payload else { panic!() };
    /// assert_eq!(events[0].object_id, "c-1");
    /// assert!(checkpoint.is_none());
    ///
    /// let err = Notification::parse(br#"{"id":"n-1","message":{"instanceId":42,"events":[{}]}}"#)
    ///     .unwrap_err();
    /// assert_eq!(err.message(), "/message/events/0/eventId: missing (expected a string)");
    /// # Ok::<(), pollen_receiver::Error>(())
    /// ```
    pub fn parse(body: &[u8]) -> Result<Notification> {
        let value: Value = serde_json::from_slice(body).map_err(|e| Error::json(&e))?;
        Notification::from_value(&value)
    }

    /// Reads an already parsed body.
    pub fn from_value(body: &Value) -> Result<Notification> {
        let root = object(body, "")?;
        let id = string(root, "", "id")?;
        let message = object(member(root, "", "message")?, "/message")?;
        let instance_id = scalar_text(message, "/message", "instanceId")?;
        let payload = if root.get("action").and_then(Value::as_str) == Some("checkpoint") {
            let cp = object(
                member(message, "/message", "checkpoint")?,
                "/message/checkpoint",
            )?;
            Payload::Checkpoint(read_checkpoint(cp)?)
        } else {
            let events = member(message, "/message", "events")?
                .as_array()
                .ok_or_else(|| Error::shape("/message/events", "expected an array"))?;
            let events = events
                .iter()
                .enumerate()
                .map(|(i, e)| read_event(e, &format!("/message/events/{i}")))
                .collect::<Result<Vec<_>>>()?;
            let checkpoint = match message.get("checkpoint") {
                None | Some(Value::Null) => None,
                Some(tag) => Some(read_tag(object(tag, "/message/checkpoint")?)?),
            };
            Payload::Events { events, checkpoint }
        };
        Ok(Notification {
            id,
            instance_id,
            payload,
        })
    }
}

const CP: &str = "/message/checkpoint";

fn read_checkpoint(cp: &Map<String, Value>) -> Result<Checkpoint> {
    let digest = string(cp, CP, "digest")?;
    if digest.len() != 64
        || !digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(Error::shape(
            "/message/checkpoint/digest",
            "expected 64 lowercase hex digits",
        ));
    }
    let sequence = count(cp, "sequence")?;
    if sequence == 0 {
        return Err(Error::shape(
            "/message/checkpoint/sequence",
            "expected a count from 1",
        ));
    }
    Ok(Checkpoint {
        id: string(cp, CP, "id")?,
        previous: optional_string(cp, CP, "previous")?,
        sequence,
        events: count(cp, "events")?,
        digest,
        from: string(cp, CP, "from")?,
        to: string(cp, CP, "to")?,
        object_type: string(cp, CP, "objectType")?,
        subscription: string(cp, CP, "subscription")?,
    })
}

fn read_tag(tag: &Map<String, Value>) -> Result<CheckpointTag> {
    Ok(CheckpointTag {
        after: optional_string(tag, CP, "after")?,
        object_type: string(tag, CP, "objectType")?,
        subscription: string(tag, CP, "subscription")?,
    })
}

fn read_event(value: &Value, at: &str) -> Result<Event> {
    let event = object(value, at)?;
    Ok(Event {
        event_id: string(event, at, "eventId")?,
        event_type: string(event, at, "eventType")?,
        object_id: scalar_text(event, at, "objectId")?,
        object_type: string(event, at, "objectType")?,
    })
}

/// `~` and `/` escaped for a JSON Pointer token.
fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| Error::shape(at, "expected an object"))
}

fn member<'a>(map: &'a Map<String, Value>, at: &str, name: &str) -> Result<&'a Value> {
    map.get(name)
        .ok_or_else(|| Error::shape(&format!("{at}/{}", token(name)), "missing"))
}

fn string(map: &Map<String, Value>, at: &str, name: &str) -> Result<String> {
    let pointer = format!("{at}/{}", token(name));
    match map.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Error::shape(&pointer, "expected a string")),
        None => Err(Error::shape(&pointer, "missing (expected a string)")),
    }
}

fn optional_string(map: &Map<String, Value>, at: &str, name: &str) -> Result<Option<String>> {
    let pointer = format!("{at}/{}", token(name));
    match map.get(name) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Null) => Ok(None),
        Some(_) => Err(Error::shape(&pointer, "expected a string or null")),
        None => Err(Error::shape(
            &pointer,
            "missing (expected a string or null)",
        )),
    }
}

/// A string, or a number kept as its JSON text.
fn scalar_text(map: &Map<String, Value>, at: &str, name: &str) -> Result<String> {
    let pointer = format!("{at}/{}", token(name));
    match map.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(Error::shape(&pointer, "expected a string or a number")),
        None => Err(Error::shape(
            &pointer,
            "missing (expected a string or a number)",
        )),
    }
}

fn count(map: &Map<String, Value>, name: &str) -> Result<u64> {
    let pointer = format!("{CP}/{name}");
    match map.get(name) {
        Some(value) => value
            .as_u64()
            .ok_or_else(|| Error::shape(&pointer, "expected a whole number, 0 or more")),
        None => Err(Error::shape(&pointer, "missing (expected a whole number)")),
    }
}
