//! `pollen serve`: the management API, in the vendor's shape (Open Connectors §5), under
//! [`BASE_PATH`], next to an [`Engine`] polling and delivering the stored instances.
//!
//! Every call but `/health`, `/metrics` and `/openapi.json` needs
//! `Authorization: User <secret>, Organization <secret>`; hub reads also need
//! `Element <instance token>`. Errors are JSON `{"status", "message", "problems"?}`; bad input
//! is a 4xx naming the field, never a 500.

mod alerts;
mod auth;
mod businesses;
mod checkpoints;
mod events;
mod instances;
mod keys;
mod ops;
mod replays;
mod subscriptions;
mod workers;

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use pollen_store::SqlStore;
use serde_json::{json, Value};

pub use auth::ApiSecrets;
pub(crate) use events::find_entry;
pub(crate) use instances::{
    create_instance, delete_instance, instance_json, update_instance, validate as validate_instance,
};

use crate::console::ConsoleState;
use crate::engine::{Engine, EngineOptions};
use crate::error::{Error, ErrorKind, Result};

/// Where the API lives.
pub const BASE_PATH: &str = "/elements/api-v2";

/// The hand-written OpenAPI 3 document served at `/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// How [`serve`] runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The engine's options (private callbacks, intervals).
    pub engine: EngineOptions,
    /// Request bodies larger than this are refused with 413.
    pub body_limit: usize,
    /// Mark the console's cookies `Secure`: set it when the console is reached over TLS (a
    /// TLS-terminating proxy in front of pollen).
    pub secure_cookies: bool,
}

impl ServeOptions {
    /// The engine's defaults and a 1 MiB body limit.
    pub fn new() -> Self {
        ServeOptions {
            engine: EngineOptions::new(),
            body_limit: 1024 * 1024,
            secure_cookies: false,
        }
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions::new()
    }
}

/// What every API and console handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) engine: Engine,
    pub(crate) secrets: ApiSecrets,
    pub(crate) console: ConsoleState,
    /// Wrong secrets per client address, API and console together.
    pub(crate) failed_auth: auth::FailedAuth,
}

impl AppState {
    /// Checks the platform secrets presented by `client`: `Err(retry after)` when the address
    /// used up its failures ([`auth::MAX_FAILURES`] per [`auth::FAILURE_WINDOW`]), whatever it
    /// presents now; otherwise whether both secrets are right (a wrong pair is counted).
    pub(crate) fn check_secrets(
        &self,
        client: std::net::IpAddr,
        user: Option<&str>,
        organization: Option<&str>,
    ) -> std::result::Result<bool, std::time::Duration> {
        let now = std::time::Instant::now();
        if let Some(wait) = self.failed_auth.refused_for(client, now) {
            return Err(wait);
        }
        let ok = self
            .secrets
            .check(user.unwrap_or_default(), organization.unwrap_or_default());
        let ok = ok && user.is_some() && organization.is_some();
        if !ok {
            self.failed_auth.failed(client, now);
        }
        Ok(ok)
    }
}

/// The TCP peer's address of `request` (unspecified when the server was not started with
/// connection info, as in-process tests may do).
pub(crate) fn client_address(extensions: &axum::http::Extensions) -> std::net::IpAddr {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |info| info.0.ip())
}

type Shared = State<Arc<AppState>>;

/// The API's and the console's routes over `engine` (which the caller runs); the console's
/// live streams end when `stop` becomes true.
fn router(
    engine: Engine,
    secrets: ApiSecrets,
    options: &ServeOptions,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Router {
    let body_limit = options.body_limit;
    let state = Arc::new(AppState {
        engine,
        secrets,
        console: ConsoleState::new(options.secure_cookies, stop),
        failed_auth: auth::FailedAuth::default(),
    });
    let protected = Router::new()
        .route("/instances", post(instances::create).get(instances::list))
        .route(
            "/instances/{id}",
            get(instances::get_one)
                .put(instances::replace)
                .patch(instances::patch)
                .delete(instances::delete),
        )
        .route("/instances/{id}/businesses", get(businesses::list))
        .route(
            "/instances/{id}/resources/{name}/rewind",
            post(events::rewind),
        )
        .route("/instances/{id}/events", get(events::list))
        .route("/instances/{id}/events/redeliver", post(events::redeliver))
        .route("/instances/{id}/checkpoints", get(checkpoints::list))
        .route("/instances/{id}/signing-keys", get(keys::list))
        .route("/instances/{id}/signing-keys/rotate", post(keys::rotate))
        .route(
            "/instances/{id}/signing-keys/retired",
            axum::routing::delete(keys::drop_retired),
        )
        .route("/instances/{id}/events/replay", post(replays::start))
        .route("/instances/{id}/events/replays", get(replays::list))
        .route(
            "/instances/{id}/events/replays/{replay_id}",
            get(replays::get_one),
        )
        .route(
            "/instances/{id}/events/replays/{replay_id}/cancel",
            post(replays::cancel),
        )
        .route("/instances/{id}/subscriptions", get(subscriptions::list))
        .route(
            "/instances/{id}/subscriptions/{name}",
            axum::routing::put(subscriptions::put).delete(subscriptions::delete),
        )
        .route(
            "/instances/{id}/subscriptions/{name}/redeliver",
            post(subscriptions::redeliver),
        )
        .route("/instances/events/{event_id}", get(events::get_one))
        .route("/hubs/finance/{resource}", get(ops::hub))
        .route("/alerts", get(alerts::list))
        .route("/workers", get(workers::list))
        .route("/budgets", get(workers::budgets))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_platform_secrets,
        ));
    let open = Router::new()
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi));
    Router::new()
        .nest(BASE_PATH, protected.merge(open))
        .merge(crate::console::router())
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves the API and the console on `listener` and polls and delivers every stored instance
/// until `shutdown` completes; then stops the engine (see [`Engine::run`]) and the server.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<SqlStore>,
    secrets: ApiSecrets,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let engine = Engine::new(store, options.engine.clone())?;
    let added = engine.add_stored_instances().await?;
    tracing::info!(instances = added, "polling the stored instances");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let server = spawn_server(listener, engine.clone(), secrets, &options, stop_rx.clone());
    let engine_run = engine.run(stopped(stop_rx));
    let signal = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let (ran, ()) = tokio::join!(engine_run, signal);
    server.await?;
    ran
}

/// Serves the API and the console over an engine the caller runs (`pollen demo`), until
/// `stop` becomes true. The returned future resolves when the server has stopped.
pub fn spawn_server(
    listener: tokio::net::TcpListener,
    engine: Engine,
    secrets: ApiSecrets,
    options: &ServeOptions,
    stop: tokio::sync::watch::Receiver<bool>,
) -> impl Future<Output = Result<()>> {
    let app = router(engine, secrets, options, stop.clone());
    let stopped = {
        let mut rx = stop;
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    // The peer's address counts wrong secrets per client (see `auth::FailedAuth`).
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stopped);
    let task = tokio::spawn(async move { server.await });
    async move {
        match task.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Error::new(ErrorKind::Io, format!("serving: {error}"))),
            Err(error) => Err(Error::new(
                ErrorKind::Io,
                format!("the server task failed: {error}"),
            )),
        }
    }
}

/// Refuses (401) any call without the right user and organization secrets, without saying
/// which was wrong.
async fn require_platform_secrets(state: Shared, request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let given = auth::parse(header);
    let client = client_address(request.extensions());
    let ok = match state.check_secrets(client, given.user, given.organization) {
        Ok(ok) => ok,
        Err(wait) => return too_many_failures(wait),
    };
    if !ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Authorization must be `User <secret>, Organization <secret>` with valid secrets",
        )
        .into_response();
    }
    next.run(request).await
}

/// 429 with `Retry-After` for a client that presented wrong secrets too often.
fn too_many_failures(wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many calls with wrong secrets from this address; retry in {seconds} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    response
}

/// An error response: `{"status": N, "message": "...", "problems": [...]}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    problems: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            problems: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn problems(&self) -> Option<&Value> {
        self.problems.as_ref()
    }

    pub(crate) fn with_problems(mut self, problems: Value) -> Self {
        self.problems = Some(problems);
        self
    }

    /// A failure of ours (the store), logged; the client gets no detail.
    pub(crate) fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{context} failed; see the server log"),
        )
    }
}

/// A store failure: the client's fault when the store says so (400, 404), else ours (500).
pub(crate) fn store_error(context: &str) -> impl FnOnce(pollen_store::Error) -> ApiError + '_ {
    move |error| match error.kind() {
        pollen_store::ErrorKind::InvalidInput => ApiError::bad_request(error.to_string()),
        pollen_store::ErrorKind::NotFound => ApiError::not_found(error.to_string()),
        _ => ApiError::internal(context, error),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"status": self.status.as_u16(), "message": self.message});
        if let Some(problems) = self.problems {
            body["problems"] = problems;
        }
        (self.status, Json(body)).into_response()
    }
}

pub(crate) type ApiResult<T> = std::result::Result<T, ApiError>;

/// The JSON body of a request: 415 unless `Content-Type` is JSON, 413 over the limit, 400
/// with the line and column when it does not parse.
impl From<crate::refused::Refused> for ApiError {
    fn from(refused: crate::refused::Refused) -> Self {
        use crate::refused::Refused;
        match refused {
            Refused::Invalid { field, message } => {
                ApiError::bad_request(format!("/{field}: {message}"))
            }
            Refused::NotFound(message) => ApiError::not_found(message),
            Refused::Store { doing, error } => ApiError::internal(doing, error),
        }
    }
}

pub(crate) fn json_body(
    headers: &HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> ApiResult<Value> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body is larger than the limit".to_owned()
        } else {
            format!("cannot read the request body: {}", rejection.body_text())
        };
        ApiError::new(status, message)
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type must be application/json, found `{}`",
                if content_type.is_empty() {
                    "(none)"
                } else {
                    content_type
                }
            ),
        ));
    }
    serde_json::from_slice(&body).map_err(|error| {
        // serde_json's message ends with the position again; it says column 0 at a line start.
        let text = error.to_string();
        let message = text
            .rfind(" at line ")
            .map_or(text.as_str(), |at| &text[..at]);
        ApiError::bad_request(format!(
            "the request body is not valid JSON at line {} column {}: {message}",
            error.line(),
            error.column().max(1)
        ))
    })
}

/// A path id: 400 naming the parameter unless it is a whole number.
pub(crate) fn parse_id(text: &str) -> ApiResult<i64> {
    text.parse::<i64>().map_err(|_| {
        ApiError::bad_request(format!(
            "path parameter id: `{text}` is not an instance id (a whole number)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{id}` and `{eventId}` alike: the router and the document name parameters differently.
    fn shape(path: &str) -> String {
        path.split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "{}"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Every route of the API router (read from this file) is in `openapi.json`.
    #[test]
    fn every_route_is_documented() {
        let document: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        let documented: Vec<String> = document["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(|p| shape(p))
            .collect();
        let routes: Vec<&str> = include_str!("mod.rs")
            .split(".route(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(routes.len() >= 10, "found only {routes:?}");
        for route in routes {
            assert!(
                documented.contains(&shape(route)),
                "{route} is served but not in openapi.json"
            );
        }
    }
}
