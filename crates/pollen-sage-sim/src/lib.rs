//! A stateful Sage Business Cloud Accounting API simulator, for tests, demos and benchmarks.
//!
//! Nobody can try or test a Sage poller without a Sage account unless something stands in for
//! Sage. This crate is that stand-in: an HTTP server on `127.0.0.1` that answers like Sage where
//! it matters to a poller, awkward parts included.
//!
//! # What it serves
//!
//! Both API generations on one server, over the same records:
//!
//! - **v3.1** under `/v3.1/{resource}` with `Authorization: Bearer`, optional `X-Business`
//!   (one of the user's [`SimConfig::businesses`], each with its own records; the lead without
//!   it), and `/v3.1/businesses` listing them in Sage's shape;
//! - **v3** ("Columbus") under `/{region}/sageone/accounts/v3/{resource}` for the regions
//!   `us ca uki de es fr`, which also needs `Ocp-Apim-Subscription-Key` and `X-Site` (the
//!   token's `resource_owner_id`, or another of the user's businesses) and, when
//!   [`SimConfig::verify_signatures`] is on, a correct `X-Signature`/`X-Nonce` pair
//!   ([`v3_signature`] computes one); its core API's `/{region}/sageone/core/v3/businesses`;
//! - OAuth 2 at `POST /token` (also `/oauth2/token`): single-use authorization codes that expire
//!   after 60 s, access tokens that expire after [`SimConfig::token_lifetime`] (default 300 s),
//!   rotating refresh tokens, `{"error":"invalid_grant"}` for a bad code or refresh token;
//!   `POST /revoke`; and `GET /oauth2/auth/central`, a consent screen that approves at once.
//!
//! The resources ([`Resource`]) are contacts (with `contact_types` and the `contact_type_id`
//! filter), sales and purchase invoices, contact payments, products, services, ledger accounts,
//! bank accounts, tax rates and journals, with realistic fields and `created_at`, `updated_at`,
//! `deleted_at` as second-precision UTC `Z` timestamps.
//!
//! Lists take `page`, `items_per_page` (default 20; above 200 is a 422 in Sage's error shape),
//! `attributes` (only `id`, `displayed_as` and `$path` unless asked; `all`),
//! `updated_or_created_since` (inclusive) and `deleted_since` (exclusive; ignored by
//! `ledger_accounts` and `tax_rates`, like Sage). They answer with Sage's envelope (`$total`,
//! `$page`, `$next`, `$back`, `$itemsPerPage`, `$items`); `$next` is null on the last page and a
//! page past the end returns the last page again. Records come in insertion order, unsorted like
//! Sage's `/contacts`, so a change in the middle of a client's page walk shifts later pages.
//! Errors are Sage's top-level array: `[{"$severity","$dataCode","$message","$source"}]`.
//!
//! # Ground truth and control
//!
//! The simulator keeps a change log ([`Change`]) of every create, update and delete it made,
//! with timestamps from its own clock, which tests can stop, set and advance ([`ClockMode`]).
//! Faults ([`Fault`]) make the next N requests, or a seeded random share of them, answer 429
//! (with or without `Retry-After`), 500 or 503, answer slowly, answer with malformed JSON, drop
//! the connection or revoke the token. An activity generator ([`ActivityConfig`]) changes
//! records at a steady rate; request counters ([`RequestCounts`]) count every request per
//! endpoint and status, and a request log ([`LoggedRequest`]) records each API request with its
//! token family, `User-Agent`, start and end instants, so a test can tell which client polled
//! what, and whether two polled the same thing at once. A rate limit
//! ([`SimConfig::rate_limit`], off by default; Sage v3's is 200 a minute) answers 429 with
//! `Retry-After` to a business's calls beyond it in any trailing minute, and the calls of each
//! business are counted ([`BusinessCalls`]: accepted, rejected, the busiest minute), so a test
//! can show a client keeps to its rate budget. All of this is available from Rust on
//! [`SimHandle`] and over HTTP under `/_sim/...` (see `docs/sage-sim.md`).
//!
//! # Determinism
//!
//! The same [`SimConfig::seed`] and [`SimConfig::records`] always give the same records: ids,
//! names, amounts and timestamps. Seeded timestamps fall in the 90 days before the fixed
//! [`SimConfig::seed_epoch`] (default `2025-01-01T00:00:00Z`), never relative to the clock.
//! Records created later get ids from a generator seeded by the same seed, so a test making the
//! same changes in the same order gets the same ids; their timestamps come from the clock.
//!
//! # Example
//!
//! ```
//! use pollen_sage_sim::{ApiVersion, SimConfig, Simulator};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SimConfig { records: 30, ..SimConfig::default() };
//! let sim = Simulator::start("127.0.0.1:0".parse()?, config).await?;
//!
//! // Exchange an authorization code like a client would.
//! let code = sim.authorization_code(ApiVersion::V31);
//! let client = reqwest::Client::new();
//! let tokens: serde_json::Value = client
//!     .post(sim.token_url())
//!     .form(&[("grant_type", "authorization_code"), ("code", code.as_str())])
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! let access_token = tokens["access_token"].as_str().unwrap_or_default();
//!
//! let page: serde_json::Value = client
//!     .get(format!("{}/contacts?items_per_page=25", sim.v31_base_url()))
//!     .bearer_auth(access_token)
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(page["$total"], 30);
//! assert_eq!(page["$items"].as_array().map(Vec::len), Some(25));
//! assert_eq!(page["$next"], "/contacts?page=2&items_per_page=25");
//!
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod activity;
mod api;
mod auth;
mod businesses;
mod clock;
mod control;
mod counters;
mod error;
mod faults;
mod generate;
mod limits;
mod requests;
mod resource;
mod server;
mod signing;
mod store;

pub use activity::ActivityConfig;
pub use auth::{ApiVersion, TokenSet};
pub use businesses::SimBusiness;
pub use clock::ClockMode;
pub use counters::RequestCounts;
pub use error::{SimError, SimErrorKind};
pub use faults::{Fault, FaultKind, FaultTrigger};
pub use limits::BusinessCalls;
pub use requests::LoggedRequest;
pub use resource::Resource;
pub use server::{RunningSim, SimConfig, SimHandle, Simulator};
pub use signing::v3_signature;
pub use store::{Change, ChangeKind, Record, RecordOrder};
