//! Operational alerts on each backend: every condition opens one alert and its end resolves
//! it once, whichever process checks and however often; deliveries are claimed once and a
//! dead worker's claims are freed; a removed subscription's alerts resolve.

use chrono::TimeDelta;
use pollen_core::{PollFailure, Store, Worker};
use pollen_store::{
    AlertEvent, AlertKind, AlertOutcome, AlertSettings, AlertTarget, InstanceStatus, SqlStore,
};

use crate::harness::Db;
use crate::support::{attempt, claim_one, commit, key, notification, secrets_fixture, t0};

crate::on_both!(
    each_condition_opens_once_and_resolves_once,
    concurrent_checks_open_and_resolve_once,
    a_dead_workers_delivery_claims_are_freed,
    a_removed_subscriptions_alerts_resolve,
);

fn kinds(alerts: &[pollen_store::Alert]) -> Vec<(String, AlertKind, String)> {
    let mut k: Vec<_> = alerts
        .iter()
        .map(|a| (a.instance.clone(), a.kind, a.subject.clone()))
        .collect();
    k.sort();
    k
}

async fn fail_poll(store: &SqlStore, k: &pollen_core::PollKey, now: chrono::DateTime<chrono::Utc>) {
    let token = claim_one(store, "w", now).await;
    store
        .record_failure(PollFailure {
            key: k.clone(),
            lease_token: token,
            next_due: now + TimeDelta::seconds(1),
            error: "Sage answered 503".into(),
        })
        .await
        .unwrap();
}

async fn each_condition_opens_once_and_resolves_once(db: &Db) {
    let store = db.open().await;
    let other = db.open().await; // a second process on the same database
    let settings = AlertSettings::new().with_failures(3);
    let k = key("1", "customers");
    store.register(&k, t0(), t0()).await.unwrap();
    store
        .set_poll_interval(&k, TimeDelta::minutes(15))
        .await
        .unwrap();

    // Two failures: below the threshold; the third opens the alert, once.
    fail_poll(&store, &k, t0()).await;
    fail_poll(&store, &k, t0() + TimeDelta::seconds(1)).await;
    assert!(store
        .check_alerts(t0(), &settings)
        .await
        .unwrap()
        .opened
        .is_empty());
    fail_poll(&store, &k, t0() + TimeDelta::seconds(2)).await;
    let changes = store.check_alerts(t0(), &settings).await.unwrap();
    assert_eq!(
        kinds(&changes.opened),
        [("1".into(), AlertKind::PollsFailing, "customers".into())]
    );
    assert!(
        changes.opened[0].detail.contains("3 polls failed in a row"),
        "{:?}",
        changes.opened
    );
    assert!(changes.opened[0].detail.contains("Sage answered 503"));
    for s in [&store, &other] {
        let again = s.check_alerts(t0(), &settings).await.unwrap();
        assert!(
            again.opened.is_empty() && again.resolved.is_empty(),
            "{again:?}"
        );
    }

    // 3 intervals after the first poll was due, the resource has stalled.
    let stalled_at = t0() + TimeDelta::minutes(45) + TimeDelta::seconds(1);
    assert!(store
        .check_alerts(t0() + TimeDelta::minutes(44), &settings)
        .await
        .unwrap()
        .opened
        .is_empty());
    let changes = other.check_alerts(stalled_at, &settings).await.unwrap();
    assert_eq!(
        kinds(&changes.opened),
        [("1".into(), AlertKind::PollsStalled, "customers".into())]
    );

    // A deactivated subscription, a notification that failed its last retry, an instance
    // waiting for re-authorization.
    let (config, _) = secrets_fixture();
    let (reauth, _) = store
        .create_instance_with_status(&config, InstanceStatus::NeedsReauthorization, t0())
        .await
        .unwrap();
    let d = key("2", "invoices");
    store.register(&d, t0(), t0()).await.unwrap();
    let token = claim_one(&store, "w", t0()).await;
    let mut c = commit(&d, token, t0());
    c.next_due = t0() + TimeDelta::days(1);
    c.notifications = vec![notification(&d, 1, t0(), "{}")];
    store.commit_poll(c).await.unwrap();
    let claimed = store
        .claim_outbox("w", t0(), TimeDelta::minutes(5), 10)
        .await
        .unwrap();
    let entry = &claimed[0];
    store
        .mark_queued(
            &entry.notification.id,
            entry.lease.as_ref().unwrap().token,
            &attempt(t0(), 500, Some("receiver answered 500")),
        )
        .await
        .unwrap();
    store.set_subscription_active("2", false).await.unwrap();
    let changes = store.check_alerts(stalled_at, &settings).await.unwrap();
    assert_eq!(
        kinds(&changes.opened),
        [
            (
                reauth.key(),
                AlertKind::ReauthorizationNeeded,
                String::new()
            ),
            (
                "2".into(),
                AlertKind::SubscriptionDeactivated,
                String::new()
            ),
            ("2".into(), AlertKind::NotificationsDead, String::new()),
        ]
    );
    assert_eq!(reauth.key(), "1", "the first instance's key");
    let open = store.list_alerts(true, None, 100).await.unwrap();
    assert_eq!(open.len(), 5);
    let mut counts = store.count_open_alerts().await.unwrap();
    counts.sort();
    assert_eq!(counts.len(), 5);
    assert!(counts.iter().all(|(_, n)| *n == 1), "{counts:?}");

    // Recovery: a completed poll ends both of the resource's alerts; the others end with
    // their conditions.
    let token = claim_one(&store, "w", stalled_at).await;
    let mut c = commit(&k, token, stalled_at);
    c.next_due = stalled_at + TimeDelta::minutes(15);
    store.commit_poll(c).await.unwrap();
    let changes = store.check_alerts(stalled_at, &settings).await.unwrap();
    assert_eq!(
        kinds(&changes.resolved),
        [
            ("1".into(), AlertKind::PollsFailing, "customers".into()),
            ("1".into(), AlertKind::PollsStalled, "customers".into()),
        ]
    );
    store.set_subscription_active("2", true).await.unwrap();
    store
        .requeue(&[entry.notification.id], stalled_at)
        .await
        .unwrap();
    store
        .set_instance_status(reauth.id, InstanceStatus::Active, stalled_at)
        .await
        .unwrap();
    let changes = other.check_alerts(stalled_at, &settings).await.unwrap();
    assert_eq!(changes.resolved.len(), 3, "{changes:?}");
    assert!(changes
        .resolved
        .iter()
        .all(|a| a.resolved_at == Some(stalled_at)));
    for s in [&store, &other] {
        let again = s.check_alerts(stalled_at, &settings).await.unwrap();
        assert!(
            again.opened.is_empty() && again.resolved.is_empty(),
            "{again:?}"
        );
    }
    assert!(store.list_alerts(true, None, 100).await.unwrap().is_empty());
    assert_eq!(store.list_alerts(false, None, 100).await.unwrap().len(), 5);
    assert_eq!(
        store
            .list_alerts(false, Some("2"), 100)
            .await
            .unwrap()
            .len(),
        2
    );

    // Each opening and each resolution: one delivery per target, claimed once.
    let claimed = store
        .claim_alert_deliveries("a", stalled_at, TimeDelta::seconds(30), 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 5 * 2 * 2);
    for event in [AlertEvent::Opened, AlertEvent::Resolved] {
        for target in AlertTarget::ALL {
            let n = claimed
                .iter()
                .filter(|d| d.event == event && d.target == target)
                .count();
            assert_eq!(n, 5, "{event:?} to {target:?}");
        }
    }
    assert!(other
        .claim_alert_deliveries("b", stalled_at, TimeDelta::seconds(30), 100)
        .await
        .unwrap()
        .is_empty());
    let first = &claimed[0];
    assert_eq!(
        first.message_id(),
        format!("alert_{}_{}", first.alert.id, first.event.as_str())
    );
    // A retry comes back when due; finishing it as someone else changes nothing.
    let retry_at = stalled_at + TimeDelta::seconds(10);
    let retry = AlertOutcome::Retry {
        next_at: retry_at,
        error: "receiver answered 500".into(),
    };
    assert!(!other
        .finish_alert_delivery(first.id, "b", stalled_at, &retry)
        .await
        .unwrap());
    assert!(store
        .finish_alert_delivery(first.id, "a", stalled_at, &retry)
        .await
        .unwrap());
    for d in &claimed[1..] {
        assert!(store
            .finish_alert_delivery(d.id, "a", stalled_at, &AlertOutcome::Delivered)
            .await
            .unwrap());
    }
    assert!(store
        .claim_alert_deliveries("a", stalled_at, TimeDelta::seconds(30), 100)
        .await
        .unwrap()
        .is_empty());
    let again = other
        .claim_alert_deliveries("b", retry_at, TimeDelta::seconds(30), 100)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (first.id, 1));
    assert!(other
        .finish_alert_delivery(again[0].id, "b", retry_at, &AlertOutcome::Delivered)
        .await
        .unwrap());

    // Resolved alerts go with the delivered notifications' retention.
    let retention = pollen_store::Retention::default();
    let report = store
        .prune(
            stalled_at + retention.delivered + TimeDelta::seconds(1),
            &retention,
        )
        .await
        .unwrap();
    assert_eq!(report.alerts, 5);
    assert!(store
        .list_alerts(false, None, 100)
        .await
        .unwrap()
        .is_empty());
    other.close().await;
    store.close().await;
}

async fn concurrent_checks_open_and_resolve_once(db: &Db) {
    let mut stores: Vec<SqlStore> = Vec::new();
    for _ in 0..4 {
        stores.push(db.open().await);
    }
    let settings = AlertSettings::new();
    for round in 0..5 {
        let active = round % 2 == 1;
        stores[0]
            .set_subscription_active("3", active)
            .await
            .unwrap();
        let checks = stores
            .iter()
            .map(|s| s.check_alerts(t0() + TimeDelta::seconds(round), &settings));
        let changes = futures::future::join_all(checks).await;
        let opened: usize = changes
            .iter()
            .map(|c| c.as_ref().unwrap().opened.len())
            .sum();
        let resolved: usize = changes
            .iter()
            .map(|c| c.as_ref().unwrap().resolved.len())
            .sum();
        assert_eq!(
            (opened, resolved),
            if active { (0, 1) } else { (1, 0) },
            "round {round}"
        );
    }
    let all = stores[0].list_alerts(false, None, 100).await.unwrap();
    assert_eq!(all.len(), 3);
    for s in &stores {
        s.close().await;
    }
}

async fn a_dead_workers_delivery_claims_are_freed(db: &Db) {
    let store = db.open().await;
    store.set_subscription_active("4", false).await.unwrap();
    store
        .check_alerts(t0(), &AlertSettings::new())
        .await
        .unwrap();
    let worker = Worker {
        id: "dead".into(),
        host: "h".into(),
        pid: 1,
        started_at: t0(),
        heartbeat_at: t0(),
        lease_ttl_ms: 1_000,
    };
    store.heartbeat(&worker).await.unwrap();
    let claimed = store
        .claim_alert_deliveries("dead", t0(), TimeDelta::hours(1), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let later = t0() + TimeDelta::seconds(5);
    assert!(store
        .claim_alert_deliveries("alive", later, TimeDelta::minutes(1), 10)
        .await
        .unwrap()
        .is_empty());
    store.release_dead_workers(later).await.unwrap();
    let taken = store
        .claim_alert_deliveries("alive", later, TimeDelta::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 2);
    assert!(!store
        .finish_alert_delivery(taken[0].id, "dead", later, &AlertOutcome::Delivered)
        .await
        .unwrap());
    store.close().await;
}

async fn a_removed_subscriptions_alerts_resolve(db: &Db) {
    let store = db.open().await;
    let settings = AlertSettings::new();
    let (config, _) = secrets_fixture();
    let mut json = config.to_json(pollen_config::Secrets::Expose);
    json["configuration"]["event.notification.subscriptions"] =
        serde_json::json!([{"name": "billing", "url": "https://billing.example.com/hook"}]);
    let with_billing = pollen_config::InstanceConfig::from_json_str(&json.to_string())
        .unwrap()
        .config;
    let (instance, _) = store
        .create_instance_with_status(&with_billing, InstanceStatus::Active, t0())
        .await
        .unwrap();
    let id = instance.id.to_string();
    store
        .set_subscription_active(&format!("{id}/billing"), false)
        .await
        .unwrap();
    // A lane the instance does not list (a subscription removed before): nothing to act on.
    store
        .set_subscription_active(&format!("{id}/old"), false)
        .await
        .unwrap();
    let changes = store.check_alerts(t0(), &settings).await.unwrap();
    assert_eq!(
        kinds(&changes.opened),
        [(
            id.clone(),
            AlertKind::SubscriptionDeactivated,
            "billing".into()
        )]
    );

    // Removed (its lane stays deactivated): the alert resolves, once.
    let without = config.clone();
    store
        .update_instance_config(instance.id, &without, t0())
        .await
        .unwrap();
    let changes = store.check_alerts(t0(), &settings).await.unwrap();
    assert!(changes.opened.is_empty(), "{changes:?}");
    assert_eq!(
        kinds(&changes.resolved),
        [(
            id.clone(),
            AlertKind::SubscriptionDeactivated,
            "billing".into()
        )]
    );
    let again = store.check_alerts(t0(), &settings).await.unwrap();
    assert!(
        again.opened.is_empty() && again.resolved.is_empty(),
        "{again:?}"
    );
    assert!(!store
        .subscription_active(&format!("{id}/billing"))
        .await
        .unwrap());
    store.close().await;
}
