//! Replay throughput: 30,000 notifications of one instance (~1.3 KB bodies, one event each,
//! a third of them UPDATED) in the outbox, held as queued (the instance's subscription
//! deactivated, so that no chunk waits for a receiver: only the store is measured); then the
//! preview count (all types, then only UPDATED: every body parsed), and a replay of the whole
//! range in chunks of 500 with the engine's backlog bound of 500 (`start_replay` +
//! `advance_replay` until done). Baseline in the same run: re-queueing the same 30,000 ids
//! with `Store::requeue` in chunks of 500, what `pollen events redeliver` does with known ids.
//! SQLite always; PostgreSQL too when `POLLEN_TEST_DATABASE_URL` names a server.
//!
//! Run: `cargo bench -p pollen-store --bench replay`.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use pollen_core::{Notification, PollCommit, PollKey, StableId, Store};
use pollen_store::{ReplayFilter, ReplayState, SecretKey, SqlStore, StoreOptions};

const NOTIFICATIONS: u64 = 30_000;
const CHUNK: usize = 500;
const COMMIT: u64 = 1_000;

fn id(n: u64) -> StableId {
    let mut id = [7u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    StableId(id)
}

/// Fills the outbox: one instance, one resource, commits of 1,000.
async fn fill(store: &SqlStore) -> Vec<StableId> {
    let now = Utc::now();
    let long_ago = now - TimeDelta::days(1);
    let key = PollKey::new("1000", "contacts");
    store.register(&key, long_ago, long_ago).await.unwrap();
    let mut ids = Vec::new();
    let mut n = 0;
    while n < NOTIFICATIONS {
        let state = store
            .claim_due("bench", Utc::now(), TimeDelta::minutes(5), 1)
            .await
            .unwrap()
            .pop()
            .expect("the key is due");
        let notifications = (0..COMMIT)
            .map(|_| {
                n += 1;
                ids.push(id(n));
                let kind = if n % 3 == 0 { "UPDATED" } else { "CREATED" };
                Notification {
                    id: id(n),
                    key: key.clone(),
                    created_at: now,
                    event_ids: vec![],
                    body: format!(
                        "{{\"message\":{{\"events\":[{{\"eventType\":\"{kind}\",\"objectId\":\"{n}\"}}]}},\"pad\":\"{}\"}}",
                        "x".repeat(1_300)
                    ),
                    subscription: None,
                }
            })
            .collect();
        store
            .commit_poll(PollCommit {
                window: Vec::new(),
                checkpoints: Vec::new(),
                ended_chains: Vec::new(),
                known: Vec::new(),
                reconciled: None,
                key: key.clone(),
                lease_token: state.lease.as_ref().unwrap().token,
                watermark: now,
                next_due: long_ago,
                seen: vec![],
                notifications,
                prune_before: None,
            })
            .await
            .unwrap();
    }
    ids
}

fn rate(n: u64, time: Duration) -> String {
    format!(
        "{:.0}/s ({:.0} ms)",
        n as f64 / time.as_secs_f64(),
        time.as_secs_f64() * 1e3
    )
}

async fn bench(name: &str, store: &SqlStore) {
    let ids = fill(store).await;
    store.set_subscription_active("1000", false).await.unwrap();
    let range = ReplayFilter::new(
        "1000",
        Utc::now() - TimeDelta::hours(1),
        Utc::now() + TimeDelta::hours(1),
    );

    let t = Instant::now();
    let all = store.count_replay(&range).await.unwrap();
    let count_all = t.elapsed();
    assert_eq!(all, NOTIFICATIONS);
    let updates = range.clone().event_types(vec!["UPDATED".into()]);
    let t = Instant::now();
    let some = store.count_replay(&updates).await.unwrap();
    let count_some = t.elapsed();
    assert_eq!(some, NOTIFICATIONS / 3);

    let t = Instant::now();
    let replay = store.start_replay(&range, Utc::now()).await.unwrap();
    let mut chunks = 0;
    loop {
        let moved = store
            .advance_replay(replay.id, CHUNK, CHUNK, Utc::now())
            .await
            .unwrap();
        chunks += 1;
        if moved.state != ReplayState::Running {
            assert_eq!(moved.replayed, NOTIFICATIONS);
            break;
        }
    }
    let replayed = t.elapsed();

    let t = Instant::now();
    let mut requeued = 0;
    for chunk in ids.chunks(CHUNK) {
        requeued += store.requeue(chunk, Utc::now()).await.unwrap();
    }
    let baseline = t.elapsed();
    assert_eq!(requeued, NOTIFICATIONS);

    println!(
        "{name}: preview {} (UPDATED only {}); replay {} in {chunks} chunks; baseline requeue by id {}",
        rate(NOTIFICATIONS, count_all),
        rate(NOTIFICATIONS, count_some),
        rate(NOTIFICATIONS, replayed),
        rate(NOTIFICATIONS, baseline),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for round in 1..=3 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let sqlite = SqlStore::open(&url, StoreOptions::new(SecretKey::generate()))
            .await
            .unwrap();
        bench(&format!("SQLite (round {round})"), &sqlite).await;
        if let Ok(url) = std::env::var("POLLEN_TEST_DATABASE_URL") {
            let schema = format!("bench_replay_{}_{round}", std::process::id());
            let pg = SqlStore::open(
                &url,
                StoreOptions::new(SecretKey::generate()).schema(schema.as_str()),
            )
            .await
            .unwrap();
            bench(&format!("PostgreSQL (round {round})"), &pg).await;
            pg.close().await;
            drop_schema(&url, &schema).await;
        }
    }
}

/// The bench's PostgreSQL schema goes when the round is over.
async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
}
