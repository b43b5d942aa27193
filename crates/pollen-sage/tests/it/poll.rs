//! A full poll through pollen-core's scheduler and `MemoryStore`, against the simulator.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::TimeDelta;
use pollen_core::{
    DateField, FieldPath, ManualClock, MemoryStore, OutboxFilter, PollKey, PollSpec,
    RequestTemplate, Rfc3339Dates, Scheduler, SchedulerConfig, Store,
};
use pollen_sage_sim::{ApiVersion, Resource};
use pollen_template::Template;
use serde_json::{json, Value};

use crate::{issued, sim_config, start, t0, v31_source};

const URL: &str = "/hubs/finance/customers?where=lastModifiedDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}' and attributes='name,contact_types";

fn contact(kind: &str, name: &str) -> Value {
    json!({
        "name": name,
        "contact_types": [{"id": kind, "displayed_as": kind, "$path": format!("/contact_types/{kind}")}],
    })
}

#[tokio::test]
async fn a_full_poll_of_1000_customers_over_several_pages_with_attributes() {
    let sim = start(sim_config(0)).await;
    let mut customers = BTreeSet::new();
    for i in 0..1000 {
        let record = sim
            .create(
                Resource::Contacts,
                &contact("CUSTOMER", &format!("Customer {i:04}")),
            )
            .expect("create customer");
        customers.insert(record.id().to_owned());
    }
    for i in 0..50 {
        sim.create(
            Resource::Contacts,
            &contact("VENDOR", &format!("Vendor {i}")),
        )
        .expect("create vendor");
    }
    let source = v31_source(&sim, &[("customers", URL)], issued(&sim, ApiVersion::V31))
        .build()
        .expect("source");
    sim.reset_request_counts();

    let clock = ManualClock::new(t0());
    let mut spec = PollSpec::new(
        PollKey::new("instance-1", "customers"),
        RequestTemplate::from(Template::compile(URL).expect("template")),
        t0() - TimeDelta::hours(1),
    );
    spec.page_size = Some(200);
    spec.updated = Some(DateField::new(
        FieldPath::parse("updated_at").expect("path"),
        Rfc3339Dates,
    ));
    spec.created = Some(DateField::new(
        FieldPath::parse("created_at").expect("path"),
        Rfc3339Dates,
    ));
    let store = Arc::new(MemoryStore::new());
    let scheduler = Scheduler::new(
        store.clone(),
        Arc::new(clock.clone()),
        SchedulerConfig::new("worker-1"),
    );
    scheduler
        .register(spec, Arc::new(source))
        .await
        .expect("register");
    // Both clocks move on together: no skew, so the first poll walks once.
    clock.advance(TimeDelta::minutes(16));
    sim.advance_clock(std::time::Duration::from_secs(16 * 60));
    let reports = scheduler.run_due().await.expect("run");
    assert_eq!(reports.len(), 1);
    let summary = reports[0].result.as_ref().expect("the poll succeeds");
    assert_eq!(summary.tally.records, 1000);
    assert_eq!(summary.events, 1000);
    assert!(!summary.shifted);
    // The watermark is the simulator's clock (its Date header), not ours.
    assert_eq!(summary.watermark, sim.now());

    let outbox = store
        .list_outbox(&OutboxFilter::default())
        .await
        .expect("outbox");
    let mut seen = BTreeSet::new();
    for entry in &outbox {
        let payload = entry.notification.payload();
        for event in payload["message"]["events"].as_array().expect("events") {
            assert_eq!(event["eventType"], "CREATED");
            seen.insert(event["objectId"].as_str().expect("objectId").to_owned());
        }
        for record in payload["message"]["raw"]["customers"]
            .as_array()
            .expect("raw records")
        {
            // `attributes` asked for name and contact_types; the date fields were added.
            for field in ["name", "contact_types", "created_at", "updated_at"] {
                assert!(record.get(field).is_some(), "{field} missing in {record}");
            }
            assert!(record.get("email").is_none(), "only the asked attributes");
        }
    }
    assert_eq!(seen, customers, "every customer once, no vendor");

    // Five pages of 200 and one deletion query. The simulator's clock jumped 16 minutes, past
    // the 5-minute token lifetime: the first request was refused and the token refreshed.
    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /v3.1/contacts", 200), 6);
    assert_eq!(counts.get("GET /v3.1/contacts", 401), 1);
    assert_eq!(counts.get("POST /token", 200), 1);
    assert_eq!(counts.total(), 8);
    assert_eq!(summary.pages, 6);
}
