//! Operational alerts end to end: polls failing against the simulator open one
//! `polls_failing` alert per resource (and, at a 1 s interval, `polls_stalled`), POSTed once to the server-wide URL and once to the
//! instance's, signed with Standard Webhooks headers; the polls recovering resolve it, POSTed
//! once each too; `GET /alerts` and `/metrics` follow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use pollen::demo::demo_instance;
use pollen_callback::StandardWebhooksSecret;
use pollen_sage_sim::{Fault, FaultKind};
use serde_json::{json, Value};

use crate::serve::{sim_receiver_service, Service, AUTH};

const SERVER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const INSTANCE_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One alert POST as a receiver got it, on `/server` or `/instance`.
#[derive(Debug, Clone)]
struct Got {
    target: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    fn verifies(&self, secret: &str) -> bool {
        let secret = StandardWebhooksSecret::parse(secret).expect("a secret");
        let timestamp: i64 = self
            .header("webhook-timestamp")
            .parse()
            .expect("a timestamp");
        let want = secret.sign(self.header("webhook-id"), timestamp, &self.body);
        self.header("webhook-signature")
            .split(' ')
            .any(|s| s == want)
    }
}

async fn alert_receiver() -> (String, Arc<Mutex<Vec<Got>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/{target}",
            post(
                |State(got): State<Arc<Mutex<Vec<Got>>>>,
                 Path(target): Path<String>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    got.lock().expect("the log").push(Got {
                        target,
                        headers,
                        body,
                    });
                    "ok"
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("binding the alert receiver");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, got)
}

/// The alert POSTs received so far, by (target, type, kind, subject): each one's message ids.
fn by_message(got: &[Got]) -> HashMap<(String, String, String, String), Vec<String>> {
    let mut map: HashMap<_, Vec<String>> = HashMap::new();
    for g in got {
        let body = g.json();
        let key = (
            g.target.clone(),
            body["type"].as_str().unwrap_or_default().to_owned(),
            body["data"]["kind"].as_str().unwrap_or_default().to_owned(),
            body["data"]["subject"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        map.entry(key)
            .or_default()
            .push(g.header("webhook-id").to_owned());
    }
    map
}

async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_polls_open_one_alert_and_their_recovery_resolves_it_once() {
    let (sim, receiver, _events, mut plain) = sim_receiver_service(b"unused").await;
    plain.stop().await;
    let (alerts_url, got) = alert_receiver().await;
    let mut options = pollen::alerts::AlertOptions::new();
    options.url = Some(format!("{alerts_url}/server"));
    options.secret = Some(pollen_config::Secret::new(SERVER_SECRET));
    options.after_failures = 2;
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut service = Service::start_with_alerts(dir, 1024 * 1024, options).await;

    let mut instance = demo_instance(&sim.handle(), &receiver.url(), "key").expect("json");
    instance["configuration"]["event.notification.alerts.url"] =
        json!(format!("{alerts_url}/instance"));
    instance["configuration"]["event.notification.alerts.secret"] = json!(INSTANCE_SECRET);
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");
    let shown = created.to_string();
    assert!(
        !shown.contains(INSTANCE_SECRET),
        "the alerts secret shown: {shown}"
    );

    // Every API call fails: each resource's polls fail in a row.
    sim.inject(Fault::probability(FaultKind::ServiceUnavailable, 1.0, 7).on_path_prefix("/v3.1/"))
        .expect("a fault");
    let opened = |got: &Arc<Mutex<Vec<Got>>>| {
        by_message(&got.lock().expect("the log"))
            .keys()
            .filter(|(t, ty, k, _)| t == "server" && ty == "alert.opened" && k == "polls_failing")
            .count()
    };
    assert!(
        wait_for(Duration::from_secs(60), || opened(&got) >= 1).await,
        "no polls_failing alert within 60 s: {:?}",
        by_message(&got.lock().unwrap())
    );
    let (status, open) = service
        .call(reqwest::Method::GET, "/alerts", AUTH, None)
        .await;
    assert_eq!(status, 200, "{open}");
    let listed = open["alerts"].as_array().expect("alerts").clone();
    assert!(!listed.is_empty(), "{open}");
    assert!(
        listed
            .iter()
            .all(|a| a["state"] == "open" && a["instanceId"] == id),
        "{open}"
    );
    let metrics = reqwest::get(service.metrics_url())
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("pollen_alerts_open{kind=\"polls_failing\"} ")
            && !metrics.contains("pollen_alerts_open{kind=\"polls_failing\"} 0"),
        "{metrics}"
    );

    // The API answers again: every failing resource's alert resolves.
    sim.clear_faults();
    let resolved_all = |got: &Arc<Mutex<Vec<Got>>>| {
        let map = by_message(&got.lock().expect("the log"));
        let opened: Vec<_> = map
            .keys()
            .filter(|(_, ty, _, _)| ty == "alert.opened")
            .map(|(t, _, k, s)| (t.clone(), k.clone(), s.clone()))
            .collect();
        !opened.is_empty()
            && opened.iter().all(|(t, k, s)| {
                map.contains_key(&(t.clone(), "alert.resolved".into(), k.clone(), s.clone()))
            })
    };
    assert!(
        wait_for(Duration::from_secs(60), || resolved_all(&got)).await,
        "not every alert resolved within 60 s: {:?}",
        by_message(&got.lock().unwrap())
    );
    // Time for any repeat to arrive: none does.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (_, open) = service
        .call(reqwest::Method::GET, "/alerts", AUTH, None)
        .await;
    assert_eq!(open["alerts"], json!([]), "{open}");
    let (_, all) = service
        .call(reqwest::Method::GET, "/alerts?state=all", AUTH, None)
        .await;
    let all = all["alerts"].as_array().expect("alerts").clone();
    assert!(all.iter().all(|a| a["state"] == "resolved"), "{all:?}");

    let got = got.lock().expect("the log").clone();
    let map = by_message(&got);
    for ((target, ty, kind, subject), ids) in &map {
        assert_eq!(
            ids.len(),
            1,
            "{target} got {ty} {kind} {subject} {} times",
            ids.len()
        );
        // At a 1 s interval the failing resource also stalls (3 intervals without a poll).
        assert!(
            kind == "polls_failing" || kind == "polls_stalled",
            "only the resource's alerts: {map:?}"
        );
    }
    // Each alert: opened and resolved, to both targets, under one message id per event.
    assert_eq!(map.len(), all.len() * 4, "{map:?} for {all:?}");
    for g in &got {
        let secret = if g.target == "server" {
            SERVER_SECRET
        } else {
            INSTANCE_SECRET
        };
        assert!(
            g.verifies(secret),
            "{} signature does not verify: {:?}",
            g.target,
            g.headers
        );
        let body = g.json();
        let alert_id = body["data"]["id"].as_i64().expect("an alert id");
        let event = body["type"].as_str().unwrap().trim_start_matches("alert.");
        assert_eq!(g.header("webhook-id"), format!("alert_{alert_id}_{event}"));
        assert_eq!(body["data"]["instanceId"], id);
    }
    let metrics = reqwest::get(service.metrics_url())
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(&format!(
            "pollen_alert_deliveries_total{{outcome=\"delivered\"}} {}",
            got.len()
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("pollen_alerts_open{kind=\"polls_failing\"} 0"),
        "{metrics}"
    );
    assert!(!metrics.contains(SERVER_SECRET) && !metrics.contains(INSTANCE_SECRET));
    service.stop().await;
}
