//! Shared set-up: a store with notifications in its outbox, a sender, a receiver.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use pollen_callback::{AddressPolicy, EndpointMap, Sender, SenderConfig};
use pollen_core::{
    Clock, ManualClock, MemoryStore, Notification, OutboxEntry, OutboxFilter, PollCommit, PollKey,
    StableId, Store,
};

use crate::receiver::Receiver;

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Appends `count` notifications of `instance` to the outbox, as the poller core does at
/// commit (created, and due, at `now`).
pub(crate) async fn enqueue(
    store: &dyn Store,
    instance: &str,
    count: usize,
    now: DateTime<Utc>,
) -> Vec<StableId> {
    let key = PollKey::new(instance, "customers");
    store.register(&key, now, now).await.unwrap();
    let claimed = store
        .claim_due("test-poller", now, TimeDelta::minutes(1), usize::MAX)
        .await
        .unwrap();
    let mut token = None;
    for state in claimed {
        let lease = state.lease.as_ref().unwrap().token;
        if state.key == key {
            token = Some(lease);
        } else {
            store.release(&state.key, lease).await.unwrap();
        }
    }
    let notifications: Vec<Notification> = (0..count)
        .map(|_| {
            let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&n.to_be_bytes());
            let id = StableId(bytes);
            Notification {
                id,
                key: key.clone(),
                created_at: now,
                event_ids: vec![],
                // Non-ASCII on purpose: the body must arrive byte for byte.
                body: format!(r#"{{"id":"{id}","message":{{"instanceName":"Café n°{n}"}}}}"#),
                subscription: None,
            }
        })
        .collect();
    let ids = notifications.iter().map(|n| n.id).collect();
    store
        .commit_poll(PollCommit {
            window: Vec::new(),
            checkpoints: Vec::new(),
            ended_chains: Vec::new(),
            known: Vec::new(),
            reconciled: None,
            key,
            lease_token: token.expect("the test key was claimable"),
            watermark: now,
            next_due: now,
            seen: vec![],
            notifications,
            prune_before: None,
        })
        .await
        .unwrap();
    ids
}

/// The outbox row of `id`.
pub(crate) async fn entry(store: &dyn Store, id: StableId) -> OutboxEntry {
    store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.notification.id == id)
        .expect("the notification is in the outbox")
}

/// Loopback allowed: the receiver runs there.
pub(crate) fn local_policy() -> AddressPolicy {
    AddressPolicy::new().allow("127.0.0.0/8".parse().unwrap())
}

pub(crate) struct Harness {
    pub(crate) store: Arc<MemoryStore>,
    pub(crate) clock: ManualClock,
    pub(crate) endpoints: Arc<EndpointMap>,
    pub(crate) receiver: Receiver,
    pub(crate) sender: Sender,
}

impl Harness {
    /// A sender on a manual clock at [`t0`], allowed to reach the local receiver.
    pub(crate) async fn new(configure: impl FnOnce(&mut SenderConfig)) -> Harness {
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::new(t0());
        let endpoints = Arc::new(EndpointMap::new());
        let receiver = Receiver::start().await;
        let mut config = SenderConfig::new("test-sender");
        config.addresses = local_policy();
        configure(&mut config);
        let sender = Sender::new(
            store.clone(),
            endpoints.clone(),
            Arc::new(clock.clone()),
            config,
        )
        .unwrap();
        Harness {
            store,
            clock,
            endpoints,
            receiver,
            sender,
        }
    }

    pub(crate) async fn enqueue(&self, instance: &str, count: usize) -> Vec<StableId> {
        enqueue(&*self.store, instance, count, self.clock.now()).await
    }

    pub(crate) async fn entry(&self, id: StableId) -> OutboxEntry {
        entry(&*self.store, id).await
    }
}
