//! HTTP for a [`cache_core::Cache`]: a tower layer that caches whole responses in it
//! ([`ResponseCacheLayer`]), and an operators' API (statistics, health, invalidation, key
//! listing, entry inspection) as an [`axum::Router`] to mount in your service ([`router`]).
//!
//! # HTTP response caching
//!
//! [`ResponseCacheLayer`] stores responses to `GET` and `HEAD` in the same cache as your
//! `#[cached]` functions: its L1, its Redis L2 and every process sharing them. A tag set by a
//! response is invalidated by `#[invalidate(tags = ..)]` like any other.
//!
//! ```
//! use axum::{Router, routing::get};
//! use axum::http::header::{CACHE_CONTROL, HeaderName};
//! use axum::extract::Path;
//! use cache_core::Cache;
//! use cache_http::ResponseCacheLayer;
//!
//! async fn user(Path(id): Path<u64>) -> impl axum::response::IntoResponse {
//!     let tag = (HeaderName::from_static("cache-tag"), format!("user:{id}"));
//!     ([(CACHE_CONTROL, "max-age=300".to_owned()), tag], format!("user {id}"))
//! }
//!
//! let cache = Cache::builder().build().unwrap();
//! let responses = ResponseCacheLayer::new(cache.clone());
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(user).put(|| async { "saved" }))
//!     .route_layer(responses.clone())
//!     .nest("/admin", cache_http::router_with_responses(cache, responses.stats()));
//! # drop(app);
//! ```
//!
//! Place it **after routing** (`Router::route_layer`, `Router::layer`, or on a method router):
//! it then sees axum's matched route, by which it counts (`/users/{id}`, never `/users/42`).
//! Wrapped around a whole router from outside, it runs before routing and counts every request
//! under [`UNMATCHED_ROUTE`]. Wrap the routes of the unsafe methods too, so that they
//! invalidate.
//!
//! What it does:
//!
//! - **Key**: the path and query the client sent (axum's `OriginalUri` under a nested router),
//!   not the method (`HEAD` is answered from what `GET` stored; a `HEAD` miss runs the handler
//!   as a `GET` and stores that), nor the host. When the response names request headers in
//!   `Vary`, each combination of their values is a variant with a key of its own.
//! - **What is stored** (RFC 9111, as a shared cache): 2xx responses except `206`, without
//!   `no-store`, `private`, `no-cache` or `Set-Cookie`, not `Vary: *`; to requests with
//!   `Authorization` only if the response says `public` or `s-maxage`. The body is read in
//!   full first; one over [`max_body_bytes`](ResponseCacheLayer::max_body_bytes) (1 MiB by
//!   default) streams through unstored, and a body that fails or a client that goes away
//!   never leaves anything stored. Requests with `Range`, `Upgrade` or a body go to the
//!   handler untouched. Request `Cache-Control` is ignored, as CDNs do: clients cannot force a
//!   load.
//! - **Lifetime**: `s-maxage`, else `max-age`, else [`ttl`](ResponseCacheLayer::ttl) (60 s by
//!   default), minus the response's `Age`. `stale-while-revalidate=N` (RFC 5861) keeps it N
//!   seconds longer, served at once while one background call of the handler refreshes it
//!   (the engine's refresh-ahead). `stale-if-error=N` lets a stale response answer for N
//!   seconds after it expired when the handler fails; a failure is a 5xx, a panic, an error of
//!   the wrapped service or a body that breaks, and without a stale response the client gets
//!   the failure itself (a panic keeps unwinding). `must-revalidate` turns both windows off.
//!   `Expires` is not read.
//! - **Answers**: each carries `Cache-Status` (RFC 9211): `layered-cache; hit; ttl=N` (N
//!   negative while stale and revalidating), `..; fwd=miss; stored`, `..; fwd=miss;
//!   detail=<why not stored>`, `..; fwd=stale; fwd-status=<the failure>`, `..; fwd=method`;
//!   a stored response also `Age` and an `ETag`: the handler's, else a strong one, the xxh3-128
//!   of the body, the same in every process. An `If-None-Match` that matches it gets
//!   `304 Not Modified`.
//! - **Tags**: a `Cache-Tag: a, b` response header tags the entry (it is removed from what the
//!   client sees), so `cache.invalidate_tags(&["a"])` drops it everywhere.
//! - **Invalidation**: a `POST`, `PUT`, `PATCH`, `DELETE` (any method but `GET`, `HEAD`,
//!   `OPTIONS`, `TRACE`) answered 2xx or 3xx drops every entry of its URI (all variants)
//!   before the client gets the answer, in every process.
//! - **Single-flight**: concurrent misses of one key run the handler once, through the
//!   engine; the others get its response, unless it may not be shared (`private`, too large,
//!   ...): then each calls the handler itself.
//! - **Statistics**: [`ResponseCacheLayer::stats`] counts answers by route ([`RouteStats`]);
//!   [`router_with_responses`] shows them in `/stats`; feature `metrics` publishes them as
//!   `http_response_cache_requests_total{cache, route, result}` (result: `hit`, `miss`,
//!   `stale`, `uncacheable`, `failure`, `bypass`) and
//!   `http_response_cache_not_modified_total{cache, route}`.
//!
//! What is stored in Redis, readable by other processes and versions, is documented in
//! `docs/redis-layout.md` ("HTTP responses"); see [`HttpEntry`].
//!
//! # Admin API
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
//! | `GET /stats` | the cache's counters and each function's (JSON); with [`router_with_responses`], the response cache's by route |
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
mod response_cache;
mod stats;

use axum::Router;
use axum::routing::{get, post};
use cache_core::Cache;

use stats::AdminState;

pub use error::ApiError;
pub use keys::MAX_LIMIT;
pub use response_cache::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_RESPONSE_TTL, HttpEntry, ResponseCacheLayer,
    ResponseCacheService, ResponseFuture, ResponseStats, RouteStats, StoredResponse,
    UNMATCHED_ROUTE, VaryMarker,
};

/// The admin routes for `cache` (see the crate documentation), to mount where you like.
pub fn router(cache: Cache) -> Router {
    admin(AdminState {
        cache,
        responses: None,
    })
}

/// [`router`], whose `GET /stats` also shows a response cache's counters by route (under
/// `"responses"`), e.g. `router_with_responses(cache, layer.stats())`.
pub fn router_with_responses(cache: Cache, responses: ResponseStats) -> Router {
    admin(AdminState {
        cache,
        responses: Some(responses),
    })
}

fn admin(state: AdminState) -> Router {
    Router::new()
        .route("/stats", get(stats::stats))
        .route("/health", get(health::health))
        .route("/invalidate", post(invalidate::invalidate))
        .route("/keys", get(keys::keys))
        .route("/entry", get(entry::entry))
        .with_state(state)
}
