//! The engine behind a [`Cache`](crate::Cache), one file per stage:
//!
//! | file | stage |
//! | --- | --- |
//! | `l1.rs` | L1: its stores, probing and filling them, validity stamps (epoch, tags), local invalidation, enablement, the budget |
//! | `registry.rs` | where each function's (or value type's) typed store lives (owned by L1) |
//! | `policy.rs` | which entries L1 keeps: admission and eviction (W-TinyLFU over CLOCK rings) |
//! | `sketch.rs` | the frequency sketch the policy consults |
//! | `l2_access.rs` | L2 reads, decoding, write-through, invalidation fan-out, error counting |
//! | `fleet.rs` | fleet-wide single-flight: waiting for another process's load, holding a lease |
//! | `load.rs` | the load algorithm: `load` after a miss, `reload` for refresh-ahead, `get`, `set` |
//! | `batch.rs` | the same for many keys at once: `get_many`, `set_many`, `get_or_load_many` |
//! | `invalidation.rs` | invalidation, and how "no stale resurrection" is enforced |
//! | `coherence.rs` | what the backplane reports: other processes' invalidations, L1 on/off |
//! | `mode.rs` | how a call waits: async, or blocking (`crate::blocking`) |
//!
//! This file holds the engine's state ([`Inner`]), the builder's validated settings
//! ([`Config`]) and the two values every stage passes along: an entry's resolved options and
//! its key.

mod batch;
mod coherence;
mod fleet;
mod invalidation;
mod l1;
mod l2_access;
mod load;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
mod mode;
mod policy;
mod put;
mod registry;
mod sketch;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use batch::MAX_BATCH_LOAD;
pub(crate) use coherence::BackplaneSink;
pub(crate) use l1::Hit;
pub use load::LoadError;
pub(crate) use mode::{Async, CallMode};
pub(crate) use put::{KEYED_L1_SITE, KEYED_SITE, KeyedStore};
pub(crate) use registry::{Site, StoreRef};

use crate::codec::Codec;
use crate::l2::{L2, L2Error};
use crate::options::{EntryOptions, Level};
use crate::stats::{Counters, Stats};
use crate::store::{KeyFns, Store, ValueFns};
use crate::thread_slot;

use l1::L1;
use l2_access::L2Access;

/// Validated builder settings.
pub(crate) struct Config {
    pub(crate) namespace: Option<String>,
    pub(crate) capacity: u64,
    pub(crate) max_weight: Option<u64>,
    pub(crate) default_ttl: Duration,
    pub(crate) refresh_ahead: Option<f64>,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) degraded_ttl: Duration,
    pub(crate) codec: Codec,
    pub(crate) log_keys: bool,
}

/// The shared state behind a [`Cache`](crate::Cache): its stages.
pub(crate) struct Inner {
    id: u64,
    namespace: Option<String>,
    default_ttl: Duration,
    refresh_ahead: Option<f64>,
    stale_if_error: Option<Duration>,
    counters: Counters,
    /// The `cache` label of metrics: the namespace, or `default`.
    metrics_label: String,
    l1: L1,
    l2: L2Access,
    fleet: fleet::Fleet,
}

/// An entry's options with the builder's defaults applied.
#[derive(Clone)]
pub(crate) struct ResolvedOptions {
    pub(crate) ttl: Duration,
    pub(crate) refresh_ahead: Option<f64>,
    /// How long after expiry the entry may be served when its reload fails (`None`: never).
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) level: Level,
    pub(crate) tags: Vec<String>,
    /// Whether a loaded value may be stored (`#[cached(unless = ...)]`); `None`: always.
    pub(crate) store_if: Option<StoreIf>,
}

/// A predicate over a loaded value (of the store's value type, behind `Any`).
pub(crate) type StoreIf = Arc<dyn Fn(&dyn std::any::Any) -> bool + Send + Sync>;

impl ResolvedOptions {
    /// Whether `value` may be stored in L1 and L2.
    pub(crate) fn may_store<V: 'static>(&self, value: &V) -> bool {
        self.store_if
            .as_ref()
            .is_none_or(|store_if| store_if(value))
    }
}

/// The key of an entry being loaded: its hash and typed form in its store, and its text (the
/// rendered key: single-flight, L2 and invalidation by key or pattern use it).
pub(crate) struct EntryKey<K> {
    pub(crate) hash: u64,
    pub(crate) typed: K,
    pub(crate) text: Arc<str>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Inner {
    pub(crate) fn new(config: Config, l2: Option<Arc<dyn L2>>) -> Self {
        let l1 = L1::new(config.capacity, config.max_weight, config.degraded_ttl);
        let label = config
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        Self {
            metrics_label: label.clone(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            namespace: config.namespace,
            default_ttl: config.default_ttl,
            refresh_ahead: config.refresh_ahead,
            stale_if_error: config.stale_if_error,
            counters: Counters::default(),
            l1,
            l2: L2Access::new(l2, config.codec, label, config.log_keys),
            fleet: fleet::Fleet::default(),
        }
    }

    /// This cache's unique id (function sites remember the first cache they saw by it).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The `cache` label of this cache's metrics and logs.
    pub(crate) fn metrics_label(&self) -> &str {
        &self.metrics_label
    }

    /// The counters that belong to no function.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn cache_counters(&self) -> &Counters {
        &self.counters
    }

    /// Whether L1 is in use (false while the backplane is down).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn l1_enabled(&self) -> bool {
        self.l1.enabled()
    }

    /// The backplane's state as L1 sees it (`None` without an L2).
    pub(crate) fn backplane_connected(&self) -> Option<bool> {
        self.has_l2().then(|| self.l1.enabled())
    }

    /// The L2's own report, if there is an L2.
    pub(crate) fn l2_status(&self) -> Option<crate::l2::L2Status> {
        self.l2.status()
    }

    /// Up to `limit` keys of L1 matching `matches` that a read would return now, sorted.
    pub(crate) fn l1_keys(&self, matches: &dyn Fn(&str) -> bool, limit: usize) -> Vec<String> {
        self.l1.keys(matches, limit)
    }

    /// The L1 entry of `key` a read would return now: its function, expiry, weight and tag
    /// count.
    pub(crate) fn l1_describe(&self, key: &str) -> Option<(String, u64, u32, usize)> {
        self.l1.describe(key)
    }

    /// Keys of the L2 matching a glob.
    pub(crate) async fn l2_keys(
        &self,
        pattern: &str,
        limit: usize,
    ) -> Result<Vec<String>, L2Error> {
        self.l2.keys(pattern, limit).await
    }

    /// The L2 entry of a key, undecoded.
    pub(crate) async fn l2_entry(&self, key: &str) -> Result<Option<crate::l2::L2Entry>, L2Error> {
        self.l2.entry(key).await
    }

    pub(crate) fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The cache's counters: its own (invalidations, L2 errors outside any function) and
    /// every store's.
    pub(crate) fn stats(&self) -> Stats {
        let mut total = self.counters.snapshot();
        self.l1
            .for_each_store(|store| total = total + store.counters().snapshot());
        total
    }

    /// Each function's counters, by key prefix (stores sharing a prefix add up).
    pub(crate) fn stats_by_function(&self) -> std::collections::BTreeMap<String, Stats> {
        let mut by_function = std::collections::BTreeMap::<String, Stats>::new();
        self.l1.for_each_store(|store| {
            let stats = by_function.entry(store.name().to_owned()).or_default();
            *stats = *stats + store.counters().snapshot();
        });
        by_function
    }

    pub(crate) fn l1_len(&self) -> usize {
        self.l1.len()
    }

    pub(crate) fn l1_weight(&self) -> u64 {
        self.l1.weight()
    }

    pub(crate) fn has_l2(&self) -> bool {
        self.l2.is_configured()
    }

    pub(crate) async fn health(&self) -> Result<(), L2Error> {
        self.l2.health().await
    }

    pub(crate) fn health_blocking(&self) -> Result<(), L2Error> {
        self.l2.health_blocking()
    }

    /// The store of `site` for key and value types `K`, `V`, created on first use.
    pub(crate) fn store<K, V>(
        &self,
        site: usize,
        name: &str,
        fns: impl FnOnce() -> ValueFns<V>,
        key_fns: impl FnOnce() -> KeyFns<K>,
    ) -> Arc<Store<K, V>>
    where
        K: Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        self.l1.store(site, name, fns, key_fns)
    }

    /// An entry's options with the builder's defaults applied.
    pub(crate) fn resolve(&self, options: &EntryOptions) -> ResolvedOptions {
        let refresh_ahead = options
            .refresh_ahead
            .filter(|f| {
                let valid = *f > 0.0 && *f < 1.0;
                if !valid {
                    tracing::warn!(fraction = f, "refresh_ahead outside (0, 1) ignored");
                }
                valid
            })
            .or(self.refresh_ahead);
        ResolvedOptions {
            ttl: options.ttl.unwrap_or(self.default_ttl),
            refresh_ahead,
            stale_if_error: options
                .stale_if_error
                .or(self.stale_if_error)
                .filter(|window| !window.is_zero()),
            level: options.level,
            tags: options.tags.clone(),
            store_if: None,
        }
    }

    /// Looks a key up in L1 (fresh entries only) and counts the hit. The thread's slot is
    /// looked up once, for the shard's read lock and the hit counter.
    #[inline]
    pub(crate) fn probe<K, V: Clone>(
        &self,
        store: &Store<K, V>,
        hash: u64,
        eq: impl Fn(&K) -> bool,
    ) -> Option<Hit<V>> {
        let slot = thread_slot::current();
        let hit = self.l1.probe(slot, store, hash, eq);
        if hit.is_some() {
            store.counters.l1_hits.incr(slot);
        }
        hit
    }

    /// Probes the keyed API's store of `V` for a string key without cloning the store's `Arc`
    /// or allocating: the hit path of `Cache::get` and `get_or_load`.
    pub(crate) fn probe_keyed<V>(&self, site: usize, key: &str) -> Option<Hit<V>>
    where
        V: Clone + Send + Sync + 'static,
    {
        self.l1
            .with_store::<Box<str>, V, _>(site, |store| self.probe_keyed_in(store, key))
            .flatten()
    }

    /// Probes a keyed store the caller already holds for a string key.
    #[inline]
    pub(crate) fn probe_keyed_in<V: Clone>(
        &self,
        store: &KeyedStore<V>,
        key: &str,
    ) -> Option<Hit<V>> {
        self.probe(store, store.hash_str(key), |stored| **stored == *key)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Stores may outlive the cache in a function's `Site`: free their entries now.
        self.l1.for_each_store(|store| store.invalidate_all());
    }
}
