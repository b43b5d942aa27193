//! Shared pieces of the crash, fault and multi-worker suites: `pollen run` as a child process,
//! instance files pointed at the simulator, a receiver that can misbehave on purpose, and the
//! checks of pollen's promise — no change lost, every repeat carrying the same event id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use pollen::demo::{demo_instance, tally, DemoSummary};
use pollen::receiver::{parse_events, ReceivedEvent};
use pollen_sage_sim::{Change, Resource, SimHandle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// The signature key of every suite instance.
pub(crate) const SIGNATURE_KEY: &str = "suite-signature-key";

/// Locks a mutex whose data stays valid after a panic elsewhere (plain pushes and reads).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The seed instance renamed `name`, with its own grant `code`, polled every
/// `refresh_minutes` (fractions allowed: "0.02" is 1.2 s), delivering to `callback`.
pub(crate) fn instance_json(
    sim: &SimHandle,
    callback: &str,
    name: &str,
    code: &str,
    refresh_minutes: &str,
) -> Value {
    let mut instance = demo_instance(sim, callback, SIGNATURE_KEY).expect("the seed instance");
    instance["name"] = json!(name);
    instance["providerData"]["code"] = json!(code);
    instance["configuration"]["event.poller.refresh_interval"] = json!(refresh_minutes);
    instance
}

/// Writes each instance as `DIR/NNN.json` (the order `pollen run` stores them in).
pub(crate) fn write_instances(dir: &Path, instances: &[Value]) -> PathBuf {
    let config = dir.join("instances");
    std::fs::create_dir_all(&config).expect("creating the instance directory");
    for (i, instance) in instances.iter().enumerate() {
        std::fs::write(config.join(format!("{i:03}.json")), instance.to_string())
            .expect("writing an instance file");
    }
    config
}

/// A `pollen` child process whose stderr goes to a log file (shown when a check fails).
#[derive(Debug)]
pub(crate) struct Pollen {
    child: Child,
}

impl Pollen {
    /// Starts `pollen ARGS`, appending its stderr to `log`.
    pub(crate) fn start(args: &[String], env: &[(&str, String)], log: &Path) -> Pollen {
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("opening the pollen log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_pollen"));
        command
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (name, value) in env {
            command.env(name, value);
        }
        Pollen {
            child: command.spawn().expect("starting pollen"),
        }
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs, whatever was in flight is cut.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping pollen");
    }

    /// Whether it is still running.
    pub(crate) fn running(&mut self) -> bool {
        self.child.try_wait().expect("polling the child").is_none()
    }

    /// SIGTERM, then its exit code, which must come within ten seconds.
    pub(crate) async fn terminate(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().expect("waiting for pollen") {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        panic!("pollen did not exit within 10 s of SIGTERM");
    }
}

impl Drop for Pollen {
    fn drop(&mut self) {
        // A failing test must not leave workers behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `pollen ARGS` to completion (e.g. `events redeliver`).
pub(crate) fn pollen_command(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pollen"));
    command.args(args).env("RUST_LOG", "warn");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("running pollen")
}

/// The log file's last 40 lines, for failure messages, without the instance files' warnings
/// (the seed's where clause has a known quirk, reported once per file and start).
pub(crate) fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut lines: Vec<&str> = Vec::new();
    let mut skip = 0;
    for line in text.lines() {
        if line.starts_with("warning: /") {
            skip = 2;
        } else if skip > 0 && line.starts_with(' ') {
            skip -= 1;
        } else {
            skip = 0;
            lines.push(line);
        }
    }
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Waits until `done()` holds, checking every 200 ms; false when `limit` passed first.
pub(crate) async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How the receiver misbehaves, on purpose.
#[derive(Debug, Clone, Default)]
pub(crate) struct Behaviour {
    /// Share of deliveries answered 500 (drawn from `seed`).
    pub(crate) failure_rate: f64,
    /// Seed of the failures.
    pub(crate) seed: u64,
    /// This instance's first delivery is answered 410 Gone.
    pub(crate) gone_once: Option<String>,
    /// This instance's first `hangs` deliveries get no answer for a minute.
    pub(crate) hang: Option<(String, u32)>,
    /// Every answer comes this late (the delivery is recorded when it arrives).
    pub(crate) delay: Duration,
}

/// One notification as the receiver got it.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// `message.instanceName`.
    pub(crate) instance: String,
    /// `message.instanceId`.
    pub(crate) instance_id: String,
    /// What the receiver answered (0: it hung).
    pub(crate) status: u16,
    /// Its events.
    pub(crate) events: Vec<ReceivedEvent>,
}

#[derive(Debug)]
struct ReceiverState {
    behaviour: Behaviour,
    rng: Mutex<StdRng>,
    gone_sent: AtomicBool,
    hangs_left: AtomicU32,
    deliveries: Mutex<Vec<Delivery>>,
}

/// A callback receiver on 127.0.0.1 that verifies signatures and records every delivery.
#[derive(Debug)]
pub(crate) struct TestReceiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
    task: tokio::task::JoinHandle<()>,
}

impl TestReceiver {
    pub(crate) async fn start(behaviour: Behaviour) -> TestReceiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding the receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        let state = Arc::new(ReceiverState {
            rng: Mutex::new(StdRng::seed_from_u64(behaviour.seed)),
            hangs_left: AtomicU32::new(behaviour.hang.as_ref().map_or(0, |(_, n)| *n)),
            gone_sent: AtomicBool::new(false),
            behaviour,
            deliveries: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/events", post(receive))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestReceiver { addr, state, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.state.deliveries).clone()
    }

    /// The events of the deliveries answered 2xx, by instance name.
    pub(crate) fn acknowledged_by_instance(&self) -> HashMap<String, Vec<ReceivedEvent>> {
        let mut map: HashMap<String, Vec<ReceivedEvent>> = HashMap::new();
        for delivery in lock(&self.state.deliveries).iter() {
            if (200..300).contains(&delivery.status) {
                map.entry(delivery.instance.clone())
                    .or_default()
                    .extend(delivery.events.iter().cloned());
            }
        }
        map
    }

    /// Every event received for `instance`, acknowledged or not.
    pub(crate) fn events(&self, instance: &str) -> Vec<ReceivedEvent> {
        lock(&self.state.deliveries)
            .iter()
            .filter(|d| d.instance == instance)
            .flat_map(|d| d.events.iter().cloned())
            .collect()
    }

    /// The events of `instance` the receiver answered 2xx: the ones delivered.
    pub(crate) fn delivered(&self, instance: &str) -> Vec<ReceivedEvent> {
        lock(&self.state.deliveries)
            .iter()
            .filter(|d| d.instance == instance && (200..300).contains(&d.status))
            .flat_map(|d| d.events.iter().cloned())
            .collect()
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let expected = pollen_callback::elements_signature(SIGNATURE_KEY.as_bytes(), &body);
    let signature_valid = headers
        .get("elements-webhook-signature")
        .is_some_and(|given| given.as_bytes() == expected.as_bytes());
    let notification_id = headers
        .get("elements-webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let instance = text(&payload["message"]["instanceName"]);
    let instance_id = text(&payload["message"]["instanceId"]);
    let received_at = Utc::now();
    let events: Vec<ReceivedEvent> = parse_events(&payload)
        .into_iter()
        .map(|event| ReceivedEvent {
            notification_id: notification_id.clone(),
            received_at,
            signature_valid,
            ..event
        })
        .collect();
    let behaviour = &state.behaviour;
    let mut hang = false;
    let status = if !signature_valid {
        StatusCode::UNAUTHORIZED
    } else if behaviour.gone_once.as_deref() == Some(instance.as_str())
        && !state.gone_sent.swap(true, Ordering::SeqCst)
    {
        StatusCode::GONE
    } else if behaviour
        .hang
        .as_ref()
        .is_some_and(|(name, _)| *name == instance)
        && state
            .hangs_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        hang = true;
        StatusCode::OK
    } else if lock(&state.rng).gen_bool(behaviour.failure_rate) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    lock(&state.deliveries).push(Delivery {
        instance,
        instance_id,
        status: if hang { 0 } else { status.as_u16() },
        events,
    });
    if hang {
        // pollen gives up on its timeout and drops the connection long before this.
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    tokio::time::sleep(behaviour.delay).await;
    status
}

/// Whether the simulator's contact `id` is a customer (what the seed instance polls).
fn is_customer(sim: &SimHandle, id: &str) -> bool {
    sim.record(Resource::Contacts, id).is_some_and(|record| {
        record
            .field("contact_types")
            .and_then(Value::as_array)
            .is_some_and(|types| types.iter().any(|t| t["id"] == "CUSTOMER"))
    })
}

/// The simulator's changes to customers, the ground truth of the seed instance.
pub(crate) fn customer_changes(sim: &SimHandle) -> Vec<Change> {
    sim.changes()
        .into_iter()
        .filter(|c| c.resource == Resource::Contacts && is_customer(sim, &c.id))
        .collect()
}

/// Every change covered by a delivered event (`tally`'s rule: an event reporting that state
/// of the record or a later one; a deletion needs a DELETED event).
pub(crate) fn summary(changes: &[Change], delivered: &[ReceivedEvent]) -> DemoSummary {
    tally(changes, delivered)
}

/// The changes no delivered event covers, for failure messages.
pub(crate) fn missing(changes: &[Change], delivered: &[ReceivedEvent]) -> Vec<String> {
    changes
        .iter()
        .filter(|change| tally(std::slice::from_ref(change), delivered).missing > 0)
        .map(|c| format!("{:?} {} at {}", c.kind, c.id, c.at))
        .collect()
}

/// The de-duplication promise: every event received for one change state — the same record,
/// event type and change time — carries one and the same event id, however often it came,
/// and one event id never names two different changes. Returns the problems.
pub(crate) fn id_problems(events: &[ReceivedEvent]) -> Vec<String> {
    type State<'a> = (&'a str, &'a str, &'a str, Option<DateTime<Utc>>);
    let mut ids: BTreeMap<State<'_>, HashSet<&str>> = BTreeMap::new();
    let mut states: HashMap<&str, HashSet<State<'_>>> = HashMap::new();
    for e in events {
        let state = (
            e.object_type.as_str(),
            e.object_id.as_str(),
            e.event_type.as_str(),
            e.changed_at,
        );
        ids.entry(state).or_default().insert(e.event_id.as_str());
        states.entry(e.event_id.as_str()).or_default().insert(state);
    }
    let mut problems: Vec<String> = ids
        .iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(state, ids)| format!("{state:?} came with {} event ids: {ids:?}", ids.len()))
        .collect();
    problems.extend(
        states
            .iter()
            .filter(|(_, states)| states.len() > 1)
            .map(|(id, states)| {
                format!("event id {id} names {} changes: {states:?}", states.len())
            }),
    );
    problems
}

/// How many events arrived more than once (same event id).
pub(crate) fn repeats(events: &[ReceivedEvent]) -> usize {
    let mut seen = HashSet::new();
    events
        .iter()
        .filter(|e| !seen.insert(e.event_id.as_str()))
        .count()
}
