//! Lists: the envelope, paging, filters, attributes and order.

use pollen_sage_sim::{RecordOrder, Resource, SimConfig};
use serde_json::{json, Value};

use crate::{at, check, config, fixture_input, start, Api};

/// Each case of `list-cases.json` (a v3.1 path with a valid token) against its expected
/// response `lists/{name}.json`.
#[tokio::test]
async fn list_cases_match_their_fixtures() {
    let sim = start(config(7)).await;
    let api = Api::v31(&sim);
    let cases = fixture_input("list-cases.json");
    for case in cases.as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let reply = api.get(case["path"].as_str().expect("path")).await;
        check(&format!("lists/{name}.json"), &reply.fixture());
    }
}

/// One record of every resource with `attributes=all`: the realistic fields per resource.
#[tokio::test]
async fn every_resource_serves_realistic_records() {
    let sim = start(config(3)).await;
    let api = Api::v31(&sim);
    for resource in Resource::ALL {
        let reply = api
            .get(&format!("/{resource}?attributes=all&items_per_page=1"))
            .await;
        assert_eq!(reply.status, 200, "{resource}");
        let item = &reply.json()["$items"][0];
        for field in [
            "id",
            "displayed_as",
            "$path",
            "created_at",
            "updated_at",
            "deleted_at",
        ] {
            assert!(item.get(field).is_some(), "{resource} lacks {field}");
        }
        let created = item["created_at"].as_str().expect("created_at");
        assert_eq!(created.len(), 20, "{created}");
        assert!(created.ends_with('Z'));
        check(&format!("resources/{resource}.json"), item);
    }
}

#[tokio::test]
async fn walking_next_visits_every_record_once_then_stops() {
    let sim = start(config(30)).await;
    let api = Api::v31(&sim);
    let pages = api.walk("/contacts?items_per_page=7").await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [7, 7, 7, 7, 2]
    );
    let walked: Vec<String> = pages.concat();
    let stored: Vec<String> = sim
        .records(Resource::Contacts)
        .iter()
        .map(|record| record.id().to_owned())
        .collect();
    assert_eq!(walked, stored, "insertion order, each record once");

    let middle = api.get("/contacts?items_per_page=7&page=3").await.json();
    assert_eq!(middle["$page"], 3);
    assert_eq!(middle["$back"], "/contacts?page=2&items_per_page=7");
    assert_eq!(middle["$next"], "/contacts?page=4&items_per_page=7");
    assert_eq!(middle["$itemsPerPage"], 7);
    assert_eq!(middle["$total"], 30);
}

#[tokio::test]
async fn a_page_past_the_end_is_the_last_page_again() {
    let sim = start(config(10)).await;
    let api = Api::v31(&sim);
    let last = api.get("/contacts?items_per_page=4&page=3").await.json();
    assert_eq!(last["$next"], Value::Null);
    assert_eq!(last["$items"].as_array().map(Vec::len), Some(2));
    for page in [4, 99] {
        let past = api
            .get(&format!("/contacts?items_per_page=4&page={page}"))
            .await
            .json();
        assert_eq!(past, last, "page {page}");
    }
    sim.reseed(42, 0);
    let empty = api.get("/contacts?page=5").await.json();
    assert_eq!(
        empty,
        json!({"$total": 0, "$page": 1, "$next": null, "$back": null,
               "$itemsPerPage": 20, "$items": []})
    );
}

#[tokio::test]
async fn items_per_page_is_capped_at_200() {
    let sim = start(config(250)).await;
    let api = Api::v31(&sim);
    let full = api.get("/contacts?items_per_page=200").await;
    assert_eq!(full.ids().len(), 200);
    assert_eq!(api.get("/contacts").await.ids().len(), 20, "default 20");
    for bad in ["201", "0", "ten"] {
        let reply = api.get(&format!("/contacts?items_per_page={bad}")).await;
        assert_eq!(reply.status, 422, "{bad}");
        assert_eq!(reply.json()[0]["$source"], "items_per_page");
    }
    check(
        "errors/items_per_page_201.json",
        &api.get("/contacts?items_per_page=201").await.fixture(),
    );
}

#[tokio::test]
async fn updated_or_created_since_is_inclusive() {
    let sim = start(config(5)).await;
    let api = Api::v31(&sim);
    let created = sim
        .create(Resource::Contacts, &Value::Null)
        .expect("create");
    sim.advance_clock(std::time::Duration::from_secs(10));
    let updated = sim
        .update(
            Resource::Contacts,
            sim.records(Resource::Contacts)[0].id(),
            &json!({"notes": "x"}),
        )
        .expect("update");
    let ids = |reply: crate::Reply| reply.ids();
    assert_eq!(
        ids(api
            .get("/contacts?updated_or_created_since=2025-02-01T00:00:00Z")
            .await),
        [updated.id(), created.id()],
        "the same second is included; insertion order"
    );
    assert_eq!(
        ids(api
            .get("/contacts?updated_or_created_since=2025-02-01T01:00:00%2B01:00")
            .await),
        [updated.id(), created.id()],
        "offsets are accepted"
    );
    assert_eq!(
        ids(api
            .get("/contacts?updated_or_created_since=2025-02-01T00:00:01Z")
            .await),
        [updated.id()]
    );
    assert_eq!(
        ids(api
            .get("/contacts?updated_or_created_since=2025-02-01T00:00:11Z")
            .await),
        Vec::<String>::new()
    );
    let next = api
        .get("/contacts?updated_or_created_since=2025-02-01T00:00:00Z&items_per_page=1")
        .await
        .json();
    assert_eq!(
        next["$next"],
        "/contacts?page=2&items_per_page=1&updated_or_created_since=2025-02-01T00%3A00%3A00Z",
        "$next keeps the filter"
    );
    let bad = api
        .get("/contacts?updated_or_created_since=2025-02-01T00:00:00 01:00")
        .await;
    assert_eq!(bad.status, 422);
    check("errors/bad_updated_or_created_since.json", &bad.fixture());
}

#[tokio::test]
async fn deleted_since_is_exclusive_and_only_where_supported() {
    let sim = start(config(6)).await;
    let api = Api::v31(&sim);
    let victim = sim.records(Resource::Contacts)[2].id().to_owned();
    sim.advance_clock(std::time::Duration::from_secs(30));
    let deleted = sim.delete(Resource::Contacts, &victim).expect("delete");
    assert_eq!(deleted.deleted_at(), Some(at("2025-02-01T00:00:30Z")));

    let live = api.get("/contacts").await;
    assert_eq!(live.json()["$total"], 5);
    assert!(
        !live.ids().contains(&victim),
        "deleted records leave normal lists"
    );

    let before = api
        .get("/contacts?deleted_since=2025-02-01T00:00:29Z&attributes=deleted_at")
        .await
        .json();
    assert_eq!(before["$total"], 1);
    assert_eq!(before["$items"][0]["id"], victim.as_str());
    assert_eq!(before["$items"][0]["deleted_at"], "2025-02-01T00:00:30Z");
    let same_second = api
        .get("/contacts?deleted_since=2025-02-01T00:00:30Z")
        .await
        .json();
    assert_eq!(same_second["$total"], 0, "deleted_since is exclusive");

    // ledger_accounts has no deleted_since: the parameter is ignored, the live list answers.
    let ledger = sim.records(Resource::LedgerAccounts)[0].id().to_owned();
    sim.delete(Resource::LedgerAccounts, &ledger)
        .expect("delete ledger");
    let ignored = api
        .get("/ledger_accounts?deleted_since=2025-02-01T00:00:00Z")
        .await;
    assert_eq!(ignored.json()["$total"], 5);
    assert!(!ignored.ids().contains(&ledger));
    let tax = api.get("/tax_rates?deleted_since=not-a-date").await;
    assert_eq!(tax.status, 200, "ignored, so not even parsed");
}

#[tokio::test]
async fn an_update_mid_walk_shifts_later_pages() {
    // Insertion order with a since-filter: an old record updated mid-walk joins the result
    // before the current page, so the next page repeats a record and `$total` grows.
    let sim = start(config(4)).await;
    let api = Api::v31(&sim);
    for _ in 0..6 {
        sim.create(Resource::Contacts, &Value::Null)
            .expect("create");
    }
    let query = "/contacts?updated_or_created_since=2025-02-01T00:00:00Z&items_per_page=3";
    let first = api.get(query).await;
    assert_eq!(first.json()["$total"], 6);
    let oldest = sim.records(Resource::Contacts)[0].id().to_owned();
    sim.update(Resource::Contacts, &oldest, &Value::Null)
        .expect("update");
    let second = api.get(&format!("{query}&page=2")).await;
    assert_eq!(second.json()["$total"], 7);
    assert_eq!(
        second.ids()[0],
        first.ids()[2],
        "the last record of page 1 again"
    );

    // Update-moves-to-end order without a filter: records after the updated one slide back,
    // so the walk skips one.
    let sim = start(SimConfig {
        order: RecordOrder::UpdateMovesToEnd,
        ..config(6)
    })
    .await;
    let api = Api::v31(&sim);
    let before: Vec<String> = sim
        .records(Resource::Contacts)
        .iter()
        .map(|r| r.id().to_owned())
        .collect();
    let first = api.get("/contacts?items_per_page=3").await.ids();
    assert_eq!(first, before[..3]);
    sim.update(Resource::Contacts, &before[0], &Value::Null)
        .expect("update");
    let second = api.get("/contacts?items_per_page=3&page=2").await.ids();
    assert_eq!(
        second,
        [before[4].clone(), before[5].clone(), before[0].clone()]
    );
    assert!(
        !first.contains(&before[3]) && !second.contains(&before[3]),
        "skipped"
    );
}

#[tokio::test]
async fn contact_type_id_filters_customers_and_vendors() {
    let sim = start(config(40)).await;
    let api = Api::v31(&sim);
    let total = api.get("/contacts").await.json()["$total"]
        .as_u64()
        .expect("total");
    let mut sum = 0;
    for (filter, type_id) in [("CUSTOMER", "CUSTOMER"), ("VENDOR", "VENDOR")] {
        let reply = api
            .get(&format!(
                "/contacts?contact_type_id={filter}&attributes=contact_types&items_per_page=200"
            ))
            .await
            .json();
        let items = reply["$items"].as_array().expect("items");
        assert!(!items.is_empty(), "{filter}");
        for item in items {
            assert_eq!(item["contact_types"][0]["id"], type_id);
        }
        sum += reply["$total"].as_u64().expect("total");
    }
    assert_eq!(sum, total);
}

#[tokio::test]
async fn show_returns_the_full_record_until_deleted() {
    let sim = start(config(3)).await;
    let api = Api::v31(&sim);
    let record = sim.records(Resource::SalesInvoices)[1].clone();
    let reply = api.get(&format!("/sales_invoices/{}", record.id())).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), record.to_json());
    sim.delete(Resource::SalesInvoices, record.id())
        .expect("delete");
    let gone = api.get(&format!("/sales_invoices/{}", record.id())).await;
    assert_eq!(gone.status, 404);
    check("errors/not_found.json", &gone.fixture());
    assert_eq!(api.get("/customers").await.status, 404, "unknown resource");
}

#[tokio::test]
async fn x_business_must_be_the_users_business() {
    let sim = start(config(2)).await;
    let api = Api::v31(&sim);
    let own = send_with(&api, "X-Business", sim.resource_owner_id()).await;
    assert_eq!(own.status, 200);
    let other = send_with(&api, "X-Business", "someone-else").await;
    assert_eq!(other.status, 403);
    assert_eq!(other.json()[0]["$source"], "X-Business");
}

async fn send_with(api: &Api, name: &str, value: &str) -> crate::Reply {
    crate::send(api.request("/contacts").header(name, value)).await
}
