//! [`SqlStore`]: one type over both backends, the [`Store`] trait and the instance registry.

use std::fmt;

use crate::checkpoint::{chain_from, CheckpointChain};
use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use pollen_config::{InstanceConfig, Secret};
use pollen_core::{
    AttemptRecord, CheckpointHead, DeliveryAttempt, OutboxEntry, OutboxFilter, PollCommit,
    PollFailure, PollKey, PollProgress, PollState, Purpose, RateBucket, RateTake, ReleasedWork,
    StableId, Store, WindowEvent, Worker, WorkerStatus,
};

use crate::alert::{Alert, AlertChanges, AlertDelivery, AlertKind, AlertOutcome, AlertSettings};
use crate::error::{Error, Result};
use crate::instance::{
    check_round_trip, config_context, config_plaintext, CredentialRow, Credentials, Instance,
    InstanceFields, InstanceStatus, InstanceToken,
};
use crate::key::SecretKey;
use crate::keys::{retired_key_context, stored_subscription, KeyScheme, RetiredKey};
use crate::options::{DatabaseUrl, PruneReport, Retention, Rewound, StoreOptions};
use crate::overview::OutboxHealth;
use crate::postgres::PgBackend;
use crate::replay::{Replay, ReplayFilter};
use crate::shared::Holders;
use crate::sqlite::SqliteBackend;

/// Which database a [`SqlStore`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server, possibly shared by several processes.
    Postgres,
}

enum Inner {
    Sqlite(SqliteBackend),
    Postgres(PgBackend),
}

/// Runs the same call on whichever backend this is.
macro_rules! on_backend {
    ($self:expr, $b:ident => $call:expr) => {
        match &$self.inner {
            Inner::Sqlite($b) => $call,
            Inner::Postgres($b) => $call,
        }
    };
}

/// pollen's durable store on SQLite or PostgreSQL: poll state, leases, de-duplication keys, the
/// outbox and its delivery log ([`Store`]), plus instances and their encrypted credentials.
///
/// Cheap to share behind an `Arc`; every method is safe to call concurrently, from one process
/// or several over one database. `Debug` shows the backend and the file or schema, never a
/// URL (it may hold a password) and never the key.
pub struct SqlStore {
    inner: Inner,
    key: SecretKey,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Sqlite(b) => f.debug_tuple("SqlStore").field(b).finish(),
            Inner::Postgres(b) => f.debug_tuple("SqlStore").field(b).finish(),
        }
    }
}

impl SqlStore {
    /// Opens the database at `url` (see [`DatabaseUrl`]), creating it (SQLite, mode 0600) or
    /// its schema (PostgreSQL) if needed, applies pending migrations, and checks that
    /// `options.secret_key` is the database's key (the first open records it).
    ///
    /// Errors: [`ErrorKind::InvalidUrl`](crate::ErrorKind::InvalidUrl),
    /// [`Connect`](crate::ErrorKind::Connect), [`Migration`](crate::ErrorKind::Migration),
    /// [`KeyMismatch`](crate::ErrorKind::KeyMismatch) when the key is not the database's.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Self> {
        let inner = match DatabaseUrl::parse(url)? {
            DatabaseUrl::Sqlite(path) => Inner::Sqlite(SqliteBackend::open(&path, &options).await?),
            DatabaseUrl::Postgres(url) => Inner::Postgres(PgBackend::open(&url, &options).await?),
        };
        let store = SqlStore {
            inner,
            key: options.secret_key,
        };
        let candidate = store.key.key_check();
        let stored = on_backend!(store, b => b.key_check(candidate).await)?;
        if let Err(e) = store.key.verify(&stored) {
            store.close().await;
            return Err(e);
        }
        Ok(store)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether this process holds the database alone: an embedded database opened with
    /// [`StoreOptions::exclusive`] whose lock it still holds. Then no other process can hold a
    /// lease in it, and every lease found there belongs to a dead predecessor.
    pub fn exclusive(&self) -> bool {
        match &self.inner {
            Inner::Sqlite(b) => b.exclusive(),
            Inner::Postgres(_) => false,
        }
    }

    /// Closes every connection; later calls fail. Dropping the store also closes them, without
    /// waiting.
    pub async fn close(&self) {
        on_backend!(self, b => b.close().await);
    }

    /// Deletes delivered notifications (with their delivery logs) and de-duplication keys
    /// older than `retention`, in batches of `retention.batch` rows per transaction.
    pub async fn prune(&self, now: DateTime<Utc>, retention: &Retention) -> Result<PruneReport> {
        on_backend!(self, b => b.prune(now, retention).await)
    }

    // ----- dashboard reads -----

    /// How instance `instance`'s notifications stand: pending (and failing), queued,
    /// delivered. One grouped count.
    pub async fn outbox_health(&self, instance: &str) -> Result<OutboxHealth> {
        on_backend!(self, b => b.outbox_health(instance).await)
    }

    /// [`SqlStore::outbox_health`] per delivery lane of `instance` ([`pollen_core::lane`]: its
    /// id for the callback, `id/name` for each subscription), sorted by lane; lanes without
    /// rows are absent. One grouped count.
    pub async fn outbox_health_by_lane(
        &self,
        instance: &str,
    ) -> Result<Vec<(String, OutboxHealth)>> {
        on_backend!(self, b => b.outbox_health_by_lane(instance).await)
    }

    /// The deactivated lanes of `instance` (its callback's is its id), sorted.
    pub async fn inactive_lanes(&self, instance: &str) -> Result<Vec<String>> {
        on_backend!(self, b => b.inactive_lanes(instance).await)
    }

    /// At most `limit` notifications, newest (highest `seq`) first, of `instance` (all when
    /// `None`), below `before_seq` when given: page backwards by passing the last row's `seq`.
    /// Each page is an index range scan, however large the outbox.
    pub async fn recent_outbox(
        &self,
        instance: Option<&str>,
        before_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>> {
        on_backend!(self, b => b.recent_outbox(instance, before_seq, limit).await)
    }

    // ----- instances -----

    /// Stores a new instance (status active, created at `now`) and returns it with its
    /// management-API token — the only time the token is visible.
    pub async fn create_instance(
        &self,
        config: &InstanceConfig,
        now: DateTime<Utc>,
    ) -> Result<(Instance, InstanceToken)> {
        self.create_instance_with_status(config, InstanceStatus::Active, now)
            .await
    }

    /// [`SqlStore::create_instance`] with the new instance's status: one created
    /// [`InstanceStatus::Disabled`] is paused from its first moment, so no worker sharing the
    /// database polls it before it is set up (the console lets the user pick its business
    /// first).
    pub async fn create_instance_with_status(
        &self,
        config: &InstanceConfig,
        status: InstanceStatus,
        now: DateTime<Utc>,
    ) -> Result<(Instance, InstanceToken)> {
        check_round_trip(config)?;
        let mut fields = InstanceFields::of(config);
        fields.status = status;
        let token = InstanceToken::generate();
        let hash = InstanceToken::digest(token.expose());
        let plain = config_plaintext(config);
        let key = &self.key;
        let seal = |id: i64| key.seal(&config_context(id), &plain);
        let id = on_backend!(self, b => b.create_instance(&fields, &hash, now, seal).await)?;
        let instance = self
            .instance(id)
            .await?
            .ok_or_else(|| Error::not_found(format_args!("instance {id}")))?;
        Ok((instance, token))
    }

    /// Stores `config` under its `name`: the oldest instance of that name gets it (id, creation
    /// date, status, watermarks and tokens stay), or a new active instance is created. Returns
    /// the instance and whether it was created.
    ///
    /// Race-free across processes: workers started at the same instant with the same instance
    /// files end up with one instance per name, not one each (the lookup and the write are one
    /// transaction, serialized per name).
    pub async fn put_instance_by_name(
        &self,
        config: &InstanceConfig,
        now: DateTime<Utc>,
    ) -> Result<(Instance, bool)> {
        check_round_trip(config)?;
        let fields = InstanceFields::of(config);
        // Only used when the instance is new; its token is never shown (files have no reader
        // for it: the management API can rotate one).
        let hash = InstanceToken::digest(InstanceToken::generate().expose());
        let plain = config_plaintext(config);
        let key = &self.key;
        let seal = |id: i64| key.seal(&config_context(id), &plain);
        let (id, created) =
            on_backend!(self, b => b.put_instance_by_name(&fields, &hash, now, seal).await)?;
        let instance = self
            .instance(id)
            .await?
            .ok_or_else(|| Error::not_found(format_args!("instance {id}")))?;
        Ok((instance, created))
    }

    /// The instance `id`, if it exists.
    pub async fn instance(&self, id: i64) -> Result<Option<Instance>> {
        let rows = on_backend!(self, b => b.instance_rows(Some(id)).await)?;
        rows.into_iter()
            .next()
            .map(|r| r.decode(&self.key))
            .transpose()
    }

    /// Every instance, by id.
    pub async fn list_instances(&self) -> Result<Vec<Instance>> {
        let rows = on_backend!(self, b => b.instance_rows(None).await)?;
        rows.into_iter().map(|r| r.decode(&self.key)).collect()
    }

    /// The instance whose management-API token is `token`, if any.
    pub async fn instance_by_token(&self, token: &str) -> Result<Option<Instance>> {
        let hash = InstanceToken::digest(token);
        let row = on_backend!(self, b => b.instance_by_token_hash(&hash).await)?;
        row.map(|r| r.decode(&self.key)).transpose()
    }

    /// Replaces the configuration of instance `id` (name, element key and tags follow it).
    /// `NotFound` if there is no such instance.
    pub async fn update_instance_config(
        &self,
        id: i64,
        config: &InstanceConfig,
        now: DateTime<Utc>,
    ) -> Result<Instance> {
        check_round_trip(config)?;
        let fields = InstanceFields::of(config);
        let sealed = self
            .key
            .seal(&config_context(id), &config_plaintext(config));
        let found =
            on_backend!(self, b => b.update_instance_config(id, &fields, sealed, now).await)?;
        if !found {
            return Err(Error::not_found(format_args!("instance {id}")));
        }
        self.instance(id)
            .await?
            .ok_or_else(|| Error::not_found(format_args!("instance {id}")))
    }

    /// Sets the status of instance `id`. `NotFound` if there is no such instance.
    pub async fn set_instance_status(
        &self,
        id: i64,
        status: InstanceStatus,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let found = on_backend!(self, b => b.set_instance_status(id, status.as_str(), now).await)?;
        if found {
            Ok(())
        } else {
            Err(Error::not_found(format_args!("instance {id}")))
        }
    }

    /// Replaces the management-API token of instance `id`; the old one stops working.
    pub async fn rotate_instance_token(&self, id: i64) -> Result<InstanceToken> {
        let token = InstanceToken::generate();
        let hash = InstanceToken::digest(token.expose());
        let found = on_backend!(self, b => b.set_token_hash(id, &hash).await)?;
        if found {
            Ok(token)
        } else {
            Err(Error::not_found(format_args!("instance {id}")))
        }
    }

    /// Deletes instance `id` with its credentials, poll states, de-duplication keys, outbox
    /// rows and delivery logs. Returns whether it existed.
    pub async fn delete_instance(&self, id: i64) -> Result<bool> {
        on_backend!(self, b => b.delete_instance(id).await)
    }

    // ----- credentials -----

    /// The OAuth credentials of instance `id` (`None` before any were saved or claimed).
    pub async fn credentials(&self, id: i64) -> Result<Option<Credentials>> {
        let row = on_backend!(self, b => b.credential_row(id).await)?;
        row.map(|r| r.open(id, &self.key)).transpose()
    }

    /// Saves the tokens and expiry of instance `id`, encrypted; `code_exchanged` is not
    /// changed here (see [`SqlStore::claim_code_exchange`]). `NotFound` without the instance.
    pub async fn save_credentials(
        &self,
        id: i64,
        credentials: &Credentials,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let row = CredentialRow::seal(id, credentials, &self.key);
        on_backend!(self, b => b.save_credentials(id, &row, now).await)
    }

    /// Marks the grant code of instance `id` as exchanged; `true` for exactly one caller,
    /// however many workers race, `false` if it was exchanged already. `NotFound` without the
    /// instance.
    pub async fn claim_code_exchange(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        on_backend!(self, b => b.claim_code_exchange(id, now).await)
    }

    /// Keeps `key`, the `scheme` key instance `id` signed with for `subscription` (`None`: its
    /// Open Connectors callback) until a rotation, so that deliveries are signed with it too
    /// until `expires_at` ([`SqlStore::retired_signing_keys`]); encrypted like every secret.
    /// Keys of the instance that expired by `now` are dropped. `NotFound` without the instance.
    pub async fn retire_signing_key(
        &self,
        id: i64,
        subscription: Option<&str>,
        scheme: KeyScheme,
        key: &Secret,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let sealed = self.key.seal(
            &retired_key_context(id, subscription, scheme),
            key.expose().as_bytes(),
        );
        let subscription = stored_subscription(subscription);
        on_backend!(self, b => b.retire_signing_key(id, subscription, scheme.as_str(), &sealed, expires_at, now).await)
    }

    /// The retired keys of instance `id` still signing at `now`, its callback's and its
    /// subscriptions', newest first.
    /// The checkpoint chains of instance `id`, by resource and subscription (the callback
    /// first): each one's latest checkpoint and the events waiting in its open window.
    pub async fn checkpoint_chains(&self, id: i64) -> Result<Vec<CheckpointChain>> {
        let rows = on_backend!(self, b => b.checkpoint_chains(&id.to_string()).await)?;
        rows.into_iter().map(chain_from).collect()
    }

    pub async fn retired_signing_keys(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<RetiredKey>> {
        let rows = on_backend!(self, b => b.retired_signing_keys(id, now).await)?;
        rows.into_iter()
            .map(|row| {
                let scheme = KeyScheme::stored(&row.scheme)?;
                let subscription = (!row.subscription.is_empty()).then_some(row.subscription);
                let key = self.key.open_text(
                    &retired_key_context(id, subscription.as_deref(), scheme),
                    &row.sealed,
                )?;
                Ok(RetiredKey {
                    subscription,
                    scheme,
                    key: Secret::new(key),
                    retired_at: row.retired_at,
                    expires_at: row.expires_at,
                })
            })
            .collect()
    }

    /// How many retired keys of every instance still sign at `now` (rotations in their grace
    /// period).
    pub async fn count_retired_signing_keys(&self, now: DateTime<Utc>) -> Result<u64> {
        on_backend!(self, b => b.count_retired_signing_keys(now).await)
    }

    /// Stops signing with the retired `scheme` keys of instance `id` for `subscription`
    /// (`None`: the callback) at once (a leaked key, a subscription removed); returns how many
    /// that still signed were dropped (the instance's expired ones go too, uncounted).
    pub async fn drop_retired_signing_keys(
        &self,
        id: i64,
        subscription: Option<&str>,
        scheme: KeyScheme,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let subscription = stored_subscription(subscription);
        on_backend!(self, b => b.drop_retired_signing_keys(id, subscription, scheme.as_str(), now).await)
    }

    /// Moves the watermark of `key` back to `to` (before its current one: forward would skip
    /// changes, `InvalidInput`) and forgets its de-duplication keys of changes at or after
    /// `to`, so that its next poll, due at `now`, reads from `to` and emits those changes again
    /// with their stable ids. Other resources, the outbox and the known record ids are
    /// untouched. A poll of `key` in flight loses its lease and commits nothing. `NotFound`
    /// without the poll state.
    pub async fn rewind(
        &self,
        key: &PollKey,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rewound> {
        on_backend!(self, b => b.rewind(key, to, now).await)
    }

    /// How many notifications a replay with `filter` would re-send now (the preview).
    /// `InvalidInput` for an empty range or an unknown event type.
    pub async fn count_replay(&self, filter: &ReplayFilter) -> Result<u64> {
        on_backend!(self, b => b.count_replay(filter).await)
    }

    /// Starts a replay of the notifications matching `filter` written so far: `Running`, with
    /// its `total`, nothing re-queued yet (see [`SqlStore::advance_replay`]). `InvalidInput`
    /// for an empty range or an unknown event type.
    pub async fn start_replay(&self, filter: &ReplayFilter, now: DateTime<Utc>) -> Result<Replay> {
        on_backend!(self, b => b.start_replay(filter, now).await)
    }

    /// Moves a running replay on by one chunk, in one transaction: the next `chunk` outbox
    /// rows of its range are looked at and the matching ones re-queued (pending and due at
    /// `now`, attempts reset, leases dropped — queued instead while the instance's
    /// subscription is deactivated); when fewer than `chunk` were left it is `Done`. Nothing
    /// moves while the instance has `backlog` or more notifications waiting (pending, not in flight), nor for a replay
    /// that is not running. Concurrent calls for one replay take turns. Returns the replay as
    /// it is now; `NotFound` for an unknown id.
    pub async fn advance_replay(
        &self,
        id: i64,
        chunk: usize,
        backlog: usize,
        now: DateTime<Utc>,
    ) -> Result<Replay> {
        on_backend!(self, b => b.advance_replay(id, chunk.max(1), backlog.max(1), now).await)
    }

    /// Cancels replay `id` if it is running (what it re-queued stays queued for delivery; no
    /// chunk is re-queued after this returns). Returns the replay; `NotFound` for an unknown id.
    pub async fn cancel_replay(&self, id: i64, now: DateTime<Utc>) -> Result<Replay> {
        on_backend!(self, b => b.cancel_replay(id, now).await)
    }

    /// The replays of `instance` (every instance: `None`), only the running ones if `running`,
    /// oldest first.
    pub async fn list_replays(&self, instance: Option<&str>, running: bool) -> Result<Vec<Replay>> {
        on_backend!(self, b => b.list_replays(instance, running).await)
    }

    /// Takes one call for `purpose` from the rate budget `business` (a Sage business), a token
    /// bucket shared by every process on this database: created empty on first use, refilled
    /// by the time since (the database's clock on PostgreSQL), and saved in one short
    /// transaction, so no lock outlives the call. The [`RateTake`] says whether the call may go
    /// out and, if not, how long to wait.
    pub async fn take_rate_token(
        &self,
        business: &str,
        bucket: RateBucket,
        purpose: Purpose,
    ) -> Result<RateTake> {
        on_backend!(self, b => b.take_rate_token(business, bucket, purpose).await)
    }

    // ----- operational alerts -----

    /// Records `key`'s refresh interval, which sets its stall deadline: 3 intervals after the
    /// poll due next when the last one completed (see [`AlertKind::PollsStalled`]). The
    /// engine calls it for every poll it registers; an unchanged interval writes nothing.
    pub async fn set_poll_interval(&self, key: &PollKey, interval: TimeDelta) -> Result<()> {
        on_backend!(self, b => b.set_poll_interval(key, interval).await)
    }

    /// Opens an alert for every condition the state shows at `now` that has none open, and
    /// resolves every open alert whose condition is gone, queueing one delivery of each
    /// opening and resolution per [`AlertTarget`](crate::AlertTarget); all in one transaction. Checks of the
    /// processes sharing the database are serialized, so each alert opens once and resolves
    /// once whichever process sees it. Each condition is one query over an index that holds
    /// only the rows in that condition, so a check costs little however many instances there
    /// are.
    pub async fn check_alerts(
        &self,
        now: DateTime<Utc>,
        settings: &AlertSettings,
    ) -> Result<AlertChanges> {
        on_backend!(self, b => b.check_alerts(now, settings).await)
    }

    /// At most `limit` alerts, newest first: only the open ones when `open_only`, only those
    /// of `instance` when given.
    pub async fn list_alerts(
        &self,
        open_only: bool,
        instance: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Alert>> {
        on_backend!(self, b => b.list_alerts(open_only, instance, limit).await)
    }

    /// The open alerts, counted by kind (kinds without any are absent).
    pub async fn count_open_alerts(&self) -> Result<Vec<(AlertKind, u64)>> {
        on_backend!(self, b => b.count_open_alerts().await)
    }

    /// Claims up to `limit` alert deliveries due at `now` for `owner` until `now + lease_for`
    /// (PostgreSQL skips rows another process is claiming). A dead owner's claims are freed by
    /// [`Store::release_dead_workers`] like its
    /// other leases, or when the lease ends.
    pub async fn claim_alert_deliveries(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> Result<Vec<AlertDelivery>> {
        on_backend!(self, b => b.claim_alert_deliveries(owner, now, lease_for, limit).await)
    }

    /// Records how the attempt at delivery `id`, claimed by `owner`, ended. Returns `false`
    /// (and changes nothing) when `owner` no longer holds it.
    pub async fn finish_alert_delivery(
        &self,
        id: i64,
        owner: &str,
        now: DateTime<Utc>,
        outcome: &AlertOutcome,
    ) -> Result<bool> {
        on_backend!(self, b => b.finish_alert_delivery(id, owner, now, outcome).await)
    }
}

/// Wraps a backend call into the trait's boxed future and error type.
macro_rules! boxed {
    ($self:ident, $b:ident => $call:expr) => {
        Box::pin(async move { on_backend!($self, $b => $call.await).map_err(Into::into) })
    };
}

impl Store for SqlStore {
    fn register<'a>(
        &'a self,
        key: &'a PollKey,
        watermark: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> BoxFuture<'a, pollen_core::Result<PollState>> {
        boxed!(self, b => b.register(key, watermark, next_due))
    }

    fn unregister<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, pollen_core::Result<bool>> {
        boxed!(self, b => b.unregister(key))
    }

    fn pause_instance<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, pollen_core::Result<u64>> {
        boxed!(self, b => b.pause_instance(instance))
    }

    fn load<'a>(
        &'a self,
        key: &'a PollKey,
    ) -> BoxFuture<'a, pollen_core::Result<Option<PollState>>> {
        boxed!(self, b => b.load(key))
    }

    fn next_due(&self) -> BoxFuture<'_, pollen_core::Result<Option<DateTime<Utc>>>> {
        boxed!(self, b => b.next_due())
    }

    fn claim_due<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> BoxFuture<'a, pollen_core::Result<Vec<PollState>>> {
        boxed!(self, b => b.claim_due(owner, now, lease_for, limit))
    }

    fn release<'a>(
        &'a self,
        key: &'a PollKey,
        token: u64,
    ) -> BoxFuture<'a, pollen_core::Result<()>> {
        boxed!(self, b => b.release(key, token))
    }

    fn renew_leases<'a>(
        &'a self,
        owner: &'a str,
        held: &'a [(PollKey, u64)],
        now: DateTime<Utc>,
        lease_for: TimeDelta,
    ) -> BoxFuture<'a, pollen_core::Result<Vec<bool>>> {
        boxed!(self, b => b.renew_leases(owner, held, now, lease_for))
    }

    fn heartbeat<'a>(&'a self, worker: &'a Worker) -> BoxFuture<'a, pollen_core::Result<()>> {
        boxed!(self, b => b.heartbeat(worker))
    }

    fn release_dead_workers(
        &self,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, pollen_core::Result<ReleasedWork>> {
        boxed!(self, b => b.release_holders(Holders::Dead(now)))
    }

    fn release_worker<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, pollen_core::Result<ReleasedWork>> {
        boxed!(self, b => b.release_holders(Holders::One(id)))
    }

    fn release_all_workers(&self) -> BoxFuture<'_, pollen_core::Result<ReleasedWork>> {
        boxed!(self, b => b.release_holders(Holders::All))
    }

    fn list_workers(
        &self,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, pollen_core::Result<Vec<WorkerStatus>>> {
        boxed!(self, b => b.list_workers(now))
    }

    fn seen<'a>(
        &'a self,
        key: &'a PollKey,
        ids: &'a [StableId],
    ) -> BoxFuture<'a, pollen_core::Result<Vec<bool>>> {
        boxed!(self, b => b.seen(key, ids))
    }

    fn commit_poll(&self, commit: PollCommit) -> BoxFuture<'_, pollen_core::Result<()>> {
        boxed!(self, b => b.commit_poll(commit))
    }

    fn commit_progress(&self, progress: PollProgress) -> BoxFuture<'_, pollen_core::Result<()>> {
        boxed!(self, b => b.commit_progress(progress))
    }

    fn record_failure(&self, failure: PollFailure) -> BoxFuture<'_, pollen_core::Result<()>> {
        boxed!(self, b => b.record_failure(failure))
    }

    fn prune_seen<'a>(
        &'a self,
        key: &'a PollKey,
        before: DateTime<Utc>,
    ) -> BoxFuture<'a, pollen_core::Result<u64>> {
        boxed!(self, b => b.prune_seen(key, before))
    }

    fn seen_count<'a>(&'a self, key: &'a PollKey) -> BoxFuture<'a, pollen_core::Result<u64>> {
        boxed!(self, b => b.seen_count(key))
    }

    fn known_ids<'a>(
        &'a self,
        key: &'a PollKey,
    ) -> BoxFuture<'a, pollen_core::Result<Vec<String>>> {
        boxed!(self, b => b.known_ids(key))
    }

    fn checkpoint_heads<'a>(
        &'a self,
        key: &'a PollKey,
    ) -> BoxFuture<'a, pollen_core::Result<Vec<CheckpointHead>>> {
        boxed!(self, b => b.checkpoint_heads(key))
    }

    fn window_events<'a>(
        &'a self,
        key: &'a PollKey,
    ) -> BoxFuture<'a, pollen_core::Result<Vec<WindowEvent>>> {
        boxed!(self, b => b.window_events(key))
    }

    fn set_subscription_active<'a>(
        &'a self,
        instance: &'a str,
        active: bool,
    ) -> BoxFuture<'a, pollen_core::Result<()>> {
        boxed!(self, b => b.set_subscription_active(instance, active))
    }

    fn subscription_active<'a>(
        &'a self,
        instance: &'a str,
    ) -> BoxFuture<'a, pollen_core::Result<bool>> {
        boxed!(self, b => b.subscription_active(instance))
    }

    fn claim_outbox<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> BoxFuture<'a, pollen_core::Result<Vec<OutboxEntry>>> {
        boxed!(self, b => b.claim_outbox(owner, now, lease_for, limit, usize::MAX, &[]))
    }

    fn claim_outbox_skipping<'a>(
        &'a self,
        owner: &'a str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
        per_instance: usize,
        skip: &'a [String],
    ) -> BoxFuture<'a, pollen_core::Result<Vec<OutboxEntry>>> {
        boxed!(self, b => b.claim_outbox(owner, now, lease_for, limit, per_instance, skip))
    }

    fn mark_delivered<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, pollen_core::Result<()>> {
        boxed!(self, b => b.mark_delivered(id, token, attempt))
    }

    fn mark_failed<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        next_attempt: DateTime<Utc>,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, pollen_core::Result<()>> {
        boxed!(self, b => b.mark_failed(id, token, next_attempt, attempt))
    }

    fn mark_queued<'a>(
        &'a self,
        id: &'a StableId,
        token: u64,
        attempt: &'a DeliveryAttempt,
    ) -> BoxFuture<'a, pollen_core::Result<()>> {
        boxed!(self, b => b.mark_queued(id, token, attempt))
    }

    fn record_attempts<'a>(
        &'a self,
        records: &'a [AttemptRecord],
    ) -> BoxFuture<'a, pollen_core::Result<Vec<pollen_core::Result<()>>>> {
        boxed!(self, b => b.record_attempts(records))
    }

    fn list_attempts<'a>(
        &'a self,
        id: &'a StableId,
    ) -> BoxFuture<'a, pollen_core::Result<Vec<DeliveryAttempt>>> {
        boxed!(self, b => b.list_attempts(id))
    }

    fn list_outbox<'a>(
        &'a self,
        filter: &'a OutboxFilter,
    ) -> BoxFuture<'a, pollen_core::Result<Vec<OutboxEntry>>> {
        boxed!(self, b => b.list_outbox(filter))
    }

    fn requeue<'a>(
        &'a self,
        ids: &'a [StableId],
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, pollen_core::Result<u64>> {
        boxed!(self, b => b.requeue(ids, now))
    }
}
