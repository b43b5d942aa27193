//! `pollen serve` in-process: an instance created through `POST /instances` against the
//! simulator delivers exactly one signed event per change; bad requests get the right 4xx.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Timelike};
use pollen::api::{serve, ApiSecrets, ServeOptions, BASE_PATH};
use pollen::demo::demo_instance;
use pollen::receiver::{ReceivedEvent, Receiver};
use pollen_sage_sim::{ApiVersion, Resource, RunningSim, SimConfig, Simulator};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

const CODE: &str = "1c6ff4089d58d80e86482ab7d5b97f15dd7b041d";
pub(crate) const AUTH: &str = "User test-user, Organization test-org";

/// A running `serve` on 127.0.0.1 over a SQLite store in a temporary directory.
pub(crate) struct Service {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<pollen::Result<()>>,
    dir: Arc<tempfile::TempDir>,
    client: reqwest::Client,
}

impl Service {
    pub(crate) async fn start(body_limit: usize) -> Service {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        Service::start_in(dir, body_limit).await
    }

    /// Another `serve` process on the database of `other`.
    async fn beside(other: &Service) -> Service {
        Service::start_in(other.dir.clone(), 1024 * 1024).await
    }

    async fn start_in(dir: Arc<tempfile::TempDir>, body_limit: usize) -> Service {
        Service::start_with_alerts(dir, body_limit, pollen::alerts::AlertOptions::new()).await
    }

    /// A `serve` with these alert options.
    pub(crate) async fn start_with_alerts(
        dir: Arc<tempfile::TempDir>,
        body_limit: usize,
        alerts: pollen::alerts::AlertOptions,
    ) -> Service {
        Service::start_configured(dir, body_limit, alerts, None).await
    }

    /// A `serve` with these alert options and, when given, this delivery retry schedule.
    pub(crate) async fn start_configured(
        dir: Arc<tempfile::TempDir>,
        body_limit: usize,
        alerts: pollen::alerts::AlertOptions,
        delivery_retry: Option<pollen_callback::RetryPolicy>,
    ) -> Service {
        let url = format!("sqlite://{}", dir.path().join("pollen.db").display());
        // As `pollen serve --db` opens it (key file beside), so the CLI can open it too.
        let store = pollen::db::open_store(&url).await.expect("store");
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut options = ServeOptions::new();
        options.body_limit = body_limit;
        options.engine.allow_private_callbacks = true;
        options.engine.refresh_interval = Some(TimeDelta::seconds(1));
        options.engine.first_poll_within = Some(TimeDelta::seconds(1));
        options.engine.delivery_interval = Duration::from_millis(200);
        options.engine.shutdown_grace = Duration::from_secs(5);
        options.engine.instance_sync = Duration::from_millis(300);
        // Heartbeats every second: dead workers are found within the test's patience.
        options.engine.lease_ttl = TimeDelta::seconds(3);
        options.engine.alerts = alerts;
        options.engine.delivery_retry = delivery_retry;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            listener,
            store,
            ApiSecrets::new("test-user", "test-org"),
            options,
            async {
                let _ = stopped.await;
            },
        ));
        Service {
            addr,
            stop: Some(stop),
            task,
            dir,
            client: reqwest::Client::new(),
        }
    }

    pub(crate) fn db_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("pollen.db").display())
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{BASE_PATH}{path}", self.addr)
    }

    pub(crate) fn metrics_url(&self) -> String {
        self.url("/metrics")
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("authorization", auth);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Stops serving; the database stays until the value is dropped.
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("serve stops within 10 s")
            .expect("the serve task");
        result.expect("serve ends cleanly");
    }
}

/// A simulator with five records per resource and the seed's grant code, a receiver checking
/// signatures with `key`, and a `serve`.
pub(crate) async fn sim_receiver_service(
    key: &'static [u8],
) -> (
    RunningSim,
    Receiver,
    mpsc::UnboundedReceiver<ReceivedEvent>,
    Service,
) {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 5,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    sim.add_authorization_code(CODE, ApiVersion::V31);
    let (receiver, events) = Receiver::start(key).await.expect("receiver");
    let service = Service::start(1024 * 1024).await;
    (sim, receiver, events, service)
}

/// Receives until `count` events arrived (or 40 s passed), then half a second more for repeats.
pub(crate) async fn receive(
    events: &mut mpsc::UnboundedReceiver<ReceivedEvent>,
    count: usize,
) -> Vec<ReceivedEvent> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while got.len() < count {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => got.push(event),
            _ => break,
        }
    }
    let settle = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(event)) = tokio::time::timeout_at(settle, events.recv()).await {
        got.push(event);
    }
    got
}

/// Creates a customer named `name` in the simulator; returns its id.
fn create_customer(sim: &RunningSim, name: &str) -> String {
    sim.create(
        Resource::Contacts,
        &json!({"contact_types": [{"id": "CUSTOMER"}], "name": name}),
    )
    .expect("creating a customer")
    .id()
    .to_owned()
}

/// The next event on `events` (within 15 s, else fails saying `what` was expected): the
/// signed `CREATED` of record `id`.
async fn expect_created(events: &mut mpsc::UnboundedReceiver<ReceivedEvent>, id: &str, what: &str) {
    let event = tokio::time::timeout(Duration::from_secs(15), events.recv())
        .await
        .unwrap_or_else(|_| panic!("{what} within 15 s"))
        .expect("the receiver runs");
    assert_eq!(
        (event.object_id.as_str(), event.event_type.as_str()),
        (id, "CREATED"),
        "{what}"
    );
    assert!(event.signature_valid, "{what}: signature");
}

/// `(record id, event type)` counts.
fn tally(events: &[ReceivedEvent]) -> HashMap<(String, String), usize> {
    let mut counts = HashMap::new();
    for event in events {
        *counts
            .entry((event.object_id.clone(), event.event_type.clone()))
            .or_default() += 1;
    }
    counts
}

fn check(expected: &HashMap<(String, String), usize>, received: &[ReceivedEvent]) {
    let bad: Vec<_> = received.iter().filter(|e| !e.signature_valid).collect();
    assert!(bad.is_empty(), "bad signatures: {bad:?}");
    assert!(
        received.iter().all(|e| e.object_type == "customers"),
        "object types: {received:?}"
    );
    let actual = tally(received);
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .iter()
        .filter(|(k, n)| expected.get(*k) != Some(n))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}; unexpected or repeated {extra:?}"
    );
    assert_eq!(received.len(), expected.values().sum::<usize>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_delivers_one_signed_event_per_change() {
    let (sim, receiver, mut events, mut service) = sim_receiver_service(b"serve-test-key").await;

    let mut instance =
        demo_instance(&sim.handle(), &receiver.url(), "serve-test-key").expect("json");
    // An update a couple of seconds after the creation is an update (the default is 10 s).
    instance["configuration"]["event.poller.configuration"]["customers"]["createdCheckTolerance"] =
        json!(1);
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");
    let token = created["token"].as_str().expect("a token").to_owned();
    assert_eq!(created["element"]["key"], "sageone");
    assert_eq!(created["name"], "API_Polling");
    assert_eq!(created["configuration"]["oauth.api.secret"], "***");
    assert_eq!(
        created["configuration"]["event.notification.signature.key"],
        "***"
    );
    assert!(created["configuration"]["event.poller.configuration"].is_string());
    assert_eq!(created["eventsEnabled"], true);
    assert_eq!(created["valid"], true);
    assert_eq!(created["disabled"], false);
    assert_eq!(created["tags"], json!(["Test"]));
    assert!(created["createdDate"].is_string());
    assert_eq!(
        sim.request_counts().get("POST /token", 200),
        1,
        "the code was exchanged"
    );

    // The creation time is the first watermark; changes made in a later second are new.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut expected = HashMap::new();
    let mut ids = Vec::new();
    for n in 0..120 {
        let record = sim
            .create(
                Resource::Contacts,
                &json!({"contact_types": [{"id": "CUSTOMER"}], "name": format!("Customer {n}")}),
            )
            .expect("creating a customer");
        expected.insert((record.id().to_owned(), "CREATED".to_owned()), 1);
        ids.push(record.id().to_owned());
    }
    let first = receive(&mut events, 120).await;
    check(&expected, &first);

    // Later seconds: 50 updates and 30 deletes of distinct customers, each a new state.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut second_expected = HashMap::new();
    for id in &ids[..50] {
        sim.update(
            Resource::Contacts,
            id,
            &json!({"name": format!("Updated {id}")}),
        )
        .expect("updating a customer");
        second_expected.insert((id.clone(), "UPDATED".to_owned()), 1);
    }
    for id in &ids[50..80] {
        sim.delete(Resource::Contacts, id)
            .expect("deleting a customer");
        second_expected.insert((id.clone(), "DELETED".to_owned()), 1);
    }
    let second = receive(&mut events, 80).await;
    check(&second_expected, &second);
    assert_eq!(first.len() + second.len(), 200);

    // The outbox as the API shows it: every notification delivered, with its attempt.
    let (status, rows) = service
        .call(
            reqwest::Method::GET,
            &format!("/instances/{id}/events?pageSize=1000"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rows}");
    let rows = rows.as_array().expect("rows").clone();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["status"] == "delivered"), "{rows:?}");
    let notification = rows[0]["id"].as_str().expect("an id").to_owned();
    let notification = notification.as_str();
    let (status, detail) = service
        .call(
            reqwest::Method::GET,
            &format!("/instances/events/{notification}"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["deliveryAttempts"][0]["httpStatus"], 200);
    assert_eq!(
        detail["body"]["message"]["events"][0]["objectType"],
        "customers"
    );

    // Re-delivering one notification sends it again, signed.
    let (status, requeued) = service
        .call(
            reqwest::Method::POST,
            &format!("/instances/{id}/events/redeliver"),
            AUTH,
            Some(&json!({"ids": [notification]})),
        )
        .await;
    assert_eq!(
        (status, &requeued["requeued"]),
        (200, &json!(1)),
        "{requeued}"
    );
    // The same notification, all its events, signed, once more.
    let event_ids: Vec<&str> = detail["eventIds"]
        .as_array()
        .expect("event ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut again = Vec::new();
    while again.len() < event_ids.len() {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the re-delivery within 10 s")
            .expect("the receiver runs");
        again.push(event);
    }
    assert!(again
        .iter()
        .all(|e| e.signature_valid && e.notification_id == notification));
    let again_ids: Vec<&str> = again.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(again_ids, event_ids);

    // The hub read through the instance's connector needs the instance's token.
    let element = format!("{AUTH}, Element {token}");
    let (status, page) = service
        .call(
            reqwest::Method::GET,
            "/hubs/finance/customers?pageSize=5",
            &element,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["records"].as_array().map(Vec::len), Some(5), "{page}");
    let (status, _) = service
        .call(reqwest::Method::GET, "/hubs/finance/customers", AUTH, None)
        .await;
    assert_eq!(status, 401);

    let metrics = reqwest::get(service.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("pollen_deliveries_total{outcome=\"delivered\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pollen_outbox_depth{status=\"pending\"}"),
        "{metrics}"
    );
    // Every Sage call of the instance took a token from its budget: its business is not
    // named, so the instance has a budget of its own, of the default 200 calls a minute.
    let (status, budgets) = service
        .call(reqwest::Method::GET, "/budgets", AUTH, None)
        .await;
    assert_eq!(status, 200, "{budgets}");
    let budget = &budgets["budgets"][0];
    assert!(
        budget["business"]
            .as_str()
            .is_some_and(|b| b.starts_with("instance:")),
        "{budgets}"
    );
    assert_eq!(budget["limit"], 200, "{budgets}");
    let calls = budget["calls"]["changes"].as_u64().unwrap_or(0)
        + budget["calls"]["backfill"].as_u64().unwrap_or(0);
    assert!(calls > 0, "{budgets}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("pollen_sage_budget_used{business=\"instance:")),
        "{metrics}"
    );
    assert!(
        metrics.contains("pollen_sage_budget_limit{business=\"instance:")
            && metrics.contains("} 200"),
        "{metrics}"
    );
    // Exactly the events the receiver got, by type; the one code exchange, no refresh (the
    // simulator's tokens outlive the test).
    for line in [
        "pollen_events_emitted_total{type=\"CREATED\"} 120",
        "pollen_events_emitted_total{type=\"UPDATED\"} 50",
        "pollen_events_emitted_total{type=\"DELETED\"} 30",
        "pollen_token_grants_total{grant=\"authorization_code\"} 1",
        "pollen_token_grants_total{grant=\"refresh_token\"} 0",
        "pollen_events_total{resource=\"customers\",type=\"CREATED\"} 120",
        "pollen_events_total{resource=\"customers\",type=\"UPDATED\"} 50",
        "pollen_events_total{resource=\"customers\",type=\"DELETED\"} 30",
        "pollen_token_refreshes_total{outcome=\"succeeded\"} 0",
        "pollen_token_refreshes_total{outcome=\"refused\"} 0",
        "pollen_token_refreshes_total{outcome=\"failed\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }

    // A PATCH that makes the instance invalid is refused, naming the field; nothing changes.
    let bad = json!({"configuration": {"event.poller.refresh_interval": "soon"}});
    let (status, refused) = service
        .call(
            reqwest::Method::PATCH,
            &format!("/instances/{id}"),
            AUTH,
            Some(&bad),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .any(|p| p["pointer"] == "/configuration/event.poller.refresh_interval"),
        "{refused}"
    );
    let (_, unchanged) = service
        .call(
            reqwest::Method::GET,
            &format!("/instances/{id}"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(
        unchanged["configuration"]["event.poller.refresh_interval"],
        "15"
    );

    // Pausing (`disabled`) stops the polls and keeps their state; resuming continues from
    // the watermark: the change made while paused arrives, nothing from before it again.
    let pause = |disabled: bool| json!({ "disabled": disabled });
    let (status, paused) = service
        .call(
            reqwest::Method::PATCH,
            &format!("/instances/{id}"),
            AUTH,
            Some(&pause(true)),
        )
        .await;
    assert_eq!(
        (status, &paused["disabled"]),
        (200, &json!(true)),
        "{paused}"
    );
    // A poll already running when the pause came may finish: let it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sage_requests = || sim.request_counts().total();
    let before = sage_requests();
    let while_paused = create_customer(&sim, "While paused");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sage_requests(), before, "a paused instance was polled");
    assert!(events.try_recv().is_err(), "an event while paused");
    let (status, resumed) = service
        .call(
            reqwest::Method::PATCH,
            &format!("/instances/{id}"),
            AUTH,
            Some(&pause(false)),
        )
        .await;
    assert_eq!(
        (status, &resumed["disabled"]),
        (200, &json!(false)),
        "{resumed}"
    );
    expect_created(
        &mut events,
        &while_paused,
        "the change made while paused, first after the resume",
    )
    .await;
    // Three more polls: the 200 changes from before the pause do not come again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut repeated = Vec::new();
    while let Ok(event) = events.try_recv() {
        repeated.push((event.object_id, event.event_type));
    }
    assert!(
        repeated.is_empty(),
        "events repeated after the resume: {repeated:?}"
    );

    // A PATCH of the callback URL takes effect on the next delivery.
    let (moved, mut moved_events) = Receiver::start(b"serve-test-key").await.expect("receiver");
    let patch = json!({"configuration": {"event.notification.callback.url": moved.url()}});
    let (status, patched) = service
        .call(
            reqwest::Method::PATCH,
            &format!("/instances/{id}"),
            AUTH,
            Some(&patch),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["configuration"]["event.notification.callback.url"],
        json!(moved.url())
    );
    assert_eq!(
        patched["name"], "API_Polling",
        "the rest of the instance stays"
    );
    let record = create_customer(&sim, "After the PATCH");
    expect_created(&mut moved_events, &record, "an event at the new URL").await;
    assert!(events.try_recv().is_err(), "nothing more at the old URL");
    // The receiver has the event; the sender marks it delivered just after (within 10 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let (status, rows) = service
            .call(
                reqwest::Method::GET,
                &format!("/instances/{id}/events?pageSize=1000"),
                AUTH,
                None,
            )
            .await;
        assert_eq!(status, 200, "{rows}");
        let rows = rows.as_array().expect("rows").clone();
        if rows.iter().all(|r| r["status"] == "delivered") || tokio::time::Instant::now() > deadline
        {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    service.stop().await;
    moved.shutdown().await;

    // The same outbox through `pollen events` on the database.
    let db = service.db_url();
    let listed = pollen_cli(&[
        "events",
        "list",
        "--db",
        &db,
        "--instance",
        &id.to_string(),
        "--json",
    ]);
    let lines: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), rows.len(), "{listed}");
    assert!(lines.iter().all(|l| l["status"] == "delivered"), "{listed}");
    let table = pollen_cli(&["events", "list", "--db", &db, "--status", "delivered"]);
    assert_eq!(table.lines().count(), rows.len() + 1, "{table}");
    let redelivered = pollen_cli(&["events", "redeliver", "--db", &db, notification]);
    assert!(redelivered.starts_with("requeued 1 "), "{redelivered}");
    let pending = pollen_cli(&[
        "events", "list", "--db", &db, "--status", "pending", "--json",
    ]);
    assert_eq!(pending.lines().count(), 1, "{pending}");
    receiver.shutdown().await;
    sim.shutdown().await;
}

/// `serve` processes on one database: an instance created through one is polled by another
/// within its sync interval (the first stops right after creating it, so only the second can
/// poll it), and a pause made through a third stops the second's polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_processes_on_one_database_follow_each_others_instances() {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 3,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    sim.add_authorization_code(CODE, ApiVersion::V31);
    let (receiver, mut events) = Receiver::start(b"serve-test-key").await.expect("receiver");
    let mut first = Service::start(1024 * 1024).await;
    let mut second = Service::beside(&first).await;

    let instance = demo_instance(&sim.handle(), &receiver.url(), "serve-test-key").expect("json");
    let (status, created) = first
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");
    first.stop().await;

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let record = create_customer(&sim, "Seen by the second");
    expect_created(
        &mut events,
        &record,
        "the second process polls the instance created by the first",
    )
    .await;

    // Paused through a third process: the pause is in the store, so the second stops
    // polling at once (and its next sync takes the instance out of its registry).
    let mut third = Service::beside(&second).await;
    let (status, paused) = third
        .call(
            reqwest::Method::PATCH,
            &format!("/instances/{id}"),
            AUTH,
            Some(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, 200, "{paused}");
    third.stop().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before = sim.request_counts().total();
    create_customer(&sim, "While paused");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        sim.request_counts().total(),
        before,
        "a paused instance was polled"
    );
    assert!(events.try_recv().is_err(), "an event while paused");

    second.stop().await;
    receiver.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_are_listed_renewed_released_when_dead_and_leave_when_stopped() {
    use pollen_core::{PollKey, Store, Worker};
    let mut first = Service::start(1024 * 1024).await;
    let mut second = Service::beside(&first).await;
    // A worker that died an hour ago holding a poll lease and a notification's delivery lease.
    let store = pollen::db::open_store(&first.db_url())
        .await
        .expect("store");
    let now = chrono::Utc::now();
    let ghost = Worker {
        id: "ghost".into(),
        host: "gone".into(),
        pid: 7,
        started_at: now - TimeDelta::hours(2),
        heartbeat_at: now - TimeDelta::hours(1),
        lease_ttl_ms: 3_000,
    };
    // Due in an hour (claimed by the ghost "then"): once released, no live worker claims it.
    let key = PollKey::new("999", "contacts");
    let due = now + TimeDelta::hours(1);
    store.register(&key, now, due).await.expect("register");
    let claimed = store
        .claim_due("ghost", due, TimeDelta::minutes(10), 1)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    // Registered after its claim: a live worker's sweep between the two would find no lease.
    store.heartbeat(&ghost).await.expect("heartbeat");

    // Both live workers are listed, alive, with fresh heartbeats; the ghost is released by
    // the next heartbeat of either.
    let mut listed = Value::Null;
    for _ in 0..50 {
        let (status, body) = second
            .call(reqwest::Method::GET, "/workers", AUTH, None)
            .await;
        assert_eq!(status, 200, "{body}");
        listed = body;
        let workers = listed["workers"].as_array().expect("workers");
        if workers.len() == 2 && workers.iter().all(|w| w["id"] != "ghost") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let workers = listed["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2, "{listed}");
    assert!(
        workers.iter().any(|w| w["id"] == listed["self"]),
        "{listed}"
    );
    for worker in workers {
        assert_eq!(worker["state"], "alive", "{worker}");
        assert_eq!(worker["pid"], std::process::id(), "{worker}");
        assert_eq!(worker["leaseTtlSeconds"], 3.0, "{worker}");
        let age = worker["heartbeatAgeSeconds"].as_f64().expect("an age");
        assert!((0.0..3.0).contains(&age), "{worker}");
    }
    let state = store.load(&key).await.expect("load").expect("state");
    assert_eq!(
        state.lease, None,
        "the dead worker's lease was not released"
    );
    let metrics = reqwest::get(first.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let second_metrics = reqwest::get(second.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let taken_over = |text: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("pollen_leases_taken_over_total "))
            .and_then(|v| v.parse().ok())
            .expect("pollen_leases_taken_over_total")
    };
    assert_eq!(
        taken_over(&metrics) + taken_over(&second_metrics),
        1,
        "one lease taken over, by one of the two"
    );
    for text in [&metrics, &second_metrics] {
        assert!(text.contains("\npollen_lease_renewals_total "), "{text}");
        let age: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("pollen_worker_heartbeat_age_seconds "))
            .and_then(|v| v.parse().ok())
            .expect("pollen_worker_heartbeat_age_seconds");
        assert!((0.0..3.0).contains(&age), "heartbeat age {age}");
    }

    // The command line reads the same registry.
    let db = first.db_url();
    let table = pollen_cli(&["workers", "--db", &db]);
    for worker in workers {
        let id = worker["id"].as_str().expect("an id");
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(id) && l.contains(" alive ")),
            "{table}"
        );
    }
    let lines = pollen_cli(&["workers", "--db", &db, "--json"]);
    let parsed: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(parsed.len(), 2, "{lines}");

    // A worker that stops leaves the registry.
    first.stop().await;
    let (status, body) = second
        .call(reqwest::Method::GET, "/workers", AUTH, None)
        .await;
    assert_eq!(status, 200);
    let ids: Vec<&Value> = body["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| &w["id"])
        .collect();
    assert_eq!(ids, vec![&body["self"]], "{body}");
    let (status, _) = second
        .call(
            reqwest::Method::GET,
            "/workers",
            "User x, Organization y",
            None,
        )
        .await;
    assert_eq!(status, 401);
    second.stop().await;
    store.close().await;
}

/// Runs the `pollen` binary; its stdout, after asserting it succeeded.
pub(crate) fn pollen_cli(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pollen"))
        .args(args)
        .output()
        .expect("running pollen");
    assert!(
        output.status.success(),
        "pollen {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_bad_requests_with_the_right_status() {
    // A small limit, so that the whole oversized body is sent before the 413 comes back.
    let mut service = Service::start(64 * 1024).await;
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    let (status, body) = service
        .call(
            get.clone(),
            "/instances",
            "User test-user, Organization wrong",
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let wrong_user = service
        .call(
            get.clone(),
            "/instances",
            "User wrong, Organization test-org",
            None,
        )
        .await;
    assert_eq!(
        wrong_user,
        (status, body),
        "the same answer whichever secret is wrong"
    );
    assert_eq!(
        service.call(get.clone(), "/instances", "", None).await.0,
        401
    );

    let mut invalid: Value =
        serde_json::from_str(pollen::demo::SEED_INSTANCE).expect("the seed parses");
    invalid["configuration"]["event.poller.refresh_interval"] = json!("soon");
    invalid["configuration"]
        .as_object_mut()
        .expect("an object")
        .remove("oauth.api.key");
    let (status, body) = service
        .call(post.clone(), "/instances", AUTH, Some(&invalid))
        .await;
    assert_eq!(status, 400, "{body}");
    let pointers: Vec<&str> = body["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter(|p| p["severity"] == "error")
        .filter_map(|p| p["pointer"].as_str())
        .collect();
    assert!(
        pointers.contains(&"/configuration/event.poller.refresh_interval")
            && pointers.contains(&"/configuration/oauth.api.key"),
        "{body}"
    );

    for (path, expected) in [
        ("/instances/42", 404),
        ("/instances/abc", 400),
        ("/instances/42/events", 404),
        ("/no/such/route", 404),
        ("/instances/events/nope", 400),
    ] {
        let (status, body) = service.call(get.clone(), path, AUTH, None).await;
        assert_eq!(status, expected, "GET {path}: {body}");
    }

    let bad_bodies: [(&str, Vec<u8>, u16); 3] = [
        ("text/plain", b"{}".to_vec(), 415),
        ("application/json", vec![b' '; 100 * 1024], 413),
        ("application/json", b"{\"name\": ".to_vec(), 400),
    ];
    for (content_type, body, expected) in bad_bodies {
        let response = service
            .client
            .post(service.url("/instances"))
            .header("authorization", AUTH)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status().as_u16(), expected, "{content_type}");
    }

    let health = reqwest::get(service.url("/health")).await.expect("health");
    assert_eq!(health.status().as_u16(), 200);
    let openapi: Value = reqwest::get(service.url("/openapi.json"))
        .await
        .expect("openapi")
        .json()
        .await
        .expect("JSON");
    assert_eq!(openapi["openapi"], "3.0.3");
    assert!(openapi["paths"]["/instances/{id}/events/redeliver"]["post"].is_object());
    assert!(openapi["paths"]["/workers"]["get"].is_object());
    for (path, method) in [
        ("/instances/{id}/events/replay", "post"),
        ("/instances/{id}/events/replays", "get"),
        ("/instances/{id}/events/replays/{replayId}", "get"),
        ("/instances/{id}/events/replays/{replayId}/cancel", "post"),
        ("/instances/{id}/signing-keys", "get"),
        ("/instances/{id}/signing-keys/rotate", "post"),
        ("/instances/{id}/signing-keys/retired", "delete"),
    ] {
        assert!(
            openapi["paths"][path][method].is_object(),
            "{method} {path}"
        );
    }
    assert!(
        openapi["components"]["schemas"]["Worker"]["properties"]["heartbeatAgeSeconds"].is_object()
    );

    // Guessing the secrets: at most ten wrong pairs a minute per address, then 429 with
    // Retry-After for that address, even with the right pair; unauthenticated routes stay open.
    let wrong = "User test-user, Organization guess";
    let mut refused_after = None;
    for n in 1..=11 {
        let response = service
            .client
            .get(service.url("/instances"))
            .header("authorization", wrong)
            .send()
            .await
            .expect("answer");
        match response.status().as_u16() {
            401 => {}
            429 => {
                refused_after = Some(n);
                break;
            }
            other => panic!("wrong secrets answered {other}"),
        }
    }
    let refused_after = refused_after.expect("429 within eleven wrong pairs");
    assert!(refused_after > 1, "refused at once");
    let response = service
        .client
        .get(service.url("/instances"))
        .header("authorization", AUTH)
        .send()
        .await
        .expect("answer");
    assert_eq!(
        response.status().as_u16(),
        429,
        "the right pair, while refused"
    );
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let body: Value = response.json().await.expect("JSON");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("wrong secrets")),
        "{body}"
    );
    let health = reqwest::get(service.url("/health")).await.expect("health");
    assert_eq!(health.status().as_u16(), 200);
    service.stop().await;
}

#[test]
fn serve_command_needs_both_secrets_then_says_where_it_listens() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("pollen.db").display());
    let serve = |user: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pollen"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--db", &db])
            .env_remove("POLLEN_USER_SECRET")
            .env("POLLEN_ORG_SECRET", "org")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(user) = user {
            command.env("POLLEN_USER_SECRET", user);
        }
        command
    };
    let refused = serve(None).output().expect("running pollen serve");
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("POLLEN_USER_SECRET"), "{stderr}");

    let mut child = serve(Some("user"))
        .stderr(Stdio::null())
        .spawn()
        .expect("starting pollen serve");
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut first_line)
        .expect("reading the first line");
    let addr = first_line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
        .to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connecting");
    write!(
        stream,
        "GET {BASE_PATH}/instances HTTP/1.1\r\nHost: {addr}\r\nAuthorization: User user, Organization org\r\nConnection: close\r\n\r\n"
    )
    .expect("sending a request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reading");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("waiting for pollen serve");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("[]"), "{response}");
    assert_eq!(exit.code(), Some(0));
}

/// The event ids of `events`, by (record, type).
fn event_ids(events: &[ReceivedEvent]) -> std::collections::BTreeSet<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.object_id.clone(),
                e.event_type.clone(),
                e.event_id.clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewinding_a_resource_emits_exactly_the_changes_after_t_again() {
    let (sim, receiver, mut events, mut service) = sim_receiver_service(b"rewind-key").await;
    let instance = demo_instance(&sim.handle(), &receiver.url(), "rewind-key").expect("json");
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");

    // One change before T, two after (whole seconds apart: Sage's filter has seconds).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = create_customer(&sim, "Before");
    let first = receive(&mut events, 1).await;
    assert_eq!(
        event_ids(&first)
            .into_iter()
            .map(|(id, ..)| id)
            .collect::<Vec<_>>(),
        [before]
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = chrono::Utc::now()
        .with_nanosecond(0)
        .expect("a whole second");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = [
        create_customer(&sim, "After 1"),
        create_customer(&sim, "After 2"),
    ];
    let second = receive(&mut events, 2).await;
    assert_eq!(second.len(), 2, "{second:?}");

    let rewind = format!("/instances/{id}/resources/customers/rewind");
    let to = t.to_rfc3339();
    let (status, rewound) = service
        .call(
            reqwest::Method::POST,
            &rewind,
            AUTH,
            Some(&json!({"to": to})),
        )
        .await;
    assert_eq!(status, 200, "{rewound}");
    assert_eq!(rewound["resource"], "customers");
    assert_eq!(rewound["forgottenChanges"], 2, "{rewound}");
    assert_eq!(
        rewound["watermark"],
        t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    // Exactly the two changes after T again, with the same event ids; not the one before.
    let again = receive(&mut events, 2).await;
    assert_eq!(event_ids(&again), event_ids(&second), "{again:?}");
    assert!(
        again.iter().all(|e| after.contains(&e.object_id)),
        "{again:?}"
    );

    // Refusals: forward, an unknown resource, a bad body; the command line too.
    let later = (chrono::Utc::now() + TimeDelta::hours(1)).to_rfc3339();
    let (status, refused) = service
        .call(
            reqwest::Method::POST,
            &rewind,
            AUTH,
            Some(&json!({"to": later})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused.to_string().contains("would skip changes"),
        "{refused}"
    );
    let (status, refused) = service
        .call(
            reqwest::Method::POST,
            &format!("/instances/{id}/resources/cusotmers/rewind"),
            AUTH,
            Some(&json!({"to": to})),
        )
        .await;
    assert_eq!(status, 404, "{refused}");
    assert!(
        refused.to_string().contains("it polls: customers"),
        "{refused}"
    );
    let (status, refused) = service
        .call(
            reqwest::Method::POST,
            &rewind,
            AUTH,
            Some(&json!({"to": "yesterday"})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("/to"), "{refused}");

    let db = service.db_url();
    let id_text = id.to_string();
    let cli = |to: &str| {
        crate::support::pollen_command(
            &[
                "rewind",
                "--db",
                &db,
                "--instance",
                &id_text,
                "--resource",
                "customers",
                "--to",
                to,
                "--json",
            ],
            &[],
        )
    };
    let refused = cli(&later);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("would skip changes"), "{stderr}");
    let done = cli(&to);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let printed: Value = serde_json::from_slice(&done.stdout).expect("JSON");
    assert_eq!(printed["forgottenChanges"], 2, "{printed}");
    let again = receive(&mut events, 2).await;
    assert_eq!(event_ids(&again), event_ids(&second), "{again:?}");
    service.stop().await;
}

/// The notification ids of `events`.
fn notification_ids(events: &[ReceivedEvent]) -> std::collections::BTreeSet<String> {
    events.iter().map(|e| e.notification_id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_a_range_resends_exactly_its_notifications_with_the_same_ids() {
    let (sim, receiver, mut events, mut service) = sim_receiver_service(b"replay-key").await;
    let instance = demo_instance(&sim.handle(), &receiver.url(), "replay-key").expect("json");
    let (status, created) = service
        .call(reqwest::Method::POST, "/instances", AUTH, Some(&instance))
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().expect("an id");
    let whole_second = || {
        chrono::Utc::now()
            .with_nanosecond(0)
            .expect("a whole second")
    };

    // Before the range, in it (two creates, then a delete), after it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = create_customer(&sim, "Before");
    assert_eq!(receive(&mut events, 1).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = whole_second();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    create_customer(&sim, "In 1");
    create_customer(&sim, "In 2");
    let mut in_range = receive(&mut events, 2).await;
    sim.delete(Resource::Contacts, &before).expect("deleting");
    let deleted = receive(&mut events, 1).await;
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert_eq!(deleted[0].event_type, "DELETED");
    in_range.extend(deleted.iter().cloned());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let until = whole_second() + TimeDelta::milliseconds(1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    create_customer(&sim, "After");
    assert_eq!(receive(&mut events, 1).await.len(), 1);

    let replay = format!("/instances/{id}/events/replay");
    let range = json!({"since": since.to_rfc3339(), "until": until.to_rfc3339()});
    let mut preview = range.clone();
    preview["preview"] = json!(true);
    let (status, counted) = service
        .call(reqwest::Method::POST, &replay, AUTH, Some(&preview))
        .await;
    assert_eq!(status, 200, "{counted}");
    let expected = notification_ids(&in_range);
    assert_eq!(
        counted["count"],
        expected.len(),
        "{counted} vs {in_range:?}"
    );

    // Exactly the range's notifications again: same notification ids, same event ids.
    let (status, started) = service
        .call(reqwest::Method::POST, &replay, AUTH, Some(&range))
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["total"], expected.len(), "{started}");
    let again = receive(&mut events, in_range.len()).await;
    assert_eq!(event_ids(&again), event_ids(&in_range), "{again:?}");
    assert_eq!(notification_ids(&again), expected);
    assert!(again.iter().all(|e| e.signature_valid), "{again:?}");
    let progress = format!("/instances/{id}/events/replays/{}", started["id"]);
    let (status, done) = service
        .call(reqwest::Method::GET, &progress, AUTH, None)
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["replayed"], expected.len(), "{done}");
    // Cancelling a finished replay changes nothing.
    let (status, cancelled) = service
        .call(
            reqwest::Method::POST,
            &format!("{progress}/cancel"),
            AUTH,
            None,
        )
        .await;
    assert_eq!((status, &cancelled["state"]), (200, &json!("done")));

    // Only the deletions, from the command line: the one notification holding the DELETED.
    let db = service.db_url();
    let id_text = id.to_string();
    let (since_text, until_text) = (since.to_rfc3339(), until.to_rfc3339());
    let cli = |extra: &[&str]| {
        let mut args = vec![
            "events",
            "replay",
            "--db",
            &db,
            "--instance",
            &id_text,
            "--since",
            &since_text,
            "--until",
            &until_text,
            "--json",
        ];
        args.extend_from_slice(extra);
        crate::support::pollen_command(&args, &[])
    };
    let refused = cli(&["--type", "CREATE"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--type: `CREATE` is not one of"),
        "{stderr}"
    );
    let counted = cli(&["--type", "deleted", "--preview"]);
    let printed: Value = serde_json::from_slice(&counted.stdout).expect("JSON");
    assert_eq!(printed["count"], 1, "{printed}");
    let started = cli(&["--type", "DELETED", "--resource", "customers"]);
    assert_eq!(
        started.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let printed: Value = serde_json::from_slice(&started.stdout).expect("JSON");
    assert_eq!(printed["total"], 1, "{printed}");
    assert_eq!(printed["eventTypes"], json!(["DELETED"]));
    let again = receive(&mut events, 1).await;
    assert_eq!(event_ids(&again), event_ids(&deleted), "{again:?}");

    let (status, listed) = service
        .call(
            reqwest::Method::GET,
            &format!("/instances/{id}/events/replays"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    let metrics = reqwest::get(service.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(&format!(
            "pollen_replayed_notifications_total {}",
            expected.len() + 1
        )),
        "{metrics}"
    );
    assert!(metrics.contains("pollen_replays_running 0"), "{metrics}");

    // Refusals: an empty range, an unknown type, an unknown replay.
    let (status, refused) = service
        .call(
            reqwest::Method::POST,
            &replay,
            AUTH,
            Some(&json!({"since": until_text, "until": since_text})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused.to_string().contains("/until: the range is empty"),
        "{refused}"
    );
    let (status, refused) = service
        .call(
            reqwest::Method::POST,
            &replay,
            AUTH,
            Some(&json!({"since": since_text, "eventTypes": ["MOVED"]})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("/eventTypes"), "{refused}");
    let (status, refused) = service
        .call(
            reqwest::Method::GET,
            &format!("/instances/{id}/events/replays/999999"),
            AUTH,
            None,
        )
        .await;
    assert_eq!(status, 404, "{refused}");
    service.stop().await;
}
