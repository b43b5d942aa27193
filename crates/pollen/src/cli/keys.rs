//! `pollen keys list|rotate|drop-retired`: an instance's signing keys, its callback's and its
//! subscriptions' (`--subscription NAME`), on the store directly;
//! running `pollen run`/`serve` processes sign with the new key from their next instance sync
//! (within 10 s), the replaced one keeping on for the grace period.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::{Args, Subcommand};
use pollen::db::{open_store, DEFAULT_DB_URL};
use pollen::keys::{check_owner, keys_json, parse_grace, rotate, rotated_json, Refused, Rotation};
use pollen_config::Secret;
use pollen_store::{Instance, KeyScheme, SqlStore};

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Which signing keys an instance has, and until when each replaced one still signs.
    List(ListArgs),
    /// Replace a signing key; the old one keeps signing for the grace period.
    Rotate(RotateArgs),
    /// Stop signing with an instance's replaced keys at once (a leaked key).
    DropRetired(DropArgs),
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
pub(crate) struct RotateArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// The instance's id.
    #[arg(long)]
    instance: i64,
    /// The key to replace: `elements` (Elements-Webhook-Signature) or `standard-webhooks`.
    #[arg(long, value_parser = parse_scheme)]
    scheme: KeyScheme,
    /// A subscription's key (`event.notification.subscriptions`) instead of the callback's.
    #[arg(long, value_name = "NAME")]
    subscription: Option<String>,
    /// Read the new key from standard input (never from the command line, which other users
    /// of the machine can see); without it pollen generates one and prints it once.
    #[arg(long)]
    key_stdin: bool,
    /// How long the replaced key keeps signing: `24h` (default), `90m`, `0s` for not at all.
    #[arg(long, default_value = "24h")]
    grace: String,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DropArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// The instance's id.
    #[arg(long)]
    instance: i64,
    /// Whose replaced keys: `elements` or `standard-webhooks`.
    #[arg(long, value_parser = parse_scheme)]
    scheme: KeyScheme,
    /// A subscription's replaced keys instead of the callback's.
    #[arg(long, value_name = "NAME")]
    subscription: Option<String>,
}

fn parse_scheme(text: &str) -> Result<KeyScheme, String> {
    KeyScheme::parse(text)
        .ok_or_else(|| format!("`{text}` is not one of elements, standard-webhooks"))
}

pub(crate) fn run(command: &KeysCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let (db, id) = match command {
            KeysCommand::List(a) => (&a.db, a.instance),
            KeysCommand::Rotate(a) => (&a.db, a.instance),
            KeysCommand::DropRetired(a) => (&a.db, a.instance),
        };
        let store = open_store(db).await?;
        let Some(instance) = store.instance(id).await.context("reading the instance")? else {
            eprintln!("pollen keys: no instance {id}");
            return Ok(ExitCode::FAILURE);
        };
        let code = match command {
            KeysCommand::List(args) => list(&store, &instance, args.json).await?,
            KeysCommand::Rotate(args) => rotate_key(&store, &instance, args).await?,
            KeysCommand::DropRetired(args) => drop_retired(&store, &instance, args).await?,
        };
        store.close().await;
        Ok(code)
    })
}

async fn drop_retired(store: &SqlStore, instance: &Instance, args: &DropArgs) -> Result<ExitCode> {
    let subscription = args.subscription.as_deref();
    if let Err(refused) = check_owner(instance, subscription) {
        eprintln!("pollen keys drop-retired: {refused}");
        return Ok(ExitCode::FAILURE);
    }
    let dropped = store
        .drop_retired_signing_keys(instance.id, subscription, args.scheme, Utc::now())
        .await
        .context("dropping retired keys")?;
    // Saved again: running processes rebuild the endpoint at their next sync.
    store
        .update_instance_config(instance.id, &instance.config, Utc::now())
        .await
        .context("saving the instance")?;
    println!(
        "{dropped} replaced {} key(s) of {} of instance {} no longer sign",
        args.scheme.as_str(),
        owner(subscription),
        instance.id
    );
    Ok(ExitCode::SUCCESS)
}

/// How the output names whose keys they are.
fn owner(subscription: Option<&str>) -> String {
    subscription.map_or_else(
        || "the callback".to_owned(),
        |name| format!("subscription {name}"),
    )
}

async fn list(store: &SqlStore, instance: &Instance, json: bool) -> Result<ExitCode> {
    let retired = store
        .retired_signing_keys(instance.id, Utc::now())
        .await
        .context("reading retired keys")?;
    let shown = keys_json(instance, &retired);
    if json {
        println!("{shown}");
        return Ok(ExitCode::SUCCESS);
    }
    for scheme in shown.as_array().into_iter().flatten() {
        let subscription = scheme["subscription"].as_str().unwrap_or("(callback)");
        let until: Vec<&str> = scheme["retired"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["validUntil"].as_str())
            .collect();
        println!(
            "{subscription:<18} {:<18} {:<14} {}",
            scheme["scheme"].as_str().unwrap_or_default(),
            if scheme["configured"] == true {
                "configured"
            } else {
                "not set"
            },
            if until.is_empty() {
                "no replaced key signing".to_owned()
            } else {
                format!("replaced key(s) signing until {}", until.join(", "))
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn rotate_key(store: &SqlStore, instance: &Instance, args: &RotateArgs) -> Result<ExitCode> {
    let grace = match parse_grace(&args.grace) {
        Ok(grace) => grace,
        Err(refused) => {
            eprintln!("pollen keys rotate: --{refused}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let key = if args.key_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the key from standard input")?;
        Some(Secret::new(text.trim().to_owned()))
    } else {
        None
    };
    let rotation = Rotation {
        subscription: args.subscription.clone(),
        scheme: args.scheme,
        key,
        grace,
    };
    let rotated = match rotate(store, instance, rotation).await {
        Ok(rotated) => rotated,
        Err(Refused::Store { doing, error }) => return Err(error).context(doing),
        Err(refused) => {
            eprintln!("pollen keys rotate: {refused}");
            return Ok(ExitCode::FAILURE);
        }
    };
    store
        .update_instance_config(instance.id, &rotated.config, Utc::now())
        .await
        .context("saving the instance")?;
    if args.json {
        println!("{}", rotated_json(&rotated));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(key) = &rotated.generated {
        println!(
            "new {} key of {} (shown once, give it to the receiver): {}",
            args.scheme.as_str(),
            owner(args.subscription.as_deref()),
            key.expose()
        );
    }
    match rotated.previous_until {
        Some(until) => println!(
            "the replaced key signs too until {}; running processes switch within 10 s",
            until.to_rfc3339()
        ),
        None => println!("no replaced key signs; running processes switch within 10 s"),
    }
    Ok(ExitCode::SUCCESS)
}
