//! `GET /health`: 200 when the cache can serve as designed, 503 when the L2 does not answer,
//! the backplane is down (L1 is then degraded) or the circuit breaker is not closed; the JSON
//! says which, and how many invalidations wait for Redis.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cache_core::Cache;
use cache_core::l2::BreakerState;
use serde_json::{Value, json};

/// The health check.
pub(crate) async fn health(State(cache): State<Cache>) -> (StatusCode, Json<Value>) {
    let backplane = cache.backplane_connected();
    let (l2_ok, l2) = match (backplane, cache.health().await) {
        (None, _) => (true, json!("none")),
        (Some(_), Ok(())) => (true, json!("ok")),
        (Some(_), Err(error)) => (false, json!(format!("error: {error}"))),
    };
    let l2_status = cache.l2_status().unwrap_or_default();
    let breaker_closed = l2_status
        .breaker
        .is_none_or(|state| state == BreakerState::Closed);
    let healthy = l2_ok && backplane != Some(false) && breaker_closed;
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "l2": l2,
        "backplane": backplane.map(|up| if up { "connected" } else { "down" }),
        "breaker": l2_status.breaker,
        "pending_invalidations": l2_status.pending_invalidations,
    });
    (status, Json(body))
}
