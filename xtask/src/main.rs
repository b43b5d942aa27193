//! pollen's project tasks, run as `cargo xtask <task>`.
//!
//! - `tidy`: fails when a crate depends on a pollen crate that `design.md` forbids, or when a
//!   crate's root source file has no crate-level `//!` documentation.
//! - `fixtures`: regenerates the expected outputs under `fixtures/`; `fixtures --check` fails
//!   when a generated fixture is stale (see `fixtures.rs`).
//! - `codegen`: writes the files generated from code, such as `docs/configuration.md`, and the
//!   generated regions of hand-written pages (`docs/sage.md`'s hub resources; see
//!   `codegen.rs`); `tidy` fails when one is stale.
//! - `bench restart`: restart and failover times after a SIGKILL (see `bench_restart.rs`).
//! - `bench e2e`: the end-to-end benchmark — simulator, `pollen run` in release, SQLite,
//!   signed delivery to a local receiver (see `bench.rs`).
//! - `bench budget [--seconds N]`: 50 instances of one Sage business against a simulator
//!   limiting it to 200 calls a minute, without and with `--sage-rate-limit 200`: calls per
//!   minute, 429s and first-poll delays (see `bench_budget.rs`).

mod bench;
mod bench_budget;
mod bench_restart;
mod codegen;
mod fixtures;
mod tidy;

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["tidy"] => tidy::run(&workspace_root()),
        ["fixtures"] => fixtures::run(&workspace_root(), false),
        ["fixtures", "--check"] => fixtures::run(&workspace_root(), true),
        ["codegen"] => codegen::run(&workspace_root()),
        ["bench", rest @ ..] => bench::run(&workspace_root(), rest),
        _ => bail!(
            "usage: cargo xtask tidy|fixtures [--check]|codegen|bench e2e [--records N[,N...]] | bench restart | bench budget [--seconds N]"
        ),
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
