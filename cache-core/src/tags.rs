//! Tag generations: O(1) tag invalidation.
//!
//! Every tag has a generation counter. An entry records the generation of each of its tags when
//! its load started; `invalidate_tags` bumps the counters, and a read that sees a newer
//! generation treats the entry as absent. The cost of invalidating a tag is one increment,
//! whatever the number of entries that carry it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

/// One tag of an entry: the tag's live counter and the generation the entry saw.
pub(crate) struct TagStamp {
    counter: Arc<AtomicU64>,
    seen: u64,
}

impl TagStamp {
    /// Whether the tag was invalidated since the stamp was taken.
    #[inline]
    pub(crate) fn is_current(&self) -> bool {
        self.counter.load(Ordering::Acquire) == self.seen
    }
}

/// Whether every stamp is still current.
#[inline]
pub(crate) fn all_current(stamps: &[TagStamp]) -> bool {
    stamps.iter().all(TagStamp::is_current)
}

/// The per-cache table of tag counters.
///
/// Counters no entry refers to are dropped once the table doubles in size, so per-id tags
/// (`"user:{id}"`) do not grow it without bound. Dropping such a counter is safe: an entry or an
/// in-flight load that could be affected holds a reference and keeps it alive.
#[derive(Default)]
pub(crate) struct TagRegistry {
    counters: RwLock<HashMap<Box<str>, Arc<AtomicU64>>>,
    prune_at: AtomicU64,
}

const MIN_PRUNE_SIZE: u64 = 1024;

impl TagRegistry {
    /// Stamps for `tags` as of now.
    pub(crate) fn stamp(&self, tags: &[String]) -> Box<[TagStamp]> {
        tags.iter()
            .map(|tag| {
                let counter = self.counter(tag);
                let seen = counter.load(Ordering::Acquire);
                TagStamp { counter, seen }
            })
            .collect()
    }

    /// Bumps the generation of each tag: every entry stamped earlier becomes invalid.
    pub(crate) fn invalidate(&self, tags: &[&str]) {
        let counters = self.counters.read();
        for tag in tags {
            if let Some(counter) = counters.get(*tag) {
                counter.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    fn counter(&self, tag: &str) -> Arc<AtomicU64> {
        if let Some(counter) = self.counters.read().get(tag) {
            return Arc::clone(counter);
        }
        let mut counters = self.counters.write();
        let counter = Arc::clone(counters.entry(tag.into()).or_default());
        let len = counters.len() as u64;
        if len >= self.prune_at.load(Ordering::Relaxed).max(MIN_PRUNE_SIZE) {
            counters.retain(|_, c| Arc::strong_count(c) > 1);
            self.prune_at
                .store(counters.len() as u64 * 2, Ordering::Relaxed);
        }
        counter
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.counters.read().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidation_bumps_only_named_tags() {
        let registry = TagRegistry::default();
        let stamps = registry.stamp(&["a".into(), "b".into()]);
        let other = registry.stamp(&["c".into()]);
        assert!(all_current(&stamps));
        registry.invalidate(&["b"]);
        assert!(!all_current(&stamps));
        assert!(all_current(&other));
    }

    #[test]
    fn unreferenced_counters_are_pruned() {
        let registry = TagRegistry::default();
        let kept = registry.stamp(&["kept".into()]);
        for i in 0..5000 {
            drop(registry.stamp(&[format!("t{i}")]));
        }
        assert!(registry.len() < 2100, "{}", registry.len());
        registry.invalidate(&["kept"]);
        assert!(!all_current(&kept));
    }
}
