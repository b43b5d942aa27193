//! `/instances/{id}/subscriptions`: the receivers of an instance besides its callback, each a
//! lane of its own (see `crate::subscriptions`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::Json;
use pollen_callback::Redelivery;
use serde_json::{json, Value};

use super::instances::{load, update_instance, validate};
use super::{json_body, parse_id, ApiResult, Shared};
use crate::subscriptions;

/// `GET /instances/{id}/subscriptions`: the callback (`name` null) and every subscription, each
/// with its settings (secrets as `***`), whether it is active and its notifications by status.
pub(crate) async fn list(state: Shared, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let lanes = subscriptions::lanes(state.engine.store(), &instance).await?;
    Ok(Json(subscriptions::lanes_json(&instance, &lanes)))
}

/// `PUT /instances/{id}/subscriptions/{name}` with the subscription's JSON: replaces it or adds
/// it; a secret given as `***` keeps the current one. Problems come back at their JSON
/// Pointers inside the instance (`/configuration/event.notification.subscriptions/N/...`).
pub(crate) async fn put(
    state: Shared,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let body = json_body(&headers, body)?;
    let merged = subscriptions::with_subscription(&instance.config, &name, &body)?;
    let config = validate(&merged)?;
    let instance = update_instance(&state, instance.id, &config, None).await?;
    tracing::info!(instance = instance.id, subscription = %name, "subscription saved");
    let lanes = subscriptions::lanes(state.engine.store(), &instance).await?;
    Ok(Json(subscriptions::lanes_json(&instance, &lanes)))
}

/// `DELETE /instances/{id}/subscriptions/{name}`: no new notifications go to it; those already
/// written stay in the outbox (listed, replayable) but are no longer sent.
pub(crate) async fn delete(
    state: Shared,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let merged = subscriptions::without_subscription(&instance.config, &name)?;
    let config = validate(&merged)?;
    let instance = update_instance(&state, instance.id, &config, None).await?;
    tracing::info!(instance = instance.id, subscription = %name, "subscription removed");
    let lanes = subscriptions::lanes(state.engine.store(), &instance).await?;
    Ok(Json(subscriptions::lanes_json(&instance, &lanes)))
}

/// `POST /instances/{id}/subscriptions/{name}/redeliver`: re-activates the subscription and
/// sends its queued notifications again.
pub(crate) async fn redeliver(
    state: Shared,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let lane = subscriptions::lane_of(&instance, &name)?;
    let requeued = state
        .engine
        .sender()
        .redeliver(&Redelivery::Instance(lane))
        .await
        .map_err(|e| super::ApiError::internal("re-delivering", e))?;
    Ok(Json(json!({ "requeued": requeued })))
}
