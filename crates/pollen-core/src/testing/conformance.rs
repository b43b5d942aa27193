//! The [`Store`] contract, executable: `pollen-store` runs [`run_all`] against SQLite and
//! PostgreSQL, this crate against [`MemoryStore`](crate::MemoryStore).
//!
//! Each check takes a fresh, empty store from the caller's factory and panics with a message
//! naming the broken rule.

use std::future::Future;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::change::StableId;
use crate::error::ErrorKind;
use crate::notification::Notification;
use crate::spec::PollKey;
use crate::store::{
    AttemptOutcome, AttemptRecord, CheckpointHead, DeliveryAttempt, OutboxFilter, OutboxStatus,
    PollCommit, PollFailure, PollProgress, Reconciled, ReleasedWork, SeenChange, Store,
    WindowEvent, Worker,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn key(resource: &str) -> PollKey {
    PollKey::new("conformance", resource)
}

fn id(n: u8) -> StableId {
    StableId([n; 16])
}

fn notification(key: &PollKey, n: u8, at: DateTime<Utc>) -> Notification {
    Notification {
        id: id(n),
        key: key.clone(),
        created_at: at,
        event_ids: vec![id(n.wrapping_add(100))],
        body: format!("{{\"n\":{n}}}"),
        subscription: None,
    }
}

fn commit(key: &PollKey, token: u64, watermark: DateTime<Utc>) -> PollCommit {
    PollCommit {
        known: Vec::new(),
        reconciled: None,
        key: key.clone(),
        lease_token: token,
        watermark,
        next_due: watermark + TimeDelta::minutes(15),
        seen: Vec::new(),
        notifications: Vec::new(),
        prune_before: None,
        window: Vec::new(),
        checkpoints: Vec::new(),
        ended_chains: Vec::new(),
    }
}

/// Registers `k`, claims its poll and commits notifications `numbers` (created at `t0`).
async fn fill_outbox(store: &dyn Store, k: &PollKey, numbers: impl IntoIterator<Item = u8>) {
    store.register(k, t0(), t0()).await.unwrap();
    let claimed = store
        .claim_due("p", t0(), TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    let token = claimed[0].lease.as_ref().unwrap().token;
    let mut c = commit(k, token, t0());
    c.notifications = numbers
        .into_iter()
        .map(|n| notification(k, n, t0()))
        .collect();
    store.commit_poll(c).await.unwrap();
}

/// Runs every check, each on a store from `fresh`.
pub async fn run_all<S, F, Fut>(fresh: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    register_keeps_existing_state(&fresh().await).await;
    claim_due_order_limit_and_due_time(&fresh().await).await;
    leases_exclude_and_fence(&fresh().await).await;
    commit_writes_everything(&fresh().await).await;
    commit_with_lost_lease_writes_nothing(&fresh().await).await;
    progress_writes_outbox_and_seen_but_keeps_the_lease(&fresh().await).await;
    failure_keeps_watermark(&fresh().await).await;
    seen_and_prune(&fresh().await).await;
    outbox_lifecycle(&fresh().await).await;
    deactivated_subscription_queues(&fresh().await).await;
    subscription_lanes_are_separate(&fresh().await).await;
    claim_outbox_skipping_instances(&fresh().await).await;
    claim_outbox_per_instance(&fresh().await).await;
    record_attempts_in_one_batch(&fresh().await).await;
    paused_instances_keep_their_state(&fresh().await).await;
    renewals_keep_a_lease_until_another_worker_takes_it(&fresh().await).await;
    dead_workers_release_their_leases_and_claims(&fresh().await).await;
    releasing_a_worker_or_all_frees_everything(&fresh().await).await;
    known_ids_follow_commits_and_reconciliations(&fresh().await).await;
    checkpoint_windows_and_heads(&fresh().await).await;
}

/// Window events accumulate across progress and commits, per subscription, without
/// duplicates; a new head closes its subscription's window; an ended chain loses head and
/// window; a stale token writes none of it; unregistering forgets all of it.
pub async fn checkpoint_windows_and_heads(store: &dyn Store) {
    let k = key("checkpoints");
    let other = key("checkpoints-other");
    let event = |subscription: Option<&str>, n: u8| WindowEvent {
        subscription: subscription.map(str::to_owned),
        event: id(n),
    };
    let head = |subscription: Option<&str>, sequence: u64, n: u8| CheckpointHead {
        subscription: subscription.map(str::to_owned),
        chain: id(200),
        sequence,
        id: id(n),
        to: format!("2026-01-01T00:0{sequence}:00.000Z"),
    };
    store.register(&k, t0(), t0()).await.unwrap();
    store
        .register(&other, t0(), t0() + TimeDelta::days(365))
        .await
        .unwrap();
    assert!(store.checkpoint_heads(&k).await.unwrap().is_empty());
    assert!(store.window_events(&k).await.unwrap().is_empty());
    let token = |at: DateTime<Utc>| async move {
        let claimed = store
            .claim_due("a", at, TimeDelta::minutes(5), 1)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "the key is due at {at}");
        claimed[0].lease.as_ref().unwrap().token
    };
    let first = token(t0()).await;
    let progress = PollProgress {
        key: k.clone(),
        lease_token: first,
        seen: Vec::new(),
        notifications: Vec::new(),
        known: Vec::new(),
        window: vec![event(None, 2), event(Some("s"), 2), event(None, 1)],
    };
    store.commit_progress(progress.clone()).await.unwrap();
    // The same chunk again (a re-walk) adds nothing.
    store.commit_progress(progress).await.unwrap();
    assert_eq!(
        store.window_events(&k).await.unwrap(),
        vec![event(None, 1), event(None, 2), event(Some("s"), 2)],
        "sorted by subscription (the callback first) and id, each once"
    );
    // The commit closes the callback's window; the subscription's stays open and grows.
    let mut c = commit(&k, first, t0() + TimeDelta::minutes(1));
    c.window = vec![event(Some("s"), 3)];
    c.checkpoints = vec![head(None, 1, 50)];
    store.commit_poll(c).await.unwrap();
    assert_eq!(
        store.window_events(&k).await.unwrap(),
        vec![event(Some("s"), 2), event(Some("s"), 3)]
    );
    assert_eq!(
        store.checkpoint_heads(&k).await.unwrap(),
        vec![head(None, 1, 50)]
    );

    // Next poll: both windows close; the callback's head is replaced.
    let second = token(t0() + TimeDelta::hours(1)).await;
    let mut c = commit(&k, second, t0() + TimeDelta::minutes(16));
    c.checkpoints = vec![head(None, 2, 51), head(Some("s"), 1, 60)];
    store.commit_poll(c).await.unwrap();
    assert!(store.window_events(&k).await.unwrap().is_empty());
    assert_eq!(
        store.checkpoint_heads(&k).await.unwrap(),
        vec![head(None, 2, 51), head(Some("s"), 1, 60)]
    );

    // A stale token writes no event, head or ending.
    let mut stale = commit(&k, second, t0() + TimeDelta::minutes(17));
    stale.window = vec![event(Some("s"), 9)];
    stale.checkpoints = vec![head(None, 3, 52)];
    stale.ended_chains = vec![Some("s".to_owned())];
    assert_eq!(
        store.commit_poll(stale).await.unwrap_err().kind(),
        ErrorKind::LeaseLost
    );
    assert!(store.window_events(&k).await.unwrap().is_empty());
    assert_eq!(store.checkpoint_heads(&k).await.unwrap().len(), 2);

    // The subscription's chain ends: its head and open window go, the callback's stay.
    let third = token(t0() + TimeDelta::hours(2)).await;
    store
        .commit_progress(PollProgress {
            key: k.clone(),
            lease_token: third,
            seen: Vec::new(),
            notifications: Vec::new(),
            known: Vec::new(),
            window: vec![event(Some("s"), 4), event(None, 4)],
        })
        .await
        .unwrap();
    let mut c = commit(&k, third, t0() + TimeDelta::minutes(31));
    c.ended_chains = vec![Some("s".to_owned())];
    store.commit_poll(c).await.unwrap();
    assert_eq!(store.window_events(&k).await.unwrap(), vec![event(None, 4)]);
    assert_eq!(
        store.checkpoint_heads(&k).await.unwrap(),
        vec![head(None, 2, 51)]
    );
    assert!(
        store.checkpoint_heads(&other).await.unwrap().is_empty()
            && store.window_events(&other).await.unwrap().is_empty(),
        "another key's chains are apart"
    );

    assert!(store.unregister(&k).await.unwrap());
    store.register(&k, t0(), t0()).await.unwrap();
    assert!(
        store.checkpoint_heads(&k).await.unwrap().is_empty()
            && store.window_events(&k).await.unwrap().is_empty(),
        "unregistering forgets the key's chains"
    );
}

/// `register` creates once and never resets a watermark.
pub async fn register_keeps_existing_state(store: &dyn Store) {
    let k = key("register");
    let first = store.register(&k, t0(), t0()).await.unwrap();
    assert_eq!(first.watermark, t0());
    assert_eq!(first.completed_polls, 0);
    let claimed = store
        .claim_due("a", t0(), TimeDelta::minutes(1), 10)
        .await
        .unwrap();
    let token = claimed[0].lease.as_ref().unwrap().token;
    let later = t0() + TimeDelta::hours(1);
    store.commit_poll(commit(&k, token, later)).await.unwrap();
    let again = store
        .register(&k, t0() - TimeDelta::days(9), t0())
        .await
        .unwrap();
    assert_eq!(again.watermark, later, "re-registering reset the watermark");
    assert_eq!(again.completed_polls, 1);
    assert_eq!(store.load(&k).await.unwrap().unwrap().watermark, later);
    assert!(store.load(&key("absent")).await.unwrap().is_none());
    assert!(store.unregister(&k).await.unwrap());
    assert!(store.load(&k).await.unwrap().is_none());
    assert!(!store.unregister(&k).await.unwrap());
}

/// `claim_due` takes only due work, earliest first, at most `limit`; `next_due` points at it.
pub async fn claim_due_order_limit_and_due_time(store: &dyn Store) {
    assert_eq!(store.next_due().await.unwrap(), None);
    for (i, minutes) in [30, 10, 20, 40].into_iter().enumerate() {
        store
            .register(
                &key(&format!("r{i}")),
                t0(),
                t0() + TimeDelta::minutes(minutes),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(t0() + TimeDelta::minutes(10))
    );
    let none = store
        .claim_due("a", t0() + TimeDelta::minutes(5), TimeDelta::minutes(1), 10)
        .await
        .unwrap();
    assert!(none.is_empty(), "claimed work that was not due");
    let now = t0() + TimeDelta::minutes(35);
    let claimed = store
        .claim_due("a", now, TimeDelta::minutes(1), 2)
        .await
        .unwrap();
    let names: Vec<&str> = claimed.iter().map(|s| s.key.resource.as_str()).collect();
    assert_eq!(
        names,
        ["r1", "r2"],
        "not earliest-due first, or limit ignored"
    );
    let lease = claimed[0].lease.as_ref().unwrap();
    assert_eq!(lease.owner, "a");
    assert_eq!(lease.expires_at, now + TimeDelta::minutes(1));
    assert_eq!(claimed[0].fencing_token, lease.token);
    let rest = store
        .claim_due("a", now, TimeDelta::minutes(1), 10)
        .await
        .unwrap();
    let names: Vec<&str> = rest.iter().map(|s| s.key.resource.as_str()).collect();
    assert_eq!(
        names,
        ["r0"],
        "leased work claimed twice, or due work missed"
    );
    // r3 is due at +40; the leased ones are claimable again at +36 (lease expiry).
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(now + TimeDelta::minutes(1))
    );
}

/// A live lease excludes other claimers; an expired one does not; old tokens are fenced off.
pub async fn leases_exclude_and_fence(store: &dyn Store) {
    let k = key("lease");
    store.register(&k, t0(), t0()).await.unwrap();
    let a = store
        .claim_due("a", t0(), TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(a.len(), 1);
    let token_a = a[0].lease.as_ref().unwrap().token;
    let b = store
        .claim_due("b", t0() + TimeDelta::minutes(4), TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    assert!(b.is_empty(), "a live lease was claimed by another worker");
    let b = store
        .claim_due("b", t0() + TimeDelta::minutes(6), TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(b.len(), 1, "an expired lease was not claimable");
    let token_b = b[0].lease.as_ref().unwrap().token;
    assert!(token_b > token_a, "fencing tokens must increase");
    let err = store
        .commit_poll(commit(&k, token_a, t0() + TimeDelta::hours(1)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseLost);
    let err = store
        .record_failure(PollFailure {
            key: k.clone(),
            lease_token: token_a,
            next_due: t0(),
            error: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseLost);
    assert_eq!(
        store.release(&k, token_a).await.unwrap_err().kind(),
        ErrorKind::LeaseLost
    );
    let state = store.load(&k).await.unwrap().unwrap();
    assert_eq!(
        state.watermark,
        t0(),
        "a fenced-off commit changed the watermark"
    );
    assert_eq!(state.lease.as_ref().unwrap().owner, "b");
    store.release(&k, token_b).await.unwrap();
    let again = store
        .claim_due("c", t0() + TimeDelta::minutes(7), TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "released work was not claimable");
}

/// A commit writes watermark, due time, seen keys and notifications, and releases the lease.
pub async fn commit_writes_everything(store: &dyn Store) {
    let k = key("commit");
    store.register(&k, t0(), t0()).await.unwrap();
    let claimed = store
        .claim_due("a", t0(), TimeDelta::minutes(5), 1)
        .await
        .unwrap();
    let token = claimed[0].lease.as_ref().unwrap().token;
    let mut c = commit(&k, token, t0() + TimeDelta::minutes(1));
    c.seen = vec![
        SeenChange {
            id: id(1),
            at: t0(),
        },
        SeenChange {
            id: id(2),
            at: t0() + TimeDelta::seconds(30),
        },
    ];
    c.notifications = vec![notification(&k, 1, t0()), notification(&k, 2, t0())];
    store.commit_poll(c.clone()).await.unwrap();
    let state = store.load(&k).await.unwrap().unwrap();
    assert_eq!(state.watermark, t0() + TimeDelta::minutes(1));
    assert_eq!(state.next_due, c.next_due);
    assert_eq!(state.completed_polls, 1);
    assert!(state.lease.is_none(), "commit did not release the lease");
    assert_eq!(
        store.seen(&k, &[id(2), id(3), id(1)]).await.unwrap(),
        [true, false, true]
    );
    assert_eq!(store.seen(&key("other"), &[id(1)]).await.unwrap(), [false]);
    let outbox = store.list_outbox(&OutboxFilter::default()).await.unwrap();
    assert_eq!(outbox.len(), 2);
    assert!(outbox[0].seq < outbox[1].seq);
    assert_eq!(outbox[0].notification, c.notifications[0]);
    assert_eq!(outbox[0].status, OutboxStatus::Pending);
    assert_eq!(outbox[0].attempts, 0);

    // The same notification id again is skipped, not duplicated.
    let claimed = store
        .claim_due("a", c.next_due, TimeDelta::minutes(5), 1)
        .await
        .unwrap();
    let token = claimed[0].lease.as_ref().unwrap().token;
    let mut again = commit(&k, token, t0() + TimeDelta::minutes(20));
    again.notifications = vec![notification(&k, 2, t0()), notification(&k, 3, t0())];
    again.prune_before = Some(t0() + TimeDelta::seconds(10));
    store.commit_poll(again).await.unwrap();
    let outbox = store.list_outbox(&OutboxFilter::default()).await.unwrap();
    let ids: Vec<StableId> = outbox.iter().map(|e| e.notification.id).collect();
    assert_eq!(ids, [id(1), id(2), id(3)]);
    assert_eq!(
        store.seen(&k, &[id(1), id(2)]).await.unwrap(),
        [false, true],
        "prune_before in a commit did not prune"
    );
}

/// A commit under a lost lease changes nothing at all.
pub async fn commit_with_lost_lease_writes_nothing(store: &dyn Store) {
    let k = key("atomic");
    store.register(&k, t0(), t0()).await.unwrap();
    let old = store
        .claim_due("a", t0(), TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    let old_token = old[0].lease.as_ref().unwrap().token;
    store
        .claim_due("b", t0() + TimeDelta::minutes(2), TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    let mut c = commit(&k, old_token, t0() + TimeDelta::hours(1));
    c.seen = vec![SeenChange {
        id: id(9),
        at: t0(),
    }];
    c.notifications = vec![notification(&k, 9, t0())];
    assert_eq!(
        store.commit_poll(c).await.unwrap_err().kind(),
        ErrorKind::LeaseLost
    );
    assert_eq!(store.seen(&k, &[id(9)]).await.unwrap(), [false]);
    assert!(store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.load(&k).await.unwrap().unwrap().completed_polls, 0);
}

/// `commit_progress` appends notifications and seen keys under the lease and leaves the poll
/// state alone; the final commit still works with the same token; a stale token writes nothing.
pub async fn progress_writes_outbox_and_seen_but_keeps_the_lease(store: &dyn Store) {
    let k = key("progress");
    store.register(&k, t0(), t0()).await.unwrap();
    let claimed = store
        .claim_due("a", t0(), TimeDelta::minutes(5), 1)
        .await
        .unwrap();
    let token = claimed[0].lease.as_ref().unwrap().token;
    let progress = |token: u64, n: u8| PollProgress {
        known: Vec::new(),
        window: Vec::new(),
        key: k.clone(),
        lease_token: token,
        seen: vec![SeenChange {
            id: id(n),
            at: t0(),
        }],
        notifications: vec![notification(&k, n, t0())],
    };
    store.commit_progress(progress(token, 1)).await.unwrap();
    // The same notification again (a re-walk after a crash) is skipped, not duplicated.
    store.commit_progress(progress(token, 1)).await.unwrap();
    store.commit_progress(progress(token, 2)).await.unwrap();
    let state = store.load(&k).await.unwrap().unwrap();
    assert_eq!(state.watermark, t0(), "progress moved the watermark");
    assert_eq!(state.next_due, t0(), "progress moved the due time");
    assert_eq!(state.completed_polls, 0);
    assert_eq!(
        state.lease.as_ref().map(|l| l.token),
        Some(token),
        "progress released or changed the lease"
    );
    assert_eq!(
        store.seen(&k, &[id(1), id(2), id(3)]).await.unwrap(),
        [true, true, false]
    );
    let outbox = store.list_outbox(&OutboxFilter::default()).await.unwrap();
    let ids: Vec<StableId> = outbox.iter().map(|e| e.notification.id).collect();
    assert_eq!(ids, [id(1), id(2)]);
    assert!(outbox.iter().all(|e| e.status == OutboxStatus::Pending));

    // The poll ends with the same lease.
    let mut last = commit(&k, token, t0() + TimeDelta::minutes(1));
    last.notifications = vec![notification(&k, 3, t0())];
    store.commit_poll(last).await.unwrap();
    assert_eq!(
        store
            .list_outbox(&OutboxFilter::default())
            .await
            .unwrap()
            .len(),
        3
    );

    // A worker whose lease was taken over writes nothing.
    let claimed = store
        .claim_due("b", t0() + TimeDelta::hours(1), TimeDelta::minutes(5), 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        store
            .commit_progress(progress(token, 4))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::LeaseLost
    );
    assert_eq!(store.seen(&k, &[id(4)]).await.unwrap(), [false]);
    assert_eq!(
        store
            .list_outbox(&OutboxFilter::default())
            .await
            .unwrap()
            .len(),
        3
    );
}

/// A failure counts up, reschedules, releases, and keeps the watermark; a commit resets it.
pub async fn failure_keeps_watermark(store: &dyn Store) {
    let k = key("failure");
    store.register(&k, t0(), t0()).await.unwrap();
    for n in 1..=2u32 {
        let now = t0() + TimeDelta::hours(i64::from(n));
        let claimed = store
            .claim_due("a", now, TimeDelta::minutes(1), 1)
            .await
            .unwrap();
        let token = claimed[0].lease.as_ref().unwrap().token;
        store
            .record_failure(PollFailure {
                key: k.clone(),
                lease_token: token,
                next_due: now + TimeDelta::minutes(30),
                error: format!("failure {n}"),
            })
            .await
            .unwrap();
        let state = store.load(&k).await.unwrap().unwrap();
        assert_eq!(state.consecutive_failures, n);
        assert_eq!(
            state.last_error.as_deref(),
            Some(format!("failure {n}").as_str())
        );
        assert_eq!(state.watermark, t0(), "a failure moved the watermark");
        assert_eq!(state.next_due, now + TimeDelta::minutes(30));
        assert!(state.lease.is_none());
    }
    let claimed = store
        .claim_due("a", t0() + TimeDelta::hours(3), TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    let token = claimed[0].lease.as_ref().unwrap().token;
    store
        .commit_poll(commit(&k, token, t0() + TimeDelta::hours(3)))
        .await
        .unwrap();
    let state = store.load(&k).await.unwrap().unwrap();
    assert_eq!(state.consecutive_failures, 0);
    assert_eq!(state.last_error, None);
}

/// `prune_seen` forgets exactly the keys older than the horizon, per key.
pub async fn seen_and_prune(store: &dyn Store) {
    let k = key("prune");
    store.register(&k, t0(), t0()).await.unwrap();
    let claimed = store
        .claim_due("a", t0(), TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    let token = claimed[0].lease.as_ref().unwrap().token;
    let mut c = commit(&k, token, t0());
    c.seen = (0..10)
        .map(|n| SeenChange {
            id: id(n),
            at: t0() + TimeDelta::minutes(i64::from(n)),
        })
        .collect();
    store.commit_poll(c).await.unwrap();
    assert_eq!(store.seen_count(&k).await.unwrap(), 10);
    let pruned = store
        .prune_seen(&k, t0() + TimeDelta::minutes(4))
        .await
        .unwrap();
    assert_eq!(pruned, 4);
    assert_eq!(store.seen_count(&k).await.unwrap(), 6);
    assert_eq!(
        store.seen(&k, &[id(3), id(4)]).await.unwrap(),
        [false, true]
    );
    assert_eq!(store.seen_count(&key("none")).await.unwrap(), 0);
}

/// Claim, fail, deliver, queue, list and re-queue notifications.
pub async fn outbox_lifecycle(store: &dyn Store) {
    let k = key("outbox");
    fill_outbox(store, &k, 1..=3).await;

    let first = store
        .claim_outbox("s1", t0(), TimeDelta::seconds(30), 2)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].notification.id, id(1));
    let other = store
        .claim_outbox("s2", t0(), TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(other.len(), 1, "a leased notification was claimed twice");
    assert_eq!(other[0].notification.id, id(3));

    let t1 = first[0].lease.as_ref().unwrap().token;
    let t2 = first[1].lease.as_ref().unwrap().token;
    let t3 = other[0].lease.as_ref().unwrap().token;
    let delivered = attempt(t0(), Some(200), None);
    store.mark_delivered(&id(1), t1, &delivered).await.unwrap();
    assert_eq!(
        store
            .mark_delivered(&id(1), t1, &delivered)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::LeaseLost,
        "a delivered notification accepted a second mark"
    );
    let retry_at = t0() + TimeDelta::seconds(4);
    let failed = attempt(t0(), Some(503), Some("503 from receiver"));
    store
        .mark_failed(&id(2), t2, retry_at, &failed)
        .await
        .unwrap();
    let gone = attempt(t0(), Some(410), Some("410 from receiver"));
    store.mark_queued(&id(3), t3, &gone).await.unwrap();
    assert_eq!(store.list_attempts(&id(1)).await.unwrap(), [delivered]);
    assert_eq!(store.list_attempts(&id(2)).await.unwrap(), [failed]);
    assert_eq!(store.list_attempts(&id(3)).await.unwrap(), [gone]);
    assert!(store.list_attempts(&id(99)).await.unwrap().is_empty());

    let early = store
        .claim_outbox(
            "s1",
            t0() + TimeDelta::seconds(3),
            TimeDelta::seconds(30),
            10,
        )
        .await
        .unwrap();
    assert!(
        early.is_empty(),
        "claimed a notification before its next attempt"
    );
    let due = store
        .claim_outbox("s1", retry_at, TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].notification.id, id(2));
    assert_eq!(due[0].attempts, 1);
    assert_eq!(due[0].last_error.as_deref(), Some("503 from receiver"));

    let all = store.list_outbox(&OutboxFilter::default()).await.unwrap();
    let statuses: Vec<OutboxStatus> = all.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            OutboxStatus::Delivered,
            OutboxStatus::Pending,
            OutboxStatus::Queued
        ]
    );
    assert_eq!(all[0].delivered_at, Some(t0()));
    let filter = OutboxFilter {
        status: Some(OutboxStatus::Queued),
        ..OutboxFilter::default()
    };
    let queued = store.list_outbox(&filter).await.unwrap();
    assert_eq!(queued.len(), 1);
    let filter = OutboxFilter {
        after_seq: Some(all[0].seq),
        limit: Some(1),
        ..OutboxFilter::default()
    };
    let page = store.list_outbox(&filter).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].notification.id, id(2));
    let filter = OutboxFilter {
        instance: Some("someone-else".into()),
        ..OutboxFilter::default()
    };
    assert!(store.list_outbox(&filter).await.unwrap().is_empty());

    let later = t0() + TimeDelta::hours(1);
    let changed = store.requeue(&[id(3), id(1), id(77)], later).await.unwrap();
    assert_eq!(changed, 2);
    let again = store
        .claim_outbox("s1", later, TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    let ids: Vec<StableId> = again.iter().map(|e| e.notification.id).collect();
    assert_eq!(
        ids,
        [id(2), id(1), id(3)],
        "requeued notifications not claimable in order"
    );
    assert!(again
        .iter()
        .all(|e| e.notification.body.starts_with("{\"n\":")));
}

/// A deactivated subscription queues its pending and its new notifications.
pub async fn deactivated_subscription_queues(store: &dyn Store) {
    let k = key("subscription");
    assert!(store.subscription_active("conformance").await.unwrap());
    fill_outbox(store, &k, [1]).await;
    store
        .set_subscription_active("conformance", false)
        .await
        .unwrap();
    assert!(!store.subscription_active("conformance").await.unwrap());
    let claimed = store
        .claim_due("p", t0() + TimeDelta::hours(1), TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    let token = claimed[0].lease.as_ref().unwrap().token;
    let mut c = commit(&k, token, t0() + TimeDelta::hours(1));
    c.notifications = vec![notification(&k, 2, t0())];
    store.commit_poll(c).await.unwrap();
    let all = store.list_outbox(&OutboxFilter::default()).await.unwrap();
    assert!(
        all.iter().all(|e| e.status == OutboxStatus::Queued),
        "notifications of a deactivated subscription were not queued: {all:?}"
    );
    assert!(store
        .claim_outbox("s", t0() + TimeDelta::days(1), TimeDelta::seconds(30), 10)
        .await
        .unwrap()
        .is_empty());
    store
        .set_subscription_active("conformance", true)
        .await
        .unwrap();
    assert_eq!(store.requeue(&[id(1), id(2)], t0()).await.unwrap(), 2);
    assert_eq!(
        store
            .claim_outbox("s", t0(), TimeDelta::seconds(30), 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

/// Each subscription of an instance is a lane of its own ([`crate::lane`]): rows keep their
/// subscription, claims skip and cap per lane, deactivation queues one lane only.
pub async fn subscription_lanes_are_separate(store: &dyn Store) {
    let k = key("lanes");
    let of = |n: u8, sub: Option<&str>| Notification {
        subscription: sub.map(str::to_owned),
        ..notification(&k, n, t0())
    };
    store.register(&k, t0(), t0()).await.unwrap();
    let claimed = store
        .claim_due("p", t0(), TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    let mut c = commit(&k, claimed[0].lease.as_ref().unwrap().token, t0());
    c.notifications = vec![
        of(1, None),
        of(2, None),
        of(3, Some("billing")),
        of(4, Some("billing")),
        of(5, Some("crm")),
    ];
    store.commit_poll(c).await.unwrap();
    let all = store.list_outbox(&OutboxFilter::default()).await.unwrap();
    let subs: Vec<(StableId, Option<&str>)> = all
        .iter()
        .map(|e| (e.notification.id, e.notification.subscription.as_deref()))
        .collect();
    assert_eq!(
        subs,
        [
            (id(1), None),
            (id(2), None),
            (id(3), Some("billing")),
            (id(4), Some("billing")),
            (id(5), Some("crm"))
        ],
        "rows lost their subscription"
    );

    // One per lane, the billing lane skipped.
    let skip = ["conformance/billing".to_owned()];
    let claimed = store
        .claim_outbox_skipping("s", t0(), TimeDelta::seconds(30), 10, 1, &skip)
        .await
        .unwrap();
    let ids: Vec<StableId> = claimed.iter().map(|e| e.notification.id).collect();
    assert_eq!(ids, [id(1), id(5)], "claims are not per lane");

    store
        .set_subscription_active("conformance/billing", false)
        .await
        .unwrap();
    assert!(store.subscription_active("conformance").await.unwrap());
    assert!(!store
        .subscription_active("conformance/billing")
        .await
        .unwrap());
    let claimed = store
        .claim_due("p", t0() + TimeDelta::hours(1), TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    let mut c = commit(
        &k,
        claimed[0].lease.as_ref().unwrap().token,
        t0() + TimeDelta::hours(1),
    );
    c.notifications = vec![of(6, Some("billing")), of(7, None)];
    store.commit_poll(c).await.unwrap();
    let all = store.list_outbox(&OutboxFilter::default()).await.unwrap();
    let status = |n: u8| {
        all.iter()
            .find(|e| e.notification.id == id(n))
            .map(|e| e.status)
    };
    for n in [3, 4, 6] {
        assert_eq!(status(n), Some(OutboxStatus::Queued), "billing's {n}");
    }
    for n in [2, 7] {
        assert_eq!(status(n), Some(OutboxStatus::Pending), "the callback's {n}");
    }
}

/// `claim_outbox_skipping` leaves the named instances' notifications alone, and claims the
/// others exactly as `claim_outbox` does.
pub async fn claim_outbox_skipping_instances(store: &dyn Store) {
    let slow = PollKey::new("slow", "r");
    let fast = PollKey::new("fast", "r");
    for (k, numbers) in [(&slow, 1..=3), (&fast, 4..=5)] {
        fill_outbox(store, k, numbers).await;
    }
    let skip = ["slow".to_owned()];
    let claimed = store
        .claim_outbox_skipping("s", t0(), TimeDelta::seconds(30), 10, usize::MAX, &skip)
        .await
        .unwrap();
    let ids: Vec<StableId> = claimed.iter().map(|e| e.notification.id).collect();
    assert_eq!(
        ids,
        [id(4), id(5)],
        "claimed a skipped instance's notification"
    );
    assert!(claimed
        .iter()
        .all(|e| e.lease.as_ref().is_some_and(|l| l.owner == "s")));
    let rest = store
        .claim_outbox_skipping("s", t0(), TimeDelta::seconds(30), 2, usize::MAX, &[])
        .await
        .unwrap();
    let ids: Vec<StableId> = rest.iter().map(|e| e.notification.id).collect();
    assert_eq!(
        ids,
        [id(1), id(2)],
        "skipping nothing claims in order, up to the limit"
    );
}

/// `claim_outbox_skipping` takes at most `per_instance` claimable notifications of each
/// instance (unleased or with an expired lease, leased ones not counted), then the first
/// `limit` of those in `(next_attempt, seq)` order.
pub async fn claim_outbox_per_instance(store: &dyn Store) {
    let a = PollKey::new("a", "r");
    let b = PollKey::new("b", "r");
    let c = PollKey::new("c", "r");
    for (k, numbers) in [(&a, 1..=4), (&b, 5..=6), (&c, 7..=9)] {
        fill_outbox(store, k, numbers).await;
    }
    let lease = TimeDelta::seconds(30);
    let ids = |claimed: &[crate::store::OutboxEntry]| -> Vec<StableId> {
        claimed.iter().map(|e| e.notification.id).collect()
    };
    assert!(store
        .claim_outbox_skipping("s", t0(), lease, 10, 0, &[])
        .await
        .unwrap()
        .is_empty());
    // The head of the order is all `a`'s, skipped: the claim looks past it.
    let claimed = store
        .claim_outbox_skipping("s", t0(), lease, 1, 1, &["a".to_owned(), "b".to_owned()])
        .await
        .unwrap();
    assert_eq!(ids(&claimed), [id(7)], "skipping the head of the order");
    let claimed = store
        .claim_outbox_skipping("s", t0(), lease, 10, 2, &["c".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        ids(&claimed),
        [id(1), id(2), id(5), id(6)],
        "more than per_instance of one instance, or a skipped one"
    );
    // Leased notifications do not count: the next ones of each instance are claimable.
    let claimed = store
        .claim_outbox_skipping("s", t0(), lease, 10, 2, &[])
        .await
        .unwrap();
    assert_eq!(ids(&claimed), [id(3), id(4), id(8), id(9)]);
    let token = claimed[0].lease.as_ref().unwrap().token;
    // 3 fails and is due later than the others of `a`, whose leases expire.
    store
        .mark_failed(
            &id(3),
            token,
            t0() + TimeDelta::seconds(10),
            &attempt(t0(), Some(503), Some("503")),
        )
        .await
        .unwrap();
    let later = t0() + TimeDelta::seconds(31);
    let claimed = store
        .claim_outbox_skipping("s", later, lease, 10, 1, &[])
        .await
        .unwrap();
    assert_eq!(
        ids(&claimed),
        [id(1), id(5), id(7)],
        "expired leases claimable again, one per instance"
    );
    let claimed = store
        .claim_outbox_skipping("s", later, lease, 3, 2, &[])
        .await
        .unwrap();
    assert_eq!(
        ids(&claimed),
        [id(2), id(4), id(6)],
        "the first `limit` in order"
    );
    let claimed = store
        .claim_outbox_skipping("s", later, lease, 10, 5, &[])
        .await
        .unwrap();
    assert_eq!(
        ids(&claimed),
        [id(8), id(9), id(3)],
        "claims in (next_attempt, seq) order across instances"
    );
}

/// `record_attempts` writes each record as its per-call method would, fenced one by one: a
/// lost lease or an unknown id fails alone, in its place in the results.
pub async fn record_attempts_in_one_batch(store: &dyn Store) {
    assert!(store.record_attempts(&[]).await.unwrap().is_empty());
    let k = key("batch");
    fill_outbox(store, &k, 1..=5).await;
    let claimed = store
        .claim_outbox("s", t0(), TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 5);
    let token_of = |n: usize| claimed[n - 1].lease.as_ref().unwrap().token;
    let tokens: Vec<u64> = (1..=5).map(token_of).collect();
    let mut distinct = tokens.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        5,
        "claimed notifications share a fencing token"
    );
    // Notification 5's lease expires and another worker takes it over.
    let later = t0() + TimeDelta::seconds(31);
    let retaken = store
        .claim_outbox("s2", later, TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    let retaken: Vec<(StableId, u64)> = retaken
        .iter()
        .map(|e| (e.notification.id, e.lease.as_ref().unwrap().token))
        .collect();
    assert_eq!(retaken.len(), 5, "expired leases were not claimable again");
    assert!(
        retaken.iter().all(|(_, t)| !tokens.contains(t)),
        "a new claim reused a fencing token"
    );
    let new_token = |n: u8| retaken.iter().find(|(i, _)| *i == id(n)).unwrap().1;

    let delivered = attempt(later, Some(200), None);
    let failed = attempt(later, Some(503), Some("503 from receiver"));
    let gone = attempt(later, Some(410), Some("410 from receiver"));
    let retry_at = later + TimeDelta::seconds(16);
    let record =
        |n: u8, token: u64, outcome: AttemptOutcome, attempt: &DeliveryAttempt| AttemptRecord {
            id: id(n),
            token,
            outcome,
            attempt: attempt.clone(),
        };
    let records = [
        record(1, new_token(1), AttemptOutcome::Delivered, &delivered),
        record(
            2,
            new_token(2),
            AttemptOutcome::Failed {
                next_attempt: retry_at,
            },
            &failed,
        ),
        record(3, new_token(3), AttemptOutcome::Queued, &gone),
        // The first worker's stale lease on 4: refused, 4 stays leased to the second.
        record(4, token_of(4), AttemptOutcome::Delivered, &delivered),
        record(99, 1, AttemptOutcome::Delivered, &delivered),
        // A second mark of 1 under the lease the first record released.
        record(1, new_token(1), AttemptOutcome::Delivered, &delivered),
        record(5, new_token(5), AttemptOutcome::Delivered, &delivered),
    ];
    let results = store.record_attempts(&records).await.unwrap();
    let kinds: Vec<Option<ErrorKind>> = results
        .iter()
        .map(|r| r.as_ref().err().map(crate::Error::kind))
        .collect();
    assert_eq!(
        kinds,
        [
            None,
            None,
            None,
            Some(ErrorKind::LeaseLost),
            Some(ErrorKind::NotFound),
            Some(ErrorKind::LeaseLost),
            None
        ],
        "per-record results of a batch"
    );

    let all = store.list_outbox(&OutboxFilter::default()).await.unwrap();
    let by_id = |n: u8| all.iter().find(|e| e.notification.id == id(n)).unwrap();
    assert_eq!(by_id(1).status, OutboxStatus::Delivered);
    assert_eq!(by_id(1).delivered_at, Some(later));
    assert_eq!(by_id(1).attempts, 1);
    assert!(
        by_id(1).lease.is_none(),
        "a recorded attempt kept its lease"
    );
    assert_eq!(by_id(2).status, OutboxStatus::Pending);
    assert_eq!(by_id(2).next_attempt, retry_at);
    assert_eq!(by_id(2).last_error.as_deref(), Some("503 from receiver"));
    assert!(by_id(2).lease.is_none());
    assert_eq!(by_id(3).status, OutboxStatus::Queued);
    assert_eq!(by_id(3).last_error.as_deref(), Some("410 from receiver"));
    assert_eq!(by_id(4).status, OutboxStatus::Pending);
    assert_eq!(
        by_id(4).attempts,
        0,
        "a refused record changed its notification"
    );
    assert_eq!(
        by_id(4).lease.as_ref().map(|l| l.token),
        Some(new_token(4)),
        "a refused record touched the current lease"
    );
    assert_eq!(by_id(5).status, OutboxStatus::Delivered);
    assert_eq!(
        store.list_attempts(&id(1)).await.unwrap(),
        std::slice::from_ref(&delivered)
    );
    assert_eq!(store.list_attempts(&id(2)).await.unwrap(), [failed]);
    assert_eq!(store.list_attempts(&id(3)).await.unwrap(), [gone]);
    assert!(store.list_attempts(&id(4)).await.unwrap().is_empty());
    assert!(store.list_attempts(&id(99)).await.unwrap().is_empty());

    // The current lease on 4 still works, through the per-call method.
    store
        .mark_delivered(&id(4), new_token(4), &delivered)
        .await
        .unwrap();
    let due = store
        .claim_outbox("s", retry_at, TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    let ids: Vec<StableId> = due.iter().map(|e| e.notification.id).collect();
    assert_eq!(ids, [id(2)], "only the failed notification is due again");
}

/// `pause_instance` stops an instance's states from being claimed (and from `next_due`)
/// without changing them; a poll in flight still commits and stays paused; `register`
/// resumes each state where it was. Other instances are not touched.
pub async fn paused_instances_keep_their_state(store: &dyn Store) {
    let mine = [
        PollKey::new("paused", "contacts"),
        PollKey::new("paused", "invoices"),
    ];
    let other = PollKey::new("running", "contacts");
    for k in mine.iter().chain([&other]) {
        store.register(k, t0(), t0()).await.unwrap();
    }
    // One of the paused instance's polls is in flight when the pause comes.
    let claimed = store
        .claim_due("a", t0(), TimeDelta::minutes(1), 1)
        .await
        .unwrap();
    assert_eq!(claimed[0].key, mine[0]);
    let token = claimed[0].lease.as_ref().unwrap().token;
    assert_eq!(store.pause_instance("paused").await.unwrap(), 2);
    let later = t0() + TimeDelta::hours(1);
    let mut c = commit(&mine[0], token, later);
    c.seen = vec![SeenChange {
        id: id(7),
        at: t0(),
    }];
    c.next_due = t0();
    store.commit_poll(c).await.unwrap();

    let far = t0() + TimeDelta::days(1);
    let claimed = store
        .claim_due("b", far, TimeDelta::minutes(1), 10)
        .await
        .unwrap();
    let keys: Vec<_> = claimed.iter().map(|s| s.key.clone()).collect();
    assert_eq!(
        keys,
        std::slice::from_ref(&other),
        "a paused state was claimed"
    );
    let token = claimed[0].lease.as_ref().unwrap().token;
    store.release(&other, token).await.unwrap();
    store.unregister(&other).await.unwrap();
    assert_eq!(
        store.next_due().await.unwrap(),
        None,
        "next_due counts paused states"
    );

    // Resuming keeps the watermark and the seen changes, whatever register proposes.
    let resumed = store
        .register(&mine[0], t0() - TimeDelta::days(9), far)
        .await
        .unwrap();
    assert_eq!(resumed.watermark, later, "resuming reset the watermark");
    assert_eq!(resumed.completed_polls, 1);
    assert_eq!(store.seen(&mine[0], &[id(7)]).await.unwrap(), [true]);
    assert_eq!(store.next_due().await.unwrap(), Some(t0()));
    let claimed = store
        .claim_due("c", far, TimeDelta::minutes(1), 10)
        .await
        .unwrap();
    let keys: Vec<_> = claimed.iter().map(|s| s.key.clone()).collect();
    assert_eq!(
        keys,
        [mine[0].clone()],
        "only the resumed state is claimable"
    );
}

/// A delivery attempt as a sender would log it.
fn attempt(at: DateTime<Utc>, status: Option<u16>, error: Option<&str>) -> DeliveryAttempt {
    DeliveryAttempt {
        at,
        status,
        latency_ms: 12,
        error: error.map(str::to_owned),
        response_excerpt: error.unwrap_or("ok").to_owned(),
    }
}

fn worker(id: &str, heartbeat_at: DateTime<Utc>) -> Worker {
    Worker {
        id: id.to_owned(),
        host: "host-1".to_owned(),
        pid: 4242,
        started_at: t0(),
        heartbeat_at,
        lease_ttl_ms: 30_000,
    }
}

/// Renewal extends a live holder's lease past its first expiry; once another worker has
/// claimed the key, the old holder's renewal reports it lost and its writes fail.
pub async fn renewals_keep_a_lease_until_another_worker_takes_it(store: &dyn Store) {
    let ttl = TimeDelta::seconds(30);
    let (k, other) = (key("renew"), key("renew-other"));
    store.register(&k, t0(), t0()).await.unwrap();
    store.register(&other, t0(), t0()).await.unwrap();
    let claimed = store.claim_due("a", t0(), ttl, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let token = |key: &PollKey| {
        claimed
            .iter()
            .find(|s| &s.key == key)
            .and_then(|s| s.lease.as_ref())
            .map(|l| l.token)
            .unwrap()
    };
    let (token_k, token_other) = (token(&k), token(&other));
    let at = t0() + TimeDelta::seconds(20);
    let renewed = store
        .renew_leases(
            "a",
            &[(k.clone(), token_k), (other.clone(), token_other)],
            at,
            ttl,
        )
        .await
        .unwrap();
    assert_eq!(renewed, vec![true, true], "a live holder's renewal failed");
    let state = store.load(&k).await.unwrap().unwrap();
    assert_eq!(state.lease.as_ref().unwrap().expires_at, at + ttl);
    let later = t0() + TimeDelta::seconds(40);
    assert!(
        store
            .claim_due("b", later, ttl, 10)
            .await
            .unwrap()
            .is_empty(),
        "a renewed lease was claimed at its first expiry"
    );
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(at + ttl),
        "next_due ignores the renewed expiry"
    );
    // `a` stalls: no renewal; its leases expire and `b` takes one of them.
    let stalled = at + ttl + TimeDelta::seconds(1);
    let taken = store.claim_due("b", stalled, ttl, 1).await.unwrap();
    assert_eq!(taken.len(), 1);
    let (lost_key, lost_token, kept_key, kept_token) = if taken[0].key == k {
        (&k, token_k, &other, token_other)
    } else {
        (&other, token_other, &k, token_k)
    };
    let renewed = store
        .renew_leases(
            "a",
            &[
                (lost_key.clone(), lost_token),
                (kept_key.clone(), kept_token),
            ],
            stalled,
            ttl,
        )
        .await
        .unwrap();
    assert_eq!(
        renewed,
        vec![false, true],
        "a taken lease was renewed, or an expired one nobody took was not"
    );
    let err = store
        .commit_progress(PollProgress {
            known: Vec::new(),
            window: Vec::new(),
            key: lost_key.clone(),
            lease_token: lost_token,
            seen: vec![SeenChange {
                id: id(1),
                at: t0(),
            }],
            notifications: vec![notification(lost_key, 1, t0())],
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseLost);
    assert_eq!(store.seen_count(lost_key).await.unwrap(), 0);
    assert!(store
        .list_outbox(&OutboxFilter::default())
        .await
        .unwrap()
        .is_empty());
    // Another owner cannot renew a lease by its token alone.
    let b_token = taken[0].lease.as_ref().unwrap().token;
    assert_eq!(
        store
            .renew_leases("a", &[(lost_key.clone(), b_token)], stalled, ttl)
            .await
            .unwrap(),
        vec![false]
    );
    let state = store.load(lost_key).await.unwrap().unwrap();
    assert_eq!(state.lease.as_ref().unwrap().owner, "b");
    // Unknown keys are not renewed, and do not fail the call.
    assert_eq!(
        store
            .renew_leases("a", &[(key("nowhere"), 1)], stalled, ttl)
            .await
            .unwrap(),
        vec![false]
    );
}

/// A worker whose heartbeat is older than its ttl is dead: releasing dead workers frees its
/// poll leases and delivery leases, at once, and removes its row; live workers keep theirs.
pub async fn dead_workers_release_their_leases_and_claims(store: &dyn Store) {
    let ttl = TimeDelta::seconds(30);
    let (k_dead, k_live) = (key("dead"), key("live"));
    fill_outbox(store, &key("dead-notes"), [1, 2]).await;
    store.register(&k_dead, t0(), t0()).await.unwrap();
    store.register(&k_live, t0(), t0()).await.unwrap();
    store.heartbeat(&worker("dead", t0())).await.unwrap();
    store.heartbeat(&worker("live", t0())).await.unwrap();
    let now = t0() + TimeDelta::seconds(5);
    let polls = store.claim_due("dead", now, ttl, 10).await.unwrap();
    assert_eq!(polls.len(), 2);
    let live_key_token = polls
        .iter()
        .find(|s| s.key == k_live)
        .and_then(|s| s.lease.as_ref())
        .unwrap()
        .token;
    // Give the live worker one of them: the dead one released it, the live one claimed it.
    store.release(&k_live, live_key_token).await.unwrap();
    let live_polls = store.claim_due("live", now, ttl, 10).await.unwrap();
    assert_eq!(live_polls.len(), 1);
    let claimed = store
        .claim_outbox("dead", now, TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);

    let listed = store.list_workers(now).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|w| w.worker.id.as_str()).collect();
    assert_eq!(ids, ["dead", "live"], "workers are listed by id");
    assert_eq!(listed[0].polls, vec![k_dead.clone()]);
    assert_eq!(listed[0].notifications, 2);
    assert_eq!(listed[1].polls, vec![k_live.clone()]);
    assert_eq!(listed[1].notifications, 0);
    assert_eq!(listed[0].worker, worker("dead", t0()));

    // The live worker renews its heartbeat; the dead one does not.
    let later = t0() + TimeDelta::seconds(31);
    store.heartbeat(&worker("live", later)).await.unwrap();
    assert_eq!(
        store
            .release_dead_workers(t0() + TimeDelta::seconds(29))
            .await
            .unwrap(),
        ReleasedWork::default(),
        "a worker was released before its ttl passed"
    );
    let released = store.release_dead_workers(later).await.unwrap();
    assert_eq!(
        released,
        ReleasedWork {
            workers: 1,
            polls: 1,
            notifications: 2
        }
    );
    // The dead worker's key and notifications are claimable at once, the live one's are not.
    let polls = store.claim_due("taker", later, ttl, 10).await.unwrap();
    let keys: Vec<&PollKey> = polls.iter().map(|s| &s.key).collect();
    assert_eq!(keys, vec![&k_dead]);
    let notes = store
        .claim_outbox("taker", later, TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    let mut ids: Vec<StableId> = notes.iter().map(|e| e.notification.id).collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![id(1), id(2)],
        "the same notifications, the same ids"
    );
    // The dead worker's late writes are fenced off.
    let token = claimed[0].lease.as_ref().unwrap().token;
    let err = store
        .mark_delivered(
            &claimed[0].notification.id,
            token,
            &attempt(later, Some(200), None),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseLost);
    let listed = store.list_workers(later).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|w| w.worker.id.as_str()).collect();
    assert_eq!(ids, ["live"]);
    assert!(listed[0].worker.heartbeat_at == later);
}

/// `release_worker` frees one name's work (live or not) and its row; `release_all_workers`
/// everyone's.
pub async fn releasing_a_worker_or_all_frees_everything(store: &dyn Store) {
    let ttl = TimeDelta::seconds(30);
    let (k1, k2) = (key("one"), key("two"));
    fill_outbox(store, &key("notes"), [1, 2, 3]).await;
    store.register(&k1, t0(), t0()).await.unwrap();
    store.register(&k2, t0(), t0()).await.unwrap();
    store.heartbeat(&worker("w1", t0())).await.unwrap();
    store.heartbeat(&worker("w2", t0())).await.unwrap();
    assert_eq!(store.claim_due("w1", t0(), ttl, 1).await.unwrap().len(), 1);
    assert_eq!(store.claim_due("w2", t0(), ttl, 1).await.unwrap().len(), 1);
    assert_eq!(
        store.claim_outbox("w1", t0(), ttl, 1).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.claim_outbox("w2", t0(), ttl, 2).await.unwrap().len(),
        2
    );
    let released = store.release_worker("w1").await.unwrap();
    assert_eq!(
        released,
        ReleasedWork {
            workers: 1,
            polls: 1,
            notifications: 1
        }
    );
    assert_eq!(
        store.release_worker("w1").await.unwrap(),
        ReleasedWork::default(),
        "releasing twice freed something"
    );
    assert_eq!(store.claim_due("x", t0(), ttl, 10).await.unwrap().len(), 1);
    let released = store.release_all_workers().await.unwrap();
    assert_eq!(
        released,
        ReleasedWork {
            workers: 1,
            polls: 2,
            notifications: 2
        },
        "every lease, of registered workers or not, is released"
    );
    assert!(store.list_workers(t0()).await.unwrap().is_empty());
    assert_eq!(store.claim_due("y", t0(), ttl, 10).await.unwrap().len(), 2);
    assert_eq!(
        store.claim_outbox("y", t0(), ttl, 10).await.unwrap().len(),
        3
    );
}

/// Known record ids: added by progress and commits, a reconciliation adds and removes them and
/// sets `reconciled_at`, all fenced and all or nothing; unregister forgets them; keys are apart.
pub async fn known_ids_follow_commits_and_reconciliations(store: &dyn Store) {
    let k = key("known");
    let other = key("known-other");
    let ids = |list: &[&str]| {
        list.iter()
            .map(|s| (*s).to_owned())
            .collect::<Vec<String>>()
    };
    store.register(&k, t0(), t0()).await.unwrap();
    store.register(&other, t0(), t0()).await.unwrap();
    assert!(store.known_ids(&k).await.unwrap().is_empty());
    assert_eq!(store.load(&k).await.unwrap().unwrap().reconciled_at, None);

    let claimed = store
        .claim_due("a", t0(), TimeDelta::minutes(5), 2)
        .await
        .unwrap();
    let token_of = |key: &PollKey| {
        claimed
            .iter()
            .find(|s| &s.key == key)
            .and_then(|s| s.lease.as_ref())
            .map(|l| l.token)
            .unwrap()
    };
    let token = token_of(&k);
    store
        .commit_progress(PollProgress {
            key: k.clone(),
            lease_token: token,
            seen: Vec::new(),
            notifications: Vec::new(),
            known: ids(&["b", "a"]),
            window: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(store.known_ids(&k).await.unwrap(), ids(&["a", "b"]));
    let at = t0() + TimeDelta::seconds(30);
    let mut c = commit(&k, token, t0() + TimeDelta::minutes(1));
    c.known = ids(&["c", "a"]);
    c.reconciled = Some(Reconciled {
        at,
        added: ids(&["d", "e"]),
        removed: ids(&["b", "zz-never-known"]),
    });
    c.notifications = vec![notification(&k, 9, t0())];
    store.commit_poll(c).await.unwrap();
    assert_eq!(
        store.known_ids(&k).await.unwrap(),
        ids(&["a", "c", "d", "e"]),
        "sorted, added and removed"
    );
    assert_eq!(
        store.load(&k).await.unwrap().unwrap().reconciled_at,
        Some(at)
    );
    assert!(
        store.known_ids(&other).await.unwrap().is_empty(),
        "another key's ids are apart"
    );

    // A commit without a reconciliation keeps `reconciled_at`.
    let claimed = store
        .claim_due("a", t0() + TimeDelta::hours(1), TimeDelta::minutes(5), 2)
        .await
        .unwrap();
    let token = claimed
        .iter()
        .find(|s| s.key == k)
        .and_then(|s| s.lease.as_ref())
        .map(|l| l.token)
        .unwrap();
    store
        .commit_poll(commit(&k, token, t0() + TimeDelta::hours(1)))
        .await
        .unwrap();
    assert_eq!(
        store.load(&k).await.unwrap().unwrap().reconciled_at,
        Some(at)
    );

    // A stale token changes no known id and no reconciliation time.
    let mut stale = commit(&k, token, t0() + TimeDelta::hours(2));
    stale.reconciled = Some(Reconciled {
        at: t0() + TimeDelta::hours(2),
        added: ids(&["x"]),
        removed: ids(&["a"]),
    });
    let err = store.commit_poll(stale).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseLost);
    assert_eq!(
        store.known_ids(&k).await.unwrap(),
        ids(&["a", "c", "d", "e"])
    );
    assert_eq!(
        store.load(&k).await.unwrap().unwrap().reconciled_at,
        Some(at)
    );

    assert!(store.unregister(&k).await.unwrap());
    store.register(&k, t0(), t0()).await.unwrap();
    assert!(
        store.known_ids(&k).await.unwrap().is_empty(),
        "unregister forgets the known ids"
    );
}
