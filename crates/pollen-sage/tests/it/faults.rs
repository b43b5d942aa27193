//! What Sage does wrong, injected by the simulator: throttling, server errors, broken bodies,
//! dropped connections, slow answers.

use std::time::{Duration, Instant};

use pollen_sage::ErrorKind;
use pollen_sage_sim::{ApiVersion, Fault, FaultKind};

use crate::{issued, records, sim_config, start, v31_source, walk};

const CONTACTS: &str = "/hubs/finance/contacts?where=attributes='name'";
const PREFIX: &str = "/v3.1/contacts";

async fn setup(records: usize) -> (pollen_sage_sim::RunningSim, pollen_sage::SageSource) {
    let sim = start(sim_config(records)).await;
    let source = v31_source(
        &sim,
        &[
            ("contacts", CONTACTS),
            ("addresses", "/hubs/finance/addresses"),
        ],
        issued(&sim, ApiVersion::V31),
    )
    .build()
    .expect("source");
    (sim, source)
}

fn inject(sim: &pollen_sage_sim::SimHandle, kind: FaultKind, n: u32) {
    sim.inject(Fault::next(kind, n).on_path_prefix(PREFIX))
        .expect("fault");
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out() {
    let (sim, source) = setup(20).await;
    inject(
        &sim,
        FaultKind::TooManyRequests {
            retry_after: Some(1),
        },
        1,
    );
    let started = Instant::now();
    let pages = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect("walk");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured (the back-off alone is at most 50 ms)"
    );
    assert_eq!(records(&pages).len(), 20);
    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /v3.1/contacts", 429), 1);
    assert_eq!(counts.get("GET /v3.1/contacts", 200), 1);
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_and_retries() {
    let (sim, source) = setup(20).await;
    inject(&sim, FaultKind::TooManyRequests { retry_after: None }, 2);
    let pages = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect("walk");
    assert_eq!(records(&pages).len(), 20);
    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /v3.1/contacts", 429), 2);
    assert_eq!(counts.get("GET /v3.1/contacts", 200), 1);
}

#[tokio::test]
async fn throttling_that_lasts_fails_after_the_bounded_retries() {
    let (sim, source) = setup(20).await;
    inject(&sim, FaultKind::TooManyRequests { retry_after: None }, 100);
    let error = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect_err("throttled");
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.status(), Some(429));
    assert_eq!(error.data_code(), Some("TooManyRequests"));
    assert!(
        error.message().ends_with("(gave up after 4 attempts)"),
        "{}",
        error.message()
    );
    assert_eq!(sim.request_counts().get("GET /v3.1/contacts", 429), 4);
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_fails_at_once() {
    let (sim, source) = setup(20).await;
    inject(
        &sim,
        FaultKind::TooManyRequests {
            retry_after: Some(3600),
        },
        1,
    );
    let error = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect_err("throttled");
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert!(
        error
            .message()
            .ends_with("Sage asks to retry after 3600 s, longer than the 5 s allowed"),
        "{}",
        error.message()
    );
    assert_eq!(sim.request_counts().total(), 1);
}

#[tokio::test]
async fn a_500_then_success() {
    let (sim, source) = setup(20).await;
    inject(&sim, FaultKind::InternalServerError, 1);
    let pages = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect("walk");
    assert_eq!(records(&pages).len(), 20);
    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /v3.1/contacts", 500), 1);
    assert_eq!(counts.get("GET /v3.1/contacts", 200), 1);
}

#[tokio::test]
async fn a_503_then_success_and_lasting_500s_fail() {
    let (sim, source) = setup(20).await;
    inject(&sim, FaultKind::ServiceUnavailable, 1);
    walk(&source, "contacts", CONTACTS, None)
        .await
        .expect("walk");
    assert_eq!(sim.request_counts().get("GET /v3.1/contacts", 503), 1);

    inject(&sim, FaultKind::InternalServerError, 100);
    let error = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect_err("500s");
    assert_eq!(error.kind(), ErrorKind::Api);
    assert_eq!(error.status(), Some(500));
    assert_eq!(error.data_code(), Some("InternalServerError"));
    assert_eq!(sim.request_counts().get("GET /v3.1/contacts", 500), 4);
}

#[tokio::test]
async fn other_4xx_are_not_retried_and_say_what_sage_said() {
    let (sim, source) = setup(20).await;
    // An endpoint the business's plan lacks: Sage's 404 shape.
    sim.inject(Fault::next(FaultKind::NotFound, 1).on_path_prefix("/v3.1/addresses"))
        .expect("a valid fault");
    let error = walk(&source, "addresses", "/hubs/finance/addresses", None)
        .await
        .expect_err("404");
    assert_eq!(error.kind(), ErrorKind::Api);
    assert_eq!(error.status(), Some(404));
    assert_eq!(error.data_code(), Some("RecordNotFound"));
    assert_eq!(error.api_errors()[0].message, "Resource not found");
    assert_eq!(
        error.message(),
        "GET /v3.1/addresses?attributes=updated_at,created_at&items_per_page=200: HTTP 404, RecordNotFound: Resource not found"
    );
    assert_eq!(sim.request_counts().total(), 1);
}

#[tokio::test]
async fn malformed_json_is_reported_clearly() {
    let (sim, source) = setup(20).await;
    inject(&sim, FaultKind::MalformedJson, 1);
    let error = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect_err("malformed");
    assert_eq!(error.kind(), ErrorKind::MalformedResponse);
    let message = error.message();
    assert!(
        message.starts_with(
            "GET /v3.1/contacts?attributes=name,updated_at,created_at&items_per_page=200: malformed JSON in a "
        ),
        "{message}"
    );
    assert!(message.contains("EOF while parsing"), "{message}");
    assert_eq!(sim.request_counts().total(), 1, "not retried");
}

#[tokio::test]
async fn dropped_connections_and_timeouts_are_retried() {
    let (sim, _) = setup(20).await;
    let source = v31_source(
        &sim,
        &[("contacts", CONTACTS)],
        issued(&sim, ApiVersion::V31),
    )
    .configure(|s| s.request_timeout = Duration::from_millis(300))
    .build()
    .expect("source");
    inject(&sim, FaultKind::DropConnection, 1);
    inject(
        &sim,
        FaultKind::Slow {
            delay: Duration::from_secs(2),
        },
        1,
    );
    let pages = walk(&source, "contacts", CONTACTS, None)
        .await
        .expect("walk");
    assert_eq!(records(&pages).len(), 20);
    let counts = sim.request_counts();
    assert_eq!(counts.get("GET /v3.1/contacts", 0), 1, "the dropped one");
    assert!(counts.get("GET /v3.1/contacts", 200) >= 1);
}
