//! DELETED events: `deleted_since` on the endpoints that have it.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::TimeDelta;
use pollen_core::{FetchRequest, PollKey, Source};
use pollen_sage::ErrorKind;
use pollen_sage_sim::{ApiVersion, Resource};
use serde_json::json;

use crate::{issued, sim_config, start, t0, v31_source};

const CUSTOMERS: &str = "/hubs/finance/customers?where=lastModifiedDate>='2025-02-01T00:00:00Z'";

#[tokio::test]
async fn deleted_customers_come_from_deleted_since() {
    let sim = start(sim_config(0)).await;
    let create = |kind: &str| {
        sim.create(
            Resource::Contacts,
            &json!({"contact_types": [{"id": kind, "displayed_as": kind}]}),
        )
        .expect("create")
        .id()
        .to_owned()
    };
    let customers: Vec<String> = (0..20).map(|_| create("CUSTOMER")).collect();
    let vendors: Vec<String> = (0..10).map(|_| create("VENDOR")).collect();
    sim.advance_clock(Duration::from_secs(60));
    let deleted_at = sim.now();
    for id in customers.iter().take(5).chain(vendors.iter().take(2)) {
        sim.delete(Resource::Contacts, id).expect("delete");
    }
    sim.advance_clock(Duration::from_secs(10));

    let source = v31_source(
        &sim,
        &[
            ("customers", CUSTOMERS),
            ("ledger-accounts", "/hubs/finance/ledger-accounts"),
        ],
        issued(&sim, ApiVersion::V31),
    )
    .build()
    .expect("source");
    let key = PollKey::new("instance-1", "customers");
    assert!(source.supports_deletions(&key));
    let (source, sim) = (&source, &sim);
    let fetch = |since| {
        let request = FetchRequest {
            key: &key,
            request: CUSTOMERS,
            since,
            page_size: Some(2),
            cursor: None,
            purpose: pollen_core::Purpose::Changes,
        };
        async move {
            let mut all = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let page = source
                    .fetch_deleted_page(FetchRequest {
                        cursor: cursor.as_deref(),
                        purpose: pollen_core::Purpose::Changes,
                        ..request
                    })
                    .await
                    .expect("deleted page");
                assert_eq!(page.server_time, Some(sim.now()));
                all.extend(page.records);
                cursor = page.next;
                if cursor.is_none() {
                    return all;
                }
            }
        }
    };

    let deleted = fetch(t0() + TimeDelta::seconds(30)).await;
    let got: BTreeSet<&str> = deleted.iter().map(|d| d.id.as_str()).collect();
    let want: BTreeSet<&str> = customers.iter().take(5).map(String::as_str).collect();
    assert_eq!(got, want, "the deleted customers, not the vendors");
    for record in &deleted {
        assert_eq!(record.deleted_at, Some(deleted_at));
        assert!(record.record.get("deleted_at").is_some());
    }
    // `deleted_since` is exclusive.
    assert!(fetch(deleted_at).await.is_empty());
    let counts = sim.request_counts();
    assert_eq!(
        counts.get("GET /v3.1/contacts", 200),
        4,
        "three pages of two, one empty"
    );
}

#[tokio::test]
async fn endpoints_without_deleted_since_have_no_deletion_feed() {
    let sim = start(sim_config(5)).await;
    let source = v31_source(
        &sim,
        &[
            ("ledger-accounts", "/hubs/finance/ledger-accounts"),
            ("tax", "/hubs/finance/tax-rates"),
            ("quotes", "/hubs/finance/sales-quotes"),
            ("people", "/hubs/finance/contact-persons"),
        ],
        issued(&sim, ApiVersion::V31),
    )
    .build()
    .expect("source");
    for (resource, supported) in [
        ("ledger-accounts", false),
        ("tax", false),
        ("quotes", false),
        ("people", true),
        ("journal-entries", true),
        ("unconfigured", false),
    ] {
        let key = PollKey::new("instance-1", resource);
        assert_eq!(source.supports_deletions(&key), supported, "{resource}");
    }
    let key = PollKey::new("instance-1", "ledger-accounts");
    let error = source
        .fetch_deleted(
            "ledger-accounts",
            &FetchRequest {
                key: &key,
                request: "/hubs/finance/ledger-accounts",
                since: t0(),
                page_size: None,
                cursor: None,
                purpose: pollen_core::Purpose::Changes,
            },
        )
        .await
        .expect_err("no feed");
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert_eq!(
        error.message(),
        "Sage's /ledger_accounts endpoint has no deleted_since: ledger-accounts has no deletion feed"
    );
    assert_eq!(sim.request_counts().total(), 0);
}
