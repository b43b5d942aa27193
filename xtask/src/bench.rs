//! `cargo xtask bench e2e [--traces] [--records N,N,...]`: the end-to-end benchmark of issue
//! 11 (`--traces`: the same workload with the OTLP export off and on, see
//! [`measure_traces`]). `bench
//! restart` and `bench budget` are dispatched here too (`bench_restart.rs`, `bench_budget.rs`).
//!
//! For each record count (default 10,000 and 100,000): an in-process Sage simulator holding
//! that many contacts (created just before the run, so a backfill finds them all), a local
//! receiver that checks the `Elements-Webhook-Signature` of every notification and counts its
//! events, and `pollen run` (the release binary, built first) as a child process on a fresh
//! SQLite database, configured with one instance whose `contacts` resource backfills from an
//! hour ago. The run ends when every record has arrived as an event (or fails loudly after a
//! timeout, naming what is missing).
//!
//! The harness itself (simulator, receiver) is built in release too: `cargo xtask` builds in
//! debug, so it re-runs the command from `target/release/xtask`.
//!
//! Reported per count: wall time from spawning `pollen` to the last event, and from the
//! simulator's first request to the last event (the first excludes process start and the
//! scheduler's first-poll phase, up to 5 s spread per key); events/s for both; the child's
//! peak RSS (`VmHWM` of `/proc/PID/status`, read just before it is stopped); the time the
//! first poll's walk took and the events delivered by then.
//!
//! `POLLEN_BENCH_LOG_DIR=DIR` keeps pollen's log of each run there (`RUST_LOG` sets its level).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{SecondsFormat, TimeDelta, Utc};
use pollen_sage_sim::{ApiVersion, Resource, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

/// Targets of issue 11.
const TARGET_EVENTS_PER_SEC: f64 = 20_000.0;
const TARGET_PEAK_RSS_MB: f64 = 100.0;

/// A run that has not delivered every event by then has failed.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// A pause in Sage requests this long ends the first poll (the next is 15 s later).
const WALK_GAP: Duration = Duration::from_secs(3);

/// The grant code in the instance; the simulator is told to accept it.
const CODE: &str = "e2e-bench-grant-code";

pub(crate) fn run(root: &Path, args: &[&str]) -> Result<()> {
    if args == ["restart"] {
        if !cfg!(debug_assertions) {
            let exe = std::env::current_exe().context("finding the xtask binary")?;
            let release = exe.parent().context("the xtask binary's directory")?;
            return crate::bench_restart::measure(&release.join("pollen"));
        }
        return rerun_optimized(root, args);
    }
    if args.first() == Some(&"budget") {
        let seconds = crate::bench_budget::seconds(args)?;
        if !cfg!(debug_assertions) {
            let exe = std::env::current_exe().context("finding the xtask binary")?;
            let release = exe.parent().context("the xtask binary's directory")?;
            return crate::bench_budget::measure(&release.join("pollen"), seconds);
        }
        return rerun_optimized(root, args);
    }
    let (traces, args_rest): (bool, Vec<&str>) = match args {
        ["e2e", "--traces", rest @ ..] => (true, [&["e2e"][..], rest].concat()),
        _ => (false, args.to_vec()),
    };
    let counts = match args_rest.as_slice() {
        ["e2e"] if traces => vec![10_000],
        ["e2e"] => vec![10_000, 100_000],
        ["e2e", "--records", list] => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse::<usize>()
                    .context("--records takes N[,N...]")
            })
            .collect::<Result<Vec<_>>>()?,
        _ => bail!(
            "usage: cargo xtask bench e2e [--traces] [--records N[,N...]] | restart | budget [--seconds N]"
        ),
    };
    ensure!(
        counts.iter().all(|n| *n > 0),
        "--records: each count must be at least 1"
    );
    if !cfg!(debug_assertions) {
        // Started by the debug build below, which built everything: the binaries are beside
        // this one.
        let exe = std::env::current_exe().context("finding the xtask binary")?;
        let release = exe.parent().context("the xtask binary's directory")?;
        if traces {
            return measure_traces(&release.join("pollen"), counts);
        }
        return measure(&release.join("pollen"), counts);
    }
    rerun_optimized(root, args)
}

/// How one e2e run is set up.
#[derive(Debug, Clone, Default)]
struct Variant {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for pollen, or none (unset).
    otlp: Option<String>,
    /// `--sage-rate-limit 0`: the comparison measures pollen, not the default Sage budget.
    unlimited: bool,
}

/// What the OTLP sink got.
#[derive(Default)]
struct Sink {
    requests: u64,
    bytes: u64,
}

/// `bench e2e --traces`: for each count, the same workload with the export off (variable
/// unset) and on (to an OTLP/HTTP sink in this process that counts and discards), alternated
/// twice, both with `--sage-rate-limit 0`.
fn measure_traces(pollen: &Path, counts: Vec<usize>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let sink = Arc::new(Mutex::new(Sink::default()));
    let endpoint = runtime.block_on(async {
        async fn export(State(sink): State<Arc<Mutex<Sink>>>, body: Bytes) -> StatusCode {
            let mut sink = sink
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            sink.requests += 1;
            sink.bytes += body.len() as u64;
            StatusCode::OK
        }
        let app = axum::Router::new()
            .route("/v1/traces", axum::routing::post(export))
            .with_state(sink.clone());
        let (url, _server) = serve_receiver(app).await?;
        Ok::<_, anyhow::Error>(url.trim_end_matches("/events").to_owned())
    })?;
    let mut rows = Vec::new();
    for records in counts {
        for round in 0..2 {
            for on in [false, true] {
                let variant = Variant {
                    otlp: on.then(|| endpoint.clone()),
                    unlimited: true,
                };
                let before = {
                    let s = sink
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    (s.requests, s.bytes)
                };
                let result = runtime.block_on(e2e(pollen, records, &variant))?;
                let after = {
                    let s = sink
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    (s.requests, s.bytes)
                };
                let mode = if on { "on" } else { "off" };
                println!("traces {mode} (round {}): {result}", round + 1);
                rows.push((
                    mode,
                    round + 1,
                    after.0 - before.0,
                    after.1 - before.1,
                    result,
                ));
            }
        }
    }
    println!();
    println!(
        "| records | traces | round | spawn → last event | events/s | pollen CPU | events per CPU-s \
         | peak RSS | OTLP requests (bytes) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (mode, round, requests, bytes, r) in &rows {
        println!(
            "| {} | {mode} | {round} | {:.2} s | {:.0} | {:.2} s | {:.0} | {:.1} MB | {requests} ({bytes}) |",
            r.records,
            r.wall.as_secs_f64(),
            r.rate(r.wall),
            r.pollen_cpu.as_secs_f64(),
            r.events as f64 / r.pollen_cpu.as_secs_f64().max(0.001),
            r.peak_rss_mb
        );
    }
    Ok(())
}

/// Runs `cargo xtask bench ARGS` again from the optimized build: the simulator and the
/// receiver run in this process and, unoptimized, would be the bottleneck.
fn rerun_optimized(root: &Path, args: &[&str]) -> Result<()> {
    let release = build_release(root)?;
    let status = Command::new(release.join("xtask"))
        .arg("bench")
        .args(args)
        .status()
        .context("running the optimized xtask")?;
    ensure!(status.success(), "the benchmark failed ({status})");
    Ok(())
}

/// Runs the benchmark for each count with the `pollen` binary and prints the figures.
fn measure(pollen: &Path, counts: Vec<usize>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut results = Vec::new();
    for records in counts {
        let result = runtime.block_on(e2e(pollen, records, &Variant::default()))?;
        println!("{result}");
        results.push(result);
    }
    println!();
    println!(
        "| records | events | spawn → last event | events/s | first Sage request → first event \
         | → last event | events/s | → walk done (events by then) | events/s after the walk \
         | pollen CPU | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {:.2} s | {:.0} | {:.2} s | {:.2} s | {:.0} | {:.2} s ({}) | {:.0} \
             | {:.2} s | {:.1} MB |",
            r.records,
            r.events,
            r.wall.as_secs_f64(),
            r.rate(r.wall),
            r.to_first_event.as_secs_f64(),
            r.from_first_request.as_secs_f64(),
            r.rate(r.from_first_request),
            r.walk.as_secs_f64(),
            r.events_at_walk_end,
            r.delivery_rate_after_walk(),
            r.pollen_cpu.as_secs_f64(),
            r.peak_rss_mb
        );
    }
    for r in &results {
        let rate = r.rate(r.wall);
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        println!(
            "{} records: {:.0} events/s (target ≥ {TARGET_EVENTS_PER_SEC:.0}: {}), peak RSS \
             {:.1} MB (target ≤ {TARGET_PEAK_RSS_MB:.0}: {})",
            r.records,
            rate,
            verdict(rate >= TARGET_EVENTS_PER_SEC),
            r.peak_rss_mb,
            verdict(r.peak_rss_mb <= TARGET_PEAK_RSS_MB)
        );
    }
    Ok(())
}

/// `cargo build --release -p pollen -p xtask`; returns the directory of the binaries.
fn build_release(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "pollen", "-p", "xtask"])
        .current_dir(root)
        .status()
        .context("running cargo build --release -p pollen -p xtask")?;
    ensure!(status.success(), "building pollen in release failed");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let release = target.join("release");
    ensure!(
        release.join("pollen").exists(),
        "no pollen binary in {}",
        release.display()
    );
    Ok(release)
}

struct RunResult {
    records: usize,
    events: u64,
    wall: Duration,
    from_first_request: Duration,
    /// From the first Sage request to the first event: the poll (walk, de-duplication,
    /// commit) before anything can be delivered.
    to_first_event: Duration,
    peak_rss_mb: f64,
    /// CPU time (user + system) the pollen process used until the last event.
    pollen_cpu: Duration,
    /// From the first Sage request to the last one of the first poll (its walk is done), and
    /// the events that had arrived by then: what is left after it is the sender's.
    walk: Duration,
    events_at_walk_end: u64,
}

impl RunResult {
    fn rate(&self, over: Duration) -> f64 {
        self.events as f64 / over.as_secs_f64()
    }

    /// Events per second delivered after the walk was done.
    fn delivery_rate_after_walk(&self) -> f64 {
        let left = self.events.saturating_sub(self.events_at_walk_end) as f64;
        let after = self.from_first_request.saturating_sub(self.walk);
        if after.is_zero() {
            0.0
        } else {
            left / after.as_secs_f64()
        }
    }
}

impl std::fmt::Display for RunResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "e2e {} records: {} events in {:.2} s from spawn ({:.0}/s), {:.2} s from the first \
             Sage request ({:.0}/s), the first event {:.2} s after the first request; pollen used \
             {:.2} s of CPU ({:.0} events per CPU-second); peak RSS {:.1} MB; the walk took \
             {:.2} s from the first request ({} events had arrived then, {:.0}/s after it)",
            self.records,
            self.events,
            self.wall.as_secs_f64(),
            self.rate(self.wall),
            self.from_first_request.as_secs_f64(),
            self.rate(self.from_first_request),
            self.to_first_event.as_secs_f64(),
            self.pollen_cpu.as_secs_f64(),
            self.events as f64 / self.pollen_cpu.as_secs_f64().max(0.001),
            self.peak_rss_mb,
            self.walk.as_secs_f64(),
            self.events_at_walk_end,
            self.delivery_rate_after_walk()
        )
    }
}

/// What the receiver saw.
#[derive(Default)]
struct Tally {
    notifications: u64,
    events: u64,
    bad_signatures: u64,
    unparseable: u64,
    object_ids: HashSet<String>,
    first_event: Option<Instant>,
    last_event: Option<Instant>,
}

struct ReceiverState {
    key: Vec<u8>,
    tally: Mutex<Tally>,
}

/// What the receiver reads of a notification.
#[derive(serde::Deserialize)]
struct Payload {
    message: PayloadMessage,
}

#[derive(serde::Deserialize)]
struct PayloadMessage {
    events: Vec<PayloadEvent>,
}

#[derive(serde::Deserialize)]
struct PayloadEvent {
    #[serde(rename = "objectId")]
    object_id: Option<String>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signed = headers
        .get("elements-webhook-signature")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == pollen_callback::elements_signature(&state.key, &body));
    // Only the events' object ids are read: the rest of the body is skipped, not built.
    let ids: Option<Vec<String>> = serde_json::from_slice::<Payload>(&body)
        .ok()
        .map(|payload| {
            payload
                .message
                .events
                .into_iter()
                .map(|e| e.object_id.unwrap_or_default())
                .collect()
        });
    let mut tally = state.tally.lock().unwrap_or_else(|p| p.into_inner());
    tally.notifications += 1;
    if !signed {
        tally.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    match ids {
        Some(ids) => {
            tally.events += ids.len() as u64;
            tally.object_ids.extend(ids);
            let now = Instant::now();
            tally.first_event.get_or_insert(now);
            tally.last_event = Some(now);
        }
        None => tally.unparseable += 1,
    }
    StatusCode::OK
}

/// The seed instance, polling all contacts from the simulator with a backfill.
pub(crate) fn instance(sim: &SimHandle, callback: &str, signature_key: &str) -> Value {
    let since = (Utc::now() - TimeDelta::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    json!({
        "element": {"key": "sageone"},
        "providerData": {"code": CODE},
        "configuration": {
            "oauth.api.key": "e2e-client",
            "oauth.api.secret": "e2e-secret",
            "oauth.callback.url": "https://example.com/oauth",
            "base.url": sim.v31_base_url(),
            "oauth.token.url": sim.token_url(),
            "event.notification.enabled": true,
            "event.notification.callback.url": callback,
            "event.notification.signature.key": signature_key,
            "event.poller.refresh_interval": "15",
            "event.poller.backfill_since": since,
            "event.poller.configuration": {
                "contacts": {
                    "url": "/hubs/finance/contacts?where=lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='created_at,updated_at'",
                    "idField": "id",
                    "pageSize": 200,
                    "datesConfiguration": {
                        "updatedDateField": "updated_at",
                        "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
                        "updatedDateTimezone": "GMT",
                        "createdDateField": "created_at",
                        "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
                        "createdDateTimezone": "GMT"
                    }
                }
            }
        },
        "tags": ["bench"],
        "name": "e2e-bench"
    })
}

/// Peak and current resident set of `pid`, in kB.
fn rss_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// User + system CPU time of `pid` so far.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces, inside parentheses).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// Stops the child with SIGTERM (SIGKILL after 10 s).
/// Serves `app` on 127.0.0.1 (an ephemeral port): the callback URL of its `/events`, and the
/// server's task.
pub(crate) async fn serve_receiver(
    app: axum::Router,
) -> Result<(String, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("binding the receiver")?;
    let callback = format!("http://{}/events", listener.local_addr()?);
    Ok((
        callback,
        tokio::spawn(async move { axum::serve(listener, app).await }),
    ))
}

pub(crate) fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

async fn e2e(pollen: &Path, records: usize, variant: &Variant) -> Result<RunResult> {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 0,
            ..SimConfig::default()
        },
    )
    .await
    .context("starting the simulator")?;
    sim.add_authorization_code(CODE, ApiVersion::V31);
    for _ in 0..records {
        sim.create(Resource::Contacts, &Value::Null)
            .context("creating a contact in the simulator")?;
    }
    let signature_key = format!("e2e-{:016x}", rand::random::<u64>());
    let state = Arc::new(ReceiverState {
        key: signature_key.as_bytes().to_vec(),
        tally: Mutex::default(),
    });
    let app = axum::Router::new()
        .route("/events", axum::routing::post(receive))
        .with_state(state.clone());
    let (callback, server) = crate::bench::serve_receiver(app).await?;

    let dir = tempfile::tempdir().context("a temporary directory")?;
    let config_dir = dir.path().join("instances");
    std::fs::create_dir(&config_dir)?;
    std::fs::write(
        config_dir.join("e2e.json"),
        serde_json::to_vec_pretty(&instance(&sim, &callback, &signature_key))?,
    )?;
    let log = std::fs::File::create(dir.path().join("pollen.log"))?;
    let db = format!("sqlite://{}", dir.path().join("pollen.db").display());
    sim.reset_request_counts();
    let spawned = Instant::now();
    let mut command = Command::new(pollen);
    command
        .args(["run", "--allow-private-callbacks", "--db", &db, "--config"])
        .arg(&config_dir)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    if variant.unlimited {
        command.args(["--sage-rate-limit", "0"]);
    }
    if let Some(endpoint) = &variant.otlp {
        command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting pollen run")?;
    let pid = child.id();

    let mut first_request: Option<Instant> = None;
    // The last change of the simulator's request count within the first poll (a gap of
    // WALK_GAP ends it: the next poll is a refresh interval later), and the events by then.
    let mut requests_seen = 0;
    let mut walk_end: Option<(Instant, u64)> = None;
    let mut peak_seen_kb = 0;
    let outcome = loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let requests = sim.request_counts().total();
        if first_request.is_none() && requests > 0 {
            first_request = Some(Instant::now());
        }
        if requests != requests_seen {
            requests_seen = requests;
            let now = Instant::now();
            if walk_end.is_none_or(|(at, _)| now - at < WALK_GAP) {
                let events = state.tally.lock().unwrap_or_else(|p| p.into_inner()).events;
                walk_end = Some((now, events));
            }
        }
        if let Some((hwm, _)) = rss_kb(pid) {
            peak_seen_kb = peak_seen_kb.max(hwm);
        }
        let unique = state
            .tally
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .object_ids
            .len();
        if unique >= records {
            break Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(anyhow::anyhow!("pollen run exited early: {status}"));
        }
        if spawned.elapsed() > RUN_TIMEOUT {
            break Err(anyhow::anyhow!("timed out after {RUN_TIMEOUT:?}"));
        }
    };
    if let Some((hwm, _)) = rss_kb(pid) {
        peak_seen_kb = peak_seen_kb.max(hwm);
    }
    let pollen_cpu = cpu_time(pid).unwrap_or_default();
    stop(&mut child);
    server.abort();
    let tally = state.tally.lock().unwrap_or_else(|p| p.into_inner());
    let log_path = dir.path().join("pollen.log");
    if let Some(keep) = std::env::var_os("POLLEN_BENCH_LOG_DIR") {
        // pollen's log (its level set by RUST_LOG), kept for a look at where the time went.
        let kept = Path::new(&keep).join(format!("pollen-e2e-{records}.log"));
        std::fs::copy(&log_path, &kept)
            .with_context(|| format!("keeping pollen's log as {}", kept.display()))?;
    }
    if let Err(e) = outcome {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        bail!(
            "e2e {records} records: {e}: {} of {records} records arrived as events \
             ({} events, {} notifications, {} bad signatures); pollen's last log lines:\n{}",
            tally.object_ids.len(),
            tally.events,
            tally.notifications,
            tally.bad_signatures,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    ensure!(
        tally.bad_signatures == 0 && tally.unparseable == 0,
        "e2e {records} records: {} notifications with a bad signature, {} unparseable",
        tally.bad_signatures,
        tally.unparseable
    );
    let last = tally.last_event.context("no event arrived")?;
    let first = first_request.context("the simulator saw no request")?;
    Ok(RunResult {
        records,
        events: tally.events,
        wall: last - spawned,
        from_first_request: last - first,
        to_first_event: tally.first_event.map_or(Duration::ZERO, |at| at - first),
        walk: walk_end.map_or(Duration::ZERO, |(at, _)| {
            at.saturating_duration_since(first)
        }),
        events_at_walk_end: walk_end.map_or(0, |(_, events)| events),
        pollen_cpu,
        peak_rss_mb: peak_seen_kb as f64 / 1024.0,
    })
}
