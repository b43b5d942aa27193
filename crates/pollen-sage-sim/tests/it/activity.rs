//! The activity generator: bounded, and it stops.

use std::time::{Duration, Instant};

use pollen_sage_sim::{ActivityConfig, ChangeKind, Resource, SimErrorKind};
use serde_json::json;

use crate::{config, http, send, start};

async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn activity_stops_after_max_changes() {
    let sim = start(config(5)).await;
    sim.start_activity(ActivityConfig {
        rate_per_sec: 500.0,
        seed: 4,
        resources: vec![Resource::Contacts, Resource::SalesInvoices],
        max_changes: Some(25),
        ..ActivityConfig::default()
    })
    .expect("start");
    wait_until(|| !sim.activity_running()).await;
    let log = sim.changes();
    assert_eq!(log.len(), 25);
    assert!(log.iter().any(|change| change.kind == ChangeKind::Updated));
    assert!(log.iter().all(|change| matches!(
        change.resource,
        Resource::Contacts | Resource::SalesInvoices
    )));
    for change in &log {
        let record = sim
            .record(change.resource, &change.id)
            .expect("logged record exists");
        match change.kind {
            ChangeKind::Created => assert_eq!(record.created_at(), change.at),
            ChangeKind::Updated => assert!(record.updated_at() >= change.at),
            ChangeKind::Deleted => assert_eq!(record.deleted_at(), Some(change.at)),
        }
    }
    assert_eq!(sim.stop_activity(), 25);
}

#[tokio::test]
async fn stopping_activity_stops_changes() {
    let sim = start(config(5)).await;
    let base = format!("{}/_sim/activity", sim.base_url());
    let started = send(
        http()
            .post(&base)
            .json(&json!({"rate_per_sec": 200, "resources": ["products"], "max_changes": null})),
    )
    .await;
    assert_eq!(started.json()["running"], true);
    wait_until(|| sim.changes().len() >= 5).await;
    let stopped = send(http().delete(&base)).await.json();
    assert_eq!(stopped["running"], false);
    let made = sim.changes().len();
    assert!(stopped["changes"].as_u64().expect("changes") as usize >= 5);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(sim.changes().len(), made, "no change after stop");
    assert!(!sim.activity_running());

    let err = sim
        .start_activity(ActivityConfig {
            rate_per_sec: 0.0,
            ..ActivityConfig::default()
        })
        .expect_err("zero rate");
    assert_eq!(err.kind(), SimErrorKind::InvalidConfig);
    assert_eq!(
        err.to_string(),
        "activity rate_per_sec must be above 0 and at most 10000, not 0"
    );
}
