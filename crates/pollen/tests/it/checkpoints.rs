//! Checkpoints end to end: a `serve` with `event.notification.checkpoints` sends, after each
//! poll, a checkpoint whose count and digest are exactly those of the events it sent for the
//! window; the API, `pollen checkpoints` and the metrics show the chains.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use pollen::demo::demo_instance;
use pollen_core::{checkpoint_digest, StableId};
use pollen_sage_sim::Resource;
use serde_json::{json, Value};

use crate::serve::{sim_receiver_service, AUTH};

/// One POST as the receiver got it: its headers (lower-case names) and its exact body.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: String,
}

impl Arrival {
    pub(crate) fn payload(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A receiver on 127.0.0.1 that keeps every POST, answering 200.
pub(crate) struct RawReceiver {
    addr: SocketAddr,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawReceiver {
    pub(crate) async fn start() -> RawReceiver {
        async fn keep(
            State(arrivals): State<Arc<Mutex<Vec<Arrival>>>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            let headers = headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        value.to_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let body = String::from_utf8_lossy(&body).into_owned();
            arrivals.lock().unwrap().push(Arrival { headers, body });
            StatusCode::OK
        }
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/events", post(keep))
            .with_state(arrivals.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RawReceiver {
            addr,
            arrivals,
            task,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub(crate) fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }

    /// Waits (at most 40 s) until `done` holds for the arrivals so far; returns them.
    pub(crate) async fn wait_until(&self, done: impl Fn(&[Arrival]) -> bool) -> Vec<Arrival> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        loop {
            let arrivals = self.arrivals();
            if done(&arrivals) || tokio::time::Instant::now() > deadline {
                return arrivals;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for RawReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The event ids of the arrivals that are not checkpoints.
pub(crate) fn event_ids(arrivals: &[Arrival]) -> BTreeSet<String> {
    arrivals
        .iter()
        .map(Arrival::payload)
        .filter(|body| body["action"] != "checkpoint")
        .flat_map(|body| {
            body["message"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e["eventId"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// The checkpoints among the arrivals, each once, by (chain, sequence).
pub(crate) fn checkpoints(arrivals: &[Arrival]) -> BTreeMap<(String, u64), Value> {
    arrivals
        .iter()
        .map(Arrival::payload)
        .filter(|body| body["action"] == "checkpoint")
        .map(|body| {
            let c = body["message"]["checkpoint"].clone();
            let chain = c["chain"].as_str().unwrap_or_default().to_owned();
            (
                (chain, c["sequence"].as_u64().unwrap_or_default()),
                c.clone(),
            )
        })
        .collect()
}

/// Whether every event of the arrivals is covered by a checkpoint that arrived.
fn all_covered(arrivals: &[Arrival]) -> bool {
    let closed: BTreeSet<(String, String)> = checkpoints(arrivals)
        .into_values()
        .map(|c| (c["chain"].to_string(), c["previous"].to_string()))
        .collect();
    arrivals
        .iter()
        .map(Arrival::payload)
        .filter(|body| body["action"] != "checkpoint")
        .all(|body| {
            let tag = &body["message"]["checkpoint"];
            closed.contains(&(tag["chain"].to_string(), tag["after"].to_string()))
        })
}

fn customer(sim: &pollen_sage_sim::RunningSim, name: &str) -> String {
    sim.create(
        Resource::Contacts,
        &json!({"contact_types": [{"id": "CUSTOMER"}], "name": name}),
    )
    .expect("creating a customer")
    .id()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_checkpoint_counts_exactly_the_events_sent_for_its_window() {
    let (sim, _unused, _events, service) = sim_receiver_service(b"cb-key").await;
    let receiver = RawReceiver::start().await;
    let mut instance = demo_instance(&sim.handle(), &receiver.url(), "cb-key").expect("json");
    instance["configuration"]["event.notification.checkpoints"] = json!(true);
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let a = customer(&sim, "Ada");
    let b = customer(&sim, "Bob");
    customer(&sim, "Cy");
    let arrivals = receiver
        .wait_until(|got| event_ids(got).len() >= 3 && all_covered(got))
        .await;
    sim.update(Resource::Contacts, &a, &json!({"name": "Ada Lovelace"}))
        .expect("updating");
    sim.delete(Resource::Contacts, &b).expect("deleting");
    let count = event_ids(&arrivals).len();
    let arrivals = receiver
        .wait_until(|got| event_ids(got).len() >= count + 2 && all_covered(got))
        .await;
    assert_eq!(
        event_ids(&arrivals).len(),
        5,
        "three creations, an update, a deletion"
    );
    assert!(all_covered(&arrivals), "every event's window was closed");

    // Each checkpoint: the chain continues, and count and digest are those of exactly the
    // events tagged with its window.
    let checkpoints = checkpoints(&arrivals);
    let chains: BTreeSet<&str> = checkpoints.keys().map(|(c, _)| c.as_str()).collect();
    assert_eq!(chains.len(), 1, "one resource, the callback: {chains:?}");
    let mut previous = Value::Null;
    let mut previous_to = Value::Null;
    let mut counted = 0;
    for (i, ((_, sequence), c)) in checkpoints.iter().enumerate() {
        assert_eq!(*sequence, i as u64 + 1, "no gap in {checkpoints:?}");
        assert_eq!(c["previous"], previous);
        if !previous_to.is_null() {
            assert_eq!(c["from"], previous_to);
        }
        assert_eq!(c["subscription"], "callback");
        assert_eq!(c["objectType"], "customers");
        let window: BTreeSet<StableId> = arrivals
            .iter()
            .map(Arrival::payload)
            .filter(|body| {
                body["action"] != "checkpoint"
                    && body["message"]["checkpoint"]["after"] == c["previous"]
                    && body["message"]["checkpoint"]["chain"] == c["chain"]
            })
            .flat_map(|body| {
                body["message"]["events"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| e["eventId"].as_str().unwrap().parse::<StableId>().unwrap())
            })
            .collect();
        assert_eq!(c["events"], window.len(), "{c}");
        assert_eq!(c["digest"], checkpoint_digest(&window), "{c}");
        counted += window.len();
        previous = c["id"].clone();
        previous_to = c["to"].clone();
    }
    assert_eq!(counted, 5, "every event in exactly one window");
    for arrival in &arrivals {
        assert!(
            arrival.headers.contains_key("elements-webhook-signature"),
            "checkpoints are signed like every notification"
        );
    }

    // The API, the command line and the metrics show the chain.
    let (status, listed) = service
        .call(
            reqwest::Method::GET,
            &format!("/instances/{id}/checkpoints"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    let chain = &listed["checkpoints"][0];
    assert_eq!(chain["resource"], "customers");
    assert_eq!(chain["subscription"], "callback");
    assert_eq!(chain["chain"], checkpoints.keys().next().unwrap().0);
    assert!(chain["sequence"].as_u64().unwrap() >= checkpoints.len() as u64);
    let (status, _) = service
        .call(
            reqwest::Method::GET,
            "/instances/999999/checkpoints",
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let output = crate::support::pollen_command(
        &[
            "checkpoints",
            "--db",
            &service.db_url(),
            "--instance",
            &id.to_string(),
            "--json",
        ],
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    let line: Value =
        serde_json::from_slice(output.stdout.split(|b| *b == b'\n').next().expect("a line"))
            .expect("JSON");
    assert_eq!(line["chain"], chain["chain"]);
    let output = crate::support::pollen_command(
        &[
            "checkpoints",
            "--db",
            &service.db_url(),
            "--instance",
            "999999",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let metrics = reqwest::get(service.metrics_url())
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let sent: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pollen_checkpoints_total "))
        .expect("pollen_checkpoints_total")
        .parse()
        .expect("a number");
    assert!(sent >= checkpoints.len() as u64, "{sent}");
}
