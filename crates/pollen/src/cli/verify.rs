//! `pollen verify --log FILE`: checks a JSON-lines log of received notifications with
//! `pollen-receiver` — signatures when secrets are given, duplicates, checkpoint chains.
//!
//! Each line is a notification body, or `{"headers": {...}, "body": "<exact body>",
//! "receivedAt"?: <Unix seconds>}`. Exit 0 when every window is complete and no checkpoint
//! is missing, 1 when something is incomplete, missing or badly signed, 2 when the input
//! cannot be read (with `FILE:LINE:COLUMN`).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pollen_receiver::{
    ChainReport, Dedup, ErrorKind, Headers, Ledger, Report, Verifier, WaitingCause,
};
use serde_json::{json, Value};

/// The environment variable holding the `Elements-Webhook-Signature` key.
const SIGNATURE_KEY_ENV: &str = "POLLEN_VERIFY_SIGNATURE_KEY";
/// The environment variable holding the Standard Webhooks `whsec_` secret.
const STANDARD_WEBHOOKS_ENV: &str = "POLLEN_VERIFY_STANDARD_WEBHOOKS_SECRET";

/// How many notification ids the duplicate count remembers.
const DEDUP_CAPACITY: usize = 1 << 20;

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The log: one JSON object a line, a notification body or
    /// `{"headers": {...}, "body": "<exact body string>"}`.
    #[arg(long, value_name = "FILE")]
    log: PathBuf,
    /// Read the secrets from standard input, one `NAME=VALUE` a line with NAME
    /// `POLLEN_VERIFY_SIGNATURE_KEY` or `POLLEN_VERIFY_STANDARD_WEBHOOKS_SECRET` (each may
    /// repeat: every key given is tried), instead of from those environment variables.
    /// Secrets are never taken from the command line, which other users can see.
    #[arg(long)]
    secrets_stdin: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// A problem that makes the input unreadable: exit 2.
struct Unreadable(String);

pub(crate) fn run(args: &VerifyArgs) -> Result<ExitCode> {
    match verify(args) {
        Ok(code) => Ok(code),
        Err(Unreadable(message)) => {
            eprintln!("pollen verify: {message}");
            Ok(ExitCode::from(2))
        }
    }
}

fn verifier(args: &VerifyArgs) -> Result<Verifier, Unreadable> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if args.secrets_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Unreadable(format!("standard input: {e}")))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, value)) = line.split_once('=') else {
                return Err(Unreadable(format!(
                    "standard input:{}: expected NAME=VALUE with NAME {SIGNATURE_KEY_ENV} or {STANDARD_WEBHOOKS_ENV}",
                    n + 1
                )));
            };
            let name = name.trim();
            if name != SIGNATURE_KEY_ENV && name != STANDARD_WEBHOOKS_ENV {
                return Err(Unreadable(format!(
                    "standard input:{}: `{name}` is not {SIGNATURE_KEY_ENV} or {STANDARD_WEBHOOKS_ENV}",
                    n + 1
                )));
            }
            pairs.push((name.to_owned(), value.trim().to_owned()));
        }
    } else {
        for name in [SIGNATURE_KEY_ENV, STANDARD_WEBHOOKS_ENV] {
            if let Some(value) = std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
                pairs.push((name.to_owned(), value.trim().to_owned()));
            }
        }
    }
    let mut verifier = Verifier::new();
    for (name, value) in pairs {
        verifier = if name == SIGNATURE_KEY_ENV {
            verifier.with_elements_key(&value)
        } else {
            verifier.with_standard_webhooks_secret(&value)
        }
        .map_err(|e| Unreadable(format!("{name}: {e}")))?;
    }
    Ok(verifier)
}

/// One log line, read.
struct Line<'a> {
    body: std::borrow::Cow<'a, [u8]>,
    headers: Option<Headers>,
    received_at: Option<i64>,
    /// True when the body was given as a string (positions are then within it).
    enveloped: bool,
}

fn read_line<'a>(text: &'a str, at: &str) -> Result<Line<'a>, Unreadable> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Unreadable(format!(
            "{at}:{}: not JSON: {}",
            e.column(),
            strip_position(&e.to_string())
        ))
    })?;
    let Some(object) = value.as_object() else {
        return Err(Unreadable(format!(
            "{at}:1: expected an object (a notification body, or {{\"headers\", \"body\"}})"
        )));
    };
    let Some(body) = object.get("body") else {
        return Ok(Line {
            body: text.as_bytes().into(),
            headers: None,
            received_at: None,
            enveloped: false,
        });
    };
    let Some(body) = body.as_str() else {
        return Err(Unreadable(format!(
            "{at}:1: /body: expected the exact body, as a string"
        )));
    };
    let headers = match object.get("headers") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            let mut headers = Headers::new();
            for (name, value) in map {
                let Some(value) = value.as_str() else {
                    return Err(Unreadable(format!(
                        "{at}:1: /headers/{name}: expected a string"
                    )));
                };
                headers.insert(name.as_str(), value);
            }
            Some(headers)
        }
        Some(_) => {
            return Err(Unreadable(format!(
                "{at}:1: /headers: expected an object of strings"
            )))
        }
    };
    let received_at = match object.get("receivedAt") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| Unreadable(format!("{at}:1: /receivedAt: expected Unix seconds")))?,
        ),
    };
    Ok(Line {
        body: body.as_bytes().to_vec().into(),
        headers,
        received_at,
        enveloped: true,
    })
}

fn strip_position(text: &str) -> &str {
    text.rfind(" at line ").map_or(text, |at| &text[..at])
}

#[derive(Default)]
struct Tally {
    notifications: u64,
    duplicates: u64,
    verified: u64,
    unsigned: u64,
    bad_signatures: Vec<(usize, String)>,
}

fn verify(args: &VerifyArgs) -> Result<ExitCode, Unreadable> {
    let file = args.log.display().to_string();
    let verifier = verifier(args)?;
    let text = std::fs::read_to_string(&args.log)
        .map_err(|e| Unreadable(format!("{file}: cannot read: {e}")))?;
    let mut ledger = Ledger::new();
    let mut seen = Dedup::new(DEDUP_CAPACITY);
    let mut tally = Tally::default();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let at = format!("{file}:{number}");
        let line = read_line(raw, &at)?;
        let notification =
            pollen_receiver::Notification::parse(&line.body).map_err(|e| {
                match (e.kind(), e.position(), line.enveloped) {
                    (ErrorKind::Json, Some((l, c)), true) => Unreadable(format!(
                        "{at}:1: /body is not JSON (line {l} column {c} of the body): {}",
                        e.message()
                    )),
                    (ErrorKind::Json, Some((_, c)), false) => {
                        Unreadable(format!("{at}:{c}: {}", e.message()))
                    }
                    _ if line.enveloped => Unreadable(format!("{at}:1: /body{}", e.message())),
                    _ => Unreadable(format!("{at}:1: {}", e.message())),
                }
            })?;
        tally.notifications += 1;
        if !seen.insert(&notification.id) {
            tally.duplicates += 1;
        }
        if verifier.has_keys() {
            match &line.headers {
                None => tally.unsigned += 1,
                Some(headers) => {
                    let checked = match line.received_at {
                        Some(now) => verifier.verify(headers, &line.body, now),
                        None => verifier.verify_at_any_time(headers, &line.body),
                    };
                    match checked {
                        Ok(_) => tally.verified += 1,
                        Err(e) => tally.bad_signatures.push((number, e.to_string())),
                    }
                }
            }
        }
        ledger.observe_notification(&notification);
    }
    let report = ledger.report();
    let ok = report.is_complete() && tally.bad_signatures.is_empty();
    if args.json {
        println!(
            "{}",
            json_output(&file, &tally, &report, verifier.has_keys(), ok)
        );
    } else {
        print_human(&file, &tally, &report, verifier.has_keys());
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn json_output(file: &str, tally: &Tally, report: &Report, keys: bool, ok: bool) -> Value {
    json!({
        "file": file,
        "ok": ok,
        "notifications": tally.notifications,
        "duplicates": tally.duplicates,
        "signatures": if keys {
            json!({
                "verified": tally.verified,
                "unsigned": tally.unsigned,
                "failed": tally.bad_signatures.iter()
                    .map(|(line, error)| json!({"line": line, "error": error}))
                    .collect::<Vec<_>>(),
            })
        } else {
            Value::Null
        },
        "chains": report.chains.iter().map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
            v["ok"] = c.is_complete().into();
            v
        }).collect::<Vec<_>>(),
    })
}

fn chain_name(c: &ChainReport) -> String {
    format!(
        "instance {} {} ({})",
        c.chain.instance_id, c.chain.object_type, c.chain.subscription
    )
}

fn print_human(file: &str, tally: &Tally, report: &Report, keys: bool) {
    println!(
        "{file}: {} notifications ({} duplicate ids), {} checkpoint chain(s)",
        tally.notifications,
        tally.duplicates,
        report.chains.len()
    );
    if keys {
        println!(
            "signatures: {} verified, {} failed, {} lines without headers not checked",
            tally.verified,
            tally.bad_signatures.len(),
            tally.unsigned
        );
        for (line, error) in &tally.bad_signatures {
            println!("  {file}:{line}: bad signature: {error}");
        }
    }
    for c in &report.chains {
        println!(
            "{}: {} — {} window(s) complete, {} incomplete, {} checkpoint(s) missing",
            chain_name(c),
            if c.is_complete() {
                "ok"
            } else {
                "NOT COMPLETE"
            },
            c.complete.len(),
            c.incomplete.len(),
            c.missing_checkpoints.len()
        );
        for w in &c.incomplete {
            let why = if w.received == w.expected {
                "same count, digest differs".to_owned()
            } else {
                format!("{} received", w.received)
            };
            println!(
                "  incomplete window: checkpoint {} (sequence {}, {} .. {}): {} events expected, {why}",
                w.checkpoint, w.sequence, w.from, w.to, w.expected
            );
        }
        for m in &c.missing_checkpoints {
            println!(
                "  missing checkpoint {} (sequence {}), the previous of {}",
                m.id, m.sequence, m.referenced_by
            );
        }
        for w in &c.waiting {
            let after = w.after.as_deref().unwrap_or("the chain's start");
            let what = match w.cause {
                WaitingCause::Pending => "pending: no later checkpoint yet",
                WaitingCause::Gap => "gap: a later checkpoint arrived, this window's did not",
                _ => "after a checkpoint never seen: its place in the chain is unknown",
            };
            println!(
                "  {} event(s) after {after} wait for their checkpoint ({what})",
                w.received
            );
        }
        for x in &c.conflicts {
            println!(
                "  conflict: checkpoints {} and {} both follow {}",
                x.kept,
                x.ignored,
                x.previous.as_deref().unwrap_or("the chain's start")
            );
        }
    }
}
