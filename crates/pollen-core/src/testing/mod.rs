//! Test doubles and the [`Store`](crate::Store) conformance suite (feature `testing`).
//!
//! [`FakeSource`] is a small in-memory vendor: records with created/updated stamps from a
//! [`ManualClock`](crate::ManualClock) (optionally skewed), offset pagination sorted by updated
//! date, `$total`, a `Date`-header time, injectable failures, latency and mid-walk edits.
//! [`conformance`] is the executable contract every `Store` implementation must pass.

pub mod conformance;
mod fake_source;

pub use fake_source::{FakeFetch, FakeSource};
