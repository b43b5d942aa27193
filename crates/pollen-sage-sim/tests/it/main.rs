//! Integration tests: the simulator driven over real HTTP on 127.0.0.1.
//!
//! Expected responses live under `fixtures/sage-sim/`; `check` compares against them, or
//! rewrites them when `UPDATE_FIXTURES=1` is set.

mod activity;
mod businesses;
mod changes;
mod clock;
mod control;
mod counters;
mod faults;
mod limits;
mod lists;
mod oauth;
mod requests;
mod v3;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use pollen_sage_sim::{ApiVersion, ClockMode, RunningSim, SimConfig, SimHandle, Simulator};
use serde_json::{json, Value};

/// The manual clock tests start at: a month after the default seed epoch.
pub(crate) fn t0() -> DateTime<Utc> {
    at("2025-02-01T00:00:00Z")
}

pub(crate) fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("test timestamp")
        .with_timezone(&Utc)
}

/// Seed 42, `records` per resource, manual clock at [`t0`].
pub(crate) fn config(records: usize) -> SimConfig {
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

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/sage-sim")
}

/// Reads an input file under `fixtures/sage-sim/`.
pub(crate) fn fixture_input(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
}

/// Compares `actual` with the expected file `fixtures/sage-sim/{name}`, or writes it when
/// `UPDATE_FIXTURES=1` — under `$POLLEN_FIXTURES_OUT/fixtures/sage-sim/` when that is set
/// (`cargo xtask fixtures --check` compares what lands there with the committed files).
pub(crate) fn check(name: &str, actual: &Value) {
    let path = fixtures_dir().join(name);
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(actual).expect("serializable")
    );
    if std::env::var("UPDATE_FIXTURES").as_deref() == Ok("1") {
        let path = match std::env::var_os("POLLEN_FIXTURES_OUT") {
            Some(out) => PathBuf::from(out).join("fixtures/sage-sim").join(name),
            None => path,
        };
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create fixture dir");
        std::fs::write(&path, text).expect("write fixture");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err} (run with UPDATE_FIXTURES=1 to create it)",
            path.display()
        )
    });
    assert_eq!(text, expected, "response differs from {}", path.display());
}

/// A response: status, headers and body text.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {}", self.body))
    }

    /// `{"status", "body"}`, the shape of response fixtures.
    pub(crate) fn fixture(&self) -> Value {
        json!({"status": self.status, "body": self.json()})
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub(crate) fn ids(&self) -> Vec<String> {
        self.json()["$items"]
            .as_array()
            .expect("$items")
            .iter()
            .map(|item| item["id"].as_str().expect("id").to_owned())
            .collect()
    }
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client")
}

pub(crate) async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request succeeds");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.expect("body"),
    }
}

/// A client of one API generation with a valid token.
#[derive(Debug)]
pub(crate) struct Api {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) token: String,
    pub(crate) headers: Vec<(&'static str, String)>,
}

impl Api {
    pub(crate) fn v31(sim: &SimHandle) -> Api {
        Api {
            http: http(),
            base: sim.v31_base_url(),
            token: sim.issue_tokens(ApiVersion::V31).access_token,
            headers: Vec::new(),
        }
    }

    pub(crate) fn v3(sim: &SimHandle, region: &str) -> Api {
        Api {
            http: http(),
            base: sim.v3_base_url(region),
            token: sim.issue_tokens(ApiVersion::V3).access_token,
            headers: vec![
                ("Ocp-Apim-Subscription-Key", "test-key".to_owned()),
                ("X-Site", sim.resource_owner_id().to_owned()),
            ],
        }
    }

    pub(crate) fn request(&self, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        request
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        send(self.request(path)).await
    }

    /// Follows `$next` from `path` to the end; the ids of every page, in order.
    pub(crate) async fn walk(&self, path: &str) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next {
            let reply = self.get(&path).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.body);
            pages.push(reply.ids());
            next = reply.json()["$next"].as_str().map(str::to_owned);
            assert!(pages.len() < 1000, "walk does not end");
        }
        pages
    }
}

/// Waits up to 5 s for `done`, checking every 20 ms.
pub(crate) async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    done()
}
