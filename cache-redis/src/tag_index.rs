//! Which keys this process read from Redis with which tags.
//!
//! `cache_core`'s engine stamps an L1 entry with the tags the *caller* names. An entry filled
//! by `Cache::get` after an L2 hit names none (`L2Entry` carries no tags), so a tag
//! invalidation alone would not drop it from L1. This index remembers the tags Redis returned
//! with each value read, so a tag invalidation (this process's or another's) also drops
//! those keys by name. It is bounded: past [`LIMIT`] keys it stops recording, and the next
//! tag invalidation clears the whole L1 instead (always safe).

use std::collections::{HashMap, HashSet};

use cache_core::{Invalidation, InvalidationSink};
use parking_lot::Mutex;

/// Most (tag, key) pairs remembered.
const LIMIT: usize = 100_000;

/// What a tag invalidation must drop from L1, besides the engine's own tag check.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Affected {
    /// These keys.
    Keys(Vec<String>),
    /// Everything (the index overflowed).
    Everything,
}

#[derive(Default)]
struct State {
    by_tag: HashMap<String, HashSet<String>>,
    pairs: usize,
    overflowed: bool,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct TagIndex {
    state: Mutex<State>,
}

impl TagIndex {
    /// Remembers that `key` was read with `tags`.
    pub(crate) fn record(&self, key: &str, tags: &[String]) {
        let mut state = self.state.lock();
        if state.overflowed {
            return;
        }
        if state.pairs + tags.len() > LIMIT {
            state.by_tag.clear();
            state.pairs = 0;
            state.overflowed = true;
            return;
        }
        for tag in tags {
            if state
                .by_tag
                .entry(tag.clone())
                .or_default()
                .insert(key.to_owned())
            {
                state.pairs += 1;
            }
        }
    }

    /// What invalidating `tags` must drop; forgets it.
    pub(crate) fn take<S: AsRef<str>>(&self, tags: &[S]) -> Affected {
        let mut state = self.state.lock();
        if state.overflowed {
            *state = State::default();
            return Affected::Everything;
        }
        let mut keys = HashSet::new();
        for tag in tags {
            if let Some(tagged) = state.by_tag.remove(tag.as_ref()) {
                state.pairs -= tagged.len();
                keys.extend(tagged);
            }
        }
        Affected::Keys(keys.into_iter().collect())
    }

    /// Drops from L1 the keys read with any of `tags` (everything if the index overflowed).
    pub(crate) fn drop_tagged<S: AsRef<str>>(&self, tags: &[S], sink: &dyn InvalidationSink) {
        match self.take(tags) {
            Affected::Keys(keys) if keys.is_empty() => {}
            Affected::Keys(keys) => sink.invalidate(Invalidation::Keys(keys)),
            Affected::Everything => sink.invalidate(Invalidation::Clear),
        }
    }

    /// Forgets everything (L1 was cleared).
    pub(crate) fn reset(&self) {
        *self.state.lock() = State::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_takes_and_overflows() {
        let index = TagIndex::default();
        index.record("a", &["t1".into(), "t2".into()]);
        index.record("b", &["t2".into()]);
        let Affected::Keys(mut keys) = index.take(&["t2"]) else {
            panic!()
        };
        keys.sort();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(index.take(&["t2"]), Affected::Keys(vec![]));
        assert_eq!(index.take(&["t1"]), Affected::Keys(vec!["a".into()]));

        for i in 0..=LIMIT {
            index.record(&i.to_string(), &["t".into()]);
        }
        assert_eq!(index.take(&["other"]), Affected::Everything);
        assert_eq!(index.take(&["other"]), Affected::Keys(vec![]));
    }
}
