//! The authorized user's businesses: each with its own records, picked per request by
//! `X-Business` (v3.1) or `X-Site` (v3), the lead business without them; and Sage's
//! `GET /businesses` (v3.1) and core `GET /businesses` (v3) that list them.
//!
//! Sage's shapes, from its developer guides (Multi Business, Best Practices) and its v3.1
//! reference for `GET /businesses/{key}`: the list is an envelope with `$items_per_page` (that
//! spelling) of 2147483647 and items of `displayed_as`, `id`, `$path`; one business (`lead`
//! or an id) has `name`, an address, `country`, `is_demo`, `ni_based` and `subscriptions`.

// Handlers answer early with a ready HTTP reply as the `Err` of their helpers; it is built
// only on the error path and moved once, so boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State as Extract};
use http::{HeaderMap, Method, Response, StatusCode, Uri};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::api::{header_str, json_response, sage_error, REGIONS};
use crate::auth::ApiVersion;
use crate::clock::format_timestamp;
use crate::error::SimError;
use crate::resource::Resource;
use crate::server::State;
use crate::store::{Change, Record, RecordOrder, Store};

/// How many businesses one user may have in the simulator.
pub(crate) const MAX_BUSINESSES: usize = 100;

/// Sage's `$items_per_page` of the businesses list: everything on one page.
const ALL_ON_ONE_PAGE: u64 = 2_147_483_647;

/// Names of the first businesses; later ones are numbered.
const NAMES: &[&str] = &[
    "Hartley Bakery Ltd",
    "Northgate Consulting LLP",
    "Marsh & Wren Joinery",
    "Kestrel Digital Ltd",
    "Oakfield Farm Shop",
    "Bright Harbour Studios",
];

/// One business of the user: its id, name and records.
#[derive(Debug)]
pub(crate) struct BusinessData {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Its position: 0 is the lead business.
    pub(crate) index: usize,
    pub(crate) store: Store,
}

impl BusinessData {
    pub(crate) fn is_lead(&self) -> bool {
        self.index == 0
    }

    fn short_json(&self) -> Value {
        json!({
            "displayed_as": self.name,
            "id": self.id,
            "$path": format!("/businesses/{}", self.id),
        })
    }

    /// The business as `GET /businesses/{key}` (or `attributes=all`) shows it.
    fn full_json(&self, epoch: i64) -> Value {
        // Created a year before the seed epoch, one day apart, so the lead is the oldest.
        let created = format_timestamp(epoch - 365 * 86_400 + self.index as i64 * 86_400);
        json!({
            "displayed_as": self.name,
            "id": self.id,
            "$path": format!("/businesses/{}", self.id),
            "created_at": created,
            "updated_at": created,
            "name": self.name,
            "address_line_1": format!("{} High Street", 10 + self.index),
            "address_line_2": null,
            "city": "Leeds",
            "postal_code": "LS1 4AP",
            "country": {"id": "GB", "displayed_as": "United Kingdom (GB)"},
            "region": "West Yorkshire",
            "telephone": format!("0113 496 {:04}", 100 + self.index),
            "mobile": null,
            "website": null,
            "is_demo": false,
            "ni_based": false,
            "subscriptions": [{
                "id": self.id.chars().rev().collect::<String>(),
                "displayed_as": "Accounting",
                "created_at": created,
                "updated_at": created,
                "active": true,
                "status": "active",
            }],
        })
    }
}

/// The seed of business `index`'s records: the lead keeps the configured seed, so a
/// simulator with one business is exactly what it was before businesses existed.
pub(crate) fn business_seed(seed: u64, index: usize) -> u64 {
    if index == 0 {
        seed
    } else {
        seed ^ (index as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)
    }
}

/// `count` businesses: the lead with id `lead_id`, the others with ids drawn from `ids`
/// (after the lead's and the user's), each store seeded.
pub(crate) fn build(
    count: usize,
    lead_id: &str,
    ids: &mut ChaCha8Rng,
    order: RecordOrder,
    seed: (u64, usize, i64),
) -> Vec<BusinessData> {
    let (seed, records, epoch) = seed;
    (0..count)
        .map(|index| {
            let id = if index == 0 {
                lead_id.to_owned()
            } else {
                format!("{:032x}", ids.gen::<u128>())
            };
            let name = NAMES.get(index).map_or_else(
                || format!("Simulated Business {}", index + 1),
                |n| (*n).to_owned(),
            );
            let store = Store::new(order);
            store.seed(business_seed(seed, index), records, epoch);
            BusinessData {
                id,
                name,
                index,
                store,
            }
        })
        .collect()
}

fn forbidden(header: &str) -> Response<Body> {
    let message = match header {
        "X-Site" => "Access denied for the business given in X-Site.",
        _ => "You do not have access to the business given in X-Business.",
    };
    sage_error(
        StatusCode::FORBIDDEN,
        "error",
        "AuthorizationFailure",
        message,
        header,
    )
}

/// Which business a request is for: the one `X-Business` (v3.1) or `X-Site` (v3) names,
/// the lead business without the header; Sage's 403 for a business the user does not have.
pub(crate) fn business_for<'a>(
    state: &'a State,
    version: ApiVersion,
    headers: &HeaderMap,
) -> Result<&'a BusinessData, Response<Body>> {
    let header = match version {
        ApiVersion::V31 => "X-Business",
        ApiVersion::V3 => "X-Site",
    };
    match header_str(headers, header) {
        None => Ok(state.lead()),
        Some(id) => state.business(id).ok_or_else(|| forbidden(header)),
    }
}

/// `GET /businesses` of either generation: every business on one page, like Sage.
fn list(state: &State, version: ApiVersion, uri: &Uri, headers: &HeaderMap) -> Response<Body> {
    let method = Method::GET;
    if let Err(response) = crate::api::admit(state, version, &method, uri, headers) {
        return response;
    }
    let all = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .any(|(name, value)| name == "attributes" && value.trim() == "all");
    let epoch = state.config.seed_epoch.timestamp();
    let items: Vec<Value> = state
        .businesses
        .iter()
        .map(|b| {
            if all {
                b.full_json(epoch)
            } else {
                b.short_json()
            }
        })
        .collect();
    let body = json!({
        "$total": items.len(),
        "$page": 1,
        "$next": null,
        "$back": null,
        "$items_per_page": ALL_ON_ONE_PAGE,
        "$items": items,
    });
    json_response(StatusCode::OK, body.to_string())
}

/// `GET /businesses/{key}`: `lead` or a business id.
fn show(
    state: &State,
    version: ApiVersion,
    key: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response<Body> {
    let method = Method::GET;
    if let Err(response) = crate::api::admit(state, version, &method, uri, headers) {
        return response;
    }
    let business = if key == "lead" {
        Some(state.lead())
    } else {
        state.business(key)
    };
    match business {
        Some(business) => json_response(
            StatusCode::OK,
            business
                .full_json(state.config.seed_epoch.timestamp())
                .to_string(),
        ),
        None => crate::api::not_found_error(),
    }
}

type Shared = Extract<Arc<State>>;

pub(crate) async fn list_v31(
    Extract(state): Shared,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    list(&state, ApiVersion::V31, &uri, &headers)
}

pub(crate) async fn show_v31(
    Extract(state): Shared,
    Path(key): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    show(&state, ApiVersion::V31, &key, &uri, &headers)
}

pub(crate) async fn list_v3(
    Extract(state): Shared,
    Path(region): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    if !REGIONS.contains(&region.as_str()) {
        return crate::api::not_found_error();
    }
    list(&state, ApiVersion::V3, &uri, &headers)
}

pub(crate) async fn show_v3(
    Extract(state): Shared,
    Path((region, key)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    if !REGIONS.contains(&region.as_str()) {
        return crate::api::not_found_error();
    }
    show(&state, ApiVersion::V3, &key, &uri, &headers)
}

/// The public view of one business of a running simulator: its id, name and records.
///
/// Got from [`SimHandle::businesses`](crate::SimHandle::businesses) or
/// [`SimHandle::business`](crate::SimHandle::business); cheap to clone. Its record methods are
/// those of [`SimHandle`](crate::SimHandle), which act on the lead business.
#[derive(Debug, Clone)]
pub struct SimBusiness {
    pub(crate) state: Arc<State>,
    pub(crate) index: usize,
}

impl SimBusiness {
    pub(crate) fn data(&self) -> &BusinessData {
        &self.state.businesses[self.index]
    }

    /// Its id: the value of `X-Business` (v3.1) or `X-Site` (v3) that selects it.
    pub fn id(&self) -> &str {
        &self.data().id
    }

    /// Its name (`displayed_as` in `GET /businesses`).
    pub fn name(&self) -> &str {
        &self.data().name
    }

    /// Whether it is the lead business: the one requests without `X-Business` / `X-Site`
    /// go to, and the token's `resource_owner_id`.
    pub fn is_lead(&self) -> bool {
        self.data().is_lead()
    }

    /// Creates a record in this business: realistic generated fields, overridden by the object
    /// `fields` (or `Value::Null`), timestamps from the simulator's clock.
    pub fn create(&self, resource: Resource, fields: &Value) -> Result<Record, SimError> {
        self.data().store.create(resource, fields, self.state.now())
    }

    /// Merges the object `fields` into a live record of this business and moves its
    /// `updated_at` to now.
    pub fn update(&self, resource: Resource, id: &str, fields: &Value) -> Result<Record, SimError> {
        self.data()
            .store
            .update(resource, id, fields, self.state.now())
    }

    /// Deletes a live record of this business: sets its `deleted_at` to now.
    pub fn delete(&self, resource: Resource, id: &str) -> Result<Record, SimError> {
        self.data().store.delete(resource, id, self.state.now())
    }

    /// A record of this business by id, deleted or not.
    pub fn record(&self, resource: Resource, id: &str) -> Option<Record> {
        self.data().store.get(resource, id)
    }

    /// Every record of a resource of this business in list order, deleted ones included.
    pub fn records(&self, resource: Resource) -> Vec<Record> {
        self.data().store.all(resource)
    }

    /// This business's change log since the last seed.
    pub fn changes(&self) -> Vec<Change> {
        self.data().store.changes_since(0)
    }

    /// This business's changes with `seq` greater than `after_seq` (each business numbers
    /// its own changes).
    pub fn changes_since(&self, after_seq: u64) -> Vec<Change> {
        self.data().store.changes_since(after_seq)
    }
}
