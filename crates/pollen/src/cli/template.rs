//! `pollen template expand`: expand a URL template for an instant, once or for a batch of lines.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use pollen_template::{Template, Zone};

#[derive(Debug, Subcommand)]
pub(crate) enum TemplateCommand {
    /// Print TEMPLATE expanded for an instant, or with --batch, expand "INSTANT<TAB>TEMPLATE"
    /// lines read from stdin, printing one result line per input line.
    Expand {
        /// The instant to expand for, in RFC 3339 (default: now).
        #[arg(long, conflicts_with = "batch")]
        at: Option<String>,
        /// The zone of `${date:...}` placeholders (IANA id, Java short id, GMT+hh:mm, ±h:mm).
        #[arg(long)]
        tz: Option<String>,
        /// Read "INSTANT<TAB>TEMPLATE" lines from stdin; a bad line prints "error: ..." and the
        /// batch carries on.
        #[arg(long)]
        batch: bool,
        /// The template, e.g. "/hubs/finance/customers?where=updated>='${gmtDate:yyyy-MM-dd}'".
        #[arg(required_unless_present = "batch", conflicts_with = "batch")]
        template: Option<String>,
    },
}

pub(crate) fn run(command: TemplateCommand) -> Result<ExitCode> {
    let TemplateCommand::Expand {
        at,
        tz,
        batch,
        template,
    } = command;
    let zone = match tz.as_deref() {
        Some(tz) => Zone::parse(tz).map_err(|err| anyhow!("invalid --tz: {err}"))?,
        None => Zone::UTC,
    };
    if batch {
        let stdin = std::io::stdin().lock();
        let stdout = std::io::stdout().lock();
        expand_batch(stdin, BufWriter::new(stdout), &zone)?;
        return Ok(ExitCode::SUCCESS);
    }
    let template = template.expect("clap requires TEMPLATE without --batch");
    let at = match at.as_deref() {
        Some(at) => parse_instant(at).map_err(|err| anyhow!("invalid --at: {err}"))?,
        None => Utc::now(),
    };
    let compiled =
        Template::compile_in(&template, zone).map_err(|err| anyhow!("invalid template: {err}"))?;
    println!("{}", compiled.expand(at));
    Ok(ExitCode::SUCCESS)
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| format!("'{text}' is not an RFC 3339 instant ({err})"))
}

/// How many distinct compiled templates a batch keeps; past that the cache starts afresh, so a
/// batch of endless distinct templates runs in bounded memory.
const BATCH_CACHE_LIMIT: usize = 1024;

/// Expands every line; templates seen recently are not compiled again.
fn expand_batch(input: impl BufRead, mut out: impl Write, zone: &Zone) -> Result<()> {
    let mut compiled: HashMap<String, Result<Template, String>> = HashMap::new();
    let mut expanded = String::new();
    for (index, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading stdin line {}", index + 1))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        expanded.clear();
        match expand_line(line, zone, &mut compiled, &mut expanded) {
            Ok(()) => writeln!(out, "{expanded}")?,
            Err(message) => writeln!(out, "error: {message}")?,
        }
    }
    out.flush()?;
    Ok(())
}

fn expand_line(
    line: &str,
    zone: &Zone,
    compiled: &mut HashMap<String, Result<Template, String>>,
    out: &mut String,
) -> Result<(), String> {
    let Some((instant, template)) = line.split_once('\t') else {
        return Err("expected INSTANT<TAB>TEMPLATE, found no tab".to_owned());
    };
    let at = parse_instant(instant)?;
    if !compiled.contains_key(template) {
        if compiled.len() >= BATCH_CACHE_LIMIT {
            compiled.clear();
        }
        let result = Template::compile_in(template, zone.clone())
            .map_err(|err| format!("{} at byte {}", err.message(), err.offset()));
        compiled.insert(template.to_owned(), result);
    }
    let template = compiled[template].as_ref().map_err(Clone::clone)?;
    template.expand_into(at, out);
    Ok(())
}
