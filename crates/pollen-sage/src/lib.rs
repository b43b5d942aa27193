//! The Sage Business Cloud Accounting connector: pollen-core's [`Source`](pollen_core::Source)
//! over Sage's HTTP API.
//!
//! An Open Connectors poller resource is a *hub* URL such as
//! `/hubs/finance/customers?where=lastModifiedDate>='2026-11-27T10:00:00Z' and attributes='created_at,updated_at'`.
//! [`SageSource`] turns each such request (already expanded by the core for the poll's window)
//! into Sage requests, walks their pages, keeps the instance's OAuth tokens alive and survives
//! what Sage's API does wrong.
//!
//! # Hub resources
//!
//! [`HUB_RESOURCES`] maps the finance-hub names to Sage endpoints (`customers` →
//! `/contacts?contact_type_id=CUSTOMER`, `invoices` → `/sales_invoices`, `journal-entries` →
//! `/journals` …) and says which take `deleted_since`. An unknown name is an
//! [`ErrorKind::UnknownResource`] error listing the known ones, raised when the source is
//! built from an instance.
//!
//! # CEQL → Sage
//!
//! [`Translation`] splits a where clause (its top-level `AND`s) in two. What Sage filters goes
//! into query parameters: `lastModifiedDate >= X` (or `>`, or `updated_at`) becomes
//! `updated_or_created_since`; `attributes='a,b'` becomes `attributes=a,b`, always with the
//! configured date fields added; equalities on Sage's filters ([`SAGE_FILTERS`]: `search`,
//! `contact_type_id`, `visible_in` …) pass through. Everything else — `OR`, `LIKE`, `!=`,
//! comparisons, and equalities on record fields (also sent to Sage, which may ignore them) —
//! is the *residual*, evaluated on every record with pollen-template's [`Expr::eval`]
//! (`lastModifiedDate` read as `updated_at`), so the records returned are exactly what the
//! clause says. [`translate`] is what `pollen where translate` prints.
//!
//! # Both API generations
//!
//! v3.1 (the default): `https://api.accounting.sage.com/v3.1`, a Bearer token and an optional
//! `X-Business`. v3 ("Columbus"): the per-country base URL and token endpoint,
//! `Ocp-Apim-Subscription-Key`, `X-Site` (the token's `resource_owner_id`), and every request
//! signed with `X-Signature` / `X-Nonce`. `base.url` and `oauth.token.url` override the
//! defaults ([`SageSettings`]).
//!
//! # Businesses
//!
//! A Sage user may reach several businesses. [`SageSource::businesses`] lists them
//! ([`Business`]: id, name, whether it is the lead): v3.1 `GET /businesses` and
//! `/businesses/lead`, v3 the core API's `/businesses`. `sage.business.id` (v3.1) sends
//! `X-Business` on every poll request; without it Sage answers for the lead business.
//!
//! # Tokens
//!
//! The caller supplies a [`TokenStore`] (pollen-store's database; [`MemoryTokenStore`] in
//! tests). On first use the source loads the tokens, or saves `providerData`'s, or exchanges
//! `providerData.code` once. Access tokens live five minutes: they are refreshed shortly before
//! expiry and on a 401, at most one refresh in flight per instance, and every rotated pair is
//! saved before it is used; a pair another process rotated in the shared store is taken
//! instead of refreshing with a spent token. A refused grant (`invalid_grant`, `invalid_client`) or Sage's "no
//! active subscription" turns the source to [`AuthStatus::NeedsReauthorization`]: from then on
//! it fails at once, without calling Sage, until [`SageSource::exchange_code`] or
//! [`SageSource::set_tokens`]. Tokens and secrets never appear in logs, errors or `Debug`.
//!
//! # Paging and faults
//!
//! `items_per_page` is the resource's `pageSize` (default and maximum 200). The walk follows
//! `$next` only, and stops when Sage repeats a page (it answers a page past the end with the
//! last page again). 429 and 503 honour `Retry-After`, else back off exponentially with
//! jitter; other 5xx and connection errors are retried a bounded number of times
//! ([`RetryPolicy`]); other 4xx fail at once with Sage's error array in the [`Error`]
//! (`$dataCode`, `$message`). Requests have a timeout and bodies a size cap. Each page reports
//! the response's `Date` header as its `server_time`, so Sage's clock sets the watermark.
//!
//! See `docs/sage.md` for the tables and the decisions.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use pollen_config::InstanceConfig;
//! use pollen_sage::{translate, MemoryTokenStore, SageSource};
//!
//! // What a clause becomes: Sage's part, and the residual evaluated client-side.
//! let t = translate(
//!     "customers",
//!     "lastModifiedDate >= '2026-11-27T10:00:00Z' AND attributes='name' AND name LIKE 'A%'",
//! )?;
//! assert_eq!(t.resource.path, "/contacts");
//! assert_eq!(
//!     t.query(),
//!     "contact_type_id=CUSTOMER&updated_or_created_since=2026-11-27T10:00:00Z&attributes=name"
//! );
//! assert_eq!(t.residual.map(|r| r.to_string()).as_deref(), Some("name LIKE 'A%'"));
//!
//! // A source for an instance (nothing is sent until the core fetches a page).
//! let instance = r#"{
//!   "element": {"key": "sageone"},
//!   "providerData": {"code": "one-time-code"},
//!   "configuration": {
//!     "oauth.api.key": "client-id", "oauth.api.secret": "client-secret",
//!     "oauth.callback.url": "https://example.com/callback",
//!     "event.notification.enabled": "true",
//!     "event.notification.callback.url": "https://example.com/events",
//!     "event.poller.configuration": {"customers": {
//!       "url": "/hubs/finance/customers?where=lastModifiedDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
//!       "datesConfiguration": {"updatedDateField": "updated_at", "createdDateField": "created_at"}
//!     }}
//!   },
//!   "name": "demo"
//! }"#;
//! let instance = InstanceConfig::from_json_str(instance).expect("valid").config;
//! let source = SageSource::from_instance(&instance, Arc::new(MemoryTokenStore::new()))?.build()?;
//! assert_eq!(source.settings().base_url.as_str(), "https://api.accounting.sage.com/v3.1");
//! let t = source.translation("customers", "/hubs/finance/customers?where=lastModifiedDate>='2026-11-27T10:00:00Z'")?;
//! assert_eq!(t.attributes.as_deref(), Some("updated_at,created_at"));
//! # Ok::<(), pollen_sage::Error>(())
//! ```
//!
//! [`Expr::eval`]: pollen_template::Expr::eval

mod auth;
mod budget;
mod client;
mod error;
mod resources;
mod settings;
mod signing;
mod source;
mod translate;

pub use auth::{AuthStats, AuthStatus, MemoryTokenStore, TokenStore, Tokens};
pub use budget::{BudgetStore, BudgetUsage, MemoryBudgetStore, RateBudget, DEFAULT_RATE_LIMIT};
pub use error::{ApiError, Error, ErrorKind, Result};
pub use resources::{hub_resources_markdown, HubResource, HUB_RESOURCES};
pub use settings::{
    v3_base_url, v3_region, v3_token_url, RetryPolicy, SageSettings, V31_BASE_URL, V31_TOKEN_URL,
};
pub use source::{Business, SageSource, SageSourceBuilder, MAX_ITEMS_PER_PAGE};
pub use translate::{translate, Translation, SAGE_FILTERS};
