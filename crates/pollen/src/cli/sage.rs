//! `pollen sage resources`: the hub resources the Sage connector polls.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use pollen_sage::HUB_RESOURCES;
use serde_json::json;

#[derive(Debug, Subcommand)]
pub(crate) enum SageCommand {
    /// Print the hub resources: hub name, Sage path, fixed parameters, how deletions arrive,
    /// the API generations that serve it.
    Resources(ResourcesArgs),
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
    }
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
