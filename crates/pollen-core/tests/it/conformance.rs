//! The `Store` conformance suite, run against `MemoryStore`.

use pollen_core::testing::conformance;
use pollen_core::MemoryStore;

#[tokio::test]
async fn memory_store_passes_the_store_conformance_suite() {
    conformance::run_all(|| async { MemoryStore::new() }).await;
}
