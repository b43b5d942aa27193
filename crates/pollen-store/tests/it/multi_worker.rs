//! Three pollen workers (three pools, as three processes would have) share one PostgreSQL
//! database for a simulated day of polls; one is killed at noon with leases held.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use pollen_core::{ErrorKind, Notification, PollCommit, PollKey, StableId, Store};
use pollen_store::SqlStore;

use crate::harness::Db;
use crate::support::{attempt, t0};

const INSTANCES: u32 = 500;
const WORKERS: [&str; 3] = ["a", "b", "c"];
/// The worker killed at noon.
const DOOMED: usize = 2;

fn interval() -> TimeDelta {
    TimeDelta::hours(1)
}

fn step() -> TimeDelta {
    TimeDelta::minutes(5)
}

fn poll_lease() -> TimeDelta {
    TimeDelta::minutes(10)
}

fn send_lease() -> TimeDelta {
    TimeDelta::minutes(2)
}

fn poll_key(i: u32) -> PollKey {
    PollKey::new(i.to_string(), "invoices")
}

fn first_due(i: u32) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(i64::from(i % 60))
}

/// The notification a poll of instance `i` due at `due` emits, if any (about one in seven).
fn notification_of(key: &PollKey, due: DateTime<Utc>) -> Option<Notification> {
    let i: u32 = key.instance.parse().unwrap();
    let hour = u32::try_from((due - t0()).num_hours()).unwrap();
    if !(i + hour).is_multiple_of(7) {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&i.to_be_bytes());
    bytes[4..12].copy_from_slice(&due.timestamp().to_be_bytes());
    Some(Notification {
        id: StableId(bytes),
        key: key.clone(),
        created_at: due,
        event_ids: vec![StableId(bytes)],
        body: format!("{{\"instance\":{i},\"due\":\"{due}\"}}"),
        subscription: None,
    })
}

/// What the workers did, as an outside observer records it.
#[derive(Debug, Default)]
struct Ledger {
    /// Per poll key: the due times of its committed polls, in order.
    runs: BTreeMap<PollKey, Vec<DateTime<Utc>>>,
    /// Polls claimed and not yet finished: (worker, lease expiry).
    polling: HashMap<PollKey, (usize, DateTime<Utc>)>,
    /// Notifications claimed and not yet finished: (sender, lease expiry).
    sending: HashMap<StableId, (usize, DateTime<Utc>)>,
    /// Who delivered each notification.
    delivered: HashMap<StableId, Vec<usize>>,
    /// What the killed worker held when it died: (key, token) and (notification, token).
    abandoned_polls: Vec<(PollKey, u64)>,
    abandoned_sends: Vec<(StableId, u64)>,
    violations: Vec<String>,
}

impl Ledger {
    fn claim_poll(
        &mut self,
        key: &PollKey,
        worker: usize,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        if let Some((other, until)) = self.polling.get(key) {
            if *until > now {
                self.violations.push(format!(
                    "{key} claimed by {worker} at {now} while {other} held it until {until}"
                ));
            }
        }
        self.polling.insert(key.clone(), (worker, expires));
    }

    fn claim_send(
        &mut self,
        id: StableId,
        sender: usize,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        if let Some((other, until)) = self.sending.get(&id) {
            if *until > now {
                self.violations.push(format!(
                    "{id} claimed by sender {sender} at {now} while {other} held it until {until}"
                ));
            }
        }
        self.sending.insert(id, (sender, expires));
    }
}

/// One worker's poller for one clock step: claim due polls, run them, commit — unless it is
/// being killed, in which case it claims one batch and stops with the leases held.
async fn poll_step(
    store: &SqlStore,
    worker: usize,
    now: DateTime<Utc>,
    dying: bool,
    ledger: &Mutex<Ledger>,
) {
    loop {
        let claimed = store
            .claim_due(WORKERS[worker], now, poll_lease(), 25)
            .await
            .unwrap();
        if claimed.is_empty() {
            return;
        }
        for state in &claimed {
            let lease = state.lease.as_ref().unwrap();
            ledger
                .lock()
                .unwrap()
                .claim_poll(&state.key, worker, lease.expires_at, now);
        }
        if dying {
            let mut ledger = ledger.lock().unwrap();
            for state in claimed {
                ledger
                    .abandoned_polls
                    .push((state.key, state.lease.unwrap().token));
            }
            return;
        }
        for state in claimed {
            let due = state.next_due;
            let commit = PollCommit {
                window: Vec::new(),
                checkpoints: Vec::new(),
                ended_chains: Vec::new(),
                known: Vec::new(),
                reconciled: None,
                key: state.key.clone(),
                lease_token: state.lease.as_ref().unwrap().token,
                watermark: now,
                next_due: due + interval(),
                seen: Vec::new(),
                notifications: notification_of(&state.key, due).into_iter().collect(),
                prune_before: None,
            };
            let result = store.commit_poll(commit).await;
            let mut ledger = ledger.lock().unwrap();
            match result {
                Ok(()) => {
                    ledger.runs.entry(state.key.clone()).or_default().push(due);
                    ledger.polling.remove(&state.key);
                }
                Err(e) => ledger.violations.push(format!(
                    "worker {worker} could not commit {}: {e}",
                    state.key
                )),
            }
        }
    }
}

/// One worker's sender for one clock step.
async fn send_step(
    store: &SqlStore,
    sender: usize,
    now: DateTime<Utc>,
    dying: bool,
    ledger: &Mutex<Ledger>,
) {
    loop {
        let claimed = store
            .claim_outbox(WORKERS[sender], now, send_lease(), 20)
            .await
            .unwrap();
        if claimed.is_empty() {
            return;
        }
        for entry in &claimed {
            let lease = entry.lease.as_ref().unwrap();
            ledger
                .lock()
                .unwrap()
                .claim_send(entry.notification.id, sender, lease.expires_at, now);
        }
        if dying {
            let mut ledger = ledger.lock().unwrap();
            for entry in claimed {
                ledger
                    .abandoned_sends
                    .push((entry.notification.id, entry.lease.unwrap().token));
            }
            return;
        }
        for entry in claimed {
            let id = entry.notification.id;
            let token = entry.lease.as_ref().unwrap().token;
            let result = store
                .mark_delivered(&id, token, &attempt(now, 200, None))
                .await;
            let mut ledger = ledger.lock().unwrap();
            match result {
                Ok(()) => {
                    ledger.delivered.entry(id).or_default().push(sender);
                    ledger.sending.remove(&id);
                }
                Err(e) => ledger
                    .violations
                    .push(format!("sender {sender} could not mark {id}: {e}")),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_a_day_of_polls() {
    let Some(db) = Db::postgres() else {
        crate::harness::skipped("three_workers_share_a_day_of_polls");
        return;
    };
    let stores: Vec<Arc<SqlStore>> = join_all((0..3).map(|_| db.open()))
        .await
        .into_iter()
        .map(Arc::new)
        .collect();
    join_all((0..INSTANCES).map(|i| {
        let store = Arc::clone(&stores[i as usize % 3]);
        async move {
            store
                .register(&poll_key(i), t0(), first_due(i))
                .await
                .unwrap();
        }
    }))
    .await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let steps = (TimeDelta::days(1).num_minutes() / step().num_minutes()) as i32;
    let kill_step = steps / 2;
    let mut last = t0();
    for n in 0..steps {
        let now = t0() + step() * n;
        last = now;
        let dying = n == kill_step;
        // The doomed worker goes first on its last step, so that it dies holding leases.
        if dying {
            poll_step(&stores[DOOMED], DOOMED, now, true, &ledger).await;
        }
        let live: Vec<usize> = (0..3).filter(|&w| n < kill_step || w != DOOMED).collect();
        join_all(live.iter().map(|&w| {
            let store = Arc::clone(&stores[w]);
            let ledger = Arc::clone(&ledger);
            tokio::spawn(async move { poll_step(&store, w, now, false, &ledger).await })
        }))
        .await;
        if dying {
            send_step(&stores[DOOMED], DOOMED, now, true, &ledger).await;
        }
        join_all(live.iter().map(|&w| {
            let store = Arc::clone(&stores[w]);
            let ledger = Arc::clone(&ledger);
            tokio::spawn(async move { send_step(&store, w, now, false, &ledger).await })
        }))
        .await;
    }

    let ledger = std::mem::take(&mut *ledger.lock().unwrap());
    assert!(ledger.violations.is_empty(), "{:#?}", ledger.violations);
    assert!(
        !ledger.abandoned_polls.is_empty() && !ledger.abandoned_sends.is_empty(),
        "the killed worker held no leases: the test proves nothing"
    );

    // Every due poll ran exactly once per due time, none missed, none twice.
    let mut expected_notifications = 0;
    for i in 0..INSTANCES {
        let key = poll_key(i);
        let mut want = Vec::new();
        let mut due = first_due(i);
        while due <= last {
            want.push(due);
            expected_notifications += usize::from(notification_of(&key, due).is_some());
            due += interval();
        }
        let ran = ledger.runs.get(&key).cloned().unwrap_or_default();
        assert_eq!(ran, want, "the polls of {key}");
    }

    // Every notification was delivered, by exactly one sender.
    assert_eq!(ledger.delivered.len(), expected_notifications);
    for (id, senders) in &ledger.delivered {
        assert_eq!(senders.len(), 1, "{id} delivered by {senders:?}");
    }
    let outbox = stores[0]
        .list_outbox(&pollen_core::OutboxFilter::default())
        .await
        .unwrap();
    assert_eq!(outbox.len(), expected_notifications);
    assert!(outbox
        .iter()
        .all(|e| e.status == pollen_core::OutboxStatus::Delivered && e.attempts == 1));
    for (id, _) in &ledger.abandoned_sends {
        assert_ne!(
            ledger.delivered[id],
            [DOOMED],
            "a notification the dead worker held was delivered by it"
        );
    }

    // The killed worker comes back as a zombie: every late write is fenced off.
    let zombie = &stores[DOOMED];
    for (key, token) in &ledger.abandoned_polls {
        let late = PollCommit {
            window: Vec::new(),
            checkpoints: Vec::new(),
            ended_chains: Vec::new(),
            known: Vec::new(),
            reconciled: None,
            key: key.clone(),
            lease_token: *token,
            watermark: last,
            next_due: last,
            seen: Vec::new(),
            notifications: Vec::new(),
            prune_before: None,
        };
        assert_eq!(
            zombie.commit_poll(late).await.unwrap_err().kind(),
            ErrorKind::LeaseLost
        );
    }
    for (id, token) in &ledger.abandoned_sends {
        let err = zombie
            .mark_delivered(id, *token, &attempt(last, 200, None))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LeaseLost);
    }
    eprintln!(
        "multi-worker day: {} polls, {} notifications; the killed worker abandoned {} polls and {} notifications",
        ledger.runs.values().map(Vec::len).sum::<usize>(),
        expected_notifications,
        ledger.abandoned_polls.len(),
        ledger.abandoned_sends.len()
    );
}
