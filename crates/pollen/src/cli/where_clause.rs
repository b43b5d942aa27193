//! `pollen where parse|eval|translate`: CEQL where clauses as the poller sees them.

use std::process::ExitCode;

use anyhow::{anyhow, Result};
use chrono::Utc;
use clap::Subcommand;
use pollen_template::{Mode, Template, Where};

use super::parse_instant;

#[derive(Debug, Subcommand)]
pub(crate) enum WhereCommand {
    /// Print the clause's syntax tree as JSON (fields `op`, `field`, `value`, `args`, `span`);
    /// warnings go to stderr.
    Parse {
        /// Reject what lenient mode forgives (an unterminated last string).
        #[arg(long)]
        strict: bool,
        /// The clause, e.g. "lastModifiedDate >= '2017-05-05' AND name LIKE 'Ac%'".
        ceql: String,
    },
    /// Print `true` or `false`: whether RECORD_JSON satisfies the clause.
    Eval {
        /// Reject what lenient mode forgives (an unterminated last string).
        #[arg(long)]
        strict: bool,
        /// The instant `${...}` placeholders expand to, in RFC 3339 (default: now).
        #[arg(long)]
        at: Option<String>,
        /// The clause.
        ceql: String,
        /// One record as a JSON object.
        record_json: String,
    },
    /// Print, as JSON, the Sage request a hub resource's clause becomes: the Sage path, the
    /// query parameters, and the residual filter pollen applies to each record itself.
    Translate {
        /// The hub resource, e.g. `customers`, `invoices`, `payments`.
        #[arg(long)]
        resource: String,
        /// The clause.
        ceql: String,
    },
}

pub(crate) fn run(command: WhereCommand) -> Result<ExitCode> {
    match command {
        WhereCommand::Parse { strict, ceql } => {
            let parsed = parse(&ceql, strict)?;
            println!("{}", serde_json::to_string_pretty(&parsed.expr)?);
        }
        WhereCommand::Eval {
            strict,
            at,
            ceql,
            record_json,
        } => {
            let parsed = parse(&ceql, strict)?;
            let record: serde_json::Value = serde_json::from_str(&record_json)
                .map_err(|err| anyhow!("RECORD_JSON is not JSON: {err}"))?;
            let at = match at.as_deref() {
                Some(at) => parse_instant(at).map_err(|err| anyhow!("invalid --at: {err}"))?,
                None => Utc::now(),
            };
            let expr = parsed.expr.expand(|placeholder| {
                Template::compile(&placeholder.text)
                    .map(|template| template.expand(at))
                    .map_err(|err| anyhow!("invalid placeholder in the clause: {err}"))
            })?;
            let matches = expr.eval(&record).map_err(|err| anyhow!("{err}"))?;
            println!("{matches}");
        }
        WhereCommand::Translate { resource, ceql } => {
            let translation = pollen_sage::translate(&resource, &ceql)
                .map_err(|err| anyhow!("cannot translate for Sage: {err}"))?;
            println!("{}", serde_json::to_string_pretty(&translation)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses the clause, printing its warnings to stderr.
fn parse(ceql: &str, strict: bool) -> Result<Where> {
    let mode = if strict { Mode::Strict } else { Mode::Lenient };
    let parsed = Where::parse(ceql, mode).map_err(|err| anyhow!("invalid where clause: {err}"))?;
    for warning in &parsed.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(parsed)
}
