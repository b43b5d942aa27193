//! Argument definitions and dispatch for every subcommand.

mod alerts;
mod checkpoints;
mod demo;
mod events;
mod keys;
mod rewind;
mod run;
mod sage;
mod sage_sim;
mod serve;
mod subscriptions;
mod template;
mod validate;
mod verify;
mod where_clause;
mod workers;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// pollen: change-event webhooks for APIs that only offer "list records changed since T".
#[derive(Debug, Parser)]
#[command(name = "pollen", version, propagate_version = true)]
pub(crate) struct Cli {
    /// How log lines on stderr look.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Try pollen with no account: a Sage simulator, a local receiver and the seed's instance.
    Demo(demo::DemoArgs),
    /// Poll the instances of instance JSON files and deliver their events.
    Run(run::RunArgs),
    /// Work with `${...}` URL templates.
    #[command(subcommand)]
    Template(template::TemplateCommand),
    /// Work with CEQL where clauses.
    #[command(subcommand)]
    Where(where_clause::WhereCommand),
    /// Check instance JSON files; every problem with its JSON Pointer; exit 1 on any error.
    Validate(validate::ValidateArgs),
    /// Read and re-send the notifications in the outbox.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// Rotate an instance's signing keys with a grace period.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// An instance's receivers besides its callback (`event.notification.subscriptions`).
    #[command(subcommand)]
    Subscriptions(subscriptions::SubscriptionsCommand),
    /// Serve the management API and poll every stored instance.
    Serve(serve::ServeArgs),
    /// Move one resource's watermark back: its next poll emits the changes since again.
    Rewind(rewind::RewindArgs),
    /// What the Sage connector serves.
    #[command(subcommand)]
    Sage(sage::SageCommand),
    /// Run the Sage Business Cloud Accounting simulator on its own.
    SageSim(sage_sim::SageSimArgs),
    /// List the processes sharing the database: heartbeat age, alive or dead, what each holds.
    Workers(workers::WorkersArgs),
    /// List the operational alerts (open ones; `--all` adds the resolved ones kept).
    Alerts(alerts::AlertsArgs),
    /// Where an instance's checkpoint chains stand: each one's latest checkpoint and the
    /// events waiting for the next.
    Checkpoints(checkpoints::CheckpointsArgs),
    /// Check a log of received notifications: signatures, duplicates, checkpoint chains; exit
    /// 1 when a window is incomplete, a checkpoint missing or a signature bad.
    Verify(verify::VerifyArgs),
}

pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    let quiet = matches!(cli.command, Command::Demo(_) | Command::Verify(_));
    // Held until the command returns: dropping it flushes the spans still buffered.
    let _telemetry = init_logging(cli.log_format, if quiet { "warn" } else { "info" })?;
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Template(command) => template::run(command),
        Command::Where(command) => where_clause::run(command),
        Command::Validate(args) => validate::run(&args),
        Command::Rewind(args) => rewind::run(&args),
        Command::Sage(command) => sage::run(&command),
        Command::SageSim(args) => sage_sim::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Events(command) => events::run(command),
        Command::Keys(command) => keys::run(&command),
        Command::Subscriptions(command) => subscriptions::run(&command),
        Command::Workers(args) => workers::run(&args),
        Command::Alerts(args) => alerts::run(&args),
        Command::Checkpoints(args) => checkpoints::run(&args),
        Command::Verify(args) => verify::run(&args),
    }
}

/// The lease options of the processes that poll and deliver (`run`, `serve`).
#[derive(Debug, clap::Args)]
struct LeaseArgs {
    /// How long a lease lasts unrenewed (default 30s, at least 1s). Leases and this worker's
    /// heartbeat are renewed every third of it; when a process dies, its work is taken over
    /// once its heartbeat is older than this (on SQLite, at once by the next process).
    #[arg(long = "lease-ttl", value_parser = parse_lease_ttl)]
    ttl: Option<chrono::TimeDelta>,
}

/// The Sage options of the processes that poll (`run`, `serve`).
#[derive(Debug, clap::Args)]
struct SageArgs {
    /// The rate budget of a Sage business, in calls a minute, for instances that set no
    /// `sage.rate_limit`: every instance of the business, in every process sharing the
    /// database, draws from it (0 turns it off for them; at most 100000).
    #[arg(
        long = "sage-rate-limit",
        default_value_t = pollen_sage::DEFAULT_RATE_LIMIT,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(pollen_config::MAX_RATE_LIMIT))
    )]
    rate_limit: u32,
}

/// Operational alerts (`--alerts-url`, `--alert-after-failures`).
#[derive(Debug, clap::Args)]
struct AlertArgs {
    /// Where every instance's operational alerts are POSTed, signed with Standard Webhooks
    /// headers when `POLLEN_ALERTS_SECRET` holds a `whsec_` secret (see docs/events.md).
    #[arg(long, value_parser = parse_alerts_url)]
    alerts_url: Option<String>,
    /// Failed polls of a resource in a row that open a `polls_failing` alert.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    alert_after_failures: u32,
}

/// The environment variable holding the server-wide alerts' Standard Webhooks secret.
const ALERTS_SECRET_ENV: &str = "POLLEN_ALERTS_SECRET";

fn parse_alerts_url(text: &str) -> std::result::Result<String, String> {
    pollen_callback::Endpoint::new(text)
        .map(|_| text.trim().to_owned())
        .map_err(|e| e.to_string())
}

impl AlertArgs {
    /// The engine's alert options; a `POLLEN_ALERTS_SECRET` that is not a `whsec_` secret is
    /// refused (without quoting it).
    fn options(&self) -> anyhow::Result<pollen::alerts::AlertOptions> {
        let mut options = pollen::alerts::AlertOptions::new();
        options.url.clone_from(&self.alerts_url);
        options.after_failures = self.alert_after_failures;
        if let Some(text) = std::env::var(ALERTS_SECRET_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
        {
            pollen_callback::StandardWebhooksSecret::parse(&text)
                .map_err(|e| anyhow::anyhow!("{ALERTS_SECRET_ENV}: {e}"))?;
            options.secret = Some(pollen_config::Secret::new(text));
        }
        Ok(options)
    }
}

impl LeaseArgs {
    fn ttl(&self) -> chrono::TimeDelta {
        self.ttl.unwrap_or(pollen::engine::DEFAULT_LEASE_TTL)
    }
}

fn parse_lease_ttl(text: &str) -> Result<chrono::TimeDelta, String> {
    let ttl = humantime::parse_duration(text)
        .map_err(|err| format!("`{text}` is not a duration ({err})"))?;
    if ttl < std::time::Duration::from_secs(1) {
        return Err(format!("`{text}` is too short: a lease ttl is at least 1s"));
    }
    chrono::TimeDelta::from_std(ttl).map_err(|_| format!("`{text}` is too long"))
}

/// Parses an RFC 3339 instant given on the command line.
fn parse_instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|err| format!("'{text}' is not an RFC 3339 instant ({err})"))
}

/// Logs go to stderr; `RUST_LOG` overrides the default level. Spans are exported over OTLP
/// as well when the `OTEL_*` variables name an endpoint (see `pollen::telemetry`); unset,
/// no OpenTelemetry layer is installed at all.
fn init_logging(
    format: LogFormat,
    default_level: &str,
) -> Result<Option<pollen::telemetry::Telemetry>> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Human => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    let config = pollen::telemetry::TelemetryConfig::from_env(|name| std::env::var(name).ok())?;
    let registry = tracing_subscriber::registry().with(fmt.with_filter(filter));
    // A second initialisation (never in the binary) is harmless: keep the first.
    let Some(config) = config else {
        let _ = registry.try_init();
        return Ok(None);
    };
    let (telemetry, layer) = pollen::telemetry::Telemetry::start(&config)
        .map_err(|e| anyhow::anyhow!("OTEL_EXPORTER_OTLP_ENDPOINT: cannot export traces: {e}"))?;
    let _ = registry.with(layer).try_init();
    Ok(Some(telemetry))
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
