//! `pollen rewind --instance ID --resource NAME --to T`: one resource's watermark back to T, on
//! the store directly; a running `pollen run`/`serve` polls it from T at its next look.

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use pollen::db::{open_store, DEFAULT_DB_URL};
use pollen::rewind::{rewind, rewound_json, Refused};

#[derive(Debug, Args)]
pub(crate) struct RewindArgs {
    /// The database: `sqlite://PATH` or `postgres://...`.
    #[arg(long, default_value = DEFAULT_DB_URL)]
    db: String,
    /// The instance's id.
    #[arg(long)]
    instance: i64,
    /// The resource: its key in `event.poller.configuration`.
    #[arg(long)]
    resource: String,
    /// The instant to read from again (RFC 3339), before the resource's watermark.
    #[arg(long, value_parser = super::parse_instant)]
    to: DateTime<Utc>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// Exit 0 rewound, 1 refused (an unknown instance or resource, an instant not before the
/// watermark), with the reason on stderr.
pub(crate) fn run(args: &RewindArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let store = open_store(&args.db).await?;
        let Some(instance) = store
            .instance(args.instance)
            .await
            .context("reading the instance")?
        else {
            eprintln!("pollen rewind: no instance {}", args.instance);
            return Ok(ExitCode::FAILURE);
        };
        match rewind(&store, &instance, &args.resource, args.to).await {
            Ok(rewound) => {
                if args.json {
                    println!("{}", rewound_json(&args.resource, &rewound));
                } else {
                    println!(
                        "rewound {} of instance {}: watermark {} -> {}, {} change(s) to emit again{}",
                        args.resource,
                        instance.id,
                        rewound.previous.to_rfc3339(),
                        rewound.watermark.to_rfc3339(),
                        rewound.forgotten,
                        if rewound.interrupted { "; a poll in flight was stopped" } else { "" }
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(Refused::Store(e)) => Err(e).context("rewinding"),
            Err(refused) => {
                eprintln!("pollen rewind: {refused}");
                Ok(ExitCode::FAILURE)
            }
        }
    })
}
