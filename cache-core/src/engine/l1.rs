//! The L1 stage: probing and filling the typed stores, the validity stamps that make an entry
//! invisible after a `clear` (epoch) or a tag invalidation (tag generations), whether L1 is
//! coherent (coherence marks it degraded while the backplane is down: only entries filled
//! since, for at most `degraded_ttl`, are served), and the budget (which entries stay is the
//! policy's choice, `policy.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::{deadline, millis, now_ms};
use crate::entry::{Deadlines, Entry, Stamps};
use crate::store::{Inserted, Occupancy, Store};
use crate::tags::TagRegistry;
use crate::thread_slot::ThreadSlot;

use super::policy::{Budget, Handle, Policy, Ring};
use super::registry::Registry;
use super::{EntryKey, ResolvedOptions};

/// A value found in L1.
pub(crate) struct Hit<V> {
    pub(crate) value: V,
    /// This hit claimed the entry's single refresh.
    pub(crate) refresh: bool,
}

/// Counters read when an L2 read starts, to tell whether an invalidation ran during it.
#[derive(Clone, Copy)]
pub(crate) struct ReadStart {
    epoch: u64,
    tag_invalidations: u64,
}

/// The L1 stage's state.
pub(crate) struct L1 {
    budget: Limits,
    policy: Policy,
    stale_if_error: Option<Duration>,
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
}

/// The cache's L1 budget and what it holds.
struct Limits {
    max_entries: usize,
    max_weight: u64,
    occupancy: Arc<Occupancy>,
}

impl Budget for Limits {
    fn over(&self) -> bool {
        self.occupancy.entries() > self.max_entries || self.occupancy.weight() > self.max_weight
    }
}

impl L1 {
    pub(crate) fn new(
        capacity: u64,
        max_weight: Option<u64>,
        stale_if_error: Option<Duration>,
        degraded_ttl: Duration,
    ) -> Self {
        Self {
            budget: Limits {
                max_entries: usize::try_from(capacity).unwrap_or(usize::MAX),
                max_weight: max_weight.unwrap_or(u64::MAX),
                occupancy: Arc::default(),
            },
            policy: Policy::new(capacity),
            stale_if_error,
            tags: TagRegistry::default(),
            epoch: AtomicU64::new(0),
            tag_invalidations: AtomicU64::new(0),
            enabled: AtomicBool::new(true),
            degraded_ttl,
        }
    }

    /// What every store of the cache accounts its entries in.
    pub(crate) fn occupancy(&self) -> Arc<Occupancy> {
        Arc::clone(&self.budget.occupancy)
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

    /// Puts a loaded value in L1 unless `invalidated` says an invalidation covered its load (checked
    /// under the shard's write lock), then lets the policy queue it and evict.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill<K, V>(
        &self,
        registry: &Registry,
        store: &Store<K, V>,
        key: EntryKey<K>,
        (value, ttl): (V, Duration),
        options: &ResolvedOptions,
        stamps: Stamps,
        invalidated: impl FnOnce() -> bool,
    ) {
        let coherent = self.enabled.load(Ordering::Acquire);
        // Degraded: a short life, no refresh, no stale window, so nothing outlives the bound.
        let ttl = if coherent {
            ttl
        } else {
            ttl.min(self.degraded_ttl)
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
        let stale_until = match self.stale_if_error {
            Some(window) if coherent => deadline(expires_at, window),
            _ => expires_at,
        };
        let weight = store.weight_of(&value);
        let deadlines = Deadlines {
            expires_at,
            refresh_at,
            stale_until,
        };
        let entry = Entry::new(value, &deadlines, stamps, self.policy.next_id(), weight);
        let handle = Handle::new(store.index(), key.hash, entry.id);
        let epoch = self.epoch.load(Ordering::Acquire);
        registry.with_all(|stores| {
            let ring = Ring::new(stores, now, epoch);
            let hits = || {
                stores
                    .iter()
                    .map(|store| store.counters().l1_hits.sum())
                    .sum()
            };
            self.policy.insert(&ring, &self.budget, &hits, || {
                match store.insert(key.hash, key.typed, &key.text, entry, invalidated) {
                    Inserted::New => Some(handle),
                    Inserted::Replaced | Inserted::Aborted => None,
                }
            })
        });
    }

    /// Puts a value read from L2 in L1 with the tags L2 returned (and the caller's), unless
    /// `invalidated` (an invalidation covered the key's load) or a tag moved since the read started.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill_from_l2<K, V>(
        &self,
        registry: &Registry,
        store: &Store<K, V>,
        key: EntryKey<K>,
        (value, ttl, mut tags): (V, Duration, Vec<String>),
        options: &ResolvedOptions,
        start: ReadStart,
        invalidated: impl FnOnce() -> bool,
    ) {
        for tag in &options.tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let stamps = Stamps {
            epoch: start.epoch,
            tags: self.tags.stamp(&tags),
        };
        let moved = || {
            invalidated()
                || self.tag_invalidations.load(Ordering::Acquire) != start.tag_invalidations
        };
        self.fill(registry, store, key, (value, ttl), options, stamps, moved);
    }

    /// Hides every entry carrying one of `tags` (O(1) per tag).
    pub(crate) fn invalidate_tags(&self, tags: &[String]) {
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        self.tags.invalidate(&tags);
        self.tag_invalidations.fetch_add(1, Ordering::AcqRel);
    }

    /// Hides every entry (new epoch) and removes them, detaching in-flight loads.
    pub(crate) fn clear(&self, registry: &Registry) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        registry.for_each(|store| store.invalidate_all());
    }
}
