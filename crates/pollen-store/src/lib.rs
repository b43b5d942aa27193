//! pollen's durable store: [`pollen_core::Store`] on SQLite (embedded, the default) and on
//! PostgreSQL (several pollen processes sharing one database), with one behaviour.
//!
//! # What it keeps
//!
//! [`SqlStore`] holds, per (instance, resource), the poll state — watermark, next due time,
//! failures, lease and fencing token — and its de-duplication keys; the outbox of notifications
//! with each one's status, attempts and lease; the delivery log of every attempt; and the
//! instances themselves with their OAuth credentials ([`Instance`], [`Credentials`]).
//! The schema is created and upgraded by versioned migrations when the store opens.
//!
//! # Guarantees
//!
//! - **One transaction per poll.** [`Store::commit_poll`](pollen_core::Store::commit_poll)
//!   writes the watermark, the seen keys and the notifications all or nothing: after a crash
//!   either the new watermark and its notifications are there, or neither.
//! - **Leases with fencing.** Due polls and due notifications are claimed with an expiring
//!   lease and a token from one increasing counter. PostgreSQL claims with
//!   `FOR UPDATE SKIP LOCKED`, so concurrent workers never take one row twice and never wait
//!   on each other; SQLite claims inside a single-writer `BEGIN IMMEDIATE` transaction. A
//!   crashed worker's lease expires and another worker takes the work; a write naming a token
//!   that is no longer current fails with `LeaseLost` and changes nothing.
//! - **Bounded tables.** [`SqlStore::prune`] forgets old de-duplication keys and delivered
//!   notifications after a configurable [`Retention`], in short batches.
//! - **SQLite** runs in WAL mode with `synchronous=NORMAL` and a busy timeout; the file (and
//!   its WAL) is created with mode 0600.
//!
//! # Secrets at rest
//!
//! Instance configurations (client secret, signing secret, subscription key, signature key,
//! basic-auth password, grant code) and OAuth tokens are encrypted with AES-256-GCM under a
//! [`SecretKey`], each value bound to its row and field. The key comes from the caller —
//! `POLLEN_SECRET_KEY` read by the binary, or for an embedded database a key file created
//! beside it ([`SecretKey::load_or_create_beside`]). A database copied without the key reveals
//! no secret; opening with another key fails with
//! [`ErrorKind::KeyMismatch`] instead of producing garbage. Management-API tokens are kept as
//! SHA-256 digests only. No secret reaches `Debug` output or an error message.
//!
//! # Example
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use pollen_core::{PollCommit, PollKey, Store};
//! use pollen_store::{SecretKey, SqlStore, StoreOptions};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let db = dir.path().join("pollen.db");
//! let key = SecretKey::load_or_create_beside(&db).unwrap();
//! let url = format!("sqlite://{}", db.display());
//! let store = SqlStore::open(&url, StoreOptions::new(key)).await.unwrap();
//!
//! let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let key = PollKey::new("1", "customers");
//! store.register(&key, t0, t0).await.unwrap();
//! let claimed = store.claim_due("worker-a", t0, TimeDelta::minutes(5), 10).await.unwrap();
//! let token = claimed[0].lease.as_ref().unwrap().token;
//! store
//!     .commit_poll(PollCommit {
//!         window: Vec::new(),
//!         checkpoints: Vec::new(),
//!         ended_chains: Vec::new(),
//!         key: key.clone(),
//!         lease_token: token,
//!         watermark: t0,
//!         next_due: t0 + TimeDelta::minutes(15),
//!         seen: vec![],
//!         notifications: vec![],
//!         prune_before: None,
//!         known: vec![],
//!         reconciled: None,
//!     })
//!     .await
//!     .unwrap();
//! assert_eq!(store.load(&key).await.unwrap().unwrap().completed_polls, 1);
//!
//! // The same commit again is fenced off: the lease was released by the first.
//! let again = PollCommit {
//!     window: Vec::new(),
//!     checkpoints: Vec::new(),
//!     ended_chains: Vec::new(),
//!     key: key.clone(),
//!     lease_token: token,
//!     watermark: t0,
//!     next_due: t0,
//!     seen: vec![],
//!     notifications: vec![],
//!     prune_before: None,
//!     known: vec![],
//!     reconciled: None,
//! };
//! let err = store.commit_poll(again).await.unwrap_err();
//! assert_eq!(err.kind(), pollen_core::ErrorKind::LeaseLost);
//! # });
//! ```

mod alert;
mod checkpoint;
mod error;
mod instance;
mod key;
mod keys;
mod options;
mod overview;
mod postgres;
mod replay;
mod shared;
mod sqlite;
mod store;

pub use alert::{
    Alert, AlertChanges, AlertDelivery, AlertEvent, AlertKind, AlertOutcome, AlertSettings,
    AlertTarget,
};
pub use checkpoint::CheckpointChain;
pub use error::{Error, ErrorKind, Result};
pub use instance::{Credentials, Instance, InstanceStatus, InstanceToken};
pub use key::SecretKey;
pub use keys::{KeyScheme, RetiredKey};
pub use options::{DatabaseUrl, PruneReport, Retention, Rewound, StoreOptions};
pub use overview::OutboxHealth;
pub use replay::{Replay, ReplayFilter, ReplayState, EVENT_TYPES};
pub use store::{Backend, SqlStore};
