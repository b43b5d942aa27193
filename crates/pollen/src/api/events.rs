//! `/instances/{id}/events`, `/instances/events/{eventId}`, re-delivery, and rewinding a
//! resource (`/instances/{id}/resources/{name}/rewind`).

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use pollen_callback::Redelivery;
use pollen_core::{OutboxEntry, OutboxFilter, OutboxStatus, StableId, Store};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{json_body, parse_id, ApiError, ApiResult, Shared};

fn date(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One outbox row as the API shows it.
pub(crate) fn entry_json(entry: &OutboxEntry) -> Value {
    let n = &entry.notification;
    json!({
        "id": n.id.to_string(),
        "instanceId": n.key.instance,
        "objectType": n.key.resource,
        "status": entry.status.as_str(),
        "attempts": entry.attempts,
        "createdDate": date(n.created_at),
        "nextAttemptDate": date(entry.next_attempt),
        "deliveredDate": entry.delivered_at.map(date),
        "lastError": entry.last_error,
        "eventIds": n.event_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

/// Parses a status filter (`pending`, `delivered`, `queued`).
pub(crate) fn parse_status(text: &str) -> Option<OutboxStatus> {
    [
        OutboxStatus::Pending,
        OutboxStatus::Delivered,
        OutboxStatus::Queued,
    ]
    .into_iter()
    .find(|s| s.as_str().eq_ignore_ascii_case(text))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
    after: Option<String>,
}

pub(crate) async fn list(
    state: Shared,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let store = state.engine.store();
    store
        .instance(id)
        .await
        .map_err(|e| ApiError::internal("reading the instance", e))?
        .ok_or_else(|| ApiError::not_found(format!("no instance {id}")))?;
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(parse_status(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "query parameter status: `{text}` is not one of pending, delivered, queued"
            ))
        })?),
    };
    let limit = match query.page_size.as_deref() {
        None => 200,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter pageSize: `{text}` is not a whole number from 1 to 1000"
                ))
            })?,
    };
    let after_seq = match query.after.as_deref() {
        None => None,
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter after: `{text}` is not a whole number"
            ))
        })?),
    };
    let filter = OutboxFilter {
        instance: Some(id.to_string()),
        status,
        after_seq,
        limit: Some(limit),
    };
    let rows = store
        .list_outbox(&filter)
        .await
        .map_err(|e| ApiError::internal("listing the events", e))?;
    Ok(Json(Value::Array(rows.iter().map(entry_json).collect())))
}

/// The outbox row of notification (or event) `id`, scanning the outbox a page at a time.
pub(crate) async fn find_entry(store: &dyn Store, id: StableId) -> ApiResult<Option<OutboxEntry>> {
    const PAGE: usize = 1000;
    let mut filter = OutboxFilter {
        limit: Some(PAGE),
        ..OutboxFilter::default()
    };
    loop {
        let rows = store
            .list_outbox(&filter)
            .await
            .map_err(|e| ApiError::internal("reading the outbox", e))?;
        if let Some(found) = rows
            .iter()
            .find(|e| e.notification.id == id || e.notification.event_ids.contains(&id))
        {
            return Ok(Some(found.clone()));
        }
        match rows.last() {
            Some(last) if rows.len() == PAGE => filter.after_seq = Some(last.seq),
            _ => return Ok(None),
        }
    }
}

fn parse_event_id(text: &str) -> ApiResult<StableId> {
    StableId::from_str(text).map_err(|_| {
        ApiError::bad_request(format!(
            "path parameter eventId: `{text}` is not an event or notification id"
        ))
    })
}

pub(crate) async fn get_one(state: Shared, Path(event_id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_event_id(&event_id)?;
    let store = state.engine.store();
    let entry = find_entry(store.as_ref(), id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {event_id}")))?;
    let attempts = store
        .list_attempts(&entry.notification.id)
        .await
        .map_err(|e| ApiError::internal("reading the delivery log", e))?;
    let mut out = entry_json(&entry);
    out["body"] = entry.notification.payload();
    out["deliveryAttempts"] = attempts
        .iter()
        .map(|a| {
            json!({
                "date": date(a.at),
                "httpStatus": a.status,
                "latencyMs": a.latency_ms,
                "error": a.error,
                "response": a.response_excerpt,
            })
        })
        .collect();
    Ok(Json(out))
}

/// With no body (or `{}`), re-sends the instance's queued notifications; with
/// `{"ids": [...]}`, those notifications whatever their status.
pub(crate) async fn redeliver(
    state: Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let id = parse_id(&id)?;
    let store = state.engine.store();
    store
        .instance(id)
        .await
        .map_err(|e| ApiError::internal("reading the instance", e))?
        .ok_or_else(|| ApiError::not_found(format!("no instance {id}")))?;
    let empty = matches!(&body, Ok(bytes) if bytes.is_empty());
    let what = if empty {
        Redelivery::Instance(id.to_string())
    } else {
        let body = json_body(&headers, body)?;
        match body.get("ids") {
            None | Some(Value::Null) => Redelivery::Instance(id.to_string()),
            Some(Value::Array(items)) => {
                let mut ids = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let text = item.as_str().ok_or_else(|| {
                        ApiError::bad_request(format!("/ids/{i}: must be a string"))
                    })?;
                    let parsed = StableId::from_str(text).map_err(|_| {
                        ApiError::bad_request(format!(
                            "/ids/{i}: `{text}` is not a notification id"
                        ))
                    })?;
                    let entry = find_entry(store.as_ref(), parsed).await?;
                    match entry {
                        Some(entry) if entry.notification.key.instance == id.to_string() => {
                            ids.push(entry.notification.id);
                        }
                        _ => {
                            return Err(ApiError::not_found(format!(
                                "/ids/{i}: instance {id} has no event {text}"
                            )))
                        }
                    }
                }
                Redelivery::Ids(ids)
            }
            Some(_) => return Err(ApiError::bad_request("/ids: must be an array of ids")),
        }
    };
    let requeued = state
        .engine
        .sender()
        .redeliver(&what)
        .await
        .map_err(|e| ApiError::internal("re-delivering", e))?;
    Ok(Json(json!({"requeued": requeued})))
}

/// `POST /instances/{id}/resources/{name}/rewind` with `{"to": RFC 3339}`.
pub(crate) async fn rewind(
    state: Shared,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    use crate::rewind::Refused;
    let id = parse_id(&id)?;
    let store = state.engine.store();
    let instance = store
        .instance(id)
        .await
        .map_err(|e| ApiError::internal("reading the instance", e))?
        .ok_or_else(|| ApiError::not_found(format!("no instance {id}")))?;
    let body = json_body(&headers, body)?;
    let to = match body.get("to") {
        Some(Value::String(text)) => DateTime::parse_from_rfc3339(text.trim())
            .map(|at| at.with_timezone(&Utc))
            .map_err(|e| {
                ApiError::bad_request(format!("/to: `{text}` is not an RFC 3339 date-time ({e})"))
            })?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "/to: must be an RFC 3339 date-time string",
            ))
        }
        None => {
            return Err(ApiError::bad_request(
                "/to: required (the instant to rewind to)",
            ))
        }
    };
    let rewound = crate::rewind::rewind(store, &instance, &name, to)
        .await
        .map_err(|refused| match refused {
            Refused::UnknownResource(m) | Refused::NotPolledYet(m) => ApiError::not_found(m),
            Refused::Invalid(m) => ApiError::bad_request(format!("/to: {m}")),
            Refused::Store(e) => ApiError::internal("rewinding", e),
        })?;
    state.engine.wake_poller();
    tracing::info!(instance = id, resource = %name, to = %to, forgotten = rewound.forgotten, "resource rewound");
    Ok(Json(crate::rewind::rewound_json(&name, &rewound)))
}
