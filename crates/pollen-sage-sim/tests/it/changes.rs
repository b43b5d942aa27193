//! The change log and deterministic seeding.

use std::time::Duration;

use pollen_sage_sim::{ChangeKind, Resource, SimErrorKind};
use serde_json::{json, Value};

use crate::{at, config, http, send, start, t0, Api};

#[tokio::test]
async fn every_change_is_logged_with_the_sim_clock() {
    let sim = start(config(3)).await;
    assert!(
        sim.changes().is_empty(),
        "seeding is the initial state, not a change"
    );
    let created = sim
        .create(
            Resource::Contacts,
            &json!({"name": "Acme Ltd", "reference": "ACM1"}),
        )
        .expect("create");
    assert_eq!(created.displayed_as(), "Acme Ltd (ACM1)");
    assert_eq!(created.created_at(), t0());
    sim.advance_clock(Duration::from_secs(5));
    let updated = sim
        .update(
            Resource::Contacts,
            created.id(),
            &json!({"name": "Acme Group"}),
        )
        .expect("update");
    assert_eq!(updated.displayed_as(), "Acme Group (ACM1)");
    assert_eq!(updated.created_at(), t0());
    assert_eq!(updated.updated_at(), at("2025-02-01T00:00:05Z"));
    sim.advance_clock(Duration::from_secs(5));
    let deleted = sim
        .delete(Resource::Contacts, created.id())
        .expect("delete");

    let log: Vec<(u64, ChangeKind, Resource, String, String)> = sim
        .changes()
        .into_iter()
        .map(|c| (c.seq, c.kind, c.resource, c.id, c.at.to_rfc3339()))
        .collect();
    let id = created.id().to_owned();
    assert_eq!(
        log,
        [
            (
                1,
                ChangeKind::Created,
                Resource::Contacts,
                id.clone(),
                "2025-02-01T00:00:00+00:00".into()
            ),
            (
                2,
                ChangeKind::Updated,
                Resource::Contacts,
                id.clone(),
                "2025-02-01T00:00:05+00:00".into()
            ),
            (
                3,
                ChangeKind::Deleted,
                Resource::Contacts,
                id.clone(),
                "2025-02-01T00:00:10+00:00".into()
            ),
        ]
    );
    assert_eq!(deleted.deleted_at(), Some(sim.changes()[2].at));
    assert_eq!(sim.changes_since(2).len(), 1);

    let err = sim
        .update(Resource::Contacts, &id, &Value::Null)
        .expect_err("deleted");
    assert_eq!(err.kind(), SimErrorKind::NotFound);
    let err = sim
        .update(
            Resource::Contacts,
            sim.records(Resource::Contacts)[0].id(),
            &json!({"updated_at": "x"}),
        )
        .expect_err("reserved");
    assert_eq!(err.kind(), SimErrorKind::InvalidRecord);
    assert_eq!(sim.changes().len(), 3, "failed changes are not logged");
}

#[tokio::test]
async fn the_control_api_changes_records_and_reads_the_log() {
    let sim = start(config(2)).await;
    let base = format!("{}/_sim", sim.base_url());
    let created = send(
        http()
            .post(format!("{base}/records/products"))
            .json(&json!({"description": "Anvil"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let created = created.json();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["description"], "Anvil");
    assert_eq!(created["created_at"], "2025-02-01T00:00:00Z");

    let updated = send(
        http()
            .put(format!("{base}/records/products/{id}"))
            .json(&json!({"cost_price": "9.99"})),
    )
    .await;
    assert_eq!(updated.json()["cost_price"], "9.99");
    let deleted = send(http().delete(format!("{base}/records/products/{id}"))).await;
    assert_eq!(deleted.json()["deleted_at"], "2025-02-01T00:00:00Z");

    let log = send(http().get(format!("{base}/changes"))).await.json();
    let kinds: Vec<&str> = log
        .as_array()
        .expect("log")
        .iter()
        .map(|c| c["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["CREATED", "UPDATED", "DELETED"]);
    assert_eq!(
        log[0],
        json!({"seq": 1, "kind": "CREATED", "resource": "products", "id": id, "at": "2025-02-01T00:00:00Z"})
    );
    let tail = send(http().get(format!("{base}/changes?since=2")))
        .await
        .json();
    assert_eq!(tail.as_array().map(Vec::len), Some(1));

    let api = Api::v31(&sim);
    let deleted = api
        .get("/products?deleted_since=2025-01-31T23:59:59Z")
        .await;
    assert_eq!(deleted.ids(), std::slice::from_ref(&id));

    let missing = send(
        http()
            .put(format!("{base}/records/products/{id}"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["error"],
        format!("no live products record with id `{id}`")
    );
    let reserved = send(
        http()
            .post(format!("{base}/records/contacts"))
            .json(&json!({"$path": "/x"})),
    )
    .await;
    assert_eq!(reserved.status, 400);
    let unknown = send(http().post(format!("{base}/records/customers"))).await;
    assert_eq!(unknown.json()["error"], "unknown resource `customers`");
    let bad_json = send(
        http()
            .post(format!("{base}/records/contacts"))
            .body("{nope"),
    )
    .await;
    assert_eq!(bad_json.status, 400);
    assert!(bad_json.json()["error"]
        .as_str()
        .expect("error")
        .starts_with("request body is not JSON"));
}

#[tokio::test]
async fn the_same_seed_gives_the_same_records() {
    let one = start(config(12)).await;
    let two = start(config(12)).await;
    let dump = |sim: &pollen_sage_sim::RunningSim| {
        Resource::ALL
            .iter()
            .flat_map(|resource| sim.records(*resource))
            .map(|record| record.to_json())
            .collect::<Vec<Value>>()
    };
    assert_eq!(dump(&one), dump(&two));
    // Records created afterwards get the same ids too.
    let a = one
        .create(Resource::Journals, &Value::Null)
        .expect("create");
    let b = two
        .create(Resource::Journals, &Value::Null)
        .expect("create");
    assert_eq!(a.to_json(), b.to_json());

    two.reseed(13, 12);
    assert_ne!(dump(&one), dump(&two));
    assert!(two.changes().is_empty(), "re-seeding clears the log");
    let reseeded = send(
        http()
            .post(format!("{}/_sim/seed", two.base_url()))
            .json(&json!({"seed": 42, "records": 12})),
    )
    .await;
    assert_eq!(reseeded.status, 200);
    let mut expected = dump(&one);
    expected.retain(|record| record["displayed_as"] != a.displayed_as());
    assert_eq!(dump(&two), expected);
}
