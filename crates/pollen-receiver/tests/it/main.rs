//! pollen-receiver's integration tests: signatures against pollen-callback's request
//! fixtures, the digest's documented example, and the ledger under random loss, duplication
//! and reordering.

mod ledger;
mod signatures;
