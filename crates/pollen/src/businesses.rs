//! Which Sage business an instance polls: the authorized user's businesses listed for the API
//! (`GET /instances/{id}/businesses`), the console's picker and `pollen sage businesses`; and
//! the rule that an instance keeps the business it has polled.
//!
//! An instance's watermarks, de-duplication keys and known ids (for reconciliation) describe
//! the records of one business. Pointed at another business after a completed poll, it would
//! report that business's records as CREATED or, worse, the old one's as DELETED. So once any
//! of its resources has completed a poll, `sage.business.id` cannot change (the API answers
//! 409, the console and `pollen run` say why); to poll another business, create another
//! instance. Before the first completed poll the business may change freely: that is when
//! the console's create flow picks it, with the instance paused.

use pollen_config::InstanceConfig;
use pollen_core::{PollKey, Store};
use pollen_store::{Instance, SqlStore};
use serde_json::{json, Value};

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};

/// The JSON Pointer of the business key in an instance JSON.
pub const BUSINESS_POINTER: &str = "/configuration/sage.business.id";

/// One business of an instance's authorized user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InstanceBusiness {
    /// Sage's business id (the value for `sage.business.id`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it is the user's lead business (polled without `sage.business.id`).
    pub lead: bool,
    /// Whether the instance polls it.
    pub selected: bool,
}

impl InstanceBusiness {
    /// `{"id", "name", "lead", "selected"}`, as the API answers.
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "lead": self.lead, "selected": self.selected})
    }
}

/// The business an instance's configuration picks, `None` for the lead business.
pub fn configured_business(config: &InstanceConfig) -> Option<&str> {
    config.configuration.sage.business_id.as_deref()
}

/// `business ID` or `the lead business`, for messages.
pub fn describe_business(config: &InstanceConfig) -> String {
    match configured_business(config) {
        Some(id) => format!("business {id}"),
        None => "the lead business".to_owned(),
    }
}

/// The businesses the instance's authorized user can reach, the one it polls marked. Lists
/// them with the instance's tokens (exchanging its grant code first if no worker has yet).
pub async fn list(engine: &Engine, instance: &Instance) -> Result<Vec<InstanceBusiness>> {
    let businesses = engine.businesses(instance).await?;
    let configured = configured_business(&instance.config);
    Ok(businesses
        .into_iter()
        .map(|b| InstanceBusiness {
            selected: match configured {
                Some(id) => b.id == id,
                None => b.lead,
            },
            id: b.id,
            name: b.name,
            lead: b.lead,
        })
        .collect())
}

/// Whether any resource of the instance has completed a poll: from then on its state belongs
/// to the business it polled.
pub async fn has_polled(store: &SqlStore, instance: &Instance) -> Result<bool> {
    let key = instance.key();
    for name in instance.config.configuration.poller.resources.keys() {
        let state = store
            .load(&PollKey::new(key.clone(), name.clone()))
            .await
            .map_err(Error::wrap(
                ErrorKind::Store,
                format_args!("instance {key}: reading the poll state of {name}"),
            ))?;
        if state.is_some_and(|s| s.completed_polls > 0) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `Err` (kind [`ErrorKind::InvalidInput`], naming [`BUSINESS_POINTER`]) when `next` would
/// poll another business than `current` does and `current` has already polled.
pub async fn check_business_change(
    store: &SqlStore,
    current: &Instance,
    next: &InstanceConfig,
) -> Result<()> {
    if configured_business(&current.config) == configured_business(next) {
        return Ok(());
    }
    if !has_polled(store, current).await? {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!(
            "{BUSINESS_POINTER}: instance {} has already polled {}; its watermarks and known ids \
             belong to that business, so it cannot switch to {}: create another instance to \
             poll that one",
            current.id,
            describe_business(&current.config),
            describe_business(next),
        ),
    ))
}
