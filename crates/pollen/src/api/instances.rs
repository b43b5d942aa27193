//! `/instances`: create, list, read, replace, patch and delete instances.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{SecondsFormat, Utc};
use pollen_config::{InstanceConfig, Secrets, MAX_SHOWN_PROBLEMS};
use pollen_store::{Instance, InstanceStatus, InstanceToken};
use serde_json::{json, Map, Value};

use super::{json_body, parse_id, store_error, ApiError, ApiResult, AppState, Shared};
use crate::error::ErrorKind;

/// The vendor's instance record: configuration values as strings, secrets masked.
pub(crate) fn instance_json(instance: &Instance) -> Value {
    let masked = instance.config.to_masked_json();
    let configuration: Map<String, Value> = masked["configuration"]
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(text) => Value::String(text.clone()),
                        Value::Null => Value::Null,
                        other => Value::String(other.to_string()),
                    };
                    (key.clone(), text)
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": instance.id,
        "name": instance.name,
        "element": {"key": instance.element_key},
        "configuration": configuration,
        "eventsEnabled": instance.config.configuration.notification.enabled,
        "valid": instance.status != InstanceStatus::NeedsReauthorization,
        "disabled": instance.status == InstanceStatus::Disabled,
        "status": instance.status.as_str(),
        "tags": instance.tags,
        "createdDate": instance.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "updatedDate": instance.updated_at.to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

/// Validates an instance JSON: 400 listing every problem (pointer and message) on error.
pub(crate) fn validate(value: &Value) -> ApiResult<InstanceConfig> {
    InstanceConfig::from_json_value_for(value, &crate::instances::sage_vocabulary())
        .map(|loaded| loaded.config)
        .map_err(|errors| {
            let problems: Vec<Value> = errors
                .problems()
                .iter()
                .take(MAX_SHOWN_PROBLEMS)
                .map(|p| {
                    json!({
                        "pointer": p.pointer(),
                        "message": p.message(),
                        "severity": if p.is_error() { "error" } else { "warning" },
                    })
                })
                .collect();
            let first = errors
                .errors()
                .next()
                .map(|p| format!("{}: {}", p.pointer(), p.message()))
                .unwrap_or_default();
            let omitted = errors.problems().len().saturating_sub(MAX_SHOWN_PROBLEMS);
            let first = if omitted > 0 {
                format!(
                    "{first} (and {} more problems; the first {MAX_SHOWN_PROBLEMS} are listed)",
                    errors.problems().len() - 1
                )
            } else {
                first
            };
            ApiError::bad_request(format!("invalid instance: {first}"))
                .with_problems(Value::Array(problems))
        })
}

/// The optional top-level `disabled` flag of a PUT or PATCH body.
fn disabled_flag(body: &Value) -> ApiResult<Option<bool>> {
    match body.get("disabled") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(_) => Err(ApiError::bad_request("/disabled: must be true or false")),
    }
}

/// Strips the fields the API adds to an instance and the loader does not know.
fn without_response_fields(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        for key in [
            "id",
            "token",
            "disabled",
            "valid",
            "eventsEnabled",
            "status",
            "createdDate",
            "updatedDate",
        ] {
            map.remove(key);
        }
    }
    body
}

pub(crate) async fn load(state: &AppState, id: i64) -> ApiResult<Instance> {
    state
        .engine
        .store()
        .instance(id)
        .await
        .map_err(|e| ApiError::internal("reading the instance", e))?
        .ok_or_else(|| ApiError::not_found(format!("no instance {id}")))
}

/// Registers `instance` with the engine; a failure that comes from the instance's settings
/// (a refused grant code, a bad callback) is the client's 400.
async fn register(state: &AppState, instance: &Instance) -> ApiResult<()> {
    state
        .engine
        .add_instance(instance)
        .await
        .map_err(|error| match error.kind() {
            ErrorKind::Store | ErrorKind::Io => {
                ApiError::internal("registering the instance", error)
            }
            _ => ApiError::bad_request(error.to_string()),
        })
}

/// Validates, stores and registers a new instance (the API's POST and the console's form);
/// `paused`, it is stored paused (nothing polls it until it is resumed).
pub(crate) async fn create_instance(
    state: &AppState,
    body: &Value,
    paused: bool,
) -> ApiResult<(Instance, InstanceToken)> {
    let config = validate(&without_response_fields(body))?;
    let store = state.engine.store();
    let status = if paused {
        InstanceStatus::Disabled
    } else {
        InstanceStatus::Active
    };
    let (instance, token) = store
        .create_instance_with_status(&config, status, Utc::now())
        .await
        .map_err(store_error("storing the instance"))?;
    if let Err(error) = register(state, &instance).await {
        // Nothing half-created stays behind.
        let _ = state.engine.remove_instance(&instance.key()).await;
        let _ = store.delete_instance(instance.id).await;
        return Err(error);
    }
    Ok((instance, token))
}

pub(crate) async fn create(
    state: Shared,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = json_body(&headers, body)?;
    let paused = disabled_flag(&body)?.unwrap_or(false);
    let (instance, token) = create_instance(&state, &body, paused).await?;
    let mut out = instance_json(&instance);
    out["token"] = Value::String(token.expose().to_owned());
    Ok((StatusCode::OK, Json(out)))
}

pub(crate) async fn list(state: Shared) -> ApiResult<Json<Value>> {
    let instances = state
        .engine
        .store()
        .list_instances()
        .await
        .map_err(|e| ApiError::internal("listing the instances", e))?;
    Ok(Json(Value::Array(
        instances.iter().map(instance_json).collect(),
    )))
}

pub(crate) async fn get_one(state: Shared, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    Ok(Json(instance_json(&instance)))
}

/// Stores `config` (and the `disabled` flag) for instance `id` and re-registers it, so a new
/// callback URL is used from the next delivery on. A new `sage.business.id` for an instance
/// that has already polled is a 409 (see [`crate::businesses`]).
pub(crate) async fn update_instance(
    state: &AppState,
    id: i64,
    config: &InstanceConfig,
    disabled: Option<bool>,
) -> ApiResult<Instance> {
    let store = state.engine.store();
    let current = load(state, id).await?;
    crate::businesses::check_business_change(store, &current, config)
        .await
        .map_err(|error| match error.kind() {
            ErrorKind::InvalidInput => {
                let message = error.to_string();
                let detail = message
                    .strip_prefix(&format!("{}: ", crate::businesses::BUSINESS_POINTER))
                    .unwrap_or(&message)
                    .to_owned();
                ApiError::new(StatusCode::CONFLICT, message).with_problems(json!([{
                    "pointer": crate::businesses::BUSINESS_POINTER,
                    "message": detail,
                    "severity": "error",
                }]))
            }
            _ => ApiError::internal("reading the instance's poll states", error),
        })?;
    let now = Utc::now();
    let mut instance = store
        .update_instance_config(id, config, now)
        .await
        .map_err(store_error("updating the instance"))?;
    if let Some(disabled) = disabled {
        let status = if disabled {
            InstanceStatus::Disabled
        } else {
            InstanceStatus::Active
        };
        if status != instance.status {
            store
                .set_instance_status(id, status, now)
                .await
                .map_err(store_error("updating the instance"))?;
            instance = load(state, id).await?;
        }
    }
    register(state, &instance).await?;
    Ok(instance)
}

pub(crate) async fn replace(
    state: Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let body = json_body(&headers, body)?;
    load(&state, id).await?;
    let disabled = disabled_flag(&body)?;
    let config = validate(&without_response_fields(&body))?;
    let instance = update_instance(&state, id, &config, disabled).await?;
    Ok(Json(instance_json(&instance)))
}

/// Merges the body into the stored instance: `configuration` and `providerData` key by key
/// (`null` removes a key), `name` and `tags` replaced; then validates the result.
pub(crate) async fn patch(
    state: Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let body = json_body(&headers, body)?;
    if !body.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let current = load(&state, id).await?;
    let disabled = disabled_flag(&body)?;
    let mut merged = current.config.to_json(Secrets::Expose);
    for (key, value) in without_response_fields(&body)
        .as_object()
        .into_iter()
        .flatten()
    {
        match (key.as_str(), value) {
            ("configuration" | "providerData", Value::Object(entries)) => {
                let target = merged[key.as_str()]
                    .as_object_mut()
                    .ok_or_else(|| ApiError::bad_request(format!("/{key}: cannot be merged")))?;
                for (name, entry) in entries {
                    if entry.is_null() {
                        target.remove(name);
                    } else {
                        target.insert(name.clone(), entry.clone());
                    }
                }
            }
            ("configuration" | "providerData", _) => {
                return Err(ApiError::bad_request(format!("/{key}: must be an object")))
            }
            _ => {
                merged[key.as_str()] = value.clone();
            }
        }
    }
    let config = validate(&merged)?;
    let instance = update_instance(&state, id, &config, disabled).await?;
    Ok(Json(instance_json(&instance)))
}

pub(crate) async fn delete(state: Shared, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    delete_instance(&state, id).await?;
    Ok(Json(json!({"id": id, "deleted": true})))
}

/// Stops polling instance `id` and deletes it (404 when there is none).
pub(crate) async fn delete_instance(state: &AppState, id: i64) -> ApiResult<()> {
    load(state, id).await?;
    state
        .engine
        .remove_instance(&id.to_string())
        .await
        .map_err(|e| ApiError::internal("stopping the instance", e))?;
    state
        .engine
        .store()
        .delete_instance(id)
        .await
        .map_err(|e| ApiError::internal("deleting the instance", e))?;
    Ok(())
}
