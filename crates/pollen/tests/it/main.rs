//! The `pollen` binary's integration tests: real processes, fixtures as data.

mod cli;
mod console;
mod demo;
mod run;
mod sage_sim;
mod serve;
