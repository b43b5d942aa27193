//! The `pollen` command.
//!
//! `main` only parses arguments and hands over to the library crates; each subcommand lives in
//! its own module under `cli/`. Exit codes: 0 success, 1 bad input (the message names the input
//! and the position), 2 usage errors (clap's own).

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
