//! Replays a workload through each cache under test, as a user would: look the key up, and on
//! a miss load and insert it. With two threads, thread `t` replays accesses `t, t + 2, ...`
//! concurrently on the same cache.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use cache_core::{Cache, cached};

/// The cache the `#[cached]` function under test uses (one per run, as capacities differ).
static CURRENT: RwLock<Option<Cache>> = RwLock::new(None);
/// Runs of the function's body: the misses.
static LOADS: AtomicU64 = AtomicU64::new(0);

fn current() -> Cache {
    CURRENT
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .expect("a cache is installed before the replay")
}

/// The function under test: what a user writes.
#[cached(cache = current(), level = "l1", ttl = "1h")]
fn load(key: u64) -> u64 {
    LOADS.fetch_add(1, Ordering::Relaxed);
    key
}

/// Accesses a thread replays between two meetings with the other threads: they stay within
/// this distance of each other in the trace, so the interleaving follows the trace's order at
/// that grain. Free-running threads drift apart, and one running ahead "prefetches" for the
/// other (a loop larger than the cache then hits far above the optimum).
const LOCKSTEP: usize = 64;

/// Runs `access` over `keys` on `threads` threads (interleaved); returns the hits.
fn replay(keys: &[u64], threads: usize, access: impl Fn(u64) -> bool + Sync) -> u64 {
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (access, barrier) = (&access, &barrier);
                scope.spawn(move || {
                    let mut hits = 0;
                    for round in keys.chunks(LOCKSTEP * threads) {
                        barrier.wait();
                        for &key in round.iter().skip(t).step_by(threads) {
                            hits += u64::from(access(key));
                        }
                    }
                    hits
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("replay thread"))
            .sum()
    })
}

fn ratio(hits: u64, keys: &[u64]) -> f64 {
    hits as f64 / keys.len() as f64
}

/// Hit ratio of a `#[cached(level = "l1")]` function on a cache of `capacity` entries.
pub fn ours(keys: &[u64], capacity: usize, threads: usize) -> f64 {
    let cache = Cache::builder()
        .l1_max_capacity(capacity as u64)
        .build()
        .expect("a valid capacity");
    *CURRENT
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cache);
    let before = LOADS.load(Ordering::Relaxed);
    replay(keys, threads, |key| {
        assert_eq!(load(key), key);
        false
    });
    let misses = LOADS.load(Ordering::Relaxed) - before;
    1.0 - misses as f64 / keys.len() as f64
}

/// How moka is run.
#[derive(Clone, Copy)]
pub enum Moka {
    /// As users run it: its maintenance runs when moka decides, in batches, and it holds up to
    /// about 64 entries more than its capacity between them, a large share of a small cache
    /// (`BENCHMARKS.md`).
    AsUsersRunIt,
    /// Held to its capacity: its pending maintenance runs after every insert, so it never
    /// holds more than `capacity` entries.
    HeldToCapacity,
}

/// Hit ratio of `moka::sync::Cache` with `max_capacity(capacity)`.
pub fn moka(keys: &[u64], capacity: usize, threads: usize, how: Moka) -> f64 {
    let cache = Arc::new(moka::sync::Cache::new(capacity as u64));
    let hits = replay(keys, threads, |key| {
        if cache.get(&key).is_some() {
            return true;
        }
        cache.insert(key, key);
        if let Moka::HeldToCapacity = how {
            cache.run_pending_tasks();
        }
        false
    });
    ratio(hits, keys)
}

/// Hit ratio of `quick_cache::sync::Cache::new(capacity)`.
pub fn quick_cache(keys: &[u64], capacity: usize, threads: usize) -> f64 {
    let cache = quick_cache::sync::Cache::new(capacity);
    let hits = replay(keys, threads, |key| {
        if cache.get(&key).is_some() {
            return true;
        }
        cache.insert(key, key);
        false
    });
    ratio(hits, keys)
}
