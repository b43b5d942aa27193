//! `/instances/{id}/checkpoints`: where each checkpoint chain of an instance stands.

use axum::extract::Path;
use axum::Json;
use serde_json::Value;

use super::instances::load;
use super::{parse_id, ApiError, ApiResult, Shared};

/// `GET /instances/{id}/checkpoints`: each chain's latest checkpoint and open window.
pub(crate) async fn list(state: Shared, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    let chains = state
        .engine
        .store()
        .checkpoint_chains(instance.id)
        .await
        .map_err(|e| ApiError::internal("reading checkpoint chains", e))?;
    Ok(Json(crate::checkpoints::chains_json(instance.id, &chains)))
}
