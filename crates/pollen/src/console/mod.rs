//! The web console at `/console`: sign in with the platform secrets, watch instances poll
//! and deliver, create one the way the vendor's UI does, look at and re-deliver events.
//!
//! Server-rendered HTML over the same engine and store as the management API; one small
//! script (`assets/console.js`) refreshes the live regions from server-sent events and keeps
//! the create form's JSON preview in step. Every response carries a strict Content Security
//! Policy (no inline script or style), every form a per-session CSRF token, and no saved
//! secret is ever rendered: the instance JSON is shown masked.

mod business;
mod chart;
mod form;
mod html;
mod keys;
mod pages;
mod replay;
mod session;
mod subscriptions;

use std::collections::HashMap;
use std::convert::Infallible;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use futures::stream::{self, Stream};
use pollen_callback::Redelivery;
use pollen_config::{InstanceConfig, Secrets};
use pollen_core::StableId;
use pollen_store::Instance;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

use self::form::{NewForm, Problem};
use self::html::{csrf_field, esc, layout, Page};
use self::session::{
    cookie, random_token, same_token, set_cookie, Sessions, LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::api::{self, AppState};

/// Where the console lives.
pub const CONSOLE_PATH: &str = "/console";

const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// How often the live regions are re-rendered (and sent when they changed).
const LIVE_EVERY: Duration = Duration::from_secs(1);
/// The charts (an hour of notifications read and tallied) are re-rendered every this many
/// turns only.
const CHART_EVERY: u64 = 10;

/// The console's own state beside the API's.
#[derive(Debug)]
pub(crate) struct ConsoleState {
    sessions: Sessions,
    /// Mark cookies `Secure` (the console is reached over TLS).
    secure_cookies: bool,
    /// Becomes true at shutdown: live streams end so the server can stop.
    stop: watch::Receiver<bool>,
}

impl ConsoleState {
    pub(crate) fn new(secure_cookies: bool, stop: watch::Receiver<bool>) -> Self {
        ConsoleState {
            sessions: Sessions::default(),
            secure_cookies,
            stop,
        }
    }
}

type Shared = State<Arc<AppState>>;

/// The console's routes (under [`CONSOLE_PATH`]), with its security headers.
pub(crate) fn router() -> Router<Arc<AppState>> {
    let at = |path: &str| format!("{CONSOLE_PATH}{path}");
    Router::new()
        .route(&at("/"), get(list))
        .route(&at("/login"), get(login_form).post(login))
        .route(&at("/logout"), post(logout))
        .route(&at("/new"), get(new_form).post(create))
        .route(&at("/new/preview"), post(preview))
        .route(&at("/instances/{id}"), get(detail))
        .route(&at("/instances/{id}/redeliver"), post(redeliver))
        .route(&at("/instances/{id}/rewind"), post(rewind))
        .route(
            &at("/instances/{id}/subscriptions"),
            post(subscriptions::upsert),
        )
        .route(
            &at("/instances/{id}/subscriptions/{name}/remove"),
            post(subscriptions::remove),
        )
        .route(
            &at("/instances/{id}/subscriptions/{name}/redeliver"),
            post(subscriptions::redeliver),
        )
        .route(&at("/instances/{id}/keys/rotate"), post(keys::rotate))
        .route(&at("/instances/{id}/keys/drop"), post(keys::drop_retired))
        .route(&at("/instances/{id}/replay/preview"), post(replay::preview))
        .route(&at("/instances/{id}/replay"), post(replay::start))
        .route(
            &at("/instances/{id}/replays/{replay}/cancel"),
            post(replay::cancel),
        )
        .route(&at("/instances/{id}/pause"), post(pause))
        .route(&at("/instances/{id}/resume"), post(resume))
        .route(&at("/instances/{id}/callback"), post(edit_callback))
        .route(
            &at("/instances/{id}/business"),
            get(business::picker).post(business::choose),
        )
        .route(
            &at("/instances/{id}/delete"),
            get(confirm_delete).post(delete),
        )
        .route(&at("/notifications/{id}"), get(notification))
        .route(&at("/workers"), get(workers))
        .route(&at("/alerts"), get(alerts))
        .route(&at("/live"), get(live))
        .route(
            &at("/assets/console.css"),
            get(|| async { asset("text/css", CSS) }),
        )
        .route(
            &at("/assets/console.js"),
            get(|| async { asset("text/javascript", JS) }),
        )
        .route(CONSOLE_PATH, get(|| async { Redirect::to("/console/") }))
        .route("/", get(|| async { Redirect::to("/console/") }))
        .layer(axum::middleware::map_response(security_headers))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A strict CSP and friends on every console response.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-frame-options", "DENY");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, "cache-control", "no-store");
    }
    response
}

/// A signed-in request: its session id and CSRF token. Anything else is sent to sign in.
#[derive(Debug)]
struct SignedIn {
    id: String,
    csrf: String,
}

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        match state.console.sessions.get(&parts.headers) {
            Some((id, session)) => Ok(SignedIn {
                id,
                csrf: session.csrf,
            }),
            None if parts.uri.path().ends_with("/live") => {
                Err((StatusCode::UNAUTHORIZED, "sign in first").into_response())
            }
            None => Err(Redirect::to("/console/login").into_response()),
        }
    }
}

impl SignedIn {
    fn page<'a>(&'a self, state: &AppState, title: &'a str) -> Page<'a> {
        Page {
            title,
            csrf: Some(&self.csrf),
            live: None,
            flash: state.console.sessions.take_flash(&self.id),
            open_alerts: state.engine.open_alerts(),
        }
    }
}

/// The value of `name` in the submitted pairs.
fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The 403 page unless the form carries the session's CSRF token.
fn csrf_refused(signed: &SignedIn, pairs: &[(String, String)]) -> Option<Response> {
    match field(pairs, "csrf") {
        Some(token) if same_token(token, &signed.csrf) => None,
        _ => Some(refused()),
    }
}

fn refused() -> Response {
    let page = Page {
        title: "Refused",
        ..Page::default()
    };
    (
        StatusCode::FORBIDDEN,
        Html(layout(
            &page,
            "<h1>Form refused</h1><p role=\"alert\">The form's CSRF token is missing or wrong, so \
             nothing was changed. Go back, reload the page and try again.</p>\
             <p><a href=\"/console/\">Instances</a></p>",
        )),
    )
        .into_response()
}

fn error_page(signed: &SignedIn, state: &AppState, status: StatusCode, message: &str) -> Response {
    let page = signed.page(state, "Error");
    (
        status,
        Html(layout(
            &page,
            &format!(
                "<h1>{}</h1><p role=\"alert\">{}</p><p><a href=\"/console/\">Instances</a></p>",
                esc(status.canonical_reason().unwrap_or("Error")),
                esc(message)
            ),
        )),
    )
        .into_response()
}

/// The error page of a refused operator request (a replay, a key rotation).
fn refused_page(
    signed: &SignedIn,
    state: &AppState,
    refused: &crate::refused::Refused,
) -> Response {
    use crate::refused::Refused;
    match refused {
        Refused::Store { doing, error } => {
            tracing::error!(%error, "console: {doing}");
            error_page(
                signed,
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("{doing} failed; see the server log"),
            )
        }
        Refused::NotFound(message) => error_page(signed, state, StatusCode::NOT_FOUND, message),
        _ => error_page(signed, state, StatusCode::BAD_REQUEST, &refused.to_string()),
    }
}

// ----- sign in and out -----

#[derive(Debug, Deserialize)]
struct LoginQuery {
    failed: Option<String>,
}

async fn login_form(
    state: Shared,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let token = random_token();
    let failed = query.failed.is_some();
    let page = Page {
        title: "Sign in",
        ..Page::default()
    };
    let error = if failed {
        "<p class=\"error\" id=\"login-error\" role=\"alert\">The user or organization secret is wrong.</p>"
    } else {
        ""
    };
    let described = if failed {
        " aria-describedby=\"login-error\" aria-invalid=\"true\""
    } else {
        ""
    };
    let body = format!(
        "<h1>Sign in</h1><p>Use the platform secrets pollen was started with \
         (<code>POLLEN_USER_SECRET</code> and <code>POLLEN_ORG_SECRET</code>), the same as the API's \
         <code>Authorization: User …, Organization …</code>.</p>{error}\
         <form method=\"post\" action=\"/console/login\" class=\"narrow\">{}\
         <div class=\"field\"><label for=\"user\">User secret</label>\
         <input type=\"password\" id=\"user\" name=\"user\" autocomplete=\"current-password\"{described}></div>\
         <div class=\"field\"><label for=\"organization\">Organization secret</label>\
         <input type=\"password\" id=\"organization\" name=\"organization\" autocomplete=\"current-password\"{described}></div>\
         <p class=\"actions\"><button type=\"submit\" class=\"primary\">Sign in</button></p></form>",
        csrf_field(&token)
    );
    let mut response = Html(layout(&page, &body)).into_response();
    set_cookie_header(
        &mut response,
        &set_cookie(LOGIN_COOKIE, Some(&token), secure(&state, &headers)),
    );
    response
}

/// Whether cookies get `Secure`: always with `--secure-cookies`, and when a proxy says the
/// browser reached it over HTTPS (`X-Forwarded-Proto: https`; the flag only makes a cookie
/// stricter, so trusting the header costs nothing).
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.console.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

fn set_cookie_header(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

async fn login(
    state: Shared,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    // Double submit: the form's token must be the one in this browser's cookie.
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    match field(&pairs, "csrf") {
        Some(token) if !expected.is_empty() && same_token(token, &expected) => {}
        _ => return refused(),
    }
    let user = field(&pairs, "user");
    let organization = field(&pairs, "organization");
    match state.check_secrets(peer.ip(), user, organization) {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(client = %peer.ip(), "console: a sign-in with wrong secrets");
            return Redirect::to("/console/login?failed=1").into_response();
        }
        Err(wait) => {
            tracing::warn!(client = %peer.ip(), "console: sign-in refused after too many wrong secrets");
            let seconds = wait.as_secs().max(1);
            let page = Page {
                title: "Sign in",
                ..Page::default()
            };
            let body = format!(
                "<h1>Sign in</h1><p class=\"error\" role=\"alert\">Too many wrong secrets from \
                 this address. Try again in {seconds} seconds.</p>\
                 <p><a href=\"/console/login\">Back to sign in</a></p>"
            );
            let mut response =
                (StatusCode::TOO_MANY_REQUESTS, Html(layout(&page, &body))).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            return response;
        }
    }
    let (id, _csrf) = state.console.sessions.create();
    let secure = secure(&state, &headers);
    let mut response = Redirect::to("/console/").into_response();
    set_cookie_header(
        &mut response,
        &set_cookie(SESSION_COOKIE, Some(&id), secure),
    );
    set_cookie_header(&mut response, &set_cookie(LOGIN_COOKIE, None, secure));
    response
}

async fn logout(
    state: Shared,
    signed: SignedIn,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = csrf_refused(&signed, &pairs) {
        return refused;
    }
    state.console.sessions.remove(&signed.id);
    let mut response = Redirect::to("/console/login").into_response();
    set_cookie_header(
        &mut response,
        &set_cookie(SESSION_COOKIE, None, secure(&state, &headers)),
    );
    response
}

// ----- instances -----

async fn list(state: Shared, signed: SignedIn) -> Response {
    let store = state.engine.store();
    let (instances, chart) = match (
        pages::instances_region(store).await,
        pages::chart_region(store, None).await,
    ) {
        (Ok(i), Ok(c)) => (i, c),
        (Err(e), _) | (_, Err(e)) => {
            return error_page(&signed, &state, StatusCode::INTERNAL_SERVER_ERROR, &e)
        }
    };
    let mut page = signed.page(&state, "Instances");
    page.live = Some("/console/live".into());
    let body = format!(
        "<h1>Instances</h1><p class=\"live-note\" aria-live=\"polite\" id=\"live-state\">Updates live.</p>\
         <div id=\"instances\" class=\"live\">{instances}</div>\
         <h2>All instances, last hour</h2><div id=\"chart\" class=\"live\">{chart}</div>"
    );
    Html(layout(&page, &body)).into_response()
}

// ----- workers -----

async fn workers(state: Shared, signed: SignedIn) -> Response {
    let this = state.engine.worker().id;
    match pages::workers_region(state.engine.store(), &this).await {
        Ok(region) => {
            let page = signed.page(&state, "Workers");
            let body = format!(
                "<h1>Workers</h1><p>The pollen processes sharing this database. A worker is alive \
                 while its heartbeat is younger than its lease ttl; the leases of a dead one are \
                 released within seconds and its work is taken over.</p>{region}{budgets}",
                budgets = pages::budgets_region(&state.engine.budget_usage()),
            );
            Html(layout(&page, &body)).into_response()
        }
        Err(e) => error_page(&signed, &state, StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

async fn alerts(state: Shared, signed: SignedIn) -> Response {
    match state.engine.store().list_alerts(false, None, 200).await {
        Ok(list) => {
            let page = signed.page(&state, "Alerts");
            let body = format!(
                "<h1>Alerts</h1><p>Conditions to act on, derived from the stored state: a \
                 subscription deactivated, notifications that failed their last retry, an \
                 instance to re-authorize, polls failing or stalled. Each opening and recovery is \
                 also POSTed to the alerts URLs.</p>{}",
                pages::alerts_table(&list)
            );
            Html(layout(&page, &body)).into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "console: listing the alerts failed");
            error_page(
                &signed,
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "The alerts could not be read.",
            )
        }
    }
}

/// The instance a posted form acts on: the form's CSRF token checked first (403), then the
/// instance loaded (404 when there is none).
async fn posted_instance(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    pairs: &[(String, String)],
) -> Result<Instance, Response> {
    if let Some(refused) = csrf_refused(signed, pairs) {
        return Err(refused);
    }
    load(state, signed, id).await
}

async fn load(state: &AppState, signed: &SignedIn, id: &str) -> Result<Instance, Response> {
    let not_found = || {
        error_page(
            signed,
            state,
            StatusCode::NOT_FOUND,
            &format!("There is no instance {id}."),
        )
    };
    let Ok(id) = id.parse::<i64>() else {
        return Err(not_found());
    };
    match state.engine.store().instance(id).await {
        Ok(Some(instance)) => Ok(instance),
        Ok(None) => Err(not_found()),
        Err(error) => {
            tracing::error!(%error, "console: reading an instance");
            Err(error_page(
                signed,
                state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "reading the instance failed; see the server log",
            ))
        }
    }
}

async fn detail(state: Shared, signed: SignedIn, Path(id): Path<String>) -> Response {
    let instance = match load(&state, &signed, &id).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    render_detail(&state, &signed, instance, None, StatusCode::OK).await
}

/// The detail page; `callback_error` is `(submitted value, problem)` of a refused edit.
async fn render_detail(
    state: &AppState,
    signed: &SignedIn,
    instance: Instance,
    callback_error: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    let store = state.engine.store();
    let events = pages::events_region(store, &instance, &signed.csrf).await;
    let chart = pages::chart_region(store, Some(&instance)).await;
    let replays = replay::region(store, &instance, &signed.csrf).await;
    let signing = keys::section(store, &instance, &signed.csrf).await;
    let subs = subscriptions::section(store, &instance, &signed.csrf).await;
    // A failure to read them is shown in place: the rest of the page is still right.
    let checkpoints = pages::checkpoints_section(store, &instance)
        .await
        .unwrap_or_else(|e| format!("<p class=\"error\">{}</p>", esc(&e)));
    let replay_form = replay::form(&instance, &signed.csrf);
    let id = instance.id;
    let name = instance.name.clone();
    let enabled = instance.config.configuration.notification.enabled;
    let paused = instance.status == pollen_store::InstanceStatus::Disabled;
    let callback = instance
        .config
        .configuration
        .notification
        .callback_url
        .as_ref()
        .map(|u| u.as_str().to_owned())
        .unwrap_or_default();
    let masked = form::pretty(&api::instance_json(&instance));
    let business = crate::businesses::describe_business(&instance.config);
    let v31 = instance.config.configuration.sage.api_version != pollen_config::ApiVersion::V3;
    let view = pages::instance_view(store, instance).await;
    let (view, events, chart, replays, signing, subs) =
        match (view, events, chart, replays, signing, subs) {
            (Ok(v), Ok(e), Ok(c), Ok(r), Ok(k), Ok(s)) => (v, e, c, r, k, s),
            (Err(e), ..)
            | (_, Err(e), ..)
            | (_, _, Err(e), ..)
            | (_, _, _, Err(e), ..)
            | (_, _, _, _, Err(e), _)
            | (.., Err(e)) => {
                return error_page(signed, state, StatusCode::INTERNAL_SERVER_ERROR, &e)
            }
        };
    let polled = view
        .resources
        .iter()
        .any(|(_, state)| state.as_ref().is_some_and(|s| s.completed_polls > 0));
    let choose = if v31 && !polled {
        format!(
            "<a class=\"button\" href=\"/console/instances/{id}/business\">Choose business…</a>"
        )
    } else {
        String::new()
    };
    let tags = view
        .instance
        .tags
        .iter()
        .map(|t| esc(t))
        .collect::<Vec<_>>()
        .join(", ");
    let csrf = csrf_field(&signed.csrf);
    let (callback_value, callback_problem) = match &callback_error {
        Some((value, problem)) => (
            value.as_str(),
            format!(
                "<p class=\"error\" id=\"error-callback\">{}</p>",
                esc(problem)
            ),
        ),
        None => (callback.as_str(), String::new()),
    };
    let callback_attrs = if callback_error.is_some() {
        " aria-invalid=\"true\" aria-describedby=\"error-callback\""
    } else {
        ""
    };
    let pause = if paused {
        format!("<form method=\"post\" action=\"/console/instances/{id}/resume\">{csrf}<button type=\"submit\">Resume polling</button></form>")
    } else {
        format!("<form method=\"post\" action=\"/console/instances/{id}/pause\">{csrf}<button type=\"submit\">Pause polling</button></form>")
    };
    let body = format!(
        "<h1>{name}</h1>\
         <dl class=\"facts\"><div><dt>Id</dt><dd>{id}</dd></div><div><dt>Element</dt><dd>{element}</dd></div>\
         <div><dt>Tags</dt><dd>{tags}</dd></div><div><dt>Events</dt><dd>{events_on}</dd></div>\
         <div><dt>Sage business</dt><dd id=\"business\">{business}</dd></div></dl>\
         <p class=\"live-note\" aria-live=\"polite\" id=\"live-state\">Updates live.</p>\
         <h2>Status</h2><div id=\"status\" class=\"live\">{status_region}</div>\
         <h2>Actions</h2><div class=\"actions-row\">{pause}{choose}\
         <form method=\"post\" action=\"/console/instances/{id}/redeliver\">{csrf}<button type=\"submit\">Redeliver queued notifications</button></form>\
         <a class=\"button danger\" href=\"/console/instances/{id}/delete\">Delete…</a></div>\
         <form method=\"post\" action=\"/console/instances/{id}/callback\" class=\"inline-form\">{csrf}\
         <div class=\"field{invalid}\"><label for=\"callback_url\">Callback URL</label>{callback_problem}\
         <input type=\"url\" id=\"callback_url\" name=\"callback_url\" value=\"{callback_value}\"{callback_attrs}></div>\
         <button type=\"submit\">Save callback URL</button></form>\
         <form method=\"post\" action=\"/console/instances/{id}/rewind\" class=\"inline-form rewind\">{csrf}\
         <div class=\"field\"><label for=\"rewind_resource\">Rewind resource</label>\
         <select id=\"rewind_resource\" name=\"resource\">{rewind_options}</select></div>\
         <div class=\"field\"><label for=\"rewind_to\">to (RFC 3339)</label>\
         <input type=\"text\" id=\"rewind_to\" name=\"to\" required placeholder=\"2026-12-01T00:00:00Z\" \
         aria-describedby=\"rewind_help\"></div>\
         <button type=\"submit\">Rewind</button>\
         <p class=\"muted\" id=\"rewind_help\">The next poll reads the resource again from that instant and \
         re-sends the changes it finds, with their event ids (for a receiver that rebuilt its store).</p></form>\
         <h2 id=\"subscriptions-heading\">Subscriptions</h2>{subs}\
         <h2>Signing keys</h2>{signing}\
         <h2>Checkpoints</h2>{checkpoints}\
         <h2>Replays</h2>{replay_form}<div id=\"replays\" class=\"live\">{replays}</div>\
         <h2>Events</h2><div id=\"events\" class=\"live\">{events}</div>\
         <h2>Last hour</h2><div id=\"chart\" class=\"live\">{chart}</div>\
         <details><summary>Instance JSON (secrets masked)</summary><pre class=\"body\" tabindex=\"0\">{masked}</pre></details>",
        name = esc(&name),
        element = esc(&view.instance.element_key),
        events_on = if enabled { "on" } else { "off" },
        business = esc(&business),
        status_region = pages::status_region(&view),
        rewind_options = view
            .resources
            .iter()
            .map(|(name, _)| format!("<option>{}</option>", esc(name)))
            .collect::<String>(),
        invalid = if callback_error.is_some() { " invalid" } else { "" },
        callback_value = esc(callback_value),
        masked = esc(&masked),
    );
    let mut page = signed.page(state, &name);
    page.live = Some(format!("/console/live?instance={id}"));
    (status, Html(layout(&page, &body))).into_response()
}

async fn redeliver(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let what = match field(&pairs, "id") {
        Some(text) => match StableId::from_str(text) {
            Ok(nid) => match api::find_entry(state.engine.store().as_ref(), nid).await {
                Ok(Some(entry)) if entry.notification.key.instance == instance.key() => {
                    Redelivery::Ids(vec![entry.notification.id])
                }
                _ => {
                    return error_page(
                        &signed,
                        &state,
                        StatusCode::NOT_FOUND,
                        &format!("Instance {} has no notification {text}.", instance.id),
                    )
                }
            },
            Err(_) => {
                return error_page(
                    &signed,
                    &state,
                    StatusCode::BAD_REQUEST,
                    &format!("`{text}` is not a notification id."),
                )
            }
        },
        None => Redelivery::Instance(instance.key()),
    };
    match state.engine.sender().redeliver(&what).await {
        Ok(n) => state.console.sessions.flash(
            &signed.id,
            format!(
                "{n} notification{} requeued for delivery.",
                if n == 1 { "" } else { "s" }
            ),
        ),
        Err(error) => {
            tracing::error!(%error, "console: re-delivering");
            return error_page(
                &signed,
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "re-delivering failed; see the server log",
            );
        }
    }
    let back = match (field(&pairs, "back"), field(&pairs, "id")) {
        (Some("notification"), Some(nid)) => format!("/console/notifications/{nid}"),
        _ => format!("/console/instances/{}", instance.id),
    };
    Redirect::to(&back).into_response()
}

async fn rewind(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let resource = field(&pairs, "resource").unwrap_or_default();
    let text = field(&pairs, "to").unwrap_or_default().trim();
    let Ok(to) = chrono::DateTime::parse_from_rfc3339(text) else {
        return error_page(
            &signed,
            &state,
            StatusCode::BAD_REQUEST,
            &format!("`{text}` is not an RFC 3339 date-time (like 2026-12-01T00:00:00Z)."),
        );
    };
    let to = to.with_timezone(&chrono::Utc);
    match crate::rewind::rewind(state.engine.store(), &instance, resource, to).await {
        Ok(rewound) => {
            state.engine.wake_poller();
            state.console.sessions.flash(
                &signed.id,
                format!(
                    "{resource} rewound to {}: its next poll re-sends the changes since ({} already sent).",
                    to.to_rfc3339(),
                    rewound.forgotten
                ),
            );
        }
        Err(crate::rewind::Refused::Store(error)) => {
            tracing::error!(%error, "console: rewinding");
            return error_page(
                &signed,
                &state,
                StatusCode::INTERNAL_SERVER_ERROR,
                "rewinding failed; see the server log",
            );
        }
        Err(refused) => {
            let status = if matches!(refused, crate::rewind::Refused::Invalid(_)) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::NOT_FOUND
            };
            return error_page(&signed, &state, status, &refused.to_string());
        }
    }
    Redirect::to(&format!("/console/instances/{}", instance.id)).into_response()
}

async fn set_paused(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    pairs: &[(String, String)],
    paused: bool,
) -> Response {
    if let Some(refused) = csrf_refused(signed, pairs) {
        return refused;
    }
    let instance = match load(state, signed, id).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    match api::update_instance(state, instance.id, &instance.config, Some(paused)).await {
        Ok(_) => {
            state.console.sessions.flash(
                &signed.id,
                if paused {
                    "Polling paused."
                } else {
                    "Polling resumed."
                },
            );
            Redirect::to(&format!("/console/instances/{}", instance.id)).into_response()
        }
        Err(error) => error_page(signed, state, error.status(), error.message()),
    }
}

async fn pause(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    set_paused(&state, &signed, &id, &pairs, true).await
}

async fn resume(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    set_paused(&state, &signed, &id, &pairs, false).await
}

async fn edit_callback(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let url = field(&pairs, "callback_url")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut merged = instance.config.to_json(Secrets::Expose);
    merged["configuration"]["event.notification.callback.url"] = Value::String(url.clone());
    let problem =
        match InstanceConfig::from_json_value_for(&merged, &crate::instances::sage_vocabulary()) {
            Ok(loaded) => {
                match api::update_instance(&state, instance.id, &loaded.config, None).await {
                    Ok(_) => {
                        state
                            .console
                            .sessions
                            .flash(&signed.id, "Callback URL saved; the next delivery uses it.");
                        return Redirect::to(&format!("/console/instances/{}", instance.id))
                            .into_response();
                    }
                    Err(error) => error.message().to_owned(),
                }
            }
            Err(errors) => errors
                .errors()
                .map(|p| p.message().to_owned())
                .collect::<Vec<_>>()
                .join("; "),
        };
    render_detail(
        &state,
        &signed,
        instance,
        Some((url, problem)),
        StatusCode::BAD_REQUEST,
    )
    .await
}

async fn confirm_delete(state: Shared, signed: SignedIn, Path(id): Path<String>) -> Response {
    let instance = match load(&state, &signed, &id).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    let page = signed.page(&state, "Delete instance");
    let body = format!(
        "<h1>Delete “{name}”?</h1><p>Polling stops and the instance, its poll states and its \
         credentials are deleted. Notifications already in the outbox stay until they are pruned. \
         This cannot be undone.</p>\
         <form method=\"post\" action=\"/console/instances/{id}/delete\">{csrf}\
         <button type=\"submit\" class=\"danger\">Delete instance {id}</button> \
         <a href=\"/console/instances/{id}\">Cancel</a></form>",
        name = esc(&instance.name),
        id = instance.id,
        csrf = csrf_field(&signed.csrf)
    );
    Html(layout(&page, &body)).into_response()
}

async fn delete(
    state: Shared,
    signed: SignedIn,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let instance = match posted_instance(&state, &signed, &id, &pairs).await {
        Ok(instance) => instance,
        Err(response) => return response,
    };
    match api::delete_instance(&state, instance.id).await {
        Ok(()) => {
            state
                .console
                .sessions
                .flash(&signed.id, format!("Instance “{}” deleted.", instance.name));
            Redirect::to("/console/").into_response()
        }
        Err(error) => error_page(&signed, &state, error.status(), error.message()),
    }
}

// ----- creating -----

#[derive(Debug, Deserialize)]
struct NewQuery {
    paste: Option<String>,
}

async fn new_form(state: Shared, signed: SignedIn, Query(query): Query<NewQuery>) -> Response {
    let paste = query.paste.is_some();
    let mut form = NewForm::defaults();
    if paste {
        form.json = String::new();
    }
    let page = signed.page(&state, "Create instance");
    Html(layout(
        &page,
        &form::render(&form, &signed.csrf, &[], None, paste),
    ))
    .into_response()
}

/// The instance JSON the submitted fields make (for the editor), as text.
async fn preview(signed: SignedIn, Form(pairs): Form<Vec<(String, String)>>) -> Response {
    if let Some(refused) = csrf_refused(&signed, &pairs) {
        return refused;
    }
    let form = NewForm::from_pairs(&pairs);
    (
        [(header::CONTENT_TYPE, "application/json")],
        form::pretty(&form.instance_json()),
    )
        .into_response()
}

async fn create(
    state: Shared,
    signed: SignedIn,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = csrf_refused(&signed, &pairs) {
        return refused;
    }
    let form = NewForm::from_pairs(&pairs);
    let json_mode = form.mode == "json";
    // Paused until its business is chosen (see `business`).
    let choose_later = form.choose_business_later();
    let body = if json_mode {
        match serde_json::from_str::<Value>(&form.json) {
            Ok(value) => value,
            Err(error) => {
                let problem = Problem {
                    pointer: String::new(),
                    message: format!(
                        "not valid JSON at line {} column {}: {error}",
                        error.line(),
                        error.column()
                    ),
                };
                return refused_form(&state, &signed, &form, &[problem], None);
            }
        }
    } else {
        form.instance_json()
    };
    match api::create_instance(&state, &body, choose_later).await {
        Ok((instance, _token)) if choose_later => {
            business::after_create(&state, &signed, instance).await
        }
        Ok((instance, _token)) => {
            state.console.sessions.flash(
                &signed.id,
                format!(
                    "Instance “{}” created; its first poll is due shortly.",
                    instance.name
                ),
            );
            Redirect::to(&format!("/console/instances/{}", instance.id)).into_response()
        }
        Err(error) => {
            let problems: Vec<Problem> = error
                .problems()
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|p| p["severity"] != "warning")
                .map(|p| Problem {
                    pointer: p["pointer"].as_str().unwrap_or_default().to_owned(),
                    message: p["message"].as_str().unwrap_or_default().to_owned(),
                })
                .collect();
            let general = problems.is_empty().then(|| error.message().to_owned());
            refused_form(&state, &signed, &form, &problems, general.as_deref())
        }
    }
}

/// The form again with its problems; secrets are not filled back in (in form mode).
fn refused_form(
    state: &AppState,
    signed: &SignedIn,
    form: &NewForm,
    problems: &[Problem],
    general: Option<&str>,
) -> Response {
    let shown = if form.mode == "json" {
        form.clone()
    } else {
        form.without_secrets()
    };
    let page = signed.page(state, "Create instance");
    (
        StatusCode::BAD_REQUEST,
        Html(layout(
            &page,
            &form::render(&shown, &signed.csrf, problems, general, false),
        )),
    )
        .into_response()
}

// ----- a notification -----

async fn notification(state: Shared, signed: SignedIn, Path(id): Path<String>) -> Response {
    let Ok(nid) = StableId::from_str(&id) else {
        return error_page(
            &signed,
            &state,
            StatusCode::BAD_REQUEST,
            &format!("`{id}` is not a notification id."),
        );
    };
    let store = state.engine.store();
    let entry = match api::find_entry(store.as_ref(), nid).await {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            return error_page(
                &signed,
                &state,
                StatusCode::NOT_FOUND,
                &format!("There is no notification {id}."),
            )
        }
        Err(error) => return error_page(&signed, &state, error.status(), error.message()),
    };
    let instance = match entry.notification.key.instance.parse::<i64>() {
        Ok(n) => store.instance(n).await.ok().flatten(),
        Err(_) => None,
    };
    match pages::notification_page(store, &entry, instance.as_ref(), &signed.csrf).await {
        Ok(body) => {
            let page = signed.page(&state, "Notification");
            Html(layout(&page, &body)).into_response()
        }
        Err(e) => error_page(&signed, &state, StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

// ----- live updates -----

#[derive(Debug, Deserialize)]
struct LiveQuery {
    instance: Option<String>,
}

/// The chart region of the list (`None`) or of an instance.
async fn chart(state: &AppState, instance: Option<i64>) -> Result<String, String> {
    let store = state.engine.store();
    match instance {
        None => pages::chart_region(store, None).await,
        Some(id) => match store.instance(id).await.map_err(|e| e.to_string())? {
            Some(instance) => pages::chart_region(store, Some(&instance)).await,
            None => Err(format!("instance {id} was deleted")),
        },
    }
}

/// The regions of the page `query` names, by element id; the charts only `with_chart`.
async fn regions(
    state: &AppState,
    csrf: &str,
    instance: Option<i64>,
    with_chart: bool,
) -> Result<HashMap<&'static str, String>, String> {
    let store = state.engine.store();
    let mut out = HashMap::new();
    match instance {
        None => {
            out.insert("instances", pages::instances_region(store).await?);
            if with_chart {
                out.insert("chart", pages::chart_region(store, None).await?);
            }
        }
        Some(id) => {
            let Some(instance) = store.instance(id).await.map_err(|e| e.to_string())? else {
                return Err(format!("instance {id} was deleted"));
            };
            out.insert(
                "events",
                pages::events_region(store, &instance, csrf).await?,
            );
            if with_chart {
                out.insert("chart", pages::chart_region(store, Some(&instance)).await?);
            }
            out.insert("replays", replay::region(store, &instance, csrf).await?);
            let view = pages::instance_view(store, instance).await?;
            out.insert("status", pages::status_region(&view));
        }
    }
    Ok(out)
}

/// Server-sent events: every [`LIVE_EVERY`], the regions that changed since the page (or the
/// last message) was rendered, as one JSON object `{element id: html}`. A `gone` event says
/// the instance was deleted. Ends at sign-out and at shutdown.
async fn live(
    state: Shared,
    signed: SignedIn,
    Query(query): Query<LiveQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let instance = query.instance.and_then(|s| s.parse::<i64>().ok());
    let state = state.0.clone();
    // What the page already shows: only later changes are sent.
    let sent = regions(&state, &signed.csrf, instance, true)
        .await
        .unwrap_or_default();
    let start = Live {
        state,
        signed,
        sent,
        done: false,
        turn: 0,
    };
    let events = stream::unfold(start, move |mut live| async move {
        let mut stop = live.state.console.stop.clone();
        loop {
            if live.done {
                return None;
            }
            tokio::select! {
                () = tokio::time::sleep(LIVE_EVERY) => {}
                _ = stop.wait_for(|s| *s) => return None,
            }
            if *stop.borrow() || !live.state.console.sessions.is_live(&live.signed.id) {
                return None;
            }
            live.turn += 1;
            let mut now = match regions(&live.state, &live.signed.csrf, instance, false).await {
                Ok(now) => now,
                Err(message) => {
                    live.done = true;
                    return Some((Ok(Event::default().event("gone").data(message)), live));
                }
            };
            // The charts follow when something else changed, and every CHART_EVERY turns.
            let moved = now
                .iter()
                .any(|(id, html)| live.sent.get(*id) != Some(html));
            if moved || live.turn % CHART_EVERY == 0 {
                match chart(&live.state, instance).await {
                    Ok(html) => {
                        now.insert("chart", html);
                    }
                    Err(message) => {
                        live.done = true;
                        return Some((Ok(Event::default().event("gone").data(message)), live));
                    }
                }
            } else if let Some(previous) = live.sent.get("chart") {
                now.insert("chart", previous.clone());
            }
            let changed: serde_json::Map<String, Value> = now
                .iter()
                .filter(|(id, html)| live.sent.get(*id) != Some(*html))
                .map(|(id, html)| ((*id).to_owned(), Value::String(html.clone())))
                .collect();
            live.sent = now;
            if !changed.is_empty() {
                let data = Value::Object(changed).to_string();
                return Some((Ok(Event::default().data(data)), live));
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// A live stream's state.
struct Live {
    state: Arc<AppState>,
    signed: SignedIn,
    sent: HashMap<&'static str, String>,
    done: bool,
    turn: u64,
}
