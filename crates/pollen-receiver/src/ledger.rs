//! The checkpoint ledger: which windows of which chains a receiver has in full.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::digest::digest;
use crate::error::Result;
use crate::notification::{Checkpoint, Notification, Payload};

/// A chain of checkpoints: one resource of one instance in one lane.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainKey {
    /// `message.instanceId`, as text.
    pub instance_id: String,
    /// The resource, e.g. `contacts`.
    pub object_type: String,
    /// The lane: `callback` or a subscription's name.
    pub subscription: String,
}

/// What [`Ledger::observe`] made of one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Observed {
    /// An event notification. `chain` is `None` when it carries no `message.checkpoint` (a
    /// lane without checkpoints: nothing to check). `fresh` counts the event ids the window
    /// had not had before.
    Events {
        /// The chain, for a checkpointed lane.
        chain: Option<ChainKey>,
        /// Event ids new to their window.
        fresh: usize,
    },
    /// A checkpoint notification.
    Checkpoint {
        /// Its chain.
        chain: ChainKey,
        /// Its `sequence`.
        sequence: u64,
        /// True when the ledger had it already (nothing changed).
        duplicate: bool,
        /// True when its window is complete now.
        complete: bool,
    },
}

/// One window, closed by a checkpoint that arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowReport {
    /// The closing checkpoint's id.
    pub checkpoint: String,
    /// Its `sequence`.
    pub sequence: u64,
    /// Its `previous`: the `after` of the window's event notifications.
    pub previous: Option<String>,
    /// The window `(from, to]`.
    pub from: String,
    /// See `from`.
    pub to: String,
    /// Distinct event ids the checkpoint counts.
    pub expected: u64,
    /// Distinct event ids received for the window.
    pub received: u64,
    /// True when the received ids' digest equals the checkpoint's (always, for a complete
    /// window; for an incomplete one with as many ids as expected, false means other ids).
    pub digest_matches: bool,
    /// Ids first received after a [`Ledger::report`] had listed this window incomplete: once
    /// redelivered, exactly the ids that were missing then.
    pub late: Vec<String>,
}

/// A checkpoint a received checkpoint names as its `previous` but that never arrived: a gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingCheckpoint {
    /// The missing checkpoint's id.
    pub id: String,
    /// Its sequence (one less than its successor's).
    pub sequence: u64,
    /// The received checkpoint that names it.
    pub referenced_by: String,
}

/// Why events wait in a window whose checkpoint has not arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WaitingCause {
    /// No later checkpoint of the chain has arrived: the window may simply not be closed yet.
    Pending,
    /// A later checkpoint of the chain has arrived, so the one closing this window was lost
    /// (or is late).
    Gap,
    /// The window follows a checkpoint this ledger never saw nor saw named, so its place in
    /// the chain is unknown.
    Unknown,
}

/// Events received for a window whose checkpoint has not arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    /// The events' `message.checkpoint.after`.
    pub after: Option<String>,
    /// The sequence of the checkpoint that will close the window, when known.
    pub sequence: Option<u64>,
    /// Distinct event ids received for it.
    pub received: u64,
    /// Pending, or a gap.
    pub cause: WaitingCause,
}

/// Two different checkpoints claiming the same `previous` (pollen never writes that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    /// The `previous` both name.
    pub previous: Option<String>,
    /// The checkpoint the ledger kept (the first received).
    pub kept: String,
    /// The one it ignored.
    pub ignored: String,
}

/// What the ledger knows of one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    /// The chain.
    pub chain: ChainKey,
    /// Windows whose received ids match their checkpoint, by sequence.
    pub complete: Vec<WindowReport>,
    /// Windows whose received ids do not (yet) match, by sequence.
    pub incomplete: Vec<WindowReport>,
    /// Checkpoints named as `previous` but never received, by sequence.
    pub missing_checkpoints: Vec<MissingCheckpoint>,
    /// Events waiting for the checkpoint of their window.
    pub waiting: Vec<Waiting>,
    /// Forks in the chain.
    pub conflicts: Vec<Conflict>,
}

impl ChainReport {
    /// True when nothing is incomplete, missing or in conflict, and the only waiting events
    /// are [`WaitingCause::Pending`].
    pub fn is_complete(&self) -> bool {
        self.incomplete.is_empty()
            && self.missing_checkpoints.is_empty()
            && self.conflicts.is_empty()
            && self
                .waiting
                .iter()
                .all(|w| w.cause == WaitingCause::Pending)
    }
}

/// The ledger's findings, chain by chain (ordered by instance, resource, lane).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// One entry per chain seen.
    pub chains: Vec<ChainReport>,
}

impl Report {
    /// True when every chain [`is complete`](ChainReport::is_complete).
    pub fn is_complete(&self) -> bool {
        self.chains.iter().all(ChainReport::is_complete)
    }

    /// Every window's late ids, of every chain.
    pub fn late_ids(&self) -> Vec<&str> {
        self.chains
            .iter()
            .flat_map(|c| c.complete.iter().chain(&c.incomplete))
            .flat_map(|w| w.late.iter().map(String::as_str))
            .collect()
    }

    /// The chain `key`'s report.
    pub fn chain(&self, key: &ChainKey) -> Option<&ChainReport> {
        self.chains.iter().find(|c| &c.chain == key)
    }
}

/// The events received for one window (keyed by their `after`).
#[derive(Debug, Default)]
struct Window {
    /// Distinct ids received; emptied once the window is complete.
    ids: HashSet<String>,
    /// How many distinct ids were received.
    received: u64,
    /// The checkpoint closing it, once received.
    closed_by: Option<String>,
    complete: bool,
    /// A report listed it incomplete: ids arriving from now on are late.
    flagged: bool,
    late: Vec<String>,
}

impl Window {
    /// Compares with the closing checkpoint; a complete window forgets its ids.
    fn settle(&mut self, checkpoint: &Checkpoint) {
        if self.complete || self.received != checkpoint.events {
            return;
        }
        if digest(&self.ids) == checkpoint.digest {
            self.complete = true;
            self.ids = HashSet::new();
        }
    }

    fn report(&self, checkpoint: &Checkpoint) -> WindowReport {
        WindowReport {
            checkpoint: checkpoint.id.clone(),
            sequence: checkpoint.sequence,
            previous: checkpoint.previous.clone(),
            from: checkpoint.from.clone(),
            to: checkpoint.to.clone(),
            expected: checkpoint.events,
            received: self.received,
            digest_matches: self.complete
                || (self.received == checkpoint.events && digest(&self.ids) == checkpoint.digest),
            late: self.late.clone(),
        }
    }
}

#[derive(Debug, Default)]
struct Chain {
    windows: HashMap<Option<String>, Window>,
    checkpoints: HashMap<String, Checkpoint>,
    max_sequence: u64,
    conflicts: Vec<Conflict>,
}

impl Chain {
    /// The sequence of checkpoint `id`: its own when received, else one less than a received
    /// successor's.
    fn sequence_of(&self, id: &str) -> Option<u64> {
        if let Some(cp) = self.checkpoints.get(id) {
            return Some(cp.sequence);
        }
        self.checkpoints
            .values()
            .find(|c| c.previous.as_deref() == Some(id))
            .map(|c| c.sequence - 1)
    }

    fn report(&self, key: ChainKey) -> ChainReport {
        let mut complete = Vec::new();
        let mut incomplete = Vec::new();
        let mut missing = Vec::new();
        for cp in self.checkpoints.values() {
            let window = self.windows.get(&cp.previous);
            if window.is_some_and(|w| w.closed_by.as_deref() == Some(&cp.id)) {
                let window = window.expect("checked above");
                if window.complete {
                    complete.push(window.report(cp));
                } else {
                    incomplete.push(window.report(cp));
                }
            }
            if let Some(previous) = &cp.previous {
                if !self.checkpoints.contains_key(previous) {
                    missing.push(MissingCheckpoint {
                        id: previous.clone(),
                        sequence: cp.sequence - 1,
                        referenced_by: cp.id.clone(),
                    });
                }
            }
        }
        let mut waiting = Vec::new();
        for (after, window) in &self.windows {
            if window.closed_by.is_some() || window.received == 0 {
                continue;
            }
            let after_sequence = match after {
                None => Some(0),
                Some(id) => self.sequence_of(id),
            };
            let cause = match after_sequence {
                Some(s) if self.max_sequence > s => WaitingCause::Gap,
                Some(_) => WaitingCause::Pending,
                None => WaitingCause::Unknown,
            };
            waiting.push(Waiting {
                after: after.clone(),
                sequence: after_sequence.map(|s| s + 1),
                received: window.received,
                cause,
            });
        }
        complete.sort_by_key(|w| w.sequence);
        incomplete.sort_by_key(|w| w.sequence);
        missing.sort_by_key(|m| m.sequence);
        waiting.sort_by(|a, b| (a.sequence, &a.after).cmp(&(b.sequence, &b.after)));
        ChainReport {
            chain: key,
            complete,
            incomplete,
            missing_checkpoints: missing,
            waiting,
            conflicts: self.conflicts.clone(),
        }
    }
}

/// Checks checkpoint chains: feed it every notification received, in any order and any
/// number of times, then ask for a [`Report`].
///
/// Memory: a window's distinct ids are kept until its checkpoint says it is complete, then
/// only their count (and any late ids); a checkpoint is kept as its few fields. An event
/// arriving for a window already complete is taken as a duplicate: the window's ids are
/// exactly the checkpoint's (same count, same digest), so it cannot be a new one.
#[derive(Debug, Default)]
pub struct Ledger {
    chains: BTreeMap<ChainKey, Chain>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Ledger::default()
    }

    /// Parses a notification body and takes it in.
    pub fn observe(&mut self, body: &[u8]) -> Result<Observed> {
        Ok(self.observe_notification(&Notification::parse(body)?))
    }

    /// Takes in a parsed notification.
    pub fn observe_notification(&mut self, notification: &Notification) -> Observed {
        match &notification.payload {
            Payload::Events { events, checkpoint } => {
                let Some(tag) = checkpoint else {
                    return Observed::Events {
                        chain: None,
                        fresh: 0,
                    };
                };
                let key = ChainKey {
                    instance_id: notification.instance_id.clone(),
                    object_type: tag.object_type.clone(),
                    subscription: tag.subscription.clone(),
                };
                let chain = self.chains.entry(key.clone()).or_default();
                let window = chain.windows.entry(tag.after.clone()).or_default();
                let mut fresh = 0;
                if !window.complete {
                    for event in events {
                        if window.ids.insert(event.event_id.clone()) {
                            fresh += 1;
                            window.received += 1;
                            if window.flagged {
                                window.late.push(event.event_id.clone());
                            }
                        }
                    }
                    if let Some(cp) = window
                        .closed_by
                        .as_ref()
                        .and_then(|id| chain.checkpoints.get(id))
                    {
                        window.settle(cp);
                    }
                }
                Observed::Events {
                    chain: Some(key),
                    fresh,
                }
            }
            Payload::Checkpoint(cp) => {
                let key = ChainKey {
                    instance_id: notification.instance_id.clone(),
                    object_type: cp.object_type.clone(),
                    subscription: cp.subscription.clone(),
                };
                let chain = self.chains.entry(key.clone()).or_default();
                if chain.checkpoints.contains_key(&cp.id) {
                    let complete = chain
                        .windows
                        .get(&cp.previous)
                        .is_some_and(|w| w.complete && w.closed_by.as_ref() == Some(&cp.id));
                    return Observed::Checkpoint {
                        chain: key,
                        sequence: cp.sequence,
                        duplicate: true,
                        complete,
                    };
                }
                let window = chain.windows.entry(cp.previous.clone()).or_default();
                if let Some(kept) = &window.closed_by {
                    chain.conflicts.push(Conflict {
                        previous: cp.previous.clone(),
                        kept: kept.clone(),
                        ignored: cp.id.clone(),
                    });
                    return Observed::Checkpoint {
                        chain: key,
                        sequence: cp.sequence,
                        duplicate: false,
                        complete: false,
                    };
                }
                window.closed_by = Some(cp.id.clone());
                window.settle(cp);
                let complete = window.complete;
                chain.max_sequence = chain.max_sequence.max(cp.sequence);
                chain.checkpoints.insert(cp.id.clone(), cp.clone());
                Observed::Checkpoint {
                    chain: key,
                    sequence: cp.sequence,
                    duplicate: false,
                    complete,
                }
            }
        }
    }

    /// What the ledger knows now. Takes `&mut self` because reporting a window incomplete
    /// is remembered: event ids that reach that window afterwards are listed in its
    /// [`late`](WindowReport::late), so once they are redelivered the receiver knows exactly
    /// which ids it had been missing. (Ids that merely overtook or trailed their checkpoint
    /// before anyone looked are not late.)
    pub fn report(&mut self) -> Report {
        let chains = self
            .chains
            .iter()
            .map(|(key, chain)| chain.report(key.clone()))
            .collect();
        for chain in self.chains.values_mut() {
            for window in chain.windows.values_mut() {
                if window.closed_by.is_some() && !window.complete {
                    window.flagged = true;
                }
            }
        }
        Report { chains }
    }
}
