//! The blocking twins on a plain thread, in a multi-thread runtime and in a current-thread
//! runtime: no panic, no deadlock, single-flight where waiting is safe.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::common::{DbError, within};
use cache_core::{Cache, EntryOptions};

/// The blocking API end to end; returns the cache for further checks.
fn exercise(cache: &Cache) {
    let options = EntryOptions::new().tags(["t"]);
    let loaded = cache.get_or_load_blocking("k", &options, || Ok::<_, DbError>(1u32));
    assert_eq!(loaded, Ok(1));
    assert_eq!(cache.get_blocking::<u32>("k"), Some(1));
    cache.set_blocking("k", 2u32, &options);
    assert_eq!(cache.get_blocking::<u32>("k"), Some(2));
    cache.invalidate_tags_blocking(&["t"]);
    assert_eq!(cache.get_blocking::<u32>("k"), None);
    cache.set_blocking("k", 3u32, &options);
    cache.invalidate_pattern_blocking("k*");
    assert_eq!(cache.get_blocking::<u32>("k"), None);
    cache.set_blocking("k", 4u32, &options);
    cache.invalidate_blocking("k");
    assert_eq!(cache.get_blocking::<u32>("k"), None);
    cache.set_blocking("k", 5u32, &options);
    cache.clear_blocking();
    assert_eq!(cache.get_blocking::<u32>("k"), None);
    assert!(cache.health_blocking().is_ok());
}

#[test]
fn on_a_plain_thread() {
    let cache = Cache::builder().build().unwrap();
    exercise(&cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_multi_thread_runtime() {
    let cache = Cache::builder().build().unwrap();
    exercise(&cache);
}

#[tokio::test(flavor = "current_thread")]
async fn inside_a_current_thread_runtime() {
    let cache = Cache::builder().build().unwrap();
    exercise(&cache);
}

#[test]
fn concurrent_blocking_misses_load_once() {
    let cache = Cache::builder().build().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (cache, runs, barrier) = (cache.clone(), Arc::clone(&runs), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                cache.get_or_load_blocking("k", &EntryOptions::new(), move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    Ok::<_, DbError>(9u32)
                })
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), Ok(9));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocking_caller_never_waits_on_a_task_of_its_own_runtime() {
    // An async load is in flight on this single-threaded runtime; a blocking call for the same
    // key from the same thread must not wait for it (that would deadlock): it loads itself.
    let cache = Cache::builder().build().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let pending = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load("k", &EntryOptions::new(), || async move {
                    let _ = rx.await;
                    Ok::<_, DbError>(1u32)
                })
                .await
        })
    };
    tokio::task::yield_now().await;
    let blocking = cache.get_or_load_blocking("k", &EntryOptions::new(), || Ok::<_, DbError>(2u32));
    assert_eq!(blocking, Ok(2));
    tx.send(()).unwrap();
    assert_eq!(within(pending).await.unwrap(), Ok(1));
}

#[test]
fn blocking_refresh_runs_in_the_background() {
    let cache = Cache::builder().refresh_ahead(0.5).build().unwrap();
    let options = EntryOptions::new().ttl(Duration::from_millis(2000));
    assert_eq!(
        cache.get_or_load_blocking("k", &options, || Ok::<_, DbError>(1u32)),
        Ok(1)
    );
    // Past the refresh point (1 s), well before expiry (2 s).
    std::thread::sleep(Duration::from_millis(1100));
    let hit = cache.get_or_load_blocking("k", &options, || {
        std::thread::sleep(Duration::from_millis(100));
        Ok::<_, DbError>(2u32)
    });
    assert_eq!(hit, Ok(1), "returned without waiting for the reload");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cache.get_blocking::<u32>("k") != Some(2) {
        assert!(std::time::Instant::now() < deadline, "refresh never landed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(cache.stats().refreshes, 1);
}
