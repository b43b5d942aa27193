//! Commit throughput: polls that each append 10 notifications (about 1 KiB each) and record 10
//! de-duplication keys, claimed in batches and committed one transaction per poll.
//!
//! - SQLite, one writer, WAL with `synchronous=NORMAL` (durable against process crashes; the
//!   WAL is synced at checkpoints): target at least 5,000 notifications/s.
//! - PostgreSQL on `POLLEN_TEST_DATABASE_URL` (default `synchronous_commit`, so every commit is
//!   flushed), three concurrent writers with their own pools: target at least 10,000
//!   notifications/s. Skipped when the variable is unset.
//!
//! Run: `cargo bench -p pollen-store --bench commit`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use pollen_core::{Notification, PollCommit, PollKey, SeenChange, StableId, Store};
use pollen_store::{SecretKey, SqlStore, StoreOptions};
use sqlx::{Connection, Executor};

const NOTIFICATIONS_PER_POLL: u32 = 10;
/// Poll states per writer.
const KEYS: u32 = 200;
const ROUNDS: u32 = 10;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn stable(writer: u32, poll: u32, n: u32) -> StableId {
    let mut bytes = [7u8; 16];
    bytes[..4].copy_from_slice(&writer.to_be_bytes());
    bytes[4..8].copy_from_slice(&poll.to_be_bytes());
    bytes[8..12].copy_from_slice(&n.to_be_bytes());
    StableId(bytes)
}

/// A notification body of about 1 KiB, like one event's.
fn body(writer: u32, poll: u32, n: u32) -> String {
    format!(
        "{{\"id\":\"{}\",\"message\":{{\"events\":[{{\"objectId\":\"{writer}-{poll}-{n}\",\
         \"eventType\":\"UPDATED\"}}],\"raw\":\"{}\"}}}}",
        stable(writer, poll, n),
        "x".repeat(900)
    )
}

/// Registers `count` poll states, due at once.
async fn register(store: &SqlStore, count: u32) {
    for k in 0..count {
        let key = PollKey::new(k.to_string(), "invoices");
        store.register(&key, t0(), t0()).await.unwrap();
    }
}

/// One writer: for each of `ROUNDS` hourly slots, claims due polls (whichever writer's they
/// would be) in batches and commits each as a finished poll, until none is due.
/// Returns the notifications committed and the time spent.
async fn writer(store: Arc<SqlStore>, writer: u32) -> (u64, Duration) {
    let owner = format!("writer-{writer}");
    let started = Instant::now();
    let mut committed = 0u64;
    let mut poll = 0u32;
    for round in 0..ROUNDS {
        let now = t0() + TimeDelta::hours(i64::from(round));
        loop {
            let claimed = store
                // Writers move through the hours at their own pace: a lease longer than the run
                // keeps a fast writer from taking over a slow one's claims.
                .claim_due(&owner, now, TimeDelta::days(1), 50)
                .await
                .unwrap();
            if claimed.is_empty() {
                break;
            }
            for state in claimed {
                poll += 1;
                let commit = PollCommit {
                    window: Vec::new(),
                    checkpoints: Vec::new(),
                    ended_chains: Vec::new(),
                    known: Vec::new(),
                    reconciled: None,
                    key: state.key.clone(),
                    lease_token: state.lease.as_ref().unwrap().token,
                    watermark: now,
                    next_due: state.next_due + TimeDelta::hours(1),
                    seen: (0..NOTIFICATIONS_PER_POLL)
                        .map(|n| SeenChange {
                            id: stable(writer, poll, n + 100),
                            at: now,
                        })
                        .collect(),
                    notifications: (0..NOTIFICATIONS_PER_POLL)
                        .map(|n| Notification {
                            id: stable(writer, poll, n),
                            key: state.key.clone(),
                            created_at: now,
                            event_ids: vec![stable(writer, poll, n + 200)],
                            body: body(writer, poll, n),
                            subscription: None,
                        })
                        .collect(),
                    prune_before: Some(now - TimeDelta::hours(2)),
                };
                store.commit_poll(commit).await.unwrap();
                committed += u64::from(NOTIFICATIONS_PER_POLL);
            }
        }
    }
    (committed, started.elapsed())
}

fn report(name: &str, notifications: u64, elapsed: Duration, target: f64) {
    let rate = notifications as f64 / elapsed.as_secs_f64();
    let polls = notifications / u64::from(NOTIFICATIONS_PER_POLL);
    println!(
        "{name}: {notifications} notifications in {polls} commits, {:.2} s: {rate:.0} notifications/s \
         ({:.0} commits/s); target >= {target:.0}: {}",
        elapsed.as_secs_f64(),
        polls as f64 / elapsed.as_secs_f64(),
        if rate >= target { "met" } else { "NOT MET" }
    );
}

async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqlStore::open(&url, StoreOptions::new(SecretKey::generate()))
        .await
        .unwrap();
    register(&store, KEYS).await;
    let (n, elapsed) = writer(Arc::new(store), 0).await;
    report(
        "sqlite, 1 writer, WAL + synchronous=NORMAL",
        n,
        elapsed,
        5_000.0,
    );
}

async fn postgres(url: &str) {
    let schema = format!("pollen_bench_{}", std::process::id());
    let options = StoreOptions::new(SecretKey::generate())
        .schema(schema.clone())
        .max_connections(2);
    let first = SqlStore::open(url, options.clone()).await.unwrap();
    let mut stores = vec![Arc::new(first)];
    for _ in 1..3 {
        stores.push(Arc::new(
            SqlStore::open(url, options.clone()).await.unwrap(),
        ));
    }
    // Register everything first, so that the timed part is claims and commits only.
    register(&stores[0], 3 * KEYS).await;
    let started = Instant::now();
    let tasks: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(w, store)| tokio::spawn(writer(Arc::clone(store), w as u32)))
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap().0;
    }
    let elapsed = started.elapsed();
    report("postgres, 3 concurrent writers", total, elapsed, 10_000.0);
    for store in &stores {
        store.close().await;
    }
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    conn.execute(format!("DROP SCHEMA \"{schema}\" CASCADE").as_str())
        .await
        .unwrap();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        sqlite().await;
        match std::env::var("POLLEN_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => postgres(&url).await,
            _ => println!("postgres: skipped (POLLEN_TEST_DATABASE_URL is not set)"),
        }
    });
}
