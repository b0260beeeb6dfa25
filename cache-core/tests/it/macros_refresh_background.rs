//! Refresh-ahead through `#[cached]` for functions whose arguments are all owned: a hit past
//! the refresh point returns the current value at once and the reload runs in the background,
//! so no caller waits for it (async fns on the runtime, plain fns on a helper thread).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::within;
use cache_core::{Cache, cached};

static ASYNC_CACHE: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());
static ASYNC_LOADS: AtomicU32 = AtomicU32::new(0);

/// Version 1, 2, 3... of a quote; reloads take 300 ms, the first load is instant.
#[cached(cache = ASYNC_CACHE, ttl = "1s", refresh_ahead = 0.5)]
async fn quote(symbol: String, venue: u32) -> Result<String, std::io::Error> {
    let version = ASYNC_LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    if version > 1 {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(format!("{symbol}/{venue}@v{version}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_fn_with_owned_arguments_refreshes_in_the_background() {
    assert_eq!(within(quote("ACME".into(), 1)).await.unwrap(), "ACME/1@v1");
    tokio::time::sleep(Duration::from_millis(550)).await;

    // Past the refresh point: every caller, the first included, gets v1 without waiting for
    // the 300 ms reload (had any waited, it would have received v2).
    for _ in 0..5 {
        assert_eq!(within(quote("ACME".into(), 1)).await.unwrap(), "ACME/1@v1");
    }
    within(async {
        while quote("ACME".into(), 1).await.unwrap() != "ACME/1@v2" {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let stats = ASYNC_CACHE.stats();
    assert_eq!(
        ASYNC_LOADS.load(Ordering::SeqCst),
        2,
        "one refresh, however many hits"
    );
    assert_eq!((stats.loads, stats.refreshes, stats.misses), (2, 1, 1));
}

static SYNC_CACHE: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());
static SYNC_LOADS: AtomicU32 = AtomicU32::new(0);

#[cached(cache = SYNC_CACHE, ttl = "1s", refresh_ahead = 0.5)]
fn rate(currency: String) -> Option<String> {
    let version = SYNC_LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    if version > 1 {
        std::thread::sleep(Duration::from_millis(300));
    }
    Some(format!("{currency}@v{version}"))
}

#[test]
fn a_plain_fn_with_owned_arguments_refreshes_on_a_helper_thread() {
    assert_eq!(rate("EUR".into()).as_deref(), Some("EUR@v1"));
    std::thread::sleep(Duration::from_millis(550));
    for _ in 0..5 {
        assert_eq!(rate("EUR".into()).as_deref(), Some("EUR@v1"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while rate("EUR".into()).as_deref() != Some("EUR@v2") {
        assert!(
            Instant::now() < deadline,
            "the background refresh never landed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(SYNC_LOADS.load(Ordering::SeqCst), 2);
    assert_eq!(SYNC_CACHE.stats().refreshes, 1);
}
