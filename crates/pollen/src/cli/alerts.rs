//! `pollen alerts [--all]`: the operational alerts, read on the store directly.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::SecondsFormat;
use clap::Args;
use pollen::alerts::alert_json;
use pollen::db::{open_store, DEFAULT_DB_URL};
use pollen_store::Alert;

#[derive(Debug, Args)]
pub(crate) struct AlertsArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// The resolved alerts still kept too, not only the open ones.
    #[arg(long)]
    all: bool,
    /// One JSON object per alert and line instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &AlertsArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = open_store(&args.db).await?;
        let alerts = store
            .list_alerts(!args.all, None, 10_000)
            .await
            .context("listing the alerts");
        store.close().await;
        let alerts = alerts?;
        if args.json {
            for alert in &alerts {
                println!("{}", alert_json(alert));
            }
        } else {
            print!("{}", table(&alerts));
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn table(alerts: &[Alert]) -> String {
    let mut out = String::new();
    if alerts.is_empty() {
        out.push_str("no alerts\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<6} {:<9} {:<25} {:<9} {:<16} {:<20} DETAIL",
        "ID", "STATE", "KIND", "INSTANCE", "SUBJECT", "OPENED"
    );
    for a in alerts {
        let state = if a.resolved_at.is_some() {
            "resolved"
        } else {
            "open"
        };
        let _ = writeln!(
            out,
            "{:<6} {:<9} {:<25} {:<9} {:<16} {:<20} {}",
            a.id,
            state,
            a.kind.as_str(),
            a.instance,
            if a.subject.is_empty() {
                "-"
            } else {
                &a.subject
            },
            a.opened_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            a.detail
        );
    }
    out
}
