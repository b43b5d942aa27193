//! Several subscriptions per instance end to end: beside the callback, each subscription is
//! sent exactly the events its filter lets through, signed with its own key, under notification
//! ids of its own and the callback's event ids; a replay to one of them re-sends only its
//! notifications; the API lists each lane and refuses a bad one at its JSON Pointer.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use pollen::demo::demo_instance;
use pollen::receiver::{ReceivedEvent, Receiver};
use pollen_sage_sim::Resource;
use serde_json::{json, Value};

use crate::serve::{receive, sim_receiver_service, AUTH};

/// (record id, event type) of each event, sorted.
fn kinds(events: &[ReceivedEvent]) -> Vec<(String, String)> {
    let mut out: Vec<_> = events
        .iter()
        .map(|e| (e.object_id.clone(), e.event_type.clone()))
        .collect();
    out.sort();
    out
}

fn customer(sim: &pollen_sage_sim::RunningSim, name: &str) -> String {
    sim.create(
        Resource::Contacts,
        &json!({"contact_types": [{"id": "CUSTOMER"}], "name": name}),
    )
    .expect("creating a customer")
    .id()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_subscriptions_with_different_filters_each_get_only_their_events() {
    let (sim, callback, mut callback_events, service) = sim_receiver_service(b"cb-key").await;
    let (created_only, mut created_events) = Receiver::start(b"key-a").await.expect("receiver a");
    let (acme_only, mut acme_events) = Receiver::start(b"key-b").await.expect("receiver b");
    let mut instance = demo_instance(&sim.handle(), &callback.url(), "cb-key").expect("json");
    instance["configuration"]["event.notification.subscriptions"] = json!([
        {"name": "created", "url": created_only.url(), "resources": ["customers"],
         "eventTypes": ["CREATED"], "signatureKey": "key-a"},
        {"name": "acme", "url": acme_only.url(), "where": "displayed_as LIKE 'Acme%'",
         "signatureKey": "key-b", "maxInFlight": 1},
    ]);
    let start = chrono::Utc::now().to_rfc3339();
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");
    assert!(!created.to_string().contains("key-a"), "{created}");

    // Records made before the instance never fire; these do.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let acme_one = customer(&sim, "Acme One");
    let bravo = customer(&sim, "Bravo");
    let acme_two = customer(&sim, "Acme Two");
    let all = receive(&mut callback_events, 3).await;
    assert_eq!(all.len(), 3, "{all:?}");
    sim.delete(Resource::Contacts, &acme_two).expect("deleting");
    sim.delete(Resource::Contacts, &bravo).expect("deleting");
    let mut all_events = all;
    all_events.extend(receive(&mut callback_events, 2).await);
    let created_got = receive(&mut created_events, 3).await;
    let acme_got = receive(&mut acme_events, 3).await;

    let kind = |id: &str, t: &str| (id.to_owned(), t.to_owned());
    let mut expect_all = vec![
        kind(&acme_one, "CREATED"),
        kind(&bravo, "CREATED"),
        kind(&acme_two, "CREATED"),
        kind(&acme_two, "DELETED"),
        kind(&bravo, "DELETED"),
    ];
    expect_all.sort();
    assert_eq!(
        kinds(&all_events),
        expect_all,
        "the callback gets every event"
    );
    let mut expect_created = vec![
        kind(&acme_one, "CREATED"),
        kind(&bravo, "CREATED"),
        kind(&acme_two, "CREATED"),
    ];
    expect_created.sort();
    assert_eq!(kinds(&created_got), expect_created, "eventTypes CREATED");
    // Acme's: its records' events, deletions included (Sage's deletion records carry
    // `displayed_as`, so Bravo's shows it does not match).
    let mut expect_acme = vec![
        kind(&acme_one, "CREATED"),
        kind(&acme_two, "CREATED"),
        kind(&acme_two, "DELETED"),
    ];
    expect_acme.sort();
    assert_eq!(
        kinds(&acme_got),
        expect_acme,
        "where displayed_as LIKE 'Acme%'"
    );

    // Each signed with its own key; the callback's event ids, notification ids of their own.
    let event_ids: HashMap<(String, String), String> = all_events
        .iter()
        .map(|e| {
            (
                (e.object_id.clone(), e.event_type.clone()),
                e.event_id.clone(),
            )
        })
        .collect();
    let callback_notes: BTreeSet<&str> = all_events
        .iter()
        .map(|e| e.notification_id.as_str())
        .collect();
    for event in all_events.iter().chain(&created_got).chain(&acme_got) {
        assert!(event.signature_valid, "bad signature: {event:?}");
    }
    for event in created_got.iter().chain(&acme_got) {
        assert_eq!(
            event_ids.get(&(event.object_id.clone(), event.event_type.clone())),
            Some(&event.event_id),
            "a subscription's event id differs from the callback's"
        );
        assert!(
            !callback_notes.contains(event.notification_id.as_str()),
            "a subscription reused a callback notification id"
        );
    }

    // Each lane listed with its counts, secrets masked.
    let path = format!("/instances/{id}/subscriptions");
    let (status, lanes) = service.call(reqwest::Method::GET, &path, AUTH, None).await;
    assert_eq!(status, 200, "{lanes}");
    let text = lanes.to_string();
    assert!(!text.contains("key-a") && !text.contains("key-b"), "{text}");
    let list = lanes["subscriptions"].as_array().expect("a list");
    let names: Vec<&Value> = list.iter().map(|l| &l["name"]).collect();
    assert_eq!(names, [&Value::Null, &json!("created"), &json!("acme")]);
    assert_eq!(list[1]["lane"], format!("{id}/created"));
    assert!(list.iter().all(|l| l["active"] == true), "{text}");
    for lane in list {
        assert_eq!(lane["notifications"]["pending"], 0, "{text}");
        assert!(
            lane["notifications"]["delivered"].as_u64() >= Some(1),
            "{text}"
        );
    }

    // A replay to one receiver re-sends its notifications, same ids, and nobody else's.
    let replay = format!("/instances/{id}/events/replay");
    let ids = |events: &[ReceivedEvent]| {
        let mut out: Vec<(String, String)> = events
            .iter()
            .map(|e| (e.notification_id.clone(), e.event_id.clone()))
            .collect();
        out.sort();
        out
    };
    let created_notes: BTreeSet<&str> = created_got
        .iter()
        .map(|e| e.notification_id.as_str())
        .collect();
    let (status, counted) = service
        .call(
            reqwest::Method::POST,
            &replay,
            AUTH,
            Some(&json!({"since": start, "subscription": "created", "preview": true})),
        )
        .await;
    assert_eq!(status, 200, "{counted}");
    assert_eq!(counted["count"], created_notes.len(), "{counted}");
    let (status, started) = service
        .call(
            reqwest::Method::POST,
            &replay,
            AUTH,
            Some(&json!({"since": start, "subscription": "created"})),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["subscription"], "created", "{started}");
    let again = receive(&mut created_events, created_got.len()).await;
    assert_eq!(ids(&again), ids(&created_got), "the replay to `created`");
    assert!(
        receive(&mut callback_events, 0).await.is_empty(),
        "the callback got a replay"
    );
    assert!(
        receive(&mut acme_events, 0).await.is_empty(),
        "acme got a replay"
    );
    // `callback` names the Open Connectors callback.
    let (status, started) = service
        .call(
            reqwest::Method::POST,
            &replay,
            AUTH,
            Some(&json!({"since": start, "subscription": "callback"})),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let again = receive(&mut callback_events, all_events.len()).await;
    assert_eq!(ids(&again), ids(&all_events), "the replay to the callback");
    assert!(
        receive(&mut created_events, 0).await.is_empty(),
        "`created` got a replay"
    );
    let (status, refused) = service
        .call(
            reqwest::Method::POST,
            &replay,
            AUTH,
            Some(&json!({"since": start, "subscription": "nobody"})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused.to_string().contains("subscription") && refused.to_string().contains("nobody"),
        "{refused}"
    );

    // A bad subscription is refused at its pointer, and nothing changes.
    let (status, refused) = service
        .call(
            reqwest::Method::PUT,
            &format!("{path}/created"),
            AUTH,
            Some(
                &json!({"url": created_only.url(), "eventTypes": ["MOVED"], "signatureKey": "***"}),
            ),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["problems"][0]["pointer"],
        "/configuration/event.notification.subscriptions/0/eventTypes/0",
        "{refused}"
    );
    // Removing one lists the rest.
    let (status, after) = service
        .call(reqwest::Method::DELETE, &format!("{path}/acme"), AUTH, None)
        .await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        after["subscriptions"].as_array().map(Vec::len),
        Some(2),
        "{after}"
    );
    let (status, _) = service
        .call(reqwest::Method::DELETE, &format!("{path}/acme"), AUTH, None)
        .await;
    assert_eq!(status, 404);

    // The delivery metrics carry the lane.
    let metrics = reqwest::get(service.metrics_url())
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let notes: BTreeSet<&str> = created_got
        .iter()
        .map(|e| e.notification_id.as_str())
        .collect();
    let line = format!(
        "pollen_subscription_notifications{{instance=\"{id}\",subscription=\"created\",status=\"delivered\"}} {}",
        notes.len()
    );
    assert!(metrics.contains(&line), "{line} not in {metrics}");
    assert!(
        metrics.contains(&format!(
            "pollen_subscription_active{{instance=\"{id}\",subscription=\"created\"}} 1"
        )),
        "{metrics}"
    );
}
