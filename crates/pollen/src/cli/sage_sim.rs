//! `pollen sage-sim`: the Sage simulator as a standalone server.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use pollen_sage_sim::{SimConfig, Simulator};

#[derive(Debug, Args)]
pub(crate) struct SageSimArgs {
    /// The address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// The seed of the generated records: the same seed gives the same records.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many records to generate for each resource.
    #[arg(long, default_value_t = 100)]
    records: usize,
    /// How many businesses the simulated user has (1 to 100), each with its own records;
    /// `X-Business` (v3.1) or `X-Site` (v3) picks one, the first (lead) without it.
    #[arg(long, default_value_t = 1)]
    businesses: usize,
    /// Answer 429 (with `Retry-After`) to a business's calls beyond this many in any 60
    /// seconds, like Sage's per-business limit (default: no limit).
    #[arg(long)]
    rate_limit: Option<u32>,
}

/// Prints `listening on http://ADDR` as the first stdout line, then serves until Ctrl-C.
pub(crate) fn run(args: &SageSimArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let config = SimConfig {
            seed: args.seed,
            records: args.records,
            businesses: args.businesses,
            rate_limit: args.rate_limit,
            ..SimConfig::default()
        };
        let sim = Simulator::start(args.listen, config)
            .await
            .with_context(|| format!("starting the simulator on {}", args.listen))?;
        println!("listening on {}", sim.base_url());
        sim.serve_until(async {
            // If Ctrl-C cannot be listened for, serving on until killed is the only option left.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await;
        Ok(ExitCode::SUCCESS)
    })
}
