//! What both backends share: column lists and value conversions.

use chrono::{DateTime, Utc};
use pollen_core::{OutboxStatus, PollKey, StableId, RESPONSE_EXCERPT_LIMIT};

use crate::error::{Error, ErrorKind, Result};

/// A rewind of `key` from watermark `previous` to `to` must go back: forward would skip the
/// changes in between.
pub(crate) fn check_rewind(
    key: &PollKey,
    to: DateTime<Utc>,
    previous: DateTime<Utc>,
) -> Result<()> {
    if to >= previous {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "rewinding {key} to {} would skip changes: its watermark is {}; rewind to an \
                 earlier instant",
                to.to_rfc3339(),
                previous.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

pub(crate) const STATE_COLUMNS: &str = "id, instance, resource, watermark, next_due, \
    consecutive_failures, last_error, lease_owner, lease_expires, fencing_token, completed_polls, reconciled_at, rewinds";

pub(crate) const OUTBOX_COLUMNS: &str =
    "seq, id, instance, lane, resource, created_at, event_ids, \
    body, status, attempts, next_attempt, last_error, lease_owner, lease_token, lease_expires, \
    delivered_at";

/// A count or token as the databases store it (signed 64-bit); values beyond `i64::MAX` never
/// occur, and saturate.
pub(crate) fn db_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A stored count or token back; negative values never occur, and read as 0.
pub(crate) fn db_count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn stable_id(bytes: &[u8]) -> Result<StableId> {
    let array: [u8; 16] = bytes
        .try_into()
        .map_err(|_| Error::corrupt(format!("a stored id has {} bytes, not 16", bytes.len())))?;
    Ok(StableId(array))
}

pub(crate) fn event_ids_bytes(ids: &[StableId]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.0).collect()
}

pub(crate) fn event_ids_from(bytes: &[u8]) -> Result<Vec<StableId>> {
    if !bytes.len().is_multiple_of(16) {
        return Err(Error::corrupt(format!(
            "stored event ids have {} bytes, not a multiple of 16",
            bytes.len()
        )));
    }
    bytes.chunks(16).map(stable_id).collect()
}

pub(crate) fn status_from(text: &str) -> Result<OutboxStatus> {
    match text {
        "pending" => Ok(OutboxStatus::Pending),
        "delivered" => Ok(OutboxStatus::Delivered),
        "queued" => Ok(OutboxStatus::Queued),
        other => Err(Error::corrupt(format!(
            "unknown outbox status `{other}` in the database"
        ))),
    }
}

/// A response excerpt as stored: at most [`RESPONSE_EXCERPT_LIMIT`] bytes, cut at a character
/// boundary (senders cut already; this keeps the table bounded whatever they send).
pub(crate) fn excerpt(text: &str) -> &str {
    if text.len() <= RESPONSE_EXCERPT_LIMIT {
        return text;
    }
    let mut end = RESPONSE_EXCERPT_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A foreign-key violation on an instance id means the instance does not exist.
pub(crate) fn foreign_key_or(e: &sqlx::Error, id: i64, doing: &'static str) -> Error {
    match e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            Error::not_found(format_args!("instance {id}"))
        }
        _ => Error::database(doing, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_cuts_at_a_character_boundary() {
        let long = "é".repeat(RESPONSE_EXCERPT_LIMIT);
        let cut = excerpt(&long);
        assert_eq!(cut.len(), RESPONSE_EXCERPT_LIMIT);
        assert!(cut.chars().all(|c| c == 'é'));
        let odd = format!("a{long}");
        assert_eq!(excerpt(&odd).len(), RESPONSE_EXCERPT_LIMIT - 1);
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn event_ids_round_trip() {
        let ids = [StableId([1; 16]), StableId([2; 16])];
        assert_eq!(event_ids_from(&event_ids_bytes(&ids)).unwrap(), ids);
        assert!(event_ids_from(&[0; 17]).is_err());
    }
}

/// Whose leases a release frees: the workers dead at an instant, one worker, or everyone.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Holders<'a> {
    /// Workers whose heartbeat is older than their ttl at this instant.
    Dead(chrono::DateTime<chrono::Utc>),
    /// The worker of this name (registered or not).
    One(&'a str),
    /// Every lease and every worker row.
    All,
}

/// Gives each worker the poll keys `(owner, instance, resource)` and the notification counts
/// `(owner, count)` it holds; rows of owners not in `workers` are dropped.
pub(crate) fn attach_holdings(
    mut workers: Vec<pollen_core::WorkerStatus>,
    polls: Vec<(String, String, String)>,
    notifications: Vec<(String, i64)>,
) -> Vec<pollen_core::WorkerStatus> {
    let index: std::collections::HashMap<String, usize> = workers
        .iter()
        .enumerate()
        .map(|(i, w)| (w.worker.id.clone(), i))
        .collect();
    for (owner, instance, resource) in polls {
        if let Some(&i) = index.get(&owner) {
            workers[i]
                .polls
                .push(pollen_core::PollKey::new(instance, resource));
        }
    }
    for (owner, count) in notifications {
        if let Some(&i) = index.get(&owner) {
            workers[i].notifications = db_count(count);
        }
    }
    workers
}

/// The subscription of an outbox row's lane (`None`: the instance's callback).
pub(crate) fn subscription_of(lane: &str) -> Option<String> {
    pollen_core::split_lane(lane).1.map(str::to_owned)
}
