//! Throughput of a full page walk against the simulator on loopback: records fetched and
//! parsed per second by `SageSource`, against a baseline of plain `reqwest` + `serde_json`
//! reading the same pages in the same run.
//!
//! `cargo bench -p pollen-sage --bench throughput` — target: at least 50,000 records/s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use pollen_config::{InstanceConfig, Secret};
use pollen_core::{FetchRequest, PollKey};
use pollen_sage::{MemoryTokenStore, SageSource, Tokens};
use pollen_sage_sim::{ApiVersion, ClockMode, Resource, SimConfig, Simulator};
use serde_json::{json, Value};

const CONTACTS: usize = 20_000;
const RUNS: usize = 7;
const TARGET: f64 = 50_000.0;

fn instance(base: &str, token: &str, url: &str) -> InstanceConfig {
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
            "event.poller.configuration": {"contacts": {
                "url": url,
                "datesConfiguration": {"updatedDateField": "updated_at", "createdDateField": "created_at"}
            }}
        }
    });
    InstanceConfig::from_json_str(&body.to_string())
        .expect("bench instance")
        .config
}

async fn connector_walk(source: &SageSource, request: &str) -> usize {
    let key = PollKey::new("bench", "contacts");
    let mut cursor: Option<String> = None;
    let mut records = 0;
    loop {
        let page = source
            .fetch(
                "contacts",
                &FetchRequest {
                    key: &key,
                    request,
                    since: Utc::now(),
                    page_size: Some(200),
                    cursor: cursor.as_deref(),
                    purpose: pollen_core::Purpose::Changes,
                },
            )
            .await
            .expect("page");
        records += page.records.len();
        cursor = page.next;
        if cursor.is_none() {
            return records;
        }
    }
}

/// Plain reqwest + serde_json over the same URLs: what fetching and parsing costs at least.
/// With `parse` off, only the envelope's `$next` is read (the HTTP and simulator share).
async fn baseline_walk(
    client: &reqwest::Client,
    base: &str,
    first: &str,
    token: &str,
    parse: bool,
) -> usize {
    let mut url = format!("{base}{first}");
    let mut records = 0;
    loop {
        let body = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("send")
            .bytes()
            .await
            .expect("body");
        let next = if parse {
            let page: Value = serde_json::from_slice(&body).expect("json");
            records += page["$items"].as_array().map_or(0, Vec::len);
            page["$next"].as_str().map(str::to_owned)
        } else {
            #[derive(serde::Deserialize)]
            struct Head {
                #[serde(rename = "$next")]
                next: Option<String>,
                #[serde(rename = "$items")]
                items: Vec<serde::de::IgnoredAny>,
            }
            let head: Head = serde_json::from_slice(&body).expect("json");
            records += head.items.len();
            head.next
        };
        match next {
            Some(next) => url = format!("{base}{next}"),
            None => return records,
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn measure<F, Fut>(name: &str, mut walk: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    assert_eq!(walk().await, CONTACTS, "warm-up walk");
    let mut rates = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let records = walk().await;
        let elapsed = started.elapsed().max(Duration::from_micros(1));
        rates.push(records as f64 / elapsed.as_secs_f64());
    }
    let rate = median(rates);
    println!("{name:<58} {rate:>10.0} records/s (median of {RUNS} walks of {CONTACTS})");
    rate
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = SimConfig {
            records: 0,
            clock: ClockMode::Manual(Utc::now()),
            ..SimConfig::default()
        };
        let sim = Simulator::start("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("simulator");
        for i in 0..CONTACTS {
            sim.create(
                Resource::Contacts,
                &json!({"contact_types": [{"id": "CUSTOMER", "displayed_as": "Customer"}], "name": format!("Contact {i}")}),
            )
            .expect("create");
        }
        let tokens = sim.issue_tokens(ApiVersion::V31);
        println!(
            "pollen-sage throughput: {CONTACTS} contacts, 200 per page, simulator on 127.0.0.1 in the same process"
        );
        for (label, clause, attributes) in [
            (
                "seed clause (created_at,updated_at)",
                "lastModifiedDate>='2000-01-01T00:00:00Z' and attributes='created_at,updated_at'",
                "created_at,updated_at",
            ),
            (
                "attributes=all (full records)",
                "lastModifiedDate>='2000-01-01T00:00:00Z' and attributes='all'",
                "all",
            ),
        ] {
            let url = format!("/hubs/finance/contacts?where={clause}");
            let store = Arc::new(MemoryTokenStore::with_tokens(
                Tokens::new(
                    Secret::new(tokens.access_token.clone()),
                    Some(Secret::new(tokens.refresh_token.clone())),
                )
                .expiring_at(Utc::now() + TimeDelta::hours(1)),
            ));
            let source = SageSource::from_instance(
                &instance(&sim.v31_base_url(), &sim.token_url(), &url),
                store,
            )
            .expect("builder")
            .build()
            .expect("source");
            let connector = measure(&format!("SageSource::fetch, {label}"), || {
                connector_walk(&source, &url)
            })
            .await;
            let client = reqwest::Client::new();
            let first = format!(
                "/contacts?updated_or_created_since=2000-01-01T00:00:00Z&attributes={attributes}&items_per_page=200"
            );
            let base = sim.v31_base_url();
            let baseline = measure(&format!("baseline reqwest + serde_json, {label}"), || {
                baseline_walk(&client, &base, &first, &tokens.access_token, true)
            })
            .await;
            measure(&format!("  of which HTTP + simulator (no parse), {label}"), || {
                baseline_walk(&client, &base, &first, &tokens.access_token, false)
            })
            .await;
            println!(
                "  connector / baseline = {:.2}; target {TARGET:.0} records/s: {}",
                connector / baseline,
                if connector >= TARGET { "met" } else { "NOT met" }
            );
        }
        sim.shutdown().await;
    });
}
