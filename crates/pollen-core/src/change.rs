//! Classification (CREATED / UPDATED / DELETED) and change identity.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind};
use crate::source::DeletedRecord;
use crate::spec::PollSpec;

/// The kind of change an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    /// Created and updated dates within `createdCheckTolerance`.
    Created,
    /// Anything else, including records whose dates could not be read.
    Updated,
    /// Reported by the vendor's deletion feed.
    Deleted,
}

impl EventType {
    /// `CREATED`, `UPDATED` or `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Created => "CREATED",
            EventType::Updated => "UPDATED",
            EventType::Deleted => "DELETED",
        }
    }

    /// The notification `action`: `create`, `update` or `delete`.
    pub fn action(self) -> &'static str {
        match self {
            EventType::Created => "create",
            EventType::Updated => "update",
            EventType::Deleted => "delete",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stable 128-bit id, shown as a UUID (version 8, SHA-256 based): the id of an event
/// (a change) or of a notification.
///
/// A change's id is derived from its de-duplication key (instance, resource, objectId,
/// eventType, updated value as returned): the same change always has the same id, on every
/// re-poll, in every process. It is both the de-duplication key and the event's `eventId`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StableId(pub [u8; 16]);

impl StableId {
    /// The id of a digest: its first 16 bytes with the UUID version (8) and variant bits set.
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        StableId(bytes)
    }
}

impl fmt::Display for StableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for StableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StableId({self})")
    }
}

impl FromStr for StableId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
        let bad = || {
            Error::new(
                ErrorKind::InvalidInput,
                format!("`{s}` is not a stable id (a UUID)"),
            )
        };
        if hex.len() != 32 {
            return Err(bad());
        }
        let mut bytes = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| bad())?;
            bytes[i] = u8::from_str_radix(text, 16).map_err(|_| bad())?;
        }
        Ok(StableId(bytes))
    }
}

impl Serialize for StableId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StableId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One detected change, ready for de-duplication and a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Stable id from the change key.
    pub id: StableId,
    /// The record id (`objectId`).
    pub object_id: String,
    /// CREATED, UPDATED or DELETED.
    pub event_type: EventType,
    /// The parsed updated (or deleted) date, when it could be read.
    pub changed_at: Option<DateTime<Utc>>,
    /// When the change's key may be forgotten relative to: `changed_at`, or the poll start.
    pub seen_at: DateTime<Utc>,
    /// The vendor record.
    pub record: Value,
}

/// The instants one poll works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The watermark the poll started from.
    pub watermark: DateTime<Utc>,
    /// `watermark - pollDelay - overlap`: the instant the request was expanded with.
    pub since: DateTime<Utc>,
    /// The poll's start on the vendor's clock (server `Date` minus the round trip), or on ours.
    pub poll_start: DateTime<Utc>,
    /// The spec's `start` moved onto the vendor's clock (by the skew this poll measured):
    /// records updated before it existed before the instance and never fire.
    pub origin: DateTime<Utc>,
}

/// What classification counted besides the changes it produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records looked at.
    pub records: u64,
    /// Records without a usable id: skipped.
    pub without_id: u64,
    /// Records whose updated or created date was missing or unparseable (emitted as UPDATED).
    pub date_warnings: u64,
    /// Records dropped by the date filters (pre-existing, before the window, after the poll start).
    pub filtered: u64,
    /// Records updated after the poll start were seen: pages may have shifted.
    pub newer_than_start: bool,
}

/// Classifies records of one poll into [`Change`]s. Pure and synchronous.
#[derive(Debug, Clone)]
pub struct Classifier<'s> {
    spec: &'s PollSpec,
    window: Window,
    /// SHA-256 state over the (instance, resource) part of every key, computed once.
    prefix: Sha256,
}

impl<'s> Classifier<'s> {
    /// A classifier for `spec` within `window`.
    pub fn new(spec: &'s PollSpec, window: Window) -> Self {
        let mut prefix = Sha256::new();
        prefix.update(b"pollen-change-v1\0");
        feed(&mut prefix, spec.key.instance.as_bytes());
        feed(&mut prefix, spec.key.resource.as_bytes());
        Classifier {
            spec,
            window,
            prefix,
        }
    }

    /// The window this classifier works in.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Classifies `records`, passing each resulting change to `emit` and counting into `tally`.
    ///
    /// Rules, in order: no usable id → skipped; updated date parsed and after the poll start →
    /// flags [`Tally::newer_than_start`] and is dropped when `filterByCurrentDate`; parsed and
    /// before the window's `origin` (the spec's `start`) → pre-existing, dropped; parsed and before the window start
    /// when `filterByUpdatedDate` → dropped (the window start itself is kept: inclusive);
    /// created and updated within tolerance → CREATED, else UPDATED; a missing or unparseable
    /// date → UPDATED and a warning, never dropped.
    pub fn classify(&self, records: Vec<Value>, tally: &mut Tally, mut emit: impl FnMut(Change)) {
        for record in records {
            tally.records += 1;
            if let Some(change) = self.classify_one(record, tally) {
                emit(change);
            }
        }
    }

    fn classify_one(&self, record: Value, tally: &mut Tally) -> Option<Change> {
        let spec = self.spec;
        let Some(object_id) = spec.id_path.get(&record).and_then(id_text) else {
            tally.without_id += 1;
            return None;
        };
        let mut warned = false;
        let (updated_value, updated) = match &spec.updated {
            None => (None, None),
            Some(field) => match field.path.get(&record) {
                None | Some(Value::Null) => {
                    warned = true;
                    (None, None)
                }
                Some(value) => match field.parser.parse(value) {
                    Ok(at) => (Some(value), Some(at)),
                    Err(_) => {
                        warned = true;
                        (Some(value), None)
                    }
                },
            },
        };
        if let Some(at) = updated {
            if at > self.window.poll_start {
                tally.newer_than_start = true;
                if spec.filter_by_current_date {
                    tally.filtered += 1;
                    return None;
                }
            }
            if at < self.window.origin || (spec.filter_by_updated_date && at < self.window.since) {
                tally.filtered += 1;
                return None;
            }
        }
        let event_type = match (updated, &spec.created) {
            (Some(updated), Some(field)) => {
                match field.path.get(&record).map(|v| field.parser.parse(v)) {
                    Some(Ok(created)) => {
                        if (updated - created).abs() <= spec.created_check_tolerance {
                            EventType::Created
                        } else {
                            EventType::Updated
                        }
                    }
                    _ => {
                        warned = true;
                        EventType::Updated
                    }
                }
            }
            _ => EventType::Updated,
        };
        if warned {
            tally.date_warnings += 1;
        }
        let id = self.change_id(&object_id, event_type, updated_value);
        Some(Change {
            id,
            object_id,
            event_type,
            changed_at: updated,
            seen_at: updated.unwrap_or(self.window.poll_start),
            record,
        })
    }

    /// Classifies one deletion: DELETED, keyed by its deletion date as returned.
    /// Returns `None` for deletions dropped by the same date rules as updates.
    pub fn classify_deleted(&self, deleted: DeletedRecord, tally: &mut Tally) -> Option<Change> {
        tally.records += 1;
        if deleted.id.is_empty() {
            tally.without_id += 1;
            return None;
        }
        if let Some(at) = deleted.deleted_at {
            if at > self.window.poll_start {
                tally.newer_than_start = true;
                if self.spec.filter_by_current_date {
                    tally.filtered += 1;
                    return None;
                }
            }
            if at < self.window.origin
                || (self.spec.filter_by_updated_date && at < self.window.since)
            {
                tally.filtered += 1;
                return None;
            }
        }
        let stamp = deleted
            .deleted_at
            .map(|t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)));
        let id = self.change_id(&deleted.id, EventType::Deleted, stamp.as_ref());
        Some(Change {
            id,
            object_id: deleted.id,
            event_type: EventType::Deleted,
            changed_at: deleted.deleted_at,
            seen_at: deleted.deleted_at.unwrap_or(self.window.poll_start),
            record: deleted.record,
        })
    }

    /// The id of the change key (instance, resource, objectId, eventType, updated value).
    pub fn change_id(
        &self,
        object_id: &str,
        event_type: EventType,
        updated_value: Option<&Value>,
    ) -> StableId {
        let mut hasher = self.prefix.clone();
        feed(&mut hasher, object_id.as_bytes());
        feed(&mut hasher, event_type.as_str().as_bytes());
        match updated_value {
            None => feed(&mut hasher, b""),
            Some(Value::String(text)) => feed(&mut hasher, text.as_bytes()),
            // Numbers and other values are keyed by their JSON text, as returned.
            Some(other) => feed(&mut hasher, other.to_string().as_bytes()),
        }
        StableId::from_digest(&hasher.finalize())
    }
}

/// Length-prefixed, so that no two different keys feed the same bytes.
fn feed(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// A record id as text: strings as they are, numbers in their JSON form; anything else
/// (null, empty string, objects) is no usable id.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
