//! Refresh-ahead and stale-if-error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::common::{DbError, eventually, within};
use cache_core::{Cache, EntryOptions};

/// A loader that returns 1, 2, 3... and takes `delay` each time.
fn counting_loader(
    counter: &Arc<AtomicU32>,
    delay: Duration,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u32, DbError>> + Send>> + Send + 'static
{
    let counter = Arc::clone(counter);
    move || {
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Ok(counter.fetch_add(1, Ordering::SeqCst) + 1)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_past_the_refresh_point_returns_at_once_and_refreshes_once() {
    let cache = Cache::builder().refresh_ahead(0.5).build().unwrap();
    let options = EntryOptions::new().ttl(Duration::from_millis(2000));
    let counter = Arc::new(AtomicU32::new(0));
    let slow = Duration::from_millis(300);

    let first =
        within(cache.get_or_load("k", &options, counting_loader(&counter, Duration::ZERO))).await;
    assert_eq!(first, Ok(1));
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Past the refresh point (1 s), well before expiry (2 s): every call returns the current value without waiting
    // for the slow reload, and only one reload is scheduled.
    for _ in 0..5 {
        let hit = within(cache.get_or_load("k", &options, counting_loader(&counter, slow))).await;
        assert_eq!(hit, Ok(1), "the caller must not wait for the refresh");
    }
    eventually(|| counter.load(Ordering::SeqCst) == 2).await;
    let refreshed = cache.clone();
    eventually(move || refreshed.stats().loads == 2).await;
    // Wait for the refreshed value to land in L1.
    within(async {
        loop {
            if cache.get::<u32>("k").await == Some(2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let stats = cache.stats();
    assert_eq!(stats.loads, 2);
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.misses, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_load_within_the_window_serves_the_stale_value() {
    let cache = Cache::builder()
        .stale_if_error(Duration::from_secs(30))
        .build()
        .unwrap();
    let options = EntryOptions::new().ttl(Duration::from_millis(100));
    let fresh = cache
        .get_or_load("k", &options, || async { Ok::<_, DbError>(1u32) })
        .await;
    assert_eq!(fresh, Ok(1));
    tokio::time::sleep(Duration::from_millis(150)).await;

    let stale = cache
        .get_or_load("k", &options, || async { Err::<u32, _>(DbError("down")) })
        .await;
    assert_eq!(stale, Ok(1));
    let stats = cache.stats();
    assert_eq!(
        (stats.stale_served, stats.load_errors, stats.loads),
        (1, 1, 2)
    );

    // Once the source is back, the next call reloads.
    let reloaded = cache
        .get_or_load("k", &options, || async { Ok::<_, DbError>(2u32) })
        .await;
    assert_eq!(reloaded, Ok(2));
}

#[tokio::test]
async fn without_stale_if_error_a_failed_reload_is_the_callers_error() {
    let cache = Cache::builder().build().unwrap();
    let options = EntryOptions::new().ttl(Duration::from_millis(50));
    cache
        .get_or_load("k", &options, || async { Ok::<_, DbError>(1u32) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let failed = cache
        .get_or_load("k", &options, || async { Err::<u32, _>(DbError("down")) })
        .await;
    assert_eq!(failed, Err(DbError("down")));
    assert_eq!(cache.stats().stale_served, 0);
}

#[tokio::test]
async fn an_invalidated_entry_is_never_served_stale() {
    let cache = Cache::builder()
        .stale_if_error(Duration::from_secs(30))
        .build()
        .unwrap();
    let options = EntryOptions::new().tags(["t"]);
    cache
        .get_or_load("k", &options, || async { Ok::<_, DbError>(1u32) })
        .await
        .unwrap();
    cache.invalidate_tags(&["t"]).await;
    let failed = cache
        .get_or_load("k", &options, || async { Err::<u32, _>(DbError("down")) })
        .await;
    assert_eq!(failed, Err(DbError("down")));
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    let cache = Cache::builder().build().unwrap();
    cache
        .set(
            "k",
            5u32,
            &EntryOptions::new().ttl(Duration::from_millis(500)),
        )
        .await;
    assert_eq!(cache.get::<u32>("k").await, Some(5));
    tokio::time::sleep(Duration::from_millis(650)).await;
    assert_eq!(cache.get::<u32>("k").await, None);
}
