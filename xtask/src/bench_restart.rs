//! `cargo xtask bench restart`: how long a crash leaves the work undone (issue 18).
//!
//! SQLite: `pollen run` (release) on a fresh database polls one instance every 1.2 s from the
//! in-process simulator, whose pages each take 0.8 s, so the process is almost always inside a
//! walk. Measured per round: the cold start (spawn to the new process's first Sage request, on
//! a fresh database: the baseline), then a SIGKILL and an immediate start on the same file
//! (spawn to its first Sage request): the restart must cost no more than the cold start, and
//! at most 2 s.
//!
//! PostgreSQL (when `POLLEN_TEST_DATABASE_URL` is set): two `pollen run` workers share four
//! instances with `--lease-ttl 5s`; the worker that walked a key last is SIGKILLed, and the time
//! from the kill to the survivor's first request for that key is measured: at most ttl + 2 s.
//! The run's schema is dropped with `psql` when it is installed.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use chrono::{DateTime, Utc};
use pollen_sage_sim::{
    ApiVersion, Fault, FaultKind, LoggedRequest, SimConfig, SimHandle, Simulator,
};
use serde_json::{json, Value};

const ROUNDS: usize = 5;
const PG_ROUNDS: usize = 3;
const PG_TTL_SECONDS: u64 = 5;
const TARGET_SQLITE: Duration = Duration::from_secs(2);
/// A throwaway key for the benchmark's own schema (32 zero bytes).
const BENCH_SECRET_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

pub(crate) fn measure(pollen: &Path) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let rounds = sqlite(pollen).await?;
        println!("| round | cold start → first Sage request | SIGKILL + restart → first Sage request |");
        println!("|---|---|---|");
        for (i, (cold, restart)) in rounds.iter().enumerate() {
            println!(
                "| {} | {:.2} s | {:.2} s |",
                i + 1,
                cold.as_secs_f64(),
                restart.as_secs_f64()
            );
        }
        let worst = rounds.iter().map(|(_, r)| *r).max().unwrap_or_default();
        let cold_worst = rounds.iter().map(|(c, _)| *c).max().unwrap_or_default();
        println!(
            "sqlite: worst restart {:.2} s (cold start worst {:.2} s; target ≤ {:.0} s: {})",
            worst.as_secs_f64(),
            cold_worst.as_secs_f64(),
            TARGET_SQLITE.as_secs_f64(),
            if worst <= TARGET_SQLITE { "met" } else { "NOT met" }
        );
        match std::env::var("POLLEN_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            Some(url) => {
                let takeovers = postgres(pollen, &url).await?;
                println!();
                println!("| round | SIGKILL → survivor's first request for the victim's key |");
                println!("|---|---|");
                for (i, t) in takeovers.iter().enumerate() {
                    println!("| {} | {:.2} s |", i + 1, t.as_secs_f64());
                }
                let worst = takeovers.iter().max().copied().unwrap_or_default();
                let target = Duration::from_secs(PG_TTL_SECONDS + 2);
                println!(
                    "postgres (--lease-ttl {PG_TTL_SECONDS}s): worst takeover {:.2} s (target ≤ ttl + 2 s = {:.0} s: {})",
                    worst.as_secs_f64(),
                    target.as_secs_f64(),
                    if worst <= target { "met" } else { "NOT met" }
                );
            }
            None => println!("postgres: skipped (POLLEN_TEST_DATABASE_URL is not set)"),
        }
        Ok(())
    })
}

/// An instance polling contacts every 1.2 s with grant `code`.
fn instance(sim: &SimHandle, name: &str, code: &str, callback: &str) -> Value {
    let mut instance = crate::bench::instance(sim, callback, "restart-bench-key");
    instance["name"] = json!(name);
    instance["providerData"]["code"] = json!(code);
    instance["configuration"]["event.poller.refresh_interval"] = json!("0.02");
    instance
}

async fn receiver() -> Result<String> {
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(|| async { axum::http::StatusCode::OK }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("binding the receiver")?;
    let url = format!("http://{}/events", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn slow_simulator() -> Result<pollen_sage_sim::RunningSim> {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 20,
            request_log_capacity: 1_000_000,
            ..SimConfig::default()
        },
    )
    .await
    .context("starting the simulator")?;
    sim.inject(
        Fault::probability(
            FaultKind::Slow {
                delay: Duration::from_millis(800),
            },
            1.0,
            18,
        )
        .on_path_prefix("/v3.1/"),
    )
    .context("the slow-page fault")?;
    Ok(sim)
}

/// The worker named in a request's user agent: `pollen/VERSION (worker ID)`.
fn worker_of(request: &LoggedRequest) -> Option<&str> {
    request
        .user_agent
        .as_deref()?
        .split_once("(worker ")?
        .1
        .strip_suffix(')')
}

/// Waits (at most 60 s) for the first API request that `matches`; returns when it started.
async fn first_request(
    sim: &SimHandle,
    matches: impl Fn(&LoggedRequest) -> bool,
) -> Result<DateTime<Utc>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // A request is logged when it ends; its start is what counts.
        if let Some(at) = sim
            .request_log()
            .iter()
            .filter(|r| r.resource.is_some() && matches(r))
            .map(|r| r.started)
            .min()
        {
            return Ok(at);
        }
        ensure!(
            Instant::now() < deadline,
            "no matching Sage request within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn spawn(pollen: &Path, args: &[&str], env: &[(&str, &str)], log: &Path) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut command = Command::new(pollen);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().context("starting pollen")
}

fn since(start: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - start).to_std().unwrap_or_default()
}

fn by_pid(pid: u32) -> impl Fn(&LoggedRequest) -> bool {
    let prefix = format!("pollen-{pid}-");
    move |r| worker_of(r).is_some_and(|w| w.starts_with(&prefix))
}

async fn sqlite(pollen: &Path) -> Result<Vec<(Duration, Duration)>> {
    let sim = slow_simulator().await?;
    let callback = receiver().await?;
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir()?;
        let code = format!("restart-bench-{round}");
        sim.add_authorization_code(&code, ApiVersion::V31);
        let config = dir.path().join("instances");
        std::fs::create_dir(&config)?;
        std::fs::write(
            config.join("a.json"),
            instance(&sim, "restart-bench", &code, &callback).to_string(),
        )?;
        let db = format!("sqlite://{}", dir.path().join("pollen.db").display());
        let config = config.display().to_string();
        let args = [
            "run",
            "--allow-private-callbacks",
            "--db",
            &db,
            "--config",
            &config,
        ];
        let log = dir.path().join("pollen.log");
        let spawned = Utc::now();
        let mut child = spawn(pollen, &args, &[], &log)?;
        let first = first_request(&sim, by_pid(child.id()))
            .await
            .with_context(|| std::fs::read_to_string(&log).unwrap_or_default())?;
        let cold = since(spawned, first);
        // Well inside a walk: pages take 0.8 s and the next poll follows 1.2 s after the last.
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        child.kill()?;
        child.wait()?;
        let spawned = Utc::now();
        let mut next = spawn(pollen, &args, &[], &log)?;
        let restart = since(spawned, first_request(&sim, by_pid(next.id())).await?);
        crate::bench::stop(&mut next);
        rounds.push((cold, restart));
    }
    sim.shutdown().await;
    Ok(rounds)
}

async fn postgres(pollen: &Path, base_url: &str) -> Result<Vec<Duration>> {
    let sim = slow_simulator().await?;
    let callback = receiver().await?;
    let dir = tempfile::tempdir()?;
    let schema = format!("pollen_bench_restart_{:016x}", rand::random::<u64>());
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let db = format!("{base_url}{separator}schema={schema}");
    let config = dir.path().join("instances");
    std::fs::create_dir(&config)?;
    for i in 0..4 {
        let code = format!("restart-bench-pg-{i}");
        sim.add_authorization_code(&code, ApiVersion::V31);
        std::fs::write(
            config.join(format!("{i}.json")),
            instance(&sim, &format!("restart-bench-{i}"), &code, &callback).to_string(),
        )?;
    }
    let config = config.display().to_string();
    let ttl = format!("{PG_TTL_SECONDS}s");
    let env = [("POLLEN_SECRET_KEY", BENCH_SECRET_KEY)];
    let start = |id: &str| {
        spawn(
            pollen,
            &[
                "run",
                "--allow-private-callbacks",
                "--db",
                &db,
                "--config",
                &config,
                "--worker-id",
                id,
                "--lease-ttl",
                &ttl,
            ],
            &env,
            &dir.path().join(format!("{id}.log")),
        )
    };
    let mut survivor = start("bench-b")?;
    let mut victim_id = "bench-a-0".to_owned();
    let mut victim = start(&victim_id)?;
    let mut takeovers = Vec::new();
    let result = async {
        for round in 0..PG_ROUNDS {
            let id = victim_id.clone();
            first_request(&sim, |r| worker_of(r) == Some(id.as_str())).await?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            // The key the victim walked last: the one it most likely holds now.
            let grant = sim
                .request_log()
                .iter()
                .filter(|r| worker_of(r) == Some(id.as_str()))
                .max_by_key(|r| r.started)
                .and_then(|r| r.grant.clone())
                .context("the victim's last key")?;
            victim.kill()?;
            victim.wait()?;
            let killed = Utc::now();
            let taken = first_request(&sim, |r| {
                r.started > killed
                    && r.grant.as_deref() == Some(grant.as_str())
                    && worker_of(r) == Some("bench-b")
            })
            .await?;
            takeovers.push(since(killed, taken));
            victim_id = format!("bench-a-{}", round + 1);
            victim = start(&victim_id)?;
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    crate::bench::stop(&mut victim);
    crate::bench::stop(&mut survivor);
    sim.shutdown().await;
    // Best effort: the schema is the benchmark's own.
    let _ = Command::new("psql")
        .args([
            base_url,
            "-q",
            "-c",
            &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    result?;
    Ok(takeovers)
}
