//! Golden notifications: the exact bodies a fixed scenario enqueues, end to end through the
//! simulator (seed 42, manual clock), `SageSource` and pollen-core's scheduler (manual clock),
//! written to `fixtures/golden/notifications/` — the reference for what a receiver gets.
//!
//! Two polls of an instance's customers: the first sees twelve new customers (and a new
//! vendor, which the customer filter drops) and enqueues two notifications of ten and two
//! CREATED events; the second sees two updates and a deletion. Every id, date and body is
//! fixed by the seed and the clocks, so the files are byte-for-byte stable:
//! `UPDATE_FIXTURES=1` rewrites them (under `$POLLEN_FIXTURES_OUT` when set, which is how
//! `cargo xtask fixtures --check` finds stale ones), otherwise they are compared.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use pollen_core::{
    ManualClock, MemoryStore, OutboxFilter, PollSpec, Scheduler, SchedulerConfig, Store,
};
use pollen_sage::{MemoryTokenStore, SageSource};
use pollen_sage_sim::{ApiVersion, Resource};
use serde_json::{json, Value};

use crate::{instance, quick_retries, sim_config, start, t0};

const URL: &str = "/hubs/finance/customers?where=lastModifiedDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='name,contact_types";

const DIR: &str = "fixtures/golden/notifications";

fn contact(kind: &str, name: &str) -> Value {
    json!({"name": name, "contact_types": [{"id": kind}]})
}

/// Writes (updating) or compares (checking) one golden file.
fn check(name: &str, body: &Value) {
    let text = format!("{}\n", serde_json::to_string_pretty(body).expect("JSON"));
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(DIR)
        .join(name);
    if std::env::var("UPDATE_FIXTURES").as_deref() == Ok("1") {
        let path = match std::env::var_os("POLLEN_FIXTURES_OUT") {
            Some(out) => PathBuf::from(out).join(DIR).join(name),
            None => committed,
        };
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("writing a golden file");
        return;
    }
    let expected = std::fs::read_to_string(&committed).unwrap_or_else(|err| {
        panic!(
            "{}: {err} (run `cargo xtask fixtures` to create it)",
            committed.display()
        )
    });
    assert_eq!(text, expected, "{} is stale", committed.display());
}

#[tokio::test]
async fn golden_notifications_of_a_fixed_poll() {
    let sim = start(sim_config(3)).await;
    sim.add_authorization_code("instance-code", ApiVersion::V31);
    let config = instance(
        "v3.1",
        &sim.v31_base_url(),
        &sim.token_url(),
        &[("customers", URL)],
    );
    let clock = ManualClock::new(t0());
    let source = SageSource::from_instance(&config, Arc::new(MemoryTokenStore::new()))
        .expect("builder")
        .clock(Arc::new(clock.clone()))
        .configure(|s| s.retry = quick_retries())
        .build()
        .expect("source");
    // The code is single-use and expires after 60 s on the simulator's clock: exchange it now.
    source
        .exchange_code(&pollen_config::Secret::new("instance-code"))
        .await
        .expect("the code exchange");
    let source = Arc::new(source);
    let store = Arc::new(MemoryStore::new());
    let scheduler = Scheduler::new(
        store.clone(),
        Arc::new(clock.clone()),
        SchedulerConfig::new("worker-1"),
    );
    for spec in PollSpec::from_config("instance-1", &config, t0()).expect("specs") {
        scheduler
            .register(spec, source.clone())
            .await
            .expect("register");
    }
    // Both clocks move together.
    let advance = |minutes: i64| {
        clock.advance(TimeDelta::minutes(minutes));
        sim.advance_clock(Duration::from_secs(minutes as u64 * 60));
    };

    advance(1);
    let mut customers = Vec::new();
    for n in 0..12 {
        let record = sim
            .create(
                Resource::Contacts,
                &contact("CUSTOMER", &format!("Customer {n:02}")),
            )
            .expect("a customer");
        customers.push(record.id().to_owned());
    }
    sim.create(Resource::Contacts, &contact("VENDOR", "A vendor"))
        .expect("a vendor");
    advance(15);
    let first = scheduler.run_due().await.expect("run");
    assert_eq!(first.len(), 1);
    let summary = first[0].result.as_ref().expect("the first poll succeeds");
    assert_eq!((summary.events, summary.notifications), (12, 2));

    advance(1);
    for id in &customers[..2] {
        sim.update(
            Resource::Contacts,
            id,
            &json!({"name": format!("Renamed {id}")}),
        )
        .expect("an update");
    }
    sim.delete(Resource::Contacts, &customers[2])
        .expect("a delete");
    advance(14);
    let second = scheduler.run_due().await.expect("run");
    assert_eq!(second.len(), 1);
    let summary = second[0].result.as_ref().expect("the second poll succeeds");
    assert_eq!((summary.events, summary.notifications), (3, 1));

    let outbox = store
        .list_outbox(&OutboxFilter::default())
        .await
        .expect("outbox");
    assert_eq!(outbox.len(), 3);
    let mut kinds = Vec::new();
    for (n, entry) in outbox.iter().enumerate() {
        let body = entry.notification.payload();
        for event in body["message"]["events"].as_array().expect("events") {
            kinds.push(event["eventType"].as_str().expect("a type").to_owned());
        }
        check(&format!("notification-{}.json", n + 1), &body);
    }
    assert_eq!(kinds.iter().filter(|k| *k == "CREATED").count(), 12);
    assert_eq!(kinds.iter().filter(|k| *k == "UPDATED").count(), 2);
    assert_eq!(kinds.iter().filter(|k| *k == "DELETED").count(), 1);
    sim.shutdown().await;
}
