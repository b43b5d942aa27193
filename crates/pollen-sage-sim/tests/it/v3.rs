//! Generation v3: region paths, APIM headers, signatures.

use pollen_sage_sim::{v3_signature, Resource, SimConfig};

use crate::{check, config, start, Api};

#[tokio::test]
async fn v3_serves_the_same_records_with_its_headers() {
    let sim = start(config(5)).await;
    let v3 = Api::v3(&sim, "uki");
    let v31 = Api::v31(&sim);
    let ok = v3.get("/contacts?attributes=all").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json(), v31.get("/contacts?attributes=all").await.json());
    let id = sim.records(Resource::Products)[0].id().to_owned();
    assert_eq!(v3.get(&format!("/products/{id}")).await.status, 200);

    for region in ["us", "ca", "de", "es", "fr"] {
        assert_eq!(
            Api::v3(&sim, region).get("/contacts").await.status,
            200,
            "{region}"
        );
    }
    assert_eq!(
        Api::v3(&sim, "gb").get("/contacts").await.status,
        404,
        "gb is `uki`"
    );

    let no_key = Api {
        headers: vec![("X-Site", sim.resource_owner_id().to_owned())],
        ..Api::v3(&sim, "uki")
    };
    check(
        "errors/v3_missing_subscription_key.json",
        &no_key.get("/contacts").await.fixture(),
    );
    let no_site = Api {
        headers: vec![("Ocp-Apim-Subscription-Key", "k".to_owned())],
        ..Api::v3(&sim, "uki")
    };
    check(
        "errors/v3_missing_x_site.json",
        &no_site.get("/contacts").await.fixture(),
    );
    let other_site = Api {
        headers: vec![
            ("Ocp-Apim-Subscription-Key", "k".to_owned()),
            ("X-Site", "0000".to_owned()),
        ],
        ..Api::v3(&sim, "uki")
    };
    assert_eq!(other_site.get("/contacts").await.status, 403);
}

#[tokio::test]
async fn the_endpoints_v3_lacks_answer_404_there_and_200_on_v31() {
    let sim = start(config(5)).await;
    let v3 = Api::v3(&sim, "uki");
    let v31 = Api::v31(&sim);
    for resource in Resource::ALL {
        let list = format!("/{}", resource.name());
        let id = sim.records(resource)[0].id().to_owned();
        let show = format!("{list}/{id}");
        let expected = if resource.in_v3() { 200 } else { 404 };
        assert_eq!(v3.get(&list).await.status, expected, "v3 {list}");
        assert_eq!(v3.get(&show).await.status, expected, "v3 {show}");
        assert_eq!(v31.get(&list).await.status, 200, "v3.1 {list}");
    }
    let lacking: Vec<&str> = Resource::ALL
        .iter()
        .filter(|r| !r.in_v3())
        .map(|r| r.name())
        .collect();
    assert_eq!(lacking, ["analysis_types", "analysis_type_categories"]);
}

#[tokio::test]
async fn a_configured_subscription_key_must_match() {
    let sim = start(SimConfig {
        subscription_key: Some("primary".into()),
        ..config(1)
    })
    .await;
    let mut api = Api::v3(&sim, "us");
    let wrong = api.get("/contacts").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()[0]["$dataCode"], "InvalidSubscriptionKey");
    api.headers[0].1 = "primary".into();
    assert_eq!(api.get("/contacts").await.status, 200);
}

#[tokio::test]
async fn signatures_are_verified_when_turned_on() {
    let sim = start(SimConfig {
        verify_signatures: true,
        signing_secret: "TestSigningSecret".into(),
        ..config(3)
    })
    .await;
    let api = Api::v3(&sim, "uki");
    let path = "/contacts?items_per_page=2&attributes=name,email";
    let url = format!("{}{path}", api.base);
    let nonce = "d6657d14f6d3d9de453ff4b0dc686c6d";
    let sign = |url: &str, secret: &str| {
        v3_signature(
            "GET",
            url,
            b"",
            nonce,
            sim.resource_owner_id(),
            secret,
            &api.token,
        )
        .expect("absolute url")
    };
    let signed = |signature: String| {
        api.request(path)
            .header("X-Signature", signature)
            .header("X-Nonce", nonce)
    };
    let good = crate::send(signed(sign(&url, "TestSigningSecret"))).await;
    assert_eq!(good.status, 200, "{}", good.body);

    let wrong_secret = crate::send(signed(sign(&url, "other"))).await;
    assert_eq!(wrong_secret.status, 401);
    check("errors/v3_bad_signature.json", &wrong_secret.fixture());
    let other_query = crate::send(signed(sign(
        &url.replace("items_per_page=2", "items_per_page=3"),
        "TestSigningSecret",
    )))
    .await;
    assert_eq!(other_query.status, 401, "the query is signed");
    let unsigned = api.get(path).await;
    assert_eq!(unsigned.status, 401);
    assert_eq!(unsigned.json()[0]["$source"], "X-Signature");
}
