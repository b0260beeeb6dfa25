//! A small axum service a reader can copy: `GET /users/{id}` through a `#[cached]` function,
//! its whole response cached by the response-cache layer and tagged `user:{id}`,
//! `PUT /users/{id}` through `#[invalidate]` of that tag (which drops the function's entry and
//! the response alike), Prometheus metrics at `/metrics`, and the cache's admin API under
//! `/admin` (mount it behind your own authentication in a real service).

use axum::extract::{Path, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cache_core::{Cache, cached, invalidate};
use cache_http::ResponseCacheLayer;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;

use crate::{DbError, Profile};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The cache the functions use.
    pub cache: Cache,
    /// Renders the Prometheus text format.
    pub metrics: PrometheusHandle,
}

/// The body of `PUT /users/{id}`.
#[derive(Debug, Deserialize)]
pub struct Rename {
    /// The new name.
    pub name: String,
}

/// A slow query, cached for 10 minutes under `user:{id}`, tagged `user:{id}`.
#[cached(cache = cache, ttl = "10m", key_prefix = "user", key = "{id}", tags = ["user:{id}"])]
async fn user(cache: &Cache, id: u64) -> Result<Profile, DbError> {
    let _ = cache;
    crate::read_profile(id).await
}

/// A write; once it succeeds, everything tagged `user:{id}` (the function's entry and the
/// cached `GET /users/{id}` response) is dropped from L1, Redis and every process.
#[invalidate(cache = cache, tags = ["user:{id}"])]
async fn rename(cache: &Cache, id: u64, name: &str) -> Result<(), DbError> {
    let _ = cache;
    crate::rename(id, name).await
}

/// The response says how long it may be cached, and its tag (the response-cache layer reads
/// and removes `Cache-Tag`); a 404 is not cached.
async fn get_user(State(state): State<AppState>, Path(id): Path<u64>) -> Response {
    match user(&state.cache, id).await {
        Ok(profile) => {
            let cache_control = (CACHE_CONTROL, "max-age=60, stale-if-error=300".to_owned());
            let tag = (HeaderName::from_static("cache-tag"), format!("user:{id}"));
            ([cache_control, tag], Json(serde_json::json!(profile))).into_response()
        }
        Err(error) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": error.0 })),
        )
            .into_response(),
    }
}

async fn put_user(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Json(body): Json<Rename>,
) -> impl IntoResponse {
    match rename(&state.cache, id, &body.name).await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::NOT_FOUND,
    }
}

async fn metrics(State(state): State<AppState>) -> String {
    // Up-to-the-moment counters for this scrape.
    state.cache.publish_metrics();
    state.metrics.render()
}

/// The service's routes. Only the `GET` of `/users/{id}` goes through the response cache: the
/// `PUT` drops the cached response through the `user:{id}` tag of `rename`.
pub fn app(state: AppState) -> Router {
    let responses = ResponseCacheLayer::new(state.cache.clone());
    let admin = cache_http::router_with_responses(state.cache.clone(), responses.stats());
    Router::new()
        .route(
            "/users/{id}",
            get(get_user).route_layer(responses).put(put_user),
        )
        .route("/metrics", get(metrics))
        .with_state(state)
        .nest("/admin", admin)
}
