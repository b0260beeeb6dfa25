//! The L1 store: a sharded hash table of typed entries.
//!
//! This is the one seam behind which the L1 data structure lives (see `BENCHMARKS.md` for the
//! figures that chose it over moka). Reads take a shard's read lock, compare keys in place and
//! clone only the value; no allocation, no string formatting. Each entry is found by a
//! caller-computed hash and an equality closure, so a function's key can be looked up from
//! borrowed arguments (`&str`) while the table owns `String`s.
//!
//! Capacity is bounded per cache: when the cache holds more entries than its capacity, the
//! largest store evicts by sampling (expired or invalidated entries first, then the least
//! recently hit of a few candidates, as Redis approximates LRU).

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use dashmap::DashMap;
use hashbrown::HashTable;

use crate::codec::{Codec, CodecError};
use crate::entry::Entry;
use crate::flight::Flights;
use crate::glob::glob_matches;
use crate::l2::StoredValue;

struct Slot<K, V> {
    hash: u64,
    /// The typed key (compared on a hit).
    key: K,
    /// The rendered key (single-flight, L2, invalidation by key or pattern).
    text: Arc<str>,
    entry: Entry<V>,
}

/// A table shard behind a reader-sharded lock: a reader locks only its own thread's slice of
/// the lock, so concurrent hits on different threads write to different cache lines.
type Shard<K, V> = ShardedLock<HashTable<Slot<K, V>>>;

/// Read access; a panic while a shard was locked poisons nothing we rely on.
fn read<T>(lock: &ShardedLock<T>) -> ShardedLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write access (see [`read`]).
fn write<T>(lock: &ShardedLock<T>) -> ShardedLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Encoding of a store's values for L2; absent for L1-only stores (no serde bounds).
pub(crate) struct SerdeFns<V> {
    pub(crate) encode: fn(&Codec, &V) -> Result<StoredValue, CodecError>,
    pub(crate) decode: fn(&Codec, &StoredValue) -> Result<Option<V>, CodecError>,
}

impl<V> SerdeFns<V>
where
    V: serde::Serialize + serde::de::DeserializeOwned,
{
    pub(crate) fn new() -> Self {
        Self {
            encode: |codec, value| codec.encode(value),
            decode: |codec, stored| codec.decode(stored),
        }
    }
}

/// Entries sampled per eviction.
const EVICTION_SAMPLES: usize = 8;

/// One typed store: a function's entries, or the keyed API's entries of one value type.
pub(crate) struct Store<K, V> {
    shards: Box<[Shard<K, V>]>,
    by_key: DashMap<Arc<str>, u64, foldhash::fast::RandomState>,
    hasher: foldhash::fast::RandomState,
    len: AtomicUsize,
    cache_len: Arc<AtomicUsize>,
    evict_cursor: AtomicUsize,
    pub(crate) flights: Flights<V>,
    pub(crate) serde: Option<SerdeFns<V>>,
}

fn shard_count() -> usize {
    let cpus = std::thread::available_parallelism().map_or(4, usize::from);
    (cpus * 8).next_power_of_two().clamp(16, 256)
}

impl<K, V> Store<K, V> {
    pub(crate) fn new(cache_len: Arc<AtomicUsize>, serde: Option<SerdeFns<V>>) -> Self {
        Self {
            shards: (0..shard_count())
                .map(|_| ShardedLock::new(HashTable::new()))
                .collect(),
            by_key: DashMap::default(),
            hasher: foldhash::fast::RandomState::default(),
            len: AtomicUsize::new(0),
            cache_len,
            evict_cursor: AtomicUsize::new(0),
            flights: Flights::default(),
            serde,
        }
    }

    /// The hasher callers use to hash their key parts.
    #[inline]
    pub(crate) fn hasher(&self) -> &foldhash::fast::RandomState {
        &self.hasher
    }

    /// Hash of a whole string key (for stores keyed by string).
    pub(crate) fn hash_str(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K, V> {
        // The table uses the low bits; pick the shard from the high ones.
        &self.shards[(hash >> 48) as usize & (self.shards.len() - 1)]
    }

    /// Runs `f` on the entry under the shard's read lock.
    #[inline]
    pub(crate) fn read<R>(
        &self,
        hash: u64,
        eq: impl Fn(&K, &str) -> bool,
        f: impl FnOnce(&Entry<V>) -> Option<R>,
    ) -> Option<R> {
        let shard = read(self.shard(hash));
        let slot = shard.find(hash, |slot| slot.hash == hash && eq(&slot.key, &slot.text))?;
        f(&slot.entry)
    }

    /// Inserts or replaces the entry for `text`, unless `abort` says the load was invalidated.
    /// The check runs under the shard's write lock, so an invalidation either sees the entry
    /// (and removes it) or is seen here.
    pub(crate) fn insert(
        &self,
        hash: u64,
        key: K,
        text: Arc<str>,
        entry: Entry<V>,
        abort: impl FnOnce() -> bool,
    ) -> bool {
        let mut shard = write(self.shard(hash));
        if abort() {
            return false;
        }
        match shard.find_mut(hash, |slot| slot.hash == hash && *slot.text == *text) {
            Some(slot) => slot.entry = entry,
            None => {
                self.by_key.insert(Arc::clone(&text), hash);
                shard.insert_unique(
                    hash,
                    Slot {
                        hash,
                        key,
                        text,
                        entry,
                    },
                    |slot| slot.hash,
                );
                self.len.fetch_add(1, Ordering::Relaxed);
                self.cache_len.fetch_add(1, Ordering::Relaxed);
            }
        }
        true
    }

    fn removed(&self, count: usize) {
        if count > 0 {
            self.len.fetch_sub(count, Ordering::Relaxed);
            self.cache_len.fetch_sub(count, Ordering::Relaxed);
        }
    }

    /// Removes the entry of a string key.
    pub(crate) fn remove_key(&self, text: &str) -> bool {
        let Some((_, hash)) = self.by_key.remove(text) else {
            return false;
        };
        let mut shard = write(self.shard(hash));
        if let Ok(found) = shard.find_entry(hash, |slot| slot.hash == hash && *slot.text == *text) {
            found.remove();
            self.removed(1);
            return true;
        }
        false
    }

    /// Removes every entry whose key matches.
    pub(crate) fn remove_where(&self, matches: &dyn Fn(&str) -> bool) -> usize {
        let mut total = 0;
        for shard in self.shards.iter() {
            let mut shard = write(shard);
            let before = shard.len();
            shard.retain(|slot| {
                let keep = !matches(&slot.text);
                if !keep {
                    self.by_key.remove(&slot.text);
                }
                keep
            });
            total += before - shard.len();
        }
        self.removed(total);
        total
    }

    /// Removes every entry.
    pub(crate) fn clear(&self) {
        self.remove_where(&|_| true);
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Evicts one entry from the next non-empty shard: a dead one (expired past its stale
    /// window, or invalidated) if sampled, else the least recently hit of the sample; never
    /// `keep` (the entry whose insertion triggered the eviction).
    pub(crate) fn evict_one(&self, now: u64, epoch: u64, keep: &str) -> bool {
        let shards = self.shards.len();
        for _ in 0..shards {
            let index = self.evict_cursor.fetch_add(1, Ordering::Relaxed) & (shards - 1);
            let mut shard = write(&self.shards[index]);
            let victim = shard
                .iter()
                .filter(|slot| *slot.text != *keep)
                .take(EVICTION_SAMPLES)
                .min_by_key(|slot| {
                    let dead = now >= slot.entry.stale_until || !slot.entry.is_valid(epoch);
                    (!dead, slot.entry.last_access.load(Ordering::Relaxed))
                })
                .map(|slot| (slot.hash, Arc::clone(&slot.text)));
            if let Some((hash, text)) = victim
                && let Ok(found) =
                    shard.find_entry(hash, |slot| slot.hash == hash && slot.text == text)
            {
                found.remove();
                self.by_key.remove(&text);
                self.removed(1);
                return true;
            }
        }
        false
    }
}

/// What the cache needs from every store, whatever its key and value types.
pub(crate) trait ErasedStore: Send + Sync {
    /// Removes one key and poisons its in-flight load.
    fn invalidate_key(&self, text: &str);
    /// Removes matching keys and poisons their in-flight loads.
    fn invalidate_pattern(&self, pattern: &str);
    /// Removes everything and poisons every in-flight load.
    fn invalidate_all(&self);
    fn len(&self) -> usize;
    fn evict_one(&self, now: u64, epoch: u64, keep: &str) -> bool;
}

impl<K: Send + Sync, V: Clone + Send + Sync> ErasedStore for Store<K, V> {
    fn invalidate_key(&self, text: &str) {
        self.flights.poison(&|key| key == text);
        self.remove_key(text);
    }

    fn invalidate_pattern(&self, pattern: &str) {
        let matches = |key: &str| glob_matches(pattern, key);
        self.flights.poison(&matches);
        self.remove_where(&matches);
    }

    fn invalidate_all(&self) {
        self.flights.poison(&|_| true);
        self.clear();
    }

    fn len(&self) -> usize {
        Store::len(self)
    }

    fn evict_one(&self, now: u64, epoch: u64, keep: &str) -> bool {
        Store::evict_one(self, now, epoch, keep)
    }
}
