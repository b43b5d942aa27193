//! [`MemoryStore`]: the [`Store`] for tests, demos and single-process runs without persistence.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;

use crate::change::StableId;
use crate::error::{Error, ErrorKind, Result};
use crate::notification::Notification;
use crate::spec::PollKey;
use crate::store::{
    AttemptOutcome, AttemptRecord, CheckpointHead, DeliveryAttempt, Lease, OutboxEntry,
    OutboxFilter, OutboxStatus, PollCommit, PollFailure, PollProgress, PollState, ReleasedWork,
    SeenChange, Store, WindowEvent, Worker, WorkerStatus,
};

/// An in-memory [`Store`]: everything behind one mutex, indexed so that claiming among tens of
/// thousands of states costs a B-tree lookup. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    states: HashMap<PollKey, PollState>,
    /// (instant the state becomes claimable, key), for every state not paused.
    claimable: BTreeSet<(DateTime<Utc>, PollKey)>,
    /// Paused states (see [`Store::pause_instance`]).
    paused: HashSet<PollKey>,
    seen: HashMap<PollKey, HashMap<StableId, DateTime<Utc>>>,
    /// Record ids known for reconciliation, per key.
    known: HashMap<PollKey, BTreeSet<String>>,
    /// Checkpoint chain heads per key, by subscription.
    heads: HashMap<PollKey, BTreeMap<Option<String>, CheckpointHead>>,
    /// Events in open checkpoint windows, per key.
    window: HashMap<PollKey, BTreeSet<WindowEvent>>,
    outbox: BTreeMap<u64, OutboxEntry>,
    outbox_ids: HashMap<StableId, u64>,
    /// Per lane ([`crate::lane`]), (next attempt, seq) of its pending notifications, leased or
    /// not: claims merge these in order instead of scanning the whole outbox, and skip a lane whole.
    pending: HashMap<String, BTreeSet<(DateTime<Utc>, u64)>>,
    /// The delivery log, per notification.
    attempts: HashMap<StableId, Vec<DeliveryAttempt>>,
    /// Deactivated lanes.
    inactive: HashSet<String>,
    /// The worker registry, by id.
    workers: BTreeMap<String, Worker>,
    last_seq: u64,
    last_token: u64,
}

/// When `state` can be claimed: its due time, or its live lease's expiry if later.
fn claimable_at(state: &PollState) -> DateTime<Utc> {
    match &state.lease {
        Some(lease) => state.next_due.max(lease.expires_at),
        None => state.next_due,
    }
}

impl Inner {
    /// Applies `change` to the state of `key`, keeping the claim index in step.
    fn update_state<T>(
        &mut self,
        key: &PollKey,
        change: impl FnOnce(&mut PollState) -> Result<T>,
    ) -> Result<T> {
        let state = self
            .states
            .get_mut(key)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no poll state for {key}")))?;
        let before = claimable_at(state);
        let result = change(state)?;
        let after = claimable_at(state);
        if before != after && !self.paused.contains(key) {
            self.claimable.remove(&(before, key.clone()));
            self.claimable.insert((after, key.clone()));
        }
        Ok(result)
    }

    /// Adds seen changes, prunes, and appends notifications: the shared half of a commit.
    fn append(
        &mut self,
        key: &PollKey,
        seen: Vec<SeenChange>,
        prune_before: Option<DateTime<Utc>>,
        notifications: Vec<Notification>,
    ) {
        let known = self.seen.entry(key.clone()).or_default();
        for SeenChange { id, at } in seen {
            known.entry(id).or_insert(at);
        }
        if let Some(before) = prune_before {
            known.retain(|_, at| *at >= before);
        }
        for notification in notifications {
            if self.outbox_ids.contains_key(&notification.id) {
                continue;
            }
            let lane = notification.lane();
            let queued = self.inactive.contains(&lane);
            self.last_seq += 1;
            let seq = self.last_seq;
            self.outbox_ids.insert(notification.id, seq);
            let next_attempt = notification.created_at;
            if !queued {
                self.pending
                    .entry(lane)
                    .or_default()
                    .insert((next_attempt, seq));
            }
            self.outbox.insert(
                seq,
                OutboxEntry {
                    seq,
                    notification,
                    status: if queued {
                        OutboxStatus::Queued
                    } else {
                        OutboxStatus::Pending
                    },
                    attempts: 0,
                    next_attempt,
                    last_error: None,
                    lease: None,
                    delivered_at: None,
                },
            );
        }
    }

    fn next_token(&mut self) -> u64 {
        self.last_token += 1;
        self.last_token
    }

    /// Releases every poll lease and pending notification's lease whose owner `matches`.
    fn release_owned(&mut self, matches: impl Fn(&str) -> bool) -> ReleasedWork {
        let keys: Vec<PollKey> = self
            .states
            .values()
            .filter(|state| state.lease.as_ref().is_some_and(|l| matches(&l.owner)))
            .map(|state| state.key.clone())
            .collect();
        for key in &keys {
            // The key was just read from the map: the update cannot miss.
            let _ = self.update_state(key, |state| {
                state.lease = None;
                Ok(())
            });
        }
        let mut notifications = 0;
        for entry in self.outbox.values_mut() {
            if entry.status == OutboxStatus::Pending
                && entry.lease.as_ref().is_some_and(|l| matches(&l.owner))
            {
                entry.lease = None;
                notifications += 1;
            }
        }
        ReleasedWork {
            workers: 0,
            polls: keys.len() as u64,
            notifications,
        }
    }

    fn log_attempt(&mut self, id: &StableId, attempt: &DeliveryAttempt) {
        self.attempts.entry(*id).or_default().push(attempt.clone());
    }

    /// Applies `change` to the outbox row `seq`, keeping the pending index in step.
    fn update_outbox(&mut self, seq: u64, change: impl FnOnce(&mut OutboxEntry)) {
        if let Some(entry) = self.outbox.get_mut(&seq) {
            let lane = entry.notification.lane();
            if let Some(set) = self.pending.get_mut(&lane) {
                set.remove(&(entry.next_attempt, seq));
                if set.is_empty() {
                    self.pending.remove(&lane);
                }
            }
            change(entry);
            if entry.status == OutboxStatus::Pending {
                self.pending
                    .entry(lane)
                    .or_default()
                    .insert((entry.next_attempt, seq));
            }
        }
    }

    /// Checks the lease on notification `id` and applies `change` to it.
    fn update_leased(
        &mut self,
        id: &StableId,
        token: u64,
        change: impl FnOnce(&mut OutboxEntry),
    ) -> Result<()> {
        let seq = self.outbox_entry(id, token)?.seq;
        self.update_outbox(seq, change);
        Ok(())
    }

    /// The fenced end of one attempt: the outcome's changes, the lease released, the attempt
    /// logged.
    fn finish_attempt(
        &mut self,
        id: &StableId,
        token: u64,
        outcome: AttemptOutcome,
        attempt: &DeliveryAttempt,
    ) -> Result<()> {
        self.update_leased(id, token, |entry| {
            entry.attempts += 1;
            entry.lease = None;
            match outcome {
                AttemptOutcome::Delivered => {
                    entry.status = OutboxStatus::Delivered;
                    entry.delivered_at = Some(attempt.at);
                    entry.last_error = None;
                }
                AttemptOutcome::Failed { next_attempt } => {
                    entry.status = OutboxStatus::Pending;
                    entry.next_attempt = next_attempt;
                    entry.last_error.clone_from(&attempt.error);
                }
                AttemptOutcome::Queued => {
                    entry.status = OutboxStatus::Queued;
                    entry.last_error.clone_from(&attempt.error);
                }
            }
        })?;
        self.log_attempt(id, attempt);
        Ok(())
    }

    fn outbox_entry(&mut self, id: &StableId, token: u64) -> Result<&mut OutboxEntry> {
        let seq = *self
            .outbox_ids
            .get(id)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no notification {id}")))?;
        let entry = self
            .outbox
            .get_mut(&seq)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no notification {id}")))?;
        if entry.lease.as_ref().map(|l| l.token) != Some(token) {
            return Err(Error::lease_lost(format!("notification {id}")));
        }
        Ok(entry)
    }
}

fn check_token(state: &PollState, token: u64) -> Result<()> {
    match &state.lease {
        Some(lease) if lease.token == token => Ok(()),
        _ => Err(Error::lease_lost(&state.key)),
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every method validates before
        // it mutates), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn ready<T: Send + 'static>(result: Result<T>) -> BoxFuture<'static, Result<T>> {
        Box::pin(std::future::ready(result))
    }
}

impl Store for MemoryStore {
    fn register<'a>(
        &'a self,
        key: &'a PollKey,
        watermark: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<PollState>> {
        let mut inner = self.lock();
        if let Some(state) = inner.states.get(key).cloned() {
            if inner.paused.remove(key) {
                inner.claimable.insert((claimable_at(&state), key.clone()));
            }
            return Self::ready(Ok(state));
        }
        let state = PollState {
            key: key.clone(),
            watermark,
            next_due,
            consecutive_failures: 0,
            last_error: None,
            lease: None,
            fencing_token: 0,
            completed_polls: 0,
            reconciled_at: None,
            rewinds: 0,
        };
        inner.claimable.insert((next_due, key.clone()));
        inner.states.insert(key.clone(), state.clone());
        Self::ready(Ok(state))
    }

    fn unregister<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<bool>> {
        let mut inner = self.lock();
        let existed = match inner.states.remove(key) {
            Some(state) => {
                inner.claimable.remove(&(claimable_at(&state), key.clone()));
                true
            }
            None => false,
        };
        inner.seen.remove(key);
        inner.known.remove(key);
        inner.heads.remove(key);
        inner.window.remove(key);
        inner.paused.remove(key);
        Self::ready(Ok(existed))
    }

    fn pause_instance<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<u64>> {
        let mut inner = self.lock();
        let keys: Vec<(DateTime<Utc>, PollKey)> = inner
            .states
            .values()
            .filter(|state| state.key.instance == instance)
            .map(|state| (claimable_at(state), state.key.clone()))
            .collect();
        for (at, key) in &keys {
            inner.claimable.remove(&(*at, key.clone()));
            inner.paused.insert(key.clone());
        }
        Self::ready(Ok(keys.len() as u64))
    }

    fn load<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<Option<PollState>>> {
        Self::ready(Ok(self.lock().states.get(key).cloned()))
    }

    fn next_due(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>>> {
        Self::ready(Ok(self.lock().claimable.first().map(|(at, _)| *at)))
    }

    fn claim_due<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<PollState>>> {
        let mut inner = self.lock();
        let due: Vec<PollKey> = inner
            .claimable
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, key)| key.clone())
            .collect();
        let mut claimed = Vec::with_capacity(due.len());
        for key in due {
            let token = inner.next_token();
            let result = inner.update_state(&key, |state| {
                state.fencing_token = token;
                state.lease = Some(Lease {
                    owner: owner.to_owned(),
                    token,
                    expires_at: now + lease_for,
                });
                Ok(state.clone())
            });
            match result {
                Ok(state) => claimed.push(state),
                Err(e) => return Self::ready(Err(e)),
            }
        }
        Self::ready(Ok(claimed))
    }

    fn release<'a>(&'a self, key: &'a PollKey, token: u64) -> BoxFuture<'a, Result<()>> {
        let mut inner = self.lock();
        Self::ready(inner.update_state(key, |state| {
            check_token(state, token)?;
            state.lease = None;
            Ok(())
        }))
    }

    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        held: &'a [(PollKey, u64)],
        now: DateTime<Utc>,
        lease_for: TimeDelta,
    ) -> BoxFuture<'a, Result<Vec<bool>>> {
        let mut inner = self.lock();
        let renewed = held
            .iter()
            .map(|(key, token)| {
                inner
                    .update_state(key, |state| match &mut state.lease {
                        Some(lease) if lease.token == *token && lease.owner == owner => {
                            lease.expires_at = now + lease_for;
                            Ok(true)
                        }
                        _ => Ok(false),
                    })
                    .unwrap_or(false)
            })
            .collect();
        Self::ready(Ok(renewed))
    }

    fn heartbeat<'a>(&'a self, worker: &'a Worker) -> BoxFuture<'a, Result<()>> {
        self.lock()
            .workers
            .insert(worker.id.clone(), worker.clone());
        Self::ready(Ok(()))
    }

    fn release_dead_workers(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<ReleasedWork>> {
        let mut inner = self.lock();
        let dead: HashSet<String> = inner
            .workers
            .values()
            .filter(|w| w.is_dead(now))
            .map(|w| w.id.clone())
            .collect();
        if dead.is_empty() {
            return Self::ready(Ok(ReleasedWork::default()));
        }
        let mut released = inner.release_owned(|owner| dead.contains(owner));
        inner.workers.retain(|id, _| !dead.contains(id));
        released.workers = dead.len() as u64;
        Self::ready(Ok(released))
    }

    fn release_worker<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ReleasedWork>> {
        let mut inner = self.lock();
        let mut released = inner.release_owned(|owner| owner == id);
        released.workers = u64::from(inner.workers.remove(id).is_some());
        Self::ready(Ok(released))
    }

    fn release_all_workers(&self) -> BoxFuture<'_, Result<ReleasedWork>> {
        let mut inner = self.lock();
        let mut released = inner.release_owned(|_| true);
        released.workers = inner.workers.len() as u64;
        inner.workers.clear();
        Self::ready(Ok(released))
    }

    fn list_workers(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<Vec<WorkerStatus>>> {
        let inner = self.lock();
        let live = |lease: &Option<Lease>, id: &str| {
            lease
                .as_ref()
                .is_some_and(|l| l.owner == id && l.expires_at > now)
        };
        let workers = inner
            .workers
            .values()
            .map(|worker| {
                let mut polls: Vec<PollKey> = inner
                    .states
                    .values()
                    .filter(|state| live(&state.lease, &worker.id))
                    .map(|state| state.key.clone())
                    .collect();
                polls.sort();
                let notifications = inner
                    .outbox
                    .values()
                    .filter(|e| e.status == OutboxStatus::Pending && live(&e.lease, &worker.id))
                    .count() as u64;
                WorkerStatus {
                    worker: worker.clone(),
                    polls,
                    notifications,
                }
            })
            .collect();
        Self::ready(Ok(workers))
    }

    fn seen<'a>(
        &'a self,
        key: &'a PollKey,
        ids: &'a [StableId],
    ) -> BoxFuture<'a, Result<Vec<bool>>> {
        let inner = self.lock();
        let answer = match inner.seen.get(key) {
            Some(seen) => ids.iter().map(|id| seen.contains_key(id)).collect(),
            None => vec![false; ids.len()],
        };
        Self::ready(Ok(answer))
    }

    fn commit_poll(&self, commit: PollCommit) -> BoxFuture<'_, Result<()>> {
        let mut inner = self.lock();
        // Validate first: all or nothing.
        let valid = match inner.states.get(&commit.key) {
            Some(state) => check_token(state, commit.lease_token),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("no poll state for {}", commit.key),
            )),
        };
        if let Err(e) = valid {
            return Self::ready(Err(e));
        }
        let updated = inner.update_state(&commit.key, |state| {
            state.watermark = commit.watermark;
            state.next_due = commit.next_due;
            state.consecutive_failures = 0;
            state.last_error = None;
            state.lease = None;
            state.completed_polls += 1;
            if let Some(reconciled) = &commit.reconciled {
                state.reconciled_at = Some(reconciled.at);
            }
            Ok(())
        });
        if let Err(e) = updated {
            return Self::ready(Err(e));
        }
        let known = inner.known.entry(commit.key.clone()).or_default();
        known.extend(commit.known);
        if let Some(reconciled) = commit.reconciled {
            known.extend(reconciled.added);
            for id in &reconciled.removed {
                known.remove(id);
            }
        }
        inner.append(
            &commit.key,
            commit.seen,
            commit.prune_before,
            commit.notifications,
        );
        let window = inner.window.entry(commit.key.clone()).or_default();
        window.extend(commit.window);
        for ended in commit
            .ended_chains
            .iter()
            .chain(commit.checkpoints.iter().map(|h| &h.subscription))
        {
            window.retain(|e| &e.subscription != ended);
        }
        let heads = inner.heads.entry(commit.key.clone()).or_default();
        for ended in &commit.ended_chains {
            heads.remove(ended);
        }
        for head in commit.checkpoints {
            heads.insert(head.subscription.clone(), head);
        }
        Self::ready(Ok(()))
    }

    fn commit_progress(&self, progress: PollProgress) -> BoxFuture<'_, Result<()>> {
        let mut inner = self.lock();
        let valid = match inner.states.get(&progress.key) {
            Some(state) => check_token(state, progress.lease_token),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("no poll state for {}", progress.key),
            )),
        };
        if let Err(e) = valid {
            return Self::ready(Err(e));
        }
        inner
            .known
            .entry(progress.key.clone())
            .or_default()
            .extend(progress.known);
        inner
            .window
            .entry(progress.key.clone())
            .or_default()
            .extend(progress.window);
        inner.append(&progress.key, progress.seen, None, progress.notifications);
        Self::ready(Ok(()))
    }

    fn record_failure(&self, failure: PollFailure) -> BoxFuture<'_, Result<()>> {
        let mut inner = self.lock();
        Self::ready(inner.update_state(&failure.key, |state| {
            check_token(state, failure.lease_token)?;
            state.consecutive_failures += 1;
            state.last_error = Some(failure.error);
            state.next_due = failure.next_due;
            state.lease = None;
            Ok(())
        }))
    }

    fn checkpoint_heads<'a>(
        &'a self,
        key: &'a PollKey,
    ) -> BoxFuture<'a, Result<Vec<CheckpointHead>>> {
        let inner = self.lock();
        let heads = inner
            .heads
            .get(key)
            .map(|heads| heads.values().cloned().collect())
            .unwrap_or_default();
        Self::ready(Ok(heads))
    }

    fn window_events<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<Vec<WindowEvent>>> {
        let inner = self.lock();
        let events = inner
            .window
            .get(key)
            .map(|events| events.iter().cloned().collect())
            .unwrap_or_default();
        Self::ready(Ok(events))
    }

    fn known_ids<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<Vec<String>>> {
        let inner = self.lock();
        let ids = inner
            .known
            .get(key)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        Self::ready(Ok(ids))
    }

    fn prune_seen<'a>(
        &'a self,
        key: &'a PollKey,
        before: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<u64>> {
        let mut inner = self.lock();
        let pruned = match inner.seen.get_mut(key) {
            Some(seen) => {
                let was = seen.len();
                seen.retain(|_, at| *at >= before);
                (was - seen.len()) as u64
            }
            None => 0,
        };
        Self::ready(Ok(pruned))
    }

    fn seen_count<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<u64>> {
        let count = self.lock().seen.get(key).map_or(0, |s| s.len() as u64);
        Self::ready(Ok(count))
    }

    fn set_subscription_active<'a>(
        &'a self,
        instance: &'a str,
        active: bool,
    ) -> BoxFuture<'a, Result<()>> {
        let mut inner = self.lock();
        if active {
            inner.inactive.remove(instance);
        } else {
            inner.inactive.insert(instance.to_owned());
            let seqs: Vec<u64> = inner
                .pending
                .get(instance)
                .map(|set| set.iter().map(|(_, seq)| *seq).collect())
                .unwrap_or_default();
            for seq in seqs {
                inner.update_outbox(seq, |entry| {
                    entry.status = OutboxStatus::Queued;
                    entry.lease = None;
                });
            }
        }
        Self::ready(Ok(()))
    }

    fn subscription_active<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<bool>> {
        Self::ready(Ok(!self.lock().inactive.contains(instance)))
    }

    fn claim_outbox<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>>> {
        self.claim_outbox_skipping(owner, now, lease_for, limit, usize::MAX, &[])
    }

    fn claim_outbox_skipping<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
        per_instance: usize,
        skip: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>>> {
        if per_instance == 0 {
            return Self::ready(Ok(Vec::new()));
        }
        let mut inner = self.lock();
        // A k-way merge of the instances' pending sets, in (next attempt, seq) order; an
        // instance leaves the merge once `per_instance` of its notifications are taken.
        let mut heads = Vec::new();
        for (instance, set) in &inner.pending {
            if !skip.contains(instance) {
                heads.push((set.iter(), 0usize));
            }
        }
        let mut heap = BinaryHeap::with_capacity(heads.len());
        for (i, (head, _)) in heads.iter_mut().enumerate() {
            if let Some(first) = head.next() {
                heap.push(Reverse((*first, i)));
            }
        }
        let mut due = Vec::new();
        while let Some(Reverse(((next_attempt, seq), i))) = heap.pop() {
            if next_attempt > now || due.len() >= limit {
                break;
            }
            let (head, taken) = &mut heads[i];
            if inner.outbox[&seq]
                .lease
                .as_ref()
                .is_none_or(|l| l.expires_at <= now)
            {
                due.push(seq);
                *taken += 1;
                if *taken >= per_instance {
                    continue;
                }
            }
            if let Some(following) = head.next() {
                heap.push(Reverse((*following, i)));
            }
        }
        drop(heads);
        let mut claimed = Vec::with_capacity(due.len());
        for seq in due {
            let token = inner.next_token();
            if let Some(entry) = inner.outbox.get_mut(&seq) {
                entry.lease = Some(Lease {
                    owner: owner.to_owned(),
                    token,
                    expires_at: now + lease_for,
                });
                claimed.push(entry.clone());
            }
        }
        Self::ready(Ok(claimed))
    }

    fn mark_delivered<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, Result<()>> {
        let result = self
            .lock()
            .finish_attempt(id, token, AttemptOutcome::Delivered, attempt);
        Self::ready(result)
    }

    fn mark_failed<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        next_attempt: DateTime<Utc>,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, Result<()>> {
        let result =
            self.lock()
                .finish_attempt(id, token, AttemptOutcome::Failed { next_attempt }, attempt);
        Self::ready(result)
    }

    fn mark_queued<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, Result<()>> {
        let result = self
            .lock()
            .finish_attempt(id, token, AttemptOutcome::Queued, attempt);
        Self::ready(result)
    }

    fn record_attempts<'a>(
        &'a self,
        records: &'a [AttemptRecord],
    ) -> BoxFuture<'a, Result<Vec<Result<()>>>> {
        let mut inner = self.lock();
        let results = records
            .iter()
            .map(|r| inner.finish_attempt(&r.id, r.token, r.outcome, &r.attempt))
            .collect();
        Self::ready(Ok(results))
    }

    fn list_attempts<'a>(
        &'a self,
        id: &'a StableId,
    ) -> BoxFuture<'a, Result<Vec<DeliveryAttempt>>> {
        let inner = self.lock();
        Self::ready(Ok(inner.attempts.get(id).cloned().unwrap_or_default()))
    }

    fn list_outbox<'a>(
        &'a self,
        filter: &'a OutboxFilter,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>>> {
        let inner = self.lock();
        let start = filter.after_seq.map_or(0, |s| s + 1);
        let rows = inner
            .outbox
            .range(start..)
            .map(|(_, e)| e)
            .filter(|e| {
                filter
                    .instance
                    .as_ref()
                    .is_none_or(|i| *i == e.notification.key.instance)
                    && filter.status.is_none_or(|s| s == e.status)
            })
            .take(filter.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect();
        Self::ready(Ok(rows))
    }

    fn requeue<'a>(
        &'a self,
        ids: &'a [StableId],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<u64>> {
        let mut inner = self.lock();
        let mut changed = 0;
        for id in ids {
            let Some(seq) = inner.outbox_ids.get(id).copied() else {
                continue;
            };
            inner.update_outbox(seq, |entry| {
                entry.status = OutboxStatus::Pending;
                entry.next_attempt = now;
                entry.attempts = 0;
                entry.lease = None;
            });
            changed += 1;
        }
        Self::ready(Ok(changed))
    }
}
