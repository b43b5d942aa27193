//! The dashboard reads (`outbox_health`, `recent_outbox`) on each backend.

use chrono::TimeDelta;
use pollen_core::Store;

use crate::harness::Db;
use crate::support::{attempt, claim_one, commit, key, notification, t0};

crate::on_both!(health_counts_by_status_and_recent_is_newest_first);

/// Instance 7: one delivered, one failed (pending again), one queued, one never tried;
/// instance 8: one pending. Counts and newest-first listings per instance.
async fn health_counts_by_status_and_recent_is_newest_first(db: &Db) {
    let store = db.open().await;
    for (instance, first, count) in [("7", 1u32, 4u32), ("8", 10, 1)] {
        let k = key(instance, "customers");
        store.register(&k, t0(), t0()).await.unwrap();
        let token = claim_one(&store, "w", t0()).await;
        let mut c = commit(&k, token, t0());
        c.notifications = (first..first + count)
            .map(|n| notification(&k, n, t0() + TimeDelta::minutes(i64::from(n)), "{}"))
            .collect();
        store.commit_poll(c).await.unwrap();
    }
    let now = t0() + TimeDelta::hours(1);
    let claimed = store
        .claim_outbox("w", now, TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    let of = |n: u32| {
        let entry = claimed
            .iter()
            .find(|e| e.notification.id == crate::support::id(1, n))
            .expect("claimed");
        (entry.notification.id, entry.lease.as_ref().unwrap().token)
    };
    let (id1, t1) = of(1);
    store
        .mark_delivered(&id1, t1, &attempt(now, 200, None))
        .await
        .unwrap();
    let (id2, t2) = of(2);
    store
        .mark_failed(&id2, t2, now, &attempt(now, 500, Some("HTTP 500")))
        .await
        .unwrap();
    let (id3, t3) = of(3);
    store
        .mark_queued(&id3, t3, &attempt(now, 410, Some("HTTP 410")))
        .await
        .unwrap();

    let seven = store.outbox_health("7").await.unwrap();
    assert_eq!(
        (seven.pending, seven.failing, seven.queued, seven.delivered),
        (2, 1, 1, 1),
        "{seven:?}"
    );
    let eight = store.outbox_health("8").await.unwrap();
    assert_eq!(
        (eight.pending, eight.failing, eight.queued, eight.delivered),
        (1, 0, 0, 0)
    );
    let none = store.outbox_health("9").await.unwrap();
    assert_eq!((none.pending, none.queued, none.delivered), (0, 0, 0));

    let ids = |rows: Vec<pollen_core::OutboxEntry>| -> Vec<_> {
        rows.iter().map(|e| e.notification.id).collect()
    };
    let n = |n: u32| crate::support::id(1, n);
    let n3_seq = store.recent_outbox(Some("7"), None, 2).await.unwrap()[1].seq;
    assert_eq!(
        ids(store.recent_outbox(Some("7"), None, 2).await.unwrap()),
        [n(4), n(3)]
    );
    assert_eq!(
        ids(store
            .recent_outbox(Some("7"), Some(n3_seq), 10)
            .await
            .unwrap()),
        [n(2), n(1)],
        "below the cursor only"
    );
    assert_eq!(
        ids(store.recent_outbox(None, None, 10).await.unwrap()),
        [n(10), n(4), n(3), n(2), n(1)]
    );
    store.close().await;
}
