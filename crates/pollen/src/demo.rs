//! `pollen demo`: the Sage simulator, a local callback receiver and the seed's instance, with
//! every event printed as it arrives and a final tally against the simulator's change log.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use pollen_config::InstanceConfig;
use pollen_sage_sim::{
    ActivityConfig, ApiVersion, Change, ChangeKind, Resource, SimConfig, SimHandle, Simulator,
};
use pollen_store::{SecretKey, SqlStore, StoreOptions};
use serde_json::{json, Value};

use crate::api::{spawn_server, ApiSecrets, ServeOptions};
use crate::engine::{Engine, EngineOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::receiver::{ReceivedEvent, Receiver};

/// The Open Connectors seed instance the demo starts from.
pub const SEED_INSTANCE: &str = include_str!("../../../fixtures/instances/seed-example.json");

/// The resource the seed polls.
const SEED_RESOURCE: &str = "customers";

/// How the demo runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DemoOptions {
    /// Stop after this long; `None` runs until the shutdown signal.
    pub duration: Option<Duration>,
    /// Records the simulator seeds per resource.
    pub records: usize,
    /// Seed of the records and of the activity.
    pub seed: u64,
    /// Changes the simulator makes per second.
    pub changes_per_sec: f64,
    /// How often the instance is polled (instead of the seed's 15 minutes).
    pub refresh_interval: Duration,
    /// After the activity stops, wait at most this long for the last changes to arrive.
    pub drain: Duration,
    /// Where the web console (and the management API) listens; port 0 picks a free one.
    pub console_listen: SocketAddr,
    /// The console's sign-in secrets (user, organization); random when `None`.
    pub console_secrets: Option<(String, String)>,
}

impl DemoOptions {
    /// One change every two seconds, a poll every three seconds.
    pub fn new() -> Self {
        DemoOptions {
            duration: None,
            records: 40,
            seed: 1,
            changes_per_sec: 0.5,
            refresh_interval: Duration::from_secs(3),
            drain: Duration::from_secs(15),
            console_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            console_secrets: None,
        }
    }
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions::new()
    }
}

/// The tally of a demo run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DemoSummary {
    /// Changes the simulator made to the polled resource.
    pub changes: u64,
    /// Events received (repeats included).
    pub events: u64,
    /// Events received more than once (same `eventId`).
    pub duplicates: u64,
    /// Changes for which no event reported that state or a later one of the record.
    pub missing: u64,
    /// Notifications whose signature did not verify.
    pub bad_signatures: u64,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "summary: changes={} events={} duplicates={} missing={}",
            self.changes, self.events, self.duplicates, self.missing
        )
    }
}

/// The seed instance pointed at the simulator and the receiver.
pub fn demo_instance(sim: &SimHandle, callback_url: &str, signature_key: &str) -> Result<Value> {
    let mut instance: Value = serde_json::from_str(SEED_INSTANCE).map_err(Error::wrap(
        ErrorKind::InvalidInput,
        "the embedded seed instance",
    ))?;
    let configuration = instance["configuration"]
        .as_object_mut()
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "the seed has no configuration"))?;
    configuration.insert("base.url".into(), json!(sim.v31_base_url()));
    configuration.insert("oauth.token.url".into(), json!(sim.token_url()));
    configuration.insert(
        "event.notification.callback.url".into(),
        json!(callback_url),
    );
    configuration.insert(
        "event.notification.signature.key".into(),
        json!(signature_key),
    );
    Ok(instance)
}

/// Whether a simulator contact is one the seed's `customers` resource lists.
fn is_customer(sim: &SimHandle, id: &str) -> bool {
    sim.record(Resource::Contacts, id).is_some_and(|record| {
        record
            .field("contact_types")
            .and_then(Value::as_array)
            .is_some_and(|types| types.iter().any(|t| t["id"] == "CUSTOMER"))
    })
}

/// Tallies `received` against the simulator's `changes` of the polled resource.
pub fn tally(changes: &[Change], received: &[ReceivedEvent]) -> DemoSummary {
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let mut latest: HashMap<&str, Vec<(&str, DateTime<Utc>)>> = HashMap::new();
    for event in received {
        if !seen.insert(event.event_id.as_str()) {
            duplicates += 1;
        }
        if let Some(at) = event.changed_at {
            latest
                .entry(event.object_id.as_str())
                .or_default()
                .push((event.event_type.as_str(), at));
        }
    }
    let missing = changes
        .iter()
        .filter(|change| !covered(change, latest.get(change.id.as_str())))
        .count() as u64;
    DemoSummary {
        changes: changes.len() as u64,
        events: received.len() as u64,
        duplicates,
        missing,
        bad_signatures: received.iter().filter(|e| !e.signature_valid).count() as u64,
    }
}

/// A change is covered by an event of the same record reporting it or a later state: a
/// poller sees a record's current state, so changes superseded between two polls are
/// reported by the one event of the latest. A deletion needs a DELETED event.
fn covered(change: &Change, events: Option<&Vec<(&str, DateTime<Utc>)>>) -> bool {
    events.is_some_and(|events| {
        events.iter().any(|(kind, at)| {
            *at >= change.at && (change.kind != ChangeKind::Deleted || *kind == "DELETED")
        })
    })
}

fn line(out: &mut dyn Write, text: &str) {
    // The terminal going away is no reason to stop polling; the summary still comes back.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Runs the demo until `options.duration` passes or `shutdown` completes, printing to `out`;
/// returns the tally, which it also prints as the last line.
pub async fn run_demo(
    options: &DemoOptions,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<DemoSummary> {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            seed: options.seed,
            records: options.records,
            ..SimConfig::default()
        },
    )
    .await
    .map_err(Error::wrap(ErrorKind::Io, "starting the Sage simulator"))?;
    let signature_key = format!("demo-{:016x}", rand::random::<u64>());
    let (receiver, mut events) = Receiver::start(signature_key.as_bytes()).await?;
    line(out, &format!("sage simulator   {}", sim.base_url()));
    line(out, &format!("callback         {}", receiver.url()));

    let instance_json = demo_instance(&sim, &receiver.url(), &signature_key)?;
    let loaded = InstanceConfig::from_json_value(&instance_json).map_err(|errors| {
        Error::new(ErrorKind::InvalidInput, errors.render("seed-example.json"))
    })?;
    if let Some(code) = &loaded.config.provider_data.code {
        sim.add_authorization_code(code.expose(), ApiVersion::V31);
    }

    let dir = tempfile::tempdir().map_err(Error::wrap(ErrorKind::Io, "a temporary directory"))?;
    let db = dir.path().join("pollen-demo.db");
    let store = SqlStore::open(
        &format!("sqlite://{}", db.display()),
        StoreOptions::new(SecretKey::generate()),
    )
    .await
    .map_err(Error::wrap(ErrorKind::Store, "opening the demo database"))?;
    let store = Arc::new(store);
    let (instance, _token) = store
        .create_instance(&loaded.config, Utc::now())
        .await
        .map_err(Error::wrap(ErrorKind::Store, "storing the demo instance"))?;

    let refresh = TimeDelta::from_std(options.refresh_interval)
        .map_err(Error::wrap(ErrorKind::InvalidInput, "the refresh interval"))?;
    let mut engine_options = EngineOptions::new();
    engine_options.allow_private_callbacks = true;
    engine_options.refresh_interval = Some(refresh);
    engine_options.first_poll_within = Some(TimeDelta::seconds(1));
    engine_options.delivery_interval = Duration::from_millis(200);
    engine_options.shutdown_grace = Duration::from_secs(5);
    let engine = Engine::new(store.clone(), engine_options)?;
    engine.add_instance(&instance).await?;
    line(
        out,
        &format!(
            "instance         {} \"{}\" polling {SEED_RESOURCE} every {}s (code exchanged with the simulator)",
            instance.id,
            instance.name,
            options.refresh_interval.as_secs_f64()
        ),
    );

    let (user, organization) = options.console_secrets.clone().unwrap_or_else(|| {
        (
            format!("demo-user-{:08x}", rand::random::<u32>()),
            format!("demo-org-{:08x}", rand::random::<u32>()),
        )
    });
    let listener = tokio::net::TcpListener::bind(options.console_listen)
        .await
        .map_err(Error::wrap(
            ErrorKind::Io,
            format_args!("the console address {}", options.console_listen),
        ))?;
    let console_addr = listener
        .local_addr()
        .map_err(Error::wrap(ErrorKind::Io, "reading the console address"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = spawn_server(
        listener,
        engine.clone(),
        ApiSecrets::new(&user, &organization),
        &ServeOptions::new(),
        stop_rx.clone(),
    );
    line(
        out,
        &format!("console          http://{console_addr}/console/  (user secret {user}, organization secret {organization})"),
    );

    let first_seq = sim.changes().last().map_or(0, |c| c.seq);
    sim.start_activity(ActivityConfig {
        rate_per_sec: options.changes_per_sec,
        seed: options.seed,
        resources: vec![Resource::Contacts],
        max_changes: None,
        ..ActivityConfig::default()
    })
    .map_err(Error::wrap(
        ErrorKind::InvalidInput,
        "starting the simulator's activity",
    ))?;
    match options.duration {
        Some(d) => line(
            out,
            &format!("running for {}s; Ctrl-C stops early", d.as_secs_f64()),
        ),
        None => line(out, "running until Ctrl-C"),
    }

    let running = tokio::spawn({
        let engine = engine.clone();
        let mut stop_rx = stop_rx;
        async move {
            engine
                .run(async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                })
                .await
        }
    });

    let mut log = EventLog::default();
    let relevant = |sim: &SimHandle| -> Vec<Change> {
        sim.changes_since(first_seq)
            .into_iter()
            .filter(|c| c.resource == Resource::Contacts && is_customer(sim, &c.id))
            .collect()
    };

    let deadline = options.duration.map(|d| tokio::time::Instant::now() + d);
    tokio::pin!(shutdown);
    let mut interrupted = false;
    loop {
        tokio::select! {
            Some(event) = events.recv() => {
                let changes = relevant(&sim).len();
                log.print(event, out, changes);
            }
            () = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => break,
            () = &mut shutdown => { interrupted = true; break; }
        }
    }

    // Stop the changes, then let a few more polls and deliveries bring in the last ones.
    sim.stop_activity();
    let changes = relevant(&sim);
    if !interrupted {
        line(
            out,
            "activity stopped; waiting for the last changes to arrive",
        );
        let drain_until = tokio::time::Instant::now() + options.drain;
        while tally(&changes, &log.received).missing > 0 {
            tokio::select! {
                Some(event) = events.recv() => log.print(event, out, changes.len()),
                () = tokio::time::sleep_until(drain_until) => break,
                () = &mut shutdown => break,
            }
        }
        // Anything delivered twice shows up shortly after; give it one delivery round.
        let settle = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Some(event)) = tokio::time::timeout_at(settle, events.recv()).await {
            log.print(event, out, changes.len());
        }
    }

    let _ = stop_tx.send(true);
    match running.await {
        Ok(result) => result?,
        Err(error) => {
            return Err(Error::new(
                ErrorKind::Io,
                format!("the engine task failed: {error}"),
            ))
        }
    }
    server.await?;
    receiver.shutdown().await;
    sim.shutdown().await;
    store.close().await;

    let summary = tally(&changes, &log.received);
    if summary.bad_signatures > 0 {
        line(
            out,
            &format!("{} events had a bad signature", summary.bad_signatures),
        );
    }
    line(out, &summary.to_string());
    Ok(summary)
}

/// The events received so far, printed as they come.
#[derive(Debug, Default)]
struct EventLog {
    received: Vec<ReceivedEvent>,
    event_ids: HashSet<String>,
}

impl EventLog {
    fn print(&mut self, event: ReceivedEvent, out: &mut (dyn Write + Send), changes: usize) {
        let repeat = !self.event_ids.insert(event.event_id.clone());
        let latency = event.changed_at.map_or_else(
            || "?".to_owned(),
            |at| {
                format!(
                    "{:.1}s",
                    (event.received_at - at).num_milliseconds() as f64 / 1000.0
                )
            },
        );
        line(
            out,
            &format!(
                "{:<8} {:<10} {}  latency {latency:>5}{}{}   [events {}, changes {changes}]",
                event.event_type,
                event.object_type,
                event.object_id,
                if event.signature_valid {
                    "  signature ok"
                } else {
                    "  BAD SIGNATURE"
                },
                if repeat { "  (repeat)" } else { "" },
                self.received.len() + 1,
            ),
        );
        self.received.push(event);
    }
}
