//! The L2 stage: reading and decoding, encoding and writing through, and fanning
//! invalidations out to the L2 (which tells every other process). Every failure is counted in
//! `Stats::l2_errors`, logged, and read as "nothing there": it never reaches the caller. An
//! operation the L2 skipped (its circuit breaker is open, or it is replaying queued
//! invalidations) is counted in `Stats::l2_skipped`, not logged (the L2 logs its own
//! transitions).

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::codec::Codec;
use crate::l2::{
    Invalidation, L2, L2Entry, L2Error, L2ErrorKind, L2Read, L2Status, L2Write, ReadMark,
    StoredValue, WriteCondition,
};
use crate::options::Level;
use crate::stats::{Counters, bump};
use crate::store::{SerdeFns, Store};

use super::ResolvedOptions;
use super::mode::CallMode;

/// A value decoded from L2.
pub(crate) struct L2Hit<V> {
    pub(crate) value: V,
    pub(crate) ttl: Duration,
    pub(crate) tags: Vec<String>,
}

/// What a read of L2 found: a value, the mark its load's write-through carries back, or
/// another process's lease on the key (with a stale value to serve meanwhile, if any).
pub(crate) enum L2Lookup<V> {
    Hit(L2Hit<V>),
    Miss(ReadMark),
    Leased {
        mark: ReadMark,
        wait_at_most: Duration,
        stale: Option<L2Hit<V>>,
    },
}

/// Why L2 is read: for the keyed `get` (no load follows), or before a load (which takes the
/// key's lease in the same round trip, [`L2::read_for_load`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadFor {
    Get,
    Load,
}

/// The L2 stage's state: the attached L2, if any, and the codec of its values.
pub(crate) struct L2Access {
    l2: Option<Arc<dyn L2>>,
    codec: Codec,
    /// The cache's label in metrics and logs.
    label: String,
    /// Whether logs may show full keys (they can carry personal data); otherwise they show
    /// the function (key prefix) only.
    log_keys: bool,
}

/// When an L2 operation started (for its duration in metrics).
struct Timing(#[cfg_attr(not(feature = "metrics"), allow(dead_code))] std::time::Instant);

impl Timing {
    fn start() -> Self {
        Self(std::time::Instant::now())
    }
}

impl L2Access {
    pub(crate) fn new(
        l2: Option<Arc<dyn L2>>,
        codec: Codec,
        label: String,
        log_keys: bool,
    ) -> Self {
        Self {
            l2,
            codec,
            label,
            log_keys,
        }
    }

    /// A key as logs may show it: `None` (the field is left out) unless full keys are allowed.
    fn loggable<'a>(&self, key: &'a str) -> Option<&'a str> {
        self.log_keys.then_some(key)
    }

    /// A debug span around one L2 operation.
    fn span(&self, op: &'static str, function: &str) -> tracing::Span {
        tracing::debug_span!("cache.l2", cache = %self.label, op, function)
    }

    /// Records an operation's duration and outcome (feature `metrics`); a skipped operation
    /// took no time in L2 and is not recorded.
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn observe<T>(&self, op: &'static str, timing: Timing, result: &Result<T, L2Error>) {
        #[cfg(feature = "metrics")]
        if !result.as_ref().is_err_and(is_skip) {
            super::metrics::record_l2(&self.label, op, timing.0.elapsed(), result.is_err());
        }
    }

    pub(crate) fn is_configured(&self) -> bool {
        self.l2.is_some()
    }

    /// The L2 and the store's serde functions, when this entry goes to L2.
    fn for_entry<'a, K, V>(
        &'a self,
        store: &'a Store<K, V>,
        options: &ResolvedOptions,
    ) -> Option<(&'a dyn L2, &'a SerdeFns<V>)> {
        match (&self.l2, &store.serde, options.level) {
            (Some(l2), Some(serde), Level::Both) => Some((l2.as_ref(), serde)),
            _ => None,
        }
    }

    /// Reads and decodes a key (for a load, also taking its lease: [`ReadFor::Load`]).
    /// Failures are counted and read as a miss; a value that cannot be decoded is also
    /// removed from L2.
    pub(crate) async fn read<M: CallMode, K, V>(
        &self,
        store: &Store<K, V>,
        key: &str,
        options: &ResolvedOptions,
        purpose: ReadFor,
    ) -> L2Lookup<V> {
        let Some((l2, serde)) = self.for_entry(store, options) else {
            return L2Lookup::Miss(ReadMark::default());
        };
        let timing = Timing::start();
        let read = match purpose {
            ReadFor::Get => l2.read(key, &options.tags),
            ReadFor::Load => l2.read_for_load(key, &options.tags),
        };
        let read = M::l2(read).instrument(self.span("get", store.name())).await;
        self.observe("get", timing, &read);
        self.lookup::<M, K, V>(store, serde, key, read).await
    }

    /// Reads and decodes several keys in one call of the L2 (for a load, also taking the lease
    /// of each key found nowhere): one lookup per key, in order, as [`read`](Self::read) reads
    /// one. A failure of the whole batch is counted once and read as a miss of every key.
    pub(crate) async fn read_many<M: CallMode, K, V>(
        &self,
        store: &Store<K, V>,
        keys: &[&str],
        options: &ResolvedOptions,
        purpose: ReadFor,
    ) -> Vec<L2Lookup<V>> {
        let misses = || {
            keys.iter()
                .map(|_| L2Lookup::Miss(ReadMark::default()))
                .collect()
        };
        let Some((l2, serde)) = self.for_entry(store, options) else {
            return misses();
        };
        if keys.is_empty() {
            return Vec::new();
        }
        let timing = Timing::start();
        let read = match purpose {
            ReadFor::Get => l2.read_many(keys, &options.tags),
            ReadFor::Load => l2.read_many_for_load(keys, &options.tags),
        };
        let read = M::l2(read).instrument(self.span("get", store.name())).await;
        let read = read.and_then(|reads| match reads.len() == keys.len() {
            true => Ok(reads),
            false => Err(L2Error::new(
                L2ErrorKind::Protocol,
                format!(
                    "{} answers to a batch read of {} keys",
                    reads.len(),
                    keys.len()
                ),
            )),
        });
        self.observe("get", timing, &read);
        let reads = match read {
            Ok(reads) => reads,
            Err(error) => {
                if !count_failure(&store.counters, &error) {
                    tracing::warn!(function = store.name(), keys = keys.len(), %error, "L2 batch read failed; falling back to the loader");
                }
                return misses();
            }
        };
        let mut lookups = Vec::with_capacity(keys.len());
        for (key, read) in keys.iter().zip(reads) {
            lookups.push(self.lookup::<M, K, V>(store, serde, key, read).await);
        }
        lookups
    }

    /// What one key's read found, decoded. A failure is counted and read as a miss.
    async fn lookup<M: CallMode, K, V>(
        &self,
        store: &Store<K, V>,
        serde: &SerdeFns<V>,
        key: &str,
        read: Result<L2Read, L2Error>,
    ) -> L2Lookup<V> {
        let miss = || L2Lookup::Miss(ReadMark::default());
        match read {
            Ok(L2Read::Found(entry)) => {
                match self.decode::<M, K, V>(store, serde, key, entry).await {
                    Some(hit) => L2Lookup::Hit(hit),
                    None => miss(),
                }
            }
            Ok(L2Read::Missing(mark)) => L2Lookup::Miss(mark),
            Ok(L2Read::Leased {
                mark,
                wait_at_most,
                stale,
            }) => {
                let stale = match stale {
                    Some(entry) => self.decode::<M, K, V>(store, serde, key, entry).await,
                    None => None,
                };
                L2Lookup::Leased {
                    mark,
                    wait_at_most,
                    stale,
                }
            }
            Err(error) => {
                if !count_failure(&store.counters, &error) {
                    tracing::warn!(function = store.name(), key = self.loggable(key), %error, "L2 read failed; falling back to the loader");
                }
                miss()
            }
        }
    }

    /// Decodes an entry read from L2; `None` when it holds another type, or cannot be decoded
    /// (counted, logged and removed from L2).
    async fn decode<M: CallMode, K, V>(
        &self,
        store: &Store<K, V>,
        serde: &SerdeFns<V>,
        key: &str,
        entry: L2Entry,
    ) -> Option<L2Hit<V>> {
        match (serde.decode)(&self.codec, &entry.value) {
            Ok(Some(value)) => Some(L2Hit {
                value,
                ttl: entry.ttl,
                tags: entry.tags,
            }),
            Ok(None) => None,
            Err(error) => {
                bump(&store.counters.l2_errors);
                tracing::warn!(function = store.name(), key = self.loggable(key), %error, "undecodable L2 value removed");
                let l2 = self.l2.as_deref()?;
                if let Err(error) = M::l2(l2.invalidate(&[key])).await {
                    tracing::warn!(function = store.name(), key = self.loggable(key), %error, "could not remove undecodable L2 value");
                }
                None
            }
        }
    }

    /// Takes the key's lease for a refresh-ahead reload: `Some(mark)` to reload with (holding
    /// the lease, or the default mark when this L2 does not lease or failed: every process
    /// then refreshes), `None` when another process is refreshing the key.
    pub(crate) async fn take_lease<M: CallMode, K, V>(
        &self,
        store: &Store<K, V>,
        key: &str,
        options: &ResolvedOptions,
    ) -> Option<ReadMark> {
        let Some((l2, _)) = self.for_entry(store, options) else {
            return Some(ReadMark::default());
        };
        match M::l2(l2.take_lease(key)).await {
            Ok(lease) => lease,
            Err(error) => {
                if !count_failure(&store.counters, &error) {
                    tracing::warn!(function = store.name(), key = self.loggable(key), %error, "L2 lease failed; refreshing without it");
                }
                Some(ReadMark::default())
            }
        }
    }

    /// The attached L2 and how often a lease held for a load is renewed, if it leases keys.
    pub(crate) fn leasing(&self) -> Option<(Arc<dyn L2>, Duration)> {
        let l2 = self.l2.as_ref()?;
        l2.lease_renewal().map(|every| (Arc::clone(l2), every))
    }

    /// Encodes a value and writes it through, if `condition` holds in L2. Failures are
    /// counted and logged. True when L2 answered (whether it wrote or refused).
    pub(crate) async fn write<M: CallMode, K, V>(
        &self,
        store: &Store<K, V>,
        key: &str,
        value: &V,
        options: &ResolvedOptions,
        condition: WriteCondition<'_>,
    ) -> bool {
        let Some((l2, serde)) = self.for_entry(store, options) else {
            return false;
        };
        let Some(stored) = self.encode(store, serde, key, value) else {
            return false;
        };
        let write = l2_write(&stored, options, condition);
        let timing = Timing::start();
        let written = M::l2(l2.set(key, write))
            .instrument(self.span("set", store.name()))
            .await;
        self.observe("set", timing, &written);
        self.reached(store, key, written)
    }

    /// Encodes values and writes them through in one call of the L2, which tells other
    /// processes once for the batch; each entry is written if its condition holds. Failures
    /// are counted and logged (a failure of the whole batch once). Per entry, in order: true
    /// when L2 answered for it (whether it wrote or refused).
    pub(crate) async fn write_many<M: CallMode, K, V>(
        &self,
        store: &Store<K, V>,
        entries: &[(&str, &V, WriteCondition<'_>)],
        options: &ResolvedOptions,
    ) -> Vec<bool> {
        let mut reached = vec![false; entries.len()];
        let Some((l2, serde)) = self.for_entry(store, options) else {
            return reached;
        };
        // The entries that could be encoded, by their index in `entries`.
        let encoded: Vec<(usize, StoredValue)> = entries
            .iter()
            .enumerate()
            .filter_map(|(index, (key, value, _))| {
                Some((index, self.encode(store, serde, key, value)?))
            })
            .collect();
        if encoded.is_empty() {
            return reached;
        }
        let writes: Vec<(&str, L2Write<'_>)> = encoded
            .iter()
            .map(|(index, stored)| {
                let (key, _, condition) = entries[*index];
                (key, l2_write(stored, options, condition))
            })
            .collect();
        let timing = Timing::start();
        let written = M::l2(l2.set_many(&writes))
            .instrument(self.span("set", store.name()))
            .await;
        let written = written.and_then(|each| match each.len() == writes.len() {
            true => Ok(each),
            false => Err(L2Error::new(
                L2ErrorKind::Protocol,
                format!(
                    "{} answers to a batch write of {} keys",
                    each.len(),
                    writes.len()
                ),
            )),
        });
        self.observe("set", timing, &written);
        match written {
            Ok(each) => {
                for ((index, _), written) in encoded.iter().zip(each) {
                    reached[*index] = self.reached(store, entries[*index].0, written);
                }
            }
            Err(error) => {
                if !count_failure(&store.counters, &error) {
                    tracing::warn!(function = store.name(), keys = writes.len(), %error, "L2 batch write failed");
                }
            }
        }
        reached
    }

    /// A value encoded for L2; `None` (counted and logged) when it cannot be.
    fn encode<K, V>(
        &self,
        store: &Store<K, V>,
        serde: &SerdeFns<V>,
        key: &str,
        value: &V,
    ) -> Option<StoredValue> {
        match (serde.encode)(&self.codec, value) {
            Ok(stored) => Some(stored),
            Err(error) => {
                bump(&store.counters.l2_errors);
                tracing::warn!(function = store.name(), key = self.loggable(key), %error, "value could not be encoded for L2");
                None
            }
        }
    }

    /// Whether a write of `key` reached L2; a failure is counted and logged.
    fn reached<K, V>(&self, store: &Store<K, V>, key: &str, written: Result<(), L2Error>) -> bool {
        match written {
            Ok(()) => true,
            Err(error) => {
                if !count_failure(&store.counters, &error) {
                    tracing::warn!(function = store.name(), key = self.loggable(key), %error, "L2 write failed");
                }
                false
            }
        }
    }

    /// Applies an invalidation to L2 (which tells other processes). A failure is counted and
    /// logged; the caller still invalidates its own L1.
    pub(crate) async fn invalidate<M: CallMode>(
        &self,
        counters: &Counters,
        invalidation: &Invalidation,
    ) {
        let Some(l2) = &self.l2 else {
            return;
        };
        let timing = Timing::start();
        let result = match invalidation {
            Invalidation::Keys(keys) => {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                M::l2(l2.invalidate(&keys)).await
            }
            Invalidation::Pattern(pattern) => M::l2(l2.invalidate_pattern(pattern)).await,
            Invalidation::Tags(tags) => {
                let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                M::l2(l2.invalidate_tags(&tags)).await
            }
            Invalidation::Clear => M::l2(l2.clear()).await,
        };
        self.observe("invalidate", timing, &result);
        if let Err(error) = result
            && !count_failure(counters, &error)
        {
            tracing::warn!(?invalidation, %error, "L2 invalidation failed; L1 invalidated anyway");
        }
    }

    /// Keys of the L2 matching a glob (none without an L2).
    pub(crate) async fn keys(&self, pattern: &str, limit: usize) -> Result<Vec<String>, L2Error> {
        match &self.l2 {
            Some(l2) => l2.keys(pattern, limit).await,
            None => Ok(Vec::new()),
        }
    }

    /// The L2 entry of a key, undecoded (`None` without an L2).
    pub(crate) async fn entry(&self, key: &str) -> Result<Option<crate::l2::L2Entry>, L2Error> {
        match &self.l2 {
            Some(l2) => l2.get(key, &[]).await,
            None => Ok(None),
        }
    }

    /// The L2's own report (`None` without an L2).
    pub(crate) fn status(&self) -> Option<L2Status> {
        self.l2.as_ref().map(|l2| l2.status())
    }

    /// Whether the L2 (if any) answers.
    pub(crate) async fn health(&self) -> Result<(), L2Error> {
        match &self.l2 {
            Some(l2) => l2.health().await,
            None => Ok(()),
        }
    }

    /// Blocking form of [`health`](Self::health).
    pub(crate) fn health_blocking(&self) -> Result<(), L2Error> {
        match &self.l2 {
            Some(l2) => crate::blocking::block_on_tokio(l2.health()),
            None => Ok(()),
        }
    }
}

fn is_skip(error: &L2Error) -> bool {
    error.kind.is_skipped()
}

/// Counts a failed operation: in `l2_skipped` when the L2 skipped it (its breaker is open, or
/// it is replaying queued invalidations; returns `true`: do not log it), otherwise in
/// `l2_errors` (returns `false`: log it).
fn count_failure(counters: &Counters, error: &L2Error) -> bool {
    if is_skip(error) {
        bump(&counters.l2_skipped);
        true
    } else {
        bump(&counters.l2_errors);
        false
    }
}

/// The write of an encoded value with an entry's options.
fn l2_write<'a>(
    stored: &'a StoredValue,
    options: &'a ResolvedOptions,
    condition: WriteCondition<'a>,
) -> L2Write<'a> {
    L2Write {
        value: stored,
        ttl: options.ttl,
        stale_for: options.stale_if_error.unwrap_or_default(),
        tags: &options.tags,
        condition,
    }
}
