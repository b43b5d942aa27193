//! Outbox throughput without HTTP: 30,000 notifications of 50 instances (600 each, ~1.3 KB
//! bodies) in the outbox, then claimed 64 at a time (at most 32 of one instance, as the sender
//! asks) and recorded delivered 128 at a time, one call after the other, until the outbox is
//! drained. What the store costs the sender per notification, from a SQLite file (WAL,
//! `synchronous=NORMAL`) and from `MemoryStore` as the baseline, in the same run.
//!
//! Run: `cargo bench -p pollen-store --bench outbox`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use pollen_core::{
    AttemptOutcome, AttemptRecord, DeliveryAttempt, MemoryStore, Notification, PollCommit, PollKey,
    StableId, Store,
};
use pollen_store::{SecretKey, SqlStore, StoreOptions};

const INSTANCES: u64 = 50;
const PER_INSTANCE: u64 = 600;
const CLAIM: usize = 64;
const PER_INSTANCE_CAP: usize = 32;
const RECORD: usize = 128;

/// Fills the outbox: one poll commit per instance.
async fn fill(store: &dyn Store) {
    let now = Utc::now();
    let long_ago = now - TimeDelta::days(1);
    for i in 0..INSTANCES {
        let key = PollKey::new(format!("{}", 1000 + i), "contacts");
        store.register(&key, long_ago, long_ago).await.unwrap();
    }
    let claimed = store
        .claim_due("bench", now, TimeDelta::minutes(5), INSTANCES as usize)
        .await
        .unwrap();
    assert_eq!(claimed.len() as u64, INSTANCES);
    let mut n = 0u64;
    for state in claimed {
        let notifications = (0..PER_INSTANCE)
            .map(|_| {
                n += 1;
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&n.to_be_bytes());
                Notification {
                    id: StableId(id),
                    key: state.key.clone(),
                    created_at: now,
                    event_ids: vec![],
                    body: format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(1_300)),
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
                key: state.key.clone(),
                lease_token: state.lease.as_ref().unwrap().token,
                watermark: now,
                next_due: now + TimeDelta::days(1),
                seen: vec![],
                notifications,
                prune_before: None,
            })
            .await
            .unwrap();
    }
}

/// Claims and records until the outbox is empty; returns (time, claim time, record time).
async fn drain(store: &dyn Store) -> (Duration, Duration, Duration) {
    let total = (INSTANCES * PER_INSTANCE) as usize;
    let (mut claiming, mut recording) = (Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    let mut pending = Vec::with_capacity(RECORD + CLAIM);
    let mut done = 0;
    while done < total {
        let t = Instant::now();
        let claimed = store
            .claim_outbox_skipping(
                "bench",
                Utc::now(),
                TimeDelta::minutes(5),
                CLAIM,
                PER_INSTANCE_CAP,
                &[],
            )
            .await
            .unwrap();
        claiming += t.elapsed();
        assert!(!claimed.is_empty(), "the outbox ran dry after {done}");
        done += claimed.len();
        pending.extend(claimed.iter().map(|e| AttemptRecord {
            id: e.notification.id,
            token: e.lease.as_ref().unwrap().token,
            outcome: AttemptOutcome::Delivered,
            attempt: DeliveryAttempt {
                at: Utc::now(),
                status: Some(200),
                latency_ms: 1,
                error: None,
                response_excerpt: String::new(),
            },
        }));
        if pending.len() >= RECORD || done == total {
            let t = Instant::now();
            let results = store.record_attempts(&pending).await.unwrap();
            recording += t.elapsed();
            assert!(results.iter().all(Result::is_ok));
            pending.clear();
        }
    }
    (started.elapsed(), claiming, recording)
}

fn report(name: &str, (time, claiming, recording): (Duration, Duration, Duration)) {
    let n = (INSTANCES * PER_INSTANCE) as f64;
    println!(
        "{name}: {:.0} notifications/s (claims {:.1} µs, records {:.1} µs per notification)",
        n / time.as_secs_f64(),
        claiming.as_secs_f64() * 1e6 / n,
        recording.as_secs_f64() * 1e6 / n,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    for round in 1..=3 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let sqlite: Arc<dyn Store> = Arc::new(
            SqlStore::open(&url, StoreOptions::new(SecretKey::generate()))
                .await
                .unwrap(),
        );
        fill(sqlite.as_ref()).await;
        report(
            &format!("SQLite (round {round})"),
            drain(sqlite.as_ref()).await,
        );

        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
        fill(memory.as_ref()).await;
        report(
            &format!("MemoryStore (round {round})"),
            drain(memory.as_ref()).await,
        );
    }
}
