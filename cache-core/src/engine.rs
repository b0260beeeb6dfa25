//! The engine shared by the keyed API and the macros: probing L1, loading through
//! single-flight, L2 read and write-through, filling L1, invalidating.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::RwLock;

use crate::clock::{deadline, millis, now_ms};
use crate::codec::Codec;
use crate::entry::{Entry, Stamps, access_time};
use crate::flight::{Flight, Outcome, Role};
use crate::l2::{BoxFuture, Invalidation, InvalidationSink, L2, L2Write};
use crate::options::{EntryOptions, Level};
use crate::stats::{Counters, bump};
use crate::store::{ErasedStore, SerdeFns, Store};
use crate::tags::TagRegistry;

type StoreRegistry =
    HashMap<(usize, TypeId), Arc<dyn Any + Send + Sync>, foldhash::fast::RandomState>;

/// Validated builder settings.
pub(crate) struct Config {
    pub(crate) namespace: Option<String>,
    pub(crate) capacity: u64,
    pub(crate) default_ttl: Duration,
    pub(crate) refresh_ahead: Option<f64>,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) codec: Codec,
}

/// The shared state behind a [`Cache`](crate::Cache).
pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) config: Config,
    pub(crate) counters: Counters,
    pub(crate) tags: TagRegistry,
    /// Bumped by `clear`: entries stamped with an older epoch are invalid.
    pub(crate) epoch: AtomicU64,
    /// Bumped by every tag invalidation: an L2 value read while it moved is not put in L1
    /// (its tags are known only after the read, so they could not be stamped before it).
    tag_invalidations: AtomicU64,
    /// False while the L2 backplane is down: L1 is neither read nor filled.
    pub(crate) l1_enabled: AtomicBool,
    pub(crate) l1_len: Arc<AtomicUsize>,
    stores: RwLock<Vec<Arc<dyn ErasedStore>>>,
    /// Stores by (site, key and value types); hashed with foldhash, as it is on the keyed
    /// API's every call.
    registry: RwLock<StoreRegistry>,
    pub(crate) l2: Option<Arc<dyn L2>>,
}

/// An entry's options with the builder's defaults applied.
#[derive(Clone)]
pub(crate) struct Plan {
    pub(crate) ttl: Duration,
    pub(crate) refresh_ahead: Option<f64>,
    pub(crate) level: Level,
    pub(crate) tags: Vec<String>,
    /// Whether a loader error counts as a failure (and may be answered with a stale value);
    /// false for the `None` of an `Option` function, which is just "nothing to cache".
    pub(crate) errors_are_failures: bool,
}

/// The key being loaded: its hash and owned form in the store, and its string form.
pub(crate) struct Target<K> {
    pub(crate) hash: u64,
    pub(crate) key: K,
    pub(crate) skey: Arc<str>,
}

/// A value decoded from L2.
struct L2Hit<V> {
    value: V,
    ttl: Duration,
    tags: Vec<String>,
}

/// Counters read when an L2 read starts.
#[derive(Clone, Copy)]
struct ReadStart {
    epoch: u64,
    tag_invalidations: u64,
}

/// A value found in L1.
pub(crate) struct Hit<V> {
    pub(crate) value: V,
    /// This hit claimed the entry's single refresh.
    pub(crate) refresh: bool,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Inner {
    pub(crate) fn new(config: Config, l2: Option<Arc<dyn L2>>) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            config,
            counters: Counters::default(),
            tags: TagRegistry::default(),
            epoch: AtomicU64::new(0),
            tag_invalidations: AtomicU64::new(0),
            l1_enabled: AtomicBool::new(true),
            l1_len: Arc::new(AtomicUsize::new(0)),
            stores: RwLock::new(Vec::new()),
            registry: RwLock::new(StoreRegistry::default()),
            l2,
        }
    }

    /// The store of `site` for key and value types `K`, `V`, created on first use.
    pub(crate) fn store<K, V>(
        &self,
        site: usize,
        serde: impl FnOnce() -> Option<SerdeFns<V>>,
    ) -> Arc<Store<K, V>>
    where
        K: Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let id = (site, TypeId::of::<(K, V)>());
        if let Some(store) = self.registry.read().get(&id)
            && let Ok(store) = Arc::clone(store).downcast::<Store<K, V>>()
        {
            return store;
        }
        let mut registry = self.registry.write();
        let any = registry
            .entry(id)
            .or_insert_with(|| {
                let store = Arc::new(Store::<K, V>::new(Arc::clone(&self.l1_len), serde()));
                self.stores
                    .write()
                    .push(Arc::clone(&store) as Arc<dyn ErasedStore>);
                store
            })
            .clone();
        any.downcast::<Store<K, V>>()
            .expect("registry ids include the store's types")
    }

    /// Probes the keyed API's store of `V` for a string key without cloning the store's `Arc`
    /// or allocating: the hit path of `Cache::get` and `get_or_load`.
    pub(crate) fn probe_keyed<V>(&self, site: usize, key: &str) -> Option<Hit<V>>
    where
        V: Clone + Send + Sync + 'static,
    {
        let registry = self.registry.read();
        let store = registry.get(&(site, TypeId::of::<((), V)>()))?;
        let store = (**store).downcast_ref::<Store<(), V>>()?;
        self.probe(store, store.hash_str(key), |_, skey| *skey == *key)
    }

    pub(crate) fn plan(&self, options: &EntryOptions) -> Plan {
        let refresh_ahead = options
            .refresh_ahead_value()
            .filter(|f| {
                let valid = *f > 0.0 && *f < 1.0;
                if !valid {
                    tracing::warn!(fraction = f, "refresh_ahead outside (0, 1) ignored");
                }
                valid
            })
            .or(self.config.refresh_ahead);
        Plan {
            ttl: options.ttl_value().unwrap_or(self.config.default_ttl),
            refresh_ahead,
            level: options.level_value(),
            tags: options.tag_list().to_vec(),
            errors_are_failures: true,
        }
    }

    fn stamps(&self, tags: &[String]) -> Stamps {
        Stamps {
            epoch: self.epoch.load(Ordering::Acquire),
            tags: self.tags.stamp(tags),
        }
    }

    /// Looks a key up in L1: fresh entries only. Counts the hit.
    #[inline]
    pub(crate) fn probe<K, V: Clone>(
        &self,
        store: &Store<K, V>,
        hash: u64,
        eq: impl Fn(&K, &str) -> bool,
    ) -> Option<Hit<V>> {
        if !self.l1_enabled.load(Ordering::Relaxed) {
            return None;
        }
        let now = now_ms();
        let epoch = self.epoch.load(Ordering::Acquire);
        let hit = store.read(hash, eq, |entry| {
            if !entry.is_fresh(now, epoch) {
                return None;
            }
            entry.touch(now);
            Some(Hit {
                value: entry.value.clone(),
                refresh: entry.claim_refresh(now),
            })
        });
        if hit.is_some() {
            self.counters.l1_hits.incr();
        }
        hit
    }

    /// Runs `f` on the entry of `target` (found by its string key) with the current clock
    /// and epoch; the miss path's look-ups, which count no hit.
    fn read_target<K, V, R>(
        &self,
        store: &Store<K, V>,
        target: &Target<K>,
        f: impl FnOnce(&Entry<V>, u64, u64) -> Option<R>,
    ) -> Option<R> {
        let (now, epoch) = (now_ms(), self.epoch.load(Ordering::Acquire));
        store.read(
            target.hash,
            |_, skey| *skey == *target.skey,
            |entry| f(entry, now, epoch),
        )
    }

    /// A fresh entry, without counting a hit.
    fn fresh<K, V: Clone>(&self, store: &Store<K, V>, target: &Target<K>) -> Option<V> {
        if !self.l1_enabled.load(Ordering::Relaxed) {
            return None;
        }
        self.read_target(store, target, |entry, now, epoch| {
            entry.is_fresh(now, epoch).then(|| entry.value.clone())
        })
    }

    /// A still-valid entry within its `stale_if_error` window.
    fn stale<K, V: Clone>(&self, store: &Store<K, V>, target: &Target<K>) -> Option<V> {
        self.read_target(store, target, |entry, now, epoch| {
            (entry.is_valid(epoch) && now < entry.stale_until).then(|| entry.value.clone())
        })
    }

    fn release_refresh<K, V>(&self, store: &Store<K, V>, target: &Target<K>) {
        self.read_target(store, target, |entry, _, _| {
            entry.release_refresh();
            Some(())
        });
    }

    /// Puts a loaded value in L1 unless an invalidation hit its flight.
    fn fill<K, V>(
        &self,
        store: &Store<K, V>,
        target: Target<K>,
        (value, ttl): (V, Duration),
        plan: &Plan,
        stamps: Stamps,
        poisoned: impl FnOnce() -> bool,
    ) {
        if ttl.is_zero() || !self.l1_enabled.load(Ordering::Acquire) {
            return;
        }
        let now = now_ms();
        let expires_at = deadline(now, ttl);
        let refresh_at = match plan.refresh_ahead {
            Some(fraction) => {
                let early = millis(plan.ttl.mul_f64(1.0 - fraction));
                expires_at.saturating_sub(early).max(now)
            }
            None => u64::MAX,
        };
        let stale_until = match self.config.stale_if_error {
            Some(window) => deadline(expires_at, window),
            None => expires_at,
        };
        let entry = Entry {
            value,
            expires_at,
            refresh_at,
            stale_until,
            epoch: stamps.epoch,
            tags: stamps.tags,
            refreshing: AtomicBool::new(false),
            last_access: AtomicU32::new(access_time(now)),
        };
        let skey = Arc::clone(&target.skey);
        if store.insert(target.hash, target.key, target.skey, entry, poisoned) {
            self.enforce_capacity(now, &skey);
        }
    }

    fn enforce_capacity(&self, now: u64, keep: &str) {
        let capacity = usize::try_from(self.config.capacity).unwrap_or(usize::MAX);
        let epoch = self.epoch.load(Ordering::Acquire);
        for _ in 0..4 {
            if self.l1_len.load(Ordering::Relaxed) <= capacity {
                return;
            }
            let victim = self.stores.read().iter().max_by_key(|s| s.len()).cloned();
            match victim {
                Some(store) if store.evict_one(now, epoch, keep) => {}
                _ => return,
            }
        }
    }

    fn l2_for<'a, K, V>(
        &'a self,
        store: &'a Store<K, V>,
        plan: &Plan,
    ) -> Option<(&'a dyn L2, &'a SerdeFns<V>)> {
        match (&self.l2, &store.serde, plan.level) {
            (Some(l2), Some(serde), Level::Both) => Some((l2.as_ref(), serde)),
            _ => None,
        }
    }

    fn read_start(&self) -> ReadStart {
        ReadStart {
            epoch: self.epoch.load(Ordering::Acquire),
            tag_invalidations: self.tag_invalidations.load(Ordering::Acquire),
        }
    }

    /// Counts an L2 hit and puts it in L1 with the tags L2 returned, unless an invalidation
    /// hit the key (its flight) or any tag moved since the read started.
    fn fill_from_l2<K, V: Clone>(
        &self,
        store: &Store<K, V>,
        target: Target<K>,
        hit: L2Hit<V>,
        plan: &Plan,
        start: ReadStart,
        flight: &Flight<V>,
    ) {
        bump(&self.counters.l2_hits);
        let mut tags = hit.tags;
        for tag in &plan.tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let stamps = Stamps {
            epoch: start.epoch,
            tags: self.tags.stamp(&tags),
        };
        let moved = || {
            flight.is_poisoned()
                || self.tag_invalidations.load(Ordering::Acquire) != start.tag_invalidations
        };
        self.fill(store, target, (hit.value, hit.ttl), plan, stamps, moved);
    }

    /// Reads and decodes a key from L2. Failures are counted and read as a miss; a value that
    /// cannot be decoded is also removed from L2.
    async fn l2_read<F: Flavor, K, V>(
        &self,
        store: &Store<K, V>,
        skey: &str,
        plan: &Plan,
    ) -> Option<L2Hit<V>> {
        let (l2, serde) = self.l2_for(store, plan)?;
        let entry = match F::l2(l2.get(skey, &plan.tags)).await {
            Ok(entry) => entry?,
            Err(error) => {
                bump(&self.counters.l2_errors);
                tracing::warn!(key = skey, %error, "L2 read failed; falling back to the loader");
                return None;
            }
        };
        match (serde.decode)(&self.config.codec, &entry.value) {
            Ok(Some(value)) => Some(L2Hit {
                value,
                ttl: entry.ttl,
                tags: entry.tags,
            }),
            Ok(None) => None,
            Err(error) => {
                bump(&self.counters.l2_errors);
                tracing::warn!(key = skey, %error, "undecodable L2 value removed");
                if let Err(error) = F::l2(l2.invalidate(&[skey])).await {
                    tracing::warn!(key = skey, %error, "could not remove undecodable L2 value");
                }
                None
            }
        }
    }

    /// Writes a loaded value through to L2. Failures are counted and logged.
    async fn l2_write<F: Flavor, K, V>(
        &self,
        store: &Store<K, V>,
        skey: &str,
        value: &V,
        plan: &Plan,
    ) {
        let Some((l2, serde)) = self.l2_for(store, plan) else {
            return;
        };
        let stored = match (serde.encode)(&self.config.codec, value) {
            Ok(stored) => stored,
            Err(error) => {
                bump(&self.counters.l2_errors);
                tracing::warn!(key = skey, %error, "value could not be encoded for L2");
                return;
            }
        };
        let write = L2Write {
            value: &stored,
            ttl: plan.ttl,
            tags: &plan.tags,
        };
        if let Err(error) = F::l2(l2.set(skey, write)).await {
            bump(&self.counters.l2_errors);
            tracing::warn!(key = skey, %error, "L2 write failed");
        }
    }

    /// Loads a key through single-flight: L2, then the loader, with write-through.
    /// `refresh` skips L2 (the point is to reload from the source).
    pub(crate) async fn load<F, K, V, E, Fut>(
        &self,
        store: &Store<K, V>,
        target: Target<K>,
        plan: &Plan,
        refresh: bool,
        loader: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        F: Flavor,
        V: Clone,
        Fut: Future<Output = Result<V, E>>,
    {
        let guard = loop {
            match store.flights.join(&target.skey) {
                Role::Leader(guard) => break Some(guard),
                Role::Waiter(flight) => match F::wait(&flight).await {
                    Some(Outcome::Value(value)) => {
                        if !refresh {
                            bump(&self.counters.coalesced);
                        }
                        return Ok(value);
                    }
                    Some(Outcome::Abandoned) => continue,
                    None => break None,
                },
            }
        };
        if !refresh {
            // Another leader may have filled the key between our probe and our flight.
            if let Some(value) = self.fresh(store, &target) {
                bump(&self.counters.coalesced);
                if let Some(guard) = guard {
                    guard.complete(&value);
                }
                return Ok(value);
            }
        }
        if !refresh {
            let start = self.read_start();
            if let Some(hit) = self.l2_read::<F, K, V>(store, &target.skey, plan).await {
                let value = hit.value.clone();
                if let Some(guard) = guard {
                    self.fill_from_l2(store, target, hit, plan, start, guard.flight());
                    guard.complete(&value);
                }
                return Ok(value);
            }
            bump(&self.counters.misses);
        } else {
            bump(&self.counters.refreshes);
        }
        // Taken before the loader runs: an invalidation from here on hides its result.
        let stamps = self.stamps(&plan.tags);
        bump(&self.counters.loads);
        match loader().await {
            Ok(value) => {
                let Some(guard) = guard else {
                    return Ok(value);
                };
                if !guard.flight().is_poisoned() {
                    self.l2_write::<F, K, V>(store, &target.skey, &value, plan)
                        .await;
                }
                self.fill(
                    store,
                    target,
                    (value.clone(), plan.ttl),
                    plan,
                    stamps,
                    || guard.flight().is_poisoned(),
                );
                guard.complete(&value);
                Ok(value)
            }
            Err(error) => {
                if !plan.errors_are_failures {
                    return Err(error);
                }
                bump(&self.counters.load_errors);
                if refresh {
                    self.release_refresh(store, &target);
                }
                if let Some(stale) = self.stale(store, &target) {
                    if !refresh {
                        bump(&self.counters.stale_served);
                    }
                    if let Some(guard) = guard {
                        guard.complete(&stale);
                    }
                    return Ok(stale);
                }
                Err(error)
            }
        }
    }

    /// `get` after an L1 miss (the caller probed): L2 through single-flight; never runs a
    /// loader.
    pub(crate) async fn get<F: Flavor, K, V: Clone>(
        &self,
        store: &Store<K, V>,
        target: Target<K>,
        plan: &Plan,
    ) -> Option<V> {
        let found = match store.flights.join(&target.skey) {
            Role::Waiter(flight) => match F::wait(&flight).await {
                Some(Outcome::Value(value)) => Some(value),
                _ => None,
            },
            Role::Leader(guard) => {
                let start = self.read_start();
                let found = self.l2_read::<F, K, V>(store, &target.skey, plan).await;
                if let Some(hit) = found {
                    let value = hit.value.clone();
                    self.fill_from_l2(store, target, hit, plan, start, guard.flight());
                    guard.complete(&value);
                    return Some(value);
                }
                None
            }
        };
        if found.is_none() {
            bump(&self.counters.misses);
        }
        found
    }

    /// `set`: write-through to L2, drop other copies of the key, then fill L1.
    pub(crate) async fn set<F: Flavor, K, V: Clone>(
        &self,
        store: &Store<K, V>,
        target: Target<K>,
        value: V,
        plan: &Plan,
    ) {
        let stamps = self.stamps(&plan.tags);
        self.l2_write::<F, K, V>(store, &target.skey, &value, plan)
            .await;
        self.invalidate_local_key(&target.skey);
        self.fill(store, target, (value, plan.ttl), plan, stamps, || false);
    }

    pub(crate) fn invalidate_local_key(&self, key: &str) {
        for store in self.stores.read().iter() {
            store.invalidate_key(key);
        }
    }

    /// Applies an invalidation to this process's L1.
    pub(crate) fn invalidate_local(&self, invalidation: &Invalidation) {
        bump(&self.counters.invalidations);
        match invalidation {
            Invalidation::Keys(keys) => keys.iter().for_each(|key| self.invalidate_local_key(key)),
            Invalidation::Pattern(pattern) => {
                for store in self.stores.read().iter() {
                    store.invalidate_pattern(pattern);
                }
            }
            Invalidation::Tags(tags) => {
                let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                self.tags.invalidate(&tags);
                self.tag_invalidations.fetch_add(1, Ordering::AcqRel);
            }
            Invalidation::Clear => self.clear_local(),
        }
    }

    fn clear_local(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for store in self.stores.read().iter() {
            store.invalidate_all();
        }
    }

    /// Invalidates in L2 (which tells other processes), then locally.
    pub(crate) async fn invalidate<F: Flavor>(&self, invalidation: Invalidation) {
        if let Some(l2) = &self.l2 {
            let result = match &invalidation {
                Invalidation::Keys(keys) => {
                    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                    F::l2(l2.invalidate(&keys)).await
                }
                Invalidation::Pattern(pattern) => F::l2(l2.invalidate_pattern(pattern)).await,
                Invalidation::Tags(tags) => {
                    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                    F::l2(l2.invalidate_tags(&tags)).await
                }
                Invalidation::Clear => F::l2(l2.clear()).await,
            };
            if let Err(error) = result {
                bump(&self.counters.l2_errors);
                tracing::warn!(?invalidation, %error, "L2 invalidation failed; L1 invalidated anyway");
            }
        }
        self.invalidate_local(&invalidation);
    }

    pub(crate) fn l1_len(&self) -> usize {
        self.l1_len.load(Ordering::Relaxed)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Stores may outlive the cache in a function's `Site`: free their entries now.
        for store in self.stores.get_mut().iter() {
            store.invalidate_all();
        }
    }
}

/// Reports from the L2 backplane, applied to a cache that may have been dropped.
pub(crate) struct Sink(pub(crate) std::sync::Weak<Inner>);

impl InvalidationSink for Sink {
    fn invalidate(&self, invalidation: Invalidation) {
        if let Some(inner) = self.0.upgrade() {
            inner.invalidate_local(&invalidation);
        }
    }

    fn set_connected(&self, connected: bool) {
        if let Some(inner) = self.0.upgrade() {
            if !connected {
                inner.l1_enabled.store(false, Ordering::Release);
            }
            // Whatever L1 holds may have missed invalidations while cut off.
            inner.clear_local();
            if connected {
                inner.l1_enabled.store(true, Ordering::Release);
            }
        }
    }
}

/// How a call waits: the async API awaits, the blocking twins block the thread.
pub(crate) trait Flavor {
    /// Waits for another caller's load; `None` means "do not wait, load yourself".
    fn wait<V: Clone>(flight: &Flight<V>) -> impl Future<Output = Option<Outcome<V>>>;
    /// Runs an L2 operation.
    fn l2<T: Send>(operation: BoxFuture<'_, T>) -> impl Future<Output = T>;
}

/// The async API's flavor.
pub(crate) struct Async;

impl Flavor for Async {
    async fn wait<V: Clone>(flight: &Flight<V>) -> Option<Outcome<V>> {
        Some(flight.wait().await)
    }

    async fn l2<T: Send>(operation: BoxFuture<'_, T>) -> T {
        operation.await
    }
}
