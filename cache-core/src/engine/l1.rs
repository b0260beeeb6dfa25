//! The L1 stage: its typed stores (`registry.rs`), probing and filling them, the validity
//! stamps that make an entry invisible after a `clear` (epoch) or a tag invalidation (tag
//! generations), invalidation of local entries and in-flight loads, whether L1 is coherent
//! (coherence marks it degraded while the backplane is down: only entries filled since, for
//! at most `degraded_ttl`, are served), and the budget (which entries stay is the policy's
//! choice, `policy.rs`, which sees the stores through [`Ring`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::{deadline, millis, now_ms};
use crate::entry::{Deadlines, Entry, Stamps};
use crate::glob::glob_matches;
use crate::store::{ErasedStore, Inserted, KeyFns, Occupancy, Store, Sweep, ValueFns};
use crate::tags::TagRegistry;
use crate::thread_slot::ThreadSlot;

use super::policy::{Handle, Policy, Residents};
use super::put::{KEYED_L1_SITE, KEYED_NAME, KEYED_SITE};
use super::registry::Registry;
use super::{EntryKey, ResolvedOptions};

/// A value found in L1.
pub(crate) struct Hit<V> {
    pub(crate) value: V,
    /// This hit claimed the entry's single refresh.
    pub(crate) refresh: bool,
}

/// What a miss found in L1 after all: a fresh entry of the store itself (for a batch or the
/// keyed API, also of a `#[cached]` function's store: served, not copied), or a value written
/// under the key by `set` or `#[cache_put]` (kept in the keyed stores).
pub(crate) enum Found<V> {
    Entry(V),
    Put(V),
}

/// A value to put in L1: what it is, how long it lives from now, and the validity stamps of
/// its tags (taken before it was read or loaded).
pub(crate) struct Fill<V> {
    pub(crate) value: V,
    pub(crate) ttl: Duration,
    pub(crate) stamps: Stamps,
}

/// Counters read when an L2 read starts, to tell whether an invalidation ran during it.
#[derive(Clone, Copy)]
pub(crate) struct ReadStart {
    epoch: u64,
    tag_invalidations: u64,
}

/// The L1 stage's state.
pub(crate) struct L1 {
    /// The typed stores, by function site and value type.
    registry: Registry,
    budget: Limits,
    policy: Policy,
    tags: TagRegistry,
    /// Bumped by `clear`: entries stamped with an older epoch are invalid.
    epoch: AtomicU64,
    /// Bumped by every tag invalidation: an L2 value read while it moved is not put in L1
    /// (its tags are known only after the read, so they could not be stamped before it).
    tag_invalidations: AtomicU64,
    /// False while the L2 backplane is down: L1 may miss other processes' invalidations.
    /// It was emptied when that happened; new entries live at most `degraded_ttl` until the
    /// backplane is back (and L1 is emptied again).
    enabled: AtomicBool,
    /// Longest life of an entry filled while the backplane is down; zero: L1 is neither read
    /// nor filled meanwhile.
    degraded_ttl: Duration,
    /// Set by the first value written by key: until then a miss skips the keyed stores.
    puts: AtomicBool,
}

/// The cache's L1 budget and what it holds.
struct Limits {
    max_entries: usize,
    max_weight: u64,
    occupancy: Arc<Occupancy>,
}

impl Limits {
    fn over(&self) -> bool {
        self.occupancy.entries() > self.max_entries || self.occupancy.weight() > self.max_weight
    }
}

/// The stores (by index) as the policy's clock hand sees them: at one clock reading and
/// epoch, with the budget they fill.
struct Ring<'a> {
    stores: &'a [Arc<dyn ErasedStore>],
    budget: &'a Limits,
    now: u64,
    epoch: u64,
}

impl Ring<'_> {
    fn store(&self, handle: Handle) -> Option<&dyn ErasedStore> {
        self.stores.get(handle.store()).map(AsRef::as_ref)
    }
}

impl Residents for Ring<'_> {
    fn sweep(&self, handle: Handle) -> Sweep {
        self.store(handle).map_or(Sweep::Gone, |store| {
            store.sweep(handle.hash(), handle.id(), self.now, self.epoch)
        })
    }

    fn is_dead_or_gone(&self, handle: Handle) -> bool {
        self.store(handle).is_none_or(|store| {
            store.is_dead_or_gone(handle.hash(), handle.id(), self.now, self.epoch)
        })
    }

    fn contains(&self, handle: Handle) -> bool {
        self.store(handle)
            .is_some_and(|store| store.contains(handle.hash(), handle.id()))
    }

    fn evict(&self, handle: Handle) -> bool {
        self.store(handle)
            .is_some_and(|store| store.evict(handle.hash(), handle.id()))
    }

    fn over_budget(&self) -> bool {
        self.budget.over()
    }

    fn hits(&self) -> u64 {
        self.stores
            .iter()
            .map(|store| store.counters().l1_hits.sum())
            .sum()
    }
}

impl L1 {
    pub(crate) fn new(capacity: u64, max_weight: Option<u64>, degraded_ttl: Duration) -> Self {
        let occupancy = Arc::<Occupancy>::default();
        Self {
            registry: Registry::new(Arc::clone(&occupancy)),
            budget: Limits {
                max_entries: usize::try_from(capacity).unwrap_or(usize::MAX),
                max_weight: max_weight.unwrap_or(u64::MAX),
                occupancy,
            },
            policy: Policy::new(capacity),
            tags: TagRegistry::default(),
            epoch: AtomicU64::new(0),
            tag_invalidations: AtomicU64::new(0),
            enabled: AtomicBool::new(true),
            degraded_ttl,
            puts: AtomicBool::new(false),
        }
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
        if site == KEYED_SITE || site == KEYED_L1_SITE {
            self.puts.store(true, Ordering::Release);
        }
        self.registry.store(site, name, fns, key_fns)
    }

    /// Runs `f` on the store of `site` for `K`, `V` if it exists (no `Arc` cloned).
    #[inline]
    pub(crate) fn with_store<K: 'static, V: 'static, R>(
        &self,
        site: usize,
        f: impl FnOnce(&Store<K, V>) -> R,
    ) -> Option<R> {
        self.registry.with_store(site, f)
    }

    /// Runs `f` on every store.
    pub(crate) fn for_each_store(&self, f: impl FnMut(&dyn ErasedStore)) {
        self.registry.for_each(f);
    }

    pub(crate) fn len(&self) -> usize {
        self.budget.occupancy.entries()
    }

    pub(crate) fn weight(&self) -> u64 {
        self.budget.occupancy.weight()
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Release);
    }

    /// Whether L1 may be read: coherent, or degraded with a non-zero `degraded_ttl`.
    #[inline]
    fn readable(&self) -> bool {
        self.enabled.load(Ordering::Relaxed) || !self.degraded_ttl.is_zero()
    }

    /// Looks a key up on the thread of slot `slot`: fresh entries only. The caller counts
    /// the hit.
    #[inline]
    pub(crate) fn probe<K, V: Clone>(
        &self,
        slot: ThreadSlot,
        store: &Store<K, V>,
        hash: u64,
        eq: impl Fn(&K) -> bool,
    ) -> Option<Hit<V>> {
        if !self.readable() {
            return None;
        }
        let now = now_ms();
        let epoch = self.epoch.load(Ordering::Acquire);
        store.read_as(slot, hash, eq, |entry| {
            if !entry.is_fresh(now, epoch) {
                return None;
            }
            entry.hit();
            Some(Hit {
                value: entry.value.clone(),
                refresh: entry.claim_refresh(now),
            })
        })
    }

    /// Up to `limit` keys matching `matches` that a read would return now (fresh and valid;
    /// none while L1 may not be read), sorted.
    pub(crate) fn keys(&self, matches: &dyn Fn(&str) -> bool, limit: usize) -> Vec<String> {
        let mut keys = Vec::new();
        if !self.readable() {
            return keys;
        }
        let at = (now_ms(), self.epoch.load(Ordering::Acquire));
        self.registry
            .for_each(|store| store.texts_where(matches, limit, at, &mut keys));
        keys.sort();
        keys.dedup();
        keys
    }

    /// The store name (function), expiry, weight and tag count of the entry of `text` a read
    /// would return now, if any.
    pub(crate) fn describe(&self, text: &str) -> Option<(String, u64, u32, usize)> {
        if !self.readable() {
            return None;
        }
        let at = (now_ms(), self.epoch.load(Ordering::Acquire));
        let mut found = None;
        self.registry.for_each(|store| {
            if found.is_none()
                && let Some((expires_at, weight, tags)) = store.describe(text, at)
            {
                found = Some((store.name().to_owned(), expires_at, weight, tags));
            }
        });
        found
    }

    /// Validity stamps as of now, for a load that starts.
    pub(crate) fn stamps(&self, tags: &[String]) -> Stamps {
        Stamps {
            epoch: self.epoch.load(Ordering::Acquire),
            tags: self.tags.stamp(tags),
        }
    }

    pub(crate) fn read_start(&self) -> ReadStart {
        ReadStart {
            epoch: self.epoch.load(Ordering::Acquire),
            tag_invalidations: self.tag_invalidations.load(Ordering::Acquire),
        }
    }

    /// Whether no `clear` and no tag invalidation ran since `start`.
    pub(crate) fn unchanged_since(&self, start: ReadStart) -> bool {
        self.epoch.load(Ordering::Acquire) == start.epoch
            && self.tag_invalidations.load(Ordering::Acquire) == start.tag_invalidations
    }

    /// Runs `f` on the entry of `key` (found by its string form) with the current clock and
    /// epoch: the miss path's look-ups, which count no hit.
    fn read_entry<K, V, R>(
        &self,
        store: &Store<K, V>,
        key: &EntryKey<K>,
        f: impl FnOnce(&Entry<V>, u64, u64) -> Option<R>,
    ) -> Option<R> {
        let (now, epoch) = (now_ms(), self.epoch.load(Ordering::Acquire));
        store.read_text(key.hash, &key.text, |entry| f(entry, now, epoch))
    }

    /// A fresh entry, without counting a hit.
    pub(crate) fn fresh<K, V: Clone>(&self, store: &Store<K, V>, key: &EntryKey<K>) -> Option<V> {
        if !self.readable() {
            return None;
        }
        self.read_entry(store, key, |entry, now, epoch| {
            entry.is_fresh(now, epoch).then(|| entry.value.clone())
        })
    }

    /// The miss path's look-up, without counting a hit: a fresh entry of `store` (another
    /// load may have filled it since the probe), else a fresh value of type `V` under the
    /// key's text in another store ([`elsewhere`](Self::elsewhere)).
    pub(crate) fn find<K, V>(&self, store: &Store<K, V>, key: &EntryKey<K>) -> Option<Found<V>>
    where
        V: Clone + 'static,
    {
        if let Some(value) = self.fresh(store, key) {
            return Some(Found::Entry(value));
        }
        self.elsewhere(store, &key.text)
    }

    /// A fresh value of type `V` under `text` in another store than `own`, so that one key
    /// means one entry whoever wrote it: a value written by `set` or `#[cache_put]` (a
    /// [`Found::Put`], to be kept in `own`), or one a `#[cached]` function stored, read
    /// through the keyed API (a [`Found::Entry`], returned as is: it keeps its own tags).
    /// When only a value of another type is there, counts a type mismatch on `own` (and logs
    /// the first). Skipped (`None`) until a value is first written or read by key: a
    /// `#[cached]` function alone never looks beyond its own store.
    pub(crate) fn elsewhere<K, V>(&self, own: &Store<K, V>, text: &str) -> Option<Found<V>>
    where
        V: Clone + 'static,
    {
        if !self.puts.load(Ordering::Acquire) || !self.readable() {
            return None;
        }
        let at = (now_ms(), self.epoch.load(Ordering::Acquire));
        let (mut found, mut other) = (None, None);
        self.registry.for_each(|store| {
            if found.is_some() || store.store_index() == own.index() {
                return;
            }
            if store.value_type_id() == std::any::TypeId::of::<V>() {
                let value = store.fresh_value(text, at);
                if let Some(value) = value.and_then(|value| value.downcast::<V>().ok()) {
                    found = Some(if store.name() == KEYED_NAME {
                        Found::Put(*value)
                    } else {
                        Found::Entry(*value)
                    });
                }
            } else if other.is_none() && store.describe(text, at).is_some() {
                other = Some(store.value_type());
            }
        });
        if found.is_none()
            && let Some(other) = other
        {
            Self::count_type_mismatch::<K, V>(own, text, other);
        }
        found
    }

    /// Counts (and the first time for `store`, logs) a read of `text` that found only a
    /// value of type `other`, which it can never return.
    fn count_type_mismatch<K, V>(store: &Store<K, V>, text: &str, other: &str) {
        if store
            .counters
            .type_mismatches
            .fetch_add(1, Ordering::Relaxed)
            == 0
        {
            tracing::warn!(
                key = text,
                function = store.name(),
                expected = std::any::type_name::<V>(),
                found = other,
                "a value of another type is stored under this key: the read ignores it (a \
                 miss); store the type the readers of the key return (`#[cache_put(reader)]` \
                 checks it at compile time)"
            );
        }
    }

    /// A fresh value of type `V` under the key text `text` in any store: how a batch, which
    /// works on the keyed stores, reads what a `#[cached]` function (whose keys are typed)
    /// holds under the same key. Stores of other value types are passed over without a lock.
    pub(crate) fn fresh_anywhere<V: Clone + 'static>(&self, text: &str) -> Option<V> {
        if !self.readable() {
            return None;
        }
        let at = (now_ms(), self.epoch.load(Ordering::Acquire));
        let mut found: Option<V> = None;
        self.registry.for_each(|store| {
            if found.is_none() && store.value_type_id() == std::any::TypeId::of::<V>() {
                found = store
                    .fresh_value(text, at)
                    .and_then(|value| value.downcast::<V>().ok())
                    .map(|value| *value);
            }
        });
        found
    }

    /// A still-valid entry within its `stale_if_error` window.
    pub(crate) fn stale<K, V: Clone>(&self, store: &Store<K, V>, key: &EntryKey<K>) -> Option<V> {
        self.read_entry(store, key, |entry, now, epoch| {
            (entry.is_valid(epoch) && now < entry.stale_until()).then(|| entry.value.clone())
        })
    }

    /// Gives an entry's refresh claim back (its refresh failed).
    pub(crate) fn release_refresh<K, V>(&self, store: &Store<K, V>, key: &EntryKey<K>) {
        self.read_entry(store, key, |entry, _, _| {
            entry.release_refresh();
            Some(())
        });
    }

    /// Puts a value in L1 unless `invalidated` says an invalidation covered its load
    /// (checked under the shard's write lock), then lets the policy queue it and evict.
    pub(crate) fn fill<K, V>(
        &self,
        store: &Store<K, V>,
        key: EntryKey<K>,
        fill: Fill<V>,
        options: &ResolvedOptions,
        invalidated: impl FnOnce() -> bool,
    ) {
        let coherent = self.enabled.load(Ordering::Acquire);
        // Degraded: a short life, no refresh, no stale window, so nothing outlives the bound.
        let ttl = if coherent {
            fill.ttl
        } else {
            fill.ttl.min(self.degraded_ttl)
        };
        if ttl.is_zero() {
            return;
        }
        let now = now_ms();
        let expires_at = deadline(now, ttl);
        let refresh_at = options.refresh_ahead.filter(|_| coherent).map(|fraction| {
            let early = millis(options.ttl.mul_f64(1.0 - fraction));
            expires_at.saturating_sub(early).max(now)
        });
        let stale_until = match options.stale_if_error {
            Some(window) if coherent => deadline(expires_at, window),
            _ => expires_at,
        };
        let weight = store.weight_of(&fill.value);
        let deadlines = Deadlines {
            expires_at,
            refresh_at,
            stale_until,
        };
        let entry = Entry::new(
            fill.value,
            &deadlines,
            fill.stamps,
            self.policy.next_id(),
            weight,
        );
        let handle = Handle::new(store.index(), key.hash, entry.id);
        let epoch = self.epoch.load(Ordering::Acquire);
        self.registry.with_all(|stores| {
            let ring = Ring {
                stores,
                budget: &self.budget,
                now,
                epoch,
            };
            self.policy.insert(&ring, || {
                match store.insert(key.hash, key.typed, &key.text, entry, invalidated) {
                    Inserted::New => Some(handle),
                    Inserted::Replaced | Inserted::Aborted => None,
                }
            })
        });
    }

    /// The stamps of a value read from L2 with `tags` (and the caller's), as of the read's
    /// `start`; `None` if a tag invalidation ran during the read (its tags were known only
    /// after it, so they could not be stamped before it).
    pub(crate) fn stamps_after_read(
        &self,
        mut tags: Vec<String>,
        options: &ResolvedOptions,
        start: ReadStart,
    ) -> Option<Stamps> {
        for tag in &options.tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let stamps = Stamps {
            epoch: start.epoch,
            tags: self.tags.stamp(&tags),
        };
        let moved = self.tag_invalidations.load(Ordering::Acquire) != start.tag_invalidations;
        (!moved).then_some(stamps)
    }

    /// Removes one key from every store, detaching its in-flight loads.
    pub(crate) fn invalidate_key(&self, key: &str) {
        self.registry.for_each(|store| store.invalidate_key(key));
    }

    /// Removes the keys matching a Redis glob from every store, detaching their in-flight
    /// loads.
    pub(crate) fn invalidate_pattern(&self, pattern: &str) {
        let matches = |key: &str| glob_matches(pattern, key);
        self.registry
            .for_each(|store| store.invalidate_matching(&matches));
    }

    /// Hides every entry carrying one of `tags` (O(1) per tag) and detaches the in-flight
    /// loads started with one of them.
    pub(crate) fn invalidate_tags(&self, tags: &[String]) {
        let names: Vec<&str> = tags.iter().map(String::as_str).collect();
        // Generations first: a load that starts from here on stamps the new ones.
        self.tags.invalidate(&names);
        self.tag_invalidations.fetch_add(1, Ordering::AcqRel);
        self.registry
            .for_each(|store| store.invalidate_tagged_flights(tags));
    }

    /// Hides every entry (new epoch) and removes them, detaching in-flight loads.
    pub(crate) fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.registry.for_each(|store| store.invalidate_all());
    }
}
