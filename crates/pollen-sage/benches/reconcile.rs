//! Reconciliation's cost for 100,000 ids against the simulator on loopback: pages and seconds
//! of the id walk (the first one, which learns every id, and a later one that finds 100
//! deletions and looks them up), against a baseline measured in the same run: a regular poll
//! of the same endpoint whose window holds 100 changes.
//!
//! `cargo bench -p pollen-sage --bench reconcile`. The wall time here is pollen's and the
//! simulator's; against Sage the walk is bound by the rate budget: 500 pages take 2.5 minutes
//! of a business's 200 calls a minute.

use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeDelta, Utc};
use pollen_config::{InstanceConfig, Secret};
use pollen_core::{
    DateField, FieldPath, ManualClock, MemoryStore, PollKey, PollSpec, RequestTemplate,
    Rfc3339Dates, Scheduler, SchedulerConfig, Store,
};
use pollen_sage::{MemoryTokenStore, SageSource, Tokens};
use pollen_sage_sim::{ApiVersion, ClockMode, Resource, SimConfig, Simulator};
use pollen_template::Template;
use serde_json::{json, Value};

const IDS: usize = 100_000;
const DELETED: usize = 100;
const URL: &str =
    "/hubs/finance/ledger-accounts?where=lastModifiedDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'";

fn instance(base: &str, token: &str) -> InstanceConfig {
    let body = json!({
        "element": {"key": "sageone"},
        "providerData": {"code": "unused"},
        "name": "bench",
        "configuration": {
            "oauth.api.key": "id", "oauth.api.secret": "secret",
            "oauth.callback.url": "https://example.com/callback",
            "oauth.token.url": token, "base.url": base,
            "event.notification.enabled": "true",
            "event.notification.callback.url": "https://example.com/events",
            "event.poller.configuration": {"ledger-accounts": {
                "url": URL,
                "datesConfiguration": {"updatedDateField": "updated_at", "createdDateField": "created_at"}
            }}
        }
    });
    InstanceConfig::from_json_str(&body.to_string())
        .expect("bench instance")
        .config
}

/// Runs the poll that is due and returns its seconds.
async fn poll(scheduler: &Scheduler) -> f64 {
    let started = Instant::now();
    let reports = scheduler.run_due().await.expect("run");
    assert_eq!(reports.len(), 1, "one poll");
    if let Err(error) = &reports[0].result {
        panic!("the poll failed: {error}");
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let start = Utc::now();
        let config = SimConfig {
            records: 0,
            clock: ClockMode::Manual(start),
            ..SimConfig::default()
        };
        let sim = Simulator::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .expect("simulator");
        let mut ids = Vec::with_capacity(IDS);
        for _ in 0..IDS {
            let record = sim.create(Resource::LedgerAccounts, &Value::Null).expect("create");
            ids.push(record.id().to_owned());
        }
        let set = sim.issue_tokens(ApiVersion::V31);
        let tokens = Tokens::new(
            Secret::new(set.access_token),
            Some(Secret::new(set.refresh_token)),
        )
        .expiring_at(Utc::now() + TimeDelta::hours(1));
        let source = SageSource::from_instance(
            &instance(&sim.v31_base_url(), &sim.token_url()),
            Arc::new(MemoryTokenStore::with_tokens(tokens)),
        )
        .expect("source")
        .build()
        .expect("source");
        let clock = ManualClock::new(start);
        let mut spec = PollSpec::new(
            PollKey::new("bench", "ledger-accounts"),
            RequestTemplate::from(Template::compile(URL).expect("template")),
            start + TimeDelta::seconds(1),
        );
        spec.updated = Some(DateField::new(FieldPath::parse("updated_at").unwrap(), Rfc3339Dates));
        spec.created = Some(DateField::new(FieldPath::parse("created_at").unwrap(), Rfc3339Dates));
        spec.refresh_interval = TimeDelta::minutes(15);
        spec.reconcile_interval = Some(TimeDelta::hours(24));
        let store = Arc::new(MemoryStore::new());
        let mut config = SchedulerConfig::new("bench");
        config.poll_timeout = TimeDelta::hours(1);
        let scheduler = Scheduler::new(store.clone(), Arc::new(clock.clone()), config);
        scheduler.register(spec, Arc::new(source)).await.expect("register");
        let key = PollKey::new("bench", "ledger-accounts");
        let advance = |by: TimeDelta| {
            clock.advance(by);
            sim.advance_clock(by.to_std().unwrap());
        };

        // The first poll: an empty window, and the walk that learns every id.
        advance(TimeDelta::minutes(16));
        let before = scheduler.metrics();
        let learn = poll(&scheduler).await;
        let after = scheduler.metrics();
        let learn_pages = after.reconcile_pages - before.reconcile_pages;
        assert_eq!(store.known_ids(&key).await.unwrap().len(), IDS, "every id learnt");

        // The baseline: a regular poll whose window holds 100 changes, no reconciliation due.
        for id in ids.iter().skip(DELETED).take(DELETED) {
            sim.update(Resource::LedgerAccounts, id, &json!({"name": "changed"}))
                .expect("update");
        }
        advance(TimeDelta::minutes(15));
        let baseline = poll(&scheduler).await;
        assert_eq!(scheduler.metrics().reconcile_pages, after.reconcile_pages, "no walk");

        // A day later: 100 records deleted, the walk finds them and looks them up.
        for id in ids.iter().take(DELETED) {
            sim.delete(Resource::LedgerAccounts, id).expect("delete");
        }
        advance(TimeDelta::hours(24));
        let before = scheduler.metrics();
        let find = poll(&scheduler).await;
        let after = scheduler.metrics();
        assert_eq!(after.events_deleted - before.events_deleted, DELETED as u64);
        let find_pages = after.reconcile_pages - before.reconcile_pages;
        let lookups = after.reconcile_lookups - before.reconcile_lookups;

        println!("reconciliation of {IDS} ids, ledger_accounts, 200 ids a page, simulator on loopback");
        println!("baseline: a regular poll with 100 changes        {:>7.1} ms", baseline * 1000.0);
        println!("first walk (learns {IDS} ids):            {learn_pages:>4} pages {learn:>7.2} s ({:.0} ids/s)", IDS as f64 / learn);
        println!("later walk ({DELETED} deleted, {lookups} lookups):       {find_pages:>4} pages {find:>7.2} s ({:.0} ids/s)", (IDS - DELETED) as f64 / find);
        println!(
            "at Sage's 200 calls a minute: {:.1} min of one business's budget",
            (find_pages + lookups) as f64 / 200.0
        );
    });
}
