//! For receivers of pollen's webhooks: verify the signatures, drop duplicates, and *know*
//! that nothing was lost.
//!
//! This crate depends on no other pollen crate (`cargo xtask tidy` enforces it), so a
//! receiver written in Rust can use it on its own. It has three parts:
//!
//! - **Signatures.** A [`Verifier`] holds the receiver's keys and checks both schemes pollen
//!   signs with: `Elements-Webhook-Signature` (`sha256=` + base64 HMAC-SHA256 of the body,
//!   and during a key rotation `Elements-Webhook-Signature-Previous`) and Standard Webhooks
//!   v1 (`webhook-id`, `webhook-timestamp`, `webhook-signature`, several space-separated
//!   signatures during a rotation), the timestamp within a tolerance (five minutes by
//!   default) of the caller's clock. Comparisons are constant-time; keys never appear in
//!   `Debug` output or errors.
//! - **Duplicates.** Delivery is at least once. [`Dedup`] remembers a bounded number of ids
//!   (notification ids, event ids), forgetting the oldest first, in O(1) per check.
//! - **Checkpoints.** In a lane with checkpoints on, pollen closes each poll's window of a
//!   resource with a checkpoint notification: how many distinct event ids the window had and
//!   their [`digest`], and the previous checkpoint's id, so checkpoints form a chain per
//!   (instance, resource, lane) — a [`ChainKey`]. Each event notification says which window
//!   it belongs to (`message.checkpoint.after`). A [`Ledger`] takes every notification in any
//!   order, any number of times, and [`Ledger::report`] says per chain which windows are
//!   complete, which are not (expected against received, digest), which checkpoints are
//!   missing, which events wait for a checkpoint that has not come (pending, or behind a
//!   gap), and — once missing events are redelivered — exactly which ids were late.
//!
//! `docs/events.md` specifies the format and the digest for receivers in other languages;
//! `pollen verify --log FILE` runs this crate over a log of received notifications.
//!
//! # Example
//!
//! A window of two events, one of which is lost and then redelivered:
//!
//! ```
//! use pollen_receiver::{digest, Ledger, Verifier, Headers};
//!
//! let (e1, e2) = ("0b6a3c1e-52f4-8d2a-9c11-6f0e2d7b4a90", "5d2c4f70-1b2a-8c3d-9e4f-a1b2c3d4e5f6");
//! let events = |id: &str| format!(
//!     r#"{{"action":"create","id":"n-{id}","message":{{"instanceId":42,
//!        "checkpoint":{{"after":null,"objectType":"contacts","subscription":"callback"}},
//!        "events":[{{"eventId":"{id}","eventType":"CREATED","objectId":"c-1","objectType":"contacts"}}]}}}}"#);
//! let checkpoint = format!(
//!     r#"{{"action":"checkpoint","id":"cp-1","message":{{"instanceId":42,"eventId":"cp-1","events":[],
//!        "checkpoint":{{"id":"cp-1","previous":null,"sequence":1,"events":2,"digest":"{}",
//!          "from":"2026-03-02T09:00:00.000Z","to":"2026-03-02T09:15:00.000Z",
//!          "objectType":"contacts","subscription":"callback"}}}}}}"#,
//!     digest([e1, e2]));
//!
//! let mut ledger = Ledger::new();
//! ledger.observe(events(e1).as_bytes())?;
//! ledger.observe(checkpoint.as_bytes())?;
//! ledger.observe(checkpoint.as_bytes())?; // a duplicate changes nothing
//! let report = ledger.report();
//! assert!(!report.is_complete());
//! let window = &report.chains[0].incomplete[0];
//! assert_eq!((window.expected, window.received), (2, 1));
//!
//! ledger.observe(events(e2).as_bytes())?; // redelivered
//! let report = ledger.report();
//! assert!(report.is_complete());
//! assert_eq!(report.late_ids(), [e2]);
//!
//! // Signatures: a body signed with the vendor's scheme.
//! let verifier = Verifier::new().with_elements_key("Jefe")?;
//! let headers: Headers = [("Elements-Webhook-Signature",
//!     "sha256=W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=")].into_iter().collect();
//! assert!(verifier.verify(&headers, b"what do ya want for nothing?", 0).is_ok());
//! assert!(verifier.verify(&headers, b"what do ya want for nothing!", 0).is_err());
//! # Ok::<(), pollen_receiver::Error>(())
//! ```

mod dedup;
mod digest;
mod error;
mod ledger;
mod notification;
mod sign;

pub use dedup::Dedup;
pub use digest::{digest, EMPTY_DIGEST};
pub use error::{Error, ErrorKind, Result};
pub use ledger::{
    ChainKey, ChainReport, Conflict, Ledger, MissingCheckpoint, Observed, Report, Waiting,
    WaitingCause, WindowReport,
};
pub use notification::{Checkpoint, CheckpointTag, Event, Notification, Payload};
pub use sign::{
    Headers, Scheme, Verified, Verifier, DEFAULT_TOLERANCE, PREVIOUS_SIGNATURE_HEADER,
    SIGNATURE_HEADER, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
};
