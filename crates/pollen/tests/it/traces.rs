//! Traces: `pollen run` exports its spans over OTLP/HTTP to an in-process receiver on
//! 127.0.0.1 when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and nothing when it is not.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use pollen::demo::demo_instance;
use pollen::receiver::{ReceivedEvent, Receiver};
use pollen_sage_sim::{ApiVersion, Resource, SimConfig, Simulator};
use prost::Message;

const CODE: &str = "1c6ff4089d58d80e86482ab7d5b97f15dd7b041d";

/// What the OTLP receiver got: the requests' paths, and every span with its resource's
/// `service.name`.
#[derive(Default)]
struct Collected {
    paths: Vec<String>,
    spans: Vec<(String, Span)>,
}

/// An OTLP/HTTP (protobuf) trace receiver on 127.0.0.1.
async fn otlp_receiver(port: u16) -> (String, Arc<Mutex<Collected>>) {
    let collected = Arc::new(Mutex::new(Collected::default()));
    async fn export(
        State(collected): State<Arc<Mutex<Collected>>>,
        uri: axum::http::Uri,
        body: Bytes,
    ) -> ([(axum::http::HeaderName, &'static str); 1], Vec<u8>) {
        let request = ExportTraceServiceRequest::decode(body).expect("an OTLP trace request");
        let mut collected = collected.lock().expect("lock");
        collected.paths.push(uri.path().to_owned());
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| string_attr(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    collected.spans.push((service.clone(), span));
                }
            }
        }
        (
            [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
            ExportTraceServiceResponse::default().encode_to_vec(),
        )
    }
    let app = axum::Router::new()
        .route("/v1/traces", post(export))
        .with_state(collected.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("binding the OTLP receiver");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, collected)
}

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string_attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attr(attributes, key)? {
        AnyValue::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key)? {
        AnyValue::IntValue(n) => Some(*n),
        _ => None,
    }
}

/// Runs `pollen run` on an instance polled every 1.2 s against the simulator, with the OTLP
/// endpoint or without; returns the first event delivered after a change, once it stopped.
async fn run_pollen(otlp: Option<&str>) -> ReceivedEvent {
    let sim = Simulator::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            records: 5,
            ..SimConfig::default()
        },
    )
    .await
    .expect("simulator");
    sim.add_authorization_code(CODE, ApiVersion::V31);
    let (receiver, mut events) = Receiver::start(b"traces-key").await.expect("receiver");
    let mut instance =
        demo_instance(&sim.handle(), &receiver.url(), "traces-key").expect("instance");
    instance["configuration"]["event.poller.refresh_interval"] = serde_json::json!("0.02");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("seed.json");
    std::fs::write(&config, instance.to_string()).expect("writing the instance");
    let db = format!("sqlite://{}", dir.path().join("pollen.db").display());

    let mut command = Command::new(env!("CARGO_BIN_EXE_pollen"));
    command
        .args(["run", "--allow-private-callbacks", "--db", &db, "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    // Without an endpoint these alone must not turn the export on.
    command
        .env("OTEL_SERVICE_NAME", "pollen")
        .env("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=not-logged");
    if let Some(endpoint) = otlp {
        command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
    }
    let child = command.spawn().expect("starting pollen run");
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.create(
        Resource::Contacts,
        &serde_json::json!({"contact_types": [{"id": "CUSTOMER"}], "name": "Ada"}),
    )
    .expect("creating a customer");
    let event = tokio::time::timeout(Duration::from_secs(15), events.recv())
        .await
        .expect("an event within 15 s")
        .expect("the receiver is running");
    assert_eq!(terminate(child).await, Some(0));
    receiver.shutdown().await;
    sim.shutdown().await;
    event
}

/// SIGTERM, then the exit code, which must come within ten seconds (the spans are flushed).
async fn terminate(mut child: Child) -> Option<i32> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    for _ in 0..100 {
        if let Some(status) = child.try_wait().expect("waiting for pollen") {
            return status.code();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    panic!("pollen run did not exit within 10 s of SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_of_polls_page_requests_commits_and_deliveries_are_exported_over_otlp() {
    let (endpoint, collected) = otlp_receiver(0).await;
    let event = run_pollen(Some(&endpoint)).await;
    let collected = collected.lock().expect("lock");
    assert!(
        !collected.paths.is_empty() && collected.paths.iter().all(|p| p == "/v1/traces"),
        "{:?}",
        collected.paths
    );
    let spans: Vec<&Span> = collected.spans.iter().map(|(_, s)| s).collect();
    assert!(collected
        .spans
        .iter()
        .all(|(service, _)| service == "pollen"));
    let named = |name: &'static str| spans.iter().filter(move |s| s.name == name).copied();

    // The poll that found the change: its commit wrote the notification, and its page
    // requests are its children in the same trace.
    let commit = named("poll.commit")
        .find(|s| int_attr(&s.attributes, "notifications").unwrap_or(0) >= 1)
        .unwrap_or_else(|| {
            panic!(
                "a poll.commit span that wrote a notification: {:?}",
                spans
                    .iter()
                    .map(|s| (&s.name, &s.attributes))
                    .collect::<Vec<_>>()
            )
        });
    assert!(int_attr(&commit.attributes, "events").unwrap_or(0) >= 1);
    let poll = named("poll")
        .find(|s| s.span_id == commit.parent_span_id && s.trace_id == commit.trace_id)
        .expect("the commit's parent is a poll span");
    assert_eq!(
        string_attr(&poll.attributes, "resource").as_deref(),
        Some(event.object_type.as_str())
    );
    let instance = string_attr(&poll.attributes, "instance").expect("the poll's instance");
    assert!(!instance.is_empty());
    assert_eq!(
        string_attr(&poll.attributes, "outcome").as_deref(),
        Some("committed")
    );
    let requests: Vec<&Span> = named("sage.request")
        .filter(|s| s.parent_span_id == poll.span_id && s.trace_id == poll.trace_id)
        .collect();
    assert!(
        !requests.is_empty(),
        "the poll's page requests are its children"
    );
    for request in &requests {
        assert_eq!(
            string_attr(&request.attributes, "method").as_deref(),
            Some("GET")
        );
        let path = string_attr(&request.attributes, "path").expect("path");
        assert!(path.starts_with("/v3.1/") && !path.contains('?'), "{path}");
        assert_eq!(int_attr(&request.attributes, "status"), Some(200));
        assert!(int_attr(&request.attributes, "page").is_some_and(|p| p >= 1));
    }

    // The delivery attempt carries the notification id the receiver got, and the instance.
    let delivery = named("delivery")
        .find(|s| {
            string_attr(&s.attributes, "notification_id").as_deref()
                == Some(event.notification_id.as_str())
        })
        .expect("a delivery span of the delivered notification");
    assert_eq!(
        string_attr(&delivery.attributes, "instance").as_deref(),
        Some(instance.as_str())
    );
    assert_eq!(int_attr(&delivery.attributes, "attempt"), Some(1));
    assert_eq!(int_attr(&delivery.attributes, "status"), Some(200));
    assert_eq!(
        string_attr(&delivery.attributes, "outcome").as_deref(),
        Some("delivered")
    );
    // Only pollen's spans: none of hyper's, sqlx's or reqwest's.
    assert!(
        spans.iter().all(|s| matches!(
            s.name.as_str(),
            "poll" | "sage.request" | "poll.commit" | "sage.token" | "delivery"
        )),
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_exported_without_an_endpoint() {
    // On the port an exporter uses when no endpoint is given (OTLP/HTTP's default), so that
    // an exporter built regardless would be seen here.
    let (_endpoint, collected) = otlp_receiver(4318).await;
    run_pollen(None).await;
    let collected = collected.lock().expect("lock");
    assert!(collected.paths.is_empty(), "{:?}", collected.paths);
}
