//! The generic poller core of pollen: scheduling, watermarks, classification, de-duplication
//! and the outbox contract.
//!
//! pollen turns APIs that can only answer "which records changed since T" into change-event
//! webhooks. This crate is the part that decides *what* changed and makes sure every change is
//! reported exactly once to the outbox, whatever crashes, faults and clock skew happen. It knows
//! no HTTP, no SQL and no vendor: it is generic over three traits.
//!
//! - [`Source`] fetches pages of records changed since an instant (and, optionally, deletions).
//!   `pollen-sage` implements it over Sage's HTTP API; [`testing::FakeSource`] (feature
//!   `testing`) is an in-memory vendor with a skewable clock.
//! - [`Store`] keeps per-(instance, resource) [`PollState`] (watermark, next due, failures,
//!   lease), the seen change keys and the notification outbox. [`MemoryStore`] ships here;
//!   `pollen-store` implements SQLite and PostgreSQL, and checks itself against
//!   [`testing::conformance`].
//! - [`Clock`]: [`SystemClock`], or [`ManualClock`] so tests run a month of polling in
//!   milliseconds.
//!
//! # Semantics (see `docs/polling.md`)
//!
//! A poll of a key with watermark `W` expands its request with `since = W − pollDelay −
//! overlap`, walks every page, and takes its start `S` from the vendor's `Date` header (minus
//! the first request's round trip) or from our clock. Records are classified by
//! [`Classifier`]: no id → skipped and counted; updated before the spec's `start` →
//! pre-existing, never fired; updated before `since` → dropped when `filterByUpdatedDate`;
//! updated after `S` → dropped when `filterByCurrentDate`; created and updated within
//! `createdCheckTolerance` → CREATED, else UPDATED; an unreadable date → UPDATED and a warning.
//! Each change gets a [`StableId`] from its key (instance, resource, objectId, eventType,
//! updated value as returned); changes already seen are suppressed. The survivors become
//! [`Notification`]s of at most ten events, and one [`Store::commit_poll`] writes the new
//! watermark `S`, the seen keys and the notifications together — or nothing, if the lease
//! was lost. If the walk saw a record updated after `S` or `$total` changed, pages may have
//! shifted: the watermark stays at `W` and the next poll re-reads the window.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use pollen_core::{
//!     DateField, FieldPath, ManualClock, MemoryStore, OutboxFilter, PollKey, PollSpec,
//!     RequestTemplate, Rfc3339Dates, Scheduler, SchedulerConfig, Store,
//! };
//! use pollen_core::testing::FakeSource;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let created = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
//! let clock = ManualClock::new(created);
//! let store = Arc::new(MemoryStore::new());
//! let source = Arc::new(FakeSource::new(clock.clone()));
//!
//! let mut spec = PollSpec::new(
//!     PollKey::new("42", "customers"),
//!     RequestTemplate::literal("/hubs/finance/customers"),
//!     created,
//! );
//! spec.updated = Some(DateField::new(FieldPath::parse("updated_at")?, Rfc3339Dates));
//! spec.created = Some(DateField::new(FieldPath::parse("created_at")?, Rfc3339Dates));
//!
//! let scheduler = Scheduler::new(store.clone(), Arc::new(clock.clone()), SchedulerConfig::new("worker-1"));
//! scheduler.register(spec, source.clone()).await?;
//!
//! clock.advance(TimeDelta::minutes(5));
//! source.upsert("c-1", serde_json::json!({"name": "Ada"}));
//! clock.advance(TimeDelta::minutes(15));
//! scheduler.run_due().await?;
//!
//! let outbox = store.list_outbox(&OutboxFilter::default()).await?;
//! assert_eq!(outbox.len(), 1);
//! let body = outbox[0].notification.payload();
//! assert_eq!(body["message"]["events"][0]["eventType"], "CREATED");
//! assert_eq!(body["message"]["events"][0]["objectId"], "c-1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod budget;
mod change;
mod checkpoint;
mod clock;
mod error;
mod from_config;
mod memory;
mod metrics;
mod notification;
mod poll;
mod reconcile;
mod scheduler;
mod source;
mod spec;
mod store;
mod subscription;

#[cfg(feature = "testing")]
pub mod testing;

pub use budget::{RateBucket, RateTake};
pub use change::{Change, Classifier, EventType, StableId, Tally, Window};
pub use checkpoint::checkpoint_digest;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ErrorKind, Result};
pub use memory::MemoryStore;
pub use metrics::{EventCount, Metrics, MetricsSnapshot};
pub use notification::{
    build_notifications, build_notifications_after, lane, notification_id, notification_id_after,
    notification_id_for, split_lane, Notification, MAX_EVENTS_PER_NOTIFICATION,
};
pub use poll::{backoff, next_slot, phase, PollSummary};
pub use scheduler::{PollReport, Renewal, Scheduler, SchedulerConfig};
pub use source::{
    DeletedPage, DeletedRecord, FetchRequest, IdPage, IdRequest, Lookup, Page, Purpose, Source,
};
pub use spec::{
    DateField, DateParseError, DateParser, EpochMillis, FieldPath, InstanceInfo, PollKey, PollSpec,
    RequestTemplate, Rfc3339Dates, TemplateDates,
};
pub use store::{
    AttemptOutcome, AttemptRecord, CheckpointHead, DeliveryAttempt, Lease, OutboxEntry,
    OutboxFilter, OutboxStatus, PollCommit, PollFailure, PollProgress, PollState, Reconciled,
    ReleasedWork, SeenChange, Store, WindowEvent, Worker, WorkerStatus, RESPONSE_EXCERPT_LIMIT,
};
pub use subscription::SubscriptionFilter;
