//! Shared test harness: a key polled by a scheduler over a `MemoryStore` and a `FakeSource`,
//! driven by a `ManualClock`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use futures::future::BoxFuture;
use pollen_core::testing::FakeSource;
use pollen_core::{
    CheckpointHead, Clock, DateField, DeliveryAttempt, Error, FieldPath, ManualClock, MemoryStore,
    OutboxEntry, OutboxFilter, PollCommit, PollFailure, PollKey, PollProgress, PollReport,
    PollSpec, PollState, ReleasedWork, RequestTemplate, Result, Rfc3339Dates, Scheduler,
    SchedulerConfig, StableId, Store, WindowEvent, Worker, WorkerStatus,
};

/// 2026-03-02 08:00:00 UTC: when the test instance is created.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

pub(crate) fn key() -> PollKey {
    PollKey::new("7001", "customers")
}

/// The Sage-like spec: `updated_at` / `created_at` as RFC 3339, 15 min interval.
pub(crate) fn spec(start: DateTime<Utc>) -> PollSpec {
    let mut spec = PollSpec::new(
        key(),
        RequestTemplate::new(
            "/hubs/finance/customers?where=lastModifiedDate>='${date}'",
            |at| {
                format!(
                    "/hubs/finance/customers?where=lastModifiedDate>='{}'",
                    at.to_rfc3339()
                )
            },
        ),
        start,
    );
    spec.updated = Some(DateField::new(
        FieldPath::parse("updated_at").unwrap(),
        Rfc3339Dates,
    ));
    spec.created = Some(DateField::new(
        FieldPath::parse("created_at").unwrap(),
        Rfc3339Dates,
    ));
    spec
}

/// One emitted event, flattened from the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Emitted {
    pub(crate) object_id: String,
    pub(crate) event_type: String,
    pub(crate) event_id: String,
}

pub(crate) struct Harness {
    pub(crate) clock: ManualClock,
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) source: FakeSource,
    pub(crate) scheduler: Scheduler,
}

impl Harness {
    pub(crate) async fn new(adjust: impl FnOnce(&mut PollSpec)) -> Harness {
        let clock = ManualClock::new(t0());
        let store = Arc::new(MemoryStore::new());
        let source = FakeSource::new(clock.clone());
        let scheduler = Scheduler::new(
            store.clone(),
            Arc::new(clock.clone()),
            SchedulerConfig::new("worker-a"),
        );
        let mut spec = spec(t0());
        adjust(&mut spec);
        scheduler
            .register(spec, Arc::new(source.clone()))
            .await
            .unwrap();
        Harness {
            clock,
            store,
            source,
            scheduler,
        }
    }

    pub(crate) async fn state(&self) -> PollState {
        self.store.load(&key()).await.unwrap().unwrap()
    }

    /// Moves the clock to the next due time (if it is in the future).
    pub(crate) async fn advance_to_due(&self) {
        let due = self.state().await.next_due;
        if due > self.clock.now() {
            self.clock.set(due);
        }
    }

    /// Runs the next poll: clock to its due time, then the poll. Returns its report.
    pub(crate) async fn poll(&self) -> PollReport {
        self.advance_to_due().await;
        self.run().await
    }

    /// Runs what is due now, expecting exactly one poll.
    pub(crate) async fn run(&self) -> PollReport {
        let mut reports = self.scheduler.run_due().await.unwrap();
        assert_eq!(reports.len(), 1, "expected one poll: {reports:?}");
        reports.pop().unwrap()
    }

    pub(crate) async fn outbox(&self) -> Vec<OutboxEntry> {
        self.store
            .list_outbox(&OutboxFilter::default())
            .await
            .unwrap()
    }

    pub(crate) async fn emitted(&self) -> Vec<Emitted> {
        emitted(self.store.as_ref()).await
    }
}

pub(crate) async fn emitted(store: &dyn Store) -> Vec<Emitted> {
    let mut out = Vec::new();
    for entry in store.list_outbox(&OutboxFilter::default()).await.unwrap() {
        let body = entry.notification.payload();
        for event in body["message"]["events"].as_array().unwrap() {
            out.push(Emitted {
                object_id: event["objectId"].as_str().unwrap().to_owned(),
                event_type: event["eventType"].as_str().unwrap().to_owned(),
                event_id: event["eventId"].as_str().unwrap().to_owned(),
            });
        }
    }
    out
}

/// How many times each object id was emitted.
pub(crate) fn counts(events: &[Emitted]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for e in events {
        *counts.entry(e.object_id.clone()).or_insert(0) += 1;
    }
    counts
}

/// A store whose process "dies" at commit: while `crash` is set, `commit_poll` and
/// `commit_progress` fail and `record_failure` is lost, exactly as when the process is killed
/// between fetch and commit.
#[derive(Debug)]
pub(crate) struct CrashingStore {
    pub(crate) inner: Arc<MemoryStore>,
    pub(crate) crash: AtomicBool,
    /// While set, progress writes still succeed: the process dies after writing part of a
    /// poll, before its final commit.
    pub(crate) progress_survives: AtomicBool,
}

impl Store for CrashingStore {
    fn register<'a>(
        &'a self,
        key: &'a PollKey,
        watermark: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<PollState>> {
        self.inner.register(key, watermark, next_due)
    }
    fn unregister<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<bool>> {
        self.inner.unregister(key)
    }
    fn pause_instance<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<u64>> {
        self.inner.pause_instance(instance)
    }
    fn load<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<Option<PollState>>> {
        self.inner.load(key)
    }
    fn next_due(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>>> {
        self.inner.next_due()
    }
    fn claim_due<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<PollState>>> {
        self.inner.claim_due(owner, now, lease_for, limit)
    }
    fn release<'a>(&'a self, key: &'a PollKey, token: u64) -> BoxFuture<'a, Result<()>> {
        self.inner.release(key, token)
    }
    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        held: &'a [(PollKey, u64)],
        now: DateTime<Utc>,
        lease_for: TimeDelta,
    ) -> BoxFuture<'a, Result<Vec<bool>>> {
        self.inner.renew_leases(owner, held, now, lease_for)
    }
    fn heartbeat<'a>(&'a self, worker: &'a Worker) -> BoxFuture<'a, Result<()>> {
        self.inner.heartbeat(worker)
    }
    fn release_dead_workers(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<ReleasedWork>> {
        self.inner.release_dead_workers(now)
    }
    fn release_worker<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ReleasedWork>> {
        self.inner.release_worker(id)
    }
    fn release_all_workers(&self) -> BoxFuture<'_, Result<ReleasedWork>> {
        self.inner.release_all_workers()
    }
    fn list_workers(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<Vec<WorkerStatus>>> {
        self.inner.list_workers(now)
    }
    fn seen<'a>(
        &'a self,
        key: &'a PollKey,
        ids: &'a [StableId],
    ) -> BoxFuture<'a, Result<Vec<bool>>> {
        self.inner.seen(key, ids)
    }
    fn commit_poll(&self, commit: PollCommit) -> BoxFuture<'_, Result<()>> {
        if self.crash.load(Ordering::SeqCst) {
            return Box::pin(async { Err(Error::store("simulated crash before commit")) });
        }
        self.inner.commit_poll(commit)
    }
    fn commit_progress(&self, progress: PollProgress) -> BoxFuture<'_, Result<()>> {
        if self.crash.load(Ordering::SeqCst) && !self.progress_survives.load(Ordering::SeqCst) {
            return Box::pin(async { Err(Error::store("simulated crash before commit")) });
        }
        self.inner.commit_progress(progress)
    }
    fn record_failure(&self, failure: PollFailure) -> BoxFuture<'_, Result<()>> {
        if self.crash.load(Ordering::SeqCst) {
            return Box::pin(async { Ok(()) });
        }
        self.inner.record_failure(failure)
    }
    fn prune_seen<'a>(
        &'a self,
        key: &'a PollKey,
        before: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<u64>> {
        self.inner.prune_seen(key, before)
    }
    fn seen_count<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<u64>> {
        self.inner.seen_count(key)
    }
    fn known_ids<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<Vec<String>>> {
        self.inner.known_ids(key)
    }
    fn checkpoint_heads<'a>(
        &'a self,
        key: &'a PollKey,
    ) -> BoxFuture<'a, Result<Vec<CheckpointHead>>> {
        self.inner.checkpoint_heads(key)
    }
    fn window_events<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, Result<Vec<WindowEvent>>> {
        self.inner.window_events(key)
    }
    fn set_subscription_active<'a>(
        &'a self,
        instance: &'a str,
        active: bool,
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.set_subscription_active(instance, active)
    }
    fn subscription_active<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<bool>> {
        self.inner.subscription_active(instance)
    }
    fn claim_outbox<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>>> {
        self.inner.claim_outbox(owner, now, lease_for, limit)
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
        self.inner
            .claim_outbox_skipping(owner, now, lease_for, limit, per_instance, skip)
    }
    fn mark_delivered<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.mark_delivered(id, token, attempt)
    }
    fn mark_failed<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        next_attempt: DateTime<Utc>,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.mark_failed(id, token, next_attempt, attempt)
    }
    fn mark_queued<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.mark_queued(id, token, attempt)
    }
    fn list_attempts<'a>(
        &'a self,
        id: &'a StableId,
    ) -> BoxFuture<'a, Result<Vec<DeliveryAttempt>>> {
        self.inner.list_attempts(id)
    }
    fn list_outbox<'a>(
        &'a self,
        filter: &'a OutboxFilter,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>>> {
        self.inner.list_outbox(filter)
    }
    fn requeue<'a>(
        &'a self,
        ids: &'a [StableId],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<u64>> {
        self.inner.requeue(ids, now)
    }
}

/// Lets every other task run until all are idle (with tokio's paused time, a sleep returns only
/// once nothing else can make progress).
pub(crate) async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
}
