//! `pollen workers`: the worker registry, read on the store directly.

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Args;
use pollen::db::{open_store, DEFAULT_DB_URL};
use pollen::workers::{table, worker_json};
use pollen_core::Store;

#[derive(Debug, Args)]
pub(crate) struct WorkersArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// One JSON object per worker and line instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &WorkersArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = open_store(&args.db).await?;
        let now = Utc::now();
        let workers = store
            .list_workers(now)
            .await
            .context("listing the workers")?;
        store.close().await;
        if args.json {
            for worker in &workers {
                println!("{}", worker_json(worker, now));
            }
        } else {
            print!("{}", table(&workers, now));
        }
        Ok(ExitCode::SUCCESS)
    })
}
