//! Read-your-writes after an invalidation: a call that starts once an invalidation (by key,
//! pattern, tag or `clear`) has returned never receives the result of a load that began
//! before it. Each test holds a loader that read the old version, moves the source on,
//! invalidates, then makes a new call: it must load the new version itself, while the held
//! load's own caller still gets what it loaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::{DbError, within};
use cache_core::{Cache, EntryOptions};
use tokio::sync::{Notify, oneshot};

/// How the test invalidates `item:1`.
#[derive(Clone, Copy, Debug)]
enum Via {
    Key,
    Pattern,
    Tag,
    Clear,
}

const KEY: &str = "item:1";

/// Longest a call that must not wait for the held loader may take.
const LIMIT: Duration = Duration::from_secs(5);

fn options() -> EntryOptions {
    EntryOptions::new()
        .tags(["item", "item:1"])
        .ttl(Duration::from_secs(600))
}

async fn invalidate(cache: &Cache, via: Via) {
    match via {
        Via::Key => cache.invalidate(KEY).await,
        Via::Pattern => cache.invalidate_pattern("item:*").await,
        Via::Tag => cache.invalidate_tags(&["item:1"]).await,
        Via::Clear => cache.clear().await,
    }
}

fn invalidate_blocking(cache: &Cache, via: Via) {
    match via {
        Via::Key => cache.invalidate_blocking(KEY),
        Via::Pattern => cache.invalidate_pattern_blocking("item:*"),
        Via::Tag => cache.invalidate_tags_blocking(&["item:1"]),
        Via::Clear => cache.clear_blocking(),
    }
}

/// A loader that reads `source` as it starts, tells `started`, and returns what it read once
/// `release` fires.
fn held_loader(
    source: &Arc<AtomicU64>,
    started: &Arc<Notify>,
    release: oneshot::Receiver<()>,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u64, DbError>> + Send>> + Send + 'static
{
    let (source, started) = (Arc::clone(source), Arc::clone(started));
    move || {
        Box::pin(async move {
            let version = source.load(Ordering::SeqCst);
            started.notify_one();
            release.await.expect("the test releases the loader");
            Ok(version)
        })
    }
}

async fn async_call_after_invalidation_loads_again(via: Via) {
    let cache = Cache::builder().build().unwrap();
    let source = Arc::new(AtomicU64::new(1));
    let started = Arc::new(Notify::new());
    let (release, released) = oneshot::channel();
    let held = {
        let cache = cache.clone();
        let loader = held_loader(&source, &started, released);
        tokio::spawn(async move { cache.get_or_load(KEY, &options(), loader).await })
    };
    within(started.notified()).await;

    source.store(2, Ordering::SeqCst);
    invalidate(&cache, via).await;
    let reader = Arc::clone(&source);
    let after = tokio::time::timeout(
        LIMIT,
        cache.get_or_load(KEY, &options(), move || async move {
            Ok::<_, DbError>(reader.load(Ordering::SeqCst))
        }),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("{via:?}: the call after the invalidation waited for the older load")
    });
    assert_eq!(
        after,
        Ok(2),
        "{via:?}: a call after the invalidation got the older load"
    );

    release.send(()).unwrap();
    let held = within(held).await.unwrap();
    assert_eq!(
        held,
        Ok(1),
        "{via:?}: the held load's caller gets what it loaded"
    );
    assert_eq!(
        cache.get::<u64>(KEY).await,
        Some(2),
        "{via:?}: the older load is not cached"
    );
    assert_eq!(cache.stats().loads, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_by_key() {
    async_call_after_invalidation_loads_again(Via::Key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_by_pattern() {
    async_call_after_invalidation_loads_again(Via::Pattern).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_by_tag() {
    async_call_after_invalidation_loads_again(Via::Tag).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_by_clear() {
    async_call_after_invalidation_loads_again(Via::Clear).await;
}

/// The blocking twins, on plain threads (where a blocking caller waits for another's load).
fn blocking_call_after_invalidation_loads_again(via: Via) {
    let cache = Cache::builder().build().unwrap();
    let source = Arc::new(AtomicU64::new(1));
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let held = {
        let (cache, source) = (cache.clone(), Arc::clone(&source));
        std::thread::spawn(move || {
            cache.get_or_load_blocking(KEY, &options(), move || {
                let version = source.load(Ordering::SeqCst);
                started_tx.send(()).unwrap();
                release_rx.recv_timeout(LIMIT * 2).expect("released");
                Ok::<_, DbError>(version)
            })
        })
    };
    started_rx
        .recv_timeout(LIMIT)
        .expect("the held loader started");

    source.store(2, Ordering::SeqCst);
    invalidate_blocking(&cache, via);
    let (done_tx, done_rx) = mpsc::channel();
    {
        let (cache, source) = (cache.clone(), Arc::clone(&source));
        std::thread::spawn(move || {
            let after = cache.get_or_load_blocking(KEY, &options(), move || {
                Ok::<_, DbError>(source.load(Ordering::SeqCst))
            });
            let _ = done_tx.send(after);
        });
    }
    let after = done_rx.recv_timeout(LIMIT).unwrap_or_else(|_| {
        panic!("{via:?}: the call after the invalidation waited for the older load")
    });
    assert_eq!(
        after,
        Ok(2),
        "{via:?}: a call after the invalidation got the older load"
    );

    release_tx.send(()).unwrap();
    assert_eq!(held.join().unwrap(), Ok(1));
    assert_eq!(cache.get_blocking::<u64>(KEY), Some(2));
    assert_eq!(cache.stats().loads, 2);
}

#[test]
fn blocking_by_key() {
    blocking_call_after_invalidation_loads_again(Via::Key);
}

#[test]
fn blocking_by_pattern() {
    blocking_call_after_invalidation_loads_again(Via::Pattern);
}

#[test]
fn blocking_by_tag() {
    blocking_call_after_invalidation_loads_again(Via::Tag);
}

#[test]
fn blocking_by_clear() {
    blocking_call_after_invalidation_loads_again(Via::Clear);
}

/// A refresh that began before an invalidation is not handed to a call that starts after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_in_flight_is_not_handed_to_a_later_call() {
    for via in [Via::Key, Via::Pattern, Via::Tag, Via::Clear] {
        let cache = Cache::builder().build().unwrap();
        let options = EntryOptions::new()
            .tags(["item", "item:1"])
            .ttl(Duration::from_millis(400))
            .refresh_ahead(0.25);
        let first = cache
            .get_or_load(KEY, &options, || async { Ok::<_, DbError>(1u64) })
            .await;
        assert_eq!(first, Ok(1));
        // Past the refresh point (a quarter of the TTL): the next hit starts a refresh.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let source = Arc::new(AtomicU64::new(1));
        let started = Arc::new(Notify::new());
        let (release, released) = oneshot::channel();
        let hit = cache
            .get_or_load(KEY, &options, held_loader(&source, &started, released))
            .await;
        assert_eq!(hit, Ok(1), "{via:?}: the hit returns at once");
        within(started.notified()).await;

        source.store(2, Ordering::SeqCst);
        invalidate(&cache, via).await;
        let reader = Arc::clone(&source);
        let after = tokio::time::timeout(
            LIMIT,
            cache.get_or_load(KEY, &options, move || async move {
                Ok::<_, DbError>(reader.load(Ordering::SeqCst))
            }),
        )
        .await
        .unwrap_or_else(|_| panic!("{via:?}: the call waited for the older refresh"));
        assert_eq!(
            after,
            Ok(2),
            "{via:?}: a call after the invalidation got the refresh"
        );
        release.send(()).unwrap();
    }
}
