//! Bad pages from "Sage": each case under `fixtures/bad/sage/` is a JSON file listing the
//! responses a local HTTP server gives to the connector's change-feed requests, in order
//! (wrong envelopes, `$items` that is not an array, `$next` loops or pointing off-host,
//! non-UTF-8 bodies, pages past the end, records without id or dates, slow answers...). A full
//! poll runs through pollen-core's scheduler and `MemoryStore`; the requests made, the poll's
//! outcome and what the store holds afterwards are compared with `NAME.expected`
//! (`UPDATE_FIXTURES=1` rewrites it).
//!
//! Whatever the page, the poll must end (each is bounded by a timeout), never panic, and a
//! failed poll must leave no trace in the store: the watermark stays, no change is remembered,
//! no notification is queued.
//!
//! Case format: `{"about", "responses": [R...], "then": "repeat-last" | "cycle"}` where each R
//! is `{"status"?, "delay_ms"?, "headers"?}` plus one body: `"json"` (any JSON value),
//! `"text"` (a string sent as is), `"latin1"` (a string whose characters, all below U+0100,
//! are sent one byte each: how to write bytes that are not UTF-8) or `"generate"` (`huge-page`:
//! a 10 MB page; `deep-nesting`: `$items` nested 100,000 arrays deep). `{server}` in a body is
//! the mock server's address. Deletion-feed requests get an empty page.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::TimeDelta;
use pollen_core::{
    DateField, FieldPath, ManualClock, MemoryStore, OutboxFilter, PollKey, PollSpec,
    RequestTemplate, Rfc3339Dates, Scheduler, SchedulerConfig, Store,
};
use pollen_sage::{RetryPolicy, SageSource};
use pollen_template::Template;
use serde_json::{json, Value};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use crate::{instance, t0};

const URL: &str =
    "/hubs/finance/customers?where=lastModifiedDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'";

/// The response cap the cases run with: `huge-page` is ten times larger.
const CAP: usize = 1 << 20;

/// At most this many pages in one poll, so a `$next` loop ends quickly.
const MAX_PAGES: u32 = 6;

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/bad/sage")
}

/// Serves the case's responses in order to change-feed requests, recording every request.
struct Script {
    responses: Vec<ResponseTemplate>,
    cycle: bool,
    served: AtomicUsize,
    log: Arc<Mutex<Vec<String>>>,
}

impl Respond for Script {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let target = match request.url.query() {
            Some(query) => format!("{} {}?{query}", request.method, request.url.path()),
            None => format!("{} {}", request.method, request.url.path()),
        };
        self.log.lock().expect("log").push(target);
        if request
            .url
            .query()
            .is_some_and(|q| q.contains("deleted_since="))
        {
            return ResponseTemplate::new(200)
                .set_body_json(json!({"$total": 0, "$page": 1, "$next": null, "$items": []}));
        }
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        let index = if self.cycle {
            n % self.responses.len()
        } else {
            n.min(self.responses.len() - 1)
        };
        self.responses[index].clone()
    }
}

/// The body bytes of one scripted response.
fn body(spec: &Value, server: &str, case: &Path) -> Vec<u8> {
    if let Some(value) = spec.get("json") {
        return value.to_string().replace("{server}", server).into_bytes();
    }
    if let Some(text) = spec.get("text").and_then(Value::as_str) {
        return text.replace("{server}", server).into_bytes();
    }
    if let Some(text) = spec.get("latin1").and_then(Value::as_str) {
        return text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).expect("latin1 holds characters below U+0100"))
            .collect();
    }
    match spec.get("generate").and_then(Value::as_str) {
        Some("huge-page") => {
            let name = "x".repeat(10 << 20);
            json!({"$total": 1, "$page": 1, "$next": null, "$items": [
                {"id": "c-1", "name": name, "updated_at": "2025-02-01T00:10:00Z"}
            ]})
            .to_string()
            .into_bytes()
        }
        Some("deep-nesting") => {
            let depth = 100_000;
            format!(
                "{{\"$total\": 1, \"$next\": null, \"$items\": {}{}}}",
                "[".repeat(depth),
                "]".repeat(depth)
            )
            .into_bytes()
        }
        other => panic!("{}: unknown response body {other:?}", case.display()),
    }
}

fn script(case: &Path, server: &str, log: Arc<Mutex<Vec<String>>>) -> Script {
    let text = std::fs::read_to_string(case).expect("reading the case");
    let spec: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", case.display()));
    let responses: Vec<ResponseTemplate> = spec["responses"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no responses", case.display()))
        .iter()
        .map(|r| {
            let status = r["status"].as_u64().unwrap_or(200) as u16;
            let mut response = ResponseTemplate::new(status)
                .set_body_raw(body(r, server, case), "application/json")
                .insert_header("date", "Sat, 01 Feb 2025 00:16:00 GMT");
            for (name, value) in r["headers"].as_object().into_iter().flatten() {
                response = response.insert_header(name.as_str(), value.as_str().unwrap_or(""));
            }
            if let Some(ms) = r["delay_ms"].as_u64() {
                response = response.set_delay(Duration::from_millis(ms));
            }
            response
        })
        .collect();
    assert!(!responses.is_empty(), "{}: no responses", case.display());
    Script {
        responses,
        cycle: spec["then"] == "cycle",
        served: AtomicUsize::new(0),
        log,
    }
}

/// Runs one full poll against the case's responses; the rendered outcome.
async fn run_case(case: &Path) -> String {
    let server = MockServer::start().await;
    let log = Arc::new(Mutex::new(Vec::new()));
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(script(case, &server.uri(), Arc::clone(&log)))
        .mount(&server)
        .await;
    let config = instance(
        "v3.1",
        &format!("{}/v3.1", server.uri()),
        &format!("{}/token", server.uri()),
        &[("customers", URL)],
    );
    let source = SageSource::from_instance(&config, crate::shapes::fresh_tokens())
        .expect("builder")
        .configure(|s| {
            s.request_timeout = Duration::from_secs(1);
            s.max_response_bytes = CAP;
            s.retry = RetryPolicy {
                max_retries: 1,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(10),
                max_retry_after: Duration::from_secs(1),
            };
        })
        .build()
        .expect("source");

    let key = PollKey::new("instance-1", "customers");
    let start = t0() - TimeDelta::hours(1);
    let mut spec = PollSpec::new(
        key.clone(),
        RequestTemplate::from(Template::compile(URL).expect("template")),
        start,
    );
    spec.page_size = Some(2);
    spec.max_pages = MAX_PAGES;
    spec.updated = Some(DateField::new(
        FieldPath::parse("updated_at").expect("path"),
        Rfc3339Dates,
    ));
    spec.created = Some(DateField::new(
        FieldPath::parse("created_at").expect("path"),
        Rfc3339Dates,
    ));
    let clock = ManualClock::new(t0());
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
    clock.advance(TimeDelta::minutes(16));
    let reports = tokio::time::timeout(Duration::from_secs(20), scheduler.run_due())
        .await
        .unwrap_or_else(|_| panic!("{}: the poll did not end within 20 s", case.display()))
        .expect("run_due");
    assert_eq!(reports.len(), 1, "{}", case.display());

    let state = store.load(&key).await.expect("load").expect("a state");
    let outbox = store
        .list_outbox(&OutboxFilter::default())
        .await
        .expect("outbox");
    let seen = store.seen_count(&key).await.expect("seen");
    let mut out = String::from("requests:\n");
    for request in log.lock().expect("log").iter() {
        out.push_str(&format!("  {request}\n"));
    }
    match &reports[0].result {
        Ok(summary) => {
            let tally = &summary.tally;
            out.push_str(&format!(
                "poll: ok: {} pages, {} records, {} without id, {} date warnings, {} filtered, {} events\n",
                summary.pages, tally.records, tally.without_id, tally.date_warnings, tally.filtered,
                summary.events
            ));
            out.push_str(&format!(
                "store: watermark {}, {seen} changes seen, {} notifications queued\n",
                if state.watermark == start {
                    "kept"
                } else {
                    "advanced"
                },
                outbox.len()
            ));
            for entry in &outbox {
                for event in entry.notification.payload()["message"]["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    out.push_str(&format!(
                        "  event {} {}\n",
                        event["eventType"].as_str().unwrap_or("?"),
                        event["objectId"].as_str().unwrap_or("?")
                    ));
                }
            }
        }
        Err(error) => {
            // A failed poll leaves no trace.
            assert_eq!(
                state.watermark,
                start,
                "{}: watermark moved",
                case.display()
            );
            assert_eq!(state.completed_polls, 0, "{}", case.display());
            assert!(outbox.is_empty(), "{}: {outbox:?}", case.display());
            assert_eq!(seen, 0, "{}: changes remembered", case.display());
            let message = error.to_string().replace(&server.uri(), "{server}");
            out.push_str(&format!("poll: error: {message}\n"));
            out.push_str("store: watermark kept, 0 changes seen, 0 notifications queued\n");
        }
    }
    out.replace(&server.uri(), "{server}")
}

fn check(case: &Path, actual: &str) {
    let expected_path = case.with_extension("expected");
    if std::env::var("UPDATE_FIXTURES").as_deref() == Ok("1") {
        std::fs::write(&expected_path, actual).expect("writing expected");
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|err| {
        panic!(
            "{}: {err} (run `cargo xtask fixtures` to create it)",
            expected_path.display()
        )
    });
    assert_eq!(actual, expected, "case {}", case.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pages_fail_the_poll_cleanly() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("reading fixtures/bad/sage")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "too few cases under fixtures/bad/sage");
    for case in &cases {
        let actual = run_case(case).await;
        check(case, &actual);
    }
}
