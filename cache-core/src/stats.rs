//! Counters and their snapshot, [`Stats`].

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;

use crate::thread_slot::{self, ThreadSlot};

/// A snapshot of a cache's counters since it was built.
///
/// - `l1_hits`: calls answered from the in-process L1.
/// - `l2_hits`: calls answered from L2 (the value then fills L1).
/// - `misses`: calls that found the value in no level and ran the loader (or, for `get`,
///   returned `None`).
/// - `loads`: loader runs, refreshes included; `load_errors`: those that returned an error.
/// - `coalesced`: calls that waited for another caller's load of the same key and got its value.
/// - `refreshes`: background refreshes started by refresh-ahead.
/// - `stale_served`: calls answered with a stale value within its `stale_if_error` window: a
///   failed load, or another process reloading the key (also counted in `lease_stale`).
/// - `l2_errors`: L2 failures (unreachable, timeout, undecodable or foreign values).
/// - `l2_skipped`: L2 operations the L2 did not attempt: its circuit breaker was open, or it
///   was applying invalidations queued during an outage (see `L2ErrorKind::is_skipped`).
/// - `invalidations`: invalidation calls (key, pattern, tags, clear), local or from other
///   processes.
/// - `evictions`: L1 entries removed to stay within the capacity.
/// - Fleet-wide single-flight (with an L2 that leases keys, such as `RedisL2`):
///   `leases_won`: loads this process ran for the whole fleet (it took the key's lease);
///   `lease_waits`: misses answered by another process's load after waiting for it;
///   `lease_timeouts`: such waits that reached their bound (this process then loaded itself);
///   `lease_stale`: misses answered at once with a stale value while another process reloaded
///   the key; `refreshes_skipped`: refresh-ahead reloads left to the process refreshing the
///   key for the fleet.
/// - `inline_refreshes`: refresh-ahead reloads a `#[cached]` caller ran itself (it waited
///   for the reload): the function cannot reload in the background (`&mut`,
///   `companions = false`, `refresh = "inline"`, or, with the fraction from the builder only,
///   a receiver or argument a background reload cannot own); the first is logged per function.
/// - `type_mismatches`: reads that found, under their key, only a value of another type than
///   they return (written by `set`, a free-standing `#[cache_put]` or a `#[cached]` function
///   of another type): a miss, logged once per function.
///
/// A batch (`get_many`, `get_or_load_many`) counts each of its keys as one call, and each key
/// its loader was called with as one load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Calls answered from L1.
    pub l1_hits: u64,
    /// Calls answered from L2.
    pub l2_hits: u64,
    /// Calls that found no value in any level.
    pub misses: u64,
    /// Loader runs, refreshes included.
    pub loads: u64,
    /// Loader runs that returned an error.
    pub load_errors: u64,
    /// Calls that got the value of another caller's concurrent load.
    pub coalesced: u64,
    /// Refresh-ahead reloads started.
    pub refreshes: u64,
    /// Calls answered with a stale value (a failed load, or another process reloading it).
    pub stale_served: u64,
    /// L2 failures, including values that could not be decoded.
    pub l2_errors: u64,
    /// L2 operations skipped by an open circuit breaker or while queued invalidations were
    /// being applied.
    pub l2_skipped: u64,
    /// Invalidations applied (key, pattern, tags, clear; local or remote).
    pub invalidations: u64,
    /// L1 entries removed to stay within the capacity.
    pub evictions: u64,
    /// Loads run while holding the key's fleet-wide lease.
    pub leases_won: u64,
    /// Misses answered by another process's load, after waiting for it.
    pub lease_waits: u64,
    /// Waits for another process's load that reached their bound.
    pub lease_timeouts: u64,
    /// Misses answered with a stale value while another process reloaded the key.
    pub lease_stale: u64,
    /// Refresh-ahead reloads skipped because another process was refreshing the key.
    pub refreshes_skipped: u64,
    /// Refresh-ahead reloads run by the caller that claimed them (it waited for the reload).
    pub inline_refreshes: u64,
    /// Reads that found a value of another type under their key (a miss).
    pub type_mismatches: u64,
}

impl Stats {
    /// `(l1_hits + l2_hits) / (l1_hits + l2_hits + misses)`, or 0 before any lookup.
    ///
    /// ```
    /// let stats = cache_core::Stats { l1_hits: 3, misses: 1, ..Default::default() };
    /// assert_eq!(stats.hit_ratio(), 0.75);
    /// ```
    pub fn hit_ratio(&self) -> f64 {
        let hits = self.l1_hits + self.l2_hits;
        let total = hits + self.misses;
        if total == 0 {
            0.0
        } else {
            hits as f64 / total as f64
        }
    }
}

impl std::ops::Add for Stats {
    type Output = Stats;

    /// Field by field: the stats of two functions (or caches) together.
    ///
    /// ```
    /// use cache_core::Stats;
    /// let a = Stats { l1_hits: 3, misses: 1, ..Default::default() };
    /// let b = Stats { l1_hits: 1, loads: 2, ..Default::default() };
    /// assert_eq!((a + b).l1_hits, 4);
    /// assert_eq!((a + b).loads, 2);
    /// ```
    fn add(self, other: Stats) -> Stats {
        Stats {
            l1_hits: self.l1_hits + other.l1_hits,
            l2_hits: self.l2_hits + other.l2_hits,
            misses: self.misses + other.misses,
            loads: self.loads + other.loads,
            load_errors: self.load_errors + other.load_errors,
            coalesced: self.coalesced + other.coalesced,
            refreshes: self.refreshes + other.refreshes,
            stale_served: self.stale_served + other.stale_served,
            l2_errors: self.l2_errors + other.l2_errors,
            l2_skipped: self.l2_skipped + other.l2_skipped,
            invalidations: self.invalidations + other.invalidations,
            evictions: self.evictions + other.evictions,
            leases_won: self.leases_won + other.leases_won,
            lease_waits: self.lease_waits + other.lease_waits,
            lease_timeouts: self.lease_timeouts + other.lease_timeouts,
            lease_stale: self.lease_stale + other.lease_stale,
            refreshes_skipped: self.refreshes_skipped + other.refreshes_skipped,
            inline_refreshes: self.inline_refreshes + other.inline_refreshes,
            type_mismatches: self.type_mismatches + other.type_mismatches,
        }
    }
}

/// A counter incremented on the hit path from many threads without contention: each live
/// thread owns one cache-line-padded slot ([`thread_slot`]) and is its only writer, so an
/// increment is a plain load and store (no locked instruction); a snapshot sums the slots.
pub(crate) struct StripedCounter {
    slots: Box<[CachePadded<AtomicU64>]>,
    overflow: AtomicU64,
}

impl Default for StripedCounter {
    fn default() -> Self {
        Self {
            slots: (0..thread_slot::SLOTS)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            overflow: AtomicU64::new(0),
        }
    }
}

impl StripedCounter {
    /// Adds one, in the slot of the calling thread (its [`thread_slot::current`]).
    #[inline]
    pub(crate) fn incr(&self, slot: ThreadSlot) {
        match slot.index() {
            Some(slot) => {
                // Single writer: a plain read-modify-write is exact.
                let cell = &self.slots[slot];
                cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            None => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        let owned: u64 = self.slots.iter().map(|s| s.load(Ordering::Relaxed)).sum();
        owned + self.overflow.load(Ordering::Relaxed)
    }
}

/// The live counters of one cache.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) l1_hits: StripedCounter,
    pub(crate) l2_hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) load_errors: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) refreshes: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) l2_errors: AtomicU64,
    pub(crate) l2_skipped: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) leases_won: AtomicU64,
    pub(crate) lease_waits: AtomicU64,
    pub(crate) lease_timeouts: AtomicU64,
    pub(crate) lease_stale: AtomicU64,
    pub(crate) refreshes_skipped: AtomicU64,
    pub(crate) inline_refreshes: AtomicU64,
    pub(crate) type_mismatches: AtomicU64,
    /// Invalidations by kind: keys, pattern, tags, all.
    invalidations_by_kind: [AtomicU64; 4],
}

/// The kinds of invalidation, in the order of `Counters::invalidations_by_kind`.
const INVALIDATION_KINDS: [&str; 4] = ["key", "pattern", "tags", "all"];

/// Adds one to a plain counter.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a plain counter (a batch counts each of its keys).
#[inline]
pub(crate) fn bump_by(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

impl Counters {
    /// Counts an invalidation by its kind.
    pub(crate) fn count_invalidation(&self, invalidation: &crate::l2::Invalidation) {
        use crate::l2::Invalidation;
        let kind = match invalidation {
            Invalidation::Keys(_) => 0,
            Invalidation::Pattern(_) => 1,
            Invalidation::Tags(_) => 2,
            Invalidation::Clear => 3,
        };
        bump(&self.invalidations_by_kind[kind]);
    }

    /// Invalidations so far, by kind (`key`, `pattern`, `tags`, `all`).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn invalidations_by_kind(&self) -> [(&'static str, u64); 4] {
        std::array::from_fn(|i| {
            (
                INVALIDATION_KINDS[i],
                self.invalidations_by_kind[i].load(Ordering::Relaxed),
            )
        })
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            l1_hits: self.l1_hits.sum(),
            l2_hits: get(&self.l2_hits),
            misses: get(&self.misses),
            loads: get(&self.loads),
            load_errors: get(&self.load_errors),
            coalesced: get(&self.coalesced),
            refreshes: get(&self.refreshes),
            stale_served: get(&self.stale_served),
            l2_errors: get(&self.l2_errors),
            l2_skipped: get(&self.l2_skipped),
            invalidations: get(&self.invalidations),
            evictions: get(&self.evictions),
            leases_won: get(&self.leases_won),
            lease_waits: get(&self.lease_waits),
            lease_timeouts: get(&self.lease_timeouts),
            lease_stale: get(&self.lease_stale),
            refreshes_skipped: get(&self.refreshes_skipped),
            inline_refreshes: get(&self.inline_refreshes),
            type_mismatches: get(&self.type_mismatches),
        }
    }
}
