//! Belady's optimum (OPT): on a miss with a full cache, evict the key whose next use is
//! farthest in the future (or do not keep the new key, if it is that one). No real cache can do
//! better; it is the ceiling of the table.

use std::collections::{BTreeSet, HashMap};

/// Hit ratio of OPT with `capacity` entries on `keys`.
pub fn hit_ratio(keys: &[u64], capacity: usize) -> f64 {
    // next_use[i]: the index of the next access to keys[i] (usize::MAX: never).
    let mut next_use = vec![usize::MAX; keys.len()];
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for (i, &key) in keys.iter().enumerate().rev() {
        if let Some(next) = seen.insert(key, i) {
            next_use[i] = next;
        }
    }
    let mut resident: HashMap<u64, usize> = HashMap::with_capacity(capacity + 1);
    let mut by_next_use: BTreeSet<(usize, u64)> = BTreeSet::new();
    let mut hits = 0usize;
    for (i, &key) in keys.iter().enumerate() {
        if let Some(next) = resident.get_mut(&key) {
            hits += 1;
            by_next_use.remove(&(*next, key));
            *next = next_use[i];
            by_next_use.insert((next_use[i], key));
            continue;
        }
        if resident.len() >= capacity {
            match by_next_use.last() {
                // The new key is needed later than every resident one: do not keep it.
                Some(&(farthest, _)) if farthest <= next_use[i] => continue,
                Some(&(farthest, victim)) => {
                    by_next_use.remove(&(farthest, victim));
                    resident.remove(&victim);
                }
                None => continue,
            }
        }
        resident.insert(key, next_use[i]);
        by_next_use.insert((next_use[i], key));
    }
    hits as f64 / keys.len() as f64
}
