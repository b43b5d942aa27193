//! `GET /alerts`: the operational alerts, open ones by default (`?state=all` adds the
//! resolved ones still kept), newest first.

use axum::extract::Query;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, Shared};
use crate::alerts::alert_json;

/// At most this many alerts in one answer.
const LIMIT: usize = 500;

#[derive(Debug, Deserialize)]
pub(crate) struct AlertQuery {
    state: Option<String>,
}

pub(crate) async fn list(state: Shared, Query(query): Query<AlertQuery>) -> ApiResult<Json<Value>> {
    let open_only = match query.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("state: expected `open` or `all`, found `{other}`"),
            ))
        }
    };
    let alerts = state
        .engine
        .store()
        .list_alerts(open_only, None, LIMIT)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "listing the alerts failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unreachable")
        })?;
    Ok(Json(json!({
        "alerts": alerts.iter().map(alert_json).collect::<Vec<_>>(),
    })))
}
