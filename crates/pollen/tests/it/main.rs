//! The `pollen` binary's integration tests: real processes, fixtures as data.

mod cli;
