//! `pollen-core`'s executable `Store` contract, run against both backends.

use std::sync::Mutex;

use pollen_core::testing::conformance::run_all;
use pollen_store::{Backend, SqlStore};

use crate::harness::Db;

/// Runs the whole suite, each check on a fresh database of `backend`.
async fn conformance(backend: Backend) {
    let databases: Mutex<Vec<Db>> = Mutex::new(Vec::new());
    let fresh = || async {
        let db = Db::of(backend).expect("a database");
        let store: SqlStore = db.open().await;
        databases.lock().unwrap().push(db);
        store
    };
    run_all(fresh).await;
    assert_eq!(
        databases.lock().unwrap().len(),
        20,
        "every check ran on its own database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_store_contract() {
    conformance(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_store_contract() {
    if crate::harness::postgres_url().is_none() {
        crate::harness::skipped("postgres_passes_the_store_contract");
        return;
    }
    conformance(Backend::Postgres).await;
}
