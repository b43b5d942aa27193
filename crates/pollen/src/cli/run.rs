//! `pollen run --config FILE|DIR`: poll the instances of those files and deliver their events.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use pollen::db::{open_store, DEFAULT_DB_URL};
use pollen::engine::{Engine, EngineOptions};
use pollen::instances::{load_instance_files, store_instance_files};

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
        let store = open_store(&args.db).await?;
        let instances = store_instance_files(&store, &files).await?;
        let mut options = EngineOptions::new();
        options.allow_private_callbacks = args.allow_private_callbacks;
        let engine = Engine::new(store.clone(), options)?;
        for instance in &instances {
            engine.add_instance(instance).await?;
            tracing::info!(id = instance.id, name = %instance.name, "polling instance");
        }
        eprintln!(
            "pollen: polling {} instance(s); stop with Ctrl-C or SIGTERM",
            instances.len()
        );
        engine.run(super::shutdown_signal()).await?;
        store.close().await;
        eprintln!("pollen: stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
