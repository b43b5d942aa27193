//! pollen-sage's integration tests: the connector against the Sage simulator over real HTTP on
//! 127.0.0.1, and against `wiremock` where the exact shape of a request matters.
//!
//! Translation cases are data under `fixtures/sage/`; `check` compares with the expected file,
//! or rewrites it when `UPDATE_FIXTURES=1` is set.

mod auth;
mod bad_input;
mod budget;
mod businesses;
mod coverage;
mod deletions;
mod faults;
mod golden;
mod paging;
mod poll;
mod reconcile;
mod residual;
mod shapes;
mod translate;
mod v3;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pollen_config::InstanceConfig;
use pollen_core::{FetchRequest, Page, PollKey};
use pollen_sage::{MemoryTokenStore, RetryPolicy, SageSource, SageSourceBuilder, Tokens};
use pollen_sage_sim::{ApiVersion, ClockMode, RunningSim, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

/// The manual clock simulator tests start at: a month after the default seed epoch.
pub(crate) fn t0() -> DateTime<Utc> {
    at("2025-02-01T00:00:00Z")
}

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test timestamp")
        .with_timezone(&Utc)
}

/// Seed 42, `records` per resource, manual clock at [`t0`].
pub(crate) fn sim_config(records: usize) -> SimConfig {
    SimConfig {
        seed: 42,
        records,
        clock: ClockMode::Manual(t0()),
        ..SimConfig::default()
    }
}

pub(crate) async fn start(config: SimConfig) -> RunningSim {
    Simulator::start("127.0.0.1:0".parse().expect("address"), config)
        .await
        .expect("simulator starts")
}

/// Retries fast enough for tests.
pub(crate) fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    }
}

/// An instance JSON of `version` (`v3.1` or `v3`) pointing at `base` and `token`, polling
/// `resources` (name → hub URL) with `updated_at` / `created_at` dates.
pub(crate) fn instance(
    version: &str,
    base: &str,
    token: &str,
    resources: &[(&str, &str)],
) -> InstanceConfig {
    let mut poller = serde_json::Map::new();
    for (name, url) in resources {
        poller.insert(
            (*name).to_owned(),
            json!({
                "url": url,
                "datesConfiguration": {"updatedDateField": "updated_at", "createdDateField": "created_at"}
            }),
        );
    }
    let mut configuration = json!({
        "oauth.api.key": "client-id",
        "oauth.api.secret": "client-secret",
        "oauth.callback.url": "https://example.com/callback",
        "oauth.token.url": token,
        "base.url": base,
        "sage.api.version": version,
        "event.notification.enabled": "true",
        "event.notification.callback.url": "https://example.com/events",
        "event.poller.configuration": Value::Object(poller),
    });
    if version == "v3" {
        configuration["country"] = json!("gb");
        configuration["signature.secret"] = json!("sim-signing-secret");
        configuration["apim.subscription.key"] = json!("apim-key");
    }
    let body = json!({
        "element": {"key": "sageone"},
        "providerData": {"code": "instance-code"},
        "configuration": configuration,
        "name": "test instance",
    });
    InstanceConfig::from_json_str(&body.to_string())
        .unwrap_or_else(|e| panic!("test instance is invalid: {e:?}"))
        .config
}

/// A v3.1 source on the simulator for `resources`, with tokens the simulator issued.
pub(crate) fn v31_source(
    sim: &SimHandle,
    resources: &[(&str, &str)],
    store: Arc<MemoryTokenStore>,
) -> SageSourceBuilder {
    let config = instance("v3.1", &sim.v31_base_url(), &sim.token_url(), resources);
    SageSource::from_instance(&config, store)
        .expect("source")
        .configure(|s| s.retry = quick_retries())
}

/// A store holding fresh tokens the simulator issued for `version`, expiring (on our clock)
/// when the simulator says.
pub(crate) fn issued(sim: &SimHandle, version: ApiVersion) -> Arc<MemoryTokenStore> {
    let set = sim.issue_tokens(version);
    let mut tokens = Tokens::new(
        pollen_config::Secret::new(set.access_token),
        Some(pollen_config::Secret::new(set.refresh_token)),
    )
    .expiring_at(Utc::now() + chrono::TimeDelta::seconds(set.expires_in as i64));
    if version == ApiVersion::V3 {
        tokens = tokens.for_resource_owner(set.resource_owner_id);
    }
    Arc::new(MemoryTokenStore::with_tokens(tokens))
}

/// Every page of one walk, following `next` as the core does.
pub(crate) async fn walk(
    source: &SageSource,
    resource: &str,
    request: &str,
    page_size: Option<u32>,
) -> Result<Vec<Page>, pollen_sage::Error> {
    let key = PollKey::new("instance-1", resource);
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let request = FetchRequest {
            key: &key,
            request,
            since: t0(),
            page_size,
            cursor: cursor.as_deref(),
            purpose: pollen_core::Purpose::Changes,
        };
        let page = source.fetch(resource, &request).await?;
        cursor = page.next.clone();
        pages.push(page);
        if cursor.is_none() || pages.len() > 1000 {
            return Ok(pages);
        }
    }
}

/// The records of all pages.
pub(crate) fn records(pages: &[Page]) -> Vec<Value> {
    pages.iter().flat_map(|p| p.records.clone()).collect()
}

pub(crate) fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sage")
}

/// Reads an input file under `fixtures/sage/`.
pub(crate) fn fixture_text(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// Compares `actual` with the expected file `fixtures/sage/{name}`, or writes it when
/// `UPDATE_FIXTURES=1`.
pub(crate) fn check(name: &str, actual: &Value) {
    let path = fixtures_dir().join(name);
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(actual).expect("serializable")
    );
    if std::env::var("UPDATE_FIXTURES").as_deref() == Ok("1") {
        std::fs::write(&path, text).expect("write fixture");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err} (run with UPDATE_FIXTURES=1 to create it)",
            path.display()
        )
    });
    assert_eq!(text, expected, "output differs from {}", path.display());
}
