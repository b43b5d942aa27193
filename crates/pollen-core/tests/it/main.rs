//! pollen-core's integration tests: the semantics, scheduling, record handling,
//! fixtures (classification and golden notifications) and the `Store` conformance suite.

mod checkpoints;
mod common;
mod conformance;
mod fixtures;
mod from_config;
mod reconcile;
mod records;
mod scheduling;
mod semantics;
mod subscriptions;
