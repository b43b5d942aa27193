//! Rewinding one resource of an instance: its watermark back to an instant, for a receiver
//! that rebuilt its store. The next poll reads from there and emits the changes it finds again,
//! with their stable ids (the receiver de-duplicates). One rule for the API
//! (`POST /instances/{id}/resources/{name}/rewind`), `pollen rewind` and the console.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use pollen_core::PollKey;
use pollen_store::{Instance, Rewound, SqlStore};
use serde_json::{json, Value};

/// Why a rewind was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum Refused {
    /// The instance polls no resource of that name (the message lists those it polls).
    UnknownResource(String),
    /// The resource has no poll state yet: it was never registered, nothing to rewind.
    NotPolledYet(String),
    /// The instant is not before the current watermark (forward would skip changes).
    Invalid(String),
    /// The store failed.
    Store(pollen_store::Error),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::UnknownResource(m) | Refused::NotPolledYet(m) | Refused::Invalid(m) => {
                f.write_str(m)
            }
            Refused::Store(e) => write!(f, "rewinding failed: {e}"),
        }
    }
}

impl std::error::Error for Refused {}

/// Moves resource `resource` of `instance` back to `to` ([`SqlStore::rewind`]): due now, its
/// de-duplication keys at or after `to` forgotten, other resources untouched.
pub async fn rewind(
    store: &SqlStore,
    instance: &Instance,
    resource: &str,
    to: DateTime<Utc>,
) -> Result<Rewound, Refused> {
    let resources = &instance.config.configuration.poller.resources;
    if !resources.contains_key(resource) {
        let known: Vec<&str> = resources.keys().map(String::as_str).collect();
        return Err(Refused::UnknownResource(format!(
            "instance {} polls no resource `{resource}` (it polls: {})",
            instance.id,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    }
    let key = PollKey::new(instance.key(), resource);
    store
        .rewind(&key, to, Utc::now())
        .await
        .map_err(|e| match e.kind() {
            pollen_store::ErrorKind::NotFound => Refused::NotPolledYet(format!(
                "resource `{resource}` of instance {} has not been registered for polling yet: \
             nothing to rewind",
                instance.id
            )),
            pollen_store::ErrorKind::InvalidInput => Refused::Invalid(e.message().to_owned()),
            _ => Refused::Store(e),
        })
}

/// A rewind as the API and `pollen rewind --json` show it.
pub fn rewound_json(resource: &str, rewound: &Rewound) -> Value {
    let date = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Millis, true);
    json!({
        "resource": resource,
        "previousWatermark": date(rewound.previous),
        "watermark": date(rewound.watermark),
        "forgottenChanges": rewound.forgotten,
        "interruptedPoll": rewound.interrupted,
    })
}
