//! The `pollen` binary's integration tests: real processes, fixtures as data.

mod bad_input;
mod cli;
mod demo;
mod run;
mod sage_sim;
mod serve;
