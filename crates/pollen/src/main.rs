//! The `pollen` command: see `pollen --help` and the repository's README.

use clap::Parser;

/// pollen: change-event webhooks for APIs that only offer "list records changed since T".
#[derive(Debug, Parser)]
#[command(name = "pollen", version)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
