//! What L1 keeps: the entry and weight bounds under concurrent inserts, scan resistance,
//! frequency, dead entries first, and one budget shared fairly between functions. Each test
//! counts loads (a miss runs the body) or reads values back; none depends on timing except
//! the one that waits for a TTL to pass.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use cache_core::{Cache, EntryOptions, cached};

use crate::common::DbError;

/// Defines, in the test that calls it, `item(id) -> id` cached in `CACHE` (an L1 of
/// `$capacity` entries), and `LOADS`, the runs of its body.
macro_rules! counted_item {
    ($capacity:expr) => {
        static CACHE: LazyLock<Cache> =
            LazyLock::new(|| Cache::builder().l1_max_capacity($capacity).build().unwrap());
        static LOADS: AtomicU64 = AtomicU64::new(0);

        #[cached(cache = CACHE, level = "l1")]
        fn item(id: u64) -> u64 {
            LOADS.fetch_add(1, Ordering::Relaxed);
            id
        }
    };
}

/// Reads each of `ids` through `item`, checking the values.
fn read_all(item: fn(u64) -> u64, ids: Range<u64>) {
    for id in ids {
        assert_eq!(item(id), id);
    }
}

/// How many of `ids` a pass through `item` loads (`loads` counts its body's runs).
fn loads_of_a_pass(item: fn(u64) -> u64, loads: &AtomicU64, ids: Range<u64>) -> u64 {
    let before = loads.load(Ordering::Relaxed);
    read_all(item, ids);
    loads.load(Ordering::Relaxed) - before
}

/// Runs `f` on `threads` threads and waits for them (at most 60 s each).
fn on_threads(threads: u64, f: impl Fn(u64) + Send + Sync + 'static) {
    let f = Arc::new(f);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for thread in 0..threads {
        let (f, done_tx) = (Arc::clone(&f), done_tx.clone());
        std::thread::spawn(move || {
            f(thread);
            let _ = done_tx.send(());
        });
    }
    for _ in 0..threads {
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a thread panicked or hung");
    }
}

#[test]
fn the_entry_bound_holds_under_concurrent_inserts() {
    const CAPACITY: u64 = 200;
    const THREADS: u64 = 4;
    let cache = Cache::builder().l1_max_capacity(CAPACITY).build().unwrap();
    let seen_over = Arc::new(AtomicU64::new(0));
    {
        let (cache, seen_over) = (cache.clone(), Arc::clone(&seen_over));
        on_threads(THREADS, move |thread| {
            for i in 0..5_000 {
                let key = format!("t{thread}:{i}");
                let value = cache
                    .get_or_load_blocking(&key, &EntryOptions::new(), move || Ok::<_, DbError>(i));
                assert_eq!(value, Ok(i));
                // Each thread may have one insert between the store and the policy.
                seen_over.fetch_max(cache.l1_len(), Ordering::Relaxed);
            }
        });
    }
    assert!(
        seen_over.load(Ordering::Relaxed) <= CAPACITY + THREADS,
        "at most one pending insert per thread over the bound, saw {}",
        seen_over.load(Ordering::Relaxed)
    );
    assert_eq!(
        cache.l1_len(),
        CAPACITY,
        "the bound holds once inserts are done"
    );
    assert_eq!(cache.stats().evictions, THREADS * 5_000 - CAPACITY);
}

#[test]
fn every_read_returns_its_own_keys_value_while_entries_move() {
    // Entries sit dense in each shard and move when one is removed: evictions, invalidations
    // of single keys and of patterns race with reads and inserts here, and every value read
    // must still be the one of its key.
    const CAPACITY: u64 = 300;
    const THREADS: u64 = 4;
    let cache = Cache::builder().l1_max_capacity(CAPACITY).build().unwrap();
    let wrong = Arc::new(AtomicU64::new(0));
    {
        let (cache, wrong) = (cache.clone(), Arc::clone(&wrong));
        on_threads(THREADS, move |thread| {
            for i in 0..20_000u64 {
                let key = (i * 7 + thread * 13) % 500;
                let text = format!("k:{key}");
                let value = cache.get_or_load_blocking(&text, &EntryOptions::new(), move || {
                    Ok::<_, DbError>(key * 1_000)
                });
                if value != Ok(key * 1_000) {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
                match i % 97 {
                    0 => cache.invalidate_blocking(&format!("k:{}", (key + 1) % 500)),
                    1 if thread == 0 => cache.invalidate_pattern_blocking("k:1*"),
                    _ => {}
                }
            }
        });
    }
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "a read returned another key's value"
    );
    assert!(cache.l1_len() <= CAPACITY);
    for key in 0..500u64 {
        let cached: Option<u64> = cache.get_blocking(&format!("k:{key}"));
        assert!(
            cached.is_none_or(|value| value == key * 1_000),
            "key {key} holds {cached:?}"
        );
    }
}

#[test]
fn the_weight_bound_holds_under_concurrent_inserts() {
    const MAX_WEIGHT: u64 = 50_000;
    const THREADS: u64 = 4;
    static CACHE: LazyLock<Cache> = LazyLock::new(|| {
        Cache::builder()
            .l1_max_weight(MAX_WEIGHT)
            .l1_max_capacity(1_000_000)
            .build()
            .unwrap()
    });

    #[cached(cache = CACHE, level = "l1", weight = |page: &Vec<u8>| page.len())]
    fn page(_thread: u64, i: u64) -> Vec<u8> {
        vec![0; 100 + (i as usize * 37) % 900]
    }

    let seen_over = Arc::new(AtomicU64::new(0));
    {
        let seen_over = Arc::clone(&seen_over);
        on_threads(THREADS, move |thread| {
            for i in 0..2_000 {
                assert_eq!(page(thread, i).len(), 100 + (i as usize * 37) % 900);
                seen_over.fetch_max(CACHE.l1_weight(), Ordering::Relaxed);
            }
        });
    }
    assert!(
        seen_over.load(Ordering::Relaxed) <= MAX_WEIGHT + THREADS * 1_000,
        "at most one pending insert per thread over the bound, saw {}",
        seen_over.load(Ordering::Relaxed)
    );
    assert!(CACHE.l1_weight() <= MAX_WEIGHT, "{}", CACHE.l1_weight());
    assert!(
        CACHE.l1_weight() > MAX_WEIGHT / 2,
        "the budget is used, not wasted: {}",
        CACHE.l1_weight()
    );
    assert!(
        CACHE.l1_len() < 1_000,
        "the weight, not the count, bounds this cache"
    );
}

#[test]
fn a_hot_set_survives_a_scan() {
    counted_item!(1_000);

    for _ in 0..10 {
        read_all(item, 0..200);
    }
    assert_eq!(LOADS.load(Ordering::Relaxed), 200);
    // One pass over 20,000 keys never seen before nor again.
    read_all(item, 1_000_000..1_020_000);
    let reloaded = loads_of_a_pass(item, &LOADS, 0..200);
    assert!(
        reloaded <= 10,
        "at least 95% of the hot set still hits after the scan; {reloaded} of 200 reloaded"
    );
}

#[test]
fn a_frequent_key_survives_a_flood_of_one_time_keys() {
    static CACHE: LazyLock<Cache> =
        LazyLock::new(|| Cache::builder().l1_max_capacity(100).build().unwrap());
    static HOT_LOADS: AtomicU64 = AtomicU64::new(0);

    #[cached(cache = CACHE, level = "l1")]
    fn item(id: u64) -> u64 {
        if id == 0 {
            HOT_LOADS.fetch_add(1, Ordering::Relaxed);
        }
        id
    }

    // The hot key is read once every 300 one-time keys: three times the capacity apart, so
    // recency alone (LRU) would lose it every time; its frequency keeps it.
    for _ in 0..10 {
        assert_eq!(item(0), 0);
    }
    for id in 1..30_000 {
        assert_eq!(item(id), id);
        if id % 300 == 0 {
            assert_eq!(item(0), 0);
        }
    }
    assert_eq!(
        HOT_LOADS.load(Ordering::Relaxed),
        1,
        "the hot key never left L1"
    );
}

#[test]
fn a_new_working_set_replaces_the_start_up_keys_on_its_second_pass() {
    counted_item!(100);

    // Start-up: 100 keys read once fill the cache, and are not read again.
    read_all(item, 0..100);
    // The steady state's 100 keys: read twice, they have been asked for more often than the
    // start-up keys (which the sketch did not count while the cache filled), so they take
    // their places on the second pass.
    for _ in 0..2 {
        read_all(item, 1_000..1_100);
    }
    let reloaded = loads_of_a_pass(item, &LOADS, 1_000..1_100);
    assert!(
        reloaded <= 10,
        "at least 90% of the new working set hits on its third pass; {reloaded} of 100 reloaded"
    );
}

#[test]
fn a_burst_of_reads_counts_as_one_use() {
    counted_item!(100);

    // The cache fills with keys read once.
    read_all(item, 0..100);
    // 60 keys read ten times each in a burst, then never again.
    for id in 1_000..1_060 {
        for _ in 0..10 {
            assert_eq!(item(id), id);
        }
    }
    // 60 keys read once per round, round after round: used more often than the burst keys,
    // whose ten reads in a row are one use. They win all their places within a few rounds.
    for _ in 0..6 {
        read_all(item, 2_000..2_060);
    }
    let reloaded = loads_of_a_pass(item, &LOADS, 2_000..2_060);
    assert!(
        reloaded <= 6,
        "at least 90% of the steady keys hit; {reloaded} of 60 reloaded"
    );
}

#[tokio::test]
async fn expired_entries_are_evicted_before_live_ones() {
    let cache = Cache::builder().l1_max_capacity(100).build().unwrap();
    let short = EntryOptions::new().ttl(Duration::from_millis(50));
    let long = EntryOptions::new().ttl(Duration::from_secs(3600));
    for i in 0..50u32 {
        cache.set(&format!("short{i}"), i, &short).await;
        cache.set(&format!("long{i}"), i, &long).await;
    }
    // Past the short TTL (a wait for expiry, not an assertion of speed).
    tokio::time::sleep(Duration::from_millis(120)).await;
    for i in 0..50u32 {
        cache.set(&format!("new{i}"), i, &long).await;
    }
    for i in 0..50u32 {
        assert_eq!(cache.get::<u32>(&format!("long{i}")).await, Some(i));
        assert_eq!(cache.get::<u32>(&format!("new{i}")).await, Some(i));
    }
    assert_eq!(cache.l1_len(), 100);
    assert_eq!(
        cache.stats().evictions,
        50,
        "exactly the expired entries were evicted"
    );
}

#[tokio::test]
async fn invalidated_entries_are_evicted_before_live_ones() {
    let cache = Cache::builder().l1_max_capacity(100).build().unwrap();
    let old = EntryOptions::new().tags(["old"]);
    for i in 0..50u32 {
        cache.set(&format!("old{i}"), i, &old).await;
        cache
            .set(&format!("kept{i}"), i, &EntryOptions::new())
            .await;
    }
    // Tag invalidation hides the entries at once and leaves them to the policy.
    cache.invalidate_tags(&["old"]).await;
    for i in 0..50u32 {
        cache.set(&format!("new{i}"), i, &EntryOptions::new()).await;
    }
    for i in 0..50u32 {
        assert_eq!(cache.get::<u32>(&format!("old{i}")).await, None);
        assert_eq!(cache.get::<u32>(&format!("kept{i}")).await, Some(i));
        assert_eq!(cache.get::<u32>(&format!("new{i}")).await, Some(i));
    }
    assert_eq!(cache.stats().evictions, 50);
}

#[test]
fn a_hot_small_function_keeps_its_entries_against_a_cold_large_one() {
    static CACHE: LazyLock<Cache> =
        LazyLock::new(|| Cache::builder().l1_max_capacity(500).build().unwrap());
    static HOT_LOADS: AtomicU64 = AtomicU64::new(0);

    #[cached(cache = CACHE, level = "l1")]
    fn hot(id: u64) -> u64 {
        HOT_LOADS.fetch_add(1, Ordering::Relaxed);
        id
    }

    #[cached(cache = CACHE, level = "l1")]
    fn cold(id: u64) -> String {
        format!("report {id}")
    }

    // Each round: the hot function's 50 keys, then 1,000 cold keys never read again (the cold
    // function holds far more distinct keys than the whole cache).
    for round in 0..20u64 {
        for id in 0..50 {
            assert_eq!(hot(id), id);
        }
        for id in 0..1_000 {
            let id = round * 1_000 + id;
            assert_eq!(cold(id), format!("report {id}"));
        }
    }
    let loads = HOT_LOADS.load(Ordering::Relaxed);
    assert!(
        loads <= 50 + 50,
        "the hot function's entries stay: {loads} loads for 1,000 calls on 50 keys"
    );
}
