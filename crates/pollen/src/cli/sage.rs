//! `pollen sage resources`: the hub resources the Sage connector polls; `pollen sage
//! businesses`: the Sage businesses of a stored instance's authorized user.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pollen::db::{open_store, DEFAULT_DB_URL};
use pollen::engine::{Engine, EngineOptions};
use pollen_sage::HUB_RESOURCES;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum SageCommand {
    /// Print the hub resources: hub name, Sage path, fixed parameters, how deletions arrive,
    /// the API generations that serve it.
    Resources(ResourcesArgs),
    /// List the Sage businesses a stored instance's authorized user can reach, and which one
    /// it polls (`sage.business.id`, else the lead business).
    Businesses(BusinessesArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BusinessesArgs {
    /// The instance id.
    #[arg(long)]
    instance: i64,
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// One JSON object per business and line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ResourcesArgs {
    /// One JSON object per resource and line instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(command: &SageCommand) -> Result<ExitCode> {
    match command {
        SageCommand::Resources(args) => {
            print!("{}", resources(args.json));
            Ok(ExitCode::SUCCESS)
        }
        SageCommand::Businesses(args) => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(businesses(args))
        }
    }
}

/// Lists them with the instance's tokens, through an engine that is never run (it polls
/// nothing; it only builds the instance's Sage source).
async fn businesses(args: &BusinessesArgs) -> Result<ExitCode> {
    let store = open_store(&args.db).await?;
    let Some(instance) = store.instance(args.instance).await? else {
        bail!("--instance {}: no such instance", args.instance);
    };
    let engine = Engine::new(store.clone(), EngineOptions::new())?;
    let listed = pollen::businesses::list(&engine, &instance).await;
    store.close().await;
    let listed = listed?;
    let mut out = String::new();
    if args.json {
        for business in &listed {
            out.push_str(&format!("{}\n", business.to_json()));
        }
    } else {
        let width = listed
            .iter()
            .map(|b| b.id.len())
            .max()
            .unwrap_or(0)
            .max("ID".len());
        out.push_str(&format!(
            "{:<width$}  {:<4}  {:<6}  NAME\n",
            "ID", "LEAD", "POLLED"
        ));
        for b in &listed {
            let yes = |flag: bool| if flag { "yes" } else { "-" };
            out.push_str(&format!(
                "{:<width$}  {:<4}  {:<6}  {}\n",
                b.id,
                yes(b.lead),
                yes(b.selected),
                b.name
            ));
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn resources(as_json: bool) -> String {
    let mut out = String::new();
    if as_json {
        for r in HUB_RESOURCES {
            let fixed: serde_json::Map<String, serde_json::Value> = r
                .fixed
                .iter()
                .map(|(name, value)| ((*name).to_owned(), json!(value)))
                .collect();
            let line = json!({
                "name": r.name,
                "path": r.path,
                "fixed": fixed,
                "deletions": r.deletions(),
                "versions": if r.v3 { json!(["v3.1", "v3"]) } else { json!(["v3.1"]) },
            });
            out.push_str(&format!("{line}\n"));
        }
        return out;
    }
    let width = HUB_RESOURCES
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(0);
    let path_width = HUB_RESOURCES
        .iter()
        .map(|r| r.path.len())
        .max()
        .unwrap_or(0);
    let fixed_width = HUB_RESOURCES
        .iter()
        .map(|r| r.fixed_query().len())
        .max()
        .unwrap_or(0)
        .max("FIXED".len());
    out.push_str(&format!(
        "{:<width$}  {:<path_width$}  {:<fixed_width$}  {:<13}  API\n",
        "RESOURCE", "SAGE PATH", "FIXED", "DELETIONS"
    ));
    for r in HUB_RESOURCES {
        let fixed = r.fixed_query();
        let fixed = if fixed.is_empty() {
            "-".to_owned()
        } else {
            fixed
        };
        out.push_str(&format!(
            "{:<width$}  {:<path_width$}  {:<fixed_width$}  {:<13}  {}\n",
            r.name,
            r.path,
            fixed,
            r.deletions(),
            r.versions()
        ));
    }
    out
}
