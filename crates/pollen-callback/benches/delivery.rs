//! Sustained delivery to a local receiver, signing on: throughput draining a backlog, and the
//! latency from outbox insert to receipt at a steady 5,000 notifications/s — from a SQLite
//! outbox (`pollen-store`, as `pollen run` uses it), with `MemoryStore` as the baseline that
//! shows what the store costs.
//!
//! `cargo bench -p pollen-callback --bench delivery` (figures in `docs/performance.md`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use chrono::{TimeDelta, Utc};
use pollen_callback::{AddressPolicy, Endpoint, EndpointMap, Sender, SenderConfig};
use pollen_config::Secret;
use pollen_core::{MemoryStore, Notification, PollCommit, PollKey, StableId, Store, SystemClock};
use pollen_store::{SecretKey, SqlStore, StoreOptions};

const INSTANCES: usize = 50;

/// Receipt instants by notification id.
type Receipts = Arc<Mutex<HashMap<String, Instant>>>;

async fn start_receiver(receipts: Receipts) -> String {
    let app = axum::Router::new().fallback(move |headers: HeaderMap, _body: axum::body::Bytes| {
        let receipts = receipts.clone();
        async move {
            if let Some(id) = headers
                .get("elements-webhook-id")
                .and_then(|v| v.to_str().ok())
            {
                receipts
                    .lock()
                    .unwrap()
                    .insert(id.to_owned(), Instant::now());
            }
            ""
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/events")
}

/// A notification of about 1.3 KB, shaped like a Sage contact event.
fn notification(key: &PollKey, n: u64) -> Notification {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    let id = StableId(bytes);
    let body = format!(
        r#"{{"severity":"medium","createdDate":"Sun Mar 01 09:00:00 UTC 2026","topic":"instance-{inst}-sageone-events","action":"update","id":"{id}","message":{{"elementKey":"sageone","eventId":"{id}","instanceId":"{inst}","instance_id":"{inst}","instanceName":"API_Polling","instanceTags":["Test"],"raw":{{"customers":[{{"id":"c-{n}","displayed_as":"Customer {n} (C{n})","name":"Customer {n}","contact_type":{{"id":"CUSTOMER"}},"reference":"C{n}","tax_number":"GB123456789","notes":"","locale":"en","main_address":{{"address_line_1":"1 Main Street","city":"London","postal_code":"N1 1AA","country":{{"id":"GB"}}}},"email":"billing{n}@example.com","telephone":"+44 20 7946 0000","balance":"1234.56","credit_limit":"5000.0","currency":{{"id":"GBP"}},"created_at":"2026-02-01T08:00:00Z","updated_at":"2026-03-01T08:59:30Z","objectId":"c-{n}","eventType":"UPDATED"}}],"objectType":"customers","pollDate":1772355540000}},"events":[{{"date":"2026-03-01T09:00:00Z","elementKey":"sageone","eventId":"{id}","eventType":"UPDATED","hubKey":"finance","objectId":"c-{n}","objectType":"customers","pollDate":"2026-03-01T08:59:00Z"}}]}},"user":"notifications@cloud-elements.com"}}"#,
        inst = key.instance,
    );
    Notification {
        id,
        key: key.clone(),
        created_at: Utc::now(),
        event_ids: vec![],
        body,
        subscription: None,
    }
}

/// Commits `notifications` (of `key`'s instance) as the poller does, in one poll commit;
/// returns the insert instant.
///
/// Each call polls a poll state of its own, due a day ago, and leaves it due in a day: the
/// claim finds exactly that state, so the producer costs three small writes per commit (on
/// SQLite they queue for the one writer connection with the sender's), as a real poller does.
async fn insert(store: &dyn Store, key: &PollKey, notifications: Vec<Notification>) -> Instant {
    static POLLS: AtomicU64 = AtomicU64::new(0);
    let now = Utc::now();
    let poll = PollKey::new(
        key.instance.clone(),
        format!("{}-{}", key.resource, POLLS.fetch_add(1, Ordering::Relaxed)),
    );
    let long_ago = now - TimeDelta::days(1);
    store.register(&poll, long_ago, long_ago).await.unwrap();
    let claimed = store
        .claim_due("bench-poller", now, TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].key, poll, "the bench claimed another poll state");
    let token = claimed[0].lease.as_ref().unwrap().token;
    store
        .commit_poll(PollCommit {
            window: Vec::new(),
            checkpoints: Vec::new(),
            ended_chains: Vec::new(),
            known: Vec::new(),
            reconciled: None,
            key: poll,
            lease_token: token,
            watermark: now,
            next_due: now + TimeDelta::days(1),
            seen: vec![],
            notifications,
            prune_before: None,
        })
        .await
        .unwrap();
    Instant::now()
}

/// Where the outbox lives.
#[derive(Debug, Clone, Copy)]
enum Outbox {
    Memory,
    Sqlite,
}

struct Setup {
    store: Arc<dyn Store>,
    /// Keeps the SQLite database's directory alive for the run.
    _dir: Option<tempfile::TempDir>,
    sender: Sender,
    receipts: Receipts,
    keys: Vec<PollKey>,
}

async fn setup(outbox: Outbox) -> Setup {
    let receipts: Receipts = Arc::default();
    let url = start_receiver(receipts.clone()).await;
    let (store, dir): (Arc<dyn Store>, _) = match outbox {
        Outbox::Memory => (Arc::new(MemoryStore::new()), None),
        Outbox::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("bench.db").display());
            let store = SqlStore::open(&url, StoreOptions::new(SecretKey::generate()))
                .await
                .unwrap();
            (Arc::new(store), Some(dir))
        }
    };
    let endpoints = Arc::new(EndpointMap::new());
    let keys: Vec<PollKey> = (0..INSTANCES)
        .map(|i| PollKey::new(format!("{}", 1000 + i), "customers"))
        .collect();
    for key in &keys {
        let endpoint = Endpoint::new(&url)
            .unwrap()
            .with_signature_key(Secret::new("bench-signature-key"));
        endpoints.insert(key.instance.clone(), endpoint);
    }
    let mut config = SenderConfig::new("bench-sender");
    config.addresses = AddressPolicy::new().allow("127.0.0.0/8".parse().unwrap());
    config.poll_interval = Duration::from_millis(100);
    let sender = Sender::new(store.clone(), endpoints, Arc::new(SystemClock), config).unwrap();
    Setup {
        store,
        _dir: dir,
        sender,
        receipts,
        keys,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn wait_delivered(sender: &Sender, count: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while sender.stats().delivered < count {
        assert!(
            Instant::now() < deadline,
            "delivery stalled: {:?}",
            sender.stats()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Drains a backlog of `total` notifications; returns notifications per second.
async fn throughput(outbox: Outbox, total: u64) -> f64 {
    let s = setup(outbox).await;
    let per_key = total / INSTANCES as u64;
    let mut n = 0;
    for key in &s.keys {
        let batch = (0..per_key)
            .map(|_| {
                n += 1;
                notification(key, n)
            })
            .collect();
        insert(s.store.as_ref(), key, batch).await;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sender = s.sender.clone();
    let started = Instant::now();
    let running = tokio::spawn(async move {
        sender
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    wait_delivered(&s.sender, n, Duration::from_secs(120)).await;
    let elapsed = started.elapsed();
    let _ = stop.send(());
    running.await.unwrap();
    assert_eq!(s.receipts.lock().unwrap().len() as u64, n);
    n as f64 / elapsed.as_secs_f64()
}

/// Inserts `rate` notifications/s for `seconds`, in a batch every 10 ms; returns the sorted
/// insert-to-receipt latencies and the delivered rate.
async fn steady(outbox: Outbox, rate: u64, seconds: u64) -> (Vec<Duration>, f64) {
    let s = setup(outbox).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sender = s.sender.clone();
    let running = tokio::spawn(async move {
        sender
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    let per_tick = rate / 100;
    let mut inserted: HashMap<String, Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let started = Instant::now();
    let mut n = 0u64;
    for tick in 0..seconds * 100 {
        ticker.tick().await;
        let key = &s.keys[tick as usize % s.keys.len()];
        let batch: Vec<Notification> = (0..per_tick)
            .map(|_| {
                n += 1;
                notification(key, 1_000_000 + n)
            })
            .collect();
        let ids: Vec<String> = batch.iter().map(|b| b.id.to_string()).collect();
        let at = insert(s.store.as_ref(), key, batch).await;
        s.sender.wake();
        for id in ids {
            inserted.insert(id, at);
        }
    }
    wait_delivered(&s.sender, n, Duration::from_secs(60)).await;
    let elapsed = started.elapsed();
    let _ = stop.send(());
    running.await.unwrap();
    let receipts = s.receipts.lock().unwrap();
    let mut latencies: Vec<Duration> = inserted
        .iter()
        .map(|(id, at)| receipts[id].saturating_duration_since(*at))
        .collect();
    latencies.sort_unstable();
    (latencies, n as f64 / elapsed.as_secs_f64())
}

fn main() {
    // `cargo bench` passes `--bench`; no other arguments are understood.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // Warm up connections and code paths.
        throughput(Outbox::Memory, 2_000).await;
        for outbox in [Outbox::Sqlite, Outbox::Memory] {
            for round in 1..=3 {
                let rate = throughput(outbox, 30_000).await;
                println!(
                    "{outbox:?} outbox: drain 30000 notifications (round {round}): \
                     {rate:.0} notifications/s"
                );
            }
            let (latencies, rate) = steady(outbox, 5_000, 10).await;
            println!(
                "{outbox:?} outbox: steady 5000/s for 10 s: delivered {rate:.0}/s, latency \
                 insert->receipt p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} notifications)",
                percentile(&latencies, 0.50).as_secs_f64() * 1e3,
                percentile(&latencies, 0.99).as_secs_f64() * 1e3,
                latencies.last().unwrap().as_secs_f64() * 1e3,
                latencies.len()
            );
        }
    });
}
