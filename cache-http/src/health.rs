//! `GET /health`: 200 when the cache can serve as designed, 503 when the L2 does not answer
//! or the backplane is down (L1 is then off); the JSON says which.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cache_core::Cache;
use serde_json::{Value, json};

/// The health check.
pub(crate) async fn health(State(cache): State<Cache>) -> (StatusCode, Json<Value>) {
    let backplane = cache.backplane_connected();
    let (l2_ok, l2) = match (backplane, cache.health().await) {
        (None, _) => (true, json!("none")),
        (Some(_), Ok(())) => (true, json!("ok")),
        (Some(_), Err(error)) => (false, json!(format!("error: {error}"))),
    };
    let healthy = l2_ok && backplane != Some(false);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "l2": l2,
        "backplane": backplane.map(|up| if up { "connected" } else { "down" }),
        "breaker": Value::Null,
    });
    (status, Json(body))
}
