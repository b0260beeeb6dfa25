//! An operators' HTTP API for a [`cache_core::Cache`]: statistics, health, invalidation, key
//! listing and entry inspection, as an [`axum::Router`] to mount in your service.
//!
//! ```no_run
//! use axum::Router;
//!
//! # async fn serve(cache: cache_core::Cache) -> std::io::Result<()> {
//! let app = Router::new().nest("/admin", cache_http::router(cache));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! **Mount it behind your own authentication**: it can invalidate everything and list keys.
//! Routes, relative to where it is mounted:
//!
//! | route | does |
//! | --- | --- |
//! | `GET /stats` | the cache's counters and each function's (JSON) |
//! | `GET /health` | 200, or 503 when the L2 does not answer or the backplane is down; JSON says which |
//! | `POST /invalidate` | `{"keys": [..]}`, `{"pattern": ".."}`, `{"tags": [..]}` or `{"all": true}` |
//! | `GET /keys?pattern=..&limit=N` | up to `N` (default 100, at most 1,000) keys of L1 and of L2 matching a Redis glob |
//! | `GET /entry?key=..` | where a key is (L1, L2), its remaining TTL, tags and size; never the value |
//!
//! A bad request (invalid or empty JSON, an unknown field, a limit over the maximum, a missing
//! parameter) is a 400 with `{"error": "<what is wrong>"}`, and changes nothing.
#![forbid(unsafe_code)]

mod entry;
mod error;
mod health;
mod invalidate;
mod keys;
mod stats;

use axum::Router;
use axum::routing::{get, post};
use cache_core::Cache;

pub use error::ApiError;
pub use keys::MAX_LIMIT;

/// The admin routes for `cache` (see the crate documentation), to mount where you like.
pub fn router(cache: Cache) -> Router {
    Router::new()
        .route("/stats", get(stats::stats))
        .route("/health", get(health::health))
        .route("/invalidate", post(invalidate::invalidate))
        .route("/keys", get(keys::keys))
        .route("/entry", get(entry::entry))
        .with_state(cache)
}
