//! Error isolation on the L2 seam, with a small in-process double (real Redis is tested in
//! `cache-redis`): a failing, slow or garbage-returning L2 never fails the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::DbError;
use cache_core::l2::{BoxFuture, L2, L2Entry, L2Error, L2ErrorKind, L2Write, StoredValue};
use cache_core::{Cache, EntryOptions};
use parking_lot::Mutex;

/// How the double misbehaves.
#[derive(Clone, Copy)]
enum Fault {
    /// Every operation fails after a short delay on the tokio timer.
    Down,
    /// Reads return bytes that are not a valid value of the reader's type.
    Garbage,
    /// Every operation is skipped, as the L2 says with an error of this kind.
    Skipped(L2ErrorKind),
}

#[derive(Clone)]
struct FaultyL2 {
    fault: Fault,
    calls: Arc<AtomicUsize>,
    removed: Arc<Mutex<Vec<String>>>,
}

impl FaultyL2 {
    fn new(fault: Fault) -> Self {
        Self {
            fault,
            calls: Arc::default(),
            removed: Arc::default(),
        }
    }

    fn answer<'a, T: Send + 'a>(&'a self, ok: T) -> BoxFuture<'a, Result<T, L2Error>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = self.fault;
        Box::pin(async move {
            match fault {
                Fault::Down => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    Err(L2Error::new(L2ErrorKind::Connection, "connection refused"))
                }
                Fault::Garbage => Ok(ok),
                Fault::Skipped(kind) => Err(L2Error::new(kind, "skipped")),
            }
        })
    }
}

impl L2 for FaultyL2 {
    fn get<'a>(
        &'a self,
        _key: &'a str,
        _tags: &'a [String],
    ) -> BoxFuture<'a, Result<Option<L2Entry>, L2Error>> {
        // The right fingerprint for u32 under the default codec, with undecodable bytes.
        let value = StoredValue {
            fingerprint: cache_core::Codec::default().fingerprint::<u32>(),
            format: cache_core::FORMAT_BINCODE,
            payload: vec![0xff, 0xff],
        };
        self.answer(Some(L2Entry {
            value,
            ttl: Duration::from_secs(60),
            tags: Vec::new(),
        }))
    }
    fn set<'a>(&'a self, _key: &'a str, _write: L2Write<'a>) -> BoxFuture<'a, Result<(), L2Error>> {
        self.answer(())
    }
    fn invalidate<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
        self.removed
            .lock()
            .extend(keys.iter().map(|k| k.to_string()));
        self.answer(())
    }
    fn invalidate_pattern<'a>(&'a self, _pattern: &'a str) -> BoxFuture<'a, Result<(), L2Error>> {
        self.answer(())
    }
    fn invalidate_tags<'a>(&'a self, _tags: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
        self.answer(())
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        self.answer(())
    }
    fn health(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        self.answer(())
    }
}

/// An L2 whose every operation fails (other tests use it to provoke warnings).
pub fn failing_l2() -> impl L2 {
    FaultyL2::new(Fault::Down)
}

/// A miss of "k" whose loader returns 5.
async fn load_five(cache: &Cache) -> Result<u32, DbError> {
    cache
        .get_or_load("k", &EntryOptions::new(), || async { Ok(5u32) })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_l2_is_counted_and_skipped() {
    let l2 = FaultyL2::new(Fault::Down);
    let cache = Cache::builder().l2(l2.clone()).build().unwrap();
    assert_eq!(load_five(&cache).await, Ok(5));
    assert_eq!(cache.get::<u32>("k").await, Some(5), "served from L1");
    cache.invalidate("k").await;
    assert_eq!(
        cache.get::<u32>("k").await,
        None,
        "L1 invalidated even though L2 failed"
    );
    let stats = cache.stats();
    // get (read), set (write-through), invalidate, then the last get's read.
    assert_eq!(stats.l2_errors, 4);
    assert!(cache.health().await.is_err());
}

#[tokio::test]
async fn garbage_from_l2_is_a_counted_miss_and_is_removed() {
    let l2 = FaultyL2::new(Fault::Garbage);
    let cache = Cache::builder().l2(l2.clone()).build().unwrap();
    assert_eq!(load_five(&cache).await, Ok(5));
    let stats = cache.stats();
    assert_eq!((stats.l2_errors, stats.l2_hits, stats.loads), (1, 0, 1));
    assert_eq!(*l2.removed.lock(), ["k"]);
}

#[tokio::test]
async fn skipped_calls_are_counted_apart_from_errors_whichever_the_reason() {
    for kind in [L2ErrorKind::CircuitOpen, L2ErrorKind::Replaying] {
        let cache = Cache::builder()
            .l2(FaultyL2::new(Fault::Skipped(kind)))
            .build()
            .unwrap();
        assert_eq!(load_five(&cache).await, Ok(5));
        cache.invalidate_tags(&["t"]).await;
        let stats = cache.stats();
        // The read, the write-through and the invalidation.
        assert_eq!((stats.l2_skipped, stats.l2_errors), (3, 0), "{kind:?}");
    }
}

/// The blocking twins drive the async L2 in every context.
fn blocking_with_down_l2() {
    let l2 = FaultyL2::new(Fault::Down);
    let cache = Cache::builder().l2(l2.clone()).build().unwrap();
    let value = cache.get_or_load_blocking("k", &EntryOptions::new(), || Ok::<_, DbError>(7u32));
    assert_eq!(value, Ok(7));
    cache.invalidate_blocking("k");
    assert!(cache.health_blocking().is_err());
    assert_eq!(cache.stats().l2_errors, 3);
    assert_eq!(l2.calls.load(Ordering::SeqCst), 4);
}

#[test]
fn blocking_l2_calls_on_a_plain_thread() {
    blocking_with_down_l2();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_l2_calls_in_a_multi_thread_runtime() {
    blocking_with_down_l2();
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_l2_calls_in_a_current_thread_runtime() {
    blocking_with_down_l2();
}

/// Batches go through the L2's batch methods, here the trait's defaults (one call per key).
#[tokio::test]
async fn a_batch_against_an_unreachable_l2_loads_and_counts_each_key() {
    let l2 = FaultyL2::new(Fault::Down);
    let cache = Cache::builder().l2(l2.clone()).build().unwrap();
    let found = cache
        .get_or_load_many(
            &["a", "b"],
            &EntryOptions::new(),
            |keys: Vec<String>| async {
                Ok::<_, DbError>(keys.into_iter().map(|key| (key, 1u32)).collect())
            },
        )
        .await;
    assert_eq!(found.map(|found| found.len()), Ok(2));
    assert_eq!(cache.get_many::<u32>(&["a", "b"]).await.len(), 2, "from L1");
    let stats = cache.stats();
    // Per key: the read before the load and the write-through.
    assert_eq!((stats.l2_errors, stats.loads), (4, 2));
}

#[tokio::test]
async fn garbage_read_by_a_batch_is_a_counted_miss_and_is_removed() {
    let l2 = FaultyL2::new(Fault::Garbage);
    let cache = Cache::builder().l2(l2.clone()).build().unwrap();
    assert_eq!(cache.get_many::<u32>(&["a", "b"]).await.len(), 0);
    let stats = cache.stats();
    assert_eq!((stats.l2_errors, stats.misses), (2, 2));
    assert_eq!(*l2.removed.lock(), ["a", "b"]);
}
