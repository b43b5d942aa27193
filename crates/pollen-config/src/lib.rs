//! The SAP Open Connectors instance JSON, typed and validated, with errors a person can act on.
//!
//! pollen accepts the body of the vendor's `POST /instances` unchanged. This crate turns that
//! JSON into an [`InstanceConfig`]: the connector ([`ElementKey`]), the OAuth grant code or tokens
//! ([`ProviderData`]), and a [`Configuration`] grouped by concern — the OAuth client, the Sage API
//! generation and its credentials, where notifications go, and what is polled how often.
//!
//! # Reading leniently, reporting everything
//!
//! The vendor stores every configuration value as a string, so `true` and `"true"`, `15` and
//! `"15"` mean the same; `event.poller.configuration` may be an object or that object
//! JSON-encoded in a string; the legacy `event.poller.urls` pipe format is migrated to the same
//! types. Keys pollen does not know are kept ([`Extra`]) and reported as warnings, with a
//! "did you mean" when one is close to a known key.
//!
//! Loading never stops at the first problem: [`InstanceConfig::from_json_str`] returns either a
//! [`Loaded`] configuration with every warning, or [`ConfigErrors`] with every problem. Each
//! [`Problem`] carries an RFC 6901 JSON Pointer into the input, a message, a [`Severity`], and for
//! URLs and where clauses an excerpt with a caret; text that is not JSON gets a line and column.
//! [`Problem::render`] prints the `pollen validate` line: `FILE:/json/pointer: message`.
//!
//! # Defaults in one place
//!
//! [`schema::KEYS`] documents every key: accepted values, default, example. The loader takes its
//! known keys from it, and reads a missing key's default *through the same code as a user's
//! value*, so the documented default is the applied one. `cargo xtask codegen` renders the table
//! as `docs/configuration.md`.
//!
//! # Secrets
//!
//! Client secret, signing secret, subscription key, notification signature key, Standard
//! Webhooks secret, basic-auth password, grant code and tokens are [`Secret`]s: `Debug` and
//! `Display` print `***`, and [`Secret::expose`] is the one way to the value. Problems never
//! quote a secret.
//! [`InstanceConfig::to_json`] writes the configuration back in the vendor's shape, secrets
//! masked ([`Secrets::Mask`], for display) or not ([`Secrets::Expose`], for storage).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use pollen_config::{InstanceConfig, Severity};
//!
//! let json = r#"{
//!   "element": {"key": "sageone"},
//!   "providerData": {"code": "1c6ff4089d58d80e86482ab7d5b97f15dd7b041d"},
//!   "configuration": {
//!     "oauth.api.key": "client-id",
//!     "oauth.api.secret": "client-secret",
//!     "oauth.callback.url": "https://mycoolapp.com",
//!     "country": "UK",
//!     "event.notification.enabled": "true",
//!     "event.notification.callback.url": "https://mycoolapp.com/events",
//!     "event.poller.refresh_interval": "15",
//!     "event.poller.configuration": {
//!       "customers": {
//!         "url": "/hubs/finance/customers?where=lastModifiedDate>='${date:yyyy-MM-dd'T'HH:mm:ss'Z'}'",
//!         "datesConfiguration": {"updatedDateField": "updated_at", "createdDateField": "created_at"}
//!       }
//!     }
//!   },
//!   "tags": ["Test"],
//!   "name": "API_Polling"
//! }"#;
//! let loaded = InstanceConfig::from_json_str(json).expect("a valid instance");
//! assert!(loaded.warnings.is_empty());
//! let poller = &loaded.config.configuration.poller;
//! assert_eq!(poller.refresh_interval, Duration::from_secs(15 * 60));
//! assert_eq!(poller.resources["customers"].id_field.as_str(), "id"); // the default
//! assert!(!format!("{loaded:?}").contains("client-secret"));
//!
//! // Every problem at once, each at its JSON Pointer.
//! let broken = json.replace(r#""15""#, r#""0""#).replace(r#""UK""#, r#""Mars""#);
//! let errors = InstanceConfig::from_json_str(&broken).unwrap_err();
//! let lines: Vec<String> = errors.problems().iter().map(|p| p.render("i.json")).collect();
//! assert_eq!(lines, [
//!     r#"i.json:/configuration/country: unknown country "Mars": expected one of ca, de, es, fr, gb, ie, us (uk means gb)"#,
//!     "i.json:/configuration/event.poller.refresh_interval: the refresh interval must be more than 0 minutes, found 0",
//! ]);
//! assert!(errors.problems().iter().all(|p| p.severity() == Severity::Error));
//! ```

mod load;
mod model;
mod poller;
mod problem;
mod render;
pub mod schema;
mod secret;
mod subscription;
mod walk;

pub use load::{Loaded, Vocabulary};
pub use model::{
    AbsoluteUrl, ApiVersion, BasicAuth, Configuration, Country, DateField, DateFormatSetting,
    DatesConfiguration, ElementKey, Extra, FieldPath, InstanceConfig, Notification, OAuth, PollUrl,
    Poller, ProviderData, Resource, Sage, ZoneSetting, MAX_RATE_LIMIT,
};
pub use problem::{ConfigErrors, Problem, ProblemKind, Severity, MAX_SHOWN_PROBLEMS};
pub use render::Secrets;
pub use secret::{Secret, MASK};
pub use subscription::{
    Subscription, CALLBACK_NAME, EVENT_TYPES, MAX_IN_FLIGHT, MAX_SUBSCRIPTIONS,
};
