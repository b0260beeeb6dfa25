//! The L1 store: sharded tables of typed entries (each shard: [`table`]).
//!
//! This is the one seam behind which the L1 data structure lives (see `BENCHMARKS.md` for the
//! figures that chose it over moka). Reads take a shard's read lock ([`shard_lock`]), compare
//! keys in place and clone only the value; no allocation, no string formatting. Each entry is
//! found by a caller-computed hash and an equality closure, so a function's key can be looked
//! up from borrowed arguments (`&str`) while the table owns `String`s. Neither the key's text
//! nor its hash is stored: the text is rendered from the typed key when an invalidation names
//! a text, and the hash recomputed when an index grows or an entry moves (see [`KeyFns`]); each
//! saves bytes per entry (`BENCHMARKS.md`, `mem_per_entry`).
//!
//! Which entries stay is not decided here: the cache's policy (`engine/policy.rs`) holds a
//! handle per entry and asks the store to sweep (read and reset an entry's access bits) and to
//! evict by handle. The store keeps the cache's [`Occupancy`] (entries and weight) exact.

use std::any::Any;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use hashbrown::HashTable;
use parking_lot::Mutex;

#[cfg(not(cache_core_crossbeam_lock))]
mod shard_lock;
#[cfg(cache_core_crossbeam_lock)]
#[path = "store/crossbeam_shard_lock.rs"]
mod shard_lock;
#[cfg(all(test, not(cache_core_crossbeam_lock)))]
mod shard_lock_tests;
mod table;

use shard_lock::ShardLocks;
use table::{Slot, Table};

use crate::codec::{Codec, CodecError};
use crate::entry::Entry;
use crate::flight::Flights;
use crate::l2::StoredValue;
use crate::stats::Counters;
use crate::thread_slot::{self, ThreadSlot};

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

/// Per value type: encoding for L2 (absent for L1-only stores) and the weigher.
pub(crate) struct ValueFns<V> {
    pub(crate) serde: Option<SerdeFns<V>>,
    /// A value's weight against `l1_max_weight`; without one, `size_of::<V>()`.
    pub(crate) weigher: Option<fn(&V) -> usize>,
}

/// How much L1 holds, over all the stores of a cache.
#[derive(Default)]
pub(crate) struct Occupancy {
    entries: AtomicUsize,
    weight: AtomicU64,
}

impl Occupancy {
    /// Entries in L1.
    pub(crate) fn entries(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Sum of the entries' weights.
    pub(crate) fn weight(&self) -> u64 {
        self.weight.load(Ordering::Relaxed)
    }

    fn add(&self, weight: u32) {
        self.entries.fetch_add(1, Ordering::Relaxed);
        self.weight.fetch_add(u64::from(weight), Ordering::Relaxed);
    }

    fn sub(&self, count: usize, weight: u64) {
        if count > 0 {
            self.entries.fetch_sub(count, Ordering::Relaxed);
            self.weight.fetch_sub(weight, Ordering::Relaxed);
        }
    }
}

/// What an insert did.
pub(crate) enum Inserted {
    /// A new entry: the policy must queue it.
    New,
    /// The key's entry was replaced; it keeps its place in the policy.
    Replaced,
    /// An invalidation hit the load: nothing was stored.
    Aborted,
}

/// What the policy's clock hand finds at a handle.
pub(crate) enum Sweep {
    /// The entry was removed (or replaced by a newer one of the same key).
    Gone,
    /// Expired past its stale window, or invalidated: evict it first.
    Dead,
    /// In use: whether it was hit since the last pass, and whether it had credit left.
    Live { hit: bool, credit: bool },
}

/// Renders a typed key as its text (for invalidation by key or pattern, which name texts) and
/// hashes it as the hit path hashes its borrowed parts.
pub(crate) type KeyFns<K> = crate::key_parts::OwnedKeyFns<K>;

/// Which entry a key text names: 32 bits of the text's hash and the entry's (typed) hash, in
/// 8 bytes. A multimap (texts may share those bits); the text itself is not kept, it is
/// rendered from the typed key to confirm a match. This replaces a `text -> hash` map that cost
/// about 100 bytes per entry.
type TextIndex = Mutex<HashTable<TextLink>>;

/// An entry of a [`TextIndex`]: `[text hash bits, entry hash bits]`.
type TextLink = [u32; 2];

/// The hash of a key in a store, from a hasher's 64-bit output: its top 32 bits, spread back
/// to 64 (the table takes its bucket from the low bits, its tag and the shard from the high
/// ones). So 32 bits name an entry ([`hash_bits`]): the policy's handles and the text index
/// keep 4 bytes instead of 8 per entry, and keys that share them are told apart by equality.
#[inline]
fn key_hash(raw: u64) -> u64 {
    hash_of_bits((raw >> 32) as u32)
}

/// The 32 bits of a [`key_hash`] that determine it.
#[inline]
pub(crate) fn hash_bits(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// The [`key_hash`] determined by `bits`. The high half keeps `bits` (the shard and the
/// table's tag read it); the low half, where a table finds its bucket, is the high half of a
/// product of them, so every low bit depends on every input bit (the low bits of a product
/// would depend only on the low input bits, and a shard of more than 65,536 buckets would reuse
/// the bits that chose the shard). One multiply: this runs on every hit (a three-multiply
/// finalizer measured about 5% slower there).
#[inline]
pub(crate) fn hash_of_bits(bits: u32) -> u64 {
    let mixed = (u64::from(bits).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32;
    (u64::from(bits) << 32) | u64::from(mixed)
}

/// The link of the entry of hash `hash` from the text of hash `text_hash` (both [`key_hash`]es:
/// the text index is placed by the text's hash, which its bits determine as well).
fn link(text_hash: u64, hash: u64) -> TextLink {
    [hash_bits(text_hash), hash_bits(hash)]
}

fn linked_hash(link: &TextLink) -> u64 {
    hash_of_bits(link[1])
}

/// One typed store: a function's entries, or the keyed API's entries of one value type.
pub(crate) struct Store<K, V> {
    shards: ShardLocks<Table<K, V>>,
    texts: Box<[TextIndex]>,
    key_fns: KeyFns<K>,
    hasher: foldhash::fast::RandomState,
    occupancy: Arc<Occupancy>,
    /// This store's index in its cache's registry (the policy's handles name it).
    index: u32,
    /// The function's key prefix (or the keyed API's name), for per-function statistics.
    name: Arc<str>,
    /// This store's share of the cache's counters.
    pub(crate) counters: Counters,
    pub(crate) flights: Flights<V>,
    pub(crate) serde: Option<SerdeFns<V>>,
    weigher: Option<fn(&V) -> usize>,
}

fn shard_count() -> usize {
    let cpus = std::thread::available_parallelism().map_or(4, usize::from);
    (cpus * 8).next_power_of_two().clamp(16, 256)
}

impl<K, V> Store<K, V> {
    pub(crate) fn new(
        index: u32,
        name: &str,
        occupancy: Arc<Occupancy>,
        fns: ValueFns<V>,
        key_fns: KeyFns<K>,
    ) -> Self {
        let shards = shard_count();
        Self {
            shards: ShardLocks::new(shards, Table::new),
            texts: (0..shards).map(|_| Mutex::new(HashTable::new())).collect(),
            key_fns,
            hasher: foldhash::fast::RandomState::default(),
            occupancy,
            index,
            name: name.into(),
            counters: Counters::default(),
            flights: Flights::default(),
            serde: fns.serde,
            weigher: fns.weigher,
        }
    }

    /// This store's index in its cache's registry.
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// The function's key prefix (or the keyed API's name).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The weight of `value` against the cache's `l1_max_weight`.
    pub(crate) fn weight_of(&self, value: &V) -> u32 {
        let weight = match self.weigher {
            Some(weigher) => weigher(value),
            None => std::mem::size_of::<V>(),
        };
        u32::try_from(weight).unwrap_or(u32::MAX)
    }

    /// The hash of a key whose parts `feed` gives to the store's hasher (the hit path's hash of
    /// borrowed parts; see [`key_hash`]).
    #[inline]
    pub(crate) fn hash_with(
        &self,
        feed: impl FnOnce(&mut foldhash::fast::FoldHasher<'static>),
    ) -> u64 {
        let mut state = self.hasher.build_hasher();
        feed(&mut state);
        key_hash(state.finish())
    }

    /// Hash of a whole string key (for stores keyed by string, and key texts).
    pub(crate) fn hash_str(&self, key: &str) -> u64 {
        self.hash_with(|state| key.hash(state))
    }

    /// The hash of a stored key (as its borrowed parts hash on a hit).
    fn hash_key(&self, key: &K) -> u64 {
        self.hash_with(|state| (self.key_fns.hash)(key, state))
    }

    /// The text of a stored key.
    fn text_of(&self, key: &K) -> String {
        (self.key_fns.text)(key)
    }

    #[inline]
    fn shard(&self, hash: u64) -> usize {
        // The table uses the low bits; pick the shard from the high ones.
        (hash >> 48) as usize & (self.shards.len() - 1)
    }

    fn text_index(&self, text_hash: u64) -> parking_lot::MutexGuard<'_, HashTable<TextLink>> {
        self.texts[(text_hash >> 48) as usize & (self.texts.len() - 1)].lock()
    }

    fn unindex_text(&self, text_hash: u64, hash: u64) {
        let link = link(text_hash, hash);
        if let Ok(found) = self
            .text_index(text_hash)
            .find_entry(text_hash, |other| *other == link)
        {
            found.remove();
        }
    }

    /// The entry hashes of the texts with hash `text_hash` (usually one).
    fn hashes_of(&self, text_hash: u64) -> Vec<u64> {
        let bits = hash_bits(text_hash);
        self.text_index(text_hash)
            .iter_hash(text_hash)
            .filter(|link| link[0] == bits)
            .map(linked_hash)
            .collect()
    }

    /// Runs `f` on the entry under the shard's read lock; `eq` compares the typed keys.
    #[inline]
    pub(crate) fn read<R>(
        &self,
        hash: u64,
        eq: impl Fn(&K) -> bool,
        f: impl FnOnce(&Entry<V>) -> Option<R>,
    ) -> Option<R> {
        self.read_as(thread_slot::current(), hash, eq, f)
    }

    /// [`Store::read`] for a caller that already knows its [`thread_slot::current`] (the hit
    /// path, which also counts the hit in that slot).
    #[inline]
    pub(crate) fn read_as<R>(
        &self,
        slot: ThreadSlot,
        hash: u64,
        eq: impl Fn(&K) -> bool,
        f: impl FnOnce(&Entry<V>) -> Option<R>,
    ) -> Option<R> {
        let shard = self.shards.read_as(slot, self.shard(hash));
        let slot = shard.find(hash, |slot| eq(&slot.key))?;
        f(&slot.entry)
    }

    /// Runs `f` on the entry of the key whose text is `text` (the miss path's look-ups).
    pub(crate) fn read_text<R>(
        &self,
        hash: u64,
        text: &str,
        f: impl FnOnce(&Entry<V>) -> Option<R>,
    ) -> Option<R> {
        self.read(hash, |key| self.text_of(key) == text, f)
    }

    /// Runs `f` on the entry whose key text is `text`, found through the text index (in a
    /// store of typed keys as well).
    pub(crate) fn read_by_text<R>(
        &self,
        text: &str,
        f: impl Fn(&Entry<V>) -> Option<R>,
    ) -> Option<R> {
        self.hashes_of(self.hash_str(text))
            .into_iter()
            .find_map(|hash| self.read_text(hash, text, &f))
    }

    /// Inserts or replaces the entry for `text`, unless `abort` says the load was invalidated.
    /// A replaced entry keeps its id and access history.
    ///
    /// The check runs under the shard's write lock and the lock of the text's index, so an
    /// invalidation either sees the entry (and removes it) or is seen here: a removal by text
    /// ([`Store::remove_key`]) reads the text index first and locks the shard only when it
    /// finds the key there, so an insert that checked `abort` before the invalidation and
    /// indexed its text after the removal looked would leave its entry behind.
    pub(crate) fn insert(
        &self,
        hash: u64,
        key: K,
        text: &str,
        mut entry: Entry<V>,
        abort: impl FnOnce() -> bool,
    ) -> Inserted {
        let mut shard = self.shards.write(self.shard(hash));
        let text_hash = self.hash_str(text);
        let mut texts = self.text_index(text_hash);
        if abort() {
            return Inserted::Aborted;
        }
        let same = |slot: &Slot<K, V>| self.text_of(&slot.key) == text;
        match shard.find_mut(hash, same) {
            Some(slot) => {
                entry.id = slot.entry.id;
                entry.inherit_access(&slot.entry);
                let (old, new) = (u64::from(slot.entry.weight), u64::from(entry.weight));
                self.occupancy.weight.fetch_add(new, Ordering::Relaxed);
                self.occupancy.weight.fetch_sub(old, Ordering::Relaxed);
                slot.entry = entry;
                Inserted::Replaced
            }
            None => {
                // Indexed under the shard's lock: an eviction or removal of this key (which
                // takes the same lock first) cannot interleave.
                let link = link(text_hash, hash);
                texts.insert_unique(text_hash, link, |link| hash_of_bits(link[0]));
                drop(texts);
                self.occupancy.add(entry.weight);
                shard.insert_new(hash, Slot { key, entry }, |key| self.hash_key(key));
                Inserted::New
            }
        }
    }

    fn removed(&self, count: usize, weight: u64) {
        self.occupancy.sub(count, weight);
    }

    /// Removes the entry of a key text.
    pub(crate) fn remove_key(&self, text: &str) -> bool {
        let text_hash = self.hash_str(text);
        let candidates = self.hashes_of(text_hash);
        let mut removed = false;
        for hash in candidates {
            let mut shard = self.shards.write(self.shard(hash));
            let same = |slot: &Slot<K, V>| self.text_of(&slot.key) == text;
            if let Some(slot) = shard.remove(hash, same, |key| self.hash_key(key)) {
                self.unindex_text(text_hash, hash);
                self.removed(1, u64::from(slot.entry.weight));
                removed = true;
            }
        }
        removed
    }

    /// Removes every entry whose key text matches.
    pub(crate) fn remove_where(&self, matches: &dyn Fn(&str) -> bool) -> usize {
        let (mut total, mut weight) = (0, 0);
        for shard in 0..self.shards.len() {
            let mut shard = self.shards.write(shard);
            shard.retain(
                |slot| {
                    let text = self.text_of(&slot.key);
                    if !matches(&text) {
                        return true;
                    }
                    self.unindex_text(self.hash_str(&text), self.hash_key(&slot.key));
                    total += 1;
                    weight += u64::from(slot.entry.weight);
                    false
                },
                |key| self.hash_key(key),
            );
        }
        self.removed(total, weight);
        total
    }

    /// Up to `limit` key texts `matches` accepts, appended to `out`: those of entries a read
    /// would return at clock `now` and `clear` epoch `epoch` (fresh: not expired, not cleared,
    /// no tag invalidated since their load).
    pub(crate) fn texts_where(
        &self,
        matches: &dyn Fn(&str) -> bool,
        limit: usize,
        at: (u64, u64),
        out: &mut Vec<String>,
    ) {
        let (now, epoch) = at;
        for shard in 0..self.shards.len() {
            for slot in self.shards.read(shard).iter() {
                if out.len() >= limit {
                    return;
                }
                if !slot.entry.is_fresh(now, epoch) {
                    continue;
                }
                let text = self.text_of(&slot.key);
                if matches(&text) {
                    out.push(text);
                }
            }
        }
    }

    /// What L1 holds for `text`, if a read would return it at clock `now` and epoch `epoch`:
    /// (expiry, weight, tag count).
    pub(crate) fn describe(&self, text: &str, at: (u64, u64)) -> Option<(u64, u32, usize)> {
        let (now, epoch) = at;
        let candidates = self.hashes_of(self.hash_str(text));
        candidates.into_iter().find_map(|hash| {
            self.read_text(hash, text, |entry| {
                entry
                    .is_fresh(now, epoch)
                    .then(|| (entry.expires_at(), entry.weight, entry.tag_count()))
            })
        })
    }

    /// Removes every entry.
    pub(crate) fn clear(&self) {
        self.remove_where(&|_| true);
    }

    /// The policy's clock hand at entry `id` of `hash`.
    pub(crate) fn sweep(&self, hash: u64, id: u32, now: u64, epoch: u64) -> Sweep {
        let shard = self.shards.read(self.shard(hash));
        match shard.find(hash, |slot| slot.entry.id == id) {
            None => Sweep::Gone,
            Some(slot) if slot.entry.is_dead(now, epoch) => Sweep::Dead,
            Some(slot) => {
                let (hit, credit) = slot.entry.sweep();
                Sweep::Live { hit, credit }
            }
        }
    }

    /// Whether entry `id` of `hash` is gone or dead (no side effect).
    pub(crate) fn is_dead_or_gone(&self, hash: u64, id: u32, now: u64, epoch: u64) -> bool {
        self.shards
            .read(self.shard(hash))
            .find(hash, |slot| slot.entry.id == id)
            .is_none_or(|slot| slot.entry.is_dead(now, epoch))
    }

    /// Whether entry `id` of `hash` is still here.
    pub(crate) fn contains(&self, hash: u64, id: u32) -> bool {
        self.shards
            .read(self.shard(hash))
            .find(hash, |slot| slot.entry.id == id)
            .is_some()
    }

    /// Evicts entry `id` of `hash` (for capacity); false if it is gone.
    pub(crate) fn evict(&self, hash: u64, id: u32) -> bool {
        let mut shard = self.shards.write(self.shard(hash));
        let Some(slot) = shard.remove(hash, |slot| slot.entry.id == id, |key| self.hash_key(key))
        else {
            return false;
        };
        // Under the shard's lock, as `insert` indexes it.
        self.unindex_text(self.hash_str(&self.text_of(&slot.key)), hash);
        self.removed(1, u64::from(slot.entry.weight));
        self.counters.evictions.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// What the cache needs from every store, whatever its key and value types.
pub(crate) trait ErasedStore: Send + Sync {
    /// Detaches the key's in-flight load and removes its entry.
    fn invalidate_key(&self, text: &str);
    /// Detaches the in-flight loads of the keys `matches` accepts and removes their entries.
    fn invalidate_matching(&self, matches: &dyn Fn(&str) -> bool);
    /// Detaches the in-flight loads known to carry one of `tags` (their entries are hidden
    /// by the tags' generations).
    fn invalidate_tagged_flights(&self, tags: &[String]);
    /// Detaches every in-flight load and removes every entry.
    fn invalidate_all(&self);
    /// See [`Store::sweep`].
    fn sweep(&self, hash: u64, id: u32, now: u64, epoch: u64) -> Sweep;
    /// See [`Store::is_dead_or_gone`].
    fn is_dead_or_gone(&self, hash: u64, id: u32, now: u64, epoch: u64) -> bool;
    /// See [`Store::contains`].
    fn contains(&self, hash: u64, id: u32) -> bool;
    /// See [`Store::evict`].
    fn evict(&self, hash: u64, id: u32) -> bool;
    /// The function's key prefix (or the keyed API's name).
    fn name(&self) -> &str;
    /// See [`Store::texts_where`].
    fn texts_where(
        &self,
        matches: &dyn Fn(&str) -> bool,
        limit: usize,
        at: (u64, u64),
        out: &mut Vec<String>,
    );
    /// See [`Store::describe`].
    fn describe(&self, text: &str, at: (u64, u64)) -> Option<(u64, u32, usize)>;
    /// The name of the store's value type.
    fn value_type(&self) -> &'static str;
    /// The store's value type.
    fn value_type_id(&self) -> std::any::TypeId;
    /// A clone of the value of `text`, if a read would return it at `at` (clock, epoch).
    fn fresh_value(&self, text: &str, at: (u64, u64)) -> Option<Box<dyn Any>>;
    /// The store's index in its cache.
    fn store_index(&self) -> u32;
    /// This store's counters.
    fn counters(&self) -> &Counters;
}

impl<K: Send + Sync + 'static, V: Clone + Send + Sync + 'static> ErasedStore for Store<K, V> {
    fn invalidate_key(&self, text: &str) {
        self.flights.detach_key(text);
        self.remove_key(text);
    }

    fn invalidate_matching(&self, matches: &dyn Fn(&str) -> bool) {
        self.flights.detach_matching(matches);
        self.remove_where(matches);
    }

    fn invalidate_tagged_flights(&self, tags: &[String]) {
        self.flights.detach_tagged(tags);
    }

    fn invalidate_all(&self) {
        self.flights.detach_all();
        self.clear();
    }

    fn sweep(&self, hash: u64, id: u32, now: u64, epoch: u64) -> Sweep {
        Store::sweep(self, hash, id, now, epoch)
    }

    fn contains(&self, hash: u64, id: u32) -> bool {
        Store::contains(self, hash, id)
    }

    fn is_dead_or_gone(&self, hash: u64, id: u32, now: u64, epoch: u64) -> bool {
        Store::is_dead_or_gone(self, hash, id, now, epoch)
    }

    fn evict(&self, hash: u64, id: u32) -> bool {
        Store::evict(self, hash, id)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn texts_where(
        &self,
        matches: &dyn Fn(&str) -> bool,
        limit: usize,
        at: (u64, u64),
        out: &mut Vec<String>,
    ) {
        Store::texts_where(self, matches, limit, at, out);
    }

    fn describe(&self, text: &str, at: (u64, u64)) -> Option<(u64, u32, usize)> {
        Store::describe(self, text, at)
    }

    fn value_type(&self) -> &'static str {
        std::any::type_name::<V>()
    }

    fn value_type_id(&self) -> std::any::TypeId {
        std::any::TypeId::of::<V>()
    }

    fn fresh_value(&self, text: &str, at: (u64, u64)) -> Option<Box<dyn Any>> {
        let (now, epoch) = at;
        self.read_by_text(text, |entry| {
            entry
                .is_fresh(now, epoch)
                .then(|| Box::new(entry.value.clone()) as Box<dyn Any>)
        })
    }

    fn store_index(&self) -> u32 {
        self.index()
    }

    fn counters(&self) -> &Counters {
        &self.counters
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::entry::{Deadlines, Stamps};

    fn text_store() -> Store<Box<str>, u64> {
        let fns = ValueFns {
            serde: None,
            weigher: None,
        };
        let key_fns: KeyFns<Box<str>> = KeyFns {
            text: Box::new(|key| String::from(&**key)),
            hash: Box::new(|key, state| (**key).hash(state)),
        };
        Store::new(0, "test", Arc::default(), fns, key_fns)
    }

    fn entry(value: u64) -> Entry<u64> {
        let deadlines = Deadlines {
            expires_at: u64::MAX,
            refresh_at: None,
            stale_until: u64::MAX,
        };
        let stamps = Stamps {
            epoch: 0,
            tags: Box::new([]),
        };
        Entry::new(value, &deadlines, stamps, 0, 8)
    }

    #[test]
    fn a_removal_by_text_during_an_inserts_abort_check_removes_the_entry() {
        // The insert decides not to abort; meanwhile, before its entry is indexed, a removal
        // of the same text runs on another thread. Either the removal waits and removes the
        // entry, or the insert sees it: the entry must not survive the removal.
        let store = text_store();
        let hash = store.hash_str("k");
        std::thread::scope(|scope| {
            let inserted = store.insert(hash, "k".into(), "k", entry(1), || {
                let removal = scope.spawn(|| store.remove_key("k"));
                // Give the removal time to finish, if it can before the insert does.
                let deadline = std::time::Instant::now() + Duration::from_millis(200);
                while !removal.is_finished() && std::time::Instant::now() < deadline {
                    std::thread::yield_now();
                }
                false
            });
            assert!(matches!(inserted, Inserted::New));
        });
        let found = store.read_text(hash, "k", |entry| Some(entry.value));
        assert_eq!(
            found, None,
            "the removal missed an entry inserted as it ran"
        );
    }

    #[test]
    fn a_key_hash_is_determined_by_its_bits_and_spreads_them_over_a_large_shard() {
        // Keys of one shard share the bits that chose it (16-19 of the 32): their bucket bits
        // must still take every value, or a shard past 65,536 buckets would crowd.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut buckets = std::collections::HashSet::new();
        for _ in 0..(1 << 18) {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let bits = ((state >> 32) as u32 & !(0xF << 16)) | (0x5 << 16);
            let hash = hash_of_bits(bits);
            assert_eq!(hash_bits(hash), bits);
            assert_eq!(key_hash(hash), hash);
            buckets.insert(hash & ((1 << 18) - 1));
        }
        // 2^18 keys thrown into 2^18 buckets fill about 63% of them when spread well.
        assert!(buckets.len() > 150_000, "{} buckets in use", buckets.len());
    }
}
