//! The embedded backend: one SQLite file in WAL mode, one writer connection, a reader pool.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction on the single writer connection: within
//! a process, writers queue for that connection; across processes, the write lock is taken at
//! `BEGIN` (waiting up to the busy timeout), so a transaction never fails half-way to upgrade a
//! read lock. Claims therefore need no row locks: a claim transaction is the only writer.
//! Instants are INTEGER microseconds since the Unix epoch.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pollen_core::{
    AttemptOutcome, AttemptRecord, CheckpointHead, DeliveryAttempt, Lease, Notification,
    OutboxEntry, OutboxFilter, OutboxStatus, PollCommit, PollFailure, PollKey, PollProgress,
    PollState, Purpose, RateBucket, RateTake, ReleasedWork, SeenChange, StableId, WindowEvent,
    Worker, WorkerStatus,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Row, Sqlite, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use crate::checkpoint::{head_from, subscription_column, window_event_from, HeadRow};
use crate::error::{Error, ErrorKind, Result};
use crate::instance::{CredentialRow, InstanceFields, InstanceRow};
use crate::keys::RetiredRow;
use crate::options::{PruneReport, Retention, Rewound, StoreOptions};
use crate::replay::{
    list_from, list_text, Replay, ReplayFilter, ReplayState, Scanned, COUNT_PAGE, REPLAY_COLUMNS,
};
use crate::shared::{
    check_rewind, db_count, db_u64, event_ids_bytes, event_ids_from, excerpt, foreign_key_or,
    stable_id, status_from, Holders, STATE_COLUMNS,
};

/// Rows per multi-row INSERT (8 parameters each, far below SQLite's 32,766).
const INSERT_CHUNK: usize = 1_000;

/// A claim of `limit` first reads this many times `limit` due rows in global order (see
/// `SqliteBackend::claimable`).
const CLAIM_WINDOW: usize = 2;

/// The outbox columns `outbox_from` reads, for a query over `outbox AS o` joined with
/// `outbox_body AS b` (migration 5 keeps bodies apart).
pub(crate) const OUTBOX_JOINED: &str =
    "o.seq, o.id, o.instance, o.lane, o.resource, o.created_at, \
    o.event_ids, b.body, o.status, o.attempts, o.next_attempt, o.last_error, o.lease_owner, \
    o.lease_token, o.lease_expires, o.delivered_at \
    FROM outbox AS o JOIN outbox_body AS b ON b.seq = o.seq";

/// Instances read per statement at most when a claim reads due rows instance by instance (3
/// parameters each).
const MAX_INSTANCES_PER_READ: usize = 64;

/// A claimable row: `(next_attempt, seq, instance)`.
type Candidate = (i64, i64, String);

/// The seqs of the first `limit` of `candidates` in `(next_attempt, seq)` order, taking at most
/// `per_instance` of any one instance (sorts `candidates`).
fn pick(candidates: &mut [Candidate], limit: usize, per_instance: usize) -> Vec<i64> {
    candidates.sort_unstable_by_key(|c| (c.0, c.1));
    let mut taken: HashMap<&str, usize> = HashMap::new();
    let mut picks = Vec::with_capacity(limit.min(candidates.len()));
    for c in candidates.iter() {
        if picks.len() == limit {
            break;
        }
        let n = taken.entry(c.2.as_str()).or_default();
        if *n < per_instance {
            *n += 1;
            picks.push(c.1);
        }
    }
    picks
}

/// Attempt records per statement in `record_attempts` (6 parameters each).
const RECORD_CHUNK: usize = 1_000;

mod alert;
mod overview;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub(crate) struct SqliteBackend {
    /// The one writer connection (`None` once closed). A connection of its own rather than a
    /// pool of one: sqlx's pool pings a connection on its way back after every use (one more
    /// round trip to the connection's thread per transaction, in a background task the next
    /// writer waits for).
    writer: Mutex<Option<SqliteConnection>>,
    /// How long a writer waits for the connection before it gives up.
    writer_wait: Duration,
    /// Dropped with the backend, which ends its checkpoint task.
    _checkpoints: tokio::sync::watch::Sender<()>,
    reader: SqlitePool,
    path: PathBuf,
    /// The exclusive lock on `PATH.lock`, when opened exclusively; released by `close` or drop.
    lock: std::sync::Mutex<Option<std::fs::File>>,
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How often the checkpoint task copies the WAL into the database while there is work.
const CHECKPOINT_BUSY: Duration = Duration::from_millis(100);
/// How often it looks when the last look found nothing to copy.
const CHECKPOINT_IDLE: Duration = Duration::from_secs(1);

/// Copies committed WAL frames into the database file from a reader connection, until `stop`'s
/// sender is dropped or the pool is closed.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the
/// writer: copying a few MB and an fsync held up the one writer for 20–30 ms every 1,000 pages.
/// A passive checkpoint here does the same work on another thread and never waits for (or
/// blocks) the writer or the readers.
async fn checkpoint(reader: SqlitePool, mut stop: tokio::sync::watch::Receiver<()>) {
    let mut wait = CHECKPOINT_IDLE;
    let mut last = None;
    loop {
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(wait) => {}
        }
        let done: std::result::Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&reader)
                .await;
        wait = match done {
            // (busy, frames in the WAL, frames copied to the database): unchanged since the last
            // look means nothing was written.
            Ok((_, frames, copied)) => {
                let now = Some((frames, copied));
                let idle = now == last;
                last = now;
                if idle {
                    CHECKPOINT_IDLE
                } else {
                    CHECKPOINT_BUSY
                }
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::debug!(error = %e, "checkpointing the SQLite WAL failed");
                CHECKPOINT_IDLE
            }
        };
    }
}

/// Lower-case hexadecimal, for ids inside JSON parameters (`unhex` in SQL).
fn hex(id: &StableId) -> String {
    use std::fmt::Write;
    id.0.iter().fold(String::with_capacity(32), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// A JSON array parameter's text.
fn json_text(rows: &[serde_json::Value]) -> Result<String> {
    serde_json::to_string(rows)
        .map_err(|err| Error::new(ErrorKind::Database, format!("encoding parameters: {err}")))
}

/// The writer connection, held for one transaction or statement; using it after
/// [`SqliteBackend::close`] is an error, not a panic.
struct Writer<'a>(MutexGuard<'a, Option<SqliteConnection>>);

impl Writer<'_> {
    fn conn(&mut self) -> Result<&mut SqliteConnection> {
        self.0
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Database, "the database is closed"))
    }
}

/// Starts a write transaction on the writer connection: `BEGIN IMMEDIATE` takes the write lock
/// at once (waiting up to the busy timeout for other processes), so no statement of the
/// transaction fails later to upgrade a read lock.
async fn begin(writer: &mut SqliteConnection) -> Result<Transaction<'_, Sqlite>> {
    writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(db("starting a write transaction"))
}

fn db(doing: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| Error::database(doing, &e)
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn instant(v: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| Error::corrupt(format!("instant {v} out of range in the database")))
}

fn opt_instant(v: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    v.map(instant).transpose()
}

fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(column)
        .map_err(|e| Error::corrupt(format!("column {column}: {}", crate::error::describe(&e))))
}

fn state_from(row: &SqliteRow) -> Result<PollState> {
    let token = db_count(get::<i64>(row, "fencing_token")?);
    let lease = match get::<Option<String>>(row, "lease_owner")? {
        Some(owner) => Some(Lease {
            owner,
            token,
            expires_at: instant(get::<Option<i64>>(row, "lease_expires")?.unwrap_or_default())?,
        }),
        None => None,
    };
    Ok(PollState {
        key: PollKey::new(
            get::<String>(row, "instance")?,
            get::<String>(row, "resource")?,
        ),
        watermark: instant(get(row, "watermark")?)?,
        next_due: instant(get(row, "next_due")?)?,
        consecutive_failures: u32::try_from(get::<i64>(row, "consecutive_failures")?)
            .unwrap_or(u32::MAX),
        last_error: get(row, "last_error")?,
        lease,
        fencing_token: token,
        completed_polls: db_count(get::<i64>(row, "completed_polls")?),
        reconciled_at: opt_instant(get(row, "reconciled_at")?)?,
        rewinds: db_count(get::<i64>(row, "rewinds")?),
    })
}

fn outbox_from(row: &SqliteRow) -> Result<OutboxEntry> {
    let lease = match get::<Option<String>>(row, "lease_owner")? {
        Some(owner) => Some(Lease {
            owner,
            token: db_count(get::<Option<i64>>(row, "lease_token")?.unwrap_or_default()),
            expires_at: instant(get::<Option<i64>>(row, "lease_expires")?.unwrap_or_default())?,
        }),
        None => None,
    };
    Ok(OutboxEntry {
        seq: db_count(get::<i64>(row, "seq")?),
        notification: Notification {
            id: stable_id(&get::<Vec<u8>>(row, "id")?)?,
            key: PollKey::new(
                get::<String>(row, "instance")?,
                get::<String>(row, "resource")?,
            ),
            created_at: instant(get(row, "created_at")?)?,
            event_ids: event_ids_from(&get::<Vec<u8>>(row, "event_ids")?)?,
            body: get(row, "body")?,
            subscription: crate::shared::subscription_of(&get::<String>(row, "lane")?),
        },
        status: status_from(&get::<String>(row, "status")?)?,
        attempts: u32::try_from(get::<i64>(row, "attempts")?).unwrap_or(u32::MAX),
        next_attempt: instant(get(row, "next_attempt")?)?,
        last_error: get(row, "last_error")?,
        lease,
        delivered_at: opt_instant(get(row, "delivered_at")?)?,
    })
}

fn instance_from(row: &SqliteRow) -> Result<InstanceRow> {
    Ok(InstanceRow {
        id: get(row, "id")?,
        name: get(row, "name")?,
        element_key: get(row, "element_key")?,
        status: get(row, "status")?,
        tags: get(row, "tags")?,
        created_at: instant(get(row, "created_at")?)?,
        updated_at: instant(get(row, "updated_at")?)?,
        config_sealed: get(row, "config_sealed")?,
    })
}

const INSTANCE_COLUMNS: &str =
    "id, name, element_key, status, tags, created_at, updated_at, config_sealed";

/// `PATH.lock`, beside the database file.
fn replay_from(row: &SqliteRow) -> Result<Replay> {
    Ok(Replay {
        id: get(row, "id")?,
        filter: ReplayFilter {
            instance: get(row, "instance")?,
            since: instant(get(row, "since")?)?,
            until: instant(get(row, "until")?)?,
            resources: list_from(&get::<String>(row, "resources")?)?,
            event_types: list_from(&get::<String>(row, "event_types")?)?,
            lane: get(row, "lane")?,
        },
        state: ReplayState::parse(&get::<String>(row, "state")?)?,
        total: db_count(get(row, "total")?),
        replayed: db_count(get(row, "replayed")?),
        created_at: instant(get(row, "created_at")?)?,
        updated_at: instant(get(row, "updated_at")?)?,
        finished_at: opt_instant(get(row, "finished_at")?)?,
    })
}

fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the exclusive lock on `PATH.lock` and writes this process's pid into it, or fails with
/// `InUse` naming the lock file and the pid written there by the process holding it. The
/// operating system releases the lock when the process ends, however it ends.
fn lock_exclusively(db: &Path) -> Result<std::fs::File> {
    use std::io::{Read as _, Seek as _, Write as _};
    let path = lock_path(db);
    let failed = |e: std::io::Error| {
        Error::new(
            ErrorKind::Connect,
            format!(
                "cannot lock the database {}: {}: {e}",
                db.display(),
                path.display()
            ),
        )
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // Best effort: the message still names the lock file without it.
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() {
                "a process that has not written its pid yet"
            } else {
                holder
            };
            return Err(Error::new(
                ErrorKind::InUse,
                format!(
                    "the database {} is in use by another pollen process ({holder}), which holds \
                     the lock {}: stop it first, or give this process another database",
                    db.display(),
                    path.display()
                ),
            ));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
    }
    let holder = format!(
        "pid {}, since {}\n",
        std::process::id(),
        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(holder.as_bytes()))
        .and_then(|()| file.flush())
        .map_err(failed)?;
    Ok(file)
}

/// Creates the database file with mode 0600 unless it exists (SQLite gives its `-wal` and
/// `-shm` files the same mode).
fn create_private_file(path: &Path) -> Result<()> {
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::new(
            ErrorKind::Connect,
            format!("cannot create the database file {}: {e}", path.display()),
        )),
    }
}

impl SqliteBackend {
    pub(crate) async fn open(path: &Path, options: &StoreOptions) -> Result<Self> {
        // Before anything is created or migrated: a refused process changes nothing.
        let lock = options
            .exclusive
            .then(|| lock_exclusively(path))
            .transpose()?;
        create_private_file(path)?;
        let base = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout);
        let connect_error = |e: sqlx::Error| {
            Error::new(
                ErrorKind::Connect,
                format!(
                    "cannot open the database {}: {}",
                    path.display(),
                    crate::error::describe(&e)
                ),
            )
        };
        let wait = options.busy_timeout.max(Duration::from_secs(30));
        // Only the writer sets the journal mode: WAL is persistent, and switching needs an
        // exclusive lock that the busy timeout does not cover.
        let writer_options = base
            .clone()
            .journal_mode(SqliteJournalMode::Wal)
            // The writer walks the outbox and its indexes on every claim and record: a page
            // cache of 8 MiB (the default is 2) keeps them in memory instead of re-reading
            // them from the file.
            .pragma("cache_size", "-8192")
            // Checkpoints run beside the writer (`checkpoint`); this is the fallback should
            // they fall behind (64 MiB of WAL).
            .pragma("wal_autocheckpoint", "16384");
        // Migrations run on a pool of their own: the migrator over a borrowed connection makes
        // `open`'s future fail `Send` checks in callers (a compiler limitation).
        let migrating = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(wait)
            .connect_with(writer_options.clone())
            .await
            .map_err(connect_error)?;
        let migrated = MIGRATOR.run(&migrating).await;
        migrating.close().await;
        migrated.map_err(|e| {
            Error::new(
                ErrorKind::Migration,
                format!(
                    "migrating {}: {}",
                    path.display(),
                    lowercase(&e.to_string())
                ),
            )
        })?;
        let writer = writer_options.connect().await.map_err(connect_error)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .test_before_acquire(false)
            .acquire_timeout(wait)
            .connect_with(base)
            .await
            .map_err(connect_error)?;
        let (checkpoints, stop) = tokio::sync::watch::channel(());
        tokio::spawn(checkpoint(reader.clone(), stop));
        Ok(SqliteBackend {
            writer: Mutex::new(Some(writer)),
            writer_wait: wait,
            reader,
            path: path.to_owned(),
            _checkpoints: checkpoints,
            lock: std::sync::Mutex::new(lock),
        })
    }

    pub(crate) async fn close(&self) {
        self.reader.close().await;
        let writer = self.writer.lock().await.take();
        if let Some(writer) = writer {
            // Closing checkpoints the WAL; if that fails, the next open recovers it.
            let _ = writer.close().await;
        }
        // After the last write: the next holder finds a closed database.
        self.lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    /// Whether this process holds the database alone (opened exclusively).
    pub(crate) fn exclusive(&self) -> bool {
        self.lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }

    /// The writer connection, once the writers before have finished with it.
    async fn writer(&self) -> Result<Writer<'_>> {
        tokio::time::timeout(self.writer_wait, self.writer.lock())
            .await
            .map(Writer)
            .map_err(|_| {
                Error::new(
                    ErrorKind::Database,
                    format!(
                        "waited {:?} for the database's writer connection",
                        self.writer_wait
                    ),
                )
            })
    }

    // ----- key check -----

    pub(crate) async fn key_check(&self, candidate: Vec<u8>) -> Result<Vec<u8>> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        sqlx::query(
            "INSERT INTO meta (name, value) VALUES ('key_check', ?) ON CONFLICT DO NOTHING",
        )
        .bind(candidate)
        .execute(&mut *tx)
        .await
        .map_err(db("storing the key check value"))?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM meta WHERE name = 'key_check'")
            .fetch_one(&mut *tx)
            .await
            .map_err(db("reading the key check value"))?;
        tx.commit().await.map_err(db("committing"))?;
        Ok(stored)
    }

    // ----- poll state -----

    async fn load_state(&self, key: &PollKey) -> Result<Option<PollState>> {
        let sql =
            format!("SELECT {STATE_COLUMNS} FROM poll_state WHERE instance = ? AND resource = ?");
        let row = sqlx::query(&sql)
            .bind(&key.instance)
            .bind(&key.resource)
            .fetch_optional(&self.reader)
            .await
            .map_err(db("loading a poll state"))?;
        row.as_ref().map(state_from).transpose()
    }

    pub(crate) async fn register(
        &self,
        key: &PollKey,
        watermark: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> Result<PollState> {
        // An existing state is kept as it is, and resumed if it was paused.
        sqlx::query(
            "INSERT INTO poll_state (instance, resource, watermark, next_due, claimable_at, \
             completed_due) VALUES (?1, ?2, ?3, ?4, ?4, ?4) ON CONFLICT (instance, resource) \
             DO UPDATE SET paused = 0, completed_due = max(coalesce(completed_due, ?4), ?4), \
             stall_at = max(coalesce(completed_due, ?4), ?4) + 3 * interval_us \
             WHERE poll_state.paused <> 0",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .bind(micros(watermark))
        .bind(micros(next_due))
        .execute(self.writer().await?.conn()?)
        .await
        .map_err(db("registering a poll state"))?;
        let sql =
            format!("SELECT {STATE_COLUMNS} FROM poll_state WHERE instance = ? AND resource = ?");
        let row = sqlx::query(&sql)
            .bind(&key.instance)
            .bind(&key.resource)
            .fetch_one(self.writer().await?.conn()?)
            .await
            .map_err(db("loading a poll state"))?;
        state_from(&row)
    }

    pub(crate) async fn unregister(&self, key: &PollKey) -> Result<bool> {
        let done = sqlx::query("DELETE FROM poll_state WHERE instance = ? AND resource = ?")
            .bind(&key.instance)
            .bind(&key.resource)
            .execute(self.writer().await?.conn()?)
            .await
            .map_err(db("unregistering a poll state"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn pause_instance(&self, instance: &str) -> Result<u64> {
        let done = sqlx::query("UPDATE poll_state SET paused = 1 WHERE instance = ?")
            .bind(instance)
            .execute(self.writer().await?.conn()?)
            .await
            .map_err(db("pausing an instance's polls"))?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn load(&self, key: &PollKey) -> Result<Option<PollState>> {
        self.load_state(key).await
    }

    pub(crate) async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let min: Option<i64> =
            sqlx::query_scalar("SELECT MIN(claimable_at) FROM poll_state WHERE paused = 0")
                .fetch_one(&self.reader)
                .await
                .map_err(db("finding the next due poll"))?;
        opt_instant(min)
    }

    /// Reserves `n` fresh fencing tokens; returns the first.
    async fn reserve_tokens(tx: &mut Transaction<'_, Sqlite>, n: usize) -> Result<i64> {
        let last: i64 = sqlx::query_scalar(
            "UPDATE counter SET value = value + ? WHERE name = 'fencing_token' RETURNING value",
        )
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_one(&mut **tx)
        .await
        .map_err(db("taking fencing tokens"))?;
        Ok(last - i64::try_from(n).unwrap_or(i64::MAX) + 1)
    }

    pub(crate) async fn claim_due(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
    ) -> Result<Vec<PollState>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM poll_state WHERE claimable_at <= ? AND paused = 0 \
             ORDER BY claimable_at, instance, resource LIMIT ?",
        )
        .bind(micros(now))
        .bind(db_u64(limit as u64))
        .fetch_all(&mut *tx)
        .await
        .map_err(db("finding due polls"))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let first = Self::reserve_tokens(&mut tx, ids.len()).await?;
        let expires = micros(now + lease_for);
        let sql = format!(
            "UPDATE poll_state SET lease_owner = ?, lease_expires = ?, fencing_token = ?, \
             claimable_at = max(next_due, ?) WHERE id = ? RETURNING {STATE_COLUMNS}"
        );
        let mut claimed = Vec::with_capacity(ids.len());
        for (token, id) in (first..).zip(ids) {
            let row = sqlx::query(&sql)
                .bind(owner)
                .bind(expires)
                .bind(token)
                .bind(expires)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db("claiming a poll"))?;
            claimed.push(state_from(&row)?);
        }
        tx.commit().await.map_err(db("committing a claim"))?;
        Ok(claimed)
    }

    /// After a fenced write changed nothing: `NotFound` or `LeaseLost`.
    async fn state_miss(&self, key: &PollKey) -> Error {
        match self.load_state(key).await {
            Ok(Some(_)) => Error::lease_lost(key),
            Ok(None) => Error::not_found(format_args!("poll state for {key}")),
            Err(e) => e,
        }
    }

    pub(crate) async fn release(&self, key: &PollKey, token: u64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE poll_state SET lease_owner = NULL, lease_expires = NULL, claimable_at = next_due \
             WHERE instance = ? AND resource = ? AND lease_owner IS NOT NULL AND fencing_token = ?",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .bind(db_u64(token))
        .execute(self.writer().await?.conn()?)
        .await
        .map_err(db("releasing a lease"))?;
        if done.rows_affected() == 0 {
            return Err(self.state_miss(key).await);
        }
        Ok(())
    }

    pub(crate) async fn seen(&self, key: &PollKey, ids: &[StableId]) -> Result<Vec<bool>> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(INSERT_CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT change_id FROM seen_change WHERE state_id = \
                 (SELECT id FROM poll_state WHERE instance = ",
            );
            q.push_bind(&key.instance)
                .push(" AND resource = ")
                .push_bind(&key.resource)
                .push(") AND change_id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.0.as_slice());
            }
            q.push(")");
            let rows: Vec<Vec<u8>> = q
                .build_query_scalar()
                .fetch_all(&self.reader)
                .await
                .map_err(db("reading seen changes"))?;
            for bytes in rows {
                found.insert(stable_id(&bytes)?);
            }
        }
        Ok(ids.iter().map(|id| found.contains(id)).collect())
    }

    pub(crate) async fn commit_poll(&self, commit: PollCommit) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let state_id: Option<i64> = sqlx::query_scalar(
            "UPDATE poll_state SET watermark = ?1, next_due = ?2, consecutive_failures = 0, \
             last_error = NULL, lease_owner = NULL, lease_expires = NULL, \
             completed_polls = completed_polls + 1, claimable_at = ?2, completed_due = ?2, \
             stall_at = ?2 + 3 * interval_us, reconciled_at = coalesce(?3, reconciled_at) \
             WHERE instance = ?4 AND resource = ?5 AND lease_owner IS NOT NULL \
             AND fencing_token = ?6 RETURNING id",
        )
        .bind(micros(commit.watermark))
        .bind(micros(commit.next_due))
        .bind(commit.reconciled.as_ref().map(|r| micros(r.at)))
        .bind(&commit.key.instance)
        .bind(&commit.key.resource)
        .bind(db_u64(commit.lease_token))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("committing a poll"))?;
        let Some(state_id) = state_id else {
            drop(tx);
            return Err(self.state_miss(&commit.key).await);
        };
        append(
            &mut tx,
            state_id,
            &commit.seen,
            commit.prune_before,
            &commit.notifications,
        )
        .await?;
        let (added, removed) = match &commit.reconciled {
            Some(r) => (r.added.as_slice(), r.removed.as_slice()),
            None => (&[][..], &[][..]),
        };
        remember(&mut tx, state_id, &[&commit.known, added], removed).await?;
        chains(
            &mut tx,
            state_id,
            &commit.window,
            &commit.checkpoints,
            &commit.ended_chains,
        )
        .await?;
        tx.commit().await.map_err(db("committing a poll"))
    }

    pub(crate) async fn commit_progress(&self, progress: PollProgress) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let state_id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM poll_state \
             WHERE instance = ? AND resource = ? AND lease_owner IS NOT NULL AND fencing_token = ?",
        )
        .bind(&progress.key.instance)
        .bind(&progress.key.resource)
        .bind(db_u64(progress.lease_token))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("checking a poll's lease"))?;
        let Some(state_id) = state_id else {
            drop(tx);
            return Err(self.state_miss(&progress.key).await);
        };
        append(
            &mut tx,
            state_id,
            &progress.seen,
            None,
            &progress.notifications,
        )
        .await?;
        remember(&mut tx, state_id, &[&progress.known], &[]).await?;
        chains(&mut tx, state_id, &progress.window, &[], &[]).await?;
        tx.commit().await.map_err(db("writing a poll's progress"))
    }

    pub(crate) async fn record_failure(&self, failure: PollFailure) -> Result<()> {
        let done = sqlx::query(
            "UPDATE poll_state SET consecutive_failures = consecutive_failures + 1, \
             last_error = ?, next_due = ?, lease_owner = NULL, lease_expires = NULL, \
             claimable_at = ? \
             WHERE instance = ? AND resource = ? AND lease_owner IS NOT NULL AND fencing_token = ?",
        )
        .bind(&failure.error)
        .bind(micros(failure.next_due))
        .bind(micros(failure.next_due))
        .bind(&failure.key.instance)
        .bind(&failure.key.resource)
        .bind(db_u64(failure.lease_token))
        .execute(self.writer().await?.conn()?)
        .await
        .map_err(db("recording a failed poll"))?;
        if done.rows_affected() == 0 {
            return Err(self.state_miss(&failure.key).await);
        }
        Ok(())
    }

    pub(crate) async fn prune_seen(&self, key: &PollKey, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM seen_change WHERE state_id = \
             (SELECT id FROM poll_state WHERE instance = ? AND resource = ?) AND seen_at < ?",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .bind(micros(before))
        .execute(self.writer().await?.conn()?)
        .await
        .map_err(db("pruning seen changes"))?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn checkpoint_chains(
        &self,
        instance: &str,
    ) -> Result<Vec<crate::checkpoint::ChainRow>> {
        sqlx::query_as(
            "SELECT p.resource, h.subscription, h.chain, h.sequence, h.checkpoint, h.to_text, \
             (SELECT COUNT(*) FROM checkpoint_event e \
              WHERE e.state_id = h.state_id AND e.subscription = h.subscription) \
             FROM checkpoint_head h JOIN poll_state p ON p.id = h.state_id \
             WHERE p.instance = ? ORDER BY p.resource, h.subscription",
        )
        .bind(instance)
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading checkpoint chains"))
    }

    pub(crate) async fn checkpoint_heads(&self, key: &PollKey) -> Result<Vec<CheckpointHead>> {
        let rows: Vec<HeadRow> = sqlx::query_as(
            "SELECT subscription, chain, sequence, checkpoint, to_text FROM checkpoint_head \
             WHERE state_id = (SELECT id FROM poll_state WHERE instance = ? AND resource = ?) \
             ORDER BY subscription",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading checkpoint heads"))?;
        rows.into_iter().map(head_from).collect()
    }

    pub(crate) async fn window_events(&self, key: &PollKey) -> Result<Vec<WindowEvent>> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT subscription, event_id FROM checkpoint_event \
             WHERE state_id = (SELECT id FROM poll_state WHERE instance = ? AND resource = ?) \
             ORDER BY subscription, event_id",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading checkpoint window events"))?;
        rows.into_iter().map(window_event_from).collect()
    }

    pub(crate) async fn known_ids(&self, key: &PollKey) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT record_id FROM known_record WHERE state_id = \
             (SELECT id FROM poll_state WHERE instance = ? AND resource = ?) ORDER BY record_id",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading known record ids"))
    }

    pub(crate) async fn seen_count(&self, key: &PollKey) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM seen_change WHERE state_id = \
             (SELECT id FROM poll_state WHERE instance = ? AND resource = ?)",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .fetch_one(&self.reader)
        .await
        .map_err(db("counting seen changes"))?;
        Ok(db_count(n))
    }

    // ----- subscriptions and the outbox -----

    pub(crate) async fn set_subscription_active(&self, instance: &str, active: bool) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        if active {
            sqlx::query("DELETE FROM subscription_inactive WHERE instance = ?")
                .bind(instance)
                .execute(&mut *tx)
                .await
                .map_err(db("activating a subscription"))?;
        } else {
            sqlx::query(
                "INSERT INTO subscription_inactive (instance) VALUES (?) ON CONFLICT DO NOTHING",
            )
            .bind(instance)
            .execute(&mut *tx)
            .await
            .map_err(db("deactivating a subscription"))?;
            sqlx::query(
                "UPDATE outbox SET status = 'queued', lease_owner = NULL, lease_token = NULL, \
                 lease_expires = NULL WHERE lane = ? AND status = 'pending'",
            )
            .bind(instance)
            .execute(&mut *tx)
            .await
            .map_err(db("queueing notifications"))?;
        }
        tx.commit()
            .await
            .map_err(db("committing a subscription change"))
    }

    pub(crate) async fn subscription_active(&self, instance: &str) -> Result<bool> {
        let off: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM subscription_inactive WHERE instance = ?)",
        )
        .bind(instance)
        .fetch_one(&self.reader)
        .await
        .map_err(db("reading a subscription"))?;
        Ok(!off)
    }

    /// The seqs a claim takes (see [`Store::claim_outbox_skipping`](pollen_core::Store)):
    /// the first `limit`, in `(next_attempt, seq)` order, of each non-skipped lane's first
    /// `per_instance` claimable rows (a lane is an instance's callback or one of its
    /// subscriptions; "instance" below reads as lane).
    ///
    /// Statements are plain, index-only range reads with fixed text (prepared once per
    /// connection) that return few rows; the choosing happens here, because sqlx hands every
    /// row across threads and SQLite's window functions are slow. First the head of the global
    /// order (the first `CLAIM_WINDOW` × `limit` due rows of `outbox_ready`) and the rows whose
    /// lease expired (rare: a worker died or stalled), in one statement. If the skip list and
    /// the cap leave `limit` of them, or the window held every due row, that is the answer.
    /// Otherwise (the head belongs to skipped or capped instances: a backlog behind endpoints
    /// at their limit, or one busy instance) a loose index scan over `outbox_ready_lane`
    /// lists each instance with due rows and its first one (a seek per instance), and the
    /// instances the head did not cap are read in the order of their first due row, in
    /// growing groups, until no instance left can come before the `limit`-th pick.
    async fn claimable(
        tx: &mut Transaction<'_, Sqlite>,
        now: DateTime<Utc>,
        limit: usize,
        per_instance: usize,
        skip: &[String],
    ) -> Result<Vec<i64>> {
        let now = micros(now);
        // Owned: a set of borrowed names held across the awaits below makes the future fail
        // callers' `Send` checks (a compiler limitation with higher-ranked lifetimes).
        let skip: HashSet<String> = skip.iter().cloned().collect();
        let window = limit.saturating_mul(CLAIM_WINDOW);
        let rows: Vec<(bool, i64, i64, String)> = sqlx::query_as(
            "SELECT 0, * FROM (SELECT next_attempt, seq, lane FROM outbox INDEXED BY outbox_ready \
               WHERE status = 'pending' AND lease_owner IS NULL AND next_attempt <= ?1 \
               ORDER BY next_attempt, seq LIMIT ?2) \
             UNION ALL \
             SELECT 1, next_attempt, seq, lane FROM outbox INDEXED BY outbox_leased \
               WHERE status = 'pending' AND lease_owner IS NOT NULL AND lease_expires <= ?1 \
                 AND next_attempt <= ?1",
        )
        .bind(now)
        .bind(db_u64(window as u64))
        .fetch_all(&mut **tx)
        .await
        .map_err(db("finding due notifications"))?;
        let (expired, head): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.0);
        // Rows past the window's last row are unknown when the window is full.
        let head_end = (head.len() == window)
            .then(|| head.last().map(|r| (r.1, r.2)))
            .flatten();
        let expired: Vec<Candidate> = expired
            .into_iter()
            .map(|r| (r.1, r.2, r.3))
            .filter(|c| !skip.contains(&c.2))
            .collect();
        let mut known: Vec<Candidate> = expired
            .iter()
            .filter(|c| head_end.is_none_or(|end| (c.0, c.1) <= end))
            .cloned()
            .chain(
                head.into_iter()
                    .map(|r| (r.1, r.2, r.3))
                    .filter(|c| !skip.contains(&c.2)),
            )
            .collect();
        let picks = pick(&mut known, limit, per_instance);
        if head_end.is_none() || picks.len() == limit {
            return Ok(picks);
        }
        let mut taken: HashMap<String, usize> = HashMap::new();
        for c in &known {
            *taken.entry(c.2.clone()).or_default() += 1;
        }
        // Each instance with due unleased rows and its first one.
        let firsts: Vec<(String, i64, i64)> = sqlx::query_as(
            "WITH RECURSIVE inst (name) AS (\
               SELECT (SELECT min(lane) FROM outbox INDEXED BY outbox_ready_lane \
                 WHERE status = 'pending' AND lease_owner IS NULL) \
               UNION ALL \
               SELECT (SELECT lane FROM outbox INDEXED BY outbox_ready_lane \
                 WHERE status = 'pending' AND lease_owner IS NULL AND lane > inst.name \
                 ORDER BY lane LIMIT 1) \
               FROM inst WHERE inst.name IS NOT NULL) \
             SELECT * FROM (SELECT name, \
               (SELECT next_attempt FROM outbox INDEXED BY outbox_ready_lane \
                 WHERE status = 'pending' AND lease_owner IS NULL AND lane = inst.name \
                 ORDER BY next_attempt, seq LIMIT 1) AS next_attempt, \
               (SELECT seq FROM outbox INDEXED BY outbox_ready_lane \
                 WHERE status = 'pending' AND lease_owner IS NULL AND lane = inst.name \
                 ORDER BY next_attempt, seq LIMIT 1) AS seq \
               FROM inst WHERE name IS NOT NULL) WHERE next_attempt <= ?",
        )
        .bind(now)
        .fetch_all(&mut **tx)
        .await
        .map_err(db("listing instances with due notifications"))?;
        let mut queue: Vec<(i64, i64, String)> = firsts
            .into_iter()
            .filter(|(i, ..)| {
                !skip.contains(i) && taken.get(i).copied().unwrap_or(0) < per_instance
            })
            .map(|(i, next_attempt, seq)| (next_attempt, seq, i))
            .collect();
        queue.sort_unstable_by_key(|q| std::cmp::Reverse((q.0, q.1)));
        // Every expired lease counts now, and the head's rows: they are read again for the
        // instances the head did not cap, and `seen` drops the copies.
        let mut seen: HashSet<i64> = known.iter().map(|c| c.1).collect();
        let mut all: Vec<Candidate> = known;
        all.extend(expired.into_iter().filter(|c| seen.insert(c.1)));
        let mut group = 1;
        loop {
            let picks = pick(&mut all, limit, per_instance);
            let done = match queue.last() {
                None => true,
                // No instance left can place a row before the last pick.
                Some(next) => {
                    picks.len() == limit
                        && all
                            .iter()
                            .find(|c| Some(&c.1) == picks.last())
                            .is_some_and(|last| (last.0, last.1) < (next.0, next.1))
                }
            };
            if done {
                return Ok(picks);
            }
            let take = group.min(queue.len());
            let instances: Vec<String> = queue
                .drain(queue.len() - take..)
                .rev()
                .map(|q| q.2)
                .collect();
            // A power-of-two number of arms (the rest bound to NULL, which matches nothing)
            // keeps the number of distinct statements, and so of preparations, small.
            let mut q = QueryBuilder::<Sqlite>::new("");
            for n in 0..take.next_power_of_two() {
                if n > 0 {
                    q.push(" UNION ALL ");
                }
                q.push(
                    "SELECT * FROM (SELECT next_attempt, seq, lane \
                     FROM outbox INDEXED BY outbox_ready_lane \
                     WHERE status = 'pending' AND lease_owner IS NULL AND lane = ",
                )
                .push_bind(instances.get(n).map(String::as_str))
                .push(" AND next_attempt <= ")
                .push_bind(now)
                .push(" ORDER BY next_attempt, seq LIMIT ")
                .push_bind(db_u64(per_instance as u64))
                .push(")");
            }
            let rows: Vec<Candidate> = q
                .build_query_as()
                .fetch_all(&mut **tx)
                .await
                .map_err(db("finding due notifications per instance"))?;
            all.extend(rows.into_iter().filter(|c| seen.insert(c.1)));
            group = (group * 2).min(MAX_INSTANCES_PER_READ);
        }
    }

    pub(crate) async fn claim_outbox(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: usize,
        per_instance: usize,
        skip: &[String],
    ) -> Result<Vec<OutboxEntry>> {
        if limit == 0 || per_instance == 0 {
            return Ok(Vec::new());
        }
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let seqs = Self::claimable(&mut tx, now, limit, per_instance.min(limit), skip).await?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let first = Self::reserve_tokens(&mut tx, seqs.len()).await?;
        // One statement leases them all, each with its own token (the seqs travel as one JSON
        // array, so the statement's text never changes and it is prepared once).
        let seq_list = serde_json::to_string(&seqs)
            .map_err(|err| Error::new(ErrorKind::Database, format!("encoding a claim: {err}")))?;
        sqlx::query(
            "WITH picked (seq, token) AS (SELECT value, ?1 + key FROM json_each(?2)) \
             UPDATE outbox SET lease_owner = ?3, lease_token = picked.token, lease_expires = ?4 \
             FROM picked WHERE outbox.seq = picked.seq",
        )
        .bind(first)
        .bind(&seq_list)
        .bind(owner)
        .bind(micros(now + lease_for))
        .execute(&mut *tx)
        .await
        .map_err(db("claiming notifications"))?;
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX_JOINED} WHERE o.seq IN (SELECT value FROM json_each(?))"
        ))
        .bind(&seq_list)
        .fetch_all(&mut *tx)
        .await
        .map_err(db("reading claimed notifications"))?;
        tx.commit().await.map_err(db("committing a claim"))?;
        let mut claimed = rows.iter().map(outbox_from).collect::<Result<Vec<_>>>()?;
        claimed.sort_by_key(|e| (e.next_attempt, e.seq));
        Ok(claimed)
    }

    /// [`Store::record_attempts`](pollen_core::Store::record_attempts): every record in one
    /// transaction, a few statements per chunk of records whatever its size.
    pub(crate) async fn record_attempts(
        &self,
        records: &[AttemptRecord],
    ) -> Result<Vec<pollen_core::Result<()>>> {
        let mut results: Vec<Option<pollen_core::Result<()>>> = vec![None; records.len()];
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let mut start = 0;
        while start < records.len() {
            // A chunk names each notification once, so that each update sees the one before.
            let mut ids = HashSet::new();
            let mut end = start;
            while end < records.len() && end - start < RECORD_CHUNK && ids.insert(records[end].id) {
                end += 1;
            }
            let chunk = &records[start..end];
            // The records travel as one JSON array, so the statement's text never changes
            // and it is prepared once (a multi-row VALUES list has a text per batch size).
            let rows: Vec<serde_json::Value> = chunk
                .iter()
                .map(|r| {
                    let (status, next_attempt, error) = match r.outcome {
                        AttemptOutcome::Delivered => (OutboxStatus::Delivered, None, None),
                        AttemptOutcome::Failed { next_attempt } => (
                            OutboxStatus::Pending,
                            Some(micros(next_attempt)),
                            r.attempt.error.as_deref(),
                        ),
                        AttemptOutcome::Queued => {
                            (OutboxStatus::Queued, None, r.attempt.error.as_deref())
                        }
                    };
                    serde_json::json!([
                        hex(&r.id),
                        db_u64(r.token),
                        status.as_str(),
                        next_attempt,
                        micros(r.attempt.at),
                        error
                    ])
                })
                .collect();
            let updated: Vec<(i64, Vec<u8>)> = sqlx::query_as(
                "WITH r AS (SELECT unhex(value ->> 0) AS id, value ->> 1 AS token, \
                   value ->> 2 AS status, value ->> 3 AS next_attempt, value ->> 4 AS at, \
                   value ->> 5 AS error FROM json_each(?)) \
                 UPDATE outbox SET status = r.status, attempts = outbox.attempts + 1, \
                 delivered_at = CASE WHEN r.status = 'delivered' THEN r.at ELSE outbox.delivered_at END, \
                 next_attempt = coalesce(r.next_attempt, outbox.next_attempt), \
                 last_error = r.error, lease_owner = NULL, lease_token = NULL, lease_expires = NULL \
                 FROM r WHERE outbox.id = r.id AND outbox.lease_token = r.token \
                 RETURNING outbox.seq, outbox.id",
            )
            .bind(json_text(&rows)?)
            .fetch_all(&mut *tx)
            .await
            .map_err(db("recording delivery attempts"))?;
            let mut seq_of = std::collections::HashMap::with_capacity(updated.len());
            for (seq, id) in updated {
                seq_of.insert(stable_id(&id)?, seq);
            }
            let logged: Vec<(i64, &AttemptRecord)> = chunk
                .iter()
                .filter_map(|r| seq_of.get(&r.id).map(|seq| (*seq, r)))
                .collect();
            if !logged.is_empty() {
                let rows: Vec<serde_json::Value> = logged
                    .iter()
                    .map(|(seq, r)| {
                        serde_json::json!([
                            seq,
                            micros(r.attempt.at),
                            r.attempt.status,
                            db_u64(r.attempt.latency_ms),
                            r.attempt.error,
                            excerpt(&r.attempt.response_excerpt)
                        ])
                    })
                    .collect();
                sqlx::query(
                    "INSERT INTO delivery_attempt \
                     (outbox_seq, at, status, latency_ms, error, response_excerpt) \
                     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, \
                       value ->> 5 FROM json_each(?)",
                )
                .bind(json_text(&rows)?)
                .execute(&mut *tx)
                .await
                .map_err(db("logging delivery attempts"))?;
            }
            let refused: Vec<&AttemptRecord> = chunk
                .iter()
                .filter(|r| !seq_of.contains_key(&r.id))
                .collect();
            let mut known = HashSet::new();
            if !refused.is_empty() {
                let mut q = QueryBuilder::<Sqlite>::new("SELECT id FROM outbox WHERE id IN (");
                let mut list = q.separated(", ");
                for r in &refused {
                    list.push_bind(r.id.0.as_slice());
                }
                q.push(")");
                let found: Vec<Vec<u8>> = q
                    .build_query_scalar()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db("reading notifications"))?;
                for id in found {
                    known.insert(stable_id(&id)?);
                }
            }
            for (slot, r) in results[start..end].iter_mut().zip(chunk) {
                *slot = Some(if seq_of.contains_key(&r.id) {
                    Ok(())
                } else if known.contains(&r.id) {
                    Err(Error::lease_lost(format_args!("notification {}", r.id)).into())
                } else {
                    Err(Error::not_found(format_args!("notification {}", r.id)).into())
                });
            }
            start = end;
        }
        tx.commit()
            .await
            .map_err(db("committing delivery attempts"))?;
        Ok(results.into_iter().flatten().collect())
    }

    /// Applies a fenced outbox update (`set` is the SET clause, whose `?`s come first) and logs
    /// the attempt, in one transaction.
    async fn finish_attempt(
        &self,
        id: &StableId,
        token: u64,
        set: &str,
        binds: (Option<i64>, Option<String>),
        attempt: &DeliveryAttempt,
    ) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let sql = format!(
            "UPDATE outbox SET {set}, attempts = attempts + 1, lease_owner = NULL, \
             lease_token = NULL, lease_expires = NULL WHERE id = ? AND lease_token = ? RETURNING seq"
        );
        let mut q = sqlx::query_scalar::<_, i64>(&sql);
        if let Some(at) = binds.0 {
            q = q.bind(at);
        }
        if set.contains("last_error = ?") {
            q = q.bind(binds.1);
        }
        let seq = q
            .bind(id.0.as_slice())
            .bind(db_u64(token))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("recording a delivery attempt"))?;
        let Some(seq) = seq else {
            drop(tx);
            let known: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbox WHERE id = ?)")
                    .bind(id.0.as_slice())
                    .fetch_one(&self.reader)
                    .await
                    .map_err(db("reading a notification"))?;
            return Err(if known {
                Error::lease_lost(format_args!("notification {id}"))
            } else {
                Error::not_found(format_args!("notification {id}"))
            });
        };
        sqlx::query(
            "INSERT INTO delivery_attempt (outbox_seq, at, status, latency_ms, error, response_excerpt) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(micros(attempt.at))
        .bind(attempt.status.map(i64::from))
        .bind(db_u64(attempt.latency_ms))
        .bind(&attempt.error)
        .bind(excerpt(&attempt.response_excerpt))
        .execute(&mut *tx)
        .await
        .map_err(db("logging a delivery attempt"))?;
        tx.commit()
            .await
            .map_err(db("committing a delivery attempt"))
    }

    pub(crate) async fn mark_delivered(
        &self,
        id: &StableId,
        token: u64,
        attempt: &DeliveryAttempt,
    ) -> Result<()> {
        self.finish_attempt(
            id,
            token,
            "status = 'delivered', delivered_at = ?, last_error = NULL",
            (Some(micros(attempt.at)), None),
            attempt,
        )
        .await
    }

    pub(crate) async fn mark_failed(
        &self,
        id: &StableId,
        token: u64,
        next_attempt: DateTime<Utc>,
        attempt: &DeliveryAttempt,
    ) -> Result<()> {
        self.finish_attempt(
            id,
            token,
            "status = 'pending', next_attempt = ?, last_error = ?",
            (Some(micros(next_attempt)), attempt.error.clone()),
            attempt,
        )
        .await
    }

    pub(crate) async fn mark_queued(
        &self,
        id: &StableId,
        token: u64,
        attempt: &DeliveryAttempt,
    ) -> Result<()> {
        self.finish_attempt(
            id,
            token,
            "status = 'queued', last_error = ?",
            (None, attempt.error.clone()),
            attempt,
        )
        .await
    }

    pub(crate) async fn list_attempts(&self, id: &StableId) -> Result<Vec<DeliveryAttempt>> {
        let rows = sqlx::query(
            "SELECT a.at, a.status, a.latency_ms, a.error, a.response_excerpt \
             FROM delivery_attempt a JOIN outbox o ON o.seq = a.outbox_seq \
             WHERE o.id = ? ORDER BY a.id",
        )
        .bind(id.0.as_slice())
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading the delivery log"))?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryAttempt {
                    at: instant(get(row, "at")?)?,
                    status: get::<Option<i64>>(row, "status")?
                        .map(|s| u16::try_from(s).unwrap_or(u16::MAX)),
                    latency_ms: db_count(get::<i64>(row, "latency_ms")?),
                    error: get(row, "error")?,
                    response_excerpt: get(row, "response_excerpt")?,
                })
            })
            .collect()
    }

    pub(crate) async fn list_outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxEntry>> {
        let mut q = QueryBuilder::<Sqlite>::new(format!("SELECT {OUTBOX_JOINED} WHERE 1 = 1"));
        if let Some(instance) = &filter.instance {
            q.push(" AND o.instance = ").push_bind(instance);
        }
        if let Some(status) = filter.status {
            q.push(" AND o.status = ").push_bind(status.as_str());
        }
        if let Some(after) = filter.after_seq {
            q.push(" AND o.seq > ").push_bind(db_u64(after));
        }
        q.push(" ORDER BY o.seq");
        if let Some(limit) = filter.limit {
            q.push(" LIMIT ").push_bind(db_u64(limit as u64));
        }
        let rows = q
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(db("listing the outbox"))?;
        rows.iter().map(outbox_from).collect()
    }

    pub(crate) async fn requeue(&self, ids: &[StableId], now: DateTime<Utc>) -> Result<u64> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let mut changed = 0;
        for chunk in ids.chunks(INSERT_CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "UPDATE outbox SET status = 'pending', next_attempt = ",
            );
            q.push_bind(micros(now)).push(
                ", attempts = 0, lease_owner = NULL, lease_token = NULL, lease_expires = NULL \
                 WHERE id IN (",
            );
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.0.as_slice());
            }
            q.push(")");
            changed += q
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db("re-queueing notifications"))?
                .rows_affected();
        }
        tx.commit().await.map_err(db("committing a re-queue"))?;
        Ok(changed)
    }

    // ----- instances and credentials -----

    pub(crate) async fn create_instance(
        &self,
        fields: &InstanceFields,
        token_hash: &[u8],
        now: DateTime<Utc>,
        seal: impl FnOnce(i64) -> Vec<u8>,
    ) -> Result<i64> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let id = Self::insert_instance(&mut tx, fields, token_hash, now, seal).await?;
        tx.commit().await.map_err(db("committing a new instance"))?;
        Ok(id)
    }

    /// Inserts an instance (status from `fields`); its sealed configuration is bound to the new id, so it is
    /// written by a second statement of the same transaction.
    async fn insert_instance(
        tx: &mut Transaction<'_, Sqlite>,
        fields: &InstanceFields,
        token_hash: &[u8],
        now: DateTime<Utc>,
        seal: impl FnOnce(i64) -> Vec<u8>,
    ) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO instance (name, element_key, status, tags, config_masked, config_sealed, \
             token_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, X'', ?, ?, ?) RETURNING id",
        )
        .bind(&fields.name)
        .bind(&fields.element_key)
        .bind(fields.status.as_str())
        .bind(&fields.tags)
        .bind(&fields.config_masked)
        .bind(token_hash)
        .bind(micros(now))
        .bind(micros(now))
        .fetch_one(&mut **tx)
        .await
        .map_err(db("creating an instance"))?;
        sqlx::query("UPDATE instance SET config_sealed = ? WHERE id = ?")
            .bind(seal(id))
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db("storing an instance configuration"))?;
        Ok(id)
    }

    /// [`SqlStore::put_instance_by_name`](crate::SqlStore::put_instance_by_name): the write
    /// transaction (`BEGIN IMMEDIATE`, one writer per database file) serializes the lookup and
    /// the write against every other process.
    pub(crate) async fn put_instance_by_name(
        &self,
        fields: &InstanceFields,
        token_hash: &[u8],
        now: DateTime<Utc>,
        seal: impl FnOnce(i64) -> Vec<u8>,
    ) -> Result<(i64, bool)> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM instance WHERE name = ? ORDER BY id LIMIT 1")
                .bind(&fields.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("finding an instance by name"))?;
        let (id, created) = match existing {
            Some(id) => {
                Self::update_instance_row(&mut tx, id, fields, seal(id), now).await?;
                (id, false)
            }
            None => (
                Self::insert_instance(&mut tx, fields, token_hash, now, seal).await?,
                true,
            ),
        };
        tx.commit().await.map_err(db("committing an instance"))?;
        Ok((id, created))
    }

    pub(crate) async fn instance_rows(&self, id: Option<i64>) -> Result<Vec<InstanceRow>> {
        let sql = match id {
            Some(_) => format!("SELECT {INSTANCE_COLUMNS} FROM instance WHERE id = ?"),
            None => format!("SELECT {INSTANCE_COLUMNS} FROM instance ORDER BY id"),
        };
        let mut q = sqlx::query(&sql);
        if let Some(id) = id {
            q = q.bind(id);
        }
        let rows = q
            .fetch_all(&self.reader)
            .await
            .map_err(db("reading instances"))?;
        rows.iter().map(instance_from).collect()
    }

    pub(crate) async fn instance_by_token_hash(&self, hash: &[u8]) -> Result<Option<InstanceRow>> {
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instance WHERE token_hash = ?");
        let row = sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.reader)
            .await
            .map_err(db("finding an instance by token"))?;
        row.as_ref().map(instance_from).transpose()
    }

    pub(crate) async fn update_instance_config(
        &self,
        id: i64,
        fields: &InstanceFields,
        sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let found = Self::update_instance_row(&mut tx, id, fields, sealed, now).await?;
        tx.commit().await.map_err(db("committing an instance"))?;
        Ok(found)
    }

    /// Replaces the configuration of row `id`, and drops the retired keys of subscriptions it
    /// no longer has; whether it exists.
    async fn update_instance_row(
        conn: &mut SqliteConnection,
        id: i64,
        fields: &InstanceFields,
        sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE instance SET name = ?, element_key = ?, tags = ?, config_masked = ?, \
             config_sealed = ?, updated_at = ? WHERE id = ?",
        )
        .bind(&fields.name)
        .bind(&fields.element_key)
        .bind(&fields.tags)
        .bind(&fields.config_masked)
        .bind(sealed)
        .bind(micros(now))
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(db("updating an instance"))?;
        sqlx::query(
            "DELETE FROM retired_signing_key WHERE instance_id = ? AND subscription <> '' \
             AND subscription NOT IN (SELECT value FROM json_each(?))",
        )
        .bind(id)
        .bind(&fields.subscriptions)
        .execute(&mut *conn)
        .await
        .map_err(db("dropping the retired keys of removed subscriptions"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn set_instance_status(
        &self,
        id: i64,
        status: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE instance SET status = ?, updated_at = ? WHERE id = ?")
            .bind(status)
            .bind(micros(now))
            .bind(id)
            .execute(self.writer().await?.conn()?)
            .await
            .map_err(db("updating an instance status"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn set_token_hash(&self, id: i64, hash: &[u8]) -> Result<bool> {
        let done = sqlx::query("UPDATE instance SET token_hash = ? WHERE id = ?")
            .bind(hash)
            .bind(id)
            .execute(self.writer().await?.conn()?)
            .await
            .map_err(db("rotating an instance token"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn delete_instance(&self, id: i64) -> Result<bool> {
        let key = id.to_string();
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        for sql in [
            "DELETE FROM poll_state WHERE instance = ?",
            "DELETE FROM outbox WHERE instance = ?",
            "DELETE FROM subscription_inactive WHERE instance = ?1 OR instance LIKE ?1 || '/%'",
        ] {
            sqlx::query(sql)
                .bind(&key)
                .execute(&mut *tx)
                .await
                .map_err(db("deleting an instance's state"))?;
        }
        let done = sqlx::query("DELETE FROM instance WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("deleting an instance"))?;
        tx.commit()
            .await
            .map_err(db("committing an instance deletion"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn credential_row(&self, id: i64) -> Result<Option<CredentialRow>> {
        let row = sqlx::query(
            "SELECT access_token, refresh_token, expires_at, code_exchanged \
             FROM credential WHERE instance_id = ?",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db("reading credentials"))?;
        row.map(|row| {
            Ok(CredentialRow {
                access_token: get(&row, "access_token")?,
                refresh_token: get(&row, "refresh_token")?,
                expires_at: opt_instant(get(&row, "expires_at")?)?,
                code_exchanged: get(&row, "code_exchanged")?,
            })
        })
        .transpose()
    }

    pub(crate) async fn save_credentials(
        &self,
        id: i64,
        row: &CredentialRow,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO credential (instance_id, access_token, refresh_token, expires_at, updated_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (instance_id) DO UPDATE SET \
             access_token = excluded.access_token, refresh_token = excluded.refresh_token, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(row.access_token.as_deref())
        .bind(row.refresh_token.as_deref())
        .bind(row.expires_at.map(micros))
        .bind(micros(now))
        .execute(self.writer().await?.conn()?)
        .await
        .map_err(|e| foreign_key_or(&e, id, "saving credentials"))?;
        Ok(())
    }

    pub(crate) async fn claim_code_exchange(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let claimed: Option<i64> = sqlx::query_scalar(
            "INSERT INTO credential (instance_id, code_exchanged, updated_at) VALUES (?, 1, ?) \
             ON CONFLICT (instance_id) DO UPDATE SET code_exchanged = 1, updated_at = excluded.updated_at \
             WHERE credential.code_exchanged = 0 RETURNING instance_id",
        )
        .bind(id)
        .bind(micros(now))
        .fetch_optional(self.writer().await?.conn()?)
        .await
        .map_err(|e| foreign_key_or(&e, id, "claiming the code exchange"))?;
        Ok(claimed.is_some())
    }

    // ----- retired signing keys -----

    pub(crate) async fn retire_signing_key(
        &self,
        id: i64,
        subscription: &str,
        scheme: &str,
        sealed: &[u8],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        sqlx::query("DELETE FROM retired_signing_key WHERE instance_id = ? AND expires_at <= ?")
            .bind(id)
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(db("dropping expired signing keys"))?;
        sqlx::query(
            "INSERT INTO retired_signing_key (instance_id, subscription, scheme, key_sealed, \
             retired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(subscription)
        .bind(scheme)
        .bind(sealed)
        .bind(micros(now))
        .bind(micros(expires_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| foreign_key_or(&e, id, "retiring a signing key"))?;
        tx.commit().await.map_err(db("committing a retired key"))?;
        Ok(())
    }

    pub(crate) async fn retired_signing_keys(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<RetiredRow>> {
        let rows: Vec<(String, String, Vec<u8>, i64, i64)> = sqlx::query_as(
            "SELECT subscription, scheme, key_sealed, retired_at, expires_at \
             FROM retired_signing_key \
             WHERE instance_id = ? AND expires_at > ? ORDER BY retired_at DESC, id DESC",
        )
        .bind(id)
        .bind(micros(now))
        .fetch_all(&self.reader)
        .await
        .map_err(db("reading retired signing keys"))?;
        rows.into_iter()
            .map(|(subscription, scheme, sealed, retired_at, expires_at)| {
                Ok(RetiredRow {
                    subscription,
                    scheme,
                    sealed,
                    retired_at: instant(retired_at)?,
                    expires_at: instant(expires_at)?,
                })
            })
            .collect()
    }

    pub(crate) async fn count_retired_signing_keys(&self, now: DateTime<Utc>) -> Result<u64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM retired_signing_key WHERE expires_at > ?")
                .bind(micros(now))
                .fetch_one(&self.reader)
                .await
                .map_err(db("counting retired signing keys"))?;
        Ok(db_count(n))
    }

    pub(crate) async fn drop_retired_signing_keys(
        &self,
        id: i64,
        subscription: &str,
        scheme: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        sqlx::query("DELETE FROM retired_signing_key WHERE instance_id = ? AND expires_at <= ?")
            .bind(id)
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(db("dropping expired signing keys"))?;
        let dropped = sqlx::query(
            "DELETE FROM retired_signing_key WHERE instance_id = ? AND subscription = ? \
             AND scheme = ?",
        )
        .bind(id)
        .bind(subscription)
        .bind(scheme)
        .execute(&mut *tx)
        .await
        .map_err(db("dropping retired signing keys"))?
        .rows_affected();
        tx.commit().await.map_err(db("committing"))?;
        Ok(dropped)
    }

    // ----- rewind -----

    pub(crate) async fn rewind(
        &self,
        key: &PollKey,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rewound> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let row: Option<(i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT id, watermark, lease_owner FROM poll_state WHERE instance = ? AND resource = ?",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading a poll state"))?;
        let Some((id, previous, owner)) = row else {
            return Err(Error::not_found(format_args!("poll state for {key}")));
        };
        let previous = instant(previous)?;
        check_rewind(key, to, previous)?;
        // The lease goes too: a poll in flight commits nothing (its fencing token no longer
        // matches a held lease) and the next poll, due now, reads from `to`.
        sqlx::query(
            "UPDATE poll_state SET watermark = ?, next_due = ?, claimable_at = ?, \
             lease_owner = NULL, lease_expires = NULL, rewinds = rewinds + 1 WHERE id = ?",
        )
        .bind(micros(to))
        .bind(micros(now))
        .bind(micros(now))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db("rewinding a poll state"))?;
        let forgotten = sqlx::query("DELETE FROM seen_change WHERE state_id = ? AND seen_at >= ?")
            .bind(id)
            .bind(micros(to))
            .execute(&mut *tx)
            .await
            .map_err(db("forgetting de-duplication keys"))?
            .rows_affected();
        tx.commit().await.map_err(db("committing"))?;
        Ok(Rewound {
            previous,
            watermark: to,
            forgotten,
            interrupted: owner.is_some(),
        })
    }

    // ----- replays -----

    /// Up to `limit` outbox rows of the filter's instance, range and resources with `seq` in
    /// `(after, upto]`, by seq; the event types are matched on the bodies here.
    async fn replay_scan<'c>(
        conn: impl sqlx::Executor<'c, Database = Sqlite>,
        filter: &ReplayFilter,
        after: i64,
        upto: i64,
        limit: usize,
    ) -> Result<Vec<Scanned>> {
        let mut q = QueryBuilder::<Sqlite>::new(if filter.event_types.is_empty() {
            "SELECT o.seq, '' AS body FROM outbox AS o WHERE o.instance = "
        } else {
            "SELECT o.seq, b.body FROM outbox AS o JOIN outbox_body AS b ON b.seq = o.seq \
             WHERE o.instance = "
        });
        q.push_bind(filter.instance.as_str())
            .push(" AND o.seq > ")
            .push_bind(after)
            .push(" AND o.seq <= ")
            .push_bind(upto)
            .push(" AND o.created_at >= ")
            .push_bind(micros(filter.since))
            .push(" AND o.created_at < ")
            .push_bind(micros(filter.until));
        if let Some(lane) = &filter.lane {
            q.push(" AND o.lane = ").push_bind(lane.as_str());
        }
        if !filter.resources.is_empty() {
            q.push(" AND o.resource IN (");
            let mut list = q.separated(", ");
            for resource in &filter.resources {
                list.push_bind(resource.as_str());
            }
            q.push(")");
        }
        q.push(" ORDER BY o.seq LIMIT ")
            .push_bind(db_u64(limit as u64));
        let rows: Vec<(i64, String)> = q
            .build_query_as()
            .fetch_all(conn)
            .await
            .map_err(db("reading notifications to replay"))?;
        Ok(rows
            .into_iter()
            .map(|(seq, body)| Scanned {
                seq,
                matches: filter.types_match(&body),
            })
            .collect())
    }

    pub(crate) async fn count_replay(&self, filter: &ReplayFilter) -> Result<u64> {
        filter.check()?;
        let mut conn = self
            .reader
            .acquire()
            .await
            .map_err(db("connecting to count notifications"))?;
        Self::count_matching(&mut conn, filter, i64::MAX).await
    }

    async fn count_matching(
        conn: &mut SqliteConnection,
        filter: &ReplayFilter,
        upto: i64,
    ) -> Result<u64> {
        let (mut after, mut total) = (0, 0);
        loop {
            let page = Self::replay_scan(&mut *conn, filter, after, upto, COUNT_PAGE).await?;
            total += page.iter().filter(|s| s.matches).count() as u64;
            match page.last() {
                Some(last) if page.len() == COUNT_PAGE => after = last.seq,
                _ => return Ok(total),
            }
        }
    }

    pub(crate) async fn start_replay(
        &self,
        filter: &ReplayFilter,
        now: DateTime<Utc>,
    ) -> Result<Replay> {
        filter.check()?;
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        // Notifications written from now on are not part of it: they go out anyway.
        let (last_seq,): (i64,) = sqlx::query_as("SELECT coalesce(max(seq), 0) FROM outbox")
            .fetch_one(&mut *tx)
            .await
            .map_err(db("reading the outbox's last seq"))?;
        let total = Self::count_matching(&mut tx, filter, last_seq).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO replay (instance, since, until, resources, event_types, lane, state, \
             total, last_seq, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?) RETURNING {REPLAY_COLUMNS}"
        ))
        .bind(&filter.instance)
        .bind(micros(filter.since))
        .bind(micros(filter.until))
        .bind(list_text(&filter.resources))
        .bind(list_text(&filter.event_types))
        .bind(filter.lane.as_deref())
        .bind(db_u64(total))
        .bind(last_seq)
        .bind(micros(now))
        .bind(micros(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db("creating a replay"))?;
        let replay = replay_from(&row)?;
        tx.commit().await.map_err(db("committing a replay"))?;
        Ok(replay)
    }

    pub(crate) async fn advance_replay(
        &self,
        id: i64,
        chunk: usize,
        backlog: usize,
        now: DateTime<Utc>,
    ) -> Result<Replay> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let row = sqlx::query(&format!(
            "SELECT {REPLAY_COLUMNS}, cursor_seq, last_seq FROM replay WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading a replay"))?
        .ok_or_else(|| Error::not_found(format_args!("replay {id}")))?;
        let replay = replay_from(&row)?;
        if replay.state != ReplayState::Running {
            return Ok(replay);
        }
        let (cursor, last_seq): (i64, i64) = (get(&row, "cursor_seq")?, get(&row, "last_seq")?);
        // The instance's backlog bounds the replay: it waits while the receiver catches up.
        // Waiting rows (pending, not in flight) are what `outbox_ready_lane` indexes; the
        // instance's lanes are its id and `id/name`, the range [id, id || '0') (ids are digits).
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM (SELECT 1 FROM outbox INDEXED BY outbox_ready_lane \
             WHERE lane >= ?1 AND lane < ?1 || '0' AND status = 'pending' \
             AND lease_owner IS NULL LIMIT ?2)",
        )
        .bind(&replay.filter.instance)
        .bind(db_u64(backlog as u64))
        .fetch_one(&mut *tx)
        .await
        .map_err(db("counting pending notifications"))?;
        if db_count(pending) >= backlog as u64 {
            return Ok(replay);
        }
        let scanned = Self::replay_scan(&mut *tx, &replay.filter, cursor, last_seq, chunk).await?;
        let matched: Vec<i64> = scanned
            .iter()
            .filter(|s| s.matches)
            .map(|s| s.seq)
            .collect();
        for part in matched.chunks(INSERT_CHUNK) {
            // Re-queued like a redelivery; held as queued while the subscription is deactivated.
            let mut q = QueryBuilder::<Sqlite>::new(
                "UPDATE outbox SET status = CASE WHEN EXISTS (SELECT 1 FROM subscription_inactive \
                 i WHERE i.instance = outbox.lane) THEN 'queued' ELSE 'pending' END, \
                 next_attempt = ",
            );
            q.push_bind(micros(now)).push(
                ", attempts = 0, lease_owner = NULL, lease_token = NULL, lease_expires = NULL \
                 WHERE seq IN (",
            );
            let mut list = q.separated(", ");
            for seq in part {
                list.push_bind(*seq);
            }
            q.push(")");
            q.build()
                .execute(&mut *tx)
                .await
                .map_err(db("re-queueing notifications"))?;
        }
        let finished = scanned.len() < chunk;
        let cursor = scanned.last().map_or(cursor, |s| s.seq);
        let row = sqlx::query(&format!(
            "UPDATE replay SET cursor_seq = ?, replayed = replayed + ?, updated_at = ?, \
             state = CASE WHEN ? THEN 'done' ELSE state END, \
             finished_at = CASE WHEN ? THEN ? ELSE finished_at END \
             WHERE id = ? RETURNING {REPLAY_COLUMNS}"
        ))
        .bind(cursor)
        .bind(db_u64(matched.len() as u64))
        .bind(micros(now))
        .bind(finished)
        .bind(finished)
        .bind(micros(now))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("advancing a replay"))?;
        let replay = replay_from(&row)?;
        tx.commit().await.map_err(db("committing a replay chunk"))?;
        Ok(replay)
    }

    pub(crate) async fn cancel_replay(&self, id: i64, now: DateTime<Utc>) -> Result<Replay> {
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        sqlx::query(
            "UPDATE replay SET state = 'cancelled', updated_at = ?, finished_at = ? \
             WHERE id = ? AND state = 'running'",
        )
        .bind(micros(now))
        .bind(micros(now))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db("cancelling a replay"))?;
        let row = sqlx::query(&format!("SELECT {REPLAY_COLUMNS} FROM replay WHERE id = ?"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("reading a replay"))?
            .ok_or_else(|| Error::not_found(format_args!("replay {id}")))?;
        let replay = replay_from(&row)?;
        tx.commit().await.map_err(db("committing a cancel"))?;
        Ok(replay)
    }

    pub(crate) async fn list_replays(
        &self,
        instance: Option<&str>,
        running: bool,
    ) -> Result<Vec<Replay>> {
        let rows = sqlx::query(&format!(
            "SELECT {REPLAY_COLUMNS} FROM replay WHERE (? IS NULL OR instance = ?) \
             AND (NOT ? OR state = 'running') ORDER BY id"
        ))
        .bind(instance)
        .bind(instance)
        .bind(running)
        .fetch_all(&self.reader)
        .await
        .map_err(db("listing replays"))?;
        rows.iter().map(replay_from).collect()
    }

    // ----- rate budget -----

    pub(crate) async fn take_rate_token(
        &self,
        business: &str,
        bucket: RateBucket,
        purpose: Purpose,
    ) -> Result<RateTake> {
        let now = micros(Utc::now());
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        // A bucket seen for the first time starts empty: calls made just before (by a process
        // that died) may still count in Sage's window.
        sqlx::query(
            "INSERT INTO rate_budget (business, tokens, updated_at) VALUES (?, 0, ?) \
             ON CONFLICT (business) DO NOTHING",
        )
        .bind(business)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("creating a rate budget"))?;
        let (tokens, updated_at): (f64, i64) =
            sqlx::query_as("SELECT tokens, updated_at FROM rate_budget WHERE business = ?")
                .bind(business)
                .fetch_one(&mut *tx)
                .await
                .map_err(db("reading a rate budget"))?;
        let elapsed = (now - updated_at).max(0) as f64 / 1e6;
        let take = bucket.take(tokens, elapsed, purpose);
        sqlx::query("UPDATE rate_budget SET tokens = ?, updated_at = ? WHERE business = ?")
            .bind(take.tokens)
            .bind(now.max(updated_at))
            .bind(business)
            .execute(&mut *tx)
            .await
            .map_err(db("taking from a rate budget"))?;
        tx.commit().await.map_err(db("committing"))?;
        Ok(take)
    }

    // ----- pruning -----

    // ----- leases and workers -----

    pub(crate) async fn renew_leases(
        &self,
        owner: &str,
        held: &[(PollKey, u64)],
        now: DateTime<Utc>,
        lease_for: TimeDelta,
    ) -> Result<Vec<bool>> {
        if held.is_empty() {
            return Ok(Vec::new());
        }
        let expires = micros(now + lease_for);
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let mut renewed = Vec::with_capacity(held.len());
        for (key, token) in held {
            let done = sqlx::query(
                "UPDATE poll_state SET lease_expires = ?1, claimable_at = max(next_due, ?1) \
                 WHERE instance = ?2 AND resource = ?3 AND lease_owner = ?4 AND fencing_token = ?5",
            )
            .bind(expires)
            .bind(&key.instance)
            .bind(&key.resource)
            .bind(owner)
            .bind(db_u64(*token))
            .execute(&mut *tx)
            .await
            .map_err(db("renewing a lease"))?;
            renewed.push(done.rows_affected() > 0);
        }
        tx.commit().await.map_err(db("committing lease renewals"))?;
        Ok(renewed)
    }

    pub(crate) async fn heartbeat(&self, worker: &Worker) -> Result<()> {
        sqlx::query(
            "INSERT INTO worker (id, host, pid, started_at, heartbeat_at, lease_ttl_ms) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET host = excluded.host, \
             pid = excluded.pid, started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at, lease_ttl_ms = excluded.lease_ttl_ms",
        )
        .bind(&worker.id)
        .bind(&worker.host)
        .bind(i64::from(worker.pid))
        .bind(micros(worker.started_at))
        .bind(micros(worker.heartbeat_at))
        .bind(db_u64(worker.lease_ttl_ms))
        .execute(self.writer().await?.conn()?)
        .await
        .map_err(db("writing a worker's heartbeat"))?;
        Ok(())
    }

    /// Releases the poll leases and delivery leases of `holders` and removes their rows, in
    /// one transaction.
    pub(crate) async fn release_holders(&self, holders: Holders<'_>) -> Result<ReleasedWork> {
        // `?1` is the instant (dead workers) or the name (one worker).
        let (owners, workers) = match holders {
            Holders::Dead(_) => (
                "lease_owner IN (SELECT id FROM worker WHERE heartbeat_at + lease_ttl_ms * 1000 < ?1)",
                "heartbeat_at + lease_ttl_ms * 1000 < ?1",
            ),
            Holders::One(_) => ("lease_owner = ?1", "id = ?1"),
            Holders::All => ("lease_owner IS NOT NULL", "1 = 1"),
        };
        let statements = [
            format!(
                "UPDATE poll_state SET lease_owner = NULL, lease_expires = NULL, \
                 claimable_at = next_due WHERE {owners}"
            ),
            format!(
                "UPDATE outbox SET lease_owner = NULL, lease_token = NULL, lease_expires = NULL \
                 WHERE status = 'pending' AND {owners}"
            ),
            format!(
                "UPDATE alert_delivery SET lease_owner = NULL, lease_expires = NULL \
                 WHERE state = 'pending' AND {owners}"
            ),
            format!("DELETE FROM worker WHERE {workers}"),
        ];
        let mut writer = self.writer().await?;
        let mut tx = begin(writer.conn()?).await?;
        let mut counts = [0u64; 4];
        for (sql, count) in statements.iter().zip(&mut counts) {
            let query = sqlx::query(sql);
            let query = match holders {
                Holders::Dead(now) => query.bind(micros(now)),
                Holders::One(id) => query.bind(id),
                Holders::All => query,
            };
            *count = query
                .execute(&mut *tx)
                .await
                .map_err(db("releasing a worker's leases"))?
                .rows_affected();
        }
        tx.commit()
            .await
            .map_err(db("committing released leases"))?;
        let [polls, notifications, _alert_deliveries, workers] = counts;
        Ok(ReleasedWork {
            workers,
            polls,
            notifications,
        })
    }

    pub(crate) async fn list_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerStatus>> {
        let rows = sqlx::query(
            "SELECT id, host, pid, started_at, heartbeat_at, lease_ttl_ms FROM worker ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db("listing the workers"))?;
        let mut workers = Vec::with_capacity(rows.len());
        for row in &rows {
            workers.push(WorkerStatus {
                worker: Worker {
                    id: get(row, "id")?,
                    host: get(row, "host")?,
                    pid: u32::try_from(get::<i64>(row, "pid")?).unwrap_or_default(),
                    started_at: instant(get(row, "started_at")?)?,
                    heartbeat_at: instant(get(row, "heartbeat_at")?)?,
                    lease_ttl_ms: db_count(get(row, "lease_ttl_ms")?),
                },
                polls: Vec::new(),
                notifications: 0,
            });
        }
        let polls: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT lease_owner, instance, resource FROM poll_state \
             WHERE lease_owner IS NOT NULL AND lease_expires > ? ORDER BY instance, resource",
        )
        .bind(micros(now))
        .fetch_all(&self.reader)
        .await
        .map_err(db("listing the leased polls"))?;
        let notifications: Vec<(String, i64)> = sqlx::query_as(
            "SELECT lease_owner, count(*) FROM outbox WHERE status = 'pending' \
             AND lease_owner IS NOT NULL AND lease_expires > ? GROUP BY lease_owner",
        )
        .bind(micros(now))
        .fetch_all(&self.reader)
        .await
        .map_err(db("counting the leased notifications"))?;
        Ok(crate::shared::attach_holdings(
            workers,
            polls,
            notifications,
        ))
    }

    pub(crate) async fn prune(
        &self,
        now: DateTime<Utc>,
        retention: &Retention,
    ) -> Result<PruneReport> {
        let batch = i64::from(retention.batch.max(1));
        let mut report = PruneReport::default();
        loop {
            // seen_change is WITHOUT ROWID: batches are chosen by primary key.
            let done = sqlx::query(
                "DELETE FROM seen_change WHERE (state_id, change_id) IN \
                 (SELECT s.state_id, s.change_id FROM poll_state p JOIN seen_change s \
                 ON s.state_id = p.id AND s.seen_at < ? LIMIT ?)",
            )
            .bind(micros(now - retention.seen))
            .bind(batch)
            .execute(self.writer().await?.conn()?)
            .await
            .map_err(db("pruning seen changes"))?;
            report.seen += done.rows_affected();
            if done.rows_affected() < batch as u64 {
                break;
            }
        }
        loop {
            let done = sqlx::query(
                "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox \
                 WHERE status = 'delivered' AND delivered_at < ? LIMIT ?)",
            )
            .bind(micros(now - retention.delivered))
            .bind(batch)
            .execute(self.writer().await?.conn()?)
            .await
            .map_err(db("pruning delivered notifications"))?;
            report.delivered += done.rows_affected();
            if done.rows_affected() < batch as u64 {
                break;
            }
        }
        report.replays =
            sqlx::query("DELETE FROM replay WHERE state <> 'running' AND finished_at < ?")
                .bind(micros(now - retention.delivered))
                .execute(self.writer().await?.conn()?)
                .await
                .map_err(db("pruning finished replays"))?
                .rows_affected();
        report.alerts = sqlx::query(
            "DELETE FROM alert WHERE resolved_at < ? AND NOT EXISTS \
             (SELECT 1 FROM alert_delivery d WHERE d.alert_id = alert.id AND d.state = 'pending')",
        )
        .bind(micros(now - retention.delivered))
        .execute(self.writer().await?.conn()?)
        .await
        .map_err(db("pruning resolved alerts"))?
        .rows_affected();
        report.retired_keys = sqlx::query("DELETE FROM retired_signing_key WHERE expires_at <= ?")
            .bind(micros(now))
            .execute(self.writer().await?.conn()?)
            .await
            .map_err(db("pruning expired signing keys"))?
            .rows_affected();
        Ok(report)
    }
}

fn lowercase(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Adds seen keys (those not older than `prune_before`), prunes, and appends notifications
/// (queued for an inactive subscription): the shared half of a poll commit and its progress.
/// Adds every id of `add` to the known records of `state_id` and removes those of `remove`.
/// The checkpoint part of a poll's write: events entering open windows, new chain heads
/// (their windows' events deleted), ended chains (head and events deleted).
async fn chains(
    tx: &mut Transaction<'_, Sqlite>,
    state_id: i64,
    window: &[WindowEvent],
    heads: &[CheckpointHead],
    ended: &[Option<String>],
) -> Result<()> {
    for chunk in window.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO checkpoint_event (state_id, subscription, event_id) ",
        );
        q.push_values(chunk, |mut row, e| {
            row.push_bind(state_id)
                .push_bind(subscription_column(e.subscription.as_deref()))
                .push_bind(e.event.0.as_slice());
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build()
            .execute(&mut **tx)
            .await
            .map_err(db("writing checkpoint window events"))?;
    }
    let closed = heads
        .iter()
        .map(|h| h.subscription.as_deref())
        .chain(ended.iter().map(Option::as_deref));
    for subscription in closed {
        sqlx::query("DELETE FROM checkpoint_event WHERE state_id = ? AND subscription = ?")
            .bind(state_id)
            .bind(subscription_column(subscription))
            .execute(&mut **tx)
            .await
            .map_err(db("closing a checkpoint window"))?;
    }
    for subscription in ended {
        sqlx::query("DELETE FROM checkpoint_head WHERE state_id = ? AND subscription = ?")
            .bind(state_id)
            .bind(subscription_column(subscription.as_deref()))
            .execute(&mut **tx)
            .await
            .map_err(db("ending a checkpoint chain"))?;
    }
    for head in heads {
        sqlx::query(
            "INSERT INTO checkpoint_head (state_id, subscription, chain, sequence, checkpoint, \
             to_text) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (state_id, subscription) DO UPDATE \
             SET chain = excluded.chain, sequence = excluded.sequence, \
             checkpoint = excluded.checkpoint, to_text = excluded.to_text",
        )
        .bind(state_id)
        .bind(subscription_column(head.subscription.as_deref()))
        .bind(head.chain.0.as_slice())
        .bind(db_u64(head.sequence))
        .bind(head.id.0.as_slice())
        .bind(&head.to)
        .execute(&mut **tx)
        .await
        .map_err(db("writing a checkpoint head"))?;
    }
    Ok(())
}

async fn remember(
    tx: &mut Transaction<'_, Sqlite>,
    state_id: i64,
    add: &[&[String]],
    remove: &[String],
) -> Result<()> {
    for ids in add {
        for chunk in ids.chunks(INSERT_CHUNK) {
            let mut q =
                QueryBuilder::<Sqlite>::new("INSERT INTO known_record (state_id, record_id) ");
            q.push_values(chunk, |mut row, id| {
                row.push_bind(state_id).push_bind(id);
            });
            q.push(" ON CONFLICT DO NOTHING");
            q.build()
                .execute(&mut **tx)
                .await
                .map_err(db("remembering record ids"))?;
        }
    }
    for chunk in remove.chunks(INSERT_CHUNK) {
        let mut q = QueryBuilder::<Sqlite>::new("DELETE FROM known_record WHERE state_id = ");
        q.push_bind(state_id).push(" AND record_id IN (");
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(id);
        }
        q.push(")");
        q.build()
            .execute(&mut **tx)
            .await
            .map_err(db("forgetting deleted record ids"))?;
    }
    Ok(())
}

async fn append(
    tx: &mut Transaction<'_, Sqlite>,
    state_id: i64,
    seen: &[SeenChange],
    prune_before: Option<DateTime<Utc>>,
    notifications: &[Notification],
) -> Result<()> {
    // Keys older than the prune horizon would be pruned at once: not inserting them is the
    // same result.
    let prune = prune_before.map(micros);
    let mut seen: Vec<_> = seen
        .iter()
        .filter(|s| prune.is_none_or(|before| micros(s.at) >= before))
        .collect();
    // In key order, the inserts walk the seen index from one end to the other instead of
    // jumping between random pages (change ids are hashes): each leaf is visited once, and
    // the pages stay in the cache between neighbours.
    seen.sort_unstable_by_key(|s| s.id);
    for chunk in seen.chunks(INSERT_CHUNK) {
        let mut q =
            QueryBuilder::<Sqlite>::new("INSERT INTO seen_change (state_id, change_id, seen_at) ");
        q.push_values(chunk, |mut row, s| {
            row.push_bind(state_id)
                .push_bind(s.id.0.as_slice())
                .push_bind(micros(s.at));
        });
        q.push(" ON CONFLICT DO NOTHING");
        q.build()
            .execute(&mut **tx)
            .await
            .map_err(db("recording seen changes"))?;
    }
    if let Some(before) = prune {
        sqlx::query("DELETE FROM seen_change WHERE state_id = ? AND seen_at < ?")
            .bind(state_id)
            .bind(before)
            .execute(&mut **tx)
            .await
            .map_err(db("pruning seen changes"))?;
    }
    if !notifications.is_empty() {
        let mut inactive = HashSet::new();
        let lanes: Vec<String> = notifications.iter().map(Notification::lane).collect();
        let distinct: HashSet<&str> = lanes.iter().map(String::as_str).collect();
        for lane in distinct {
            let off: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM subscription_inactive WHERE instance = ?)",
            )
            .bind(lane)
            .fetch_one(&mut **tx)
            .await
            .map_err(db("reading a subscription"))?;
            if off {
                inactive.insert(lane);
            }
        }
        let event_ids: Vec<Vec<u8>> = notifications
            .iter()
            .map(|n| event_ids_bytes(&n.event_ids))
            .collect();
        let rows: Vec<(&Notification, (&Vec<u8>, &String))> = notifications
            .iter()
            .zip(event_ids.iter().zip(&lanes))
            .collect();
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO outbox (id, instance, lane, resource, created_at, event_ids, \
                 status, next_attempt) ",
            );
            q.push_values(chunk, |mut row, (n, (events, lane))| {
                let status = if inactive.contains(lane.as_str()) {
                    OutboxStatus::Queued
                } else {
                    OutboxStatus::Pending
                };
                row.push_bind(n.id.0.as_slice())
                    .push_bind(&n.key.instance)
                    .push_bind(lane.as_str())
                    .push_bind(&n.key.resource)
                    .push_bind(micros(n.created_at))
                    .push_bind(events.as_slice())
                    .push_bind(status.as_str())
                    .push_bind(micros(n.created_at));
            });
            q.push(" ON CONFLICT (id) DO NOTHING");
            q.build()
                .execute(&mut **tx)
                .await
                .map_err(db("appending notifications to the outbox"))?;
            // The bodies, by the seqs the rows got (a row that was there already keeps its
            // body).
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO outbox_body (seq, body) \
                 SELECT o.seq, v.column2 FROM (",
            );
            q.push_values(chunk, |mut row, (n, _)| {
                row.push_bind(n.id.0.as_slice()).push_bind(&n.body);
            });
            q.push(") AS v JOIN outbox AS o ON o.id = v.column1");
            q.build()
                .execute(&mut **tx)
                .await
                .map_err(db("storing notification bodies"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::SecretKey;

    /// The connection settings the crate promises: WAL, `synchronous=NORMAL` (1), the busy
    /// timeout, foreign keys — on the writer and on the readers.
    #[tokio::test]
    async fn connections_use_wal_normal_sync_and_the_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let options =
            StoreOptions::new(SecretKey::generate()).busy_timeout(Duration::from_millis(2500));
        let backend = SqliteBackend::open(&dir.path().join("p.db"), &options)
            .await
            .unwrap();
        let mut reader = backend.reader.acquire().await.unwrap();
        let mut writer = backend.writer().await.unwrap();
        for conn in [&mut *reader, writer.conn().unwrap()] {
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let foreign: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(
                (journal.as_str(), synchronous, busy, foreign),
                ("wal", 1, 2500, 1)
            );
        }
    }
}
