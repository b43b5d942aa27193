//! Several businesses per user: separate records picked by `X-Business` / `X-Site`, the lead
//! business by default, Sage's `GET /businesses` in both generations, and the control API.

use pollen_sage_sim::{v3_signature, Resource, SimConfig, SimErrorKind, Simulator};
use serde_json::json;

use crate::{check, config, http, send, start, Api};

fn three() -> SimConfig {
    SimConfig {
        businesses: 3,
        ..config(4)
    }
}

#[tokio::test]
async fn each_business_has_its_own_records_and_the_lead_keeps_todays() {
    let sim = start(three()).await;
    let single = start(config(4)).await;
    let businesses = sim.businesses();
    assert_eq!(businesses.len(), 3);
    assert!(businesses[0].is_lead() && !businesses[1].is_lead());
    assert_eq!(businesses[0].id(), sim.resource_owner_id());
    // The lead business is what a one-business simulator with the same seed serves.
    assert_eq!(sim.resource_owner_id(), single.resource_owner_id());
    let api = Api::v31(&sim);
    let lead = api.get("/contacts?attributes=all").await.json();
    assert_eq!(
        lead,
        Api::v31(&single)
            .get("/contacts?attributes=all")
            .await
            .json()
    );
    let lead_ids: Vec<String> = lead["$items"]
        .as_array()
        .expect("$items")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(lead_ids.len(), 4);
    let mut seen = vec![lead_ids];
    for business in &businesses[1..] {
        let picked = Api {
            headers: vec![("X-Business", business.id().to_owned())],
            ..Api::v31(&sim)
        };
        let reply = picked.get("/contacts").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let ids = reply.ids();
        assert_eq!(ids.len(), 4);
        let own: Vec<String> = business
            .records(Resource::Contacts)
            .iter()
            .map(|r| r.id().to_owned())
            .collect();
        assert_eq!(ids, own);
        for other in &seen {
            assert!(ids.iter().all(|id| !other.contains(id)), "shared records");
        }
        seen.push(ids);
    }
    // The same config gives the same businesses and records.
    let again = start(three()).await;
    let ids = |sim: &pollen_sage_sim::SimHandle| -> Vec<(String, String)> {
        sim.businesses()
            .iter()
            .map(|b| {
                (
                    b.id().to_owned(),
                    b.records(Resource::Products)[0].id().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(ids(&sim), ids(&again));
}

#[tokio::test]
async fn changes_land_in_the_chosen_business_only() {
    let sim = start(three()).await;
    let second = sim.businesses()[1].clone();
    let created = second
        .create(Resource::Contacts, &json!({"name": "Second Ltd"}))
        .expect("created");
    assert_eq!(second.changes().len(), 1);
    assert!(sim.changes().is_empty(), "the lead's log is untouched");
    assert!(sim.record(Resource::Contacts, created.id()).is_none());
    let api = Api::v31(&sim);
    assert_eq!(
        api.get(&format!("/contacts/{}", created.id())).await.status,
        404
    );
    let picked = Api {
        headers: vec![("X-Business", second.id().to_owned())],
        ..Api::v31(&sim)
    };
    assert_eq!(
        picked
            .get(&format!("/contacts/{}", created.id()))
            .await
            .status,
        200
    );
    second
        .delete(Resource::Contacts, created.id())
        .expect("deleted");
    let deleted = picked
        .get("/contacts?deleted_since=2025-01-31T00:00:00Z")
        .await;
    assert_eq!(deleted.ids(), vec![created.id().to_owned()]);
    assert!(api
        .get("/contacts?deleted_since=2025-01-31T00:00:00Z")
        .await
        .ids()
        .is_empty());
    assert!(sim.business("not-a-business").is_none());
    assert_eq!(
        sim.business(second.id()).map(|b| b.name().to_owned()),
        Some(second.name().to_owned())
    );
    // Re-seeding resets every business.
    sim.reseed(42, 4);
    assert!(second.changes().is_empty());
    assert!(second.record(Resource::Contacts, created.id()).is_none());
}

#[tokio::test]
async fn an_unknown_business_is_refused_as_before() {
    let sim = start(three()).await;
    let unknown = Api {
        headers: vec![("X-Business", "0000".to_owned())],
        ..Api::v31(&sim)
    };
    let reply = unknown.get("/contacts").await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()[0]["$source"], "X-Business");
    let v3 = Api {
        headers: vec![
            ("Ocp-Apim-Subscription-Key", "k".to_owned()),
            ("X-Site", "0000".to_owned()),
        ],
        ..Api::v3(&sim, "uki")
    };
    let reply = v3.get("/contacts").await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()[0]["$source"], "X-Site");
    // v3 picks a business with X-Site.
    let third = sim.businesses()[2].clone();
    let v3 = Api {
        headers: vec![
            ("Ocp-Apim-Subscription-Key", "k".to_owned()),
            ("X-Site", third.id().to_owned()),
        ],
        ..Api::v3(&sim, "uki")
    };
    let own: Vec<String> = third
        .records(Resource::Contacts)
        .iter()
        .map(|r| r.id().to_owned())
        .collect();
    assert_eq!(v3.get("/contacts").await.ids(), own);
}

#[tokio::test]
async fn businesses_are_listed_in_sages_shape() {
    let sim = start(three()).await;
    let api = Api::v31(&sim);
    let list = api.get("/businesses").await;
    assert_eq!(list.status, 200, "{}", list.body);
    check("businesses/list.json", &list.fixture());
    let body = list.json();
    let ids: Vec<&str> = body["$items"]
        .as_array()
        .expect("$items")
        .iter()
        .map(|b| b["id"].as_str().expect("id"))
        .collect();
    let expected: Vec<String> = sim.businesses().iter().map(|b| b.id().to_owned()).collect();
    assert_eq!(ids, expected);
    assert_eq!(body["$items_per_page"], 2_147_483_647u64);
    let lead = api.get("/businesses/lead").await;
    check("businesses/lead.json", &lead.fixture());
    assert_eq!(lead.json()["id"], sim.resource_owner_id());
    let second = &expected[1];
    let one = api.get(&format!("/businesses/{second}")).await.json();
    assert_eq!(one["name"], sim.businesses()[1].name());
    assert_eq!(api.get("/businesses/nope").await.status, 404);
    let all = api.get("/businesses?attributes=all").await.json();
    assert_eq!(all["$items"][1], one);
    // Without a token, Sage's 401.
    let anonymous = send(http().get(format!("{}/businesses", sim.v31_base_url()))).await;
    assert_eq!(anonymous.status, 401);

    // v3: the core API, subscription key required, X-Site not.
    let core = format!("{}/uki/sageone/core/v3", sim.base_url());
    let v3 = Api {
        base: core.clone(),
        headers: vec![("Ocp-Apim-Subscription-Key", "k".to_owned())],
        ..Api::v3(&sim, "uki")
    };
    let listed = v3.get("/businesses").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json(), body);
    assert_eq!(v3.get("/businesses/lead").await.json(), lead.json());
    let no_key = Api {
        headers: Vec::new(),
        ..Api::v3(&sim, "uki")
    };
    let refused = send(
        no_key
            .http
            .get(format!("{core}/businesses"))
            .bearer_auth(&no_key.token),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()[0]["$dataCode"], "HeaderNotFound");
    assert_eq!(
        send(http().get(format!("{}/gb/sageone/core/v3/businesses", sim.base_url())))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn v3_signatures_are_checked_for_the_business_in_x_site() {
    let sim = start(SimConfig {
        verify_signatures: true,
        signing_secret: "TestSigningSecret".into(),
        ..three()
    })
    .await;
    let second = sim.businesses()[1].id().to_owned();
    let api = Api {
        headers: vec![
            ("Ocp-Apim-Subscription-Key", "k".to_owned()),
            ("X-Site", second.clone()),
        ],
        ..Api::v3(&sim, "uki")
    };
    let url = format!("{}/contacts", api.base);
    let nonce = "d6657d14f6d3d9de453ff4b0dc686c6d";
    let signed_for = |site: &str| {
        let signature = v3_signature(
            "GET",
            &url,
            b"",
            nonce,
            site,
            "TestSigningSecret",
            &api.token,
        )
        .expect("absolute url");
        api.request("/contacts")
            .header("X-Signature", signature)
            .header("X-Nonce", nonce)
    };
    let good = send(signed_for(&second)).await;
    assert_eq!(good.status, 200, "{}", good.body);
    let for_the_lead = send(signed_for(sim.resource_owner_id())).await;
    assert_eq!(for_the_lead.status, 401, "signed for another business");
}

#[tokio::test]
async fn the_control_api_takes_a_business() {
    let sim = start(three()).await;
    let client = http();
    let base = format!("{}/_sim", sim.base_url());
    let listed = send(client.get(format!("{base}/businesses"))).await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    assert_eq!(listed[0]["lead"], true);
    assert_eq!(listed[0]["id"], sim.resource_owner_id());
    let second = listed[1]["id"].as_str().expect("id").to_owned();
    let created = send(
        client
            .post(format!("{base}/records/contacts?business={second}"))
            .json(&json!({"name": "Via HTTP"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let business = sim.business(&second).expect("the second business");
    assert!(business.record(Resource::Contacts, &id).is_some());
    assert!(sim.record(Resource::Contacts, &id).is_none());
    let lead_view = send(client.get(format!("{base}/records/contacts/{id}"))).await;
    assert_eq!(lead_view.status, 404);
    let there = send(client.get(format!("{base}/records/contacts/{id}?business={second}"))).await;
    assert_eq!(there.status, 200);
    let updated = send(
        client
            .put(format!("{base}/records/contacts/{id}?business={second}"))
            .json(&json!({"notes": "edited"})),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let changes = send(client.get(format!("{base}/changes?business={second}")))
        .await
        .json();
    assert_eq!(changes.as_array().map(Vec::len), Some(2));
    assert_eq!(
        send(client.get(format!("{base}/changes"))).await.json(),
        json!([])
    );
    let deleted =
        send(client.delete(format!("{base}/records/contacts/{id}?business={second}"))).await;
    assert_eq!(deleted.status, 200);
    let records = send(client.get(format!("{base}/records/contacts?business={second}")))
        .await
        .json();
    assert_eq!(records.as_array().map(Vec::len), Some(5));
    let unknown = send(client.get(format!("{base}/records/contacts?business=nope"))).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.json()["error"],
        "`business`: the user has no business `nope`"
    );
}

#[tokio::test]
async fn the_number_of_businesses_is_checked() {
    for businesses in [0, 101] {
        let error = Simulator::start(
            "127.0.0.1:0".parse().expect("address"),
            SimConfig {
                businesses,
                ..SimConfig::default()
            },
        )
        .await
        .expect_err("refused");
        assert_eq!(error.kind(), SimErrorKind::InvalidConfig);
        assert_eq!(
            error.to_string(),
            format!("businesses must be between 1 and 100, not {businesses}")
        );
    }
}
