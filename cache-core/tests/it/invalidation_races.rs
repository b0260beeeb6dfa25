//! Races between loads and invalidations: a write followed by an invalidation must never leave
//! an older value cached, whatever the interleaving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::common::{DbError, within};
use cache_core::{Cache, EntryOptions};

/// How the writer invalidates after each write.
#[derive(Clone, Copy, Debug)]
enum Via {
    Key,
    Pattern,
    Tag,
    Clear,
}

async fn invalidate(cache: &Cache, via: Via) {
    match via {
        Via::Key => cache.invalidate("item:1").await,
        Via::Pattern => cache.invalidate_pattern("item:*").await,
        Via::Tag => cache.invalidate_tags(&["item"]).await,
        Via::Clear => cache.clear().await,
    }
}

/// Readers load `item:1` from a "database" version while a writer bumps the version and
/// invalidates, 200 times. Loads take a varying few hundred microseconds, so many straddle an
/// invalidation. Once the writer is done, every read must see the last version.
async fn no_stale_value_survives(via: Via) {
    let cache = Cache::builder().build().unwrap();
    let database = Arc::new(AtomicU64::new(0));
    let writing = Arc::new(AtomicBool::new(true));
    let options = EntryOptions::new()
        .tags(["item"])
        .ttl(Duration::from_secs(600));

    let readers: Vec<_> = (0..4u64)
        .map(|reader| {
            let (cache, database, writing, options) = (
                cache.clone(),
                Arc::clone(&database),
                Arc::clone(&writing),
                options.clone(),
            );
            tokio::spawn(async move {
                let mut round = 0u64;
                while writing.load(Ordering::SeqCst) {
                    round += 1;
                    let database = Arc::clone(&database);
                    let pause = Duration::from_micros(50 + (round * 7 + reader * 13) % 400);
                    cache
                        .get_or_load("item:1", &options, move || async move {
                            let version = database.load(Ordering::SeqCst);
                            tokio::time::sleep(pause).await;
                            Ok::<_, DbError>(version)
                        })
                        .await
                        .unwrap();
                    // A hit completes without awaiting anything: yield so the writer runs.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    for _ in 0..200 {
        database.fetch_add(1, Ordering::SeqCst);
        invalidate(&cache, via).await;
        tokio::time::sleep(Duration::from_micros(300)).await;
    }
    writing.store(false, Ordering::SeqCst);
    for reader in readers {
        within(reader).await.unwrap();
    }

    let last = database.load(Ordering::SeqCst);
    let seen =
        within(cache.get_or_load(
            "item:1",
            &options,
            move || async move { Ok::<_, DbError>(last) },
        ))
        .await
        .unwrap();
    assert_eq!(
        seen, last,
        "a value older than the last invalidation stayed cached ({via:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_invalidation_races() {
    no_stale_value_survives(Via::Key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_invalidation_races() {
    no_stale_value_survives(Via::Pattern).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_invalidation_races() {
    no_stale_value_survives(Via::Tag).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_races() {
    no_stale_value_survives(Via::Clear).await;
}
