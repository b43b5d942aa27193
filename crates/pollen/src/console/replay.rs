//! The instance page's replays: a form that previews how many notifications a replay would
//! re-send before it starts one, and the live table of the instance's replays with their
//! progress and a cancel button (see `crate::replay`).

use std::fmt::Write as _;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, SecondsFormat, Utc};
use pollen_config::CALLBACK_NAME;
use pollen_store::{Instance, ReplayState, SqlStore, EVENT_TYPES};

use super::html::{csrf_field, esc, layout};
use super::{error_page, field, posted_instance, refused_page, Shared, SignedIn};
use crate::replay::{self, ReplayRequest};

fn date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The replay form, outside the live region so that typing is never overwritten.
pub(super) fn form(instance: &Instance, csrf: &str) -> String {
    let id = instance.id;
    let resources: String = instance
        .config
        .configuration
        .poller
        .resources
        .keys()
        .map(|name| format!("<option>{}</option>", esc(name)))
        .collect();
    let subscriptions = &instance.config.configuration.notification.subscriptions;
    // Only offered when there is more than one receiver to choose from.
    let receivers = if subscriptions.is_empty() {
        String::new()
    } else {
        let options: String = std::iter::once(CALLBACK_NAME)
            .chain(subscriptions.iter().map(|s| s.name.as_str()))
            .map(|name| format!("<option>{}</option>", esc(name)))
            .collect();
        format!(
            "<div class=\"field\"><label for=\"replay_subscription\">to</label>\
             <select id=\"replay_subscription\" name=\"subscription\">\
             <option value=\"\">every receiver</option>{options}</select></div>"
        )
    };
    let types: String = EVENT_TYPES
        .iter()
        .map(|t| {
            format!(
                "<label class=\"check\"><input type=\"checkbox\" name=\"type\" value=\"{t}\"> {t}</label>"
            )
        })
        .collect();
    format!(
        "<form method=\"post\" action=\"/console/instances/{id}/replay/preview\" class=\"inline-form replay\">{csrf}\
         <div class=\"field\"><label for=\"replay_since\">Replay notifications written since (RFC 3339)</label>\
         <input type=\"text\" id=\"replay_since\" name=\"since\" required placeholder=\"2026-12-01T00:00:00Z\" \
         aria-describedby=\"replay_help\"></div>\
         <div class=\"field\"><label for=\"replay_until\">until (empty: now)</label>\
         <input type=\"text\" id=\"replay_until\" name=\"until\" placeholder=\"2026-12-02T00:00:00Z\"></div>\
         <div class=\"field\"><label for=\"replay_resource\">resource</label>\
         <select id=\"replay_resource\" name=\"resource\"><option value=\"\">every resource</option>{resources}</select></div>\
         {receivers}<fieldset class=\"field\"><legend>only events of type (none: all)</legend>{types}</fieldset>\
         <button type=\"submit\">Preview replay…</button>\
         <p class=\"muted\" id=\"replay_help\">Re-sends every notification written in the range, whatever its \
         delivery status, with the same notification and event ids (the receiver de-duplicates). \
         You see how many before it starts.</p></form>",
        csrf = csrf_field(csrf),
    )
}

/// The live table of the instance's replays.
pub(super) async fn region(
    store: &SqlStore,
    instance: &Instance,
    csrf: &str,
) -> Result<String, String> {
    let replays = store
        .list_replays(Some(&instance.key()), false)
        .await
        .map_err(|e| format!("listing replays failed: {e}"))?;
    if replays.is_empty() {
        return Ok("<p class=\"muted\">No replay yet.</p>".to_owned());
    }
    let mut out = String::from(
        "<div class=\"scroll\"><table class=\"replays\"><caption>Replays</caption><thead><tr>\
         <th scope=\"col\">Replay</th><th scope=\"col\">Written</th><th scope=\"col\">Only</th>\
         <th scope=\"col\">State</th><th scope=\"col\">Re-queued</th><th scope=\"col\"></th></tr></thead><tbody>",
    );
    // Newest first: the one just started is on top.
    for r in replays.iter().rev() {
        let to = replay::receiver(&r.filter).map(|name| format!("to {name}"));
        let only: Vec<&str> = r
            .filter
            .resources
            .iter()
            .chain(&r.filter.event_types)
            .map(String::as_str)
            .chain(to.as_deref())
            .collect();
        let badge = match r.state {
            ReplayState::Running => "muted",
            ReplayState::Done => "ok",
            _ => "bad",
        };
        let cancel = if r.state == ReplayState::Running {
            format!(
                "<form method=\"post\" action=\"/console/instances/{id}/replays/{rid}/cancel\">{csrf}\
                 <button type=\"submit\">Cancel</button></form>",
                id = instance.id,
                rid = r.id,
                csrf = csrf_field(csrf),
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{rid}</th><td>{since} → {until}</td><td>{only}</td>\
             <td><span class=\"badge {badge}\">{state}</span></td>\
             <td><progress max=\"{max}\" value=\"{done}\" aria-label=\"replay {rid} progress\"></progress> \
             {done} of {total}</td><td>{cancel}</td></tr>",
            rid = r.id,
            since = date(r.filter.since),
            until = date(r.filter.until),
            only = if only.is_empty() {
                "everything".to_owned()
            } else {
                esc(&only.join(", "))
            },
            state = r.state.as_str(),
            max = r.total.max(1),
            done = r.replayed,
            total = r.total,
        );
    }
    out.push_str("</tbody></table></div>");
    Ok(out)
}

/// The request a replay form carries (the preview's form and its confirmation alike).
fn request(pairs: &[(String, String)]) -> Result<ReplayRequest, String> {
    let instant = |name: &str| -> Result<Option<DateTime<Utc>>, String> {
        match field(pairs, name).map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map(|at| Some(at.with_timezone(&Utc)))
                .map_err(|_| {
                    format!("{name}: `{text}` is not an RFC 3339 date-time (like 2026-12-01T00:00:00Z).")
                }),
        }
    };
    Ok(ReplayRequest {
        since: instant("since")?,
        until: instant("until")?,
        resources: field(pairs, "resource")
            .filter(|r| !r.is_empty())
            .map(|r| vec![r.to_owned()])
            .unwrap_or_default(),
        event_types: pairs
            .iter()
            .filter(|(k, _)| k == "type")
            .map(|(_, v)| v.clone())
            .collect(),
        subscription: field(pairs, "subscription")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    })
}

/// `POST /console/instances/{id}/replay/preview`: how many notifications it would re-send,
/// and the button that starts it.
pub(super) async fn preview(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let request = match request(&pairs) {
        Ok(request) => request,
        Err(message) => return error_page(&signed, &state, StatusCode::BAD_REQUEST, &message),
    };
    let count = match replay::preview(state.engine.store(), &instance, &request).await {
        Ok(count) => count,
        Err(refused) => return refused_page(&signed, &state, &refused),
    };
    // The confirmation carries the range as asked, `until` fixed now so that it is the range
    // that was counted.
    let until = request.until.unwrap_or_else(Utc::now);
    let since = request.since.map(date).unwrap_or_default();
    let mut hidden = format!(
        "<input type=\"hidden\" name=\"since\" value=\"{}\">\
         <input type=\"hidden\" name=\"until\" value=\"{}\">",
        esc(&since),
        esc(&until.to_rfc3339()),
    );
    for resource in &request.resources {
        let _ = write!(
            hidden,
            "<input type=\"hidden\" name=\"resource\" value=\"{}\">",
            esc(resource)
        );
    }
    for t in &request.event_types {
        let _ = write!(
            hidden,
            "<input type=\"hidden\" name=\"type\" value=\"{}\">",
            esc(t)
        );
    }
    if let Some(name) = &request.subscription {
        let _ = write!(
            hidden,
            "<input type=\"hidden\" name=\"subscription\" value=\"{}\">",
            esc(name)
        );
    }
    let to = request
        .subscription
        .as_ref()
        .map(|name| format!("to {name}"));
    let only: Vec<&str> = request
        .resources
        .iter()
        .chain(&request.event_types)
        .map(String::as_str)
        .chain(to.as_deref())
        .collect();
    let start = if count == 0 {
        "<p>Nothing to replay.</p>".to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"/console/instances/{id}/replay\" class=\"actions-row\">{csrf}{hidden}\
             <button type=\"submit\" class=\"primary\">Start replay</button></form>",
            id = instance.id,
            csrf = csrf_field(&signed.csrf),
        )
    };
    let body = format!(
        "<h1>Replay notifications of {name}</h1>\
         <p id=\"replay-preview\" role=\"status\"><strong>{count}</strong> notification{s} written from {since} \
         to {until}{only} would be re-sent, whatever their delivery status, with their notification and event ids.</p>\
         <p class=\"muted\">It runs in chunks of {chunk}, each re-queued once the instance has fewer than \
         {chunk} notifications waiting, and can be cancelled from the instance page.</p>\
         {start}<p><a href=\"/console/instances/{id}\">Back to the instance</a></p>",
        name = esc(&instance.name),
        s = if count == 1 { "" } else { "s" },
        since = esc(&since),
        until = esc(&date(until)),
        only = if only.is_empty() {
            String::new()
        } else {
            format!(" (only {})", esc(&only.join(", ")))
        },
        chunk = replay::CHUNK,
        id = instance.id,
    );
    let page = signed.page(&state, "Replay notifications");
    (StatusCode::OK, Html(layout(&page, &body))).into_response()
}

/// `POST /console/instances/{id}/replay`: starts the previewed replay.
pub(super) async fn start(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let request = match request(&pairs) {
        Ok(request) => request,
        Err(message) => return error_page(&signed, &state, StatusCode::BAD_REQUEST, &message),
    };
    match replay::start(state.engine.store(), &instance, &request).await {
        Ok(started) => {
            state.engine.wake_replays();
            state.console.sessions.flash(
                &signed.id,
                format!(
                    "Replay {} started: {} notification{} to re-send.",
                    started.id,
                    started.total,
                    if started.total == 1 { "" } else { "s" }
                ),
            );
            Redirect::to(&format!("/console/instances/{}", instance.id)).into_response()
        }
        Err(refused) => refused_page(&signed, &state, &refused),
    }
}

/// `POST /console/instances/{id}/replays/{replay}/cancel`.
pub(super) async fn cancel(
    state: Shared,
    signed: SignedIn,
    Path((id, replay_id)): Path<(String, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let Ok(replay_id) = replay_id.parse::<i64>() else {
        return error_page(
            &signed,
            &state,
            StatusCode::NOT_FOUND,
            &format!("There is no replay {replay_id}."),
        );
    };
    match replay::cancel(state.engine.store(), &instance, replay_id).await {
        Ok(cancelled) => {
            state.console.sessions.flash(
                &signed.id,
                format!(
                    "Replay {} is {}: {} of {} re-queued.",
                    cancelled.id,
                    cancelled.state.as_str(),
                    cancelled.replayed,
                    cancelled.total
                ),
            );
            Redirect::to(&format!("/console/instances/{}", instance.id)).into_response()
        }
        Err(refused) => refused_page(&signed, &state, &refused),
    }
}
