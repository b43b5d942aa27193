//! Choosing an instance's Sage business: right after the create form (its default choice,
//! "choose after authorization"), and from the instance page until its first completed poll.
//!
//! Sage's grant code works once, so the businesses can only be listed after it is exchanged:
//! the form creates the instance paused, lists them (which exchanges the code), and with one
//! business resumes at once; with several it shows [`picker`], and picking sets
//! `sage.business.id` and resumes. See `docs/operations.md` ("Choosing the business").

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use pollen_config::{ApiVersion, InstanceConfig, Secrets};
use pollen_store::{Instance, InstanceStatus};
use serde_json::Value;
use std::fmt::Write;

use super::html::{csrf_field, esc, layout};
use super::{error_page, field, load, posted_instance, Shared, SignedIn};
use crate::api::{self, AppState};
use crate::businesses::{describe_business, InstanceBusiness};

fn picker_path(id: i64) -> String {
    format!("/console/instances/{id}/business")
}

fn detail_path(id: i64) -> String {
    format!("/console/instances/{id}")
}

/// Why this instance's business cannot be chosen here, if it cannot.
async fn refusal(state: &AppState, instance: &Instance) -> Result<Option<String>, String> {
    if instance.config.configuration.sage.api_version == ApiVersion::V3 {
        return Ok(Some(
            "sage.business.id applies to v3.1 only: this v3 instance polls the business its \
             token was granted for."
                .to_owned(),
        ));
    }
    let polled = crate::businesses::has_polled(state.engine.store(), instance)
        .await
        .map_err(|e| e.to_string())?;
    Ok(polled.then(|| {
        format!(
            "This instance has already polled {}; its watermarks and known ids belong to that \
             business, so its business cannot change. To poll another business, create another \
             instance.",
            describe_business(&instance.config)
        )
    }))
}

/// Resumes `instance` as it is configured; the instance page with `message`, or the error.
async fn resume(
    state: &AppState,
    signed: &SignedIn,
    instance: &Instance,
    message: &str,
) -> Response {
    match api::update_instance(state, instance.id, &instance.config, Some(false)).await {
        Ok(_) => {
            state.console.sessions.flash(&signed.id, message);
            Redirect::to(&detail_path(instance.id)).into_response()
        }
        Err(error) => error_page(signed, state, error.status(), error.message()),
    }
}

/// After the form created `instance` paused to choose its business: one business (or a v3
/// instance) resumes at once, several go to the picker, a failure to list leaves it paused
/// and says why on its page.
pub(super) async fn after_create(
    state: &AppState,
    signed: &SignedIn,
    instance: Instance,
) -> Response {
    let created = format!(
        "Instance “{}” created; its first poll is due shortly.",
        instance.name
    );
    if instance.config.configuration.sage.api_version == ApiVersion::V3 {
        return resume(state, signed, &instance, &created).await;
    }
    match crate::businesses::list(&state.engine, &instance).await {
        Ok(businesses) if businesses.len() <= 1 => resume(state, signed, &instance, &created).await,
        Ok(businesses) => {
            state.console.sessions.flash(
                &signed.id,
                format!(
                    "Instance “{}” created, paused: its user has {} businesses; choose the one to poll.",
                    instance.name,
                    businesses.len()
                ),
            );
            Redirect::to(&picker_path(instance.id)).into_response()
        }
        Err(error) => {
            state.console.sessions.flash(
                &signed.id,
                format!(
                    "Instance “{}” created, paused: listing its Sage businesses failed ({error}). \
                     Once Sage accepts its authorization, choose its business from this page.",
                    instance.name
                ),
            );
            Redirect::to(&detail_path(instance.id)).into_response()
        }
    }
}

fn render_picker(instance: &Instance, businesses: &[InstanceBusiness], csrf: &str) -> String {
    let mut out = format!(
        "<h1>Choose the business of “{name}”</h1>\
         <p>The user who authorized this instance can reach {count} Sage businesses. The instance \
         polls one; once it has polled, that cannot change. It is {state} until you choose.</p>\
         <form method=\"post\" action=\"{action}\" id=\"choose-business\">{csrf}\
         <fieldset><legend>Business to poll</legend><ul class=\"choices\">",
        name = esc(&instance.name),
        count = businesses.len(),
        state = if instance.status == InstanceStatus::Active {
            "polling"
        } else {
            "paused"
        },
        action = picker_path(instance.id),
        csrf = csrf_field(csrf),
    );
    for (n, business) in businesses.iter().enumerate() {
        let id = format!("business-{n}");
        let _ = write!(
            out,
            "<li><input type=\"radio\" name=\"business\" value=\"{value}\" id=\"{id}\" \
             aria-describedby=\"help-{id}\"{checked}><label for=\"{id}\">{name}</label>\
             <p class=\"help\" id=\"help-{id}\"><code>{value}</code>{lead}</p>\
             <input type=\"hidden\" name=\"name-{value}\" value=\"{name}\"></li>",
            value = esc(&business.id),
            name = esc(&business.name),
            checked = if business.selected { " checked" } else { "" },
            lead = if business.lead {
                " · the user's lead business"
            } else {
                ""
            },
        );
    }
    let _ = write!(
        out,
        "</ul></fieldset><p class=\"actions\"><button type=\"submit\" class=\"primary\">Poll this \
         business</button> <a href=\"{}\">Cancel</a></p></form>",
        detail_path(instance.id)
    );
    out
}

/// `GET /console/instances/{id}/business`: the businesses, the one polled now checked.
pub(super) async fn picker(state: Shared, signed: SignedIn, Path(id): Path<String>) -> Response {
    let instance = match load(&state, &signed, &id).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    match refusal(&state, &instance).await {
        Ok(None) => {}
        Ok(Some(why)) => return error_page(&signed, &state, StatusCode::CONFLICT, &why),
        Err(e) => return error_page(&signed, &state, StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
    match crate::businesses::list(&state.engine, &instance).await {
        Ok(businesses) => {
            let page = signed.page(&state, "Choose business");
            Html(layout(
                &page,
                &render_picker(&instance, &businesses, &signed.csrf),
            ))
            .into_response()
        }
        Err(error) => error_page(
            &signed,
            &state,
            StatusCode::BAD_GATEWAY,
            &format!("Listing the Sage businesses failed: {error}"),
        ),
    }
}

/// `POST /console/instances/{id}/business`: sets `sage.business.id` and resumes polling.
pub(super) async fn choose(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let Some(business) = field(&pairs, "business")
        .map(str::trim)
        .filter(|b| !b.is_empty())
    else {
        return error_page(
            &signed,
            &state,
            StatusCode::BAD_REQUEST,
            "Choose one of the businesses.",
        );
    };
    let mut merged = instance.config.to_json(Secrets::Expose);
    merged["configuration"]["sage.business.id"] = Value::String(business.to_owned());
    let config =
        match InstanceConfig::from_json_value_for(&merged, &crate::instances::sage_vocabulary()) {
            Ok(loaded) => loaded.config,
            Err(errors) => {
                let message = errors
                    .errors()
                    .map(|p| format!("{}: {}", p.pointer(), p.message()))
                    .collect::<Vec<_>>()
                    .join("; ");
                return error_page(&signed, &state, StatusCode::BAD_REQUEST, &message);
            }
        };
    let name = field(&pairs, &format!("name-{business}")).unwrap_or(business);
    match api::update_instance(&state, instance.id, &config, Some(false)).await {
        Ok(_) => {
            state
                .console
                .sessions
                .flash(&signed.id, format!("Polling business “{name}”."));
            Redirect::to(&detail_path(instance.id)).into_response()
        }
        Err(error) => error_page(&signed, &state, error.status(), error.message()),
    }
}
