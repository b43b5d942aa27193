//! A local callback receiver: accepts notifications on `127.0.0.1`, verifies each
//! `Elements-Webhook-Signature` on the raw body, and hands every event over a channel.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, ErrorKind, Result};

/// The path notifications are POSTed to.
pub const RECEIVER_PATH: &str = "/events";

/// One event as the receiver got it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    /// The notification's `Elements-Webhook-Id`.
    pub notification_id: String,
    /// The event's stable `eventId`.
    pub event_id: String,
    /// `CREATED`, `UPDATED` or `DELETED`.
    pub event_type: String,
    /// The resource (`customers`).
    pub object_type: String,
    /// The record id.
    pub object_id: String,
    /// The record's `deleted_at` (DELETED) or `updated_at`, as the poller read it.
    pub changed_at: Option<DateTime<Utc>>,
    /// When the receiver got it.
    pub received_at: DateTime<Utc>,
    /// Whether the notification's signature was present and right.
    pub signature_valid: bool,
}

#[derive(Debug)]
struct ReceiverState {
    signature_key: Vec<u8>,
    events: mpsc::UnboundedSender<ReceivedEvent>,
}

/// A running receiver; dropping it stops the server.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Listens on `127.0.0.1:0`; events arrive on the returned channel.
    pub async fn start(
        signature_key: &[u8],
    ) -> Result<(Receiver, mpsc::UnboundedReceiver<ReceivedEvent>)> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(Error::wrap(ErrorKind::Io, "binding the callback receiver"))?;
        let addr = listener.local_addr().map_err(Error::wrap(
            ErrorKind::Io,
            "the callback receiver's address",
        ))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(ReceiverState {
            signature_key: signature_key.to_vec(),
            events: tx,
        });
        let app = Router::new()
            .route(RECEIVER_PATH, post(receive))
            .with_state(state);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "the callback receiver stopped");
            }
        });
        Ok((
            Receiver {
                addr,
                stop: Some(stop_tx),
                task: Some(task),
            },
            rx,
        ))
    }

    /// `http://127.0.0.1:PORT/events`.
    pub fn url(&self) -> String {
        format!("http://{}{RECEIVER_PATH}", self.addr)
    }

    /// Stops accepting and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Compares in constant time (for equal lengths), so a forger learns nothing from timing.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let received_at = Utc::now();
    let expected = pollen_callback::elements_signature(&state.signature_key, &body);
    let signature_valid = headers
        .get("elements-webhook-signature")
        .is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()));
    let notification_id = headers
        .get("elements-webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    for event in parse_events(&payload) {
        let _ = state.events.send(ReceivedEvent {
            notification_id: notification_id.clone(),
            received_at,
            signature_valid,
            ..event
        });
    }
    if signature_valid {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// The events of a notification body, each with the change time read from its raw record
/// (`notification_id`, `received_at` and `signature_valid` are left for the caller to fill).
pub fn parse_events(payload: &Value) -> Vec<ReceivedEvent> {
    let message = &payload["message"];
    let Some(events) = message["events"].as_array() else {
        return Vec::new();
    };
    let raw = &message["raw"];
    events
        .iter()
        .map(|event| {
            let text = |name: &str| event[name].as_str().unwrap_or_default().to_owned();
            let object_type = text("objectType");
            let object_id = text("objectId");
            let event_type = text("eventType");
            let record = raw[object_type.as_str()].as_array().and_then(|records| {
                records.iter().find(|r| {
                    r["objectId"].as_str() == Some(object_id.as_str())
                        && r["eventType"].as_str() == Some(event_type.as_str())
                })
            });
            let field = if event_type == "DELETED" {
                "deleted_at"
            } else {
                "updated_at"
            };
            let changed_at = record
                .and_then(|r| r[field].as_str())
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc));
            ReceivedEvent {
                notification_id: String::new(),
                event_id: text("eventId"),
                event_type,
                object_type,
                object_id,
                changed_at,
                received_at: Utc::now(),
                signature_valid: false,
            }
        })
        .collect()
}
