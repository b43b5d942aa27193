//! The request log: who asked for what, when, and how it was answered.

use std::time::Duration;

use pollen_sage_sim::{ApiVersion, Fault, FaultKind, SimConfig};
use serde_json::Value;

use crate::{config, http, send, start, Api};

/// Exchanges `code` at the token endpoint; returns the token response.
async fn exchange(sim: &pollen_sage_sim::SimHandle, form: &[(&str, &str)]) -> Value {
    let reply = send(http().post(sim.token_url()).form(form)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

#[tokio::test]
async fn every_api_request_is_logged_with_its_token_family_agent_and_times() {
    let sim = start(config(3)).await;
    let code = sim.authorization_code(ApiVersion::V31);
    let first = exchange(
        &sim,
        &[("grant_type", "authorization_code"), ("code", &code)],
    )
    .await;
    let refreshed = exchange(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                first["refresh_token"].as_str().expect("refresh"),
            ),
        ],
    )
    .await;
    let token = refreshed["access_token"].as_str().expect("access");
    let other = Api::v31(&sim);
    sim.inject(
        Fault::next(
            FaultKind::Slow {
                delay: Duration::from_millis(150),
            },
            1,
        )
        .on_path_prefix("/v3.1/contacts"),
    )
    .expect("inject");
    let slow = http()
        .get(format!("{}/contacts?page=1", sim.v31_base_url()))
        .bearer_auth(token)
        .header("User-Agent", "worker-a");
    let (slow_reply, fast_reply) = tokio::join!(send(slow), async {
        tokio::time::sleep(Duration::from_millis(40)).await;
        other.get("/tax_rates").await
    });
    assert_eq!((slow_reply.status, fast_reply.status), (200, 200));
    sim.inject(Fault::next(FaultKind::DropConnection, 1))
        .expect("inject");
    assert!(other.request("/journals").send().await.is_err());
    send(http().get(format!("{}/_sim/health", sim.base_url()))).await;

    let log = sim.request_log();
    let summary: Vec<(&str, Option<&str>, u16)> = log
        .iter()
        .map(|r| (r.endpoint.as_str(), r.resource.as_deref(), r.status))
        .collect();
    assert_eq!(
        summary,
        [
            ("POST /token", None, 200),
            ("POST /token", None, 200),
            ("GET /v3.1/contacts", Some("contacts"), 200),
            ("GET /v3.1/tax_rates", Some("tax_rates"), 200),
            ("GET /v3.1/journals", Some("journals"), 0),
        ],
        "control requests are not logged; a dropped connection is status 0"
    );
    let seqs: Vec<u64> = log.iter().map(|r| r.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let contacts = &log[2];
    assert_eq!(
        contacts.grant.as_deref(),
        Some(code.as_str()),
        "kept across a refresh"
    );
    assert_eq!(contacts.user_agent.as_deref(), Some("worker-a"));
    assert_eq!(contacts.query, "page=1");
    assert!(contacts.finished - contacts.started >= chrono::TimeDelta::milliseconds(150));
    let tax_rates = &log[3];
    assert!(tax_rates
        .grant
        .as_deref()
        .is_some_and(|g| g.starts_with("issued-")));
    assert!(
        contacts.overlaps(tax_rates),
        "the fast request ran inside the slow one"
    );
    assert!(!tax_rates.overlaps(&log[4]));

    let over_http = send(http().get(format!("{}/_sim/requests?since=3", sim.base_url())))
        .await
        .json();
    assert_eq!(over_http["dropped"], 0);
    let rows = over_http["requests"].as_array().expect("requests");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["endpoint"], "GET /v3.1/tax_rates");
    assert_eq!(rows[1]["status"], 0);
    assert!(rows[0]["started"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    send(http().delete(format!("{}/_sim/requests", sim.base_url()))).await;
    assert!(sim.request_log().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn the_log_keeps_the_newest_requests_up_to_its_capacity() {
    let sim = start(SimConfig {
        request_log_capacity: 2,
        ..config(1)
    })
    .await;
    let api = Api::v31(&sim);
    for path in ["/contacts", "/products", "/services"] {
        api.get(path).await;
    }
    let resources: Vec<Option<String>> =
        sim.request_log().into_iter().map(|r| r.resource).collect();
    assert_eq!(
        resources,
        [Some("products".to_owned()), Some("services".to_owned())]
    );
    assert_eq!(sim.request_log_dropped(), 1);
    assert_eq!(sim.request_log_since(2).len(), 1);
    sim.shutdown().await;

    let off = start(SimConfig {
        request_log_capacity: 0,
        ..config(1)
    })
    .await;
    Api::v31(&off).get("/contacts").await;
    assert!(off.request_log().is_empty());
    assert_eq!(off.request_counts().total(), 1, "counters still count");
    off.shutdown().await;
}

#[tokio::test]
async fn a_request_whose_client_gives_up_is_logged_as_499() {
    let sim = start(config(1)).await;
    let api = Api::v31(&sim);
    sim.inject(Fault::next(
        FaultKind::Slow {
            delay: Duration::from_secs(5),
        },
        1,
    ))
    .expect("inject");
    let impatient = api.request("/contacts").timeout(Duration::from_millis(200));
    assert!(impatient.send().await.is_err(), "the client gave up");
    let logged = crate::eventually(|| !sim.request_log().is_empty()).await;
    assert!(logged, "the abandoned request was not logged");
    let entry = &sim.request_log()[0];
    assert_eq!(entry.status, 499);
    assert!(entry.finished - entry.started < chrono::TimeDelta::seconds(4));
    sim.shutdown().await;
}
