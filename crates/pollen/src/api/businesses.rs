//! `/instances/{id}/businesses`: the Sage businesses of an instance's authorized user.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use super::instances::load;
use super::{parse_id, ApiError, ApiResult, Shared};
use crate::error::ErrorKind;

/// `[{"id", "name", "lead", "selected"}]`: 404 for an unknown instance, 502 naming Sage's
/// answer when Sage cannot be reached or refuses (a spent grant code, revoked tokens).
pub(crate) async fn list(state: Shared, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let instance = load(&state, parse_id(&id)?).await?;
    match crate::businesses::list(&state.engine, &instance).await {
        Ok(businesses) => Ok(Json(Value::Array(
            businesses.iter().map(|b| b.to_json()).collect(),
        ))),
        Err(error) => Err(match error.kind() {
            ErrorKind::Store | ErrorKind::Io => {
                ApiError::internal("listing the instance's businesses", error)
            }
            _ => ApiError::new(StatusCode::BAD_GATEWAY, error.to_string()),
        }),
    }
}
