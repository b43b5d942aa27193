//! pollen-store's integration tests: the core's conformance suite and this crate's own
//! guarantees, each run against SQLite and (when `POLLEN_TEST_DATABASE_URL` is set)
//! PostgreSQL; SQLite file details; the PostgreSQL multi-worker day.

mod alerts;
mod conformance;
mod guarantees;
mod harness;
mod multi_worker;
mod overview;
mod sqlite_file;
mod support;
