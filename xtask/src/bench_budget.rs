//! `cargo xtask bench budget [--seconds N]`: what the per-business rate budget costs and saves.
//!
//! 50 instances of one Sage business (the simulator's lead business, `sage.business.id` set,
//! one grant code each), each polling `contacts` every 1.2 s — about 5,000 calls a minute
//! wanted, a poll being two calls — from one `pollen run` (release, SQLite in a temporary
//! directory), against the in-process simulator answering 429 past 200 calls per business in
//! any 60 s. Two runs of `--seconds` (default 70) each, on fresh databases and simulators:
//! - `--sage-rate-limit 0`: no budget, the baseline: Sage's 429s and pollen's `Retry-After`
//!   handling are all that hold the calls back;
//! - `--sage-rate-limit 200`: the budget at Sage's limit.
//!
//! Reported per run, from the simulator: the accepted calls of the business per 60-s bucket
//! (the first starting with its first call; the last one is partial), the busiest 60-s
//! window, the calls refused with 429, and the first-poll delay — for each instance, the time
//! from spawning `pollen` to the start of its first `contacts` request answered 200 (from the
//! request log; the grant code tells the instance) — as the median over the instances (one
//! never polled counts as later than the run) and the slowest of those polled, and the
//! instances whose first poll never happened within the run; and each instance's longest wait
//! for a 200 (the longest time, from the spawn to the run's end, in which none of its calls
//! for `contacts` was answered 200), as the median and the worst over the instances. A poll
//! is two calls (changed records, then `deleted_since`). The instances are new (no
//! `event.poller.backfill_since`), so each first poll is an incremental poll.
//!
//! `POLLEN_BENCH_LOG_DIR=DIR` keeps pollen's log of each run there (`RUST_LOG` sets its level).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use chrono::{DateTime, Utc};
use pollen_sage_sim::{ApiVersion, BusinessCalls, SimConfig, Simulator};
use serde_json::json;

/// Instances of the one business.
const INSTANCES: usize = 50;
/// The simulator's limit: calls per business in any 60 s (Sage v3's).
const SAGE_LIMIT: u32 = 200;
/// The `--sage-rate-limit` of each run: none (the baseline), then the budget at Sage's limit.
const BUDGETS: [u32; 2] = [0, SAGE_LIMIT];
/// The resource every instance polls (the seed instance's, as `bench e2e` configures it).
const RESOURCE: &str = "contacts";
/// Each run's length when `--seconds` is not given: over a minute, so that one full 60-s
/// window is counted.
pub(crate) const DEFAULT_SECONDS: u64 = 70;
/// Longer runs are refused: two of them must stay a benchmark, not a soak test.
const MAX_SECONDS: u64 = 3_600;

/// `budget [--seconds N]`'s run length.
pub(crate) fn seconds(args: &[&str]) -> Result<u64> {
    let seconds = match args {
        ["budget"] => DEFAULT_SECONDS,
        ["budget", "--seconds", n] => n
            .parse::<u64>()
            .with_context(|| format!("--seconds takes a whole number of seconds, not `{n}`"))?,
        _ => bail!("usage: cargo xtask bench budget [--seconds N]"),
    };
    ensure!(
        (1..=MAX_SECONDS).contains(&seconds),
        "--seconds: {seconds} is out of range (1 to {MAX_SECONDS})"
    );
    Ok(seconds)
}

/// Runs both runs of `seconds` each with the `pollen` binary and prints the figures.
pub(crate) fn measure(pollen: &Path, seconds: u64) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut results = Vec::new();
    for budget in BUDGETS {
        let result = runtime.block_on(run(pollen, budget, seconds))?;
        println!("{}", result.summary());
        results.push(result);
    }
    println!();
    println!(
        "{INSTANCES} instances of one business, each polling every 1.2 s; simulator limit \
         {SAGE_LIMIT} calls per business in any 60 s; {seconds} s per run"
    );
    println!();
    println!(
        "| `pollen run` | accepted calls per 60-s bucket (sim) | busiest 60-s window | 429s \
         refused by the sim | first poll: median | first poll: slowest (of those polled) \
         | never polled | an instance's longest wait for a 200 (median · worst) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} of {INSTANCES} | {} |",
            r.label(),
            r.per_minute(),
            r.calls.max_in_any_minute,
            r.calls.rejected,
            r.first_poll(r.median_first_poll()),
            r.first_poll(r.slowest_first_poll()),
            r.never_polled(),
            r.longest_wait()
        );
    }
    Ok(())
}

/// What one run measured.
struct RunResult {
    budget: u32,
    /// The run's length.
    seconds: u64,
    /// The simulator's count of the business's calls over the run.
    calls: BusinessCalls,
    /// How long the last bucket of `calls.per_minute` covers (the run ended inside it).
    last_bucket: Duration,
    /// Per instance: from spawning pollen to its first 200 for [`RESOURCE`]; `None` when
    /// there was none.
    first_polls: Vec<Option<Duration>>,
    /// Per instance: the longest time without a call for [`RESOURCE`] answered 200, from
    /// spawning pollen to the run's end.
    longest_waits: Vec<Duration>,
}

impl RunResult {
    fn label(&self) -> String {
        if self.budget == 0 {
            "`--sage-rate-limit 0` (no budget)".to_owned()
        } else {
            format!("`--sage-rate-limit {}`", self.budget)
        }
    }

    /// `calls.per_minute` as `200 · 37 (last 9.8 s)`.
    fn per_minute(&self) -> String {
        let buckets: Vec<String> = self
            .calls
            .per_minute
            .iter()
            .map(ToString::to_string)
            .collect();
        if buckets.is_empty() {
            return "none".to_owned();
        }
        format!(
            "{} (last {:.1} s)",
            buckets.join(" · "),
            self.last_bucket.as_secs_f64()
        )
    }

    /// The median over every instance, one never polled counting as later than any: `None`
    /// when the median is such an instance (it is after the run's end).
    fn median_first_poll(&self) -> Option<Duration> {
        let mut all = self.first_polls.clone();
        // `None` sorts first: put the instances never polled last.
        all.sort_by_key(|p| (p.is_none(), *p));
        let n = all.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => all[n / 2],
            _ => Some((all[n / 2 - 1]? + all[n / 2]?) / 2),
        }
    }

    /// The slowest first poll of the instances that had one.
    fn slowest_first_poll(&self) -> Option<Duration> {
        self.first_polls.iter().flatten().max().copied()
    }

    /// A first-poll figure: `None` is after the run's end.
    fn first_poll(&self, at: Option<Duration>) -> String {
        at.map_or_else(
            || format!("> {} s", self.seconds),
            |d| format!("{:.2} s", d.as_secs_f64()),
        )
    }

    /// The median and the largest of [`RunResult::longest_waits`], as `26.1 s · 31.8 s`.
    fn longest_wait(&self) -> String {
        let mut waits = self.longest_waits.clone();
        waits.sort();
        let n = waits.len();
        if n == 0 {
            return "—".to_owned();
        }
        let median = if n % 2 == 1 {
            waits[n / 2]
        } else {
            (waits[n / 2 - 1] + waits[n / 2]) / 2
        };
        format!(
            "{:.1} s · {:.1} s",
            median.as_secs_f64(),
            waits[n - 1].as_secs_f64()
        )
    }

    fn never_polled(&self) -> usize {
        self.first_polls.iter().filter(|p| p.is_none()).count()
    }

    fn summary(&self) -> String {
        format!(
            "budget {}: {} calls accepted, per 60-s bucket {}, busiest 60-s window {}, {} \
             refused with 429; first poll median {}, slowest {}, {} of {INSTANCES} never polled; \
             an instance's longest wait for a 200 {} (median · worst)",
            if self.budget == 0 {
                "off".to_owned()
            } else {
                format!("{}/min", self.budget)
            },
            self.calls.accepted,
            self.per_minute(),
            self.calls.max_in_any_minute,
            self.calls.rejected,
            self.first_poll(self.median_first_poll()),
            self.first_poll(self.slowest_first_poll()),
            self.never_polled(),
            self.longest_wait()
        )
    }
}

fn since(start: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - start).to_std().unwrap_or_default()
}

/// The last lines of pollen's log, for an error.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(20).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

async fn run(pollen: &Path, budget: u32, seconds: u64) -> Result<RunResult> {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 10,
            rate_limit: Some(SAGE_LIMIT),
            // Every request of the run: ~5,000 a minute wanted, and each 429 is logged too.
            request_log_capacity: 1_000_000,
            ..SimConfig::default()
        },
    )
    .await
    .context("starting the simulator")?;
    let business = sim.lead_business().id().to_owned();

    // A receiver that takes every notification (there are few: the polls find nothing new).
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(|| async { axum::http::StatusCode::OK }),
    );
    let (callback, server) = crate::bench::serve_receiver(app).await?;

    let dir = tempfile::tempdir().context("a temporary directory")?;
    let config = dir.path().join("instances");
    std::fs::create_dir(&config)?;
    let codes: Vec<String> = (0..INSTANCES)
        .map(|i| format!("budget-bench-{i:02}"))
        .collect();
    for (i, code) in codes.iter().enumerate() {
        sim.add_authorization_code(code, ApiVersion::V31);
        let mut instance = crate::bench::instance(&sim, &callback, "budget-bench-key");
        instance["name"] = json!(format!("shop-{i:02}"));
        instance["providerData"]["code"] = json!(code);
        instance["configuration"]["event.poller.refresh_interval"] = json!("0.02");
        instance["configuration"]["sage.business.id"] = json!(business);
        // A new instance's first poll starts at its creation (the seed's): an incremental
        // poll, not a back-fill, which a budget would serve after the others' regular polls.
        if let Some(configuration) = instance["configuration"].as_object_mut() {
            configuration.remove("event.poller.backfill_since");
        }
        std::fs::write(config.join(format!("{i:03}.json")), instance.to_string())?;
    }

    let log = dir.path().join("pollen.log");
    let stderr = std::fs::File::create(&log)?;
    let db = format!("sqlite://{}", dir.path().join("pollen.db").display());
    let spawned = Utc::now();
    let mut child = Command::new(pollen)
        .args(["run", "--allow-private-callbacks", "--db", &db, "--config"])
        .arg(&config)
        .args(["--sage-rate-limit", &budget.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .context("starting pollen run")?;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let exited = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break None;
        }
        tokio::time::sleep((deadline - now).min(Duration::from_millis(500))).await;
    };
    // Counted before pollen stops, so that the run is exactly `seconds` long.
    let ended = Utc::now();
    let calls = sim.business_calls(&business);
    let requests = sim.request_log();
    let dropped = sim.request_log_dropped();
    if exited.is_none() {
        crate::bench::stop(&mut child);
    }
    server.abort();
    sim.shutdown().await;
    if let Some(keep) = std::env::var_os("POLLEN_BENCH_LOG_DIR") {
        let kept = Path::new(&keep).join(format!("pollen-budget-{budget}.log"));
        std::fs::copy(&log, &kept)
            .with_context(|| format!("keeping pollen's log as {}", kept.display()))?;
    }
    if let Some(status) = exited {
        bail!(
            "budget {budget}: pollen run exited early ({status}); its last log lines:\n{}",
            tail(&log)
        );
    }
    ensure!(
        dropped == 0,
        "budget {budget}: the simulator's request log dropped {dropped} requests"
    );

    // Per instance, when its calls for the resource that were answered 200 started.
    let answered: Vec<Vec<DateTime<Utc>>> = codes
        .iter()
        .map(|code| {
            let mut at: Vec<DateTime<Utc>> = requests
                .iter()
                .filter(|r| {
                    r.grant.as_deref() == Some(code.as_str())
                        && r.resource.as_deref() == Some(RESOURCE)
                        && r.status == 200
                })
                .map(|r| r.started)
                .collect();
            at.sort();
            at
        })
        .collect();
    let first_polls = answered
        .iter()
        .map(|at| at.first().map(|first| since(spawned, *first)))
        .collect();
    let longest_waits = answered
        .iter()
        .map(|at| {
            std::iter::once(spawned)
                .chain(at.iter().copied())
                .zip(at.iter().copied().chain(std::iter::once(ended)))
                .map(|(from, to)| since(from, to))
                .max()
                .unwrap_or_default()
        })
        .collect();
    // The buckets start with the business's first accepted call (every API request but the
    // limit's 429s: there are no faults here).
    let first_call = requests
        .iter()
        .filter(|r| r.resource.is_some() && r.status != 429)
        .map(|r| r.started)
        .min();
    let full_buckets = calls.per_minute.len().saturating_sub(1) as u32;
    let last_bucket = first_call.map_or(Duration::ZERO, |first| {
        since(first, ended).saturating_sub(Duration::from_secs(60) * full_buckets)
    });
    Ok(RunResult {
        budget,
        seconds,
        calls,
        last_bucket,
        first_polls,
        longest_waits,
    })
}
