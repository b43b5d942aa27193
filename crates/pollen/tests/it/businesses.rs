//! Several Sage businesses per user, through `pollen serve` against a simulator whose user has
//! two: an instance with `sage.business.id` polls that business only; the businesses of an
//! instance are listed (also for a paused one, exchanging its code); the business of an
//! instance that has polled cannot change; `pollen sage businesses` prints them.

use std::time::Duration;

use pollen::demo::demo_instance;
use pollen::receiver::{ReceivedEvent, Receiver};
use pollen_sage_sim::{ApiVersion, Resource, SimBusiness, SimConfig, Simulator};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::serve::{Service, AUTH};

const KEY: &str = "businesses-test-key";

fn customer(business: &SimBusiness, name: &str) -> String {
    business
        .create(
            Resource::Contacts,
            &json!({"contact_types": [{"id": "CUSTOMER"}], "name": name}),
        )
        .expect("creating a customer")
        .id()
        .to_owned()
}

/// Every event that arrives within `wait`.
async fn drain(
    events: &mut mpsc::UnboundedReceiver<ReceivedEvent>,
    wait: Duration,
) -> Vec<ReceivedEvent> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        got.push(event);
    }
    got
}

/// Waits (at most 20 s) for the CREATED of `id`; returns every event seen meanwhile.
async fn until_created(
    events: &mut mpsc::UnboundedReceiver<ReceivedEvent>,
    id: &str,
) -> Vec<ReceivedEvent> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => {
                let done = event.object_id == id && event.event_type == "CREATED";
                got.push(event);
                if done {
                    return got;
                }
            }
            _ => panic!("no CREATED for {id} within 20 s; got {got:?}"),
        }
    }
}

/// `GET /instances/{id}/businesses`: the status and the body.
async fn businesses_of(service: &Service, id: i64) -> (u16, Value) {
    service
        .call(
            Method::GET,
            &format!("/instances/{id}/businesses"),
            AUTH,
            None,
        )
        .await
}

fn listed(body: &Value) -> Vec<(String, bool, bool)> {
    body.as_array()
        .unwrap_or_else(|| panic!("an array: {body}"))
        .iter()
        .map(|b| {
            (
                b["id"].as_str().expect("id").to_owned(),
                b["lead"].as_bool().expect("lead"),
                b["selected"].as_bool().expect("selected"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_polls_the_business_it_names_and_keeps_it() {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 3,
            businesses: 2,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    let lead = sim.lead_business();
    let second = sim.businesses()[1].clone();
    let (receiver, mut events) = Receiver::start(KEY.as_bytes()).await.expect("receiver");
    let mut service = Service::start(1024 * 1024).await;

    // An instance of the second business.
    sim.add_authorization_code("code-second", ApiVersion::V31);
    let mut instance = demo_instance(&sim.handle(), &receiver.url(), KEY).expect("json");
    instance["name"] = json!("Second business");
    instance["providerData"]["code"] = json!("code-second");
    instance["configuration"]["sage.business.id"] = json!(second.id());
    let (status, created) = service
        .call(Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");
    assert_eq!(created["configuration"]["sage.business.id"], second.id());

    let (status, body) = businesses_of(&service, id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        listed(&body),
        vec![
            (lead.id().to_owned(), true, false),
            (second.id().to_owned(), false, true)
        ]
    );
    assert_eq!(body[1]["name"], second.name());

    // Records of both businesses change after the creation: only the second's arrive.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let theirs = customer(&lead, "Lead's customer");
    let ours = customer(&second, "Second's customer");
    let mut got = until_created(&mut events, &ours).await;
    got.extend(drain(&mut events, Duration::from_secs(3)).await);
    assert!(got.iter().all(|e| e.signature_valid));
    assert!(
        got.iter().all(|e| e.object_id != theirs),
        "an event for the lead business's record: {got:?}"
    );
    assert_eq!(got.len(), 1, "{got:?}");

    // It has polled: its business cannot change any more.
    let (status, refused) = service
        .call(
            Method::PATCH,
            &format!("/instances/{id}"),
            AUTH,
            Some(&json!({"configuration": {"sage.business.id": null}})),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        refused["problems"][0]["pointer"],
        "/configuration/sage.business.id"
    );
    let message = refused["message"].as_str().expect("a message");
    assert!(
        message.contains(&format!(
            "instance {id} has already polled business {}",
            second.id()
        )) && message.contains("cannot switch to the lead business"),
        "{message}"
    );
    // Other edits still work.
    let (status, body) = service
        .call(
            Method::PATCH,
            &format!("/instances/{id}"),
            AUTH,
            Some(&json!({"tags": ["still-second"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A paused instance: created paused, its businesses listed (the code exchanged then),
    // its business chosen and polling resumed in one PATCH.
    sim.add_authorization_code("code-paused", ApiVersion::V31);
    let mut paused = demo_instance(&sim.handle(), &receiver.url(), KEY).expect("json");
    paused["name"] = json!("Chosen later");
    paused["providerData"]["code"] = json!("code-paused");
    paused["disabled"] = json!(true);
    let exchanges = sim.request_counts().get("POST /token", 200);
    let (status, created) = service
        .call(Method::POST, "/instances", AUTH, Some(&paused))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["disabled"], true);
    let paused_id = created["id"].as_i64().expect("an id");
    assert_eq!(
        sim.request_counts().get("POST /token", 200),
        exchanges,
        "nothing exchanged while paused"
    );
    let (status, body) = businesses_of(&service, paused_id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        listed(&body),
        vec![
            (lead.id().to_owned(), true, true),
            (second.id().to_owned(), false, false)
        ]
    );
    assert_eq!(sim.request_counts().get("POST /token", 200), exchanges + 1);
    let (status, body) = service
        .call(
            Method::PATCH,
            &format!("/instances/{paused_id}"),
            AUTH,
            Some(&json!({"disabled": false, "configuration": {"sage.business.id": second.id()}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active");

    // `pollen sage businesses` shows the same, from the database.
    let db = service.db_url();
    let table = pollen_cli(&[
        "sage",
        "businesses",
        "--instance",
        &paused_id.to_string(),
        "--db",
        &db,
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("ID") && lines[0].ends_with("NAME"),
        "{table}"
    );
    assert!(
        lines[1].starts_with(lead.id())
            && lines[1].contains("yes")
            && lines[1].ends_with(lead.name()),
        "{table}"
    );
    assert!(
        lines[2].starts_with(second.id())
            && lines[2].contains("yes")
            && lines[2].ends_with(second.name()),
        "{table}"
    );
    let json_lines = pollen_cli(&[
        "sage",
        "businesses",
        "--instance",
        &paused_id.to_string(),
        "--db",
        &db,
        "--json",
    ]);
    let rows: Vec<Value> = json_lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    assert_eq!(
        rows[1],
        json!({"id": second.id(), "name": second.name(), "lead": false, "selected": true})
    );

    // Unknown instances, and Sage refusing.
    let (status, _) = service
        .call(Method::GET, "/instances/999/businesses", AUTH, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = service
        .call(Method::GET, "/instances/abc/businesses", AUTH, None)
        .await;
    assert_eq!(status, 400);
    let mut spent = demo_instance(&sim.handle(), &receiver.url(), KEY).expect("json");
    spent["name"] = json!("Spent code");
    spent["providerData"]["code"] = json!("never-issued");
    spent["disabled"] = json!(true);
    let (status, created) = service
        .call(Method::POST, "/instances", AUTH, Some(&spent))
        .await;
    assert_eq!(status, 200, "{created}");
    let spent_id = created["id"].as_i64().expect("an id");
    let (status, body) = businesses_of(&service, spent_id).await;
    assert_eq!(status, 502, "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(
        message.starts_with(&format!("instance {spent_id}: ")) && message.contains("invalid_grant"),
        "{message}"
    );
    assert!(
        !message.contains("never-issued"),
        "the code was shown: {message}"
    );

    service.stop().await;
    receiver.shutdown().await;
}

/// Runs the `pollen` binary; its stdout, after asserting it succeeded.
fn pollen_cli(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pollen"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running pollen");
    assert!(
        output.status.success(),
        "pollen {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}
