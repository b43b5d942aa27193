//! Checkpoints: after each poll that moves a key's watermark, every checkpointed subscription
//! is sent a notification naming the window now complete, how many events it held and a digest
//! of their ids, chained to the previous checkpoint, so that a receiver can prove it has every
//! event (`docs/events.md`, "Checkpoints"; `pollen-receiver` checks them).
//!
//! Each event notification of a checkpointed subscription carries a tag, `message.checkpoint`
//! (`chain`, `after`: the chain's head when it was written), telling which window it belongs
//! to. Its events are also written as [`WindowEvent`]s with it, in the same transaction; the
//! checkpoint counts the window's events from there, so a poll that died after writing
//! progress has its events counted by the next one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::change::StableId;
use crate::notification::{instance_id_value, Notification};
use crate::spec::PollSpec;
use crate::store::{CheckpointHead, WindowEvent};

/// How tags and checkpoints name the Open Connectors callback (`subscription`).
const CALLBACK: &str = pollen_config::CALLBACK_NAME;

/// The digest of a window's events: lowercase hex SHA-256 of each distinct id's UUID text
/// followed by `\n`, in ascending order. An empty window's digest is SHA-256 of nothing.
pub fn checkpoint_digest<'a>(ids: impl IntoIterator<Item = &'a StableId>) -> String {
    // The text is fixed-width lowercase hex with hyphens at fixed places, so the order of the
    // bytes is the order of the texts.
    let ids: BTreeSet<&StableId> = ids.into_iter().collect();
    let mut hasher = Sha256::new();
    for id in ids {
        hasher.update(id.to_string().as_bytes());
        hasher.update(b"\n");
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The id of the chain whose first window starts at `from` (the key's watermark then).
fn chain_id(spec: &PollSpec, subscription: Option<&str>, from: &str) -> StableId {
    let mut hasher = Sha256::new();
    hasher.update(b"pollen-checkpoint-chain-v1\0");
    for part in [
        spec.key.instance.as_str(),
        spec.key.resource.as_str(),
        subscription.unwrap_or(CALLBACK),
        from,
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    StableId::from_digest(&hasher.finalize())
}

/// The id of the `sequence`-th checkpoint of `chain`.
fn checkpoint_id(chain: StableId, sequence: u64) -> StableId {
    let mut hasher = Sha256::new();
    hasher.update(b"pollen-checkpoint-v1\0");
    hasher.update(chain.0);
    hasher.update(sequence.to_be_bytes());
    StableId::from_digest(&hasher.finalize())
}

/// A window's ends as checkpoints write them.
fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The open window of one checkpointed subscription during a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenWindow {
    pub(crate) chain: StableId,
    /// The chain's head: the checkpoint this window follows (`None`: the chain's first).
    pub(crate) after: Option<StableId>,
    pub(crate) sequence: u64,
    pub(crate) from: String,
}

/// The checkpoint state of one key for one poll: the open window of each checkpointed
/// subscription, and the chains to end.
#[derive(Debug, Clone, Default)]
pub(crate) struct Windows {
    open: BTreeMap<Option<String>, OpenWindow>,
    ended: Vec<Option<String>>,
}

impl Windows {
    /// The windows of `spec`'s checkpointed subscriptions, from the key's `heads` and its
    /// `watermark` (where a new chain's first window starts).
    pub(crate) fn new(
        spec: &PollSpec,
        heads: Vec<CheckpointHead>,
        watermark: DateTime<Utc>,
    ) -> Self {
        let mut heads: BTreeMap<Option<String>, CheckpointHead> = heads
            .into_iter()
            .map(|h| (h.subscription.clone(), h))
            .collect();
        let mut open = BTreeMap::new();
        for subscription in spec.checkpointed() {
            let subscription = subscription.map(str::to_owned);
            let window = match heads.remove(&subscription) {
                Some(head) => OpenWindow {
                    chain: head.chain,
                    after: Some(head.id),
                    sequence: head.sequence + 1,
                    from: head.to,
                },
                None => {
                    let from = instant(watermark);
                    OpenWindow {
                        chain: chain_id(spec, subscription.as_deref(), &from),
                        after: None,
                        sequence: 1,
                        from,
                    }
                }
            };
            open.insert(subscription, window);
        }
        Windows {
            open,
            ended: heads.into_keys().collect(),
        }
    }

    /// Whether nothing is checkpointed and no chain ends: the poll writes nothing of this.
    pub(crate) fn is_idle(&self) -> bool {
        self.open.is_empty() && self.ended.is_empty()
    }

    /// The tag of a notification to `subscription`, if it is checkpointed.
    pub(crate) fn tag<'w>(
        &'w self,
        spec: &'w PollSpec,
        subscription: Option<&'w str>,
    ) -> Option<Tag<'w>> {
        let window = self.open.get(&subscription.map(str::to_owned))?;
        Some(Tag {
            after: window.after,
            chain: window.chain,
            object_type: &spec.key.resource,
            subscription: subscription.unwrap_or(CALLBACK),
        })
    }

    /// The window events of `notifications` (those to checkpointed subscriptions).
    pub(crate) fn events_of(&self, notifications: &[Notification]) -> Vec<WindowEvent> {
        if self.open.is_empty() {
            return Vec::new();
        }
        notifications
            .iter()
            .filter(|n| self.open.contains_key(&n.subscription))
            .flat_map(|n| {
                n.event_ids.iter().map(|id| WindowEvent {
                    subscription: n.subscription.clone(),
                    event: *id,
                })
            })
            .collect()
    }

    /// The chains to end in this poll's commit.
    pub(crate) fn ended(&self) -> Vec<Option<String>> {
        self.ended.clone()
    }

    /// Closes every open window at `to`: one checkpoint notification per subscription,
    /// counting `events` (the window events stored and those of this commit), and the new
    /// heads.
    pub(crate) fn close(
        &self,
        spec: &PollSpec,
        events: &[WindowEvent],
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Vec<Notification>, Vec<CheckpointHead>) {
        let to = instant(to);
        let mut notifications = Vec::with_capacity(self.open.len());
        let mut heads = Vec::with_capacity(self.open.len());
        for (subscription, window) in &self.open {
            let ids: BTreeSet<&StableId> = events
                .iter()
                .filter(|e| &e.subscription == subscription)
                .map(|e| &e.event)
                .collect();
            let id = checkpoint_id(window.chain, window.sequence);
            let checkpoint = CheckpointBody {
                chain: window.chain,
                digest: checkpoint_digest(ids.iter().copied()),
                events: ids.len() as u64,
                from: &window.from,
                id,
                object_type: &spec.key.resource,
                previous: window.after,
                sequence: window.sequence,
                subscription: subscription.as_deref().unwrap_or(CALLBACK),
                to: &to,
            };
            notifications.push(build_checkpoint(
                spec,
                subscription.as_deref(),
                &checkpoint,
                now,
            ));
            heads.push(CheckpointHead {
                subscription: subscription.clone(),
                chain: window.chain,
                sequence: window.sequence,
                id,
                to: to.clone(),
            });
        }
        (notifications, heads)
    }
}

/// `message.checkpoint` of an event notification to a checkpointed subscription.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Tag<'a> {
    after: Option<StableId>,
    chain: StableId,
    #[serde(rename = "objectType")]
    object_type: &'a str,
    subscription: &'a str,
}

/// `message.checkpoint` of a checkpoint notification; fields in key order.
#[derive(Serialize)]
struct CheckpointBody<'a> {
    chain: StableId,
    digest: String,
    events: u64,
    from: &'a str,
    id: StableId,
    #[serde(rename = "objectType")]
    object_type: &'a str,
    previous: Option<StableId>,
    sequence: u64,
    subscription: &'a str,
    to: &'a str,
}

fn build_checkpoint(
    spec: &PollSpec,
    subscription: Option<&str>,
    checkpoint: &CheckpointBody<'_>,
    now: DateTime<Utc>,
) -> Notification {
    let info = &spec.instance;
    let instance_id = instance_id_value(&spec.key.instance);
    let body = serde_json::json!({
        "action": "checkpoint",
        "createdDate": now.format("%a %b %d %H:%M:%S UTC %Y").to_string(),
        "id": checkpoint.id,
        "message": {
            "checkpoint": checkpoint,
            "elementKey": info.element_key,
            "eventId": checkpoint.id,
            "events": Value::Array(Vec::new()),
            "instanceId": instance_id,
            "instanceName": info.instance_name,
            "instanceTags": info.tags,
            "instance_id": instance_id,
        },
        "severity": "low",
        "topic": format!("instance-{}-{}-checkpoints", spec.key.instance, info.element_key),
        "user": "notifications@cloud-elements.com",
    });
    Notification {
        id: checkpoint.id,
        key: spec.key.clone(),
        created_at: now,
        event_ids: Vec::new(),
        body: body.to_string(),
        subscription: subscription.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_of_nothing_is_sha256_of_nothing() {
        assert_eq!(
            checkpoint_digest([]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn the_digest_is_over_the_sorted_distinct_ids() {
        let a = StableId([1; 16]);
        let b = StableId([2; 16]);
        let mut hasher = Sha256::new();
        hasher.update(format!("{a}\n{b}\n").as_bytes());
        let expected = hex(&hasher.finalize());
        assert_eq!(checkpoint_digest([&b, &a, &b]), expected);
        assert_eq!(checkpoint_digest([&a, &b]), expected);
    }
}
