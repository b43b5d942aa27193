//! Replaying an instance's notifications: every notification it wrote in `[since, until)`,
//! optionally of some resources or event types only, or to one receiver only, re-sent
//! whatever its status, with the same body, notification id and event ids (the receiver
//! de-duplicates). One rule for the API
//! (`POST /instances/{id}/events/replay`), `pollen events replay` and the console.
//!
//! A replay is a row in the store ([`SqlStore::start_replay`]); [`advance`] moves every
//! running one on by a chunk at a time, wherever it was started, on whichever engine runs it.

use chrono::{DateTime, SecondsFormat, Utc};
use pollen_store::{Instance, Replay, ReplayFilter, ReplayState, SqlStore, EVENT_TYPES};
use serde_json::{json, Value};

pub use crate::refused::Refused;

/// Notifications a chunk looks at, and the instance's backlog (notifications waiting to be
/// claimed) under which the next chunk is re-queued: a replay never puts more than about this many notifications ahead of
/// the live ones.
pub const CHUNK: usize = 500;

/// What an operator asked to replay, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayRequest {
    /// The start of the range.
    pub since: Option<DateTime<Utc>>,
    /// Its end (excluded); `None`: now.
    pub until: Option<DateTime<Utc>>,
    /// Only these resources (empty: all).
    pub resources: Vec<String>,
    /// Only notifications with an event of these types, any case (empty: all).
    pub event_types: Vec<String>,
    /// Only to this receiver: a subscription's name, or `callback` for the Open Connectors
    /// callback; `None`: every receiver, each its own notifications.
    pub subscription: Option<String>,
}

impl ReplayRequest {
    /// The store's filter for `instance`, `until` defaulting to `now`.
    pub fn filter(&self, instance: &Instance, now: DateTime<Utc>) -> Result<ReplayFilter, Refused> {
        let since = self.since.ok_or_else(|| {
            Refused::invalid("since", "required (the first instant of the range)")
        })?;
        let until = self.until.unwrap_or(now);
        if since >= until {
            let field = if self.until.is_some() {
                "until"
            } else {
                "since"
            };
            return Err(Refused::invalid(
                field,
                format!(
                    "the range is empty: since {} is not before until {}",
                    date(since),
                    date(until)
                ),
            ));
        }
        let mut types = Vec::new();
        for text in &self.event_types {
            let upper = text.trim().to_ascii_uppercase();
            if !EVENT_TYPES.contains(&upper.as_str()) {
                return Err(Refused::invalid(
                    "eventTypes",
                    format!("`{text}` is not one of {}", EVENT_TYPES.join(", ")),
                ));
            }
            if !types.contains(&upper) {
                types.push(upper);
            }
        }
        let mut resources: Vec<String> = Vec::new();
        for resource in self.resources.iter().map(|r| r.trim()) {
            if !resource.is_empty() && !resources.iter().any(|r| r == resource) {
                resources.push(resource.to_owned());
            }
        }
        let filter = ReplayFilter::new(instance.key(), since, until)
            .resources(resources)
            .event_types(types);
        match self.subscription.as_deref().map(str::trim) {
            None | Some("") => Ok(filter),
            Some(name) => {
                let lane = crate::subscriptions::lane_of(instance, name)
                    .map_err(|refused| Refused::invalid("subscription", refused.to_string()))?;
                Ok(filter.lane(lane))
            }
        }
    }
}

fn store_error(e: pollen_store::Error) -> Refused {
    match e.kind() {
        pollen_store::ErrorKind::InvalidInput => Refused::invalid("since", e.message()),
        _ => Refused::Store {
            doing: "replaying",
            error: e,
        },
    }
}

/// How many notifications `request` would re-send now.
pub async fn preview(
    store: &SqlStore,
    instance: &Instance,
    request: &ReplayRequest,
) -> Result<u64, Refused> {
    let filter = request.filter(instance, Utc::now())?;
    store.count_replay(&filter).await.map_err(store_error)
}

/// Starts replaying `request` for `instance`; a running engine re-queues it chunk by chunk.
pub async fn start(
    store: &SqlStore,
    instance: &Instance,
    request: &ReplayRequest,
) -> Result<Replay, Refused> {
    let now = Utc::now();
    let filter = request.filter(instance, now)?;
    store.start_replay(&filter, now).await.map_err(store_error)
}

/// Replay `id` of `instance`.
pub async fn find(store: &SqlStore, instance: &Instance, id: i64) -> Result<Replay, Refused> {
    store
        .list_replays(Some(&instance.key()), false)
        .await
        .map_err(Refused::store("listing replays"))?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| Refused::NotFound(format!("no replay {id}")))
}

/// Cancels replay `id` of `instance` (a finished one is returned as it is).
pub async fn cancel(store: &SqlStore, instance: &Instance, id: i64) -> Result<Replay, Refused> {
    find(store, instance, id).await?;
    store
        .cancel_replay(id, Utc::now())
        .await
        .map_err(Refused::store("cancelling the replay"))
}

/// What one pass of [`advance`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Advanced {
    /// Notifications re-queued.
    pub requeued: u64,
    /// Replays still running after the pass.
    pub running: usize,
}

/// Moves every running replay on by one chunk. Any process sharing the database may do this at
/// the same time: the store makes them take turns.
pub async fn advance(store: &SqlStore) -> pollen_store::Result<Advanced> {
    let mut advanced = Advanced::default();
    for replay in store.list_replays(None, true).await? {
        let moved = store
            .advance_replay(replay.id, CHUNK, CHUNK, Utc::now())
            .await?;
        advanced.requeued += moved.replayed.saturating_sub(replay.replayed);
        if moved.state == ReplayState::Running {
            advanced.running += 1;
        } else {
            tracing::info!(
                replay = moved.id,
                instance = %moved.filter.instance,
                state = moved.state.as_str(),
                replayed = moved.replayed,
                "replay finished"
            );
        }
    }
    Ok(advanced)
}

fn date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The one receiver a replay re-sends to, as operators name it (a subscription's name, or
/// `callback`); `None`: every receiver.
pub fn receiver(filter: &ReplayFilter) -> Option<&str> {
    filter.lane.as_deref().map(|lane| {
        pollen_core::split_lane(lane)
            .1
            .unwrap_or(pollen_config::CALLBACK_NAME)
    })
}

/// A replay as the API and `pollen events replays --json` show it.
pub fn replay_json(replay: &Replay) -> Value {
    json!({
        "id": replay.id,
        "instanceId": replay.filter.instance,
        "since": date(replay.filter.since),
        "until": date(replay.filter.until),
        "resources": replay.filter.resources,
        "eventTypes": replay.filter.event_types,
        "subscription": receiver(&replay.filter),
        "state": replay.state.as_str(),
        "total": replay.total,
        "replayed": replay.replayed,
        "createdDate": date(replay.created_at),
        "updatedDate": date(replay.updated_at),
        "finishedDate": replay.finished_at.map(date),
    })
}
