//! `get_or_load_with`: the loader decides how its value is cached (TTL, tags, stale-if-error
//! window, or not at all), with single-flight and read-your-writes as for `get_or_load`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::common::{DbError, within};
use cache_core::{Cache, EntryOptions, Loaded};
use tokio::sync::{Notify, oneshot};

/// A loader that counts its runs and returns the run number, cached with `options`.
fn counting(
    runs: &Arc<AtomicU64>,
    options: Option<EntryOptions>,
) -> impl FnOnce() -> std::future::Ready<Result<Loaded<u64>, DbError>> + Send + 'static {
    let runs = Arc::clone(runs);
    move || {
        let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
        std::future::ready(Ok(match options {
            Some(options) => Loaded::with_options(run, options),
            None => Loaded::uncached(run),
        }))
    }
}

#[tokio::test]
async fn the_loaders_ttl_and_tags_are_the_entrys() {
    let cache = Cache::builder()
        .default_ttl(Duration::from_secs(600))
        .build()
        .unwrap();
    let runs = Arc::new(AtomicU64::new(0));
    let chosen = || {
        Some(
            EntryOptions::new()
                .ttl(Duration::from_millis(150))
                .tags(["chosen"]),
        )
    };
    let asked = EntryOptions::new();
    let call = |runs| cache.get_or_load_with("k", &asked, counting(runs, chosen()));
    assert_eq!(call(&runs).await, Ok(1));
    assert_eq!(call(&runs).await, Ok(1), "cached");
    cache.invalidate_tags(&["chosen"]).await;
    assert_eq!(call(&runs).await, Ok(2), "the loader's tag invalidates it");
    // The loader's TTL, not the builder's ten minutes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call(&runs).await, Ok(3), "expired after the loader's TTL");
    assert_eq!(cache.stats().loads, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncached_value_reaches_the_waiting_callers_and_is_stored_nowhere() {
    let cache = Cache::builder().build().unwrap();
    let started = Arc::new(Notify::new());
    let (release, released) = oneshot::channel::<()>();
    let leader = {
        let (cache, started) = (cache.clone(), Arc::clone(&started));
        tokio::spawn(async move {
            cache
                .get_or_load_with("k", &EntryOptions::new(), move || async move {
                    started.notify_one();
                    released.await.unwrap();
                    Ok::<_, DbError>(Loaded::uncached(7u64))
                })
                .await
        })
    };
    within(started.notified()).await;
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load_with("k", &EntryOptions::new(), || async {
                    Ok::<_, DbError>(Loaded::uncached(99u64))
                })
                .await
        })
    };
    tokio::task::yield_now().await;
    release.send(()).unwrap();
    assert_eq!(within(leader).await.unwrap(), Ok(7));
    let waited = within(waiter).await.unwrap();
    assert!(waited == Ok(7) || waited == Ok(99), "{waited:?}");
    assert_eq!(cache.get::<u64>("k").await, None, "stored nowhere");
}

#[tokio::test]
async fn an_entrys_own_stale_window_answers_a_failed_reload() {
    // No stale-if-error on the builder: the entry brings its own.
    let cache = Cache::builder().build().unwrap();
    let options = EntryOptions::new()
        .ttl(Duration::from_millis(100))
        .stale_if_error(Duration::from_secs(60));
    let first = cache
        .get_or_load("k", &options, || async { Ok::<_, DbError>(1u64) })
        .await;
    assert_eq!(first, Ok(1));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let reloaded = cache
        .get_or_load("k", &options, || async { Err::<u64, _>(DbError("down")) })
        .await;
    assert_eq!(reloaded, Ok(1), "the stale value within the entry's window");
    assert_eq!(cache.stats().stale_served, 1);

    let without = EntryOptions::new().ttl(Duration::from_millis(100));
    let other = cache
        .get_or_load("other", &without, || async { Ok::<_, DbError>(2u64) })
        .await;
    assert_eq!(other, Ok(2));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let failed = cache
        .get_or_load("other", &without, || async {
            Err::<u64, _>(DbError("down"))
        })
        .await;
    assert_eq!(failed, Err(DbError("down")), "no window, no stale value");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_the_loader_chose_is_honoured_by_a_call_after_its_invalidation() {
    // The flight does not know the tag its value will carry; a tag invalidation during it
    // must still keep its value from a call that starts afterwards.
    let cache = Cache::builder().build().unwrap();
    let source = Arc::new(AtomicU64::new(1));
    let started = Arc::new(Notify::new());
    let (release, released) = oneshot::channel::<()>();
    let tagged = || EntryOptions::new().tags(["chosen"]);
    let held = {
        let (cache, source, started) = (cache.clone(), Arc::clone(&source), Arc::clone(&started));
        tokio::spawn(async move {
            cache
                .get_or_load_with("k", &EntryOptions::new(), move || async move {
                    let version = source.load(Ordering::SeqCst);
                    started.notify_one();
                    released.await.unwrap();
                    Ok::<_, DbError>(Loaded::with_options(version, tagged()))
                })
                .await
        })
    };
    within(started.notified()).await;
    source.store(2, Ordering::SeqCst);
    cache.invalidate_tags(&["chosen"]).await;
    let after = {
        let (cache, source) = (cache.clone(), Arc::clone(&source));
        tokio::spawn(async move {
            cache
                .get_or_load_with("k", &EntryOptions::new(), move || async move {
                    Ok::<_, DbError>(Loaded::with_options(
                        source.load(Ordering::SeqCst),
                        tagged(),
                    ))
                })
                .await
        })
    };
    tokio::task::yield_now().await;
    release.send(()).unwrap();
    assert_eq!(within(held).await.unwrap(), Ok(1));
    assert_eq!(within(after).await.unwrap(), Ok(2));
    assert_eq!(cache.get::<u64>("k").await, Some(2));
}

#[test]
fn the_blocking_twin_takes_the_loaders_options() {
    let cache = Cache::builder().build().unwrap();
    let loaded = cache.get_or_load_with_blocking("k", &EntryOptions::new(), || {
        Ok::<_, DbError>(Loaded::with_options(5u64, EntryOptions::new().tags(["t"])))
    });
    assert_eq!(loaded, Ok(5));
    assert_eq!(cache.get_blocking::<u64>("k"), Some(5));
    cache.invalidate_tags_blocking(&["t"]);
    assert_eq!(cache.get_blocking::<u64>("k"), None);
}
