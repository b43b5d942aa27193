//! The shared backend: PostgreSQL, for several pollen processes on one database.
//!
//! Claims are one statement each: `SELECT … FOR UPDATE SKIP LOCKED` picks due rows that no
//! other transaction holds, and the same statement leases them with fresh tokens from a
//! sequence, so concurrent workers never block on, or both take, one row. A poll commit is one
//! statement too (data-modifying CTEs): the fenced state update, the seen keys, the pruning
//! and the outbox rows succeed or fail together, and the transaction lasts one round trip.

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use pollen_core::{
    AttemptOutcome, AttemptRecord, CheckpointHead, DeliveryAttempt, Lease, Notification,
    OutboxEntry, OutboxFilter, OutboxStatus, PollCommit, PollFailure, PollKey, PollProgress,
    PollState, Purpose, RateBucket, RateTake, ReleasedWork, SeenChange, StableId, WindowEvent,
    Worker, WorkerStatus,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Executor, Postgres, QueryBuilder, Row};

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
    stable_id, status_from, Holders, OUTBOX_COLUMNS, STATE_COLUMNS,
};

mod alert;
mod overview;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The known-record changes of a commit (reconciliation), written in its statement.
#[derive(Debug, Clone, Copy)]
/// The checkpoint part of a poll's write: see [`PollCommit::checkpoints`].
struct Chains<'a> {
    /// Events entering open windows.
    window: &'a [WindowEvent],
    /// New chain heads (their windows close).
    heads: &'a [CheckpointHead],
    /// Chains that end.
    ended: &'a [Option<String>],
}

struct Known<'a> {
    /// The state's new `reconciled_at`, when the commit completes a reconciliation.
    at: Option<DateTime<Utc>>,
    /// Ids to remember.
    add: &'a [String],
    /// Ids to forget (confirmed deleted).
    remove: &'a [String],
}

pub(crate) struct PgBackend {
    pool: PgPool,
    schema: Option<String>,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

fn db(doing: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| Error::database(doing, &e)
}

fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(column)
        .map_err(|e| Error::corrupt(format!("column {column}: {}", crate::error::describe(&e))))
}

fn state_from(row: &PgRow) -> Result<PollState> {
    let token = db_count(get::<i64>(row, "fencing_token")?);
    let lease = match get::<Option<String>>(row, "lease_owner")? {
        Some(owner) => Some(Lease {
            owner,
            token,
            expires_at: get::<Option<DateTime<Utc>>>(row, "lease_expires")?
                .unwrap_or(DateTime::UNIX_EPOCH),
        }),
        None => None,
    };
    Ok(PollState {
        key: PollKey::new(
            get::<String>(row, "instance")?,
            get::<String>(row, "resource")?,
        ),
        watermark: get(row, "watermark")?,
        next_due: get(row, "next_due")?,
        consecutive_failures: u32::try_from(get::<i32>(row, "consecutive_failures")?).unwrap_or(0),
        last_error: get(row, "last_error")?,
        lease,
        fencing_token: token,
        completed_polls: db_count(get::<i64>(row, "completed_polls")?),
        reconciled_at: get(row, "reconciled_at")?,
        rewinds: db_count(get::<i64>(row, "rewinds")?),
    })
}

fn outbox_from(row: &PgRow) -> Result<OutboxEntry> {
    let lease = match get::<Option<String>>(row, "lease_owner")? {
        Some(owner) => Some(Lease {
            owner,
            token: db_count(get::<Option<i64>>(row, "lease_token")?.unwrap_or_default()),
            expires_at: get::<Option<DateTime<Utc>>>(row, "lease_expires")?
                .unwrap_or(DateTime::UNIX_EPOCH),
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
            created_at: get(row, "created_at")?,
            event_ids: event_ids_from(&get::<Vec<u8>>(row, "event_ids")?)?,
            body: get(row, "body")?,
            subscription: crate::shared::subscription_of(&get::<String>(row, "lane")?),
        },
        status: status_from(&get::<String>(row, "status")?)?,
        attempts: u32::try_from(get::<i32>(row, "attempts")?).unwrap_or(0),
        next_attempt: get(row, "next_attempt")?,
        last_error: get(row, "last_error")?,
        lease,
        delivered_at: get(row, "delivered_at")?,
    })
}

fn instance_from(row: &PgRow) -> Result<InstanceRow> {
    Ok(InstanceRow {
        id: get(row, "id")?,
        name: get(row, "name")?,
        element_key: get(row, "element_key")?,
        status: get(row, "status")?,
        tags: get(row, "tags")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        config_sealed: get(row, "config_sealed")?,
    })
}

const INSTANCE_COLUMNS: &str =
    "id, name, element_key, status, tags, created_at, updated_at, config_sealed";

/// A schema name safe to splice into SQL: lowercase letters, digits, `_`, not starting with a
/// digit, at most 63 bytes.
fn replay_from(row: &PgRow) -> Result<Replay> {
    Ok(Replay {
        id: get(row, "id")?,
        filter: ReplayFilter {
            instance: get(row, "instance")?,
            since: get(row, "since")?,
            until: get(row, "until")?,
            resources: list_from(&get::<String>(row, "resources")?)?,
            event_types: list_from(&get::<String>(row, "event_types")?)?,
            lane: get(row, "lane")?,
        },
        state: ReplayState::parse(&get::<String>(row, "state")?)?,
        total: db_count(get(row, "total")?),
        replayed: db_count(get(row, "replayed")?),
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        finished_at: get(row, "finished_at")?,
    })
}

fn check_schema(schema: &str) -> Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the schema name `{schema}` must be lowercase letters, digits and `_`, \
                 not starting with a digit, at most 63 characters"
            ),
        ))
    }
}

impl PgBackend {
    pub(crate) async fn open(url: &str, options: &StoreOptions) -> Result<Self> {
        let connect = PgConnectOptions::from_str(url).map_err(|_| {
            Error::new(
                ErrorKind::InvalidUrl,
                "the postgres url is not valid: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
            )
        })?;
        let where_ = format!(
            "{}:{}/{}",
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or("")
        );
        let connect_error = |e: sqlx::Error| {
            Error::new(
                ErrorKind::Connect,
                format!(
                    "cannot connect to postgres at {where_}: {}",
                    crate::error::describe(&e)
                ),
            )
        };
        let mut pool_options = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.busy_timeout);
        if let Some(schema) = &options.schema {
            check_schema(schema)?;
            let set = format!("SET search_path TO \"{schema}\"");
            pool_options = pool_options.after_connect(move |conn, _meta| {
                let set = set.clone();
                Box::pin(async move {
                    conn.execute(set.as_str()).await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(connect)
            .await
            .map_err(connect_error)?;
        if let Some(schema) = &options.schema {
            let created = pool
                .execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
                .await;
            match created {
                Ok(_) => {}
                // Two processes creating the schema at once: the other one won.
                Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {}
                Err(e) => return Err(Error::database("creating the schema", &e)),
            }
        }
        MIGRATOR.run(&pool).await.map_err(|e| {
            Error::new(
                ErrorKind::Migration,
                format!("migrating postgres at {where_}: {e}"),
            )
        })?;
        Ok(PgBackend {
            pool,
            schema: options.schema.clone(),
        })
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    // ----- key check -----

    pub(crate) async fn key_check(&self, candidate: Vec<u8>) -> Result<Vec<u8>> {
        sqlx::query(
            "INSERT INTO meta (name, value) VALUES ('key_check', $1) ON CONFLICT DO NOTHING",
        )
        .bind(candidate)
        .execute(&self.pool)
        .await
        .map_err(db("storing the key check value"))?;
        sqlx::query_scalar("SELECT value FROM meta WHERE name = 'key_check'")
            .fetch_one(&self.pool)
            .await
            .map_err(db("reading the key check value"))
    }

    // ----- poll state -----

    pub(crate) async fn register(
        &self,
        key: &PollKey,
        watermark: DateTime<Utc>,
        next_due: DateTime<Utc>,
    ) -> Result<PollState> {
        // Insert-or-read in one statement: the CTE's insert is invisible to the outer SELECT,
        // so the existing row is read by a UNION. A paused existing row is resumed by the
        // conflict's update (and then returned by it, not by the UNION's read).
        let sql = format!(
            "WITH ins AS (\
               INSERT INTO poll_state (instance, resource, watermark, next_due, claimable_at, \
               completed_due) VALUES ($1, $2, $3, $4, $4, $4) ON CONFLICT (instance, resource) \
               DO UPDATE SET paused = false, \
               completed_due = greatest(poll_state.completed_due, $4), \
               stall_at = greatest(poll_state.completed_due, $4) + 3 * poll_state.poll_interval \
               WHERE poll_state.paused \
               RETURNING {STATE_COLUMNS}) \
             SELECT {STATE_COLUMNS} FROM ins UNION ALL \
             SELECT {STATE_COLUMNS} FROM poll_state WHERE instance = $1 AND resource = $2 \
               AND NOT EXISTS (SELECT 1 FROM ins)"
        );
        // When another worker inserts the same key concurrently, the insert waits for its
        // commit and does nothing, but the statement's snapshot predates that commit and the
        // SELECT sees no row either: a second statement (a new snapshot) reads it.
        for _ in 0..3 {
            let row = sqlx::query(&sql)
                .bind(&key.instance)
                .bind(&key.resource)
                .bind(watermark)
                .bind(next_due)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("registering a poll state"))?;
            if let Some(row) = row {
                return state_from(&row);
            }
        }
        Err(Error::new(
            ErrorKind::Database,
            format!("registering a poll state: {key} neither inserted nor found"),
        ))
    }

    pub(crate) async fn unregister(&self, key: &PollKey) -> Result<bool> {
        let done = sqlx::query("DELETE FROM poll_state WHERE instance = $1 AND resource = $2")
            .bind(&key.instance)
            .bind(&key.resource)
            .execute(&self.pool)
            .await
            .map_err(db("unregistering a poll state"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn pause_instance(&self, instance: &str) -> Result<u64> {
        let done = sqlx::query("UPDATE poll_state SET paused = true WHERE instance = $1")
            .bind(instance)
            .execute(&self.pool)
            .await
            .map_err(db("pausing an instance's polls"))?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn load(&self, key: &PollKey) -> Result<Option<PollState>> {
        let sql =
            format!("SELECT {STATE_COLUMNS} FROM poll_state WHERE instance = $1 AND resource = $2");
        let row = sqlx::query(&sql)
            .bind(&key.instance)
            .bind(&key.resource)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("loading a poll state"))?;
        row.as_ref().map(state_from).transpose()
    }

    pub(crate) async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        sqlx::query_scalar("SELECT MIN(claimable_at) FROM poll_state WHERE NOT paused")
            .fetch_one(&self.pool)
            .await
            .map_err(db("finding the next due poll"))
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
        let sql = format!(
            "WITH due AS (\
               SELECT id, claimable_at AS was FROM poll_state \
               WHERE claimable_at <= $1 AND NOT paused ORDER BY claimable_at, instance, resource LIMIT $2 FOR UPDATE SKIP LOCKED), \
             claimed AS (\
               UPDATE poll_state p SET lease_owner = $3, lease_expires = $4, \
                 fencing_token = nextval('fencing_token'), \
                 claimable_at = GREATEST(p.next_due, $4) \
               FROM due WHERE p.id = due.id RETURNING p.*, due.was) \
             SELECT {STATE_COLUMNS} FROM claimed ORDER BY was, instance, resource"
        );
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(db_u64(limit as u64))
            .bind(owner)
            .bind(now + lease_for)
            .fetch_all(&self.pool)
            .await
            .map_err(db("claiming due polls"))?;
        rows.iter().map(state_from).collect()
    }

    /// After a fenced write changed nothing: `NotFound` or `LeaseLost`.
    async fn state_miss(&self, key: &PollKey) -> Error {
        match self.load(key).await {
            Ok(Some(_)) => Error::lease_lost(key),
            Ok(None) => Error::not_found(format_args!("poll state for {key}")),
            Err(e) => e,
        }
    }

    pub(crate) async fn release(&self, key: &PollKey, token: u64) -> Result<()> {
        let done = sqlx::query(
            "UPDATE poll_state SET lease_owner = NULL, lease_expires = NULL, \
             claimable_at = next_due WHERE instance = $1 AND resource = $2 \
             AND lease_owner IS NOT NULL AND fencing_token = $3",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .bind(db_u64(token))
        .execute(&self.pool)
        .await
        .map_err(db("releasing a lease"))?;
        if done.rows_affected() == 0 {
            return Err(self.state_miss(key).await);
        }
        Ok(())
    }

    pub(crate) async fn seen(&self, key: &PollKey, ids: &[StableId]) -> Result<Vec<bool>> {
        let wanted: Vec<Vec<u8>> = ids.iter().map(|id| id.0.to_vec()).collect();
        let rows: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT s.change_id FROM seen_change s JOIN poll_state p ON p.id = s.state_id \
             WHERE p.instance = $1 AND p.resource = $2 AND s.change_id = ANY($3)",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .bind(&wanted)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading seen changes"))?;
        let found: std::collections::HashSet<Vec<u8>> = rows.into_iter().collect();
        Ok(wanted.iter().map(|id| found.contains(id)).collect())
    }

    pub(crate) async fn commit_poll(&self, commit: PollCommit) -> Result<()> {
        let state = "UPDATE poll_state SET watermark = $4, next_due = $5, \
             consecutive_failures = 0, last_error = NULL, lease_owner = NULL, \
             lease_expires = NULL, completed_polls = completed_polls + 1, claimable_at = $5, \
             completed_due = $5, stall_at = $5 + 3 * poll_interval, \
             reconciled_at = coalesce($15::timestamptz, reconciled_at) \
             WHERE instance = $1 AND resource = $2 AND lease_owner IS NOT NULL \
             AND fencing_token = $3 \
             RETURNING id";
        let (mut known, removed, at) = match &commit.reconciled {
            Some(r) => (r.added.clone(), r.removed.as_slice(), Some(r.at)),
            None => (Vec::new(), &[][..], None),
        };
        known.extend(commit.known.iter().cloned());
        let written = self
            .append(
                state,
                Some((commit.watermark, commit.next_due)),
                &commit.key,
                commit.lease_token,
                &commit.seen,
                commit.prune_before,
                &commit.notifications,
                Known {
                    at,
                    add: &known,
                    remove: removed,
                },
                Chains {
                    window: &commit.window,
                    heads: &commit.checkpoints,
                    ended: &commit.ended_chains,
                },
            )
            .await
            .map_err(db("committing a poll"))?;
        if !written {
            return Err(self.state_miss(&commit.key).await);
        }
        Ok(())
    }

    pub(crate) async fn commit_progress(&self, progress: PollProgress) -> Result<()> {
        // The row lock orders this write after any concurrent claim of the same state. `$4` and
        // `$5` (the final commit's times) are not needed here, but every parameter of the shared
        // statement must have a type for it to prepare.
        let state = "SELECT id FROM poll_state \
             WHERE instance = $1 AND resource = $2 AND lease_owner IS NOT NULL \
             AND fencing_token = $3 AND $4::timestamptz IS NULL AND $5::timestamptz IS NULL \
             AND $15::timestamptz IS NULL \
             FOR UPDATE";
        let written = self
            .append(
                state,
                None,
                &progress.key,
                progress.lease_token,
                &progress.seen,
                None,
                &progress.notifications,
                Known {
                    at: None,
                    add: &progress.known,
                    remove: &[],
                },
                Chains {
                    window: &progress.window,
                    heads: &[],
                    ended: &[],
                },
            )
            .await
            .map_err(db("writing a poll's progress"))?;
        if !written {
            return Err(self.state_miss(&progress.key).await);
        }
        Ok(())
    }

    /// One statement: `state` (a query over `$1`–`$5` returning the poll state's id, empty
    /// when the lease is not held) followed by the seen keys, the prune and the outbox rows,
    /// all conditional on that row. Whether the row was there.
    #[allow(clippy::too_many_arguments)] // one argument per column group of a single statement
    async fn append(
        &self,
        state: &str,
        times: Option<(DateTime<Utc>, DateTime<Utc>)>,
        key: &PollKey,
        lease_token: u64,
        seen: &[SeenChange],
        prune_before: Option<DateTime<Utc>>,
        notifications: &[Notification],
        known: Known<'_>,
        chains: Chains<'_>,
    ) -> std::result::Result<bool, sqlx::Error> {
        // Keys older than the prune horizon would be pruned at once: not inserting them is the
        // same result (and a data-modifying CTE cannot see rows inserted by its sibling).
        let (seen_ids, seen_at): (Vec<Vec<u8>>, Vec<DateTime<Utc>>) = seen
            .iter()
            .filter(|s| prune_before.is_none_or(|before| s.at >= before))
            .map(|s| (s.id.0.to_vec(), s.at))
            .unzip();
        let n = notifications;
        let ids: Vec<Vec<u8>> = n.iter().map(|n| n.id.0.to_vec()).collect();
        let instances: Vec<&str> = n.iter().map(|n| n.key.instance.as_str()).collect();
        let lanes: Vec<String> = n.iter().map(Notification::lane).collect();
        let resources: Vec<&str> = n.iter().map(|n| n.key.resource.as_str()).collect();
        let created: Vec<DateTime<Utc>> = n.iter().map(|n| n.created_at).collect();
        let events: Vec<Vec<u8>> = n.iter().map(|n| event_ids_bytes(&n.event_ids)).collect();
        let bodies: Vec<&str> = n.iter().map(|n| n.body.as_str()).collect();
        let (window_subscriptions, window_events): (Vec<&str>, Vec<Vec<u8>>) = chains
            .window
            .iter()
            .map(|e| {
                (
                    subscription_column(e.subscription.as_deref()),
                    e.event.0.to_vec(),
                )
            })
            .unzip();
        let h = chains.heads;
        let head_subscriptions: Vec<&str> = h
            .iter()
            .map(|h| subscription_column(h.subscription.as_deref()))
            .collect();
        let head_chains: Vec<Vec<u8>> = h.iter().map(|h| h.chain.0.to_vec()).collect();
        let head_sequences: Vec<i64> = h.iter().map(|h| db_u64(h.sequence)).collect();
        let head_ids: Vec<Vec<u8>> = h.iter().map(|h| h.id.0.to_vec()).collect();
        let head_tos: Vec<&str> = h.iter().map(|h| h.to.as_str()).collect();
        let ended: Vec<&str> = chains
            .ended
            .iter()
            .map(|s| subscription_column(s.as_deref()))
            .collect();
        // A closed window's events go with it; an ended chain's head and events too.
        let closed: Vec<&str> = head_subscriptions.iter().chain(&ended).copied().collect();
        let sql = format!(
            "WITH st AS ({state}), \
             pruned AS (\
               DELETE FROM seen_change s USING st \
               WHERE s.state_id = st.id AND s.seen_at < $6::timestamptz), \
             seen_new AS (\
               INSERT INTO seen_change (state_id, change_id, seen_at) \
               SELECT st.id, u.change_id, u.seen_at \
               FROM st, UNNEST($7::bytea[], $8::timestamptz[]) AS u (change_id, seen_at) \
               ON CONFLICT DO NOTHING), \
             notes AS (\
               INSERT INTO outbox (id, instance, lane, resource, created_at, event_ids, body, \
                 status, next_attempt) \
               SELECT u.id, u.instance, u.lane, u.resource, u.created_at, u.event_ids, u.body, \
                 CASE WHEN EXISTS (SELECT 1 FROM subscription_inactive i \
                   WHERE i.instance = u.lane) THEN 'queued' ELSE 'pending' END, \
                 u.created_at \
               FROM st, UNNEST($9::bytea[], $10::text[], $11::text[], $12::timestamptz[], \
                 $13::bytea[], $14::text[], $18::text[]) \
                 AS u (id, instance, resource, created_at, event_ids, body, lane) \
               ON CONFLICT (id) DO NOTHING), \
             known_new AS (\
               INSERT INTO known_record (state_id, record_id) \
               SELECT st.id, u.record_id FROM st, UNNEST($16::text[]) AS u (record_id) \
               ON CONFLICT DO NOTHING), \
             known_gone AS (\
               DELETE FROM known_record k USING st \
               WHERE k.state_id = st.id AND k.record_id = ANY($17::text[])), \
             window_new AS (\
               INSERT INTO checkpoint_event (state_id, subscription, event_id) \
               SELECT st.id, u.subscription, u.event_id \
               FROM st, UNNEST($19::text[], $20::bytea[]) AS u (subscription, event_id) \
               ON CONFLICT DO NOTHING), \
             window_closed AS (\
               DELETE FROM checkpoint_event e USING st \
               WHERE e.state_id = st.id AND e.subscription = ANY($21::text[])), \
             heads_new AS (\
               INSERT INTO checkpoint_head (state_id, subscription, chain, sequence, \
                 checkpoint, to_text) \
               SELECT st.id, u.subscription, u.chain, u.sequence, u.checkpoint, u.to_text \
               FROM st, UNNEST($22::text[], $23::bytea[], $24::bigint[], $25::bytea[], \
                 $26::text[]) AS u (subscription, chain, sequence, checkpoint, to_text) \
               ON CONFLICT (state_id, subscription) DO UPDATE SET chain = excluded.chain, \
                 sequence = excluded.sequence, checkpoint = excluded.checkpoint, \
                 to_text = excluded.to_text), \
             heads_ended AS (\
               DELETE FROM checkpoint_head h USING st \
               WHERE h.state_id = st.id AND h.subscription = ANY($27::text[])) \
             SELECT id FROM st"
        );
        let row: Option<i64> = sqlx::query_scalar(&sql)
            .bind(&key.instance)
            .bind(&key.resource)
            .bind(db_u64(lease_token))
            .bind(times.map(|t| t.0))
            .bind(times.map(|t| t.1))
            .bind(prune_before)
            .bind(&seen_ids)
            .bind(&seen_at)
            .bind(&ids)
            .bind(&instances)
            .bind(&resources)
            .bind(&created)
            .bind(&events)
            .bind(&bodies)
            .bind(known.at)
            .bind(known.add)
            .bind(known.remove)
            .bind(&lanes)
            .bind(&window_subscriptions)
            .bind(&window_events)
            .bind(&closed)
            .bind(&head_subscriptions)
            .bind(&head_chains)
            .bind(&head_sequences)
            .bind(&head_ids)
            .bind(&head_tos)
            .bind(&ended)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    pub(crate) async fn record_failure(&self, failure: PollFailure) -> Result<()> {
        let done = sqlx::query(
            "UPDATE poll_state SET consecutive_failures = consecutive_failures + 1, \
             last_error = $4, next_due = $5, lease_owner = NULL, lease_expires = NULL, \
             claimable_at = $5 \
             WHERE instance = $1 AND resource = $2 AND lease_owner IS NOT NULL \
             AND fencing_token = $3",
        )
        .bind(&failure.key.instance)
        .bind(&failure.key.resource)
        .bind(db_u64(failure.lease_token))
        .bind(&failure.error)
        .bind(failure.next_due)
        .execute(&self.pool)
        .await
        .map_err(db("recording a failed poll"))?;
        if done.rows_affected() == 0 {
            return Err(self.state_miss(&failure.key).await);
        }
        Ok(())
    }

    pub(crate) async fn prune_seen(&self, key: &PollKey, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM seen_change s USING poll_state p WHERE p.id = s.state_id \
             AND p.instance = $1 AND p.resource = $2 AND s.seen_at < $3",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .bind(before)
        .execute(&self.pool)
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
             WHERE p.instance = $1 ORDER BY p.resource COLLATE \"C\", h.subscription COLLATE \"C\"",
        )
        .bind(instance)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading checkpoint chains"))
    }

    pub(crate) async fn checkpoint_heads(&self, key: &PollKey) -> Result<Vec<CheckpointHead>> {
        let rows: Vec<HeadRow> = sqlx::query_as(
            "SELECT h.subscription, h.chain, h.sequence, h.checkpoint, h.to_text \
             FROM checkpoint_head h JOIN poll_state p ON p.id = h.state_id \
             WHERE p.instance = $1 AND p.resource = $2 ORDER BY h.subscription COLLATE \"C\"",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading checkpoint heads"))?;
        rows.into_iter().map(head_from).collect()
    }

    pub(crate) async fn window_events(&self, key: &PollKey) -> Result<Vec<WindowEvent>> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT e.subscription, e.event_id \
             FROM checkpoint_event e JOIN poll_state p ON p.id = e.state_id \
             WHERE p.instance = $1 AND p.resource = $2 \
             ORDER BY e.subscription COLLATE \"C\", e.event_id",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading checkpoint window events"))?;
        rows.into_iter().map(window_event_from).collect()
    }

    pub(crate) async fn known_ids(&self, key: &PollKey) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT k.record_id FROM known_record k JOIN poll_state p ON p.id = k.state_id \
             WHERE p.instance = $1 AND p.resource = $2 ORDER BY k.record_id COLLATE \"C\"",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading known record ids"))
    }

    pub(crate) async fn seen_count(&self, key: &PollKey) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM seen_change s JOIN poll_state p ON p.id = s.state_id \
             WHERE p.instance = $1 AND p.resource = $2",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .fetch_one(&self.pool)
        .await
        .map_err(db("counting seen changes"))?;
        Ok(db_count(n))
    }

    // ----- subscriptions and the outbox -----

    pub(crate) async fn set_subscription_active(&self, instance: &str, active: bool) -> Result<()> {
        if active {
            sqlx::query("DELETE FROM subscription_inactive WHERE instance = $1")
                .bind(instance)
                .execute(&self.pool)
                .await
                .map_err(db("activating a subscription"))?;
            return Ok(());
        }
        sqlx::query(
            "WITH off AS (\
               INSERT INTO subscription_inactive (instance) VALUES ($1) ON CONFLICT DO NOTHING) \
             UPDATE outbox SET status = 'queued', lease_owner = NULL, lease_token = NULL, \
               lease_expires = NULL WHERE lane = $1 AND status = 'pending'",
        )
        .bind(instance)
        .execute(&self.pool)
        .await
        .map_err(db("deactivating a subscription"))?;
        Ok(())
    }

    pub(crate) async fn subscription_active(&self, instance: &str) -> Result<bool> {
        let off: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM subscription_inactive WHERE instance = $1)",
        )
        .bind(instance)
        .fetch_one(&self.pool)
        .await
        .map_err(db("reading a subscription"))?;
        Ok(!off)
    }

    /// See [`Store::claim_outbox_skipping`](pollen_core::Store): a loose index scan over the
    /// lanes (an instance's callback, or one of its subscriptions) with pending rows (one seek
    /// each, on `outbox_pending_lane`), then per lane not skipped at most `per_instance` claimable rows in `(next_attempt, seq)`
    /// order, locked with `SKIP LOCKED`; the first `limit` of those in that order are leased.
    /// The cost is O(instances with pending rows) seeks, whatever their backlogs. (The walk
    /// orders by the index's whole key so that the planner takes that index, not
    /// `outbox_instance`, which also holds every delivered row; `COLLATE \"C\"` matches the
    /// index's.)
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
        let sql = format!(
            "WITH RECURSIVE inst (name) AS (\
               (SELECT lane FROM outbox WHERE status = 'pending' \
                 ORDER BY lane COLLATE \"C\", next_attempt, seq LIMIT 1) \
               UNION ALL \
               SELECT (SELECT lane FROM outbox WHERE status = 'pending' \
                 AND lane COLLATE \"C\" > inst.name \
                 ORDER BY lane COLLATE \"C\", next_attempt, seq LIMIT 1) \
               FROM inst WHERE inst.name IS NOT NULL), \
             due AS (\
               SELECT d.seq FROM inst CROSS JOIN LATERAL (\
                 SELECT seq, next_attempt FROM outbox \
                 WHERE lane COLLATE \"C\" = inst.name AND status = 'pending' AND next_attempt <= $1 \
                   AND (lease_expires IS NULL OR lease_expires <= $1) \
                 ORDER BY next_attempt, seq LIMIT $6 FOR UPDATE SKIP LOCKED) d \
               WHERE inst.name IS NOT NULL AND NOT (inst.name = ANY($5)) \
               ORDER BY d.next_attempt, d.seq LIMIT $2), \
             claimed AS (\
               UPDATE outbox o SET lease_owner = $3, lease_token = nextval('fencing_token'), \
                 lease_expires = $4 \
               FROM due WHERE o.seq = due.seq RETURNING o.*) \
             SELECT {OUTBOX_COLUMNS} FROM claimed ORDER BY next_attempt, seq"
        );
        let rows = sqlx::query(&sql)
            .bind(now)
            .bind(db_u64(limit as u64))
            .bind(owner)
            .bind(now + lease_for)
            .bind(skip)
            .bind(db_u64(per_instance.min(limit) as u64))
            .fetch_all(&self.pool)
            .await
            .map_err(db("claiming notifications"))?;
        rows.iter().map(outbox_from).collect()
    }

    /// Applies a fenced outbox update (`set`, whose parameters start at `$9`) and logs the
    /// attempt, in one statement.
    async fn finish_attempt(
        &self,
        id: &StableId,
        token: u64,
        set: &str,
        extra: (Option<DateTime<Utc>>, Option<&str>),
        attempt: &DeliveryAttempt,
    ) -> Result<()> {
        let sql = format!(
            "WITH o AS (\
               UPDATE outbox SET {set}, attempts = attempts + 1, lease_owner = NULL, \
                 lease_token = NULL, lease_expires = NULL \
               WHERE id = $1 AND lease_token = $2 RETURNING seq) \
             INSERT INTO delivery_attempt (outbox_seq, at, status, latency_ms, error, \
               response_excerpt) \
             SELECT seq, $3, $4, $5, $6, $7 FROM o RETURNING outbox_seq"
        );
        let logged: Option<i64> = sqlx::query_scalar(&sql)
            .bind(id.0.as_slice())
            .bind(db_u64(token))
            .bind(attempt.at)
            .bind(attempt.status.map(i32::from))
            .bind(db_u64(attempt.latency_ms))
            .bind(&attempt.error)
            .bind(excerpt(&attempt.response_excerpt))
            .bind(extra.0)
            .bind(extra.1)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("recording a delivery attempt"))?;
        if logged.is_some() {
            return Ok(());
        }
        let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbox WHERE id = $1)")
            .bind(id.0.as_slice())
            .fetch_one(&self.pool)
            .await
            .map_err(db("reading a notification"))?;
        Err(if known {
            Error::lease_lost(format_args!("notification {id}"))
        } else {
            Error::not_found(format_args!("notification {id}"))
        })
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
            "status = 'delivered', delivered_at = $8::timestamptz, last_error = $9::text",
            (Some(attempt.at), None),
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
            "status = 'pending', next_attempt = $8::timestamptz, last_error = $9::text",
            (Some(next_attempt), attempt.error.as_deref()),
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
            "status = 'queued', last_error = $9::text, \
             next_attempt = COALESCE($8::timestamptz, next_attempt)",
            (None, attempt.error.as_deref()),
            attempt,
        )
        .await
    }

    /// [`Store::record_attempts`](pollen_core::Store::record_attempts): one statement per chunk
    /// of records (the fenced updates, the delivery log and the refusals' reasons), all chunks
    /// in one transaction.
    pub(crate) async fn record_attempts(
        &self,
        records: &[AttemptRecord],
    ) -> Result<Vec<pollen_core::Result<()>>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut results = Vec::with_capacity(records.len());
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let mut start = 0;
        while start < records.len() {
            // A chunk names each notification once, so that each update sees the one before.
            let mut ids = std::collections::HashSet::new();
            let mut end = start;
            while end < records.len() && ids.insert(records[end].id) {
                end += 1;
            }
            let chunk = &records[start..end];
            let mut ids = Vec::with_capacity(chunk.len());
            let mut tokens = Vec::with_capacity(chunk.len());
            let mut statuses = Vec::with_capacity(chunk.len());
            let mut next_attempts = Vec::with_capacity(chunk.len());
            let mut ats = Vec::with_capacity(chunk.len());
            let mut http = Vec::with_capacity(chunk.len());
            let mut latencies = Vec::with_capacity(chunk.len());
            let mut errors = Vec::with_capacity(chunk.len());
            let mut excerpts = Vec::with_capacity(chunk.len());
            for r in chunk {
                let (status, next) = match r.outcome {
                    AttemptOutcome::Delivered => (OutboxStatus::Delivered, None),
                    AttemptOutcome::Failed { next_attempt } => {
                        (OutboxStatus::Pending, Some(next_attempt))
                    }
                    AttemptOutcome::Queued => (OutboxStatus::Queued, None),
                };
                ids.push(r.id.0.to_vec());
                tokens.push(db_u64(r.token));
                statuses.push(status.as_str());
                next_attempts.push(next);
                ats.push(r.attempt.at);
                http.push(r.attempt.status.map(i32::from));
                latencies.push(db_u64(r.attempt.latency_ms));
                errors.push(r.attempt.error.as_deref());
                excerpts.push(excerpt(&r.attempt.response_excerpt));
            }
            let rows: Vec<(bool, bool)> = sqlx::query_as(
                "WITH r AS (\
                   SELECT * FROM UNNEST($1::bytea[], $2::bigint[], $3::text[], \
                     $4::timestamptz[], $5::timestamptz[], $6::int[], $7::bigint[], $8::text[], \
                     $9::text[]) WITH ORDINALITY \
                     AS r (id, token, status, next_attempt, at, http_status, latency_ms, error, \
                       excerpt, ord)), \
                 u AS (\
                   UPDATE outbox o SET status = r.status, attempts = o.attempts + 1, \
                     delivered_at = CASE WHEN r.status = 'delivered' THEN r.at \
                       ELSE o.delivered_at END, \
                     next_attempt = COALESCE(r.next_attempt, o.next_attempt), \
                     last_error = CASE WHEN r.status = 'delivered' THEN NULL ELSE r.error END, \
                     lease_owner = NULL, lease_token = NULL, lease_expires = NULL \
                   FROM r WHERE o.id = r.id AND o.lease_token = r.token \
                   RETURNING o.seq, r.ord), \
                 logged AS (\
                   INSERT INTO delivery_attempt (outbox_seq, at, status, latency_ms, error, \
                     response_excerpt) \
                   SELECT u.seq, r.at, r.http_status, r.latency_ms, r.error, r.excerpt \
                   FROM u JOIN r ON r.ord = u.ord ORDER BY r.ord) \
                 SELECT u.seq IS NOT NULL, EXISTS (SELECT 1 FROM outbox x WHERE x.id = r.id) \
                 FROM r LEFT JOIN u ON u.ord = r.ord ORDER BY r.ord",
            )
            .bind(&ids)
            .bind(&tokens)
            .bind(&statuses)
            .bind(&next_attempts)
            .bind(&ats)
            .bind(&http)
            .bind(&latencies)
            .bind(&errors)
            .bind(&excerpts)
            .fetch_all(&mut *tx)
            .await
            .map_err(db("recording delivery attempts"))?;
            if rows.len() != chunk.len() {
                return Err(Error::corrupt(format!(
                    "recording {} delivery attempts returned {} rows",
                    chunk.len(),
                    rows.len()
                )));
            }
            for ((done, known), r) in rows.into_iter().zip(chunk) {
                results.push(if done {
                    Ok(())
                } else if known {
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
        Ok(results)
    }

    pub(crate) async fn list_attempts(&self, id: &StableId) -> Result<Vec<DeliveryAttempt>> {
        let rows = sqlx::query(
            "SELECT a.at, a.status, a.latency_ms, a.error, a.response_excerpt \
             FROM delivery_attempt a JOIN outbox o ON o.seq = a.outbox_seq \
             WHERE o.id = $1 ORDER BY a.id",
        )
        .bind(id.0.as_slice())
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading the delivery log"))?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryAttempt {
                    at: get(row, "at")?,
                    status: get::<Option<i32>>(row, "status")?
                        .map(|s| u16::try_from(s).unwrap_or(u16::MAX)),
                    latency_ms: db_count(get::<i64>(row, "latency_ms")?),
                    error: get(row, "error")?,
                    response_excerpt: get(row, "response_excerpt")?,
                })
            })
            .collect()
    }

    pub(crate) async fn list_outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxEntry>> {
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE TRUE"
        ));
        if let Some(instance) = &filter.instance {
            q.push(" AND instance = ").push_bind(instance);
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(after) = filter.after_seq {
            q.push(" AND seq > ").push_bind(db_u64(after));
        }
        q.push(" ORDER BY seq");
        if let Some(limit) = filter.limit {
            q.push(" LIMIT ").push_bind(db_u64(limit as u64));
        }
        let rows = q
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db("listing the outbox"))?;
        rows.iter().map(outbox_from).collect()
    }

    pub(crate) async fn requeue(&self, ids: &[StableId], now: DateTime<Utc>) -> Result<u64> {
        let ids: Vec<Vec<u8>> = ids.iter().map(|id| id.0.to_vec()).collect();
        let done = sqlx::query(
            "UPDATE outbox SET status = 'pending', next_attempt = $2, attempts = 0, \
             lease_owner = NULL, lease_token = NULL, lease_expires = NULL WHERE id = ANY($1)",
        )
        .bind(&ids)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db("re-queueing notifications"))?;
        Ok(done.rows_affected())
    }

    // ----- instances and credentials -----

    pub(crate) async fn create_instance(
        &self,
        fields: &InstanceFields,
        token_hash: &[u8],
        now: DateTime<Utc>,
        seal: impl FnOnce(i64) -> Vec<u8>,
    ) -> Result<i64> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db("connecting for a new instance"))?;
        Self::insert_instance(&mut conn, fields, token_hash, now, seal).await
    }

    /// Inserts an active instance. The id is drawn first so that the sealed configuration,
    /// bound to it, is written in the same single INSERT.
    async fn insert_instance(
        conn: &mut sqlx::PgConnection,
        fields: &InstanceFields,
        token_hash: &[u8],
        now: DateTime<Utc>,
        seal: impl FnOnce(i64) -> Vec<u8>,
    ) -> Result<i64> {
        let id: i64 =
            sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('instance', 'id'))")
                .fetch_one(&mut *conn)
                .await
                .map_err(db("allocating an instance id"))?;
        sqlx::query(
            "INSERT INTO instance (id, name, element_key, status, tags, config_masked, \
             config_sealed, token_hash, created_at, updated_at) OVERRIDING SYSTEM VALUE \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(id)
        .bind(&fields.name)
        .bind(&fields.element_key)
        .bind(fields.status.as_str())
        .bind(&fields.tags)
        .bind(&fields.config_masked)
        .bind(seal(id))
        .bind(token_hash)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db("creating an instance"))?;
        Ok(id)
    }

    pub(crate) async fn instance_rows(&self, id: Option<i64>) -> Result<Vec<InstanceRow>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM instance WHERE $1::bigint IS NULL OR id = $1 ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(db("reading instances"))?;
        rows.iter().map(instance_from).collect()
    }

    pub(crate) async fn instance_by_token_hash(&self, hash: &[u8]) -> Result<Option<InstanceRow>> {
        let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instance WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(db("finding an instance by token"))?;
        row.as_ref().map(instance_from).transpose()
    }

    /// [`SqlStore::put_instance_by_name`](crate::SqlStore::put_instance_by_name): a
    /// transaction-scoped advisory lock on the name serializes the lookup and the write
    /// against every other process (names are not unique in the table: the API may create two
    /// instances of one name, as Open Connectors does).
    pub(crate) async fn put_instance_by_name(
        &self,
        fields: &InstanceFields,
        token_hash: &[u8],
        now: DateTime<Utc>,
        seal: impl FnOnce(i64) -> Vec<u8>,
    ) -> Result<(i64, bool)> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('pollen instance name ' || $1, 0))",
        )
        .bind(&fields.name)
        .execute(&mut *tx)
        .await
        .map_err(db("locking an instance name"))?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT id FROM instance WHERE name = $1 ORDER BY id LIMIT 1")
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

    pub(crate) async fn update_instance_config(
        &self,
        id: i64,
        fields: &InstanceFields,
        sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let found = Self::update_instance_row(&mut tx, id, fields, sealed, now).await?;
        tx.commit().await.map_err(db("committing an instance"))?;
        Ok(found)
    }

    /// Replaces the configuration of row `id`, and drops the retired keys of subscriptions it
    /// no longer has; whether it exists.
    async fn update_instance_row(
        conn: &mut sqlx::PgConnection,
        id: i64,
        fields: &InstanceFields,
        sealed: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE instance SET name = $2, element_key = $3, tags = $4, config_masked = $5, \
             config_sealed = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(id)
        .bind(&fields.name)
        .bind(&fields.element_key)
        .bind(&fields.tags)
        .bind(&fields.config_masked)
        .bind(sealed)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db("updating an instance"))?;
        sqlx::query(
            "DELETE FROM retired_signing_key WHERE instance_id = $1 AND subscription <> '' \
             AND subscription NOT IN (SELECT jsonb_array_elements_text($2::jsonb))",
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
        let done = sqlx::query("UPDATE instance SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(status)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db("updating an instance status"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn set_token_hash(&self, id: i64, hash: &[u8]) -> Result<bool> {
        let done = sqlx::query("UPDATE instance SET token_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(db("rotating an instance token"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn delete_instance(&self, id: i64) -> Result<bool> {
        let deleted: Option<i64> = sqlx::query_scalar(
            "WITH states AS (DELETE FROM poll_state WHERE instance = $2), \
             notes AS (DELETE FROM outbox WHERE instance = $2), \
             subs AS (DELETE FROM subscription_inactive \
               WHERE instance = $2 OR instance LIKE $2 || '/%') \
             DELETE FROM instance WHERE id = $1 RETURNING id",
        )
        .bind(id)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db("deleting an instance"))?;
        Ok(deleted.is_some())
    }

    pub(crate) async fn credential_row(&self, id: i64) -> Result<Option<CredentialRow>> {
        let row = sqlx::query(
            "SELECT access_token, refresh_token, expires_at, code_exchanged \
             FROM credential WHERE instance_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("reading credentials"))?;
        row.map(|row| {
            Ok(CredentialRow {
                access_token: get(&row, "access_token")?,
                refresh_token: get(&row, "refresh_token")?,
                expires_at: get(&row, "expires_at")?,
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
            "INSERT INTO credential (instance_id, access_token, refresh_token, expires_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (instance_id) DO UPDATE SET \
             access_token = excluded.access_token, refresh_token = excluded.refresh_token, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(row.access_token.as_deref())
        .bind(row.refresh_token.as_deref())
        .bind(row.expires_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| foreign_key_or(&e, id, "saving credentials"))?;
        Ok(())
    }

    pub(crate) async fn claim_code_exchange(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let claimed: Option<i64> = sqlx::query_scalar(
            "INSERT INTO credential (instance_id, code_exchanged, updated_at) VALUES ($1, TRUE, $2) \
             ON CONFLICT (instance_id) DO UPDATE SET code_exchanged = TRUE, \
             updated_at = excluded.updated_at WHERE NOT credential.code_exchanged \
             RETURNING instance_id",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
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
        sqlx::query(
            "WITH expired AS (DELETE FROM retired_signing_key WHERE instance_id = $1 \
             AND expires_at <= $4) \
             INSERT INTO retired_signing_key (instance_id, scheme, key_sealed, retired_at, \
             expires_at, subscription) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(scheme)
        .bind(sealed)
        .bind(now)
        .bind(expires_at)
        .bind(subscription)
        .execute(&self.pool)
        .await
        .map_err(|e| foreign_key_or(&e, id, "retiring a signing key"))?;
        Ok(())
    }

    pub(crate) async fn retired_signing_keys(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<RetiredRow>> {
        let rows = sqlx::query(
            "SELECT subscription, scheme, key_sealed, retired_at, expires_at \
             FROM retired_signing_key \
             WHERE instance_id = $1 AND expires_at > $2 ORDER BY retired_at DESC, id DESC",
        )
        .bind(id)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db("reading retired signing keys"))?;
        rows.iter()
            .map(|row| {
                Ok(RetiredRow {
                    subscription: get(row, "subscription")?,
                    scheme: get(row, "scheme")?,
                    sealed: get(row, "key_sealed")?,
                    retired_at: get(row, "retired_at")?,
                    expires_at: get(row, "expires_at")?,
                })
            })
            .collect()
    }

    pub(crate) async fn count_retired_signing_keys(&self, now: DateTime<Utc>) -> Result<u64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM retired_signing_key WHERE expires_at > $1")
                .bind(now)
                .fetch_one(&self.pool)
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
        let (dropped,): (i64,) = sqlx::query_as(
            "WITH gone AS (DELETE FROM retired_signing_key WHERE instance_id = $1 \
             AND ((scheme = $2 AND subscription = $4) OR expires_at <= $3) \
             RETURNING scheme, subscription, expires_at) \
             SELECT count(*) FROM gone WHERE scheme = $2 AND subscription = $4 \
             AND expires_at > $3",
        )
        .bind(id)
        .bind(scheme)
        .bind(now)
        .bind(subscription)
        .fetch_one(&self.pool)
        .await
        .map_err(db("dropping retired signing keys"))?;
        Ok(db_count(dropped))
    }

    // ----- rewind -----

    pub(crate) async fn rewind(
        &self,
        key: &PollKey,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Rewound> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        let row: Option<(i64, DateTime<Utc>, Option<String>)> = sqlx::query_as(
            "SELECT id, watermark, lease_owner FROM poll_state \
             WHERE instance = $1 AND resource = $2 FOR UPDATE",
        )
        .bind(&key.instance)
        .bind(&key.resource)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading a poll state"))?;
        let Some((id, previous, owner)) = row else {
            return Err(Error::not_found(format_args!("poll state for {key}")));
        };
        check_rewind(key, to, previous)?;
        // The lease goes too: a poll in flight commits nothing (its fencing token no longer
        // matches a held lease) and the next poll, due now, reads from `to`.
        sqlx::query(
            "UPDATE poll_state SET watermark = $2, next_due = $3, claimable_at = $3, \
             lease_owner = NULL, lease_expires = NULL, rewinds = rewinds + 1 WHERE id = $1",
        )
        .bind(id)
        .bind(to)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("rewinding a poll state"))?;
        let forgotten =
            sqlx::query("DELETE FROM seen_change WHERE state_id = $1 AND seen_at >= $2")
                .bind(id)
                .bind(to)
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
        conn: impl Executor<'c, Database = Postgres>,
        filter: &ReplayFilter,
        after: i64,
        upto: i64,
        limit: usize,
    ) -> Result<Vec<Scanned>> {
        let mut q = QueryBuilder::<Postgres>::new(if filter.event_types.is_empty() {
            "SELECT seq, '' AS body FROM outbox WHERE instance = "
        } else {
            "SELECT seq, body FROM outbox WHERE instance = "
        });
        q.push_bind(filter.instance.as_str())
            .push(" AND seq > ")
            .push_bind(after)
            .push(" AND seq <= ")
            .push_bind(upto)
            .push(" AND created_at >= ")
            .push_bind(filter.since)
            .push(" AND created_at < ")
            .push_bind(filter.until);
        if let Some(lane) = &filter.lane {
            q.push(" AND lane = ").push_bind(lane.clone());
        }
        if !filter.resources.is_empty() {
            q.push(" AND resource = ANY(")
                .push_bind(filter.resources.clone())
                .push(")");
        }
        q.push(" ORDER BY seq LIMIT ")
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
            .pool
            .acquire()
            .await
            .map_err(db("connecting to count notifications"))?;
        Self::count_matching(&mut conn, filter, i64::MAX).await
    }

    async fn count_matching(
        conn: &mut sqlx::PgConnection,
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
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        // Notifications written from now on are not part of it: they go out anyway. A row
        // whose seq was drawn before this but commits after is left out: it is new, so it is
        // delivered without a replay.
        let (last_seq,): (i64,) = sqlx::query_as("SELECT coalesce(max(seq), 0) FROM outbox")
            .fetch_one(&mut *tx)
            .await
            .map_err(db("reading the outbox's last seq"))?;
        let total = Self::count_matching(&mut tx, filter, last_seq).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO replay (instance, since, until, resources, event_types, state, total, \
             last_seq, created_at, updated_at, lane) \
             VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $8, $9) RETURNING {REPLAY_COLUMNS}"
        ))
        .bind(&filter.instance)
        .bind(filter.since)
        .bind(filter.until)
        .bind(list_text(&filter.resources))
        .bind(list_text(&filter.event_types))
        .bind(db_u64(total))
        .bind(last_seq)
        .bind(now)
        .bind(filter.lane.as_deref())
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
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        // The row lock makes concurrent advances of one replay take turns: each sees the
        // cursor the one before left.
        let row = sqlx::query(&format!(
            "SELECT {REPLAY_COLUMNS}, cursor_seq, last_seq FROM replay WHERE id = $1 FOR UPDATE"
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
        // Waiting rows: pending, not in flight (as on SQLite).
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM (SELECT 1 FROM outbox WHERE lane COLLATE \"C\" >= $1 \
             AND lane COLLATE \"C\" < $1 || '0' AND status = 'pending' \
             AND lease_owner IS NULL LIMIT $2) AS backlog",
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
        // Re-queued like a redelivery; held as queued while the subscription is deactivated.
        sqlx::query(
            "UPDATE outbox SET status = CASE WHEN EXISTS (SELECT 1 FROM subscription_inactive i \
             WHERE i.instance = outbox.lane) THEN 'queued' ELSE 'pending' END, \
             next_attempt = $2, attempts = 0, lease_owner = NULL, lease_token = NULL, \
             lease_expires = NULL WHERE seq = ANY($1)",
        )
        .bind(&matched)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db("re-queueing notifications"))?;
        let finished = scanned.len() < chunk;
        let cursor = scanned.last().map_or(cursor, |s| s.seq);
        let row = sqlx::query(&format!(
            "UPDATE replay SET cursor_seq = $2, replayed = replayed + $3, updated_at = $4, \
             state = CASE WHEN $5 THEN 'done' ELSE state END, \
             finished_at = CASE WHEN $5 THEN $4 ELSE finished_at END \
             WHERE id = $1 RETURNING {REPLAY_COLUMNS}"
        ))
        .bind(id)
        .bind(cursor)
        .bind(db_u64(matched.len() as u64))
        .bind(now)
        .bind(finished)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("advancing a replay"))?;
        let replay = replay_from(&row)?;
        tx.commit().await.map_err(db("committing a replay chunk"))?;
        Ok(replay)
    }

    pub(crate) async fn cancel_replay(&self, id: i64, now: DateTime<Utc>) -> Result<Replay> {
        // Waits for a chunk in flight (its row lock), so no chunk lands after the cancel.
        let row = sqlx::query(&format!(
            "WITH cancelled AS (UPDATE replay SET state = 'cancelled', updated_at = $2, \
             finished_at = $2 WHERE id = $1 AND state = 'running' RETURNING {REPLAY_COLUMNS}) \
             SELECT {REPLAY_COLUMNS} FROM cancelled \
             UNION ALL SELECT {REPLAY_COLUMNS} FROM replay \
             WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM cancelled)"
        ))
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("cancelling a replay"))?
        .ok_or_else(|| Error::not_found(format_args!("replay {id}")))?;
        replay_from(&row)
    }

    pub(crate) async fn list_replays(
        &self,
        instance: Option<&str>,
        running: bool,
    ) -> Result<Vec<Replay>> {
        let rows = sqlx::query(&format!(
            "SELECT {REPLAY_COLUMNS} FROM replay WHERE ($1::TEXT IS NULL OR instance = $1) \
             AND (NOT $2 OR state = 'running') ORDER BY id"
        ))
        .bind(instance)
        .bind(running)
        .fetch_all(&self.pool)
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
        // The database's clock times the refill, so the workers' clocks do not matter; the row
        // is locked only for this short transaction.
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(db("starting a transaction"))?;
        // A bucket seen for the first time starts empty: calls made just before (by a process
        // that died) may still count in Sage's window.
        sqlx::query(
            "INSERT INTO rate_budget (business, tokens, updated_at) \
             VALUES ($1, 0, clock_timestamp()) ON CONFLICT (business) DO NOTHING",
        )
        .bind(business)
        .execute(&mut *tx)
        .await
        .map_err(db("creating a rate budget"))?;
        let (tokens, elapsed): (f64, f64) = sqlx::query_as(
            "SELECT tokens, EXTRACT(EPOCH FROM clock_timestamp() - updated_at)::float8 \
             FROM rate_budget WHERE business = $1 FOR UPDATE",
        )
        .bind(business)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("reading a rate budget"))?;
        let take = bucket.take(tokens, elapsed, purpose);
        // `updated_at` moves by exactly the refill counted, never backwards.
        sqlx::query(
            "UPDATE rate_budget SET tokens = $2, \
             updated_at = updated_at + make_interval(secs => GREATEST($3, 0)) WHERE business = $1",
        )
        .bind(business)
        .bind(take.tokens)
        .bind(elapsed)
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
        let instances: Vec<&str> = held.iter().map(|(k, _)| k.instance.as_str()).collect();
        let resources: Vec<&str> = held.iter().map(|(k, _)| k.resource.as_str()).collect();
        let tokens: Vec<i64> = held.iter().map(|(_, t)| db_u64(*t)).collect();
        let renewed: Vec<i64> = sqlx::query_scalar(
            "WITH h AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[]) \
               WITH ORDINALITY AS h(instance, resource, token, n)) \
             UPDATE poll_state p SET lease_expires = $4, claimable_at = GREATEST(p.next_due, $4) \
             FROM h WHERE p.instance = h.instance AND p.resource = h.resource \
               AND p.fencing_token = h.token AND p.lease_owner = $5 \
             RETURNING h.n",
        )
        .bind(&instances)
        .bind(&resources)
        .bind(&tokens)
        .bind(now + lease_for)
        .bind(owner)
        .fetch_all(&self.pool)
        .await
        .map_err(db("renewing leases"))?;
        let mut result = vec![false; held.len()];
        for n in renewed {
            if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| result.get_mut(i)) {
                *slot = true;
            }
        }
        Ok(result)
    }

    pub(crate) async fn heartbeat(&self, worker: &Worker) -> Result<()> {
        sqlx::query(
            "INSERT INTO worker (id, host, pid, started_at, heartbeat_at, lease_ttl_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET host = excluded.host, \
             pid = excluded.pid, started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at, lease_ttl_ms = excluded.lease_ttl_ms",
        )
        .bind(&worker.id)
        .bind(&worker.host)
        .bind(i64::from(worker.pid))
        .bind(worker.started_at)
        .bind(worker.heartbeat_at)
        .bind(db_u64(worker.lease_ttl_ms))
        .execute(&self.pool)
        .await
        .map_err(db("writing a worker's heartbeat"))?;
        Ok(())
    }

    /// Removes the rows of `holders` and releases their poll leases and delivery leases, in
    /// one transaction: the dead are decided once, by the delete.
    pub(crate) async fn release_holders(&self, holders: Holders<'_>) -> Result<ReleasedWork> {
        let mut tx = self.pool.begin().await.map_err(db("beginning"))?;
        let removed: Vec<String> = match holders {
            Holders::Dead(now) => sqlx::query_scalar(
                "DELETE FROM worker \
                 WHERE heartbeat_at + lease_ttl_ms * interval '1 millisecond' < $1 RETURNING id",
            )
            .bind(now),
            Holders::One(id) => {
                sqlx::query_scalar("DELETE FROM worker WHERE id = $1 RETURNING id").bind(id)
            }
            Holders::All => sqlx::query_scalar("DELETE FROM worker RETURNING id"),
        }
        .fetch_all(&mut *tx)
        .await
        .map_err(db("removing workers"))?;
        let owners: Vec<String> = match holders {
            Holders::One(id) => vec![id.to_owned()],
            _ => removed.clone(),
        };
        let every = matches!(holders, Holders::All);
        let polls = sqlx::query(
            "UPDATE poll_state SET lease_owner = NULL, lease_expires = NULL, claimable_at = next_due \
             WHERE lease_owner IS NOT NULL AND ($1 OR lease_owner = ANY($2))",
        )
        .bind(every)
        .bind(&owners)
        .execute(&mut *tx)
        .await
        .map_err(db("releasing poll leases"))?
        .rows_affected();
        let notifications = sqlx::query(
            "UPDATE outbox SET lease_owner = NULL, lease_token = NULL, lease_expires = NULL \
             WHERE status = 'pending' AND lease_owner IS NOT NULL AND ($1 OR lease_owner = ANY($2))",
        )
        .bind(every)
        .bind(&owners)
        .execute(&mut *tx)
        .await
        .map_err(db("releasing delivery leases"))?
        .rows_affected();
        sqlx::query(
            "UPDATE alert_delivery SET lease_owner = NULL, lease_expires = NULL \
             WHERE state = 'pending' AND lease_owner IS NOT NULL AND ($1 OR lease_owner = ANY($2))",
        )
        .bind(every)
        .bind(&owners)
        .execute(&mut *tx)
        .await
        .map_err(db("releasing alert delivery leases"))?;
        tx.commit()
            .await
            .map_err(db("committing released leases"))?;
        Ok(ReleasedWork {
            workers: removed.len() as u64,
            polls,
            notifications,
        })
    }

    pub(crate) async fn list_workers(&self, now: DateTime<Utc>) -> Result<Vec<WorkerStatus>> {
        let rows = sqlx::query(
            "SELECT id, host, pid, started_at, heartbeat_at, lease_ttl_ms FROM worker ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing the workers"))?;
        let mut workers = Vec::with_capacity(rows.len());
        for row in &rows {
            workers.push(WorkerStatus {
                worker: Worker {
                    id: get(row, "id")?,
                    host: get(row, "host")?,
                    pid: u32::try_from(get::<i64>(row, "pid")?).unwrap_or_default(),
                    started_at: get(row, "started_at")?,
                    heartbeat_at: get(row, "heartbeat_at")?,
                    lease_ttl_ms: db_count(get(row, "lease_ttl_ms")?),
                },
                polls: Vec::new(),
                notifications: 0,
            });
        }
        let polls: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT lease_owner, instance, resource FROM poll_state \
             WHERE lease_owner IS NOT NULL AND lease_expires > $1 ORDER BY instance, resource",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db("listing the leased polls"))?;
        let notifications: Vec<(String, i64)> = sqlx::query_as(
            "SELECT lease_owner, count(*) FROM outbox WHERE status = 'pending' \
             AND lease_owner IS NOT NULL AND lease_expires > $1 GROUP BY lease_owner",
        )
        .bind(now)
        .fetch_all(&self.pool)
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
            let done = sqlx::query(
                "DELETE FROM seen_change WHERE (state_id, change_id) IN \
                 (SELECT s.state_id, s.change_id FROM poll_state p JOIN seen_change s \
                 ON s.state_id = p.id AND s.seen_at < $1 LIMIT $2)",
            )
            .bind(now - retention.seen)
            .bind(batch)
            .execute(&self.pool)
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
                 WHERE status = 'delivered' AND delivered_at < $1 LIMIT $2)",
            )
            .bind(now - retention.delivered)
            .bind(batch)
            .execute(&self.pool)
            .await
            .map_err(db("pruning delivered notifications"))?;
            report.delivered += done.rows_affected();
            if done.rows_affected() < batch as u64 {
                break;
            }
        }
        report.replays =
            sqlx::query("DELETE FROM replay WHERE state <> 'running' AND finished_at < $1")
                .bind(now - retention.delivered)
                .execute(&self.pool)
                .await
                .map_err(db("pruning finished replays"))?
                .rows_affected();
        report.alerts = sqlx::query(
            "DELETE FROM alert WHERE resolved_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM alert_delivery d WHERE d.alert_id = alert.id AND d.state = 'pending')",
        )
        .bind(now - retention.delivered)
        .execute(&self.pool)
        .await
        .map_err(db("pruning resolved alerts"))?
        .rows_affected();
        report.retired_keys = sqlx::query("DELETE FROM retired_signing_key WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db("pruning expired signing keys"))?
            .rows_affected();
        Ok(report)
    }
}
