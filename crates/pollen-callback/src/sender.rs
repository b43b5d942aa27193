//! The sender: claims due notifications, delivers them concurrently, records every attempt.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pollen_core::{
    AttemptOutcome, AttemptRecord, Clock, OutboxEntry, OutboxFilter, OutboxStatus, StableId, Store,
};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::attempt::{attempt, AttemptContext};
use crate::endpoint::Endpoints;
use crate::error::{Error, ErrorKind, Result};
use crate::guard::{AddressPolicy, GuardedResolver};
use crate::retry::{Next, RetryPolicy};

/// How a [`Sender`] works. Build with [`SenderConfig::new`], then set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SenderConfig {
    /// This worker's name in outbox leases.
    pub owner: String,
    /// The whole request, connect to last response byte read (default 30 s).
    pub timeout: Duration,
    /// Requests in flight to one instance's endpoint at most (default 4).
    pub per_endpoint_limit: usize,
    /// Requests in flight in total at most (default 256).
    pub global_limit: usize,
    /// Notifications claimed per store round trip at most (default 128).
    pub batch_size: usize,
    /// Claimed notifications waiting for their endpoint's turn, in total, at most
    /// (default 4096).
    pub max_waiting: usize,
    /// The lease taken on claimed notifications (default 5 min). An attempt starts only with
    /// at least `timeout` + 5 s of it left, so two workers never send one notification at once.
    pub lease_for: Duration,
    /// How often the outbox is checked when nothing woke the sender (default 1 s).
    pub poll_interval: Duration,
    /// Retries.
    pub retry: RetryPolicy,
    /// The SSRF guard.
    pub addresses: AddressPolicy,
}

impl SenderConfig {
    /// The defaults, for worker `owner`.
    pub fn new(owner: impl Into<String>) -> Self {
        SenderConfig {
            owner: owner.into(),
            timeout: Duration::from_secs(30),
            per_endpoint_limit: 4,
            global_limit: 256,
            batch_size: 128,
            max_waiting: 4096,
            lease_for: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            addresses: AddressPolicy::default(),
        }
    }

    fn validate(&self) -> Result<()> {
        let positive = [
            ("per_endpoint_limit", self.per_endpoint_limit),
            ("global_limit", self.global_limit),
            ("batch_size", self.batch_size),
            ("max_waiting", self.max_waiting),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::config(format!("sender {name} must be at least 1")));
            }
        }
        if self.lease_for <= self.timeout + LEASE_MARGIN {
            return Err(Error::config(format!(
                "sender lease ({:?}) must be longer than the timeout ({:?}) plus 5s",
                self.lease_for, self.timeout
            )));
        }
        Ok(())
    }
}

/// An attempt starts only with this much lease left beyond the timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Counters since the sender was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SenderStats {
    /// Attempts made.
    pub attempts: u64,
    /// Notifications delivered.
    pub delivered: u64,
    /// Failed attempts that will be retried.
    pub retried: u64,
    /// Notifications queued (410 or retries exhausted).
    pub queued: u64,
    /// Subscriptions deactivated.
    pub deactivations: u64,
}

#[derive(Debug, Default)]
struct Counters {
    attempts: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    queued: AtomicU64,
    deactivations: AtomicU64,
}

/// What to re-send with [`redeliver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redelivery {
    /// Every queued notification of this lane: an instance id (its callback) or
    /// `instance/name` (one of its subscriptions, see [`pollen_core::lane`]).
    Instance(String),
    /// These notifications, whatever their status.
    Ids(Vec<StableId>),
}

/// Re-activates subscriptions and makes notifications pending again, due at `now`; returns how
/// many were requeued.
///
/// For a lane: activates its subscription and requeues its queued notifications. For ids:
/// activates the subscriptions of the queued ones among them, and requeues them all (delivered
/// ones are sent again). Unknown ids are ignored.
pub async fn redeliver(store: &dyn Store, what: &Redelivery, now: DateTime<Utc>) -> Result<u64> {
    const PAGE: usize = 1000;
    let lane = match what {
        Redelivery::Instance(lane) => Some(lane.clone()),
        Redelivery::Ids(_) => None,
    };
    if let Some(lane) = &lane {
        store.set_subscription_active(lane, true).await?;
    }
    let wanted: HashSet<StableId> = match what {
        Redelivery::Ids(ids) => ids.iter().copied().collect(),
        Redelivery::Instance(_) => HashSet::new(),
    };
    let mut filter = OutboxFilter {
        instance: lane
            .as_deref()
            .map(|lane| pollen_core::split_lane(lane).0.to_owned()),
        status: Some(OutboxStatus::Queued),
        after_seq: None,
        limit: Some(PAGE),
    };
    let mut ids = Vec::new();
    let mut instances = HashSet::new();
    loop {
        let page = store.list_outbox(&filter).await?;
        for entry in &page {
            let id = entry.notification.id;
            if let Some(lane) = &lane {
                if entry.notification.lane() == *lane {
                    ids.push(id);
                }
            } else if wanted.contains(&id) {
                instances.insert(entry.notification.lane());
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => filter.after_seq = Some(last.seq),
            _ => break,
        }
    }
    for instance in &instances {
        store.set_subscription_active(instance, true).await?;
    }
    if let Redelivery::Ids(given) = what {
        ids.clone_from(given);
    }
    let mut changed = 0;
    for chunk in ids.chunks(PAGE) {
        changed += store.requeue(chunk, now).await?;
    }
    Ok(changed)
}

/// Drains the outbox: claims due notifications with a lease, POSTs each to its instance's
/// endpoint, and records the outcome and the attempt in the store.
///
/// Cheap to clone (clones share everything). See the crate documentation for the rules.
#[derive(Debug, Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    endpoints: Arc<dyn Endpoints>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    config: SenderConfig,
    wake: Notify,
    counters: Counters,
    /// Instances this process has no endpoint for, and until when their notifications are left
    /// alone: another worker (or a later configuration) may know them.
    unknown: std::sync::Mutex<HashMap<String, DateTime<Utc>>>,
}

/// Notifications of one endpoint claimed at most (in flight and waiting), as a multiple of
/// its in-flight limit: a busy endpoint keeps a short queue, so a claim serves many of its
/// requests instead of refilling one slot at a time, while a slow one holds few leases.
const LANE_DEPTH: usize = 16;

fn lane_capacity(config: &SenderConfig) -> usize {
    config.per_endpoint_limit.saturating_mul(LANE_DEPTH)
}

/// How long an instance without an endpoint here is skipped before it is looked up again.
const UNKNOWN_INSTANCE_RECHECK: TimeDelta = TimeDelta::seconds(30);

/// The claimed work of one `run` or `deliver_due`: per-instance lanes and the running tasks.
#[derive(Debug)]
struct Dispatch {
    lanes: HashMap<String, Lane>,
    /// Instances with entries waiting.
    backed_up: HashSet<String>,
    in_flight: usize,
    waiting: usize,
    tasks: JoinSet<Done>,
    /// The instance of each running task, to free its slot even if the task panics.
    task_instances: HashMap<tokio::task::Id, String>,
    /// Writes the tasks' outcomes to the store, many per transaction (started with the first
    /// task).
    recorder: Option<Recorder>,
    /// The last claim came back with fewer entries than it asked for: everything due then
    /// (outside the skipped instances) is claimed.
    starved: bool,
    /// Some instance left the skip list since the last claim.
    opened: bool,
    /// Tasks whose endpoint answered with success send their instance here before their
    /// outcome is written: the request is no longer in flight, so its slot is free at once
    /// (the row stays leased until the outcome is written).
    responded: (
        mpsc::UnboundedSender<String>,
        mpsc::UnboundedReceiver<String>,
    ),
}

impl Dispatch {
    fn new() -> Dispatch {
        Dispatch {
            lanes: HashMap::new(),
            backed_up: HashSet::new(),
            in_flight: 0,
            waiting: 0,
            tasks: JoinSet::new(),
            task_instances: HashMap::new(),
            recorder: None,
            starved: false,
            opened: false,
            responded: mpsc::unbounded_channel(),
        }
    }
}

/// One finished attempt on its way to the store, and where its result goes.
type Recording = (AttemptRecord, oneshot::Sender<pollen_core::Result<()>>);

/// The writer of outcomes: delivery tasks send their attempt records; one task writes
/// whatever has arrived with one [`Store::record_attempts`] call while the next batch
/// gathers (group commit), then answers each task. With a store that commits per
/// transaction, this turns one commit per delivery into one per batch.
#[derive(Debug, Clone)]
struct Recorder {
    records: mpsc::UnboundedSender<Recording>,
}

/// Records written per store call at most.
const RECORD_BATCH: usize = 512;

impl Recorder {
    /// Starts the writing task; it ends once every clone of the returned recorder is gone
    /// and the records sent before are written.
    fn start(store: Arc<dyn Store>) -> Recorder {
        let (records, mut incoming) = mpsc::unbounded_channel::<Recording>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(RECORD_BATCH);
            while incoming.recv_many(&mut batch, RECORD_BATCH).await > 0 {
                let (rows, replies): (Vec<AttemptRecord>, Vec<_>) = batch.drain(..).unzip();
                match store.record_attempts(&rows).await {
                    Ok(results) if results.len() == replies.len() => {
                        for (reply, result) in replies.into_iter().zip(results) {
                            // The task may be gone (shutdown): nothing to tell it.
                            let _ = reply.send(result);
                        }
                    }
                    Ok(results) => {
                        let e = pollen_core::Error::store(format!(
                            "the store answered {} of {} delivery records",
                            results.len(),
                            replies.len()
                        ));
                        for reply in replies {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Recorder { records }
    }

    /// Writes `record` (with others that arrive meanwhile) and returns its own result.
    async fn record(&self, record: AttemptRecord) -> Result<()> {
        let (reply, result) = oneshot::channel();
        let lost = || {
            Error::new(
                ErrorKind::Store,
                "store: the delivery recorder stopped before writing the outcome",
            )
        };
        self.records.send((record, reply)).map_err(|_| lost())?;
        Ok(result.await.map_err(|_| lost())??)
    }
}

#[derive(Debug, Default)]
struct Lane {
    in_flight: usize,
    waiting: VecDeque<OutboxEntry>,
}

#[derive(Debug)]
struct Done {
    instance: String,
    deactivated: bool,
    /// The request's slot was already freed through [`Dispatch::responded`].
    freed: bool,
}

impl Sender {
    /// A sender over `store`, finding endpoints in `endpoints`, on `clock`.
    pub fn new(
        store: Arc<dyn Store>,
        endpoints: Arc<dyn Endpoints>,
        clock: Arc<dyn Clock>,
        config: SenderConfig,
    ) -> Result<Sender> {
        config.validate()?;
        let resolver = GuardedResolver {
            policy: Arc::new(config.addresses.clone()),
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would connect on our behalf, out of the guard's sight.
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| Error::new(ErrorKind::Client, format!("http client: {e}")))?;
        Ok(Sender {
            inner: Arc::new(Inner {
                store,
                endpoints,
                clock,
                client,
                config,
                wake: Notify::new(),
                counters: Counters::default(),
                unknown: std::sync::Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Tells a running [`Sender::run`] that new notifications may be due (instead of waiting for
    /// the next poll interval).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The counters so far.
    pub fn stats(&self) -> SenderStats {
        let c = &self.inner.counters;
        SenderStats {
            attempts: c.attempts.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            queued: c.queued.load(Ordering::Relaxed),
            deactivations: c.deactivations.load(Ordering::Relaxed),
        }
    }

    /// [`redeliver`] at the sender's clock, then wakes the sender.
    pub async fn redeliver(&self, what: &Redelivery) -> Result<u64> {
        let changed = redeliver(&*self.inner.store, what, self.inner.clock.now()).await?;
        self.wake();
        Ok(changed)
    }

    /// Delivers until `shutdown` completes: claims whatever is due whenever there is room, woken
    /// by [`Sender::wake`], by finished deliveries, or every poll interval. Store errors are
    /// logged and retried after the poll interval. Attempts in flight at shutdown are abandoned;
    /// their leases expire and they are attempted again later.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut dispatch = Dispatch::new();
        let mut claim = true;
        loop {
            if claim {
                loop {
                    match self.pump(&mut dispatch).await {
                        Ok(full) if full => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "claiming due notifications failed");
                            break;
                        }
                    }
                }
            }
            let deadline = self.inner.clock.now() + to_delta(self.inner.config.poll_interval);
            claim = tokio::select! {
                () = &mut shutdown => break,
                () = self.inner.wake.notified() => true,
                Some(instance) = dispatch.responded.1.recv() => {
                    self.free_slot(&mut dispatch, &instance);
                    while let Ok(instance) = dispatch.responded.1.try_recv() {
                        self.free_slot(&mut dispatch, &instance);
                    }
                    self.start_waiting(&mut dispatch);
                    self.claim_after_finish(&dispatch)
                }
                Some(done) = dispatch.tasks.join_next_with_id(), if !dispatch.tasks.is_empty() => {
                    self.finish(&mut dispatch, done);
                    while let Some(done) = dispatch.tasks.try_join_next_with_id() {
                        self.finish(&mut dispatch, done);
                    }
                    self.claim_after_finish(&dispatch)
                }
                () = self.inner.clock.sleep_until(deadline) => true,
            };
        }
        dispatch.tasks.abort_all();
    }

    /// Whether to claim again after requests finished.
    fn claim_after_finish(&self, dispatch: &Dispatch) -> bool {
        // Claim again once a good part of a batch fits, not per finished request, and only if
        // the claim can find something new: after a claim that got everything due, a finished
        // request adds work only if its instance left the skip list (new commits wake the
        // sender; retries and expired leases fall due by the poll interval). An empty claim
        // still costs a store transaction (on SQLite a seek per instance with pending rows).
        let room = self
            .inner
            .config
            .global_limit
            .saturating_sub(dispatch.in_flight);
        room >= self
            .inner
            .config
            .batch_size
            .min(self.inner.config.global_limit)
            / 2
            && (!dispatch.starved || dispatch.opened)
    }

    /// Delivers everything due now and waits for the outcomes; returns the number of attempts.
    /// Notifications whose retry falls later stay pending. For tests and one-shot runs.
    pub async fn deliver_due(&self) -> Result<u64> {
        let before = self.inner.counters.attempts.load(Ordering::Relaxed);
        let mut dispatch = Dispatch::new();
        loop {
            let full = self.pump(&mut dispatch).await?;
            if full {
                continue;
            }
            match dispatch.tasks.join_next_with_id().await {
                Some(done) => {
                    // A task sends its instance before it ends: every early free is in the
                    // channel by now.
                    while let Ok(instance) = dispatch.responded.1.try_recv() {
                        self.free_slot(&mut dispatch, &instance);
                    }
                    self.finish(&mut dispatch, done);
                }
                None => break,
            }
        }
        Ok(self.inner.counters.attempts.load(Ordering::Relaxed) - before)
    }

    /// Claims once, as much as fits; returns whether the claim came back full (more may be due).
    async fn pump(&self, d: &mut Dispatch) -> Result<bool> {
        let config = &self.inner.config;
        let limit = config
            .batch_size
            .min(config.global_limit.saturating_sub(d.in_flight))
            .min(config.max_waiting.saturating_sub(d.waiting));
        if limit == 0 {
            return Ok(false);
        }
        let now = self.inner.clock.now();
        let mut skip: Vec<String> = d
            .lanes
            .iter()
            .filter(|(name, lane)| lane.in_flight + lane.waiting.len() >= self.lane_capacity(name))
            .map(|(instance, _)| instance.clone())
            .collect();
        skip.extend(self.inner.unknown_instances(now));
        let claimed = self
            .inner
            .store
            .claim_outbox_skipping(
                &config.owner,
                now,
                to_delta(config.lease_for),
                limit,
                lane_capacity(config),
                &skip,
            )
            .await?;
        let full = claimed.len() == limit;
        d.starved = !full;
        d.opened = false;
        for entry in claimed {
            let instance = entry.notification.lane();
            d.lanes
                .entry(instance.clone())
                .or_default()
                .waiting
                .push_back(entry);
            d.waiting += 1;
            d.backed_up.insert(instance);
        }
        self.start_waiting(d);
        Ok(full)
    }

    /// Starts waiting entries while their lanes and the global limit allow.
    fn start_waiting(&self, d: &mut Dispatch) {
        let config = &self.inner.config;
        if d.waiting == 0 || d.in_flight >= config.global_limit {
            return;
        }
        for instance in std::mem::take(&mut d.backed_up) {
            let Some(lane) = d.lanes.get_mut(&instance) else {
                continue;
            };
            let limit = self.lane_limit(&instance);
            while lane.in_flight < limit && d.in_flight < config.global_limit {
                let Some(entry) = lane.waiting.pop_front() else {
                    break;
                };
                d.waiting -= 1;
                let now = self.inner.clock.now();
                let lease_left = entry
                    .lease
                    .as_ref()
                    .map_or(TimeDelta::zero(), |l| l.expires_at - now);
                if lease_left < to_delta(config.timeout + LEASE_MARGIN) {
                    // Too late to finish under this lease: leave it to expire and be claimed again.
                    tracing::debug!(id = %entry.notification.id, "lease too short to attempt; skipped");
                    continue;
                }
                lane.in_flight += 1;
                d.in_flight += 1;
                let inner = self.inner.clone();
                let recorder = d
                    .recorder
                    .get_or_insert_with(|| Recorder::start(self.inner.store.clone()))
                    .clone();
                let responded = d.responded.0.clone();
                let task = d
                    .tasks
                    .spawn(async move { inner.process(entry, &recorder, &responded).await });
                d.task_instances.insert(task.id(), instance.clone());
            }
            if !lane.waiting.is_empty() {
                d.backed_up.insert(instance);
            } else if lane.in_flight == 0 {
                d.lanes.remove(&instance);
            }
        }
    }

    fn finish(
        &self,
        d: &mut Dispatch,
        done: std::result::Result<(tokio::task::Id, Done), tokio::task::JoinError>,
    ) {
        let (id, done) = match done {
            Ok((id, done)) => (id, done),
            Err(e) => {
                // A bug, not a delivery failure: the lease makes the notification claimable
                // again once it expires.
                tracing::error!(error = %e, "delivery task failed");
                let instance = d.task_instances.get(&e.id()).cloned().unwrap_or_default();
                (
                    e.id(),
                    Done {
                        instance,
                        deactivated: false,
                        freed: false,
                    },
                )
            }
        };
        d.task_instances.remove(&id);
        if !done.freed {
            self.free_slot(d, &done.instance);
        }
        if let Some(lane) = d.lanes.get_mut(&done.instance) {
            if done.deactivated {
                // Deactivation queued them and dropped their leases: do not send them.
                d.waiting -= lane.waiting.len();
                lane.waiting.clear();
                d.backed_up.remove(&done.instance);
            }
            if lane.in_flight == 0 && lane.waiting.is_empty() {
                d.lanes.remove(&done.instance);
            }
        }
        self.start_waiting(d);
    }

    /// Requests in flight to the endpoint of `lane` at most: its own limit, or the sender's.
    fn lane_limit(&self, lane: &str) -> usize {
        self.inner
            .endpoints
            .max_in_flight(lane)
            .unwrap_or(self.inner.config.per_endpoint_limit)
    }

    /// How many of `lane`'s notifications the sender holds at most (in flight and waiting).
    fn lane_capacity(&self, lane: &str) -> usize {
        self.lane_limit(lane).saturating_mul(LANE_DEPTH)
    }

    /// One request to `instance`'s endpoint is no longer in flight.
    fn free_slot(&self, d: &mut Dispatch, instance: &str) {
        // Saturating: a task that panicked after freeing its slot early is freed twice.
        d.in_flight = d.in_flight.saturating_sub(1);
        if let Some(lane) = d.lanes.get_mut(instance) {
            lane.in_flight = lane.in_flight.saturating_sub(1);
            if lane.in_flight + lane.waiting.len() < self.lane_capacity(instance) {
                d.opened = true;
            }
            if lane.in_flight == 0 && lane.waiting.is_empty() {
                d.lanes.remove(instance);
            }
        }
    }
}

impl Inner {
    /// Instances without an endpoint here whose recheck time has not come; forgets the others.
    fn unknown_instances(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut unknown = self
            .unknown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        unknown.retain(|_, until| *until > now);
        unknown.keys().cloned().collect()
    }

    /// One attempt of one claimed entry, recorded.
    async fn process(
        &self,
        entry: OutboxEntry,
        recorder: &Recorder,
        responded: &mpsc::UnboundedSender<String>,
    ) -> Done {
        let instance = entry.notification.lane();
        let freed = std::sync::atomic::AtomicBool::new(false);
        let free_early = || {
            // The dispatcher outlives its tasks except at shutdown, when nothing is waiting.
            if responded.send(instance.clone()).is_ok() {
                freed.store(true, Ordering::Relaxed);
            }
        };
        // One span per attempt; the notification id ties it to the poll that wrote it.
        let span = tracing::info_span!(
            "delivery",
            instance = %instance,
            resource = %entry.notification.key.resource,
            notification_id = %entry.notification.id,
            // Signed: an OpenTelemetry layer exports u64 fields as strings.
            attempt = i64::from(entry.attempts) + 1,
            status = tracing::field::Empty,
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let deactivated = match self
            .attempt_and_record(&entry, recorder, free_early, &span)
            .instrument(span.clone())
            .await
        {
            Ok(deactivated) => deactivated,
            Err(e) if e.kind() == ErrorKind::Store => {
                // LeaseLost included: someone else owns the notification now; the log of this
                // attempt is lost with the lease.
                tracing::warn!(id = %entry.notification.id, error = %e, "recording a delivery failed");
                false
            }
            Err(e) => {
                tracing::warn!(id = %entry.notification.id, error = %e, "delivery not attempted");
                false
            }
        };
        Done {
            instance,
            deactivated,
            freed: freed.load(Ordering::Relaxed),
        }
    }

    /// Returns whether the subscription was deactivated. Calls `free_early` once a successful
    /// response is in, before its outcome is written.
    async fn attempt_and_record(
        &self,
        entry: &OutboxEntry,
        recorder: &Recorder,
        free_early: impl FnOnce(),
        span: &tracing::Span,
    ) -> Result<bool> {
        let notification = &entry.notification;
        let lane = notification.lane();
        let instance = lane.as_str();
        let token = entry.lease.as_ref().map_or(0, |l| l.token);
        let Some(endpoint) = self.endpoints.endpoint(instance).await? else {
            // Not an attempt: this process does not know where the instance's notifications go
            // (another worker added it, or its notifications were turned off after they were
            // written). Hand the row back untouched and leave the instance alone for a while,
            // so a worker that knows it delivers it and no retry or deactivation is counted.
            let now = self.clock.now();
            self.unknown
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(instance.to_owned(), now + UNKNOWN_INSTANCE_RECHECK);
            self.store
                .requeue(&[notification.id], entry.next_attempt.max(now))
                .await?;
            tracing::warn!(
                instance,
                "no callback endpoint for this instance in this process; its notifications stay \
                 pending for a worker that has one"
            );
            return Ok(false);
        };
        let at = self.clock.now();
        let cx = AttemptContext {
            client: &self.client,
            policy: &self.config.addresses,
            timeout: self.config.timeout,
        };
        let body = bytes::Bytes::copy_from_slice(notification.body.as_bytes());
        let outcome = attempt(&cx, &endpoint, &notification.id.to_string(), &body, at).await;
        self.counters.attempts.fetch_add(1, Ordering::Relaxed);
        if let Some(status) = outcome.attempt.status {
            span.record("status", i64::from(status));
        }
        let mut row = outcome.attempt;
        let record = |outcome, attempt| AttemptRecord {
            id: notification.id,
            token,
            outcome,
            attempt,
        };
        let Some(failure) = outcome.failure else {
            span.record("outcome", "delivered");
            free_early();
            recorder
                .record(record(AttemptOutcome::Delivered, row))
                .await?;
            self.counters.delivered.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        };
        let failures = entry.attempts + 1;
        let next = {
            let mut rng = rand::thread_rng();
            self.config
                .retry
                .after_failure(failures, &failure, self.clock.now(), &mut rng)
        };
        span.record("otel.status_code", "ERROR");
        match next {
            Next::RetryAt(when) => {
                span.record("outcome", "retried");
                recorder
                    .record(record(AttemptOutcome::Failed { next_attempt: when }, row))
                    .await?;
                self.counters.retried.fetch_add(1, Ordering::Relaxed);
                Ok(false)
            }
            Next::Deactivate => {
                span.record("outcome", "queued");
                if !failure.gone {
                    let error = row.error.get_or_insert_with(String::new);
                    error.push_str(&format!(
                        " (attempt {failures}, the last retry: the subscription is deactivated)"
                    ));
                }
                // Queue this one first: deactivating drops the leases of pending notifications.
                let error = row.error.clone();
                recorder.record(record(AttemptOutcome::Queued, row)).await?;
                self.store.set_subscription_active(instance, false).await?;
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                self.counters.deactivations.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    instance,
                    error = error.as_deref().unwrap_or(""),
                    "subscription deactivated; its notifications are queued until redelivered"
                );
                Ok(true)
            }
        }
    }
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}
