//! Every hub resource polled end to end against the simulator: a record created arrives as
//! CREATED, its update as UPDATED, and its deletion as DELETED — from `deleted_since` where
//! the endpoint takes it, through reconciliation (ids walked, the missing one looked up)
//! where it does not — through pollen-core's scheduler and `MemoryStore`, as the binary runs
//! it.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use pollen_core::{
    DateField, FieldPath, ManualClock, MemoryStore, OutboxFilter, PollKey, PollSpec,
    RequestTemplate, Rfc3339Dates, Scheduler, SchedulerConfig, Store,
};
use pollen_sage::{HubResource, HUB_RESOURCES};
use pollen_sage_sim::{ApiVersion, Resource, SimHandle};
use pollen_template::Template;
use serde_json::{json, Value};

use crate::{issued, sim_config, start, t0, v31_source};

/// The fields a new record of hub resource `hub` is created with (its contact type, for the
/// hubs that filter on one; the simulator's realistic fields otherwise).
fn fields_for(hub: &HubResource) -> Value {
    match hub.fixed {
        [("contact_type_id", kind)] => json!({
            "contact_types": [{"id": kind, "displayed_as": kind, "$path": format!("/contact_types/{kind}")}],
        }),
        _ => Value::Null,
    }
}

/// `(event type, object id)` of every event in the outbox, in order.
pub(crate) async fn events(store: &MemoryStore) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in store
        .list_outbox(&OutboxFilter::default())
        .await
        .expect("outbox")
    {
        let payload = entry.notification.payload();
        for event in payload["message"]["events"].as_array().expect("events") {
            out.push((
                event["eventType"].as_str().expect("eventType").to_owned(),
                event["objectId"].as_str().expect("objectId").to_owned(),
            ));
        }
    }
    out
}

async fn advance(clock: &ManualClock, sim: &SimHandle, minutes: i64) {
    clock.advance(TimeDelta::minutes(minutes));
    sim.advance_clock(Duration::from_secs(minutes as u64 * 60));
}

/// Creates, updates and deletes one record of `hub` around three polls; returns the events
/// of each poll.
async fn lifecycle(hub: &'static HubResource) -> [Vec<(String, String)>; 3] {
    let sim = start(sim_config(0)).await;
    let resource: Resource = hub
        .path
        .trim_start_matches('/')
        .parse()
        .unwrap_or_else(|e| {
            panic!(
                "{}: the simulator does not serve {}: {e}",
                hub.name, hub.path
            )
        });
    let url = format!(
        "/hubs/finance/{}?where=lastModifiedDate>='${{gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}}'",
        hub.name
    );
    let source = v31_source(&sim, &[(hub.name, &url)], issued(&sim, ApiVersion::V31))
        .build()
        .expect("source");
    let clock = ManualClock::new(t0());
    let mut spec = PollSpec::new(
        PollKey::new("coverage", hub.name),
        RequestTemplate::from(Template::compile(&url).expect("template")),
        t0(),
    );
    spec.updated = Some(DateField::new(
        FieldPath::parse("updated_at").expect("path"),
        Rfc3339Dates,
    ));
    spec.created = Some(DateField::new(
        FieldPath::parse("created_at").expect("path"),
        Rfc3339Dates,
    ));
    spec.refresh_interval = TimeDelta::minutes(1);
    // Every poll reconciles (the polls are two minutes apart).
    spec.reconcile_interval = Some(TimeDelta::minutes(1));
    let store = Arc::new(MemoryStore::new());
    let scheduler = Scheduler::new(
        store.clone(),
        Arc::new(clock.clone()),
        SchedulerConfig::new("coverage"),
    );
    scheduler
        .register(spec, Arc::new(source))
        .await
        .expect("register");
    let (kept, gone) = {
        let create = || {
            sim.create(resource, &fields_for(hub))
                .expect("create")
                .id()
                .to_owned()
        };
        (create(), create())
    };
    let first = poll(&scheduler, &store, &clock, &sim, hub).await;
    sim.update(resource, &kept, &json!({"notes": "changed"}))
        .expect("update");
    sim.delete(resource, &gone).expect("delete");
    let second = poll(&scheduler, &store, &clock, &sim, hub).await;
    let third = poll(&scheduler, &store, &clock, &sim, hub).await;
    [
        first.clone(),
        second[first.len()..].to_vec(),
        third[second.len()..].to_vec(),
    ]
}

/// Moves both clocks two minutes on, runs the due poll, and returns every event so far.
async fn poll(
    scheduler: &Scheduler,
    store: &MemoryStore,
    clock: &ManualClock,
    sim: &SimHandle,
    hub: &HubResource,
) -> Vec<(String, String)> {
    advance(clock, sim, 2).await;
    let reports = scheduler.run_due().await.expect("run");
    assert_eq!(reports.len(), 1, "{}: one poll", hub.name);
    if let Err(error) = &reports[0].result {
        panic!("{}: the poll failed: {error}", hub.name);
    }
    events(store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hub_resource_reports_creations_updates_and_deletions() {
    assert!(
        HUB_RESOURCES.len() >= 40,
        "38 endpoints, /contacts three ways"
    );
    for hub in HUB_RESOURCES {
        let [first, second, third] = lifecycle(hub).await;
        let mut created: Vec<&str> = first.iter().map(|(kind, _)| kind.as_str()).collect();
        created.sort_unstable();
        assert_eq!(
            created,
            ["CREATED", "CREATED"],
            "{}: first poll {first:?}",
            hub.name
        );
        let mut changed: Vec<&str> = second.iter().map(|(kind, _)| kind.as_str()).collect();
        changed.sort_unstable();
        assert_eq!(
            changed,
            ["DELETED", "UPDATED"],
            "{} ({}): second poll {second:?}",
            hub.name,
            hub.deletions()
        );
        let kept = &second
            .iter()
            .find(|(kind, _)| kind == "UPDATED")
            .expect("an update")
            .1;
        assert!(
            first.iter().any(|(_, id)| id == kept),
            "{}: the update names the record created",
            hub.name
        );
        assert!(
            third.is_empty(),
            "{}: a quiet poll emitted {third:?}",
            hub.name
        );
    }
}
