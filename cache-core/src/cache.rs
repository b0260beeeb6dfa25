//! [`Cache`]: the handle users hold, with the async API and its blocking twins.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::blocking::{Blocking, run_here};
use crate::builder::CacheBuilder;
use crate::engine::{Async, EntryKey, Inner, KEYED_SITE, KeyedStore};
use crate::error::Error;
use crate::l2::Invalidation;
use crate::loaded::Loaded;
use crate::options::EntryOptions;
use crate::refresh;
use crate::stats::Stats;
use crate::store::SerdeFns;

/// What a value needs to be cached through the keyed API: cloneable, shareable, serializable
/// (it may go to L2). Implemented for every such type.
pub trait CacheValue: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}

impl<T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static> CacheValue for T {}

/// A multi-level cache: typed in-process L1, optional shared L2.
///
/// Cheap to clone (an `Arc`), `Send + Sync`. Every method degrades instead of failing: an L2
/// error is counted in [`Stats::l2_errors`], logged with `tracing`, and the call goes on with
/// the next level or the loader.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Cache, EntryOptions};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache = Cache::builder().default_ttl(Duration::from_secs(60)).build().unwrap();
/// let options = EntryOptions::new().tags(["users"]);
/// let name: Result<String, std::io::Error> =
///     cache.get_or_load("user:1", &options, || async { Ok("Ada".to_string()) }).await;
/// assert_eq!(name.unwrap(), "Ada");
/// assert_eq!(cache.get::<String>("user:1").await.as_deref(), Some("Ada"));
/// cache.invalidate_tags(&["users"]).await;
/// assert_eq!(cache.get::<String>("user:1").await, None);
/// # }
/// ```
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("namespace", &self.inner.namespace())
            .field("l1_entries", &self.inner.l1_len())
            .field("l2", &self.inner.has_l2())
            .finish()
    }
}

impl AsRef<Cache> for Cache {
    fn as_ref(&self) -> &Cache {
        self
    }
}

impl Cache {
    /// A builder with every setting at its default (L1 only, 10,000 entries, 60 s TTL).
    pub fn builder() -> CacheBuilder {
        CacheBuilder::default()
    }

    /// The keyed API's store of `V` and the key's entry in it (the miss path).
    fn keyed<V: CacheValue>(&self, key: &str) -> (Arc<KeyedStore<V>>, EntryKey<Box<str>>) {
        let store = self
            .inner
            .keyed_store::<V>(KEYED_SITE, || Some(SerdeFns::new()));
        let key = Inner::keyed_key(&store, key);
        (store, key)
    }

    /// The value of `key` from L1, else L2; `None` when absent or of another type.
    pub async fn get<V: CacheValue>(&self, key: &str) -> Option<V> {
        if let Some(hit) = self.inner.probe_keyed::<V>(KEYED_SITE, key) {
            return Some(hit.value);
        }
        let (store, key_entry) = self.keyed::<V>(key);
        let options = self.inner.resolve(&EntryOptions::new());
        self.inner
            .get::<Async, _, V>(&store, key_entry, &options)
            .await
    }

    /// Stores a value: write-through to L2 (awaited), every other process told to drop its
    /// copy, then L1.
    pub async fn set<V: CacheValue>(&self, key: &str, value: V, options: &EntryOptions) {
        let (store, key_entry) = self.keyed::<V>(key);
        let options = self.inner.resolve(options);
        self.inner
            .set::<Async, _, V>(&store, key_entry, value, &options)
            .await;
    }

    /// The value of `key`, loading it on a miss.
    ///
    /// Concurrent misses of one key run `loader` once (single-flight); the others get its
    /// value. A loader error is returned to the caller whose loader failed and is not cached
    /// (callers waiting on it retry, one at a time). Past the refresh point a hit returns at
    /// once and reloads in the background, which is why the loader is `'static` (clone what it
    /// needs, e.g. an `Arc` pool, into it).
    pub async fn get_or_load<V, E, F, Fut>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<V, E>
    where
        V: CacheValue,
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let loader = move || async move { loader().await.map(Loaded::new) };
        self.get_or_load_with(key, options, loader).await
    }

    /// [`get_or_load`](Self::get_or_load) with a loader that decides how its value is cached
    /// ([`Loaded`]): with `options`, with options of its own (a TTL or tags known only once
    /// the value is loaded), or not at all. Single-flight, refresh-ahead and stale-if-error
    /// work as for `get_or_load`; the level is always `options`'.
    pub async fn get_or_load_with<V, E, F, Fut>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<V, E>
    where
        V: CacheValue,
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Loaded<V>, E>> + Send + 'static,
    {
        if let Some(hit) = self.inner.probe_keyed::<V>(KEYED_SITE, key) {
            if hit.refresh {
                self.refresh_in_background(key, options, loader);
            }
            return Ok(hit.value);
        }
        let (store, key_entry) = self.keyed::<V>(key);
        let options = self.inner.resolve(options);
        self.inner
            .load_deciding::<Async, _, V, E, _>(&store, key_entry, &options, loader)
            .await
    }

    /// The hit path of [`get_or_load_with`](Self::get_or_load_with) without its future: the
    /// value of `key` when L1 holds it fresh. A hit that claims the entry's refresh starts the
    /// reload in the background with the loader `make_loader` builds (only then). A miss is
    /// `None` and counts nothing: the caller goes on with `get_or_load_with`, which counts it.
    ///
    /// `store` is the keyed store of `V` ([`keyed_store_of`](Self::keyed_store_of)), held by
    /// the caller so that the hit skips the registry.
    pub(crate) fn l1_hit_or_refresh<V, E, F, Fut>(
        &self,
        store: &KeyedStore<V>,
        key: &str,
        options: &EntryOptions,
        make_loader: impl FnOnce() -> F,
    ) -> Option<V>
    where
        V: CacheValue,
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Loaded<V>, E>> + Send + 'static,
    {
        let hit = self.inner.probe_keyed_in(store, key)?;
        if hit.refresh {
            self.refresh_in_background(key, options, make_loader());
        }
        Some(hit.value)
    }

    /// The keyed API's store of `V` (the one `get`, `set` and `get_or_load` use), created on
    /// first use.
    pub(crate) fn keyed_store_of<V: CacheValue>(&self) -> Arc<KeyedStore<V>> {
        self.inner
            .keyed_store::<V>(KEYED_SITE, || Some(SerdeFns::new()))
    }

    /// Reloads `key` on a task of its own, for the hit that claimed its refresh.
    fn refresh_in_background<V, E, F, Fut>(&self, key: &str, options: &EntryOptions, loader: F)
    where
        V: CacheValue,
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Loaded<V>, E>> + Send + 'static,
    {
        let (store, key_entry) = self.keyed::<V>(key);
        let options = self.inner.resolve(options);
        let inner = Arc::clone(&self.inner);
        refresh::spawn_deciding(inner, store, key_entry, options, loader);
    }

    /// Removes `key` from L1, L2 and every other process's L1.
    pub async fn invalidate(&self, key: &str) {
        self.inner
            .invalidate::<Async>(Invalidation::Keys(vec![key.to_owned()]))
            .await;
    }

    /// Removes every key matching the Redis glob `pattern`, everywhere.
    pub async fn invalidate_pattern(&self, pattern: &str) {
        self.inner
            .invalidate::<Async>(Invalidation::Pattern(pattern.to_owned()))
            .await;
    }

    /// Invalidates every entry carrying any of `tags`, everywhere, in constant time.
    pub async fn invalidate_tags(&self, tags: &[&str]) {
        let tags = tags.iter().map(|tag| (*tag).to_owned()).collect();
        self.inner
            .invalidate::<Async>(Invalidation::Tags(tags))
            .await;
    }

    /// Removes everything, everywhere (the namespace's keys in L2).
    pub async fn clear(&self) {
        self.inner.invalidate::<Async>(Invalidation::Clear).await;
    }

    /// Checks that the L2 (if any) answers now (a round trip, past its circuit breaker). The
    /// L2's own state (backplane, breaker, queued invalidations) is in
    /// [`l2_status`](Self::l2_status), without a round trip.
    pub async fn health(&self) -> Result<(), Error> {
        Ok(self.inner.health().await?)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// Each function's counters, by key prefix (`#[cached]` functions; values written by key
    /// are counted under `"<keyed>"`). The cache's [`stats`](Self::stats) are their sum plus
    /// what belongs to no function (invalidations, L2 errors of invalidations).
    ///
    /// ```
    /// use cache_core::{Cache, cached};
    ///
    /// static CACHE: std::sync::LazyLock<Cache> =
    ///     std::sync::LazyLock::new(|| Cache::builder().build().unwrap());
    ///
    /// #[cached(cache = CACHE, key_prefix = "square", level = "l1")]
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    ///
    /// square(3);
    /// square(3);
    /// let stats = CACHE.stats_by_function();
    /// assert_eq!(stats["square"].l1_hits, 1);
    /// assert_eq!(stats["square"].loads, 1);
    /// ```
    pub fn stats_by_function(&self) -> std::collections::BTreeMap<String, Stats> {
        self.inner.stats_by_function()
    }

    /// Publishes this cache's counters and gauges through the `metrics` facade now (feature
    /// `metrics`). A background thread also publishes them every second; call this from a
    /// scrape handler to export up-to-the-moment values. The hit path never touches a metric:
    /// counters are published from the counters [`stats`](Self::stats) reads.
    #[cfg(feature = "metrics")]
    pub fn publish_metrics(&self) {
        crate::engine::metrics::publish(&self.inner);
    }

    /// Number of entries in L1 (all functions and value types).
    pub fn l1_len(&self) -> u64 {
        self.inner.l1_len() as u64
    }

    /// Total weight of the L1 entries (see [`CacheBuilder::l1_max_weight`]).
    pub fn l1_weight(&self) -> u64 {
        self.inner.l1_weight()
    }

    /// The namespace, if one was set.
    pub fn namespace(&self) -> Option<&str> {
        self.inner.namespace()
    }

    /// Blocking twin of [`get`](Self::get).
    pub fn get_blocking<V: CacheValue>(&self, key: &str) -> Option<V> {
        if let Some(hit) = self.inner.probe_keyed::<V>(KEYED_SITE, key) {
            return Some(hit.value);
        }
        let (store, key_entry) = self.keyed::<V>(key);
        let options = self.inner.resolve(&EntryOptions::new());
        run_here(
            self.inner
                .get::<Blocking, _, V>(&store, key_entry, &options),
        )
    }

    /// Blocking twin of [`set`](Self::set).
    pub fn set_blocking<V: CacheValue>(&self, key: &str, value: V, options: &EntryOptions) {
        let (store, key_entry) = self.keyed::<V>(key);
        let options = self.inner.resolve(options);
        run_here(
            self.inner
                .set::<Blocking, _, V>(&store, key_entry, value, &options),
        );
    }

    /// Blocking twin of [`get_or_load`](Self::get_or_load); the loader runs on the calling
    /// thread (refreshes on a helper thread).
    pub fn get_or_load_blocking<V, E, F>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<V, E>
    where
        V: CacheValue,
        E: Send + 'static,
        F: FnOnce() -> Result<V, E> + Send + 'static,
    {
        let loader = move || loader().map(Loaded::new);
        self.get_or_load_with_blocking(key, options, loader)
    }

    /// Blocking twin of [`get_or_load_with`](Self::get_or_load_with); the loader runs on the
    /// calling thread (refreshes on a helper thread).
    pub fn get_or_load_with_blocking<V, E, F>(
        &self,
        key: &str,
        options: &EntryOptions,
        loader: F,
    ) -> Result<V, E>
    where
        V: CacheValue,
        E: Send + 'static,
        F: FnOnce() -> Result<Loaded<V>, E> + Send + 'static,
    {
        if let Some(hit) = self.inner.probe_keyed::<V>(KEYED_SITE, key) {
            if hit.refresh {
                let (store, key_entry) = self.keyed::<V>(key);
                let options = self.inner.resolve(options);
                let inner = Arc::clone(&self.inner);
                refresh::spawn_blocking_deciding(inner, store, key_entry, options, loader);
            }
            return Ok(hit.value);
        }
        let (store, key_entry) = self.keyed::<V>(key);
        let options = self.inner.resolve(options);
        run_here(self.inner.load_deciding::<Blocking, _, V, E, _>(
            &store,
            key_entry,
            &options,
            || async move { loader() },
        ))
    }

    /// Blocking twin of [`invalidate`](Self::invalidate).
    pub fn invalidate_blocking(&self, key: &str) {
        run_here(
            self.inner
                .invalidate::<Blocking>(Invalidation::Keys(vec![key.to_owned()])),
        );
    }

    /// Blocking twin of [`invalidate_pattern`](Self::invalidate_pattern).
    pub fn invalidate_pattern_blocking(&self, pattern: &str) {
        run_here(
            self.inner
                .invalidate::<Blocking>(Invalidation::Pattern(pattern.to_owned())),
        );
    }

    /// Blocking twin of [`invalidate_tags`](Self::invalidate_tags).
    pub fn invalidate_tags_blocking(&self, tags: &[&str]) {
        let tags = tags.iter().map(|tag| (*tag).to_owned()).collect();
        run_here(self.inner.invalidate::<Blocking>(Invalidation::Tags(tags)));
    }

    /// Blocking twin of [`clear`](Self::clear).
    pub fn clear_blocking(&self) {
        run_here(self.inner.invalidate::<Blocking>(Invalidation::Clear));
    }

    /// Blocking twin of [`health`](Self::health).
    pub fn health_blocking(&self) -> Result<(), Error> {
        Ok(self.inner.health_blocking()?)
    }
}
