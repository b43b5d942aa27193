//! The `pollen` binary's integration tests: real processes, fixtures as data.

mod alerts;
mod bad_input;
mod budget;
mod businesses;
mod checkpoints;
mod cli;
mod console;
mod crash;
mod demo;
mod faults;
mod keys;
mod restart;
mod run;
mod sage_sim;
mod serve;
mod subscriptions;
mod support;
mod traces;
mod verify;
mod workers;
