//! Reconciliation over Sage: the ids of every record of an endpoint, and one record looked up
//! by id, for the endpoints without `deleted_since`.

use pollen_core::{IdPage, Lookup, Purpose};
use serde_json::Value;

use super::SageSource;
use crate::error::{Error, ErrorKind, Result};
use crate::resources::HubResource;
use crate::translate::encode_query;

impl SageSource {
    /// One page of the ids of every record of poll resource `resource` (its endpoint's fixed
    /// parameters apply, the instance's where clause does not): `attributes=id`, `page_size`
    /// a page (default and at most 200, Sage's largest).
    pub async fn fetch_ids(
        &self,
        resource: &str,
        page_size: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<IdPage> {
        let hub = self.reconciled_hub(resource)?;
        let per_page = page_size
            .unwrap_or(super::MAX_ITEMS_PER_PAGE)
            .clamp(1, super::MAX_ITEMS_PER_PAGE)
            .to_string();
        let first = || {
            let mut params: Vec<(&str, &str)> = hub.fixed.to_vec();
            params.push(("attributes", "id"));
            params.push(("items_per_page", &per_page));
            self.url(&format!("{}?{}", hub.path, encode_query(params)))
        };
        let raw = self.walk(first, cursor, Purpose::Reconcile).await?;
        let mut ids = Vec::with_capacity(raw.items.len());
        for item in &raw.items {
            match item.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => ids.push(id.to_owned()),
                // A record without an id cannot be reconciled; the walk's count then differs
                // from `$total` and the reconciliation is given up, which is what it should be.
                _ => tracing::warn!(resource, "an id page held a record without an id"),
            }
        }
        Ok(IdPage {
            ids,
            next: raw.next,
            total: raw.total,
        })
    }

    /// Looks record `id` of poll resource `resource` up: `GET {path}/{id}`. Only Sage's 404
    /// with `RecordNotFound` is [`Lookup::Absent`]; any other failure is an error, so that
    /// nothing is taken for a deletion that Sage did not state.
    pub async fn lookup_record(&self, resource: &str, id: &str) -> Result<Lookup> {
        let hub = self.reconciled_hub(resource)?;
        let mut url = self.url(hub.path)?;
        url.path_segments_mut()
            .map_err(|()| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "the API base `{}` cannot take a path",
                        self.settings.base_url
                    ),
                )
            })?
            .push(id);
        match self.api.get(&url, Purpose::Reconcile).await {
            Ok(_) => Ok(Lookup::Present),
            Err(error) if is_record_not_found(&error) => Ok(Lookup::Absent),
            Err(error) => Err(error),
        }
    }

    fn reconciled_hub(&self, resource: &str) -> Result<&'static HubResource> {
        match self.resources.get(resource) {
            Some(plan) => Ok(plan.hub),
            None => HubResource::named(resource),
        }
    }
}

/// Sage's answer that the record does not exist: 404 with `RecordNotFound`.
fn is_record_not_found(error: &Error) -> bool {
    error.status() == Some(404)
        && error
            .api_errors()
            .iter()
            .any(|e| e.data_code == "RecordNotFound")
}
