//! Operational alerts end to end, against the simulator and local receivers, one test per
//! way in: polls failing (and, at a 1 s interval, stalling) through simulator faults; a
//! subscription answering 410 and a callback out of retries (`subscription_deactivated` and
//! `notifications_dead`, resolved by a re-delivery); Sage refusing the refresh token
//! (`reauthorization_needed`, resolved by new tokens and a resume), with the alert receiver
//! failing its first POSTs so the deliveries are retried. Each alert opens once and resolves
//! once, POSTed once to the server-wide URL and once to the instance's, signed with Standard
//! Webhooks headers; `GET /alerts`, `pollen alerts` and `/metrics` follow. On PostgreSQL, two
//! `pollen serve` processes, one SIGKILLed and restarted while alerts are open, announce each
//! opening and recovery once between them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use pollen::demo::demo_instance;
use pollen_callback::{RetryPolicy, StandardWebhooksSecret};
use pollen_config::Secret;
use pollen_sage_sim::{ApiVersion, Fault, FaultKind, Resource, RunningSim, SimConfig, Simulator};
use serde_json::{json, Value};

use crate::restart::free_port;
use crate::serve::{pollen_cli, receive, sim_receiver_service, Service, AUTH};
use crate::support::{instance_json, tail, wait_until, Behaviour, Pollen, TestReceiver};
use crate::workers::{postgres_url, Schema};

const SERVER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const INSTANCE_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One alert POST as a receiver got it, on `/server` or `/instance`.
#[derive(Debug, Clone)]
struct Got {
    target: String,
    headers: HeaderMap,
    body: Bytes,
    /// Whether the receiver answered 200 (else 500).
    ok: bool,
    at: Instant,
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

    /// Checks what every alert POST must hold: a signature by its target's secret, the
    /// `alert_<id>_<event>` message id, instance `id`; returns the body and the event
    /// (`opened`, `resolved`).
    fn checked(&self, id: i64) -> (Value, String) {
        let secret = if self.target == "server" {
            SERVER_SECRET
        } else {
            INSTANCE_SECRET
        };
        assert!(
            self.verifies(secret),
            "{} signature does not verify: {:?}",
            self.target,
            self.headers
        );
        let body = self.json();
        let alert_id = body["data"]["id"].as_i64().expect("an alert id");
        let event = body["type"]
            .as_str()
            .unwrap()
            .trim_start_matches("alert.")
            .to_owned();
        assert_eq!(
            self.header("webhook-id"),
            format!("alert_{alert_id}_{event}")
        );
        assert_eq!(body["data"]["instanceId"], id);
        (body, event)
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
    alert_receiver_failing(0).await
}

/// An alert receiver answering 500 to the first `failures` POSTs of each target, then 200.
async fn alert_receiver_failing(failures: usize) -> (String, Arc<Mutex<Vec<Got>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/{target}",
            post(
                move |State(got): State<Arc<Mutex<Vec<Got>>>>,
                      Path(target): Path<String>,
                      headers: HeaderMap,
                      body: Bytes| async move {
                    let mut log = got.lock().expect("the log");
                    let ok = log.iter().filter(|g| g.target == target).count() >= failures;
                    log.push(Got {
                        target,
                        headers,
                        body,
                        ok,
                        at: Instant::now(),
                    });
                    if ok {
                        StatusCode::OK
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
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

/// A notification receiver on `URL/hook` answering every POST with the status held in the
/// returned cell; the count of POSTs it got.
async fn status_receiver(status: u16) -> (String, Arc<AtomicU16>, Arc<AtomicUsize>) {
    let answer = Arc::new(AtomicU16::new(status));
    let count = Arc::new(AtomicUsize::new(0));
    let state = (answer.clone(), count.clone());
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State((answer, count)): State<(Arc<AtomicU16>, Arc<AtomicUsize>)>| async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    StatusCode::from_u16(answer.load(Ordering::SeqCst)).expect("a status")
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("binding the receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, answer, count)
}

/// The alert POSTs answered 200 so far, by (target, type, kind, subject): each one's message
/// ids.
fn by_message(got: &[Got]) -> HashMap<(String, String, String, String), Vec<String>> {
    let mut map: HashMap<_, Vec<String>> = HashMap::new();
    for g in got.iter().filter(|g| g.ok) {
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

/// Alert options sending to `URL/server`, signed with [`SERVER_SECRET`].
fn alert_options(alerts_url: &str, after_failures: u32) -> pollen::alerts::AlertOptions {
    let mut options = pollen::alerts::AlertOptions::new();
    options.url = Some(format!("{alerts_url}/server"));
    options.secret = Some(Secret::new(SERVER_SECRET));
    options.after_failures = after_failures;
    options
}

/// Whether both targets got `event` (`opened`, `resolved`) of each (kind, subject).
fn both_got(got: &Arc<Mutex<Vec<Got>>>, event: &str, alerts: &[(&str, &str)]) -> bool {
    let map = by_message(&got.lock().expect("the log"));
    alerts.iter().all(|(kind, subject)| {
        ["server", "instance"].iter().all(|target| {
            map.contains_key(&(
                (*target).to_owned(),
                format!("alert.{event}"),
                (*kind).to_owned(),
                (*subject).to_owned(),
            ))
        })
    })
}

/// After the alerts were resolved and a few seconds passed for repeats: exactly `alerts`
/// (kind, subject) of instance `id` were announced, each opened once and resolved once to each
/// target under one message id per event, every POST signed with its target's secret.
fn check_once_each(got: &[Got], id: i64, alerts: &[(&str, &str)]) {
    let map = by_message(got);
    for ((target, ty, kind, subject), ids) in &map {
        assert_eq!(
            ids.len(),
            1,
            "{target} got {ty} {kind} {subject:?} {} times",
            ids.len()
        );
        assert!(
            alerts.contains(&(kind.as_str(), subject.as_str())),
            "an unexpected alert {kind} {subject:?}: {map:?}"
        );
    }
    assert_eq!(map.len(), alerts.len() * 4, "{map:?}");
    let mut opened_ids = HashMap::new();
    for g in got {
        let (body, event) = g.checked(id);
        let alert_id = body["data"]["id"].as_i64().expect("an alert id");
        assert_eq!(
            body["data"]["state"],
            if event == "opened" {
                "open"
            } else {
                "resolved"
            },
            "{body}"
        );
        // One alert per (kind, subject), the same for both targets and both events.
        let key = (
            body["data"]["kind"].as_str().unwrap_or_default().to_owned(),
            body["data"]["subject"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        assert_eq!(
            *opened_ids.entry(key).or_insert(alert_id),
            alert_id,
            "{body}"
        );
    }
}

async fn metrics(service: &Service) -> String {
    reqwest::get(service.metrics_url())
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// Creates a customer in the simulator.
fn customer(sim: &RunningSim, name: &str) {
    sim.create(
        Resource::Contacts,
        &json!({"contact_types": [{"id": "CUSTOMER"}], "name": name}),
    )
    .expect("creating a customer");
}

/// `instance` with the instance's alerts URL (`URL/instance`) and secret.
fn with_alerts(mut instance: Value, alerts_url: &str) -> Value {
    instance["configuration"]["event.notification.alerts.url"] =
        json!(format!("{alerts_url}/instance"));
    instance["configuration"]["event.notification.alerts.secret"] = json!(INSTANCE_SECRET);
    instance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_polls_open_one_alert_and_their_recovery_resolves_it_once() {
    let (sim, receiver, _events, mut plain) = sim_receiver_service(b"unused").await;
    plain.stop().await;
    let (alerts_url, got) = alert_receiver().await;
    let options = alert_options(&alerts_url, 2);
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
        g.checked(id);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_subscriptions_open_their_alerts_and_a_redelivery_or_removal_resolves_them_once() {
    let (sim, receiver, mut events, mut plain) = sim_receiver_service(b"cb-key").await;
    plain.stop().await;
    let (alerts_url, got) = alert_receiver().await;
    let (gone_url, gone_answer, gone_count) = status_receiver(410).await;
    let (crm_url, _crm_answer, crm_count) = status_receiver(410).await;
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut service =
        Service::start_with_alerts(dir, 1024 * 1024, alert_options(&alerts_url, 5)).await;
    let mut instance = with_alerts(
        demo_instance(&sim.handle(), &receiver.url(), "cb-key").expect("json"),
        &alerts_url,
    );
    instance["configuration"]["event.notification.subscriptions"] = json!([
        {"name": "billing", "url": gone_url, "signatureKey": "key-b"},
        {"name": "crm", "url": crm_url, "signatureKey": "key-c"},
    ]);
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");

    // Records made before the instance never fire; this one does, to every lane.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    customer(&sim, "Gone One");
    let billing = [
        ("subscription_deactivated", "billing"),
        ("notifications_dead", "billing"),
    ];
    let crm = [
        ("subscription_deactivated", "crm"),
        ("notifications_dead", "crm"),
    ];
    let lane_alerts = [billing, crm].concat();
    assert!(
        wait_for(Duration::from_secs(60), || both_got(
            &got,
            "opened",
            &lane_alerts
        ))
        .await,
        "the subscription's alerts did not open within 60 s: {:?}",
        by_message(&got.lock().unwrap())
    );
    // 410 deactivates at once: one POST each, and the callback's own lane is untouched.
    assert_eq!(gone_count.load(Ordering::SeqCst), 1);
    assert_eq!(crm_count.load(Ordering::SeqCst), 1);
    let callback = receive(&mut events, 1).await;
    assert_eq!(callback.len(), 1, "{callback:?}");

    // The command line shows them, from the store.
    let db = service.db_url();
    let table = pollen_cli(&["alerts", "--db", &db]);
    for (kind, subject) in &lane_alerts {
        assert!(
            table.lines().any(|l| l.contains(" open ")
                && l.contains(kind)
                && l.contains(&format!(" {subject} "))
                && l.contains(&format!(" {id} "))),
            "{table}"
        );
    }
    let lines = pollen_cli(&["alerts", "--db", &db, "--json"]);
    let mut listed: Vec<(String, String)> = lines
        .lines()
        .map(|l| {
            let a: Value = serde_json::from_str(l).expect("a JSON line");
            assert_eq!(a["instanceId"], id, "{a}");
            assert_eq!(a["state"], "open", "{a}");
            (
                a["kind"].as_str().expect("a kind").to_owned(),
                a["subject"].as_str().expect("a subject").to_owned(),
            )
        })
        .collect();
    listed.sort();
    let mut want: Vec<(String, String)> = lane_alerts
        .iter()
        .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
        .collect();
    want.sort();
    assert_eq!(listed, want, "{lines}");

    // The receiver is back; re-delivering re-activates the subscription.
    gone_answer.store(200, Ordering::SeqCst);
    let (status, body) = service
        .call(
            reqwest::Method::POST,
            &format!("/instances/{id}/subscriptions/billing/redeliver"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requeued"], 1, "{body}");
    assert!(
        wait_for(Duration::from_secs(30), || both_got(
            &got, "resolved", &billing
        ))
        .await,
        "billing's alerts did not resolve within 30 s: {:?}",
        by_message(&got.lock().unwrap())
    );
    assert_eq!(gone_count.load(Ordering::SeqCst), 2, "delivered once more");
    // The other is removed: its notifications stay in the outbox, no longer sent, and nothing
    // is left to act on.
    let (status, body) = service
        .call(
            reqwest::Method::DELETE,
            &format!("/instances/{id}/subscriptions/crm"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        wait_for(Duration::from_secs(30), || both_got(&got, "resolved", &crm)).await,
        "the removed subscription's alerts did not resolve within 30 s: {:?}",
        by_message(&got.lock().unwrap())
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    check_once_each(&got.lock().expect("the log").clone(), id, &lane_alerts);
    let (_, open) = service
        .call(reqwest::Method::GET, "/alerts", AUTH, None)
        .await;
    assert_eq!(open["alerts"], json!([]), "{open}");
    assert_eq!(pollen_cli(&["alerts", "--db", &db]), "no alerts\n");
    let all = pollen_cli(&["alerts", "--db", &db, "--all", "--json"]);
    assert_eq!(all.lines().count(), 4, "{all}");
    assert!(
        all.lines().all(|l| l.contains("\"state\":\"resolved\"")),
        "{all}"
    );
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_out_of_retries_opens_its_alerts_and_its_redelivery_resolves_them_once() {
    let (sim, _receiver, _events, mut plain) = sim_receiver_service(b"unused").await;
    plain.stop().await;
    let (alerts_url, got) = alert_receiver().await;
    let (callback_url, answer, count) = status_receiver(500).await;
    // Two retries, half a second and a second after the first failure.
    let retry = RetryPolicy::vendor()
        .with_offsets(vec![Duration::from_millis(500), Duration::from_secs(1)])
        .expect("a schedule");
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut service =
        Service::start_configured(dir, 1024 * 1024, alert_options(&alerts_url, 5), Some(retry))
            .await;
    let instance = with_alerts(
        demo_instance(&sim.handle(), &callback_url, "key").expect("json"),
        &alerts_url,
    );
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    customer(&sim, "Failing One");
    // The callback's lane: subject "".
    let lane_alerts = [("subscription_deactivated", ""), ("notifications_dead", "")];
    assert!(
        wait_for(Duration::from_secs(60), || both_got(
            &got,
            "opened",
            &lane_alerts
        ))
        .await,
        "the callback's alerts did not open within 60 s: {:?}",
        by_message(&got.lock().unwrap())
    );
    // Only after the last retry: the first attempt and two retries.
    assert_eq!(count.load(Ordering::SeqCst), 3);
    let (_, open) = service
        .call(reqwest::Method::GET, "/alerts", AUTH, None)
        .await;
    let dead = open["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .find(|a| a["kind"] == "notifications_dead")
        .cloned()
        .unwrap_or_else(|| panic!("no notifications_dead alert listed: {open}"));
    assert!(
        dead["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("1 notifications failed their last retry")),
        "{dead}"
    );

    answer.store(200, Ordering::SeqCst);
    let (status, body) = service
        .call(
            reqwest::Method::POST,
            &format!("/instances/{id}/events/redeliver"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        wait_for(Duration::from_secs(30), || both_got(
            &got,
            "resolved",
            &lane_alerts
        ))
        .await,
        "the callback's alerts did not resolve within 30 s: {:?}",
        by_message(&got.lock().unwrap())
    );
    assert_eq!(count.load(Ordering::SeqCst), 4, "delivered once more");
    tokio::time::sleep(Duration::from_secs(5)).await;
    check_once_each(&got.lock().expect("the log").clone(), id, &lane_alerts);
    let metrics = metrics(&service).await;
    for kind in ["subscription_deactivated", "notifications_dead"] {
        assert!(
            metrics.contains(&format!("pollen_alerts_open{{kind=\"{kind}\"}} 0")),
            "{metrics}"
        );
    }
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_token_opens_reauthorization_needed_retried_until_received() {
    let (sim, receiver, mut events, mut plain) = sim_receiver_service(b"key").await;
    plain.stop().await;
    // Each target answers its first alert POST with 500.
    let (alerts_url, got) = alert_receiver_failing(1).await;
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut service =
        Service::start_with_alerts(dir, 1024 * 1024, alert_options(&alerts_url, 5)).await;
    let instance = with_alerts(
        demo_instance(&sim.handle(), &receiver.url(), "key").expect("json"),
        &alerts_url,
    );
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Sage forgets every token: the next call's 401, then the refresh, are refused.
    sim.revoke_all_tokens();
    let reauth = [("reauthorization_needed", "")];
    assert!(
        wait_for(Duration::from_secs(60), || both_got(
            &got, "opened", &reauth
        ))
        .await,
        "no reauthorization_needed alert within 60 s: {:?}",
        by_message(&got.lock().unwrap())
    );
    let (_, shown) = service
        .call(
            reqwest::Method::GET,
            &format!("/instances/{id}"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(shown["status"], "needs_reauthorization", "{shown}");
    // Each target's first POST failed and was retried 5 s later under the same message id.
    {
        let log = got.lock().expect("the log");
        for target in ["server", "instance"] {
            let posts: Vec<&Got> = log.iter().filter(|g| g.target == target).collect();
            assert!(posts.len() >= 2, "{target}: {posts:?}");
            assert!(!posts[0].ok && posts[1].ok, "{target}: {posts:?}");
            assert_eq!(posts[0].header("webhook-id"), posts[1].header("webhook-id"));
            let waited = posts[1].at - posts[0].at;
            assert!(
                waited >= Duration::from_millis(4500) && waited < Duration::from_secs(15),
                "{target}: retried after {waited:?}"
            );
        }
    }
    let shown = metrics(&service).await;
    assert!(
        shown.contains("pollen_alert_deliveries_total{outcome=\"failed\"} 2"),
        "{shown}"
    );
    assert!(
        shown.contains("pollen_alert_deliveries_total{outcome=\"delivered\"} 2"),
        "{shown}"
    );
    assert!(
        shown.contains("pollen_alerts_open{kind=\"reauthorization_needed\"} 1"),
        "{shown}"
    );

    // Re-authorized: a new token pair stored, the instance resumed.
    let tokens = sim.issue_tokens(ApiVersion::V31);
    let store = pollen::db::open_store(&service.db_url())
        .await
        .expect("the store");
    let now = chrono::Utc::now();
    let expires = now + chrono::TimeDelta::seconds(i64::try_from(tokens.expires_in).unwrap_or(60));
    store
        .save_credentials(
            id,
            &pollen_store::Credentials::new(
                Some(Secret::new(tokens.access_token.clone())),
                Some(Secret::new(tokens.refresh_token.clone())),
                Some(expires),
            ),
            now,
        )
        .await
        .expect("saving the new tokens");
    store.close().await;
    let mut resumed = instance.clone();
    resumed["disabled"] = json!(false);
    let (status, body) = service
        .call(
            reqwest::Method::PUT,
            &format!("/instances/{id}"),
            AUTH,
            Some(&resumed),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "active", "{body}");
    assert!(
        wait_for(Duration::from_secs(30), || both_got(
            &got, "resolved", &reauth
        ))
        .await,
        "reauthorization_needed did not resolve within 30 s: {:?}",
        by_message(&got.lock().unwrap())
    );
    // Polled again: a new record arrives, and nothing opens again.
    customer(&sim, "Back Again");
    let delivered = receive(&mut events, 1).await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = got.lock().expect("the log").clone();
    check_once_each(&log, id, &reauth);
    let shown = metrics(&service).await;
    assert!(
        shown.contains("pollen_alert_deliveries_total{outcome=\"failed\"} 2"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "pollen_alert_deliveries_total{{outcome=\"delivered\"}} {}",
            log.iter().filter(|g| g.ok).count()
        )),
        "{shown}"
    );
    assert_eq!(log.iter().filter(|g| g.ok).count(), 4);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_on_postgres_announce_each_alert_once_across_a_sigkill() {
    let Some(base_url) = postgres_url() else {
        eprintln!(
            "two_serve_processes_on_postgres_announce_each_alert_once: skipped: \
             POLLEN_TEST_DATABASE_URL is not set (PostgreSQL tests need it)"
        );
        return;
    };
    let schema = Schema {
        url: base_url.clone(),
        name: format!("pollen_alerts_{:016x}", rand::random::<u64>()),
    };
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let db = format!("{base_url}{separator}schema={}", schema.name);
    let (alerts_url, got) = alert_receiver().await;
    let env = [
        (
            "POLLEN_SECRET_KEY",
            pollen_store::SecretKey::generate().expose_base64(),
        ),
        ("POLLEN_USER_SECRET", "alerts-user".to_owned()),
        ("POLLEN_ORG_SECRET", "alerts-org".to_owned()),
        ("POLLEN_ALERTS_SECRET", SERVER_SECRET.to_owned()),
    ];
    let auth = "User alerts-user, Organization alerts-org";
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 5,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    let code = "a1e7a1e7a1e7a1e7a1e7a1e7a1e7a1e7a1e7a1e7";
    sim.add_authorization_code(code, ApiVersion::V31);
    let receiver = TestReceiver::start(Behaviour::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = |slot: usize| dir.path().join(format!("w{slot}.log"));
    let logs = || {
        (0..2)
            .map(|slot| format!("--- w{slot}\n{}", tail(&log(slot))))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let start = |slot: usize| -> (Pollen, u16) {
        let port = free_port();
        let args: Vec<String> = [
            "serve",
            "--allow-private-callbacks",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--db",
            &db,
            "--lease-ttl",
            "5s",
            "--alerts-url",
            &format!("{alerts_url}/server"),
            "--alert-after-failures",
            "2",
        ]
        .map(str::to_owned)
        .to_vec();
        (Pollen::start(&args, &env, &log(slot)), port)
    };
    let mut workers: Vec<(Pollen, u16)> = (0..2).map(start).collect();
    let up = wait_until(Duration::from_secs(30), || {
        workers
            .iter()
            .all(|(_, port)| std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok())
    })
    .await;
    assert!(up, "the workers did not start:\n{}", logs());

    // 0.02 minutes: a poll every 1.2 s.
    let instance = with_alerts(
        instance_json(&sim.handle(), &receiver.url(), "tenant", code, "0.02"),
        &alerts_url,
    );
    let answer = reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/elements/api-v2/instances",
            workers[0].1
        ))
        .header("authorization", auth)
        .json(&instance)
        .send()
        .await
        .expect("create");
    let status = answer.status();
    let created: Value = answer.json().await.unwrap_or_default();
    assert!(status.is_success(), "creating: {status} {created}");
    let id = created["id"].as_i64().expect("an id");
    let polled = wait_until(Duration::from_secs(30), || {
        sim.request_log()
            .iter()
            .any(|r| r.status == 200 && r.resource.as_deref() == Some("contacts"))
    })
    .await;
    assert!(polled, "the instance was not polled:\n{}", logs());

    sim.inject(Fault::probability(FaultKind::ServiceUnavailable, 1.0, 11).on_path_prefix("/v3.1/"))
        .expect("a fault");
    let alerts = [
        ("polls_failing", "customers"),
        ("polls_stalled", "customers"),
    ];
    assert!(
        wait_for(Duration::from_secs(60), || both_got(
            &got, "opened", &alerts
        ))
        .await,
        "the alerts did not open within 60 s: {:?}\n{}",
        by_message(&got.lock().unwrap()),
        logs()
    );
    // Time for the openings to be recorded; then one process dies and a new one starts at once
    // (`serve` has no `--worker-id`: the dead worker's leases are taken over after the TTL).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (victim, _) = std::mem::replace(&mut workers[1], start(1));
    victim.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.clear_faults();
    assert!(
        wait_for(Duration::from_secs(60), || both_got(
            &got, "resolved", &alerts
        ))
        .await,
        "the alerts did not resolve within 60 s: {:?}\n{}",
        by_message(&got.lock().unwrap()),
        logs()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (i, (worker, _)) in workers.iter_mut().enumerate() {
        assert!(worker.running(), "w{i} exited by itself:\n{}", logs());
    }
    check_once_each(&got.lock().expect("the log").clone(), id, &alerts);
    for (worker, _) in workers {
        assert_eq!(worker.terminate().await, Some(0), "{}", logs());
    }
    drop(schema);
}
