//! `pollen events list|redeliver|replay|replays|replay-cancel`: the outbox, read and re-sent on
//! the store directly; a replay started here is moved on by a running `pollen run`/`serve`.

use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use pollen::db::{open_store, DEFAULT_DB_URL};
use pollen::replay::{replay_json, Refused, ReplayRequest};
use pollen_callback::Redelivery;
use pollen_core::{OutboxFilter, OutboxStatus, StableId, Store};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
    /// List notifications in the outbox, oldest first.
    List(ListArgs),
    /// Make notifications pending again: an instance's queued ones, or these ids.
    Redeliver(RedeliverArgs),
    /// Re-send every notification an instance wrote in a time range, whatever its status.
    Replay(ReplayArgs),
    /// List replays and their progress.
    Replays(ReplaysArgs),
    /// Cancel a running replay: no further chunk is re-queued.
    ReplayCancel(ReplayCancelArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// The instance's id.
    #[arg(long)]
    instance: i64,
    /// The first instant of the range (RFC 3339), compared with each notification's
    /// `createdDate`.
    #[arg(long, value_parser = super::parse_instant)]
    since: DateTime<Utc>,
    /// The end of the range, excluded (RFC 3339; default: now).
    #[arg(long, value_parser = super::parse_instant)]
    until: Option<DateTime<Utc>>,
    /// Only this resource (repeat for several).
    #[arg(long = "resource")]
    resources: Vec<String>,
    /// Only notifications with an event of these types: CREATED, UPDATED, DELETED.
    #[arg(long = "type", value_delimiter = ',')]
    event_types: Vec<String>,
    /// Only to this receiver: a subscription's name, or `callback` (default: every receiver).
    #[arg(long, value_name = "NAME")]
    subscription: Option<String>,
    /// Only count the notifications it would re-send; start nothing.
    #[arg(long)]
    preview: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReplaysArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// Only this instance's replays.
    #[arg(long)]
    instance: Option<i64>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReplayCancelArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// The replay's id (`pollen events replays` lists them).
    replay: i64,
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
            EventsCommand::Replay(args) => replay(&args).await,
            EventsCommand::Replays(args) => replays(&args).await,
            EventsCommand::ReplayCancel(args) => replay_cancel(&args).await,
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

/// Exit 0 started (or counted), 1 refused (an unknown instance, an empty range, an unknown
/// event type), with the reason on stderr.
async fn replay(args: &ReplayArgs) -> Result<ExitCode> {
    let store = open_store(&args.db).await?;
    let Some(instance) = store
        .instance(args.instance)
        .await
        .context("reading the instance")?
    else {
        eprintln!("pollen events replay: no instance {}", args.instance);
        return Ok(ExitCode::FAILURE);
    };
    let request = ReplayRequest {
        since: Some(args.since),
        until: args.until,
        resources: args.resources.clone(),
        event_types: args.event_types.clone(),
        subscription: args.subscription.clone(),
    };
    let outcome = if args.preview {
        pollen::replay::preview(&store, &instance, &request)
            .await
            .map(|count| {
                if args.json {
                    println!("{}", json!({ "count": count }));
                } else {
                    println!("{count} notification(s) would be re-sent");
                }
            })
    } else {
        pollen::replay::start(&store, &instance, &request)
            .await
            .map(|started| {
                if args.json {
                    println!("{}", replay_json(&started));
                } else {
                    println!(
                        "replay {} started: {} notification(s) of instance {} to re-send; a \
                         running pollen sends them in chunks (`pollen events replays` shows the \
                         progress)",
                        started.id, started.total, instance.id
                    );
                }
            })
    };
    store.close().await;
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(Refused::Store { doing, error }) => Err(error).context(doing),
        Err(Refused::Invalid { field, message }) => {
            let flag = if field == "eventTypes" { "type" } else { field };
            eprintln!("pollen events replay: --{flag}: {message}");
            Ok(ExitCode::FAILURE)
        }
        Err(refused) => {
            eprintln!("pollen events replay: {refused}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn replays(args: &ReplaysArgs) -> Result<ExitCode> {
    let store = open_store(&args.db).await?;
    let instance = args.instance.map(|id| id.to_string());
    let replays = store
        .list_replays(instance.as_deref(), false)
        .await
        .context("reading the replays")?;
    store.close().await;
    if !args.json {
        println!(
            "{:>6}  {:>8}  {:<24}  {:<24}  {:<9}  {:>17}  FILTER",
            "ID", "INSTANCE", "SINCE", "UNTIL", "STATE", "REPLAYED/TOTAL"
        );
    }
    for r in &replays {
        if args.json {
            println!("{}", replay_json(r));
            continue;
        }
        let filter: Vec<String> = r
            .filter
            .resources
            .iter()
            .chain(&r.filter.event_types)
            .cloned()
            .chain(pollen::replay::receiver(&r.filter).map(|name| format!("to {name}")))
            .collect();
        println!(
            "{:>6}  {:>8}  {:<24}  {:<24}  {:<9}  {:>17}  {}",
            r.id,
            r.filter.instance,
            r.filter.since.to_rfc3339_opts(SecondsFormat::Secs, true),
            r.filter.until.to_rfc3339_opts(SecondsFormat::Secs, true),
            r.state.as_str(),
            format!("{}/{}", r.replayed, r.total),
            if filter.is_empty() {
                "-".to_owned()
            } else {
                filter.join(",")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay_cancel(args: &ReplayCancelArgs) -> Result<ExitCode> {
    let store = open_store(&args.db).await?;
    let result = store.cancel_replay(args.replay, Utc::now()).await;
    store.close().await;
    match result {
        Ok(r) => {
            println!(
                "replay {} is {}: {} of {} notification(s) re-queued",
                r.id,
                r.state.as_str(),
                r.replayed,
                r.total
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.kind() == pollen_store::ErrorKind::NotFound => {
            eprintln!("pollen events replay-cancel: no replay {}", args.replay);
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context("cancelling the replay"),
    }
}
