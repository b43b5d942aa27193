//! `pollen events list|redeliver`: the outbox, read and re-sent on the store directly.

use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use chrono::{SecondsFormat, Utc};
use clap::{Args, Subcommand};
use pollen::db::{open_store, DEFAULT_DB_URL};
use pollen_callback::Redelivery;
use pollen_core::{OutboxFilter, OutboxStatus, StableId, Store};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
    /// List notifications in the outbox, oldest first.
    List(ListArgs),
    /// Make notifications pending again: an instance's queued ones, or these ids.
    Redeliver(RedeliverArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// Only this instance's notifications.
    #[arg(long)]
    instance: Option<i64>,
    /// Only notifications with this status.
    #[arg(long, value_parser = parse_status)]
    status: Option<OutboxStatus>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RedeliverArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// Re-send every queued notification of this instance (and re-activate its subscription).
    #[arg(long, conflicts_with = "ids", required_unless_present = "ids")]
    instance: Option<i64>,
    /// Re-send these notifications, whatever their status.
    #[arg(value_parser = parse_id)]
    ids: Vec<StableId>,
}

fn parse_status(text: &str) -> Result<OutboxStatus, String> {
    [
        OutboxStatus::Pending,
        OutboxStatus::Delivered,
        OutboxStatus::Queued,
    ]
    .into_iter()
    .find(|s| s.as_str() == text)
    .ok_or_else(|| format!("`{text}` is not one of pending, delivered, queued"))
}

fn parse_id(text: &str) -> Result<StableId, String> {
    StableId::from_str(text).map_err(|_| format!("`{text}` is not a notification id"))
}

pub(crate) fn run(command: EventsCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match command {
            EventsCommand::List(args) => list(&args).await,
            EventsCommand::Redeliver(args) => redeliver(&args).await,
        }
    })
}

async fn list(args: &ListArgs) -> Result<ExitCode> {
    const PAGE: usize = 1000;
    let store = open_store(&args.db).await?;
    let mut filter = OutboxFilter {
        instance: args.instance.map(|id| id.to_string()),
        status: args.status,
        after_seq: None,
        limit: Some(PAGE),
    };
    if !args.json {
        println!(
            "{:<32}  {:>8}  {:<12}  {:<9}  {:>8}  {:<24}  LAST ERROR",
            "ID", "INSTANCE", "RESOURCE", "STATUS", "ATTEMPTS", "CREATED"
        );
    }
    loop {
        let rows = store
            .list_outbox(&filter)
            .await
            .context("reading the outbox")?;
        for row in &rows {
            let n = &row.notification;
            let created = n.created_at.to_rfc3339_opts(SecondsFormat::Secs, true);
            if args.json {
                println!(
                    "{}",
                    json!({
                        "id": n.id.to_string(),
                        "instanceId": n.key.instance,
                        "objectType": n.key.resource,
                        "status": row.status.as_str(),
                        "attempts": row.attempts,
                        "createdDate": created,
                        "lastError": row.last_error,
                        "eventIds": n.event_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    })
                );
            } else {
                println!(
                    "{:<32}  {:>8}  {:<12}  {:<9}  {:>8}  {:<24}  {}",
                    n.id.to_string(),
                    n.key.instance,
                    n.key.resource,
                    row.status.as_str(),
                    row.attempts,
                    created,
                    row.last_error.as_deref().unwrap_or("-")
                );
            }
        }
        match rows.last() {
            Some(last) if rows.len() == PAGE => filter.after_seq = Some(last.seq),
            _ => break,
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn redeliver(args: &RedeliverArgs) -> Result<ExitCode> {
    let store = open_store(&args.db).await?;
    let what = match args.instance {
        Some(id) => {
            if store.instance(id).await?.is_none() {
                bail!("--instance {id}: no such instance");
            }
            Redelivery::Instance(id.to_string())
        }
        None => Redelivery::Ids(args.ids.clone()),
    };
    let requeued = pollen_callback::redeliver(store.as_ref(), &what, Utc::now())
        .await
        .context("re-delivering")?;
    store.close().await;
    println!("requeued {requeued} notification(s); a running pollen delivers them shortly");
    Ok(ExitCode::SUCCESS)
}
