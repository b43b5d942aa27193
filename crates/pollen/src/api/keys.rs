//! `/instances/{id}/signing-keys`: rotating an instance's signing keys, its callback's and its
//! subscriptions', with a grace period (see `crate::keys`).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::Json;
use chrono::Utc;
use pollen_config::Secret;
use pollen_store::KeyScheme;
use serde::Deserialize;
use serde_json::{json, Value};

use super::instances::{load, update_instance};
use super::{json_body, parse_id, ApiError, ApiResult, Shared};
use crate::keys::{self, Rotation};

fn scheme(text: Option<&str>, pointer: &str) -> ApiResult<KeyScheme> {
    let names = || {
        KeyScheme::ALL
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match text {
        None => Err(ApiError::bad_request(format!(
            "{pointer}: required (one of {})",
            names()
        ))),
        Some(text) => KeyScheme::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!("{pointer}: `{text}` is not one of {}", names()))
        }),
    }
}

/// `GET /instances/{id}/signing-keys`: which keys are set and until when each replaced one
/// still signs; never a key.
pub(crate) async fn list(state: Shared, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let retired = state
        .engine
        .store()
        .retired_signing_keys(instance.id, Utc::now())
        .await
        .map_err(|e| ApiError::internal("reading retired signing keys", e))?;
    Ok(Json(keys::keys_json(&instance, &retired)))
}

/// `POST /instances/{id}/signing-keys/rotate` with `{"scheme", "subscription"?, "key"?,
/// "grace"?}`: the new key in force from the next delivery, the replaced one signing too for
/// the grace period (default 24 h). A generated key is in the answer, once.
pub(crate) async fn rotate(
    state: Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let body = json_body(&headers, body)?;
    let text = |name: &str| -> ApiResult<Option<&str>> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ApiError::bad_request(format!("/{name}: must be a string"))),
        }
    };
    let rotation = Rotation {
        subscription: text("subscription")?.map(str::to_owned),
        scheme: scheme(text("scheme")?, "/scheme")?,
        key: text("key")?.map(Secret::new),
        grace: match text("grace")? {
            None => keys::DEFAULT_GRACE,
            Some(grace) => keys::parse_grace(grace)?,
        },
    };
    let rotated = keys::rotate(state.engine.store(), &instance, rotation).await?;
    update_instance(&state, instance.id, &rotated.config, None).await?;
    tracing::info!(
        instance = instance.id,
        subscription = rotated.subscription.as_deref(),
        scheme = rotated.scheme.as_str(),
        "signing key rotated"
    );
    Ok(Json(keys::rotated_json(&rotated)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SchemeQuery {
    scheme: Option<String>,
    subscription: Option<String>,
}

/// `DELETE /instances/{id}/signing-keys/retired?scheme=S[&subscription=NAME]`: the replaced
/// keys of the callback, or of that subscription, stop signing at once (a leaked key).
pub(crate) async fn drop_retired(
    state: Shared,
    Path(id): Path<String>,
    Query(query): Query<SchemeQuery>,
) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let scheme = scheme(query.scheme.as_deref(), "query parameter scheme")?;
    let subscription = query.subscription.as_deref();
    keys::check_owner(&instance, subscription)?;
    let dropped = state
        .engine
        .store()
        .drop_retired_signing_keys(instance.id, subscription, scheme, Utc::now())
        .await
        .map_err(|e| ApiError::internal("dropping retired signing keys", e))?;
    // Saved again so that every process sharing the store rebuilds the instance's endpoint
    // without them (at its next instance sync), this one at once.
    update_instance(&state, instance.id, &instance.config, None).await?;
    Ok(Json(
        json!({"subscription": subscription, "scheme": scheme.as_str(), "dropped": dropped}),
    ))
}
