//! `GET /keys?pattern=..&limit=N`: keys of L1 and L2 matching a Redis glob, bounded.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use cache_core::Cache;
use serde_json::{Value, json};

use crate::error::ApiError;

/// Keys listed when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;
/// The largest `limit` accepted (listing L2 keys scans Redis).
pub const MAX_LIMIT: usize = 1_000;

/// The listing.
pub(crate) async fn keys(
    State(cache): State<Cache>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(unknown) = query
        .keys()
        .find(|name| !["pattern", "limit"].contains(&name.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown parameter `{unknown}`: expected `pattern` and `limit`"
        )));
    }
    let pattern = query.get("pattern").map_or("*", String::as_str);
    if pattern.is_empty() {
        return Err(ApiError::bad_request("`pattern` must not be empty"));
    }
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(limit) => limit.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("`limit` must be a whole number, got {limit:?}"))
        })?,
    };
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let l1 = cache.l1_keys(pattern, limit);
    let l2 = cache.l2_keys(pattern, limit).await.map_err(ApiError::l2)?;
    Ok(Json(
        json!({ "pattern": pattern, "limit": limit, "l1": l1, "l2": l2 }),
    ))
}
