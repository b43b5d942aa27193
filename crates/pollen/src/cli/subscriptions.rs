//! `pollen subscriptions list|set|remove|redeliver`: an instance's receivers besides its
//! callback, on the store directly; running `pollen run`/`serve` processes pick changes up at
//! their next instance sync (within 10 s).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::{Args, Subcommand};
use pollen::db::{open_store, DEFAULT_DB_URL};
use pollen::subscriptions::{
    lane_of, lanes, lanes_json, with_subscription, without_subscription, Refused,
};
use pollen_callback::{redeliver, Redelivery};
use pollen_config::InstanceConfig;
use pollen_store::{Instance, SqlStore};
use serde_json::Value;

#[derive(Debug, Subcommand)]
pub(crate) enum SubscriptionsCommand {
    /// The instance's callback and subscriptions, with their state and notifications.
    List(ListArgs),
    /// Add or replace a subscription from a JSON file (`-` for standard input).
    Set(SetArgs),
    /// Remove a subscription (its notifications already written stay, unsent).
    Remove(NamedArgs),
    /// Re-activate a subscription and send its queued notifications again.
    Redeliver(NamedArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// The instance's id.
    #[arg(long)]
    instance: i64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// The instance's id.
    #[arg(long)]
    instance: i64,
    /// The subscription's name.
    #[arg(long)]
    name: String,
    /// The subscription as JSON (docs/configuration.md), in a file or `-` for standard input;
    /// secrets written `***` keep the current ones.
    #[arg(long)]
    from: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct NamedArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// The instance's id.
    #[arg(long)]
    instance: i64,
    /// The subscription's name.
    #[arg(long)]
    name: String,
}

pub(crate) fn run(command: &SubscriptionsCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let (db, id) = match command {
            SubscriptionsCommand::List(a) => (&a.db, a.instance),
            SubscriptionsCommand::Set(a) => (&a.db, a.instance),
            SubscriptionsCommand::Remove(a) | SubscriptionsCommand::Redeliver(a) => {
                (&a.db, a.instance)
            }
        };
        let store = open_store(db).await?;
        let Some(instance) = store.instance(id).await.context("reading the instance")? else {
            eprintln!("pollen subscriptions: no instance {id}");
            return Ok(ExitCode::FAILURE);
        };
        let code = match command {
            SubscriptionsCommand::List(args) => list(&store, &instance, args.json).await?,
            SubscriptionsCommand::Set(args) => {
                let text = if args.from.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin()).context("reading standard input")?
                } else {
                    std::fs::read_to_string(&args.from)
                        .with_context(|| format!("reading {}", args.from.display()))?
                };
                match serde_json::from_str::<Value>(&text) {
                    Ok(body) => {
                        let merged = with_subscription(&instance.config, &args.name, &body);
                        save(&store, &instance, merged, "set").await?
                    }
                    Err(e) => {
                        eprintln!(
                            "pollen subscriptions set: {}: not JSON: {e}",
                            args.from.display()
                        );
                        ExitCode::FAILURE
                    }
                }
            }
            SubscriptionsCommand::Remove(args) => {
                let merged = without_subscription(&instance.config, &args.name);
                save(&store, &instance, merged, "remove").await?
            }
            SubscriptionsCommand::Redeliver(args) => match lane_of(&instance, &args.name) {
                Ok(lane) => {
                    let requeued =
                        redeliver(store.as_ref(), &Redelivery::Instance(lane), Utc::now())
                            .await
                            .context("re-delivering")?;
                    println!(
                        "{requeued} notification(s) of subscription {} queued again",
                        args.name
                    );
                    ExitCode::SUCCESS
                }
                Err(refused) => {
                    eprintln!("pollen subscriptions redeliver: {refused}");
                    ExitCode::FAILURE
                }
            },
        };
        store.close().await;
        Ok(code)
    })
}

/// Validates and stores an edited instance JSON; every problem is printed at its pointer.
async fn save(
    store: &SqlStore,
    instance: &Instance,
    merged: Result<Value, Refused>,
    verb: &str,
) -> Result<ExitCode> {
    let merged = match merged {
        Ok(merged) => merged,
        Err(Refused::Store { doing, error }) => return Err(error).context(doing),
        Err(refused) => {
            eprintln!("pollen subscriptions {verb}: {refused}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let config =
        match InstanceConfig::from_json_value_for(&merged, &pollen::instances::sage_vocabulary()) {
            Ok(loaded) => loaded.config,
            Err(errors) => {
                let name = format!("instance {}", instance.id);
                for problem in errors.errors() {
                    eprintln!("pollen subscriptions {verb}: {}", problem.render(&name));
                }
                return Ok(ExitCode::FAILURE);
            }
        };
    let saved = store
        .update_instance_config(instance.id, &config, Utc::now())
        .await
        .context("saving the instance")?;
    list(store, &saved, false).await
}

async fn list(store: &SqlStore, instance: &Instance, json: bool) -> Result<ExitCode> {
    let lanes = match lanes(store, instance).await {
        Ok(lanes) => lanes,
        Err(Refused::Store { doing, error }) => return Err(error).context(doing),
        Err(refused) => {
            eprintln!("pollen subscriptions: {refused}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if json {
        println!("{}", lanes_json(instance, &lanes));
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<9} {:>8} {:>8} {:>8} {:>10}",
        "subscription", "state", "pending", "failing", "queued", "delivered"
    );
    for lane in &lanes {
        println!(
            "{:<20} {:<9} {:>8} {:>8} {:>8} {:>10}",
            lane.name.as_deref().unwrap_or("(callback)"),
            if lane.active { "active" } else { "inactive" },
            lane.health.pending,
            lane.health.failing,
            lane.health.queued,
            lane.health.delivered
        );
    }
    Ok(ExitCode::SUCCESS)
}
