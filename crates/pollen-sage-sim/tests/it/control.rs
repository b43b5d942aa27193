//! The rest of the control API: health, records, tokens.

use pollen_sage_sim::Resource;
use serde_json::json;

use crate::{config, http, send, start, Api};

#[tokio::test]
async fn control_api_health_records_and_tokens() {
    let sim = start(config(3)).await;
    let base = format!("{}/_sim", sim.base_url());
    assert_eq!(
        send(http().get(format!("{base}/health"))).await.json(),
        json!({"ok": true})
    );

    let all = send(http().get(format!("{base}/records/contacts")))
        .await
        .json();
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    let id = sim.records(Resource::Contacts)[1].id().to_owned();
    let one = send(http().get(format!("{base}/records/contacts/{id}")))
        .await
        .json();
    assert_eq!(one["$resource"], "contacts");
    assert_eq!(one["id"], id.as_str());

    let tokens = send(
        http()
            .post(format!("{base}/auth/tokens"))
            .json(&json!({"version": "v3"})),
    )
    .await
    .json();
    assert_eq!(tokens["resource_owner_id"], sim.resource_owner_id());
    let api = Api {
        token: tokens["access_token"].as_str().expect("token").to_owned(),
        ..Api::v3(&sim, "fr")
    };
    assert_eq!(api.get("/contacts").await.status, 200);

    let code = send(http().post(format!("{base}/auth/code"))).await.json();
    let exchanged = send(http().post(sim.token_url()).form(&[
        ("grant_type", "authorization_code"),
        ("code", code["code"].as_str().expect("code")),
    ]))
    .await;
    assert!(
        exchanged.json()["requested_by_id"].is_string(),
        "v3.1 by default"
    );
    let bad_version = send(
        http()
            .post(format!("{base}/auth/code"))
            .json(&json!({"version": "v2"})),
    )
    .await;
    assert_eq!(
        bad_version.json()["error"],
        "`version` must be \"v3\" or \"v3.1\", not `v2`"
    );

    send(http().post(format!("{base}/auth/revoke-all"))).await;
    assert_eq!(api.get("/contacts").await.status, 401);
}
