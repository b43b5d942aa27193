//! Fault injection, each kind over real HTTP.

use std::time::{Duration, Instant};

use pollen_sage_sim::{ApiVersion, Fault, FaultKind};
use serde_json::json;

use crate::{check, config, http, send, start, Api};

/// Each status fault of `fault-cases.json`: the next request gets it, the one after is fine.
#[tokio::test]
async fn status_faults_answer_in_sages_shape_once() {
    let sim = start(config(2)).await;
    let api = Api::v31(&sim);
    let control = format!("{}/_sim/faults", sim.base_url());
    let cases = crate::fixture_input("fault-cases.json");
    for case in cases.as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let added = send(http().post(&control).json(&case["fault"])).await;
        assert_eq!(added.status, 201, "{name}: {}", added.body);
        let reply = api.get("/contacts").await;
        let retry_after = reply.header("retry-after").map(str::to_owned);
        check(
            &format!("faults/{name}.json"),
            &json!({"status": reply.status, "retry_after": retry_after, "body": reply.json()}),
        );
        assert_eq!(
            api.get("/contacts").await.status,
            200,
            "{name}: only the next request"
        );
    }
}

#[tokio::test]
async fn next_n_fails_exactly_n_requests() {
    let sim = start(config(2)).await;
    let api = Api::v31(&sim);
    sim.inject(Fault::next(FaultKind::ServiceUnavailable, 3))
        .expect("inject");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(api.get("/contacts").await.status);
    }
    assert_eq!(statuses, [503, 503, 503, 200, 200]);
    assert!(sim.faults().is_empty());
}

#[tokio::test]
async fn probability_faults_are_seeded_and_can_target_a_path() {
    async fn pattern(seed: u64) -> Vec<u16> {
        let sim = start(config(2)).await;
        let api = Api::v31(&sim);
        sim.inject(
            Fault::probability(FaultKind::InternalServerError, 0.5, seed)
                .on_path_prefix("/v3.1/contacts"),
        )
        .expect("inject");
        assert_eq!(
            api.get("/products").await.status,
            200,
            "other paths untouched"
        );
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(api.get("/contacts").await.status);
        }
        statuses
    }
    let first = pattern(11).await;
    assert_eq!(first, pattern(11).await, "same seed, same failures");
    let failures = first.iter().filter(|status| **status == 500).count();
    assert!((5..=35).contains(&failures), "{failures} of 40");
    assert!(first.iter().all(|status| matches!(status, 200 | 500)));
}

#[tokio::test]
async fn slow_responses_wait_then_answer() {
    let sim = start(config(2)).await;
    let api = Api::v31(&sim);
    sim.inject(Fault::next(
        FaultKind::Slow {
            delay: Duration::from_millis(300),
        },
        1,
    ))
    .expect("inject");
    let started = Instant::now();
    let reply = api.get("/contacts").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["$total"], 2);
}

#[tokio::test]
async fn malformed_json_is_a_200_that_does_not_parse() {
    let sim = start(config(5)).await;
    let api = Api::v31(&sim);
    sim.inject(Fault::next(FaultKind::MalformedJson, 1))
        .expect("inject");
    let reply = api.get("/contacts?attributes=all").await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .expect("type")
        .starts_with("application/json"));
    assert!(reply.body.starts_with("{\"$total\":5"));
    assert!(serde_json::from_str::<serde_json::Value>(&reply.body).is_err());
}

#[tokio::test]
async fn dropped_connections_get_no_response() {
    let sim = start(config(2)).await;
    let api = Api::v31(&sim);
    sim.inject(Fault::next(FaultKind::DropConnection, 1))
        .expect("inject");
    let err = api
        .request("/contacts")
        .send()
        .await
        .expect_err("connection dropped");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err}"
    );
    assert_eq!(
        api.get("/contacts").await.status,
        200,
        "the next connection works"
    );
    assert_eq!(sim.request_counts().get("GET /v3.1/contacts", 0), 1);
}

#[tokio::test]
async fn token_revocation_needs_a_refresh() {
    let sim = start(config(2)).await;
    let tokens = sim.issue_tokens(ApiVersion::V31);
    let api = Api {
        token: tokens.access_token.clone(),
        ..Api::v31(&sim)
    };
    sim.inject(Fault::next(FaultKind::RevokeToken, 1))
        .expect("inject");
    let revoked = api.get("/contacts").await;
    assert_eq!(revoked.status, 401);
    assert_eq!(revoked.json()[0]["$dataCode"], "AuthorizationFailure");
    assert_eq!(
        api.get("/contacts").await.status,
        401,
        "the token stays revoked"
    );
    let refreshed = send(http().post(sim.token_url()).form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens.refresh_token.as_str()),
    ]))
    .await;
    assert_eq!(refreshed.status, 200);
    let fresh = Api {
        token: refreshed.json()["access_token"]
            .as_str()
            .expect("token")
            .to_owned(),
        ..Api::v31(&sim)
    };
    assert_eq!(fresh.get("/contacts").await.status, 200);
}

#[tokio::test]
async fn bad_fault_specs_are_refused_with_the_reason() {
    let sim = start(config(1)).await;
    let control = format!("{}/_sim/faults", sim.base_url());
    for (spec, message) in [
        (
            json!({"kind": "meteor", "next": 1}),
            "bad fault: unknown fault kind `meteor`",
        ),
        (
            json!({"kind": "slow", "next": 1}),
            "bad fault: `delay_ms` (a non-negative integer) is required for `slow`",
        ),
        (
            json!({"kind": "drop_connection"}),
            "bad fault: give exactly one of `next` and `probability`",
        ),
        (
            json!({"kind": "drop_connection", "probability": 2.0}),
            "fault probability must be between 0 and 1, not 2",
        ),
    ] {
        let reply = send(http().post(&control).json(&spec)).await;
        assert_eq!(reply.status, 400, "{spec}");
        assert_eq!(reply.json()["error"], message, "{spec}");
    }
    let listed = send(http().post(&control).json(&json!({"kind": "slow", "delay_ms": 5, "probability": 0.25, "seed": 3, "path_prefix": "/v3.1/"}))).await;
    assert_eq!(listed.status, 201);
    let all = send(http().get(&control)).await.json();
    assert_eq!(
        all,
        json!([{"kind": "slow", "delay_ms": 5, "probability": 0.25, "seed": 3, "path_prefix": "/v3.1/"}])
    );
    send(http().delete(&control)).await;
    assert!(sim.faults().is_empty());
}
