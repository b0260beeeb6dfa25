//! [`ResponseCacheLayer`]: the settings, and the tower `Layer` that wraps a service with them.

use std::sync::Arc;
use std::time::Duration;

use cache_core::__private::KeyedProbe;
use cache_core::{Cache, EntryOptions};
use tower_layer::Layer;

use super::route_stats::ResponseStats;
use super::service::ResponseCacheService;
use super::status::StatusValues;
use super::stored::HttpEntry;

/// The lifetime of a response that gives none (`s-maxage`, `max-age`).
pub const DEFAULT_RESPONSE_TTL: Duration = Duration::from_secs(60);

/// Bodies larger than this many bytes pass through unstored, by default (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// A tower [`Layer`] caching responses to `GET` and `HEAD` in a [`Cache`] (its L1, its L2, and
/// every process sharing them), by the shared-cache rules of RFC 9111. See the
/// [module documentation](crate#http-response-caching) for what is stored and how it is
/// answered.
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use cache_core::Cache;
/// use cache_http::ResponseCacheLayer;
///
/// let cache = Cache::builder().build().unwrap();
/// let responses = ResponseCacheLayer::new(cache)
///     .ttl(Duration::from_secs(30)) // for responses without max-age / s-maxage
///     .max_body_bytes(256 * 1024); // larger ones pass through unstored
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "Ada" }).put(|| async { "renamed" }))
///     .route_layer(responses.clone()); // after routing: statistics by route
/// let counters = responses.stats().snapshot(); // by matched route
/// # drop((app, counters));
/// ```
#[derive(Debug, Clone)]
pub struct ResponseCacheLayer {
    /// Everything its services share, made once: `layer` is a reference count.
    shared: Arc<Shared>,
}

/// What every service of a layer shares.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) cache: Cache,
    /// The cache's store of responses, held for the hit path.
    pub(crate) entries: KeyedProbe<HttpEntry>,
    pub(crate) ttl: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) key_prefix: String,
    /// The `Cache-Status` values of this cache's name.
    pub(crate) status_values: Arc<StatusValues>,
    pub(crate) stats: ResponseStats,
    /// The options of every lookup (unused: the loader decides each entry's own).
    pub(crate) lookup_options: EntryOptions,
    /// The `cache` label of metrics: the namespace, or `default`.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) metrics_label: String,
}

impl ResponseCacheLayer {
    /// Caches responses in `cache`, with a default lifetime of [`DEFAULT_RESPONSE_TTL`], a body
    /// limit of [`DEFAULT_MAX_BODY_BYTES`], keys prefixed `http`, and `Cache-Status` members
    /// named `layered-cache`.
    pub fn new(cache: Cache) -> Self {
        let metrics_label = cache.namespace().unwrap_or("default").to_owned();
        let shared = Shared {
            entries: KeyedProbe::new(&cache),
            cache,
            ttl: DEFAULT_RESPONSE_TTL,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            key_prefix: "http".to_owned(),
            status_values: Arc::new(StatusValues::new("layered-cache")),
            stats: ResponseStats::default(),
            lookup_options: EntryOptions::new(),
            metrics_label,
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The settings, to change (copied if a service already shares them).
    fn settings(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.shared)
    }

    /// How long a response without `s-maxage` or `max-age` stays fresh (zero: such responses
    /// are not stored).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.settings().ttl = ttl;
        self
    }

    /// Bodies larger than `bytes` are passed to the client as they come and not stored.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.settings().max_body_bytes = bytes;
        self
    }

    /// The prefix of every key (default `http`): give two layers on one cache different
    /// prefixes when the same URI means different things to them.
    #[must_use]
    pub fn key_prefix(mut self, prefix: &str) -> Self {
        self.settings().key_prefix = prefix.to_owned();
        self
    }

    /// The cache's name in `Cache-Status` (default `layered-cache`). Characters outside
    /// visible ASCII make the header fall back to `response-cache`.
    #[must_use]
    pub fn cache_status_name(mut self, name: &str) -> Self {
        self.settings().status_values = Arc::new(StatusValues::new(name));
        self
    }

    /// The counters by route, shared with every service this layer made.
    pub fn stats(&self) -> ResponseStats {
        self.shared.stats.clone()
    }

    /// The cache responses are stored in.
    pub fn cache(&self) -> &Cache {
        &self.shared.cache
    }
}

impl<S> Layer<S> for ResponseCacheLayer {
    type Service = ResponseCacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResponseCacheService::new(inner, Arc::clone(&self.shared))
    }
}
