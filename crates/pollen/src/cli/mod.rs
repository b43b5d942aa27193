//! Argument definitions and dispatch for every subcommand.

mod template;

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
}

pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Template(command) => template::run(command),
    }
}
