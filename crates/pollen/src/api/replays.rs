//! `/instances/{id}/events/replay` and `/instances/{id}/events/replays`: re-sending the
//! notifications an instance wrote in a time range (see `crate::replay`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::instances::load;
use super::{json_body, parse_id, ApiError, ApiResult, Shared};
use crate::replay::{self, ReplayRequest};

fn instant(body: &Value, field: &str) -> ApiResult<Option<DateTime<Utc>>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text.trim())
            .map(|at| Some(at.with_timezone(&Utc)))
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "/{field}: `{text}` is not an RFC 3339 date-time ({e})"
                ))
            }),
        Some(_) => Err(ApiError::bad_request(format!(
            "/{field}: must be an RFC 3339 date-time string"
        ))),
    }
}

fn strings(body: &Value, field: &str) -> ApiResult<Vec<String>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad_request(format!("/{field}/{i}: must be a string")))
            })
            .collect(),
        Some(_) => Err(ApiError::bad_request(format!(
            "/{field}: must be an array of strings"
        ))),
    }
}

/// `POST /instances/{id}/events/replay` with `{"since", "until"?, "resources"?,
/// "eventTypes"?, "subscription"?, "preview"?}`: 202 and the replay, or with `"preview": true` 200 and the
/// number of notifications it would re-send.
pub(crate) async fn start(
    state: Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let instance = load(&state, parse_id(&id)?).await?;
    let body = json_body(&headers, body)?;
    let request = ReplayRequest {
        since: instant(&body, "since")?,
        until: instant(&body, "until")?,
        resources: strings(&body, "resources")?,
        event_types: strings(&body, "eventTypes")?,
        subscription: match body.get("subscription") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(_) => return Err(ApiError::bad_request("/subscription: must be a string")),
        },
    };
    let preview = match body.get("preview") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("/preview: must be a boolean")),
    };
    let store = state.engine.store();
    if preview {
        let count = replay::preview(store, &instance, &request).await?;
        return Ok((StatusCode::OK, Json(json!({ "count": count }))));
    }
    let started = replay::start(store, &instance, &request).await?;
    state.engine.wake_replays();
    tracing::info!(
        instance = instance.id,
        replay = started.id,
        total = started.total,
        "replay started"
    );
    Ok((StatusCode::ACCEPTED, Json(replay::replay_json(&started))))
}

/// `GET /instances/{id}/events/replays`: the instance's replays, oldest first.
pub(crate) async fn list(state: Shared, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let replays = state
        .engine
        .store()
        .list_replays(Some(&instance.key()), false)
        .await
        .map_err(|e| ApiError::internal("listing replays", e))?;
    Ok(Json(Value::Array(
        replays.iter().map(replay::replay_json).collect(),
    )))
}

fn replay_id(text: &str) -> ApiResult<i64> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "path parameter replayId: `{text}` is not a replay id (a whole number)"
        ))
    })
}

/// `GET /instances/{id}/events/replays/{replayId}`: one replay and its progress.
pub(crate) async fn get_one(
    state: Shared,
    Path((id, replay_id_text)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let found = replay::find(state.engine.store(), &instance, replay_id(&replay_id_text)?).await?;
    Ok(Json(replay::replay_json(&found)))
}

/// `POST /instances/{id}/events/replays/{replayId}/cancel`: stops a running replay (what it
/// re-queued is still sent).
pub(crate) async fn cancel(
    state: Shared,
    Path((id, replay_id_text)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let cancelled =
        replay::cancel(state.engine.store(), &instance, replay_id(&replay_id_text)?).await?;
    Ok(Json(replay::replay_json(&cancelled)))
}
