//! `pollen demo`: see `pollen::demo`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use pollen::demo::{run_demo, DemoOptions};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Stop after this long (`30s`, `2m`) and print the summary; without it, run until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Changes the simulator makes per second.
    #[arg(long, default_value_t = 0.5)]
    changes_per_sec: f64,
    /// Seconds between two polls of the instance (the seed says 15 minutes).
    #[arg(long, default_value_t = 3)]
    refresh_secs: u64,
    /// Where the web console listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: std::net::SocketAddr,
}

/// Exit 0 when every change arrived with a valid signature, 1 otherwise.
pub(crate) fn run(args: &DemoArgs) -> Result<ExitCode> {
    let mut options = DemoOptions::new();
    options.duration = args.duration;
    options.changes_per_sec = args.changes_per_sec;
    options.refresh_interval = Duration::from_secs(args.refresh_secs.max(1));
    options.console_listen = args.listen;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let summary = runtime.block_on(async {
        let mut out = std::io::stdout();
        run_demo(&options, &mut out, super::shutdown_signal()).await
    })?;
    Ok(if summary.missing == 0 && summary.bad_signatures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
