//! `GET /entry?key=..`: where a key is cached and for how long; never its value.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use cache_core::{Cache, EntryInfo};

use crate::error::ApiError;

/// The entry's description.
pub(crate) async fn entry(
    State(cache): State<Cache>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<EntryInfo>, ApiError> {
    if let Some(unknown) = query.keys().find(|name| name.as_str() != "key") {
        return Err(ApiError::bad_request(format!(
            "unknown parameter `{unknown}`: expected `key`"
        )));
    }
    let key = query
        .get("key")
        .filter(|key| !key.is_empty())
        .ok_or_else(|| ApiError::bad_request("the `key` parameter is required"))?;
    let info = cache.inspect(key).await.map_err(ApiError::l2)?;
    Ok(Json(info))
}
