//! Request counters per endpoint and status.

use pollen_sage_sim::{Fault, FaultKind, Resource};
use serde_json::json;

use crate::{config, http, send, start, Api};

#[tokio::test]
async fn requests_are_counted_per_endpoint_and_status() {
    let sim = start(config(2)).await;
    let api = Api::v31(&sim);
    let v3 = Api::v3(&sim, "de");
    let id = sim.records(Resource::Contacts)[0].id().to_owned();
    api.get("/contacts").await;
    api.get("/contacts?page=2").await;
    api.get("/contacts?items_per_page=500").await;
    api.get(&format!("/contacts/{id}")).await;
    v3.get("/journals").await;
    sim.inject(Fault::next(
        FaultKind::TooManyRequests { retry_after: None },
        1,
    ))
    .expect("inject");
    api.get("/contacts").await;
    send(http().get(format!("{}/_sim/health", sim.base_url()))).await;

    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /v3.1/contacts", 200), 2);
    assert_eq!(counts.get("GET /v3.1/contacts", 422), 1);
    assert_eq!(counts.get("GET /v3.1/contacts", 429), 1);
    assert_eq!(counts.endpoint_total("GET /v3.1/contacts"), 4);
    assert_eq!(counts.get("GET /v3.1/contacts/{id}", 200), 1);
    assert_eq!(counts.get("GET /de/sageone/accounts/v3/journals", 200), 1);
    assert_eq!(counts.total(), 6, "control requests are not counted");

    let over_http = send(http().get(format!("{}/_sim/counters", sim.base_url())))
        .await
        .json();
    assert_eq!(over_http.as_array().map(Vec::len), Some(5));
    assert!(over_http
        .as_array()
        .expect("rows")
        .contains(&json!({"endpoint": "GET /v3.1/contacts", "status": 429, "count": 1})));
    send(http().delete(format!("{}/_sim/counters", sim.base_url()))).await;
    assert_eq!(sim.request_counts().total(), 0);
}
