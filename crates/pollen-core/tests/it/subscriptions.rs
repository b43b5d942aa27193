//! Subscriptions besides the callback: each is sent only the events its filter lets through,
//! at most ten per notification, with the callback's event ids under ids of its own.

use std::collections::HashSet;

use chrono::TimeDelta;
use pollen_core::{
    build_notifications, build_notifications_after, notification_id, Change, EventType, StableId,
    SubscriptionFilter, MAX_EVENTS_PER_NOTIFICATION,
};
use pollen_template::{Mode, Where};
use serde_json::json;

use crate::common::{spec, t0};

fn change(n: u8, event_type: EventType, record: serde_json::Value) -> Change {
    Change {
        id: StableId([n; 16]),
        object_id: format!("r{n}"),
        event_type,
        changed_at: Some(t0()),
        seen_at: t0(),
        record,
    }
}

fn clause(text: &str) -> pollen_template::Expr {
    Where::parse(text, Mode::Strict).expect("a clause").expr
}

/// Which event ids each lane got, in order, and the notifications' sizes.
fn events_of(notifications: &[pollen_core::Notification], lane: Option<&str>) -> Vec<StableId> {
    notifications
        .iter()
        .filter(|n| n.subscription.as_deref() == lane)
        .flat_map(|n| {
            assert!(n.event_ids.len() <= MAX_EVENTS_PER_NOTIFICATION);
            n.event_ids.clone()
        })
        .collect()
}

#[test]
fn each_subscription_gets_only_the_events_its_filter_lets_through() {
    // 24 changes: amounts 0, 10, 20 ... 230; every third one CREATED, the last two DELETED (one
    // with only its id, one whose record shows a small amount).
    let mut changes: Vec<Change> = (0..22)
        .map(|n| {
            let kind = if n % 3 == 0 {
                EventType::Created
            } else {
                EventType::Updated
            };
            change(
                n,
                kind,
                json!({"id": format!("r{n}"), "amount": u32::from(n) * 10}),
            )
        })
        .collect();
    changes.push(change(22, EventType::Deleted, json!({"id": "r22"})));
    changes.push(change(
        23,
        EventType::Deleted,
        json!({"id": "r23", "amount": 5}),
    ));

    let mut spec = spec(t0());
    spec.subscriptions = vec![
        SubscriptionFilter::new("created").with_event_types(vec![EventType::Created]),
        SubscriptionFilter::new("big")
            .with_filter(clause("amount > 100"))
            .expect("no placeholder"),
    ];
    let now = t0() + TimeDelta::minutes(15);
    let built = build_notifications_after(&spec, &changes, now, now, 0);

    // The callback is unchanged: every event, the ids it had before subscriptions existed.
    let alone = build_notifications(
        &{
            let mut s = spec.clone();
            s.subscriptions.clear();
            s
        },
        &changes,
        now,
        now,
    );
    let callback: Vec<_> = built.iter().filter(|n| n.subscription.is_none()).collect();
    assert_eq!(callback.len(), alone.len());
    for (a, b) in callback.iter().zip(&alone) {
        assert_eq!((a.id, &a.body), (b.id, &b.body));
        assert_eq!(a.id, notification_id(&a.event_ids));
    }
    assert_eq!(events_of(&built, None).len(), 24);

    let created: Vec<StableId> = (0..22u8)
        .filter(|n| n % 3 == 0)
        .map(|n| StableId([n; 16]))
        .collect();
    assert_eq!(events_of(&built, Some("created")), created);

    // Amounts above 100, and the DELETED whose record cannot tell; not the one that shows 5.
    let mut big: Vec<StableId> = (11..22u8).map(|n| StableId([n; 16])).collect();
    big.push(StableId([22; 16]));
    assert_eq!(events_of(&built, Some("big")), big);

    // Notification ids are distinct across lanes, and the body names its own id.
    let ids: HashSet<StableId> = built.iter().map(|n| n.id).collect();
    assert_eq!(ids.len(), built.len());
    for n in &built {
        let body = n.payload();
        assert_eq!(body["id"], n.id.to_string());
        assert_eq!(
            body["message"]["events"].as_array().map(Vec::len),
            Some(n.event_ids.len())
        );
    }
    assert_eq!(built.iter().filter(|n| n.lane() == "7001/big").count(), 2);
}

#[test]
fn a_filter_with_a_template_is_refused() {
    let err = SubscriptionFilter::new("x")
        .with_filter(clause("updated_at > '${date:yyyy-MM-dd}'"))
        .expect_err("a placeholder cannot be evaluated");
    assert!(err.to_string().contains("subscription x"), "{err}");
}
