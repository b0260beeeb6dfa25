//! One shard's entries: dense in a vector, found through an index of 4-byte positions.
//!
//! A hash table of whole entries leaves its empty buckets entry-sized: hash tables grow by
//! doubling, so between 44% and 87% of the buckets are in use and an entry cost up to twice its
//! size (`BENCHMARKS.md`, `mem_per_entry`). Here only the index has empty buckets (4 bytes
//! each), and the entries grow by a quarter at a time. A removal moves the last entry into the
//! hole, so the vector stays dense.

use hashbrown::HashTable;

use crate::entry::Entry;

/// A key and its entry.
pub(super) struct Slot<K, V> {
    /// The typed key (compared on a hit; rendered to text when an invalidation names texts).
    pub(super) key: K,
    pub(super) entry: Entry<V>,
}

/// A shard's entries and their index. The index is keyed by each entry's hash, which is not
/// stored: `rehash` recomputes it from the key when the index grows or an entry moves.
pub(super) struct Table<K, V> {
    index: HashTable<u32>,
    slots: Vec<Slot<K, V>>,
}

impl<K, V> Table<K, V> {
    /// An empty table (allocates nothing).
    pub(super) fn new() -> Self {
        Self {
            index: HashTable::new(),
            slots: Vec::new(),
        }
    }

    /// The entry of `hash` that `eq` accepts.
    #[inline]
    pub(super) fn find(&self, hash: u64, eq: impl Fn(&Slot<K, V>) -> bool) -> Option<&Slot<K, V>> {
        let slots = &self.slots;
        let at = self.index.find(hash, |&at| eq(&slots[at as usize]))?;
        Some(&slots[*at as usize])
    }

    /// The entry of `hash` that `eq` accepts, to change.
    pub(super) fn find_mut(
        &mut self,
        hash: u64,
        eq: impl Fn(&Slot<K, V>) -> bool,
    ) -> Option<&mut Slot<K, V>> {
        let Self { index, slots } = self;
        let at = *index.find(hash, |&at| eq(&slots[at as usize]))?;
        Some(&mut slots[at as usize])
    }

    /// Adds an entry whose key is not in the table.
    pub(super) fn insert_new(&mut self, hash: u64, slot: Slot<K, V>, rehash: impl Fn(&K) -> u64) {
        let Self { index, slots } = self;
        if slots.len() == slots.capacity() {
            slots.reserve_exact((slots.len() / 4).max(8));
        }
        let at = u32::try_from(slots.len()).expect("fewer than 2^32 entries in a shard");
        slots.push(slot);
        index.insert_unique(hash, at, |&at| rehash(&slots[at as usize].key));
    }

    /// Removes the entry of `hash` that `eq` accepts.
    pub(super) fn remove(
        &mut self,
        hash: u64,
        eq: impl Fn(&Slot<K, V>) -> bool,
        rehash: impl Fn(&K) -> u64,
    ) -> Option<Slot<K, V>> {
        let Self { index, slots } = self;
        let (at, _) = index
            .find_entry(hash, |&at| eq(&slots[at as usize]))
            .ok()?
            .remove();
        let last = slots.len() - 1;
        let removed = slots.swap_remove(at as usize);
        if at as usize != last {
            // The last entry moved into the hole: point its index entry there.
            let moved = rehash(&slots[at as usize].key);
            if let Some(position) = index.find_mut(moved, |&other| other as usize == last) {
                *position = at;
            }
        }
        if slots.is_empty() {
            self.release();
        }
        Some(removed)
    }

    /// Keeps the entries `keep` accepts (it sees each once).
    pub(super) fn retain(
        &mut self,
        keep: impl FnMut(&Slot<K, V>) -> bool,
        rehash: impl Fn(&K) -> u64,
    ) {
        let before = self.slots.len();
        self.slots.retain(keep);
        if self.slots.len() == before {
            return;
        }
        if self.slots.is_empty() {
            self.release();
            return;
        }
        let Self { index, slots } = self;
        index.clear();
        for (at, slot) in slots.iter().enumerate() {
            index.insert_unique(rehash(&slot.key), at as u32, |&at| {
                rehash(&slots[at as usize].key)
            });
        }
    }

    /// Every entry.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, Slot<K, V>> {
        self.slots.iter()
    }

    /// Gives the memory of an empty table back.
    fn release(&mut self) {
        self.slots = Vec::new();
        self.index = HashTable::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Deadlines, Stamps};

    fn slot(key: u64) -> Slot<u64, u64> {
        let deadlines = Deadlines {
            expires_at: 1,
            refresh_at: None,
            stale_until: 1,
        };
        let stamps = Stamps {
            epoch: 0,
            tags: Box::new([]),
        };
        Slot {
            key,
            entry: Entry::new(key * 10, &deadlines, stamps, 0, 8),
        }
    }

    /// A poor hash on purpose, so that keys share buckets.
    fn hash(key: &u64) -> u64 {
        (key % 7).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn value(table: &Table<u64, u64>, key: u64) -> Option<u64> {
        table
            .find(hash(&key), |slot| slot.key == key)
            .map(|slot| slot.entry.value)
    }

    #[test]
    fn removals_keep_every_other_entry_reachable() {
        let mut table = Table::new();
        for key in 0..100 {
            table.insert_new(hash(&key), slot(key), hash);
        }
        for key in (0..100).step_by(3) {
            let removed = table.remove(hash(&key), |slot| slot.key == key, hash);
            assert_eq!(removed.map(|slot| slot.key), Some(key));
            assert!(
                table
                    .remove(hash(&key), |slot| slot.key == key, hash)
                    .is_none()
            );
        }
        for key in 0..100 {
            let expected = (key % 3 != 0).then_some(key * 10);
            assert_eq!(value(&table, key), expected, "key {key}");
        }
        assert_eq!(table.iter().count(), 66);
    }

    #[test]
    fn retain_rebuilds_the_index_and_an_empty_table_frees_its_memory() {
        let mut table = Table::new();
        for key in 0..50 {
            table.insert_new(hash(&key), slot(key), hash);
        }
        table.retain(|slot| slot.key % 2 == 0, hash);
        assert_eq!(value(&table, 4), Some(40));
        assert_eq!(value(&table, 5), None);
        if let Some(slot) = table.find_mut(hash(&4), |slot| slot.key == 4) {
            slot.entry.value = 41;
        }
        assert_eq!(value(&table, 4), Some(41));
        table.retain(|_| false, hash);
        assert_eq!(table.slots.capacity(), 0);
        assert_eq!(table.index.capacity(), 0);
    }
}
