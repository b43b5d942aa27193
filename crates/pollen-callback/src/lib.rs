//! Notification delivery for pollen: signed POSTs to each instance's callback, retried on the
//! vendor's schedule, never dropped.
//!
//! The poller core writes every notification into the outbox of a [`pollen_core::Store`] in
//! the same transaction as the watermark. This crate drains that outbox. A [`Sender`] claims due
//! notifications with a lease (a fencing token makes a worker that lost its lease unable to
//! record anything), POSTs each to its instance's [`Endpoint`], and records the outcome and the
//! attempt — time, status, latency, the first 4 KiB of the response — in the store's delivery
//! log. Outcomes are written in batches ([`pollen_core::Store::record_attempts`]): one writer
//! records whatever outcomes gathered while it wrote the previous batch, so a backlog costs
//! one store transaction per batch rather than one per notification; a delivery's slot is
//! freed only once its outcome is committed.
//!
//! # The request
//!
//! The body is the notification's `body`, byte for byte: what was rendered at commit is what
//! is signed and sent, on every attempt. Headers: `Content-Type: application/json`,
//! `User-Agent: pollen/<version>`, `Elements-Webhook-Id: <notification id>`, and
//! `Elements-Webhook-Signature: sha256=<base64 HMAC-SHA256(key, body)>` when the instance has
//! `event.notification.signature.key` ([`elements_signature`]). An instance that sets
//! [`STANDARD_WEBHOOKS_SECRET_KEY`] also gets `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,...` ([`StandardWebhooksSecret`]). Basic authentication and the extra
//! headers of `event.notification.callback.headers` are added; extra headers cannot replace
//! the headers above. [`request_headers`] builds the list.
//!
//! # Outcomes
//!
//! A 2xx within the timeout (30 s by default) is delivered. Anything else — 3xx included:
//! redirects are not followed — is a failure, retried on the [`RetryPolicy`]: by default the
//! vendor's 4ⁿ s after the first failure for n = 1..9, ±20 % jitter; `Retry-After` is honoured
//! up to a cap, and a 429 or a timeout waits at least a minimum. A 410 Gone deactivates the
//! instance's subscription at once, and so does the failure of the last retry: the notification
//! is queued, and so is every later one of that instance (the store does that at commit), until
//! [`redeliver`] re-activates the subscription and requeues them. Nothing is dropped.
//!
//! # Isolation
//!
//! Each instance's endpoint has at most [`SenderConfig::per_endpoint_limit`] requests in flight
//! (default 4), all of them at most [`SenderConfig::global_limit`]. Claims skip the instances
//! at their limit and take at most that limit of any one instance
//! ([`pollen_core::Store::claim_outbox_skipping`]), so a slow or dead endpoint's backlog never
//! delays the others and claimed notifications do not wait long under lease for their turn. Delivery order is not promised; receivers de-duplicate on
//! the notification id, which is the same on every attempt.
//!
//! # Other messages
//!
//! A [`Poster`] makes single signed POSTs with the same headers, guard and timeout, for
//! messages whose state the caller keeps (pollen's operational alerts).
//!
//! # SSRF guard
//!
//! The [`AddressPolicy`] refuses loopback, private, link-local, carrier-grade NAT, metadata and
//! the other internal ranges, checked on the address actually connected to: a DNS resolver
//! inside the HTTP client drops refused addresses (so DNS rebinding cannot slip one in), IP
//! literals are checked before the request, proxies are not used. The refusal is the attempt's
//! error in the delivery log. An allow-list of [`Cidr`]s, or [`AddressPolicy::allow_private`],
//! opens it.
//!
//! # Example
//!
//! A notification for a callback on `127.0.0.1` is refused by the default policy, and the
//! delivery log says why:
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use pollen_callback::{Endpoint, EndpointMap, Sender, SenderConfig};
//! use pollen_core::{
//!     ManualClock, MemoryStore, Notification, OutboxFilter, OutboxStatus, PollCommit, PollKey,
//!     StableId, Store,
//! };
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
//! let clock = ManualClock::new(t0);
//! let store = Arc::new(MemoryStore::new());
//!
//! // What the poller core does at commit: the notification enters the outbox.
//! let key = PollKey::new("42", "customers");
//! store.register(&key, t0, t0).await?;
//! let lease = store.claim_due("poller", t0, TimeDelta::minutes(1), 1).await?[0].fencing_token;
//! let id = StableId([7; 16]);
//! let notification = Notification {
//!     id, key: key.clone(), created_at: t0, event_ids: vec![], body: r#"{"id":"x"}"#.into(),
//!     subscription: None,
//! };
//! store.commit_poll(PollCommit {
//!     window: Vec::new(),
//!     checkpoints: Vec::new(),
//!     ended_chains: Vec::new(),
//!     key, lease_token: lease, watermark: t0, next_due: t0 + TimeDelta::minutes(15),
//!     seen: vec![], notifications: vec![notification], prune_before: None, known: vec![],
//!     reconciled: None,
//! }).await?;
//!
//! let endpoints = Arc::new(EndpointMap::new());
//! endpoints.insert("42", Endpoint::new("http://127.0.0.1:9/events")?);
//! let sender = Sender::new(store.clone(), endpoints, Arc::new(clock), SenderConfig::new("sender-1"))?;
//! assert_eq!(sender.deliver_due().await?, 1);
//!
//! let log = store.list_attempts(&id).await?;
//! assert_eq!(
//!     log[0].error.as_deref(),
//!     Some("refused to connect to 127.0.0.1: loopback (127.0.0.0/8) addresses are blocked for \
//!           callbacks (allow the network in the callback allow-list, or use \
//!           --allow-private-callbacks)"),
//! );
//! let entry = &store.list_outbox(&OutboxFilter::default()).await?[0];
//! assert_eq!(entry.status, OutboxStatus::Pending); // retried in about 4 s
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod attempt;
mod endpoint;
mod error;
mod guard;
mod poster;
mod retry;
mod sender;
mod sign;

pub use attempt::{request_headers, USER_AGENT_VALUE};
pub use endpoint::{
    Endpoint, EndpointMap, Endpoints, PREVIOUS_SIGNATURE_HEADER, STANDARD_WEBHOOKS_SECRET_KEY,
};
pub use error::{Error, ErrorKind, Result};
pub use guard::{AddressPolicy, BlockedAddress, Cidr};
pub use poster::{PostOutcome, Poster};
pub use retry::RetryPolicy;
pub use sender::{redeliver, Redelivery, Sender, SenderConfig, SenderStats};
pub use sign::{elements_signature, StandardWebhooksSecret};
