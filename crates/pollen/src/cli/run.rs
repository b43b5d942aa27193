//! `pollen run --config FILE|DIR`: poll the instances of those files and deliver their events.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::TimeDelta;
use clap::Args;
use pollen::db::{open_worker_store, DEFAULT_DB_URL};
use pollen::engine::{Engine, EngineOptions};
use pollen::instances::{load_instance_files, store_instance_files};
use pollen::ErrorKind;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// An instance JSON file, or a directory of them (`*.json`).
    #[arg(long)]
    config: PathBuf,
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// Deliver to loopback and private network addresses (refused by default).
    #[arg(long)]
    allow_private_callbacks: bool,
    /// This worker's name in leases; unique among the live processes sharing a database. A
    /// worker restarted under the same name takes back at once the polls its predecessor
    /// held. Default: `pollen-PID-RANDOM`.
    #[arg(long)]
    worker_id: Option<String>,
    /// Abandon a poll running longer than this (default 10m).
    #[arg(long, value_parser = humantime::parse_duration)]
    poll_timeout: Option<Duration>,
    #[command(flatten)]
    lease: super::LeaseArgs,
    #[command(flatten)]
    sage: super::SageArgs,
    #[command(flatten)]
    alerts: super::AlertArgs,
    /// Time allowed for one delivery attempt (default 30s).
    #[arg(long, value_parser = humantime::parse_duration)]
    delivery_timeout: Option<Duration>,
    /// Delivery retries at these offsets from the first failure, e.g. `4s,16s,64s` (default
    /// the vendor's 4^n s for n = 1..9); after the last the subscription is deactivated.
    #[arg(long, value_parser = parse_schedule)]
    retry_schedule: Option<Schedule>,
    /// The shortest wait before retrying after a 429 or a timed-out delivery (default 60s).
    #[arg(long, value_parser = humantime::parse_duration)]
    retry_throttle_minimum: Option<Duration>,
}

/// A list of retry offsets.
#[derive(Debug, Clone)]
struct Schedule(Vec<Duration>);

fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let offsets = text
        .split(',')
        .map(|part| {
            humantime::parse_duration(part.trim())
                .map_err(|err| format!("`{}` is not a duration ({err})", part.trim()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    pollen_callback::RetryPolicy::vendor()
        .with_offsets(offsets.clone())
        .map_err(|err| err.to_string())?;
    Ok(Schedule(offsets))
}

impl RunArgs {
    fn engine_options(&self) -> Result<EngineOptions> {
        let mut options = EngineOptions::new();
        options.allow_private_callbacks = self.allow_private_callbacks;
        if let Some(id) = &self.worker_id {
            options.owner.clone_from(id);
        }
        if let Some(timeout) = self.poll_timeout {
            options.poll_timeout =
                Some(TimeDelta::from_std(timeout).context("--poll-timeout is too long")?);
        }
        if let Some(timeout) = self.delivery_timeout {
            options.delivery_timeout = timeout;
        }
        options.lease_ttl = self.lease.ttl();
        options.sage_rate_limit = self.sage.rate_limit;
        options.alerts = self.alerts.options()?;
        if self.retry_schedule.is_some() || self.retry_throttle_minimum.is_some() {
            let mut retry = pollen_callback::RetryPolicy::vendor();
            if let Some(Schedule(offsets)) = &self.retry_schedule {
                retry = retry
                    .with_offsets(offsets.clone())
                    .context("--retry-schedule")?;
            }
            if let Some(minimum) = self.retry_throttle_minimum {
                retry.throttle_minimum = minimum;
            }
            options.delivery_retry = Some(retry);
        }
        Ok(options)
    }
}

/// Refuses to start (exit 1, every problem printed) when a file is invalid; otherwise runs
/// until SIGINT or SIGTERM and exits 0.
pub(crate) fn run(args: &RunArgs) -> Result<ExitCode> {
    let files = match load_instance_files(&args.config) {
        Ok(files) => files,
        Err(problems) => {
            for problem in problems {
                eprintln!("{problem}");
            }
            eprintln!("error: not starting: fix the instance files above");
            return Ok(ExitCode::from(1));
        }
    };
    for file in &files {
        for warning in &file.warnings {
            eprintln!("{warning}");
        }
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = open_worker_store(&args.db).await?;
        let instances = store_instance_files(&store, &files).await?;
        let options = args.engine_options()?;
        let engine = Engine::new(store.clone(), options)?;
        let mut polling = 0;
        for instance in &instances {
            match engine.add_instance(instance).await {
                Ok(()) => {
                    polling += 1;
                    tracing::info!(id = instance.id, name = %instance.name, "polling instance");
                }
                // One instance whose grant Sage refused must not stop the others: it is
                // marked for re-authorization in the store and skipped.
                Err(error) if error.kind() == ErrorKind::Source => {
                    eprintln!("error: {error}; not polling it");
                }
                Err(error) => return Err(error.into()),
            }
        }
        eprintln!("pollen: polling {polling} instance(s); stop with Ctrl-C or SIGTERM");
        engine.run(super::shutdown_signal()).await?;
        store.close().await;
        eprintln!("pollen: stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
