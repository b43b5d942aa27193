//! Replays: re-sending the notifications an instance wrote in a time range, in chunks, as
//! durable jobs that any process sharing the database advances and an operator can cancel.
//!
//! A replay re-queues the chosen outbox rows in place (pending, due now, attempts reset): the
//! same bodies, notification ids and event ids go out again, whatever their status was, and
//! the delivery log keeps every earlier attempt. It advances one chunk per transaction — no
//! lease, nothing held between chunks — and only while the instance's backlog of pending
//! notifications is below a bound, so live notifications keep flowing and a cancel takes effect
//! within one chunk.

use crate::error::{Error, ErrorKind, Result};
use chrono::{DateTime, Utc};

/// Which notifications a replay re-sends: those of `instance` whose `createdDate` (when pollen
/// wrote them) is in `[since, until)`, of the given resources and with an event of the given
/// types (empty: all), to every receiver or to one delivery lane only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayFilter {
    /// The instance key.
    pub instance: String,
    /// The first instant of the range.
    pub since: DateTime<Utc>,
    /// The end of the range (excluded).
    pub until: DateTime<Utc>,
    /// Only notifications of these resources (empty: every resource).
    pub resources: Vec<String>,
    /// Only notifications holding an event of one of these types, `CREATED`, `UPDATED` or
    /// `DELETED` (empty: every type). A notification is re-sent whole: its other events go too.
    pub event_types: Vec<String>,
    /// Only the notifications of this delivery lane (the instance key: its callback;
    /// `instance/name`: a subscription); `None`: every lane.
    pub lane: Option<String>,
}

impl ReplayFilter {
    /// Every notification of `instance` written in `[since, until)`.
    pub fn new(instance: impl Into<String>, since: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        ReplayFilter {
            instance: instance.into(),
            since,
            until,
            resources: Vec::new(),
            event_types: Vec::new(),
            lane: None,
        }
    }

    /// Only the notifications of `lane`, one of the instance's.
    pub fn lane(mut self, lane: impl Into<String>) -> Self {
        self.lane = Some(lane.into());
        self
    }

    /// Only these resources.
    pub fn resources(mut self, resources: Vec<String>) -> Self {
        self.resources = resources;
        self
    }

    /// Only notifications with an event of these types.
    pub fn event_types(mut self, event_types: Vec<String>) -> Self {
        self.event_types = event_types;
        self
    }

    /// `InvalidInput` for an empty range, an unknown event type or another instance's lane.
    pub(crate) fn check(&self) -> Result<()> {
        if let Some(lane) = &self.lane {
            let (instance, _) = pollen_core::split_lane(lane);
            if instance != self.instance {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("the lane `{lane}` is not one of instance {}", self.instance),
                ));
            }
        }
        if self.since >= self.until {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "the range is empty: since {} is not before until {}",
                    self.since.to_rfc3339(),
                    self.until.to_rfc3339()
                ),
            ));
        }
        if let Some(bad) = self
            .event_types
            .iter()
            .find(|t| !EVENT_TYPES.contains(&t.as_str()))
        {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("`{bad}` is not an event type (CREATED, UPDATED, DELETED)"),
            ));
        }
        Ok(())
    }

    /// Whether a notification `body` holds an event of the filter's types (always, without
    /// types). A body that does not parse holds none.
    pub(crate) fn types_match(&self, body: &str) -> bool {
        if self.event_types.is_empty() {
            return true;
        }
        let Ok(body) = serde_json::from_str::<serde_json::Value>(body) else {
            return false;
        };
        body.pointer("/message/events")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|events| {
                events.iter().any(|e| {
                    e.get("eventType")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|t| self.event_types.iter().any(|w| w == t))
                })
            })
    }
}

/// The event types a filter may name.
pub const EVENT_TYPES: [&str; 3] = ["CREATED", "UPDATED", "DELETED"];

/// Where a replay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReplayState {
    /// Re-queueing chunk by chunk.
    Running,
    /// Every matching notification is re-queued.
    Done,
    /// Stopped by an operator; what was re-queued before stays queued for delivery.
    Cancelled,
}

impl ReplayState {
    /// `running`, `done` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayState::Running => "running",
            ReplayState::Done => "done",
            ReplayState::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<ReplayState> {
        match text {
            "running" => Ok(ReplayState::Running),
            "done" => Ok(ReplayState::Done),
            "cancelled" => Ok(ReplayState::Cancelled),
            other => Err(Error::corrupt(format!("unknown replay state `{other}`"))),
        }
    }
}

/// A replay as [`SqlStore::start_replay`](crate::SqlStore::start_replay) created it and
/// [`SqlStore::advance_replay`](crate::SqlStore::advance_replay) moves it on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replay {
    /// Its id, unique in the database.
    pub id: i64,
    /// What it re-sends.
    pub filter: ReplayFilter,
    /// Where it is.
    pub state: ReplayState,
    /// How many notifications matched when it started (those written later are not replayed;
    /// some may be pruned before their turn).
    pub total: u64,
    /// How many it has re-queued so far.
    pub replayed: u64,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it last moved (or was cancelled).
    pub updated_at: DateTime<Utc>,
    /// When it finished or was cancelled.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One outbox row a replay looked at: its seq and whether it matches the filter.
pub(crate) struct Scanned {
    pub(crate) seq: i64,
    pub(crate) matches: bool,
}

/// The replay columns both backends read.
pub(crate) const REPLAY_COLUMNS: &str = "id, instance, since, until, resources, event_types, \
    lane, state, total, replayed, created_at, updated_at, finished_at";

/// Rows a preview count reads per statement.
pub(crate) const COUNT_PAGE: usize = 2_000;

/// The filter's lists as stored (JSON arrays of strings).
pub(crate) fn list_text(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// A stored list back.
pub(crate) fn list_from(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| Error::corrupt(format!("a stored replay list: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn types_match_any_event_of_the_notification() {
        let body = r#"{"message":{"events":[{"eventType":"CREATED"},{"eventType":"DELETED"}]}}"#;
        let filter = ReplayFilter::new("i", at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z"));
        assert!(filter.types_match(body));
        assert!(filter
            .clone()
            .event_types(vec!["DELETED".into()])
            .types_match(body));
        assert!(!filter
            .clone()
            .event_types(vec!["UPDATED".into()])
            .types_match(body));
        assert!(!filter
            .event_types(vec!["CREATED".into()])
            .types_match("not json"));
    }

    #[test]
    fn check_refuses_an_empty_range_and_unknown_types() {
        let since = at("2026-01-01T00:00:00Z");
        let e = ReplayFilter::new("i", since, since).check().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.message().contains("the range is empty"), "{e}");
        let e = ReplayFilter::new("i", since, at("2026-01-02T00:00:00Z"))
            .event_types(vec!["CREATE".into()])
            .check()
            .unwrap_err();
        assert!(e.message().contains("`CREATE` is not an event type"), "{e}");
    }
}
