//! pollen-callback's integration tests: real HTTP to a local receiver on `127.0.0.1:0`.

mod common;
mod delivery;
mod fixtures;
mod guard;
mod isolation;
mod receiver;
mod retries;
