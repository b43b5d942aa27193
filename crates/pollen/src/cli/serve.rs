//! `pollen serve`: the management API, polling and delivering every stored instance.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use pollen::api::{serve, ApiSecrets, ServeOptions};
use pollen::db::{open_worker_store, DEFAULT_DB_URL};

/// The environment variables holding the platform secrets.
const USER_SECRET_ENV: &str = "POLLEN_USER_SECRET";
const ORG_SECRET_ENV: &str = "POLLEN_ORG_SECRET";

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// Deliver to loopback and private network addresses (refused by default).
    #[arg(long)]
    allow_private_callbacks: bool,
    /// Mark the console's cookies `Secure`: use it when a TLS proxy serves pollen over HTTPS.
    #[arg(long)]
    secure_cookies: bool,
    #[command(flatten)]
    lease: super::LeaseArgs,
    #[command(flatten)]
    sage: super::SageArgs,
    #[command(flatten)]
    alerts: super::AlertArgs,
}

fn secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty())
}

/// Refuses to start (exit 1) without both secrets; prints `listening on http://ADDR` first.
pub(crate) fn run(args: &ServeArgs) -> Result<ExitCode> {
    let (Some(user), Some(org)) = (secret(USER_SECRET_ENV), secret(ORG_SECRET_ENV)) else {
        eprintln!(
            "error: not starting: set {USER_SECRET_ENV} and {ORG_SECRET_ENV} (the API's Authorization secrets)"
        );
        return Ok(ExitCode::from(1));
    };
    let secrets = ApiSecrets::new(&user, &org);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = open_worker_store(&args.db).await?;
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("--listen {}: cannot bind", args.listen))?;
        let addr = listener
            .local_addr()
            .context("reading the listening address")?;
        // One write, errors ignored: a reader that stops after the first line (a closed pipe)
        // is no reason to stop serving.
        let _ = write!(
            std::io::stdout(),
            "listening on http://{addr}\nconsole at http://{addr}/console/ (sign in with the user and organization secrets)\n"
        );
        let _ = std::io::stdout().flush();
        let mut options = ServeOptions::new();
        options.engine.allow_private_callbacks = args.allow_private_callbacks;
        options.secure_cookies = args.secure_cookies;
        options.engine.lease_ttl = args.lease.ttl();
        options.engine.sage_rate_limit = args.sage.rate_limit;
        options.engine.alerts = args.alerts.options()?;
        serve(
            listener,
            store.clone(),
            secrets,
            options,
            super::shutdown_signal(),
        )
        .await?;
        store.close().await;
        eprintln!("pollen: stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
