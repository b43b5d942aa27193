//! `pollen validate FILE...`: check instance JSONs as `pollen run` would load them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pollen_config::InstanceConfig;

#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Instance JSON files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Prints every problem as `FILE:/json/pointer: message` (warnings prefixed `warning:`), and
/// `FILE: ok` for a file without errors. Exit 1 when any file has an error.
pub(crate) fn run(args: &ValidateArgs) -> Result<ExitCode> {
    let mut any_error = false;
    for path in &args.files {
        let name = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) => {
                println!("{name}: cannot read: {err}");
                any_error = true;
                continue;
            }
        };
        match InstanceConfig::from_json_slice_for(&bytes, &pollen::instances::sage_vocabulary()) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    println!("{}", warning.render(&name));
                }
                println!("{name}: ok");
            }
            Err(errors) => {
                println!("{}", errors.render(&name));
                any_error = true;
            }
        }
    }
    Ok(if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
