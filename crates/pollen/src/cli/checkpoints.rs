//! `pollen checkpoints --instance ID`: an instance's checkpoint chains, read on the store.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use pollen::checkpoints::{chain_json, CALLBACK};
use pollen::db::{open_store, DEFAULT_DB_URL};
use pollen_store::CheckpointChain;

#[derive(Debug, Args)]
pub(crate) struct CheckpointsArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// The instance's id.
    #[arg(long)]
    instance: i64,
    /// One JSON object per chain and line instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &CheckpointsArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = open_store(&args.db).await?;
        let found = store.instance(args.instance).await;
        let chains = store.checkpoint_chains(args.instance).await;
        store.close().await;
        if found.context("reading the instance")?.is_none() {
            eprintln!("pollen checkpoints: no instance {}", args.instance);
            return Ok(ExitCode::FAILURE);
        }
        let chains = chains.context("reading the checkpoint chains")?;
        if args.json {
            for chain in &chains {
                println!("{}", chain_json(chain));
            }
        } else {
            print!("{}", table(&chains));
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn table(chains: &[CheckpointChain]) -> String {
    let mut out = String::new();
    if chains.is_empty() {
        out.push_str("no checkpoints (turn them on with event.notification.checkpoints)\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<20} {:<16} {:>8} {:<24} {:>6} CHECKPOINT",
        "RESOURCE", "SUBSCRIPTION", "SEQUENCE", "TO", "OPEN"
    );
    for c in chains {
        let _ = writeln!(
            out,
            "{:<20} {:<16} {:>8} {:<24} {:>6} {}",
            c.resource,
            c.subscription.as_deref().unwrap_or(CALLBACK),
            c.sequence,
            c.to,
            c.open_events,
            c.checkpoint
        );
    }
    out
}
