//! A small axum service a reader can copy: `GET /users/{id}` through a `#[cached]` function,
//! `PUT /users/{id}` through `#[invalidate]`, Prometheus metrics at `/metrics`, and the cache's
//! admin API under `/admin` (mount it behind your own authentication in a real service).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use cache_core::{Cache, cached, invalidate};
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

/// A slow query, cached for 10 minutes under `user:{id}`.
#[cached(cache = cache, ttl = "10m", key_prefix = "user", key = "{id}")]
async fn user(cache: &Cache, id: u64) -> Result<Profile, DbError> {
    let _ = cache;
    crate::read_profile(id).await
}

/// A write; once it succeeds, `user:{id}` is dropped from L1, Redis and every process.
#[invalidate(cache = cache, keys = ["user:{id}"])]
async fn rename(cache: &Cache, id: u64, name: &str) -> Result<(), DbError> {
    let _ = cache;
    crate::rename(id, name).await
}

async fn get_user(State(state): State<AppState>, Path(id): Path<u64>) -> impl IntoResponse {
    match user(&state.cache, id).await {
        Ok(profile) => (StatusCode::OK, Json(serde_json::json!(profile))),
        Err(error) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": error.0 })),
        ),
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

/// The service's routes.
pub fn app(state: AppState) -> Router {
    let admin = cache_http::router(state.cache.clone());
    Router::new()
        .route("/users/{id}", get(get_user).put(put_user))
        .route("/metrics", get(metrics))
        .with_state(state)
        .nest("/admin", admin)
}
