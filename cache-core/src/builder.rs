//! [`CacheBuilder`]: every setting, validated by `build`.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::Cache;
use crate::codec::Codec;
use crate::engine::{BackplaneSink, Config, Inner};
use crate::error::Error;
use crate::l2::{BoxError, IntoL2, L2, L2Context};

/// Default L1 capacity in entries.
pub const DEFAULT_L1_CAPACITY: u64 = 10_000;
/// Default time to live.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Default longest life of an L1 entry filled while the L2 backplane is down: 1 s.
pub const DEFAULT_DEGRADED_TTL: Duration = Duration::from_secs(1);

/// Builds a [`Cache`]. Every setting is optional; `build` rejects out-of-range values with an
/// [`Error::InvalidConfig`], never a panic.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Cache, Codec};
///
/// let cache = Cache::builder()
///     .namespace("billing")                      // prefix of every key in L2
///     .l1_max_capacity(50_000)                   // entries kept in process
///     .default_ttl(Duration::from_secs(600))     // when an entry names no TTL
///     .refresh_ahead(0.8)                        // one hit reloads after 80% of the TTL
///     .stale_if_error(Duration::from_secs(30))   // serve an expired value if the reload fails
///     .codec(Codec::bincode())                   // how L2 values are encoded
///     .build()
///     .unwrap();
/// # drop(cache);
/// assert!(Cache::builder().refresh_ahead(1.5).build().is_err());
/// ```
#[derive(Default)]
#[must_use]
pub struct CacheBuilder {
    namespace: Option<String>,
    l1_max_capacity: Option<u64>,
    l1_max_weight: Option<u64>,
    default_ttl: Option<Duration>,
    refresh_ahead: Option<f64>,
    stale_if_error: Option<Duration>,
    degraded_ttl: Option<Duration>,
    codec: Option<Codec>,
    log_keys: bool,
    l2: Option<AttachL2>,
}

/// Attaches the builder's L2 to the cache being built.
type AttachL2 = Box<dyn FnOnce(L2Context) -> Result<Arc<dyn L2>, BoxError> + Send>;

impl CacheBuilder {
    /// Prefix of every key in L2 (`"{namespace}:{key}"`) and scope of `clear`. Non-empty,
    /// without whitespace or glob characters.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.to_owned());
        self
    }

    /// Maximum number of L1 entries (default 10,000); must be non-zero.
    pub fn l1_max_capacity(mut self, entries: u64) -> Self {
        self.l1_max_capacity = Some(entries);
        self
    }

    /// Maximum total weight of L1 entries, on top of the entry count (default: no weight
    /// limit); must be non-zero. An entry weighs what its function's weigher says
    /// (`#[cached(weight = ...)]`, e.g. a value's size in bytes), or `size_of` its value type
    /// without one. One budget for the whole cache: which entries stay is decided by their
    /// use, across functions.
    ///
    /// ```
    /// use cache_core::{Cache, cached};
    ///
    /// static CACHE: std::sync::LazyLock<Cache> = std::sync::LazyLock::new(|| {
    ///     Cache::builder().l1_max_weight(64 * 1024 * 1024).build().unwrap()
    /// });
    ///
    /// #[cached(cache = CACHE, level = "l1", weight = |page: &String| page.len())]
    /// fn render(id: u64) -> String {
    ///     format!("<h1>page {id}</h1>")
    /// }
    ///
    /// assert_eq!(render(1), "<h1>page 1</h1>");
    /// assert!(Cache::builder().l1_max_weight(0).build().is_err());
    /// ```
    pub fn l1_max_weight(mut self, weight: u64) -> Self {
        self.l1_max_weight = Some(weight);
        self
    }

    /// Whether logs may show full keys (default `false`: keys can carry personal data, so
    /// warnings and spans name the function, i.e. the key prefix, and leave the key out).
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().log_keys(true).build().unwrap();
    /// # drop(cache);
    /// ```
    pub fn log_keys(mut self, allowed: bool) -> Self {
        self.log_keys = allowed;
        self
    }

    /// TTL of entries that name none (default 60 s); must be non-zero.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = Some(ttl);
        self
    }

    /// Fraction of the TTL after which one hit reloads the entry; 0 < f < 1. The keyed API
    /// reloads in the background; a `#[cached]` function that does not set `refresh_ahead`
    /// itself reloads inline (its docs, "Refresh-ahead", state the rule).
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.refresh_ahead = Some(fraction);
        self
    }

    /// How long past its expiry an entry may be served when its reload fails.
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = Some(window);
        self
    }

    /// Bounded staleness while the L2's backplane is down (default [`DEFAULT_DEGRADED_TTL`],
    /// 1 s; `Duration::ZERO` turns L1 off meanwhile).
    ///
    /// When the backplane is lost, this process may miss other processes' invalidations: L1
    /// is emptied at once, so nothing cached before the loss is served. Until the backplane
    /// is back, values loaded (or read from L2) are kept in L1 for at most this long, without
    /// refresh-ahead or a stale window, so an outage of Redis costs one load per key per
    /// `degraded_ttl` instead of one per call. When the backplane is back, L1 is emptied
    /// again. Guarantee while disconnected: a value is served from L1 at most `degraded_ttl`
    /// after the load that produced it finished, whatever was invalidated elsewhere.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let cache = cache_core::Cache::builder()
    ///     .degraded_ttl(Duration::from_millis(200))
    ///     .build()
    ///     .unwrap();
    /// # drop(cache);
    /// ```
    pub fn degraded_ttl(mut self, ttl: Duration) -> Self {
        self.degraded_ttl = Some(ttl);
        self
    }

    /// The codec of L2 values (default [`Codec::bincode`]).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = Some(codec);
        self
    }

    /// The shared second level, e.g. `cache_redis::RedisL2`; attached by
    /// [`build`](Self::build).
    pub fn l2(mut self, l2: impl IntoL2) -> Self {
        self.l2 = Some(Box::new(move |context| l2.into_l2(context)));
        self
    }

    /// Validates the settings and builds the cache (attaching the L2 to it).
    pub fn build(self) -> Result<Cache, Error> {
        let config = self.validate()?;
        let sink = Arc::new(BackplaneSink::new());
        let l2 = match self.l2 {
            Some(attach) => {
                let context = L2Context::new(config.namespace.as_deref(), sink.clone());
                Some(attach(context).map_err(Error::L2Attach)?)
            }
            None => None,
        };
        let inner = Arc::new(Inner::new(config, l2));
        sink.link(&inner);
        #[cfg(feature = "metrics")]
        crate::engine::metrics::start_publisher(Arc::downgrade(&inner));
        Ok(Cache { inner })
    }

    fn validate(&self) -> Result<Config, Error> {
        if let Some(namespace) = &self.namespace {
            if namespace.is_empty() {
                return Err(Error::config("namespace", "must not be empty"));
            }
            if let Some(c) = namespace
                .chars()
                .find(|c| c.is_whitespace() || c.is_control() || "*?[]\\".contains(*c))
            {
                return Err(Error::config(
                    "namespace",
                    format!("must not contain {c:?}"),
                ));
            }
        }
        let capacity = self.l1_max_capacity.unwrap_or(DEFAULT_L1_CAPACITY);
        if capacity == 0 {
            return Err(Error::config("l1_max_capacity", "must be at least 1"));
        }
        if self.l1_max_weight == Some(0) {
            return Err(Error::config("l1_max_weight", "must be at least 1"));
        }
        let default_ttl = self.default_ttl.unwrap_or(DEFAULT_TTL);
        if default_ttl.is_zero() {
            return Err(Error::config("default_ttl", "must be longer than zero"));
        }
        if let Some(fraction) = self.refresh_ahead
            && !(fraction > 0.0 && fraction < 1.0)
        {
            return Err(Error::config(
                "refresh_ahead",
                format!("must be strictly between 0 and 1, got {fraction}"),
            ));
        }
        if self.stale_if_error.is_some_and(|w| w.is_zero()) {
            return Err(Error::config("stale_if_error", "must be longer than zero"));
        }
        Ok(Config {
            namespace: self.namespace.clone(),
            capacity,
            max_weight: self.l1_max_weight,
            default_ttl,
            refresh_ahead: self.refresh_ahead,
            stale_if_error: self.stale_if_error,
            degraded_ttl: self.degraded_ttl.unwrap_or(DEFAULT_DEGRADED_TTL),
            codec: self.codec.unwrap_or_default(),
            log_keys: self.log_keys,
        })
    }

    /// The embedded default: L1 only, default settings (which are always valid).
    pub(crate) fn embedded() -> Cache {
        let config = Config {
            namespace: None,
            capacity: DEFAULT_L1_CAPACITY,
            max_weight: None,
            default_ttl: DEFAULT_TTL,
            refresh_ahead: None,
            stale_if_error: None,
            degraded_ttl: DEFAULT_DEGRADED_TTL,
            codec: Codec::default(),
            log_keys: false,
        };
        let inner = Arc::new(Inner::new(config, None));
        #[cfg(feature = "metrics")]
        crate::engine::metrics::start_publisher(Arc::downgrade(&inner));
        Cache { inner }
    }
}
