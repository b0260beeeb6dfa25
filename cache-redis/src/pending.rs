//! Durable invalidations: an invalidation (or the removal that must follow a failed write)
//! that Redis did not confirm waits here, deduplicated, and is applied when Redis answers
//! again, before any read from Redis is trusted (`redis_l2.rs`) and on every backplane tick.
//!
//! Invalidations only remove or hide entries, so their order does not matter and a `clear`
//! covers everything queued before it. The queue is bounded: past `max` items it collapses to
//! one namespace flush, an O(1) generation bump (`scripts.rs`, `FLUSH`) that hides every
//! entry written before it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use cache_core::l2::Invalidation;
use parking_lot::Mutex;

/// The queue of unconfirmed invalidations of one attached `RedisL2`.
pub(crate) struct Pending {
    queue: Mutex<Queue>,
    /// Items queued (keys, patterns, tags, plus one for a clear or flush): read without the
    /// lock on every Redis read.
    len: AtomicUsize,
    max: usize,
}

/// Each item remembers the sequence number it was last queued with: replaying removes it
/// only if it was not queued again meanwhile.
#[derive(Default)]
struct Queue {
    sequence: u64,
    keys: HashMap<String, u64>,
    patterns: HashMap<String, u64>,
    tags: HashMap<String, u64>,
    clear: Option<u64>,
    flush: Option<u64>,
}

impl Queue {
    fn len(&self) -> usize {
        self.keys.len()
            + self.patterns.len()
            + self.tags.len()
            + usize::from(self.clear.is_some())
            + usize::from(self.flush.is_some())
    }
}

/// What to replay, oldest state first: everything a flush or clear covers is left out.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Batch {
    pub(crate) flush: Option<u64>,
    pub(crate) clear: Option<u64>,
    pub(crate) tags: Vec<(String, u64)>,
    pub(crate) patterns: Vec<(String, u64)>,
    pub(crate) keys: Vec<(String, u64)>,
}

/// An item of a [`Batch`] that Redis confirmed.
pub(crate) enum Done<'a> {
    Flush(u64),
    Clear(u64),
    Tags(&'a [(String, u64)]),
    Patterns(&'a [(String, u64)]),
    Keys(&'a [(String, u64)]),
}

impl Pending {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            queue: Mutex::default(),
            len: AtomicUsize::new(0),
            max,
        }
    }

    /// Whether nothing waits (one relaxed load).
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    /// How many items wait.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Queues an invalidation Redis did not confirm.
    pub(crate) fn push(&self, invalidation: &Invalidation) {
        let mut queue = self.queue.lock();
        queue.sequence += 1;
        let sequence = queue.sequence;
        if queue.flush.is_some() {
            // A flush covers everything; a later flush covers this one too.
            queue.flush = Some(sequence);
        } else {
            match invalidation {
                Invalidation::Keys(keys) => {
                    for key in keys {
                        queue.keys.insert(key.clone(), sequence);
                    }
                }
                Invalidation::Pattern(pattern) => {
                    queue.patterns.insert(pattern.clone(), sequence);
                }
                Invalidation::Tags(tags) => {
                    for tag in tags {
                        queue.tags.insert(tag.clone(), sequence);
                    }
                }
                Invalidation::Clear => queue.clear = Some(sequence),
            }
            if queue.len() > self.max {
                tracing::warn!(
                    max = self.max,
                    "too many invalidations wait for Redis: they become one namespace flush"
                );
                let flush = Queue {
                    sequence,
                    flush: Some(sequence),
                    ..Queue::default()
                };
                *queue = flush;
            }
        }
        self.len.store(queue.len(), Ordering::Release);
    }

    /// Queues a namespace flush, which covers everything (what the master may have lost in a
    /// failover when too much was invalidated lately to apply again one by one).
    pub(crate) fn push_flush(&self) {
        let mut queue = self.queue.lock();
        queue.sequence += 1;
        let sequence = queue.sequence;
        *queue = Queue {
            sequence,
            flush: Some(sequence),
            ..Queue::default()
        };
        self.len.store(queue.len(), Ordering::Release);
    }

    /// The sequence number reached so far: taken before a write starts, for [`written`](Self::written).
    pub(crate) fn mark(&self) -> u64 {
        if self.is_empty() {
            return 0;
        }
        self.queue.lock().sequence
    }

    /// A write of `key` that started at `mark` succeeded: a removal of it queued before the
    /// write started is obsolete (the value there now is newer than what it was meant to
    /// remove). One queued while the write ran stays.
    pub(crate) fn written(&self, key: &str, mark: u64) {
        if self.is_empty() {
            return;
        }
        let mut queue = self.queue.lock();
        if queue
            .keys
            .get(key)
            .is_some_and(|sequence| *sequence <= mark)
        {
            queue.keys.remove(key);
        }
        self.len.store(queue.len(), Ordering::Release);
    }

    /// What waits now.
    pub(crate) fn batch(&self) -> Batch {
        let queue = self.queue.lock();
        if let Some(flush) = queue.flush {
            return Batch {
                flush: Some(flush),
                ..Batch::default()
            };
        }
        let items = |map: &HashMap<String, u64>| {
            let mut items: Vec<(String, u64)> =
                map.iter().map(|(item, seq)| (item.clone(), *seq)).collect();
            items.sort();
            items
        };
        Batch {
            flush: None,
            clear: queue.clear,
            tags: items(&queue.tags),
            patterns: items(&queue.patterns),
            keys: items(&queue.keys),
        }
    }

    /// Removes what Redis confirmed, unless it was queued again since the batch was taken. A
    /// confirmed flush or clear also removes every item queued before it.
    pub(crate) fn done(&self, done: Done<'_>) {
        let mut queue = self.queue.lock();
        let remove = |map: &mut HashMap<String, u64>, items: &[(String, u64)]| {
            for (item, sequence) in items {
                if map.get(item) == Some(sequence) {
                    map.remove(item);
                }
            }
        };
        let covers = |queue: &mut Queue, upto: u64| {
            queue.keys.retain(|_, sequence| *sequence > upto);
            queue.patterns.retain(|_, sequence| *sequence > upto);
            queue.tags.retain(|_, sequence| *sequence > upto);
            if queue.clear.is_some_and(|sequence| sequence <= upto) {
                queue.clear = None;
            }
        };
        match done {
            Done::Flush(sequence) => {
                if queue.flush == Some(sequence) {
                    queue.flush = None;
                }
                covers(&mut queue, sequence);
            }
            Done::Clear(sequence) => covers(&mut queue, sequence),
            Done::Tags(items) => remove(&mut queue.tags, items),
            Done::Patterns(items) => remove(&mut queue.patterns, items),
            Done::Keys(items) => remove(&mut queue.keys, items),
        }
        self.len.store(queue.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(keys: &[&str]) -> Invalidation {
        Invalidation::Keys(keys.iter().map(|k| (*k).to_owned()).collect())
    }

    #[test]
    fn deduplicates_and_replays_only_what_was_confirmed() {
        let pending = Pending::new(100);
        assert!(pending.is_empty());
        pending.push(&keys(&["a", "b"]));
        pending.push(&keys(&["a"]));
        pending.push(&Invalidation::Tags(vec!["t".into()]));
        pending.push(&Invalidation::Pattern("u:*".into()));
        assert_eq!(pending.len(), 4);
        let batch = pending.batch();
        assert_eq!(batch.keys, vec![("a".to_owned(), 2), ("b".to_owned(), 1)]);
        // "a" is queued again while the batch replays: it stays.
        pending.push(&keys(&["a"]));
        pending.done(Done::Keys(&batch.keys));
        pending.done(Done::Tags(&batch.tags));
        assert_eq!(pending.len(), 2, "a again, and the pattern");
        pending.done(Done::Patterns(&batch.patterns));
        assert_eq!(pending.batch().keys, vec![("a".to_owned(), 5)]);
    }

    #[test]
    fn a_write_makes_an_earlier_removal_obsolete() {
        let pending = Pending::new(100);
        pending.push(&keys(&["a", "b"]));
        let mark = pending.mark();
        pending.push(&keys(&["b"]));
        pending.written("a", mark);
        pending.written("b", mark);
        assert_eq!(pending.batch().keys, vec![("b".to_owned(), 2)]);
    }

    #[test]
    fn a_clear_covers_what_came_before() {
        let pending = Pending::new(100);
        pending.push(&keys(&["a"]));
        pending.push(&Invalidation::Clear);
        pending.push(&keys(&["b"]));
        let batch = pending.batch();
        pending.done(Done::Clear(batch.clear.unwrap()));
        assert_eq!(pending.batch().keys, vec![("b".to_owned(), 3)]);
    }

    #[test]
    fn overflow_becomes_one_flush() {
        let pending = Pending::new(3);
        for i in 0..10 {
            pending.push(&keys(&[&format!("k{i}")]));
        }
        assert_eq!(pending.len(), 1);
        let batch = pending.batch();
        assert!(batch.flush.is_some());
        assert!(batch.keys.is_empty());
        pending.push(&keys(&["late"]));
        // The flush replayed was taken before "late": a newer flush still waits.
        pending.done(Done::Flush(batch.flush.unwrap()));
        assert_eq!(pending.len(), 1);
        let again = pending.batch();
        pending.done(Done::Flush(again.flush.unwrap()));
        assert!(pending.is_empty());
    }
}
