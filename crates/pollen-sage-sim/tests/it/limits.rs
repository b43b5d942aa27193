//! The per-business rate limit and the calls counted per business.

use pollen_sage_sim::{ApiVersion, Fault, FaultKind, SimConfig};
use serde_json::json;

use crate::{config, http, send, start, Api, Reply};

fn limited(limit: u32) -> SimConfig {
    SimConfig {
        rate_limit: Some(limit),
        ..config(2)
    }
}

/// A 429 from the limit: `Retry-After` of 1 to 60 s and the body of an injected 429.
fn assert_limited(reply: &Reply) {
    assert_eq!(reply.status, 429, "{}", reply.body);
    let retry_after: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let expected = crate::fixture_input("faults/too_many_requests.json");
    assert_eq!(reply.json(), expected["body"]);
    assert!(reply.header("date").is_some());
}

#[tokio::test]
async fn calls_over_the_limit_get_429_and_are_not_counted() {
    let sim = start(limited(5)).await;
    assert_eq!(sim.rate_limit(), Some(5));
    let api = Api::v31(&sim);
    for n in 1..=5 {
        let reply = api.get("/contacts").await;
        assert_eq!(reply.status, 200, "call {n}: {}", reply.body);
    }
    assert_limited(&api.get("/contacts").await);

    let calls = sim.business_calls(sim.resource_owner_id());
    assert_eq!(calls.business, sim.resource_owner_id());
    assert_eq!((calls.accepted, calls.rejected), (5, 1));
    assert_eq!(calls.max_in_any_minute, 5);
    assert_eq!(calls.per_minute, [5]);
    assert_eq!(sim.request_counts().get("GET /v3.1/contacts", 429), 1);
    assert_eq!(sim.request_log().last().map(|r| r.status), Some(429));
}

#[tokio::test]
async fn each_business_has_its_own_limit_across_both_generations() {
    let sim = start(SimConfig {
        businesses: 2,
        ..limited(3)
    })
    .await;
    let lead = sim.resource_owner_id().to_owned();
    let other = sim.businesses()[1].id().to_owned();
    let lead_v31 = Api::v31(&sim);
    let other_v31 = Api {
        headers: vec![("X-Business", other.clone())],
        ..Api::v31(&sim)
    };
    let other_v3 = Api {
        headers: vec![
            ("Ocp-Apim-Subscription-Key", "test-key".to_owned()),
            ("X-Site", other.clone()),
        ],
        ..Api::v3(&sim, "uki")
    };
    for _ in 0..3 {
        assert_eq!(lead_v31.get("/contacts").await.status, 200);
    }
    assert_limited(&lead_v31.get("/contacts").await);
    // The other business is untouched by the lead's calls; v3.1 and v3 share its budget.
    assert_eq!(other_v31.get("/contacts").await.status, 200);
    assert_eq!(other_v3.get("/contacts").await.status, 200);
    assert_eq!(other_v31.get("/products").await.status, 200);
    assert_limited(&other_v3.get("/products").await);
    assert_limited(&other_v31.get("/contacts").await);
    // A business the user does not have is refused as before and counts nowhere.
    let stranger = Api {
        headers: vec![("X-Business", "f".repeat(32))],
        ..Api::v31(&sim)
    };
    assert_eq!(stranger.get("/contacts").await.status, 403);

    let all = sim.all_business_calls();
    let summary: Vec<_> = all
        .iter()
        .map(|c| {
            (
                c.business.as_str(),
                c.accepted,
                c.rejected,
                c.max_in_any_minute,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [(lead.as_str(), 3, 1, 3), (other.as_str(), 3, 2, 3)]
    );
    assert_eq!(sim.business_calls(&other), all[1]);
    let unknown = sim.business_calls("nope");
    assert_eq!((unknown.accepted, unknown.rejected), (0, 0));
}

#[tokio::test]
async fn control_and_token_requests_are_not_counted_but_businesses_lists_are() {
    let sim = start(limited(3)).await;
    let base = sim.base_url();
    for _ in 0..5 {
        assert_eq!(
            send(http().get(format!("{base}/_sim/health"))).await.status,
            200
        );
        assert_eq!(
            send(http().get(format!("{base}/_sim/business-calls")))
                .await
                .status,
            200
        );
        let code = sim.authorization_code(ApiVersion::V31);
        let tokens = send(http().post(sim.token_url()).form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ]))
        .await;
        assert_eq!(tokens.status, 200, "{}", tokens.body);
    }
    assert_eq!(sim.business_calls(sim.resource_owner_id()).accepted, 0);

    let v31 = Api::v31(&sim);
    let core = Api {
        base: format!("{base}/de/sageone/core/v3"),
        ..Api::v3(&sim, "de")
    };
    assert_eq!(v31.get("/businesses").await.status, 200);
    assert_eq!(core.get("/businesses").await.status, 200);
    // Counted whatever the answer: a request without a token still reached Sage.
    let anonymous = send(http().get(format!("{}/contacts", sim.v31_base_url()))).await;
    assert_eq!(anonymous.status, 401);
    assert_limited(&v31.get("/businesses/lead").await);
    let calls = sim.business_calls(sim.resource_owner_id());
    assert_eq!((calls.accepted, calls.rejected), (3, 1));
}

#[tokio::test]
async fn the_limit_changes_at_run_time() {
    let sim = start(config(2)).await;
    assert_eq!(sim.rate_limit(), None, "unlimited by default");
    let api = Api::v31(&sim);
    for _ in 0..20 {
        assert_eq!(api.get("/contacts").await.status, 200);
    }
    // The trailing minute's calls count against a new limit at once.
    sim.set_rate_limit(Some(20));
    assert_limited(&api.get("/contacts").await);
    sim.set_rate_limit(None);
    assert_eq!(sim.rate_limit(), None);
    assert_eq!(api.get("/contacts").await.status, 200);

    let calls = sim.business_calls(sim.resource_owner_id());
    assert_eq!((calls.accepted, calls.rejected), (21, 1));
    assert_eq!(calls.max_in_any_minute, 21);
    // A reset forgets the counts, not the trailing minute.
    sim.reset_business_calls();
    let calls = sim.business_calls(sim.resource_owner_id());
    assert_eq!((calls.accepted, calls.rejected), (0, 0));
    assert!(calls.per_minute.is_empty());
    sim.set_rate_limit(Some(21));
    assert_limited(&api.get("/contacts").await);
    assert_eq!(sim.business_calls(sim.resource_owner_id()).rejected, 1);
}

#[tokio::test]
async fn a_refused_call_uses_up_no_fault_and_faulted_calls_count_once() {
    let sim = start(limited(2)).await;
    let api = Api::v31(&sim);
    sim.inject(Fault::next(FaultKind::InternalServerError, 1))
        .expect("inject");
    assert_eq!(api.get("/contacts").await.status, 500);
    sim.inject(Fault::next(
        FaultKind::TooManyRequests {
            retry_after: Some(7),
        },
        1,
    ))
    .expect("inject");
    let injected = api.get("/contacts").await;
    assert_eq!(
        (injected.status, injected.header("retry-after")),
        (429, Some("7"))
    );
    sim.inject(Fault::next(FaultKind::ServiceUnavailable, 1))
        .expect("inject");
    assert_limited(&api.get("/contacts").await);
    assert_eq!(
        sim.faults(),
        [Fault::next(FaultKind::ServiceUnavailable, 1)],
        "the refused call did not reach the fault"
    );
    let calls = sim.business_calls(sim.resource_owner_id());
    assert_eq!((calls.accepted, calls.rejected), (2, 1));
    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /v3.1/contacts", 500), 1);
    assert_eq!(counts.get("GET /v3.1/contacts", 429), 2);
    assert_eq!(counts.total(), 3);
}

#[tokio::test]
async fn the_control_api_reads_resets_and_sets_the_limit() {
    let sim = start(SimConfig {
        businesses: 2,
        ..config(2)
    })
    .await;
    let base = sim.base_url();
    let limit_url = format!("{base}/_sim/rate-limit");
    let calls_url = format!("{base}/_sim/business-calls");
    assert_eq!(
        send(http().get(&limit_url)).await.json(),
        json!({"limit": null})
    );
    let set = send(http().put(&limit_url).json(&json!({"limit": 1}))).await;
    assert_eq!((set.status, set.json()), (200, json!({"limit": 1})));
    assert_eq!(sim.rate_limit(), Some(1));
    let api = Api::v31(&sim);
    assert_eq!(api.get("/contacts").await.status, 200);
    assert_limited(&api.get("/contacts").await);

    let lead = sim.resource_owner_id().to_owned();
    let other = sim.businesses()[1].id().to_owned();
    let listed = send(http().get(&calls_url)).await;
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.json(),
        json!([
            {"business": lead, "accepted": 1, "rejected": 1, "max_in_any_minute": 1, "per_minute": [1]},
            {"business": other, "accepted": 0, "rejected": 0, "max_in_any_minute": 0, "per_minute": []},
        ])
    );
    let reset = send(http().delete(&calls_url)).await;
    assert_eq!(reset.status, 200);
    assert_eq!(reset.json()[0]["accepted"], 0);
    assert_eq!(sim.business_calls(&lead).rejected, 0);

    for bad in [
        json!({}),
        json!({"limit": -1}),
        json!({"limit": 1.5}),
        json!({"limit": "5"}),
    ] {
        let reply = send(http().put(&limit_url).json(&bad)).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        assert!(reply.json()["error"]
            .as_str()
            .expect("error")
            .contains("`limit`"));
    }
    let not_json = send(http().put(&limit_url).body("limit=3")).await;
    assert_eq!(not_json.status, 400);
    assert_eq!(sim.rate_limit(), Some(1), "bad bodies change nothing");

    let lifted = send(http().put(&limit_url).json(&json!({"limit": null}))).await;
    assert_eq!(lifted.json(), json!({"limit": null}));
    assert_eq!(api.get("/contacts").await.status, 200);
}
