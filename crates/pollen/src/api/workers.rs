//! `GET /workers`: the processes sharing the database, their heartbeats and what they hold;
//! `GET /budgets`: what this process spent of each Sage business's rate budget.

use axum::Json;
use chrono::Utc;
use pollen_core::Store;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, Shared};
use crate::workers::{budget_json, worker_json};

pub(crate) async fn list(state: Shared) -> ApiResult<Json<Value>> {
    let now = Utc::now();
    let workers = state
        .engine
        .store()
        .list_workers(now)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "listing the workers failed");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the store is unreachable",
            )
        })?;
    let this = state.engine.worker().id;
    Ok(Json(json!({
        "self": this,
        "workers": workers.iter().map(|w| worker_json(w, now)).collect::<Vec<_>>(),
    })))
}

/// This process's use of each Sage business's rate budget (other processes report their own).
pub(crate) async fn budgets(state: Shared) -> Json<Value> {
    Json(json!({
        "self": state.engine.worker().id,
        "budgets": state.engine.budget_usage().iter().map(budget_json).collect::<Vec<_>>(),
    }))
}
