//! The storage contract: poll state, leases, de-duplication keys and the outbox.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::change::StableId;
use crate::error::{ErrorKind, Result};
use crate::notification::Notification;
use crate::spec::PollKey;

/// A time-limited claim on one piece of work, with a fencing token.
///
/// Every claim gets a token larger than any before it for the same work; a write naming an old
/// token is rejected with [`ErrorKind::LeaseLost`](crate::ErrorKind::LeaseLost), so a worker that
/// paused past its lease cannot overwrite the work of the one that took over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The worker holding it.
    pub owner: String,
    /// The fencing token.
    pub token: u64,
    /// After this instant another worker may claim the work.
    pub expires_at: DateTime<Utc>,
}

/// The durable state of one (instance, resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollState {
    /// Which (instance, resource).
    pub key: PollKey,
    /// The start of the last complete poll (or the initial watermark).
    pub watermark: DateTime<Utc>,
    /// When the next poll is due.
    pub next_due: DateTime<Utc>,
    /// Failed polls since the last success (drives back-off).
    pub consecutive_failures: u32,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// The current lease, if any (possibly expired).
    pub lease: Option<Lease>,
    /// The fencing token of the latest claim (0 before the first).
    pub fencing_token: u64,
    /// Completed polls so far.
    pub completed_polls: u64,
    /// When the last reconciliation of this key completed (`None`: never). See
    /// [`PollSpec::reconcile_interval`](crate::PollSpec::reconcile_interval).
    #[serde(default)]
    pub reconciled_at: Option<DateTime<Utc>>,
    /// How many times the key was rewound (its watermark moved back by an operator): the
    /// notifications of a re-read get ids of their own, so they are delivered again.
    pub rewinds: u64,
}

/// A change key as remembered for de-duplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenChange {
    /// The change id.
    pub id: StableId,
    /// Its age reference for pruning (the change's date, or its poll's start).
    pub at: DateTime<Utc>,
}

/// A finished poll, to be written all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollCommit {
    /// Which (instance, resource).
    pub key: PollKey,
    /// The fencing token of the lease the poll ran under.
    pub lease_token: u64,
    /// The new watermark.
    pub watermark: DateTime<Utc>,
    /// The next due time.
    pub next_due: DateTime<Utc>,
    /// New de-duplication keys (the poll's emitted changes).
    pub seen: Vec<SeenChange>,
    /// Notifications to append to the outbox.
    pub notifications: Vec<Notification>,
    /// Forget this key's seen changes older than this (`None`: keep all).
    pub prune_before: Option<DateTime<Utc>>,
    /// Record ids to remember as known, for reconciliation (the ids of the poll's fresh
    /// CREATED and UPDATED changes, when the key is reconciled; else empty).
    pub known: Vec<String>,
    /// The reconciliation this poll completed, if it ran one.
    pub reconciled: Option<Reconciled>,
    /// Events of checkpointed subscriptions written by this commit whose window stays open
    /// (the subscription gets no checkpoint in this commit), as for [`PollProgress::window`].
    pub window: Vec<WindowEvent>,
    /// The checkpoints among `notifications`, as their chains' new heads: each replaces its
    /// subscription's head and closes its window (the key's [`WindowEvent`]s of that
    /// subscription are deleted).
    pub checkpoints: Vec<CheckpointHead>,
    /// Subscriptions of the key no longer sent checkpoints: their head and window events are
    /// deleted, so that turning checkpoints on again starts a new chain.
    pub ended_chains: Vec<Option<String>>,
}

/// The latest checkpoint of one chain: what the next checkpoint of the same (instance,
/// resource, subscription) follows. See `docs/events.md`, "Checkpoints".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointHead {
    /// The subscription (`None`: the callback).
    pub subscription: Option<String>,
    /// The chain's id.
    pub chain: StableId,
    /// The checkpoint's place in its chain, from 1.
    pub sequence: u64,
    /// The checkpoint's id.
    pub id: StableId,
    /// The end of its window (`to`), exactly as sent: the next window's `from`.
    pub to: String,
}

/// An event written to a checkpointed subscription whose window is still open: the next
/// checkpoint of that subscription counts it. Written with its notification, so that a poll
/// that dies after writing progress still has its events counted by the next one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WindowEvent {
    /// The subscription (`None`: the callback).
    pub subscription: Option<String>,
    /// The event id.
    pub event: StableId,
}

/// A completed reconciliation, written with its poll's [`PollCommit`]: the key's known ids gain
/// `added` and lose `removed`, and its `reconciled_at` becomes `at`. The DELETED notifications
/// of `removed` are in the same commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// When the walk started.
    pub at: DateTime<Utc>,
    /// Ids the walk found that were not known (a first walk finds them all).
    pub added: Vec<String>,
    /// Known ids the walk did not find and a lookup confirmed gone.
    pub removed: Vec<String>,
}

/// Part of a poll written before the poll ends: a long walk commits its changes page by page so
/// that memory stays bounded whatever the window holds. The watermark, next due time and lease
/// stay as they are; if the poll fails or the process dies, the next poll walks the same window
/// again and the seen keys written here suppress what was already emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollProgress {
    /// Which (instance, resource).
    pub key: PollKey,
    /// The fencing token of the lease the poll runs under.
    pub lease_token: u64,
    /// New de-duplication keys (the changes of `notifications`).
    pub seen: Vec<SeenChange>,
    /// Notifications to append to the outbox.
    pub notifications: Vec<Notification>,
    /// Record ids to remember as known, as for [`PollCommit::known`].
    pub known: Vec<String>,
    /// The events of `notifications` sent to checkpointed subscriptions, counted by their next
    /// checkpoint (an event already in its subscription's window is skipped).
    pub window: Vec<WindowEvent>,
}

/// A failed poll: the watermark stays, the failure count grows, the lease is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollFailure {
    /// Which (instance, resource).
    pub key: PollKey,
    /// The fencing token of the lease the poll ran under.
    pub lease_token: u64,
    /// When to try again (back-off).
    pub next_due: DateTime<Utc>,
    /// Why it failed (no secrets).
    pub error: String,
}

/// Where a notification is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for (another) delivery attempt at `next_attempt`.
    Pending,
    /// Accepted by the receiver.
    Delivered,
    /// Held because the instance's subscription is deactivated; never dropped, re-sent by
    /// [`Store::requeue`].
    Queued,
}

impl OutboxStatus {
    /// `pending`, `delivered` or `queued`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Queued => "queued",
        }
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Insertion order, unique per store.
    pub seq: u64,
    /// The notification.
    pub notification: Notification,
    /// Its status.
    pub status: OutboxStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When a pending entry is due for its next attempt.
    pub next_attempt: DateTime<Utc>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// The sender's lease while an attempt is in flight.
    pub lease: Option<Lease>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One delivery attempt of a notification, as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// When the attempt started.
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered at all.
    pub status: Option<u16>,
    /// From the start of the request to the end of the response (or the failure).
    pub latency_ms: u64,
    /// Why the attempt failed (a timeout, a refused address, a non-2xx status); `None` on
    /// success.
    pub error: Option<String>,
    /// The first bytes of the response body, at most [`RESPONSE_EXCERPT_LIMIT`], cut at a
    /// character boundary.
    pub response_excerpt: String,
}

/// What an attempt leaves a notification in, for [`Store::record_attempts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Accepted: as [`Store::mark_delivered`].
    Delivered,
    /// Failed, to be retried at `next_attempt`: as [`Store::mark_failed`].
    Failed {
        /// When the next attempt is due.
        next_attempt: DateTime<Utc>,
    },
    /// Failed, waiting for re-delivery: as [`Store::mark_queued`].
    Queued,
}

/// One finished attempt of a claimed notification, for [`Store::record_attempts`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The notification.
    pub id: StableId,
    /// The fencing token of the lease the attempt ran under.
    pub token: u64,
    /// What the attempt leaves the notification in.
    pub outcome: AttemptOutcome,
    /// The attempt, for the delivery log.
    pub attempt: DeliveryAttempt,
}

/// How much of a receiver's response body the delivery log keeps.
pub const RESPONSE_EXCERPT_LIMIT: usize = 4096;

/// Which outbox rows [`Store::list_outbox`] returns: all filters must match; ordered by `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboxFilter {
    /// Only this instance's notifications.
    pub instance: Option<String>,
    /// Only rows with this status.
    pub status: Option<OutboxStatus>,
    /// Only rows with `seq` greater than this (paging).
    pub after_seq: Option<u64>,
    /// At most this many rows (`None`: all).
    pub limit: Option<usize>,
}

/// A pollen process as the store knows it: registered when it starts, its heartbeat renewed
/// while it runs (every third of its lease ttl). A worker whose heartbeat is older than its
/// ttl is dead: [`Store::release_dead_workers`] frees the leases and claims it still holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worker {
    /// Its name in leases and claims.
    pub id: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last reported itself alive.
    pub heartbeat_at: DateTime<Utc>,
    /// Its lease ttl, in milliseconds: how long a heartbeat stays valid.
    pub lease_ttl_ms: u64,
}

impl Worker {
    /// How long ago its last heartbeat was (zero when it is in the future: clock skew).
    pub fn heartbeat_age(&self, now: DateTime<Utc>) -> TimeDelta {
        (now - self.heartbeat_at).max(TimeDelta::zero())
    }

    /// Whether its heartbeat is older than its ttl at `now`.
    pub fn is_dead(&self, now: DateTime<Utc>) -> bool {
        let ttl = TimeDelta::milliseconds(i64::try_from(self.lease_ttl_ms).unwrap_or(i64::MAX));
        self.heartbeat_age(now) > ttl
    }
}

/// A registered worker and the work it holds, as [`Store::list_workers`] returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The worker.
    pub worker: Worker,
    /// The poll keys it holds a live lease on, in key order.
    pub polls: Vec<PollKey>,
    /// How many pending notifications it holds a live delivery lease on.
    pub notifications: u64,
}

/// What releasing workers freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedWork {
    /// Worker rows removed.
    pub workers: u64,
    /// Poll leases released (the keys are claimable at their due time, at once if overdue).
    pub polls: u64,
    /// Delivery leases released (the notifications are claimable at once, same ids).
    pub notifications: u64,
}

impl ReleasedWork {
    /// Leases and claims together.
    pub fn leases(&self) -> u64 {
        self.polls + self.notifications
    }
}

/// Durable state for the poller and the sender.
///
/// Implementations: [`MemoryStore`](crate::MemoryStore) here; SQLite and PostgreSQL in
/// `pollen-store`. Several processes may share one store: every method must be safe under
/// concurrency (in PostgreSQL, claims use `FOR UPDATE SKIP LOCKED`). The expected behaviour is
/// written as an executable suite, `pollen_core::testing::conformance` (feature `testing`).
///
/// Methods return boxed futures so that `dyn Store` works.
pub trait Store: Send + Sync + fmt::Debug {
    /// Creates the state of `key` with `watermark` and `next_due` unless it exists; returns
    /// the stored state either way. An existing watermark is never reset; an existing state
    /// paused by [`Store::pause_instance`] is resumed as it was (watermark, seen changes, due
    /// time).
    fn register<'a>(
        &'a self,
        key: &'a PollKey,
        watermark: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<PollState>>;

    /// Removes the state, the seen changes, the known ids, the checkpoint heads and window
    /// events of `key` (its outbox rows stay). Returns whether it existed.
    fn unregister<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<bool>>;

    /// Pauses every poll state of `instance`: none is claimed, nor counted by
    /// [`Store::next_due`], until [`Store::register`] is called for it again. Nothing else
    /// changes, so a resume continues from the watermark instead of polling the instance's
    /// history again. A poll in flight may still commit (fenced as usual); its state stays
    /// paused. Returns how many states were paused (already paused ones included).
    fn pause_instance<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<u64>>;

    /// The state of `key`.
    fn load<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<Option<PollState>>>;

    /// The earliest instant at which some state becomes claimable (its `next_due`, or its
    /// lease expiry when that is later and the lease is live); `None` when there is no state.
    fn next_due(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>>>;

    /// Claims up to `limit` states that are due at `now` and not leased (or whose lease has
    /// expired), earliest due first, giving each a new lease for `owner` until
    /// `now + lease_for` with a fresh, larger fencing token. Returns the claimed states.
    fn claim_due<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<PollState>>>;

    /// Gives up a lease without changing anything else (e.g. work this worker cannot run).
    /// `LeaseLost` if `token` is not the current lease's.
    fn release<'a>(&'a self, key: &'a PollKey, token: u64) -> BoxFuture<'a, Result<()>>;

    /// Extends the poll leases `owner` holds, each named by its key and fencing token, to
    /// `now + lease_for`. Returns, in order, whether each was renewed: `false` when the lease
    /// is no longer that token's (released, or claimed by another worker after it expired), and
    /// then the holder must stop: its writes would fail with `LeaseLost`. A lease that expired
    /// but was not claimed since is renewed (its token is still the current one).
    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        held: &'a [(PollKey, u64)],
        now: DateTime<Utc>,
        lease_for: TimeDelta,
    ) -> BoxFuture<'a, Result<Vec<bool>>>;

    /// Registers `worker`, or renews its row: host, pid, start, heartbeat and ttl as given.
    fn heartbeat<'a>(&'a self, worker: &'a Worker) -> BoxFuture<'a, Result<()>>;

    /// Frees the work of every worker dead at `now` (heartbeat older than its ttl): its poll
    /// leases and its delivery leases are released, its row removed. Fenced writes of such a
    /// worker, should it still be running, fail with `LeaseLost`.
    fn release_dead_workers(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<ReleasedWork>>;

    /// Removes worker `id`'s row and releases every poll lease and delivery lease held under
    /// that name, live or not: a graceful stop, or a restart under the same name.
    fn release_worker<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ReleasedWork>>;

    /// Removes every worker row and releases every poll lease and delivery lease: for a
    /// process that owns the store alone (an embedded database it holds a lock on), so that the
    /// work of its dead predecessor is taken up at once.
    fn release_all_workers(&self) -> BoxFuture<'_, Result<ReleasedWork>>;

    /// Every registered worker, dead or alive, by id, with the poll keys and notifications it
    /// holds a lease on that is live at `now`.
    fn list_workers(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<Vec<WorkerStatus>>>;

    /// For each of `ids`, whether it is a seen change of `key` (same order).
    fn seen<'a>(
        &'a self,
        key: &'a PollKey,
        ids: &'a [StableId],
    ) -> BoxFuture<'a, Result<Vec<bool>>>;

    /// Writes a finished poll atomically: watermark, next due, failures reset, lease released,
    /// `completed_polls + 1`, seen changes added (existing ones kept), old ones pruned,
    /// notifications appended to the outbox (as `Queued` when their lane's subscription is
    /// inactive, else `Pending` due at once; ids already in the outbox are skipped), `known`
    /// ids added, and a [`Reconciled`] applied (known ids added and removed, `reconciled_at`
    /// set). All or nothing; `LeaseLost` (and no change) if `lease_token` is not the current lease's.
    fn commit_poll(&self, commit: PollCommit) -> BoxFuture<'_, Result<()>>;

    /// Writes part of a running poll atomically: seen changes added (existing ones kept),
    /// notifications appended and `known` ids added exactly as [`Store::commit_poll`] does, while the watermark, next
    /// due time, failure count and lease stay unchanged. All or nothing; `LeaseLost` (and no
    /// change) if `lease_token` is not the current lease's.
    fn commit_progress(&self, progress: PollProgress) -> BoxFuture<'_, Result<()>>;

    /// Records a failed poll: failures + 1, `last_error`, `next_due`, lease released; the
    /// watermark is untouched. `LeaseLost` if `lease_token` is not the current lease's.
    fn record_failure(&self, failure: PollFailure) -> BoxFuture<'_, Result<()>>;

    /// Forgets seen changes of `key` with `at` before `before`; returns how many.
    fn prune_seen<'a>(
        &'a self,
        key: &'a PollKey,
        before: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<u64>>;

    /// How many seen changes `key` remembers.
    fn seen_count<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<u64>>;

    /// The latest checkpoint of each of `key`'s chains ([`PollCommit::checkpoints`]), by
    /// subscription (the callback first).
    fn checkpoint_heads<'a>(
        &'a self,
        key: &'a PollKey,
    ) -> BoxFuture<'a, Result<Vec<CheckpointHead>>>;

    /// The events of `key` written to checkpointed subscriptions since their last checkpoint
    /// ([`PollProgress::window`], [`PollCommit::window`]), sorted.
    fn window_events<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<Vec<WindowEvent>>>;

    /// The record ids `key` knows for reconciliation ([`PollCommit::known`],
    /// [`Reconciled`]), sorted.
    fn known_ids<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<Vec<String>>>;

    /// Activates or deactivates the subscription whose delivery lane is `lane` ([`crate::lane`]:
    /// the instance id for its Open Connectors callback, `instance/name` for a named
    /// subscription). Deactivating moves the lane's pending notifications to `Queued`;
    /// activating changes no notification (use [`Store::requeue`]).
    fn set_subscription_active<'a>(
        &'a self,
        lane: &'a str,
        active: bool,
    ) -> BoxFuture<'a, Result<()>>;

    /// Whether the subscription of `lane` is active (true unless deactivated).
    fn subscription_active<'a>(&'a self, lane: &'a str) -> BoxFuture<'a, Result<bool>>;

    /// Claims up to `limit` pending notifications due at `now` whose lease is absent or
    /// expired, in `(next_attempt, seq)` order, leasing them to `owner` until
    /// `now + lease_for` with fresh fencing tokens.
    fn claim_outbox<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>>>;

    /// [`Store::claim_outbox`], skipping the notifications of the lanes ([`crate::lane`]) named
    /// in `skip` and taking at most `per_instance` of any one lane (the parameter's name is
    /// older than subscriptions: a lane is an instance's callback or one of its subscriptions).
    ///
    /// The claim is the first `limit` notifications, in `(next_attempt, seq)` order, of the set
    /// made of each instance's first `per_instance` claimable notifications (instances in
    /// `skip` contribute none). The sender passes the instances whose endpoint is at its
    /// concurrency limit as `skip` and that limit as `per_instance`, so that the backlog of one
    /// slow endpoint never fills the claims and delays the others, and no claimed notification
    /// waits long for its endpoint while holding its lease.
    fn claim_outbox_skipping<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
        per_instance: usize,
        skip: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>>>;

    /// Marks a claimed notification delivered at `attempt.at` (attempts + 1, lease released)
    /// and appends `attempt` to its delivery log.
    fn mark_delivered<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, Result<()>>;

    /// Records a failed attempt: attempts + 1, `last_error` from `attempt.error`, pending again
    /// at `next_attempt`; appends `attempt` to the delivery log.
    fn mark_failed<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        next_attempt: DateTime<Utc>,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, Result<()>>;

    /// Records a failed attempt after which the notification waits for re-delivery
    /// (`Queued`): attempts + 1, `last_error`, lease released; appends `attempt` to the log.
    fn mark_queued<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, Result<()>>;

    /// Records several finished attempts at once, in one transaction where the store has them:
    /// the same changes as calling [`Store::mark_delivered`], [`Store::mark_failed`] or
    /// [`Store::mark_queued`] for each record in order, each fenced by its own token.
    ///
    /// Returns one result per record, in order: a record whose lease is no longer held
    /// (`LeaseLost`) or whose notification does not exist (`NotFound`) changes nothing, and
    /// does not stop the others. An outer `Err` is a store failure; the stores of this
    /// workspace write all the records in one transaction, so then none was recorded. A sender
    /// uses this to write many outcomes with one commit instead of one commit each.
    ///
    /// The default calls the per-record methods one after the other (not atomic: after an
    /// outer `Err`, the records before the failing one are written).
    fn record_attempts<'a>(
        &'a self,
        records: &'a [AttemptRecord],
    ) -> BoxFuture<'a, Result<Vec<Result<()>>>> {
        Box::pin(async move {
            let mut results = Vec::with_capacity(records.len());
            for r in records {
                let result = match r.outcome {
                    AttemptOutcome::Delivered => {
                        self.mark_delivered(&r.id, r.token, &r.attempt).await
                    }
                    AttemptOutcome::Failed { next_attempt } => {
                        self.mark_failed(&r.id, r.token, next_attempt, &r.attempt)
                            .await
                    }
                    AttemptOutcome::Queued => self.mark_queued(&r.id, r.token, &r.attempt).await,
                };
                match result {
                    Err(e) if !matches!(e.kind(), ErrorKind::LeaseLost | ErrorKind::NotFound) => {
                        return Err(e)
                    }
                    other => results.push(other),
                }
            }
            Ok(results)
        })
    }

    /// The delivery log of one notification, oldest attempt first (empty for unknown ids).
    fn list_attempts<'a>(&'a self, id: &'a StableId)
        -> BoxFuture<'a, Result<Vec<DeliveryAttempt>>>;

    /// Outbox rows matching `filter`, by `seq`.
    fn list_outbox<'a>(
        &'a self,
        filter: &'a OutboxFilter,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>>>;

    /// Makes the named notifications (in any status) pending again, due at `now`, with attempts
    /// reset and leases dropped; unknown ids are ignored. Returns how many changed.
    fn requeue<'a>(&'a self, ids: &'a [StableId], now: DateTime<Utc>)
        -> BoxFuture<'a, Result<u64>>;
}
