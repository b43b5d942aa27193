//! The engine: one Sage source per instance, a [`Scheduler`] polling them and a [`Sender`]
//! delivering their notifications, over one [`SqlStore`], until a shutdown signal.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pollen_callback::{
    AddressPolicy, Endpoint, EndpointMap, RetryPolicy, Sender, SenderConfig, SenderStats,
};
use pollen_core::{
    Clock, MetricsSnapshot, PollKey, PollSpec, ReleasedWork, Scheduler, SchedulerConfig, Store,
    SystemClock, Worker,
};
use pollen_sage::{AuthStats, BudgetUsage, RateBudget, SageSource};
use pollen_store::{Instance, InstanceStatus, RetiredKey, SqlStore};
use tokio::sync::watch;

use crate::error::{Error, ErrorKind, Result};
use crate::tokens::{SqlBudgetStore, SqlTokenStore};

/// How an [`Engine`] runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineOptions {
    /// This worker's name in leases; unique among the processes sharing a database.
    pub owner: String,
    /// Deliver to loopback and private addresses (`--allow-private-callbacks`).
    pub allow_private_callbacks: bool,
    /// Poll every resource this often instead of its configured refresh interval (the demo).
    pub refresh_interval: Option<TimeDelta>,
    /// A newly added instance's first poll is due within this delay.
    pub first_poll_within: Option<TimeDelta>,
    /// How often the outbox is checked when nothing new was committed.
    pub delivery_interval: Duration,
    /// A delivery attempt's timeout.
    pub delivery_timeout: Duration,
    /// At shutdown, wait at most this long for the poller and the sender to stop.
    pub shutdown_grace: Duration,
    /// A poll running longer is abandoned (default 10 min).
    pub poll_timeout: Option<TimeDelta>,
    /// How long a lease lasts without renewal (default 30 s, `--lease-ttl`). This process
    /// renews its poll leases and its worker heartbeat every third of it; the work of a process
    /// that died is taken over by the others once its heartbeat is older than this (at once by
    /// the next process on an embedded database, which it holds alone).
    pub lease_ttl: TimeDelta,
    /// The delivery retry schedule (default the vendor's, see `pollen_callback::RetryPolicy`).
    pub delivery_retry: Option<RetryPolicy>,
    /// How often [`Engine::run`] reads the stored instances to follow what other processes
    /// sharing the database changed: instances created, edited, paused, resumed or deleted
    /// there (default 10 s).
    pub instance_sync: Duration,
    /// The rate budget of a Sage business whose instances set no `sage.rate_limit`, in calls
    /// a minute (default 200, `--sage-rate-limit`; 0: no budget for them).
    pub sage_rate_limit: u32,
    /// Operational alerts: the server-wide URL and secret, the failure threshold.
    pub alerts: crate::alerts::AlertOptions,
}

impl EngineOptions {
    /// Defaults for a worker named after this host and process.
    pub fn new() -> Self {
        EngineOptions {
            owner: default_owner(),
            allow_private_callbacks: false,
            refresh_interval: None,
            first_poll_within: Some(TimeDelta::seconds(5)),
            delivery_interval: Duration::from_secs(1),
            delivery_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            poll_timeout: None,
            lease_ttl: DEFAULT_LEASE_TTL,
            delivery_retry: None,
            instance_sync: Duration::from_secs(10),
            sage_rate_limit: pollen_sage::DEFAULT_RATE_LIMIT,
            alerts: crate::alerts::AlertOptions::new(),
        }
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions::new()
    }
}

/// [`EngineOptions::lease_ttl`] by default.
pub const DEFAULT_LEASE_TTL: TimeDelta = TimeDelta::seconds(30);

/// How often the engine checks whether the poller enqueued notifications, to wake the sender.
const WAKE_CHECK: Duration = Duration::from_millis(20);

/// How often the engine looks for running replays (at once when one starts here).
const REPLAY_INTERVAL: Duration = Duration::from_secs(1);

/// How often it tries the next chunk while a replay runs (the chunk waits for the backlog).
const REPLAY_STEP: Duration = Duration::from_millis(100);

/// `pollen-<pid>-<random>`: unique per process, so two workers never share a lease.
fn default_owner() -> String {
    format!(
        "pollen-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Polls every added instance and delivers its notifications. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<SqlStore>,
    scheduler: Scheduler,
    sender: Sender,
    endpoints: Arc<EndpointMap>,
    options: EngineOptions,
    /// The poll keys and source of each added instance, by instance key.
    instances: Mutex<HashMap<String, Added>>,
    /// Token grants of sources since replaced or removed, so the totals never go down.
    retired_auth: Mutex<AuthStats>,
    /// The `updated_at` of the stored row each instance was last added (or paused) from,
    /// by instance key: a sync re-adds an instance whose row has changed since.
    applied: Mutex<HashMap<String, DateTime<Utc>>>,
    /// This process in the worker registry (its heartbeat instant is set at each renewal).
    worker: Worker,
    /// When this process last wrote its heartbeat.
    last_heartbeat: Mutex<Option<DateTime<Utc>>>,
    /// Poll leases and delivery leases of dead workers this process released.
    leases_taken_over: AtomicU64,
    /// The Sage rate budgets every source draws from: in memory on an embedded database this
    /// process holds alone, in the database when processes share it.
    budget: Arc<RateBudget>,
    /// Wakes the replay loop when a replay was started here.
    replays: tokio::sync::Notify,
    /// Notifications this process re-queued for replays.
    replayed: AtomicU64,
    /// Signed POSTs of the alerts.
    poster: pollen_callback::Poster,
    /// Alert deliveries by outcome.
    alert_counters: crate::alerts::AlertCounters,
}

#[derive(Debug, Clone)]
struct Added {
    keys: Vec<PollKey>,
    source: Arc<SageSource>,
}

impl Engine {
    /// An engine over `store`; nothing runs until [`Engine::run`].
    pub fn new(store: Arc<SqlStore>, options: EngineOptions) -> Result<Engine> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let core_store: Arc<dyn Store> = store.clone();
        let mut scheduler_config = SchedulerConfig::new(options.owner.clone());
        scheduler_config.first_poll_within = options.first_poll_within;
        scheduler_config.lease_ttl = options.lease_ttl;
        if let Some(timeout) = options.poll_timeout {
            scheduler_config.poll_timeout = timeout;
        }
        let scheduler = Scheduler::new(core_store.clone(), clock.clone(), scheduler_config);
        let endpoints = Arc::new(EndpointMap::new());
        let mut sender_config = SenderConfig::new(options.owner.clone());
        sender_config.poll_interval = options.delivery_interval;
        sender_config.timeout = options.delivery_timeout;
        // Short leases: an attempt abandoned at shutdown is retried soon after a restart.
        sender_config.lease_for = options.delivery_timeout + Duration::from_secs(10);
        if options.allow_private_callbacks {
            sender_config.addresses = AddressPolicy::allow_private();
        }
        if let Some(retry) = &options.delivery_retry {
            sender_config.retry = retry.clone();
        }
        let poster = pollen_callback::Poster::new(
            sender_config.addresses.clone(),
            options.delivery_timeout.min(Duration::from_secs(10)),
        )
        .map_err(Error::wrap(
            ErrorKind::Callback,
            "setting up alert delivery",
        ))?;
        let sender = Sender::new(core_store, endpoints.clone(), clock, sender_config)
            .map_err(Error::wrap(ErrorKind::Callback, "setting up delivery"))?;
        let now = Utc::now();
        let worker = Worker {
            id: options.owner.clone(),
            host: hostname(),
            pid: std::process::id(),
            started_at: now,
            heartbeat_at: now,
            lease_ttl_ms: u64::try_from(options.lease_ttl.num_milliseconds()).unwrap_or(0),
        };
        let budget = Arc::new(if store.exclusive() {
            RateBudget::in_memory()
        } else {
            RateBudget::new(Arc::new(SqlBudgetStore::new(store.clone())))
        });
        Ok(Engine {
            inner: Arc::new(Inner {
                store,
                scheduler,
                sender,
                endpoints,
                options,
                instances: Mutex::new(HashMap::new()),
                retired_auth: Mutex::new(AuthStats::default()),
                applied: Mutex::new(HashMap::new()),
                worker,
                last_heartbeat: Mutex::new(None),
                leases_taken_over: AtomicU64::new(0),
                budget,
                replays: tokio::sync::Notify::new(),
                replayed: AtomicU64::new(0),
                poster,
                alert_counters: crate::alerts::AlertCounters::default(),
            }),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<SqlStore> {
        &self.inner.store
    }

    /// The sender (for redelivery and its counters).
    pub fn sender(&self) -> &Sender {
        &self.inner.sender
    }

    /// The poller's counters.
    pub fn poll_metrics(&self) -> MetricsSnapshot {
        self.inner.scheduler.metrics()
    }

    /// Events committed by this process, by resource and type.
    pub fn events_by_resource(&self) -> Vec<pollen_core::EventCount> {
        self.inner.scheduler.events_by_resource()
    }

    /// This process's row in the worker registry, as of its last heartbeat.
    pub fn worker(&self) -> Worker {
        let mut worker = self.inner.worker.clone();
        if let Some(at) = *self.last_heartbeat() {
            worker.heartbeat_at = at;
        }
        worker
    }

    /// How long ago this process last wrote its heartbeat (`None` before the first): it grows
    /// past the ttl when the database cannot be reached, and then the others take over.
    pub fn heartbeat_age(&self) -> Option<TimeDelta> {
        self.last_heartbeat()
            .map(|at| (Utc::now() - at).max(TimeDelta::zero()))
    }

    /// Poll leases and delivery leases of dead workers (or, on an embedded database, of the
    /// process before this one) that this process released so that they are taken up at once.
    pub fn leases_taken_over(&self) -> u64 {
        self.inner.leases_taken_over.load(Ordering::Relaxed)
    }

    /// Notifications this process re-queued for replays (any process may move a replay on).
    pub fn replayed(&self) -> u64 {
        self.inner.replayed.load(Ordering::Relaxed)
    }

    /// Alert deliveries this process made, by outcome (`delivered`, `failed` and retried,
    /// `given_up`, `skipped` for a target without a URL).
    pub fn alert_deliveries(&self) -> [(&'static str, u64); 4] {
        self.inner.alert_counters.snapshot()
    }

    /// The alerts open in the whole database at this process's last check.
    pub fn open_alerts(&self) -> u64 {
        self.inner.alert_counters.open.load(Ordering::Relaxed)
    }

    fn last_heartbeat(&self) -> std::sync::MutexGuard<'_, Option<DateTime<Utc>>> {
        // A plain value: consistent after a panic elsewhere.
        self.inner
            .last_heartbeat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Looks for due polls now rather than at the next idle check (after a rewind, say).
    pub fn wake_poller(&self) {
        self.inner.scheduler.wake();
    }

    /// Moves the running replays on now rather than at the next look (after starting one).
    pub fn wake_replays(&self) {
        self.inner.replays.notify_one();
    }

    /// What each Sage business's rate budget did in this process.
    pub fn budget_usage(&self) -> Vec<BudgetUsage> {
        self.inner.budget.usage()
    }

    /// The sender's counters.
    pub fn delivery_stats(&self) -> SenderStats {
        self.inner.sender.stats()
    }

    /// Token grants (code exchanges, refreshes) of every instance since the engine started.
    pub fn auth_stats(&self) -> AuthStats {
        let retired = *self
            .inner
            .retired_auth
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.lock().values().fold(retired, |total, added| {
            add_auth_stats(total, added.source.auth_stats())
        })
    }

    fn retire(&self, source: &SageSource) {
        let mut retired = self
            .inner
            .retired_auth
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *retired = add_auth_stats(*retired, source.auth_stats());
    }

    /// The Sage source of an added instance.
    pub fn source(&self, instance: &str) -> Option<Arc<SageSource>> {
        self.lock().get(instance).map(|added| added.source.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Added>> {
        // Plain data, replaced whole: consistent after a panic elsewhere.
        self.inner
            .instances
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts polling `instance` (or replaces its settings): builds its Sage source with tokens
    /// kept in the store, exchanges `providerData.code` if no worker did before (a grant code
    /// works once: a restart does not exchange again), registers one poll per resource and its
    /// callback endpoint. A disabled instance, or one that needs re-authorization, is paused
    /// instead: its poll states stay in the store, untouched, and adding it again once it is
    /// active resumes each from its watermark.
    pub async fn add_instance(&self, instance: &Instance) -> Result<()> {
        let result = self.apply_instance(instance).await;
        // Recorded even when it failed: a refused grant marks the instance in the store
        // (a new row version), anything else is not retried by every sync.
        self.applied().insert(instance.key(), instance.updated_at);
        result
    }

    async fn apply_instance(&self, instance: &Instance) -> Result<()> {
        let key = instance.key();
        // The endpoint first: a paused instance's notifications already written still go out.
        let endpoint = Endpoint::from_config(&instance.config).map_err(Error::wrap(
            ErrorKind::Callback,
            format_args!("instance {key}"),
        ))?;
        // Keys a rotation replaced sign too until their grace period ends.
        let retired = self
            .inner
            .store
            .retired_signing_keys(instance.id, chrono::Utc::now())
            .await
            .map_err(Error::wrap(
                ErrorKind::Store,
                format_args!("instance {key}: reading retired signing keys"),
            ))?;
        match endpoint {
            Some(endpoint) => {
                let endpoint = crate::keys::with_retired(endpoint, &retired, None);
                self.inner.endpoints.insert(key.clone(), endpoint);
            }
            None => {
                self.inner.endpoints.remove(&key);
            }
        }
        self.apply_subscriptions(instance, &retired)?;
        if instance.status != InstanceStatus::Active {
            self.pause_instance(&key).await?;
            return Ok(());
        }
        let source = self.build_source(instance).await?;
        let mut specs =
            PollSpec::from_config(&key, &instance.config, instance.created_at).map_err(
                Error::wrap(ErrorKind::InvalidInput, format_args!("instance {key}")),
            )?;
        if let Some(every) = self.inner.options.refresh_interval {
            for spec in &mut specs {
                spec.refresh_interval = every;
            }
        }
        let previous = self.lock().remove(&key);
        let new_keys: Vec<PollKey> = specs.iter().map(|s| s.key.clone()).collect();
        if let Some(previous) = previous {
            for old in previous.keys.iter().filter(|k| !new_keys.contains(k)) {
                self.inner
                    .scheduler
                    .unregister(old)
                    .await
                    .map_err(Error::wrap(
                        ErrorKind::Store,
                        format_args!("unregistering {old}"),
                    ))?;
            }
        }
        let as_source: Arc<dyn pollen_core::Source> = source.clone();
        for spec in specs {
            let poll_key = spec.key.clone();
            let interval = spec.refresh_interval;
            self.inner
                .scheduler
                .register(spec, as_source.clone())
                .await
                .map_err(Error::wrap(
                    ErrorKind::Store,
                    format_args!("registering {poll_key}"),
                ))?;
            // The stall deadline of its alert follows the interval.
            self.inner
                .store
                .set_poll_interval(&poll_key, interval)
                .await
                .map_err(Error::wrap(
                    ErrorKind::Store,
                    format_args!("registering {poll_key}"),
                ))?;
        }
        let replaced = self.lock().insert(
            key,
            Added {
                keys: new_keys,
                source,
            },
        );
        if let Some(old) = replaced {
            self.retire(&old.source);
        }
        Ok(())
    }

    /// The endpoints of the instance's `event.notification.subscriptions`, one per lane
    /// (`instance/name`); those of subscriptions that are gone are dropped. Their
    /// notifications already written still go out while the subscription exists.
    fn apply_subscriptions(&self, instance: &Instance, retired: &[RetiredKey]) -> Result<()> {
        let key = instance.key();
        let notification = &instance.config.configuration.notification;
        let mut lanes = Vec::new();
        if notification.enabled {
            for subscription in &notification.subscriptions {
                let endpoint = Endpoint::from_subscription(subscription).map_err(Error::wrap(
                    ErrorKind::Callback,
                    format_args!("instance {key}"),
                ))?;
                let endpoint =
                    crate::keys::with_retired(endpoint, retired, Some(&subscription.name));
                let lane = pollen_core::lane(&key, Some(&subscription.name));
                self.inner.endpoints.insert(lane.clone(), endpoint);
                lanes.push(lane);
            }
        }
        let prefix = format!("{key}/");
        self.inner
            .endpoints
            .retain(|lane| !lane.starts_with(&prefix) || lanes.iter().any(|l| l == lane));
        Ok(())
    }

    /// Stops polling instance `key` in every process sharing the store, keeping its stored poll
    /// states (see [`Engine::add_instance`]). Its pending notifications are still delivered.
    async fn pause_instance(&self, key: &str) -> Result<()> {
        let removed = self.lock().remove(key);
        if let Some(removed) = removed {
            self.retire(&removed.source);
        }
        self.inner
            .scheduler
            .pause_instance(key)
            .await
            .map_err(Error::wrap(
                ErrorKind::Store,
                format_args!("pausing instance {key}"),
            ))?;
        Ok(())
    }

    /// Stops polling instance `key` (its stored poll states go; outbox rows stay).
    pub async fn remove_instance(&self, key: &str) -> Result<()> {
        self.applied().remove(key);
        self.inner.endpoints.remove(key);
        let prefix = format!("{key}/");
        self.inner
            .endpoints
            .retain(|lane| !lane.starts_with(&prefix));
        let removed = self.lock().remove(key);
        if let Some(removed) = removed {
            self.retire(&removed.source);
            for poll_key in &removed.keys {
                self.inner
                    .scheduler
                    .unregister(poll_key)
                    .await
                    .map_err(Error::wrap(
                        ErrorKind::Store,
                        format_args!("unregistering {poll_key}"),
                    ))?;
            }
        }
        Ok(())
    }

    /// The Sage businesses the instance's authorized user can reach
    /// ([`SageSource::businesses`]): through its polling source, or, for an instance that is
    /// not polled here (paused, say), a source built for the call, which exchanges the grant
    /// code if no worker has yet and saves the tokens like a poll would.
    pub async fn businesses(&self, instance: &Instance) -> Result<Vec<pollen_sage::Business>> {
        let key = instance.key();
        let (source, temporary) = match self.source(&key) {
            Some(source) => (source, false),
            None => (self.build_source(instance).await?, true),
        };
        let listed = source.businesses().await;
        if temporary {
            self.retire(&source);
        }
        listed.map_err(Error::wrap(
            ErrorKind::Source,
            format_args!("instance {key}: listing its Sage businesses"),
        ))
    }

    async fn build_source(&self, instance: &Instance) -> Result<Arc<SageSource>> {
        let key = instance.key();
        let store = &self.inner.store;
        let tokens = Arc::new(SqlTokenStore::new(store.clone(), instance.id));
        let stored = store.credentials(instance.id).await.map_err(Error::wrap(
            ErrorKind::Store,
            format_args!("instance {key}"),
        ))?;
        let has_tokens = stored.as_ref().is_some_and(|c| c.access_token.is_some());
        let code = instance.config.provider_data.code.clone();
        // Exactly one worker exchanges a grant code, once; the others (and later restarts)
        // find the tokens it saved.
        let exchange = match &code {
            Some(_) if !has_tokens => store
                .claim_code_exchange(instance.id, Utc::now())
                .await
                .map_err(Error::wrap(
                    ErrorKind::Store,
                    format_args!("instance {key}"),
                ))?,
            _ => false,
        };
        let mut config = instance.config.clone();
        config.provider_data.code = None;
        // Which worker sent a request shows in Sage's (and the simulator's) request logs.
        let user_agent = format!(
            "pollen/{} (worker {})",
            env!("CARGO_PKG_VERSION"),
            self.inner.options.owner
        );
        let source = SageSource::from_instance(&config, tokens)
            .and_then(|builder| {
                builder
                    .configure(|settings| settings.user_agent = user_agent)
                    .rate_budget(
                        self.inner.budget.clone(),
                        self.inner.options.sage_rate_limit,
                        &key,
                    )
                    .build()
            })
            .map_err(Error::wrap(
                ErrorKind::Source,
                format_args!("instance {key}"),
            ))?;
        if let (true, Some(code)) = (exchange, &code) {
            source.exchange_code(code).await.map_err(Error::wrap(
                ErrorKind::Source,
                format_args!("instance {key}: exchanging providerData.code"),
            ))?;
        }
        Ok(Arc::new(source))
    }

    /// Follows the stored instances: adds those this process has not seen, re-adds those whose
    /// row changed since (a new configuration, a pause, a resume, a re-authorization) and
    /// removes those deleted. Returns how many instances it added, re-added or removed. One
    /// instance that fails (its grant refused, say) is logged and does not stop the others.
    pub async fn sync_instances(&self) -> Result<usize> {
        let stored = self
            .inner
            .store
            .list_instances()
            .await
            .map_err(Error::wrap(ErrorKind::Store, "listing the instances"))?;
        let mut changed = 0;
        let keys: std::collections::HashSet<String> = stored.iter().map(Instance::key).collect();
        let gone: Vec<String> = self
            .applied()
            .keys()
            .filter(|key| !keys.contains(*key))
            .cloned()
            .collect();
        for key in gone {
            changed += 1;
            tracing::info!(instance = %key, "instance deleted elsewhere: no longer polled here");
            if let Err(error) = self.remove_instance(&key).await {
                tracing::warn!(instance = %key, %error, "removing a deleted instance failed");
            }
        }
        for instance in &stored {
            let seen = self.applied().get(&instance.key()).copied();
            if seen == Some(instance.updated_at) {
                continue;
            }
            changed += 1;
            tracing::info!(
                id = instance.id,
                name = %instance.name,
                status = instance.status.as_str(),
                "instance changed in the store: applying it here"
            );
            if let Err(error) = self.add_instance(instance).await {
                tracing::warn!(id = instance.id, name = %instance.name, %error, "applying an instance failed");
            }
        }
        Ok(changed)
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, HashMap<String, DateTime<Utc>>> {
        // Plain data: consistent after a panic elsewhere.
        self.inner
            .applied
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds every stored instance.
    pub async fn add_stored_instances(&self) -> Result<usize> {
        let instances = self
            .inner
            .store
            .list_instances()
            .await
            .map_err(Error::wrap(ErrorKind::Store, "listing the instances"))?;
        let mut added = 0;
        for instance in &instances {
            self.add_instance(instance).await?;
            added += usize::from(instance.status == InstanceStatus::Active);
        }
        Ok(added)
    }

    /// Polls and delivers until `shutdown` completes. Then it stops claiming work, abandons
    /// what is in flight (nothing half-done is committed: a poll commits atomically at its end,
    /// a delivery is recorded after its response), releases its leases and leaves the worker
    /// registry so a restart picks the work up at once, and returns within
    /// [`EngineOptions::shutdown_grace`].
    ///
    /// It first takes over what dead processes left: on an embedded database it holds alone,
    /// every lease (they can only be its dead predecessor's); otherwise the leases held under
    /// its own name (a worker restarted with the same `--worker-id`) and those of every worker
    /// whose heartbeat is older than its ttl. Then it registers itself, and renews its
    /// heartbeat every third of the ttl, releasing the work of workers found dead meanwhile.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        self.take_over().await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            // An error means the sender is gone, which also means stop.
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let polling = self.inner.scheduler.run(stopped(stop_rx.clone()));
        let sending = self.inner.sender.run(stopped(stop_rx.clone()));
        // New notifications are delivered at once, not at the sender's next poll interval:
        // the poller's enqueue counter is watched and the sender woken when it moves.
        let waking = async {
            let mut enqueued = self.inner.scheduler.metrics().notifications_enqueued;
            let mut stop = stop_rx.clone();
            loop {
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => break,
                    () = tokio::time::sleep(WAKE_CHECK) => {}
                }
                let now = self.inner.scheduler.metrics().notifications_enqueued;
                if now != enqueued {
                    enqueued = now;
                    self.inner.sender.wake();
                }
            }
        };
        // Instances created, edited, paused or deleted by other processes sharing the store.
        let syncing = async {
            let mut stop = stop_rx.clone();
            loop {
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => break,
                    () = tokio::time::sleep(self.inner.options.instance_sync) => {}
                }
                if let Err(error) = self.sync_instances().await {
                    tracing::warn!(%error, "following the stored instances failed");
                }
            }
        };
        // The heartbeat: this process's row, and the work of the workers that stopped beating.
        let beating = async {
            let mut stop = stop_rx.clone();
            let every = (self.inner.options.lease_ttl / 3)
                .to_std()
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_millis(10));
            loop {
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => break,
                    () = tokio::time::sleep(every) => {}
                }
                if let Err(error) = self.heartbeat().await {
                    tracing::warn!(%error, "renewing the worker heartbeat failed");
                }
            }
        };
        // Replays started here or by any process sharing the store, a chunk at a time: looked
        // at every REPLAY_INTERVAL, and every REPLAY_STEP while one runs, so that a chunk
        // follows as soon as the receiver has taken the one before.
        let replaying = async {
            let mut stop = stop_rx.clone();
            let mut pause = REPLAY_INTERVAL;
            loop {
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => break,
                    () = self.inner.replays.notified() => {}
                    () = tokio::time::sleep(pause) => {}
                }
                match crate::replay::advance(&self.inner.store).await {
                    Ok(advanced) => {
                        if advanced.requeued > 0 {
                            self.inner
                                .replayed
                                .fetch_add(advanced.requeued, Ordering::Relaxed);
                            self.inner.sender.wake();
                        }
                        pause = if advanced.running > 0 {
                            REPLAY_STEP
                        } else {
                            REPLAY_INTERVAL
                        };
                    }
                    Err(error) => {
                        tracing::warn!(%error, "advancing replays failed");
                        pause = REPLAY_INTERVAL;
                    }
                }
            }
        };
        // Alert conditions checked, and their announcements sent, every ALERT_INTERVAL.
        let alerting = async {
            let mut stop = stop_rx.clone();
            loop {
                tokio::select! {
                    _ = stop.wait_for(|stop| *stop) => break,
                    () = tokio::time::sleep(crate::alerts::ALERT_INTERVAL) => {}
                }
                let round = crate::alerts::round(
                    &self.inner.store,
                    &self.inner.poster,
                    &self.inner.options.owner,
                    &self.inner.options.alerts,
                    &self.inner.alert_counters,
                );
                if let Err(error) = round.await {
                    tracing::warn!(%error, "checking or sending alerts failed");
                }
            }
        };
        let both = async {
            let (polled, (), (), (), (), (), ()) =
                tokio::join!(polling, sending, waking, syncing, beating, replaying, alerting);
            polled
        };
        tokio::pin!(both);
        tokio::pin!(shutdown);
        let result = tokio::select! {
            result = &mut both => result,
            () = &mut shutdown => {
                tracing::info!("shutting down: no new work is claimed");
                let _ = stop_tx.send(true);
                match tokio::time::timeout(self.inner.options.shutdown_grace, &mut both).await {
                    Ok(result) => result,
                    Err(_) => {
                        tracing::warn!("the poller or the sender did not stop in time");
                        Ok(())
                    }
                }
            }
        };
        match self
            .inner
            .store
            .release_worker(&self.inner.options.owner)
            .await
        {
            Ok(released) => tracing::info!(
                polls = released.polls,
                notifications = released.notifications,
                "left the worker registry; leases released"
            ),
            Err(error) => tracing::warn!(%error, "releasing this worker's leases failed"),
        }
        result.map_err(Error::wrap(ErrorKind::Store, "polling"))
    }

    /// Releases what dead processes left (see [`Engine::run`]) and registers this one.
    async fn take_over(&self) -> Result<()> {
        let store = &self.inner.store;
        let now = Utc::now();
        let released = if store.exclusive() {
            store.release_all_workers().await
        } else {
            match store.release_worker(&self.inner.options.owner).await {
                Ok(own) => store
                    .release_dead_workers(now)
                    .await
                    .map(|dead| ReleasedWork {
                        workers: own.workers + dead.workers,
                        polls: own.polls + dead.polls,
                        notifications: own.notifications + dead.notifications,
                    }),
                Err(error) => Err(error),
            }
        }
        .map_err(Error::wrap(
            ErrorKind::Store,
            "releasing the leases of dead workers",
        ))?;
        self.count_taken_over(released);
        self.heartbeat()
            .await
            .map_err(Error::wrap(ErrorKind::Store, "registering this worker"))?;
        Ok(())
    }

    /// Writes this process's heartbeat, then releases the work of workers found dead.
    async fn heartbeat(&self) -> pollen_core::Result<()> {
        let store = &self.inner.store;
        let now = Utc::now();
        let mut worker = self.inner.worker.clone();
        worker.heartbeat_at = now;
        store.heartbeat(&worker).await?;
        *self.last_heartbeat() = Some(now);
        let released = store.release_dead_workers(now).await?;
        self.count_taken_over(released);
        Ok(())
    }

    fn count_taken_over(&self, released: ReleasedWork) {
        if released.leases() == 0 && released.workers == 0 {
            return;
        }
        tracing::info!(
            workers = released.workers,
            polls = released.polls,
            notifications = released.notifications,
            "took over the work of stopped workers"
        );
        self.inner
            .leases_taken_over
            .fetch_add(released.leases(), Ordering::Relaxed);
        // The released work is due now: look at once rather than at the next idle check.
        self.inner.scheduler.wake();
        self.inner.sender.wake();
    }
}

/// This machine's name, for the worker registry (`localhost` when it cannot be read).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn add_auth_stats(mut total: AuthStats, more: AuthStats) -> AuthStats {
    total.code_exchanges += more.code_exchanges;
    total.refreshes += more.refreshes;
    total.refreshes_refused += more.refreshes_refused;
    total.refreshes_failed += more.refreshes_failed;
    total
}
