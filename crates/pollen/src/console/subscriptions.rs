//! The instance page's subscriptions: the callback and every receiver of
//! `event.notification.subscriptions` with its filters, state and notifications; a form that
//! adds or edits one (secrets left empty keep the current ones), remove and redeliver buttons
//! (see `crate::subscriptions`).

use std::fmt::Write as _;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use pollen_callback::Redelivery;
use pollen_config::{EVENT_TYPES, MASK};
use pollen_store::{Instance, SqlStore};
use serde_json::{json, Map, Value};

use super::html::{csrf_field, esc};
use super::{error_page, field, posted_instance, refused_page, Shared, SignedIn};
use crate::api;
use crate::subscriptions;

/// The lanes table and the add/edit form.
pub(super) async fn section(
    store: &SqlStore,
    instance: &Instance,
    csrf: &str,
) -> Result<String, String> {
    let lanes = subscriptions::lanes(store, instance)
        .await
        .map_err(|e| e.to_string())?;
    let notification = &instance.config.configuration.notification;
    let id = instance.id;
    let csrf = csrf_field(csrf);
    let mut out = String::from(
        "<div class=\"scroll\"><table id=\"subscriptions\"><caption class=\"muted\">Each receives the events its filters let \
         through, in a delivery lane of its own: retries, deactivation and limits do not touch the others.\
         </caption><thead><tr><th scope=\"col\">Subscription</th><th scope=\"col\">URL</th>\
         <th scope=\"col\">Filters</th><th scope=\"col\">State</th><th scope=\"col\">Pending</th>\
         <th scope=\"col\">Queued</th><th scope=\"col\">Delivered</th><th scope=\"col\">Actions</th></tr></thead><tbody>",
    );
    for lane in &lanes {
        let sub = lane
            .name
            .as_ref()
            .and_then(|name| notification.subscriptions.iter().find(|s| s.name == *name));
        let (name, url, filters) = match sub {
            None => (
                "callback".to_owned(),
                notification
                    .callback_url
                    .as_ref()
                    .map(|u| u.as_str().to_owned())
                    .unwrap_or_default(),
                "everything".to_owned(),
            ),
            Some(s) => {
                let mut parts = Vec::new();
                if let Some(r) = &s.resources {
                    parts.push(format!(
                        "resources {}",
                        r.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
                if let Some(t) = &s.event_types {
                    parts.push(t.iter().cloned().collect::<Vec<_>>().join(", "));
                }
                if let Some(w) = &s.filter {
                    parts.push(format!("where {w}"));
                }
                if let Some(n) = s.max_in_flight {
                    parts.push(format!("≤ {n} in flight"));
                }
                let filters = if parts.is_empty() {
                    "everything".to_owned()
                } else {
                    parts.join("; ")
                };
                (s.name.clone(), s.url.as_str().to_owned(), filters)
            }
        };
        let h = lane.health;
        let redeliver = match &lane.name {
            Some(n) if !lane.active || h.queued > 0 => format!(
                "<form method=\"post\" action=\"/console/instances/{id}/subscriptions/{n}/redeliver\">{csrf}\
                 <button type=\"submit\">Redeliver queued</button></form>"
            ),
            _ => String::new(),
        };
        let remove = match &lane.name {
            Some(n) => format!(
                "<form method=\"post\" action=\"/console/instances/{id}/subscriptions/{n}/remove\">{csrf}\
                 <button type=\"submit\" class=\"danger\" aria-label=\"Remove subscription {n}\">Remove</button></form>"
            ),
            None => String::new(),
        };
        let _ = write!(
            out,
            "<tr data-lane=\"{lane}\"><th scope=\"row\">{name}</th><td>{url}</td><td>{filters}</td>\
             <td>{state}</td><td>{pending}</td><td>{queued}</td><td>{delivered}</td>\
             <td class=\"actions-row\">{redeliver}{remove}</td></tr>",
            lane = esc(&lane.lane),
            name = esc(&name),
            url = esc(&url),
            filters = esc(&filters),
            state = if lane.active { "active" } else { "deactivated" },
            pending = h.pending,
            queued = h.queued,
            delivered = h.delivered,
        );
    }
    out.push_str("</tbody></table></div>");
    let types: String = EVENT_TYPES
        .iter()
        .map(|t| {
            format!(
                "<label class=\"check\"><input type=\"checkbox\" name=\"event_type\" value=\"{t}\"> {t}</label>"
            )
        })
        .collect();
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/console/instances/{id}/subscriptions\" class=\"inline-form subscription\">{csrf}\
         <div class=\"field\"><label for=\"sub_name\">Subscription name</label>\
         <input type=\"text\" id=\"sub_name\" name=\"name\" required pattern=\"[a-z0-9_-]{{1,64}}\" \
         aria-describedby=\"sub_help\"></div>\
         <div class=\"field\"><label for=\"sub_url\">URL</label>\
         <input type=\"url\" id=\"sub_url\" name=\"url\" required></div>\
         <div class=\"field\"><label for=\"sub_resources\">resources (comma-separated; empty: all)</label>\
         <input type=\"text\" id=\"sub_resources\" name=\"resources\"></div>\
         <fieldset class=\"field\"><legend>event types (none ticked: all)</legend>{types}</fieldset>\
         <div class=\"field\"><label for=\"sub_where\">where (CEQL on the record)</label>\
         <input type=\"text\" id=\"sub_where\" name=\"where\" placeholder=\"displayed_as LIKE 'Acme%'\"></div>\
         <div class=\"field\"><label for=\"sub_key\">signature key (empty: keep / none)</label>\
         <input type=\"password\" id=\"sub_key\" name=\"signature_key\" autocomplete=\"new-password\"></div>\
         <div class=\"field\"><label for=\"sub_max\">max in flight (empty: 4)</label>\
         <input type=\"number\" id=\"sub_max\" name=\"max_in_flight\" min=\"1\" max=\"64\"></div>\
         <button type=\"submit\">Save subscription</button>\
         <p class=\"muted\" id=\"sub_help\">1 to 64 of a-z, 0-9, - and _. Saving an existing name replaces it \
         (its secrets are kept when left empty).</p></form>"
    );
    Ok(out)
}

/// The subscription JSON a posted form describes.
fn posted_body(instance: &Instance, pairs: &[(String, String)], name: &str) -> Value {
    let text = |key: &str| field(pairs, key).map(str::trim).filter(|v| !v.is_empty());
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    body.insert("url".into(), json!(text("url").unwrap_or_default()));
    if let Some(resources) = text("resources") {
        body.insert("resources".into(), json!(resources));
    }
    let types: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "event_type")
        .map(|(_, v)| v.as_str())
        .collect();
    if !types.is_empty() {
        body.insert("eventTypes".into(), json!(types));
    }
    if let Some(clause) = text("where") {
        body.insert("where".into(), json!(clause));
    }
    if let Some(n) = text("max_in_flight") {
        body.insert("maxInFlight".into(), json!(n));
    }
    let existing = instance
        .config
        .configuration
        .notification
        .subscriptions
        .iter()
        .find(|s| s.name == name);
    match text("signature_key") {
        Some(key) => {
            body.insert("signatureKey".into(), json!(key));
        }
        // Empty keeps the current key of an existing subscription.
        None if existing.is_some_and(|s| s.signature_key.is_some()) => {
            body.insert("signatureKey".into(), json!(MASK));
        }
        None => {}
    }
    if existing.is_some_and(|s| s.standard_webhooks_secret.is_some()) {
        body.insert("standardWebhooksSecret".into(), json!(MASK));
    }
    Value::Object(body)
}

/// Validates and saves `merged`, then back to the instance page with `done` flashed; problems
/// are listed at their JSON Pointers.
async fn save(
    state: &Shared,
    signed: &SignedIn,
    instance: &Instance,
    merged: Result<Value, crate::refused::Refused>,
    done: String,
) -> Response {
    let merged = match merged {
        Ok(merged) => merged,
        Err(refused) => return refused_page(signed, state, &refused),
    };
    let config = match api::validate_instance(&merged) {
        Ok(config) => config,
        Err(error) => {
            let problems: Vec<String> = error
                .problems()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|p| p["severity"] == "error")
                .map(|p| {
                    format!(
                        "{}: {}",
                        p["pointer"].as_str().unwrap_or_default(),
                        p["message"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            return error_page(signed, state, StatusCode::BAD_REQUEST, &problems.join("; "));
        }
    };
    if let Err(error) = api::update_instance(state, instance.id, &config, None).await {
        return error_page(signed, state, error.status(), error.message());
    }
    state.console.sessions.flash(&signed.id, done);
    Redirect::to(&format!("/console/instances/{}#subscriptions", instance.id)).into_response()
}

/// `POST /console/instances/{id}/subscriptions`: adds or replaces one.
pub(super) async fn upsert(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let name = field(&pairs, "name").unwrap_or_default().trim().to_owned();
    let body = posted_body(&instance, &pairs, &name);
    let merged = subscriptions::with_subscription(&instance.config, &name, &body);
    let done = format!("Subscription {name} saved; the next poll's events go to it.");
    save(&state, &signed, &instance, merged, done).await
}

/// `POST /console/instances/{id}/subscriptions/{name}/remove`.
pub(super) async fn remove(
    state: Shared,
    signed: SignedIn,
    Path((id, name)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let merged = subscriptions::without_subscription(&instance.config, &name);
    let done = format!("Subscription {name} removed.");
    save(&state, &signed, &instance, merged, done).await
}

/// `POST /console/instances/{id}/subscriptions/{name}/redeliver`.
pub(super) async fn redeliver(
    state: Shared,
    signed: SignedIn,
    Path((id, name)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let lane = match subscriptions::lane_of(&instance, &name) {
        Ok(lane) => lane,
        Err(refused) => return refused_page(&signed, &state, &refused),
    };
    match state
        .engine
        .sender()
        .redeliver(&Redelivery::Instance(lane))
        .await
    {
        Ok(n) => {
            state.console.sessions.flash(
                &signed.id,
                format!("Subscription {name} is active; {n} notification(s) queued again."),
            );
            Redirect::to(&format!("/console/instances/{}#subscriptions", instance.id))
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "console: re-delivering a subscription");
            error_page(
                &signed,
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "re-delivering failed; see the server log",
            )
        }
    }
}
