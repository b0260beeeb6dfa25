//! Refresh-ahead through `#[cached]`, for a function whose argument is a reference: the first
//! caller past the refresh point reloads inline (and gets the fresh value), concurrent callers
//! keep getting the current value without waiting.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::common::within;
use cache_core::{Cache, cached};

static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());
static LOADS: AtomicU32 = AtomicU32::new(0);

/// Version 1, 2, 3... of the price; reloads take 300 ms, the first load is instant.
#[cached(cache = CACHE, ttl = "1s", refresh_ahead = 0.5)]
async fn price(market: &str) -> Result<String, std::io::Error> {
    let version = LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    if version > 1 {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(format!("{market}@v{version}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_caller_past_the_refresh_point_reloads_and_others_do_not_wait() {
    assert_eq!(within(price("eu")).await.unwrap(), "eu@v1");
    assert_eq!(within(price("eu")).await.unwrap(), "eu@v1");
    // Past the refresh point (500 ms), before expiry (1 s).
    tokio::time::sleep(Duration::from_millis(550)).await;

    let market = String::from("eu");
    let refresher = {
        let market = market.clone();
        tokio::spawn(async move { price(&market).await.unwrap() })
    };
    // Let the refresher claim the refresh and start its 300 ms reload.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Concurrent callers get the current value: had they waited for the reload, they would
    // have received v2.
    for _ in 0..5 {
        assert_eq!(within(price(&market)).await.unwrap(), "eu@v1");
    }
    // The refreshing caller waited for its reload and got the fresh value.
    assert_eq!(within(refresher).await.unwrap(), "eu@v2");
    assert_eq!(within(price(&market)).await.unwrap(), "eu@v2");

    let stats = CACHE.stats();
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
    assert_eq!(stats.loads, 2);
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.misses, 1);
    // First hit, the refresher's hit, five concurrent hits, the final hit.
    assert_eq!(stats.l1_hits, 8);

    // The refreshed entry has a new TTL: still there after the old one would have expired.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(within(price(&market)).await.unwrap(), "eu@v2");
    assert_eq!(CACHE.stats().loads, 2);
}

/// A service holding a "connection pool" by reference: refresh-ahead needs no `'static`.
struct Service {
    cache: Cache,
    queries: Arc<AtomicU32>,
}

impl Service {
    #[cached(cache = self.cache, ttl = "400ms", refresh_ahead = 0.5, key = "{name}")]
    fn greeting(&self, name: &str) -> String {
        let n = self.queries.fetch_add(1, Ordering::SeqCst) + 1;
        format!("hello {name} #{n}")
    }
}

#[test]
fn refresh_ahead_on_a_sync_method_borrowing_self() {
    let service = Service {
        cache: Cache::builder().build().unwrap(),
        queries: Arc::new(AtomicU32::new(0)),
    };
    assert_eq!(service.greeting("ada"), "hello ada #1");
    assert_eq!(service.greeting("ada"), "hello ada #1");
    std::thread::sleep(Duration::from_millis(250));
    assert_eq!(service.greeting("ada"), "hello ada #2");
    assert_eq!(service.greeting("ada"), "hello ada #2");
    let stats = service.cache.stats();
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.loads, 2);
    assert_eq!(stats.l1_hits, 3);
}
