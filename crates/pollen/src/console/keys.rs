//! The instance page's signing keys: which are set, until when a replaced one still signs, a
//! rotation form and a button that ends a grace period now (see `crate::keys`). A generated
//! key is shown once, on the page that answers the rotation, and never again.

use std::fmt::Write as _;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{SecondsFormat, Utc};
use pollen_config::Secret;
use pollen_store::{Instance, KeyScheme, SqlStore};

use super::html::{csrf_field, esc, layout};
use super::{error_page, field, posted_instance, refused_page, Shared, SignedIn};
use crate::api;
use crate::keys::{self, Rotation};

fn label(scheme: KeyScheme) -> &'static str {
    match scheme {
        KeyScheme::StandardWebhooks => "Standard Webhooks (webhook-signature)",
        _ => "Elements-Webhook-Signature",
    }
}

/// Whose keys an entry of [`keys::keys_json`] holds, as the page names it.
fn owner_label(subscription: Option<&str>) -> String {
    subscription.map_or_else(
        || "Callback".to_owned(),
        |name| format!("Subscription {name}"),
    )
}

/// The keys' state, the callback's and each subscription's, and the rotation form.
pub(super) async fn section(
    store: &SqlStore,
    instance: &Instance,
    csrf: &str,
) -> Result<String, String> {
    let retired = store
        .retired_signing_keys(instance.id, Utc::now())
        .await
        .map_err(|e| format!("reading retired signing keys failed: {e}"))?;
    let shown = keys::keys_json(instance, &retired);
    let id = instance.id;
    let csrf = csrf_field(csrf);
    let subscriptions = &instance.config.configuration.notification.subscriptions;
    let mut out = String::from("<dl class=\"facts keys\">");
    for entry in shown.as_array().into_iter().flatten() {
        let Some(scheme) = entry["scheme"].as_str().and_then(KeyScheme::parse) else {
            continue;
        };
        let subscription = entry["subscription"].as_str();
        let until: Vec<&str> = entry["retired"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["validUntil"].as_str())
            .collect();
        let state = match (entry["configured"] == true, until.is_empty()) {
            (false, _) => "not set".to_owned(),
            (true, true) => "set".to_owned(),
            (true, false) => format!(
                "set; the replaced key signs too until {} \
                 <form method=\"post\" action=\"/console/instances/{id}/keys/drop\">{csrf}\
                 <input type=\"hidden\" name=\"scheme\" value=\"{s}\">\
                 <input type=\"hidden\" name=\"subscription\" value=\"{name}\">\
                 <button type=\"submit\" class=\"danger\">Stop it now</button></form>",
                esc(&until.join(", ")),
                s = scheme.as_str(),
                name = esc(subscription.unwrap_or_default()),
            ),
        };
        // A subscription's unset keys are noise in the list: only the callback shows both.
        if subscription.is_some() && entry["configured"] != true {
            continue;
        }
        let title = if subscriptions.is_empty() {
            label(scheme).to_owned()
        } else {
            format!("{}: {}", owner_label(subscription), label(scheme))
        };
        let _ = write!(out, "<div><dt>{}</dt><dd>{state}</dd></div>", esc(&title));
    }
    out.push_str("</dl>");
    let options: String = KeyScheme::ALL
        .iter()
        .map(|s| {
            format!(
                "<option value=\"{}\">{}</option>",
                s.as_str(),
                esc(label(*s))
            )
        })
        .collect();
    let owners = if subscriptions.is_empty() {
        String::new()
    } else {
        let choices: String = subscriptions
            .iter()
            .map(|s| {
                format!(
                    "<option value=\"{n}\">{l}</option>",
                    n = esc(&s.name),
                    l = esc(&owner_label(Some(&s.name)))
                )
            })
            .collect();
        format!(
            "<div class=\"field\"><label for=\"rotate_subscription\">of</label>\
             <select id=\"rotate_subscription\" name=\"subscription\">\
             <option value=\"\">Callback</option>{choices}</select></div>"
        )
    };
    let _ = write!(
        out,
        "<form method=\"post\" action=\"/console/instances/{id}/keys/rotate\" class=\"inline-form rotate\">{csrf}\
         <div class=\"field\"><label for=\"rotate_scheme\">Rotate key</label>\
         <select id=\"rotate_scheme\" name=\"scheme\">{options}</select></div>{owners}\
         <div class=\"field\"><label for=\"rotate_key\">new key (empty: generate one)</label>\
         <input type=\"password\" id=\"rotate_key\" name=\"key\" autocomplete=\"new-password\"></div>\
         <div class=\"field\"><label for=\"rotate_grace\">old key keeps signing for</label>\
         <input type=\"text\" id=\"rotate_grace\" name=\"grace\" value=\"24h\" aria-describedby=\"rotate_help\"></div>\
         <button type=\"submit\">Rotate</button>\
         <p class=\"muted\" id=\"rotate_help\">Deliveries carry both signatures until then, so the receiver \
         can switch keys at its pace. A generated key is shown once, on the next page.</p></form>"
    );
    Ok(out)
}

fn posted_scheme(pairs: &[(String, String)]) -> Result<KeyScheme, String> {
    let text = field(pairs, "scheme").unwrap_or_default();
    KeyScheme::parse(text).ok_or_else(|| format!("`{text}` is not a signing key scheme."))
}

/// The posted subscription: empty or missing is the callback.
fn posted_subscription(pairs: &[(String, String)]) -> Option<String> {
    field(pairs, "subscription")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `POST /console/instances/{id}/keys/rotate`.
pub(super) async fn rotate(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let scheme = match posted_scheme(&pairs) {
        Ok(scheme) => scheme,
        Err(message) => return error_page(&signed, &state, StatusCode::BAD_REQUEST, &message),
    };
    let grace = match keys::parse_grace(field(&pairs, "grace").unwrap_or("24h")) {
        Ok(grace) => grace,
        Err(refused) => return refused_page(&signed, &state, &refused),
    };
    let key = field(&pairs, "key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(Secret::new);
    let rotation = Rotation {
        subscription: posted_subscription(&pairs),
        scheme,
        key,
        grace,
    };
    let rotated = match keys::rotate(state.engine.store(), &instance, rotation).await {
        Ok(rotated) => rotated,
        Err(refused) => return refused_page(&signed, &state, &refused),
    };
    if let Err(error) = api::update_instance(&state, instance.id, &rotated.config, None).await {
        return error_page(&signed, &state, error.status(), error.message());
    }
    let until = rotated.previous_until.map_or_else(
        || "No replaced key signs.".to_owned(),
        |at| {
            format!(
                "The replaced key signs too until {}.",
                at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )
        },
    );
    let shown = match &rotated.generated {
        Some(key) => format!(
            "<p>The new key, <strong>shown this once</strong>: give it to the receiver now.</p>\
             <pre class=\"body\" id=\"generated-key\" tabindex=\"0\">{}</pre>",
            esc(key.expose())
        ),
        None => "<p>The key you gave is saved.</p>".to_owned(),
    };
    let body = format!(
        "<h1>{owner}: {label} key rotated</h1><p role=\"status\" id=\"rotated\">{until}</p>{shown}\
         <p><a href=\"/console/instances/{id}\">Back to the instance</a></p>",
        owner = esc(&owner_label(rotated.subscription.as_deref())),
        label = esc(label(scheme)),
        id = instance.id,
    );
    let page = signed.page(&state, "Key rotated");
    (StatusCode::OK, Html(layout(&page, &body))).into_response()
}

/// `POST /console/instances/{id}/keys/drop`: the replaced keys stop signing now.
pub(super) async fn drop_retired(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let scheme = match posted_scheme(&pairs) {
        Ok(scheme) => scheme,
        Err(message) => return error_page(&signed, &state, StatusCode::BAD_REQUEST, &message),
    };
    let subscription = posted_subscription(&pairs);
    if let Err(refused) = keys::check_owner(&instance, subscription.as_deref()) {
        return refused_page(&signed, &state, &refused);
    }
    let store = state.engine.store();
    if let Err(error) = store
        .drop_retired_signing_keys(instance.id, subscription.as_deref(), scheme, Utc::now())
        .await
    {
        tracing::error!(%error, "console: dropping retired keys");
        return error_page(
            &signed,
            &state,
            StatusCode::INTERNAL_SERVER_ERROR,
            "dropping the replaced keys failed; see the server log",
        );
    }
    // Saved again so that every process rebuilds the endpoint without them.
    if let Err(error) = api::update_instance(&state, instance.id, &instance.config, None).await {
        return error_page(&signed, &state, error.status(), error.message());
    }
    state.console.sessions.flash(
        &signed.id,
        format!(
            "The replaced {} keys of {} no longer sign.",
            label(scheme),
            subscription.map_or_else(
                || "the callback".to_owned(),
                |name| format!("subscription {name}")
            )
        ),
    );
    Redirect::to(&format!("/console/instances/{}", instance.id)).into_response()
}
