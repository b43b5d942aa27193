//! Argument definitions and dispatch for every subcommand.

mod sage_sim;
mod template;
mod validate;
mod where_clause;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// pollen: change-event webhooks for APIs that only offer "list records changed since T".
#[derive(Debug, Parser)]
#[command(name = "pollen", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with `${...}` URL templates.
    #[command(subcommand)]
    Template(template::TemplateCommand),
    /// Work with CEQL where clauses.
    #[command(subcommand)]
    Where(where_clause::WhereCommand),
    /// Check instance JSON files; every problem with its JSON Pointer; exit 1 on any error.
    Validate(validate::ValidateArgs),
    /// Run the Sage Business Cloud Accounting simulator on its own.
    SageSim(sage_sim::SageSimArgs),
}

pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Template(command) => template::run(command),
        Command::Where(command) => where_clause::run(command),
        Command::Validate(args) => validate::run(&args),
        Command::SageSim(args) => sage_sim::run(&args),
    }
}

/// Parses an RFC 3339 instant given on the command line.
fn parse_instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|err| format!("'{text}' is not an RFC 3339 instant ({err})"))
}
