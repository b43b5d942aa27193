//! The `pollen` service: everything the `pollen` command runs, as a library so that tests
//! start the real service in-process.
//!
//! The library crates each own one concern — `pollen-config` reads instance JSON,
//! `pollen-core` decides what changed, `pollen-sage` talks to Sage, `pollen-store` keeps state
//! in SQLite or PostgreSQL, `pollen-callback` delivers. This crate wires them:
//!
//! - [`engine::Engine`] builds one Sage source per stored instance (tokens kept encrypted in
//!   the store; a grant code is exchanged once), registers its polls with a scheduler, runs
//!   the sender, and stops cleanly on a signal.
//! - [`demo::run_demo`] is `pollen demo`: the Sage simulator, a local receiver that verifies
//!   every signature, the seed's instance, and a tally against the simulator's change log.
//! - [`api::serve`] is `pollen serve`: the Open Connectors-shaped management API (instances,
//!   their events and re-delivery, the hub read, health, Prometheus metrics, an OpenAPI
//!   document) beside an engine polling every stored instance.
//! - [`console`] is the web console at `/console` beside the API: sign in with the platform
//!   secrets, watch instances poll and deliver live, create, pause, re-deliver, delete.
//! - [`db::open_store`] opens `--db` with its secret key; [`db::open_worker_store`] also holds
//!   an embedded database alone, for the processes that poll.
//! - [`businesses`] lists the Sage businesses of an instance's user and keeps an instance on
//!   the business it has polled.
//! - [`workers`] shows the worker registry (`GET /workers`, `pollen workers`, the console).
//! - [`telemetry`] exports the spans over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//! - [`instances::load_instance_files`] reads and validates `--config FILE|DIR`.
//!
//! # Example
//!
//! The demo's tally: a change counts as delivered when an event reported that state of the
//! record or a later one.
//!
//! ```
//! use pollen::demo::tally;
//! assert_eq!(tally(&[], &[]).to_string(), "summary: changes=0 events=0 duplicates=0 missing=0");
//! ```

pub mod alerts;
pub mod api;
pub mod businesses;
pub mod checkpoints;
pub mod console;
pub mod db;
pub mod demo;
pub mod engine;
mod error;
pub mod instances;
pub mod keys;
pub mod receiver;
mod refused;
pub mod replay;
pub mod rewind;
pub mod subscriptions;
pub mod telemetry;
mod tokens;
pub mod workers;

pub use error::{Error, ErrorKind, Result};
