//! The scheduler: claims due (instance, resource) polls from the store and runs them, bounded.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::poll::{backoff, next_slot, phase, run_poll, timeout_error, PollContext, PollSummary};
use crate::source::Source;
use crate::spec::{PollKey, PollSpec};
use crate::store::{PollFailure, PollState, Store};

/// How a [`Scheduler`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedulerConfig {
    /// This worker's name in leases (unique among the processes sharing a store).
    pub owner: String,
    /// At most this many polls at once in this process (default 16).
    pub concurrency: usize,
    /// A poll running longer is abandoned and counted as a failure (default 10 min).
    pub poll_timeout: TimeDelta,
    /// How long a poll lease lasts without renewal (default 30 s). While a poll runs,
    /// [`Scheduler::run`] renews its lease every third of this, so a long walk keeps its key
    /// however long it takes, and the key of a process that died is free within one ttl. A
    /// worker that misses its renewals past the ttl (stalled, cut off from the store) finds
    /// the lease taken: its poll stops and its writes fail with `LeaseLost`.
    pub lease_ttl: TimeDelta,
    /// When idle, look at the store again at least this often, for work other processes
    /// registered or released (default 5 s).
    pub idle_recheck: TimeDelta,
    /// When set, a newly registered key's first poll is due within this delay (spread by its
    /// jitter) instead of at its first regular slot (up to one interval away). The spread
    /// grows by 10 ms per key registered: a single instance polls at once, while 500 keys
    /// spread over 5 s.
    pub first_poll_within: Option<TimeDelta>,
}

/// How much of [`SchedulerConfig::first_poll_within`] each registered key adds to the spread of
/// first polls: 500 keys spread over 5 s.
const FIRST_POLL_SPACING: TimeDelta = TimeDelta::milliseconds(10);

impl SchedulerConfig {
    /// Defaults for a worker named `owner`.
    pub fn new(owner: impl Into<String>) -> Self {
        SchedulerConfig {
            owner: owner.into(),
            concurrency: 16,
            poll_timeout: TimeDelta::minutes(10),
            lease_ttl: TimeDelta::seconds(30),
            idle_recheck: TimeDelta::seconds(5),
            first_poll_within: None,
        }
    }
}

/// The result of one dispatched poll.
#[derive(Debug, Clone, PartialEq)]
pub struct PollReport {
    /// Which (instance, resource).
    pub key: PollKey,
    /// When it was due.
    pub due: DateTime<Utc>,
    /// When it was dispatched.
    pub dispatched: DateTime<Utc>,
    /// What it did, or why it failed.
    pub result: Result<PollSummary>,
}

#[derive(Debug, Clone)]
struct Registration {
    spec: Arc<PollSpec>,
    source: Arc<dyn Source>,
}

struct Shared {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
    registry: RwLock<HashMap<PollKey, Registration>>,
    permits: Arc<Semaphore>,
    wake: Notify,
    metrics: Metrics,
    /// The polls running here, by key: the lease each holds and how to stop it.
    in_flight: Mutex<HashMap<PollKey, InFlight>>,
}

/// A running poll's lease, and the signal that stops it when a renewal finds the lease gone.
#[derive(Debug, Clone)]
struct InFlight {
    token: u64,
    lost: Arc<Notify>,
}

/// A poll's place among the renewals, given up when the poll ends or is dropped.
struct Held<'a> {
    scheduler: &'a Scheduler,
    key: &'a PollKey,
    token: u64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.scheduler.in_flight();
        if in_flight.get(self.key).map(|poll| poll.token) == Some(self.token) {
            in_flight.remove(self.key);
        }
    }
}

/// What one [`Scheduler::renew_leases`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Renewal {
    /// Leases extended by another ttl.
    pub renewed: u64,
    /// Leases found taken by another worker (or released): their polls were told to stop.
    pub lost: u64,
}

/// Polls every registered (instance, resource) on its interval.
///
/// A cheap handle: clones share the registry, the permits and the counters. Each key is due at
/// its slots (`phase + k × interval`, see [`next_slot`]); due work is claimed from the
/// [`Store`] with a lease, so a key runs at most once at a time across all processes sharing
/// the store; at most [`SchedulerConfig::concurrency`] polls run at once here, each in its own
/// task with a timeout, so a slow or failing source only ever holds its own permit.
#[derive(Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("config", &self.shared.config)
            .field("registered", &self.registered())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler over `store` with `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: SchedulerConfig) -> Self {
        let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
        Scheduler {
            shared: Arc::new(Shared {
                store,
                clock,
                config,
                registry: RwLock::new(HashMap::new()),
                permits,
                wake: Notify::new(),
                metrics: Metrics::default(),
                in_flight: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Adds (or replaces) the spec and source of `spec.key`. The stored state is created on
    /// first registration — watermark at `spec.start`, first due at the key's first slot — and
    /// kept as it is on later ones: re-registering never resets a watermark.
    pub async fn register(&self, spec: PollSpec, source: Arc<dyn Source>) -> Result<PollState> {
        spec.validate()?;
        let now = self.shared.clock.now();
        let first_due = match self.shared.config.first_poll_within {
            Some(within) if within > TimeDelta::zero() => {
                let keys = i32::try_from(self.read_registry().len() + 1).unwrap_or(i32::MAX);
                let spread = within.min(FIRST_POLL_SPACING.checked_mul(keys).unwrap_or(within));
                now + phase(&spec.key, spread)
            }
            _ => next_slot(&spec.key, spec.refresh_interval, now),
        };
        let state = self
            .shared
            .store
            .register(&spec.key, spec.start, first_due)
            .await?;
        self.write_registry().insert(
            spec.key.clone(),
            Registration {
                spec: Arc::new(spec),
                source,
            },
        );
        self.shared.wake.notify_one();
        Ok(state)
    }

    /// Stops polling `key` and forgets its state and seen changes (its outbox rows stay).
    pub async fn unregister(&self, key: &PollKey) -> Result<bool> {
        self.write_registry().remove(key);
        self.shared.store.unregister(key).await
    }

    /// Stops polling every key of `instance`, here and (through the store) in every process
    /// sharing it, keeping their stored states: registering a key again resumes it from its
    /// watermark. Returns how many stored states were paused.
    pub async fn pause_instance(&self, instance: &str) -> Result<u64> {
        self.write_registry()
            .retain(|key, _| key.instance != instance);
        self.shared.store.pause_instance(instance).await
    }

    /// How many keys are registered here.
    pub fn registered(&self) -> usize {
        self.read_registry().len()
    }

    /// Looks at the store again now instead of at the next due time or idle check: for work
    /// that became claimable elsewhere (a dead worker's leases released, say).
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// The counters.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics.snapshot()
    }

    /// Events committed, by resource and type.
    pub fn events_by_resource(&self) -> Vec<crate::metrics::EventCount> {
        self.shared.metrics.events_by_resource()
    }

    /// The poll keys running here now, with the fencing token of each one's lease.
    pub fn held_leases(&self) -> Vec<(PollKey, u64)> {
        let mut held: Vec<(PollKey, u64)> = self
            .in_flight()
            .iter()
            .map(|(key, poll)| (key.clone(), poll.token))
            .collect();
        held.sort();
        held
    }

    /// Extends the lease of every poll running here by one ttl from now. A lease found taken
    /// by another worker stops its poll at once (uncommitted: the poll reports `LeaseLost`).
    /// [`Scheduler::run`] calls this every third of the ttl; tests call it directly.
    pub async fn renew_leases(&self) -> Result<Renewal> {
        let held = self.held_leases();
        if held.is_empty() {
            return Ok(Renewal::default());
        }
        let shared = &self.shared;
        let now = shared.clock.now();
        let renewed = shared
            .store
            .renew_leases(&shared.config.owner, &held, now, self.lease_for())
            .await?;
        let mut report = Renewal::default();
        let in_flight = self.in_flight();
        for ((key, token), renewed) in held.iter().zip(renewed) {
            if renewed {
                report.renewed += 1;
                continue;
            }
            report.lost += 1;
            if let Some(poll) = in_flight.get(key).filter(|poll| poll.token == *token) {
                tracing::warn!(%key, token, "lease taken by another worker: stopping the poll");
                poll.lost.notify_one();
            }
        }
        drop(in_flight);
        shared.metrics.add_lease_renewals(report.renewed);
        Ok(report)
    }

    /// Renews the leases of the polls in flight every third of the ttl, for ever; a failed
    /// renewal is tried again after a second (the ttl leaves room for two more tries).
    async fn keep_leases(&self) {
        let shared = &self.shared;
        let every = (shared.config.lease_ttl / 3).max(TimeDelta::milliseconds(10));
        let mut next = shared.clock.now() + every;
        loop {
            shared.clock.sleep_until(next).await;
            next = match self.renew_leases().await {
                Ok(_) => shared.clock.now() + every,
                Err(error) => {
                    tracing::error!(%error, "renewing poll leases failed");
                    shared.clock.now() + every.min(TimeDelta::seconds(1))
                }
            };
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<PollKey, InFlight>> {
        // Plain data: consistent after a panic elsewhere.
        self.shared
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs every poll due now, at most `concurrency` at a time, and returns when they are all
    /// done. Deterministic: tests drive the scheduler with this and a [`ManualClock`](crate::ManualClock).
    pub async fn run_due(&self) -> Result<Vec<PollReport>> {
        let mut reports = Vec::new();
        let limit = self.shared.config.concurrency.max(1);
        loop {
            let now = self.shared.clock.now();
            let claimed = self
                .shared
                .store
                .claim_due(&self.shared.config.owner, now, self.lease_for(), limit)
                .await?;
            if claimed.is_empty() {
                return Ok(reports);
            }
            let mut runs = Vec::new();
            for state in claimed {
                match self.registration(&state.key) {
                    Some(registration) => runs.push(self.run_claimed(registration, state)),
                    None => self.release_foreign(&state).await,
                }
            }
            if runs.is_empty() {
                return Ok(reports);
            }
            reports.extend(join_all(runs).await);
        }
    }

    /// Polls until `shutdown` completes; polls still in flight then are abandoned uncommitted.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        // Side by side: a renewal never waits for a claim the store is slow to answer.
        tokio::select! {
            result = self.claim_and_dispatch(shutdown) => result,
            () = self.keep_leases() => Ok(()),
        }
    }

    /// [`Scheduler::run`]'s loop: claims due work, spawns its polls, sleeps until more is due.
    async fn claim_and_dispatch(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        let mut tasks: JoinSet<()> = JoinSet::new();
        let shared = &self.shared;
        loop {
            while tasks.try_join_next().is_some() {}
            let now = shared.clock.now();
            let free = shared.permits.available_permits();
            let mut saturated = free == 0;
            let mut foreign = false;
            if free > 0 {
                match shared
                    .store
                    .claim_due(&shared.config.owner, now, self.lease_for(), free)
                    .await
                {
                    Ok(claimed) => {
                        saturated = claimed.len() == free;
                        for state in claimed {
                            let Some(registration) = self.registration(&state.key) else {
                                self.release_foreign(&state).await;
                                foreign = true;
                                continue;
                            };
                            let Ok(permit) = Arc::clone(&shared.permits).try_acquire_owned() else {
                                // Unreachable while only this loop takes permits; give the
                                // lease back rather than run over the limit.
                                self.release_foreign(&state).await;
                                continue;
                            };
                            let this = self.clone();
                            tasks.spawn(async move {
                                this.run_claimed(registration, state).await;
                                drop(permit);
                                this.shared.wake.notify_one();
                            });
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "claiming due polls failed");
                    }
                }
            }
            let recheck = now + shared.config.idle_recheck;
            let wake_at = if saturated || foreign {
                recheck
            } else {
                match shared.store.next_due().await {
                    Ok(Some(due)) => due.min(recheck),
                    Ok(None) => recheck,
                    Err(error) => {
                        tracing::error!(%error, "reading the next due time failed");
                        recheck
                    }
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = shared.wake.notified() => {}
                () = shared.clock.sleep_until(wake_at) => {}
            }
        }
        // Abandon the polls in flight: their watermarks do not move (that is the final commit's
        // job), what they wrote as progress stays and is suppressed as seen when the work is
        // polled again after their leases expire.
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        Ok(())
    }

    fn lease_for(&self) -> TimeDelta {
        self.shared.config.lease_ttl
    }

    fn registration(&self, key: &PollKey) -> Option<Registration> {
        self.read_registry().get(key).cloned()
    }

    fn read_registry(&self) -> std::sync::RwLockReadGuard<'_, HashMap<PollKey, Registration>> {
        // The registry holds plain data; a panic elsewhere cannot leave it half-written.
        self.shared
            .registry
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_registry(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<PollKey, Registration>> {
        self.shared
            .registry
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Work claimed from the store that this process has no registration for: give it back.
    async fn release_foreign(&self, state: &PollState) {
        if let Some(lease) = &state.lease {
            if let Err(error) = self.shared.store.release(&state.key, lease.token).await {
                tracing::warn!(key = %state.key, %error, "releasing an unregistered poll failed");
            }
        }
    }

    async fn run_claimed(&self, registration: Registration, state: PollState) -> PollReport {
        let shared = &self.shared;
        let spec = &registration.spec;
        let dispatched = shared.clock.now();
        let lag = (dispatched - state.next_due).max(TimeDelta::zero());
        shared
            .metrics
            .record_dispatch_lag(lag.num_microseconds().unwrap_or(i64::MAX) as u64);
        shared.metrics.add_polls_started(1);
        let span = tracing::info_span!(
            "poll",
            instance = %spec.key.instance,
            resource = %spec.key.resource,
            watermark = %state.watermark,
            since = %spec.window_start(state.watermark),
            outcome = tracing::field::Empty,
            pages = tracing::field::Empty,
            events = tracing::field::Empty,
            // Read by an OpenTelemetry layer, when one is installed, as the span's status.
            otel.status_code = tracing::field::Empty,
        );
        let ctx = PollContext {
            store: shared.store.as_ref(),
            clock: shared.clock.as_ref(),
            metrics: &shared.metrics,
            // A reconciliation gets the first three quarters of the poll's time, so that the
            // poll still commits its changes when the walk is slow.
            reconcile_deadline: Some(dispatched + shared.config.poll_timeout * 3 / 4),
        };
        let deadline = dispatched + shared.config.poll_timeout;
        let lost = Arc::new(Notify::new());
        // Removed from the renewals when the poll ends, or is dropped (aborted at shutdown).
        let held = state.lease.as_ref().map(|lease| {
            self.in_flight().insert(
                spec.key.clone(),
                InFlight {
                    token: lease.token,
                    lost: lost.clone(),
                },
            );
            Held {
                scheduler: self,
                key: &spec.key,
                token: lease.token,
            }
        });
        let result = async {
            tokio::select! {
                result = run_poll(&ctx, spec, registration.source.as_ref(), &state) => result,
                () = shared.clock.sleep_until(deadline) => {
                    Err(timeout_error(&spec.key, shared.config.poll_timeout))
                }
                () = lost.notified() => Err(Error::lease_lost(&spec.key)),
            }
        }
        .instrument(span.clone())
        .await;
        drop(held);
        let _entered = span.enter();
        match &result {
            Ok(summary) => {
                shared.metrics.add_polls_succeeded(1);
                span.record("outcome", "committed");
                // Signed: an OpenTelemetry layer exports u64 fields as strings.
                span.record("pages", i64::from(summary.pages));
                span.record("events", summary.events as i64);
                tracing::debug!(
                    events = summary.events,
                    duplicates = summary.duplicates,
                    shifted = summary.shifted,
                    "poll committed"
                );
            }
            Err(error) => {
                shared.metrics.add_polls_failed(1);
                span.record("outcome", "failed");
                span.record("otel.status_code", "ERROR");
                if error.kind() == ErrorKind::LeaseLost {
                    shared.metrics.add_leases_lost(1);
                    tracing::warn!(%error, "poll discarded: lease lost");
                } else if let Some(lease) = &state.lease {
                    let failures = state.consecutive_failures + 1;
                    let next_due = shared.clock.now() + backoff(spec.refresh_interval, failures);
                    tracing::warn!(%error, failures, %next_due, "poll failed; watermark kept");
                    let failure = PollFailure {
                        key: spec.key.clone(),
                        lease_token: lease.token,
                        next_due,
                        error: error.to_string(),
                    };
                    if let Err(store_error) = shared.store.record_failure(failure).await {
                        tracing::error!(%store_error, "recording the failed poll failed");
                    }
                }
            }
        }
        PollReport {
            key: spec.key.clone(),
            due: state.next_due,
            dispatched,
            result,
        }
    }
}
