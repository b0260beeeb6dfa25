//! Batches in process (L1 only; with Redis in `cache-redis`): one loader call with only the
//! keys found nowhere, keys the loader leaves out, loader errors, stats per key, and the
//! single-flight a batch shares with single-key calls and with other batches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{DbError, within};
use cache_core::{Cache, EntryOptions, MAX_BATCH_LOAD};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

/// What a loader was called with, call by call.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Vec<String>>>>);

impl Calls {
    fn record(&self, keys: &[String]) {
        let mut keys = keys.to_vec();
        keys.sort();
        self.0.lock().push(keys);
    }

    fn taken(&self) -> Vec<Vec<String>> {
        self.0.lock().clone()
    }
}

/// The value a loader gives `key`.
fn value_of(key: &str) -> String {
    format!("loaded {key}")
}

/// A loader that records its calls and returns `value_of` each key but those in `leave_out`.
fn loader(
    calls: &Calls,
    leave_out: &'static [&'static str],
) -> impl FnMut(Vec<String>) -> std::future::Ready<Result<HashMap<String, String>, DbError>> {
    let calls = calls.clone();
    move |keys: Vec<String>| {
        calls.record(&keys);
        let values = keys
            .into_iter()
            .filter(|key| !leave_out.contains(&key.as_str()))
            .map(|key| (key.clone(), value_of(&key)))
            .collect();
        std::future::ready(Ok(values))
    }
}

fn names(keys: &[&str]) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn one_loader_call_with_only_the_keys_found_nowhere() {
    let cache = Cache::builder().build().unwrap();
    let options = EntryOptions::new();
    cache.set("u:1", "cached 1".to_string(), &options).await;
    let calls = Calls::default();
    let keys = ["u:1", "u:2", "u:3", "u:2"];
    let found = cache
        .get_or_load_many(&keys, &options, loader(&calls, &[]))
        .await
        .unwrap();
    assert_eq!(calls.taken(), [names(&["u:2", "u:3"])]);
    assert_eq!(found.len(), 3);
    assert_eq!(found["u:1"], "cached 1");
    assert_eq!(found["u:3"], value_of("u:3"));
    let stats = cache.stats();
    assert_eq!(
        (stats.l1_hits, stats.misses, stats.loads),
        (1, 2, 2),
        "counted per key"
    );
    // Ordinary entries: a single-key read sees them, and the next batch loads nothing.
    assert_eq!(cache.get::<String>("u:2").await, Some(value_of("u:2")));
    let again = cache
        .get_or_load_many(&keys, &options, loader(&calls, &[]))
        .await
        .unwrap();
    assert_eq!(again, found);
    assert_eq!(calls.taken().len(), 1, "everything was cached");
    assert_eq!(cache.stats().l1_hits, 1 + 1 + 3);
}

#[tokio::test]
async fn keys_the_loader_leaves_out_are_neither_cached_nor_returned() {
    let cache = Cache::builder().build().unwrap();
    let calls = Calls::default();
    let keys = ["a", "b", "c"];
    let options = EntryOptions::new();
    let found = cache
        .get_or_load_many(&keys, &options, loader(&calls, &["b"]))
        .await
        .unwrap();
    assert_eq!(found.keys().count(), 2);
    assert!(!found.contains_key("b"));
    assert_eq!(cache.get::<String>("b").await, None);
    // Asked again: only the missing key goes to the loader.
    let found = cache
        .get_or_load_many(&keys, &options, loader(&calls, &[]))
        .await
        .unwrap();
    assert_eq!(found["b"], value_of("b"));
    assert_eq!(calls.taken(), [names(&keys), names(&["b"])]);
}

#[tokio::test]
async fn a_loader_error_is_returned_and_nothing_is_cached() {
    let cache = Cache::builder().build().unwrap();
    let options = EntryOptions::new();
    let failed = cache
        .get_or_load_many(&["a", "b"], &options, |_keys: Vec<String>| async {
            Err::<HashMap<String, u32>, _>(DbError("down"))
        })
        .await;
    assert_eq!(failed, Err(DbError("down")));
    assert_eq!(cache.get_many::<u32>(&["a", "b"]).await.len(), 0);
    let stats = cache.stats();
    assert_eq!((stats.loads, stats.load_errors), (2, 2), "per key");
    let calls = Calls::default();
    let found = cache
        .get_or_load_many(&["a", "b"], &options, loader(&calls, &[]))
        .await
        .unwrap();
    assert_eq!(found.len(), 2, "the next call loads them");
}

#[tokio::test]
async fn more_keys_than_the_maximum_take_one_call_per_chunk() {
    let cache = Cache::builder().l1_max_capacity(10_000).build().unwrap();
    let texts: Vec<String> = (0..MAX_BATCH_LOAD * 2 + 5)
        .map(|i| format!("k:{i}"))
        .collect();
    let keys: Vec<&str> = texts.iter().map(String::as_str).collect();
    let calls = Calls::default();
    let found = cache
        .get_or_load_many(&keys, &EntryOptions::new(), loader(&calls, &[]))
        .await
        .unwrap();
    assert_eq!(found.len(), keys.len());
    let sizes: Vec<usize> = calls.taken().iter().map(Vec::len).collect();
    assert_eq!(sizes, [MAX_BATCH_LOAD, MAX_BATCH_LOAD, 5]);
}

#[tokio::test]
async fn set_many_and_get_many_are_the_keyed_api_for_many_keys() {
    let cache = Cache::builder().build().unwrap();
    let options = EntryOptions::new().tags(["t"]);
    cache
        .set_many(&[("x", 1u32), ("y", 2), ("x", 3)], &options)
        .await;
    assert_eq!(cache.get::<u32>("x").await, Some(3), "the last value wins");
    let found = cache.get_many::<u32>(&["x", "y", "z"]).await;
    assert_eq!(found, HashMap::from([("x".into(), 3), ("y".into(), 2)]));
    assert_eq!(
        cache.get_many::<String>(&["x"]).await.len(),
        0,
        "another type"
    );
    cache.invalidate_tags(&["t"]).await;
    assert_eq!(cache.get_many::<u32>(&["x", "y"]).await.len(), 0);
}

/// What a held loader's call returns.
type HeldCall = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<HashMap<String, String>, DbError>> + Send>,
>;

/// A loader held until the test releases it: it reports the keys it was called with.
fn held_loader(
    started: mpsc::UnboundedSender<Vec<String>>,
    release: oneshot::Receiver<()>,
) -> impl FnMut(Vec<String>) -> HeldCall {
    let mut release = Some(release);
    move |keys: Vec<String>| {
        let started = started.clone();
        let release = release.take();
        Box::pin(async move {
            let _ = started.send(keys.clone());
            if let Some(release) = release {
                let _ = release.await;
            }
            Ok(keys
                .into_iter()
                .map(|key| {
                    let value = value_of(&key);
                    (key, value)
                })
                .collect())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_a_single_key_call_is_loading_is_awaited_not_loaded_again() {
    let cache = Cache::builder().build().unwrap();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (release, held) = oneshot::channel();
    let single = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load("k2", &EntryOptions::new(), move || async move {
                    let _ = started_tx.send(vec!["k2".to_owned()]);
                    let _ = held.await;
                    Ok::<_, DbError>("from the single call".to_string())
                })
                .await
        })
    };
    within(started.recv()).await;
    let calls = Calls::default();
    let batch = {
        let (cache, calls) = (cache.clone(), calls.clone());
        tokio::spawn(async move {
            cache
                .get_or_load_many(
                    &["k1", "k2", "k3"],
                    &EntryOptions::new(),
                    loader(&calls, &[]),
                )
                .await
        })
    };
    // The batch loads its own keys, then waits for k2.
    crate::common::eventually(|| calls.taken().len() == 1).await;
    assert_eq!(calls.taken(), [names(&["k1", "k3"])]);
    assert!(!batch.is_finished());
    release.send(()).unwrap();
    let found = within(batch).await.unwrap().unwrap();
    assert_eq!(found["k2"], "from the single call");
    assert_eq!(found.len(), 3);
    assert!(within(single).await.unwrap().is_ok());
    let stats = cache.stats();
    assert_eq!((stats.loads, stats.coalesced), (3, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_batches_load_each_key_once() {
    let cache = Cache::builder().build().unwrap();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (release, held) = oneshot::channel();
    let first = {
        let cache = cache.clone();
        let loader = held_loader(started_tx, held);
        tokio::spawn(async move {
            cache
                .get_or_load_many(&["a", "b"], &EntryOptions::new(), loader)
                .await
        })
    };
    let mut first_keys = within(started.recv()).await.unwrap();
    first_keys.sort();
    assert_eq!(first_keys, names(&["a", "b"]));
    let calls = Calls::default();
    let second = {
        let (cache, calls) = (cache.clone(), calls.clone());
        tokio::spawn(async move {
            cache
                .get_or_load_many(&["b", "c"], &EntryOptions::new(), loader(&calls, &[]))
                .await
        })
    };
    crate::common::eventually(|| calls.taken().len() == 1).await;
    assert_eq!(calls.taken(), [names(&["c"])], "b is the first batch's");
    release.send(()).unwrap();
    let second = within(second).await.unwrap().unwrap();
    assert_eq!(second["b"], value_of("b"));
    assert_eq!(within(first).await.unwrap().unwrap().len(), 2);
    assert_eq!(cache.stats().loads, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_whose_other_load_fails_is_loaded_by_the_batch() {
    let cache = Cache::builder().build().unwrap();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (release, held) = oneshot::channel::<()>();
    let single = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load("k2", &EntryOptions::new(), move || async move {
                    let _ = started_tx.send(());
                    let _ = held.await;
                    Err::<String, _>(DbError("down"))
                })
                .await
        })
    };
    within(started.recv()).await;
    let calls = Calls::default();
    let batch = {
        let (cache, calls) = (cache.clone(), calls.clone());
        tokio::spawn(async move {
            cache
                .get_or_load_many(&["k1", "k2"], &EntryOptions::new(), loader(&calls, &[]))
                .await
        })
    };
    crate::common::eventually(|| calls.taken().len() == 1).await;
    release.send(()).unwrap();
    assert_eq!(within(single).await.unwrap(), Err(DbError("down")));
    let found = within(batch).await.unwrap().unwrap();
    assert_eq!(found["k2"], value_of("k2"));
    assert_eq!(calls.taken(), [names(&["k1"]), names(&["k2"])]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_the_load_keeps_its_value_out_of_the_cache() {
    let cache = Cache::builder().build().unwrap();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (release, held) = oneshot::channel();
    let batch = {
        let cache = cache.clone();
        let loader = held_loader(started_tx, held);
        tokio::spawn(async move {
            cache
                .get_or_load_many(&["a", "b"], &EntryOptions::new(), loader)
                .await
        })
    };
    within(started.recv()).await;
    cache.invalidate("a").await;
    release.send(()).unwrap();
    let found = within(batch).await.unwrap().unwrap();
    assert_eq!(found.len(), 2, "the caller still gets what it loaded");
    assert_eq!(
        cache.get::<String>("a").await,
        None,
        "no stale resurrection"
    );
    assert_eq!(cache.get::<String>("b").await, Some(value_of("b")));
}

#[test]
fn the_blocking_twins_on_a_plain_thread() {
    let cache = Cache::builder().build().unwrap();
    let options = EntryOptions::new().ttl(Duration::from_secs(60));
    cache.set_many_blocking(&[("a", 1u64)], &options);
    let found = cache
        .get_or_load_many_blocking(&["a", "b"], &options, |keys: Vec<String>| {
            assert_eq!(keys, ["b"]);
            Ok::<_, DbError>(keys.into_iter().map(|key| (key, 2u64)).collect())
        })
        .unwrap();
    assert_eq!(found, HashMap::from([("a".into(), 1), ("b".into(), 2)]));
    assert_eq!(cache.get_many_blocking::<u64>(&["a", "b", "c"]).len(), 2);
}

#[tokio::test]
async fn a_batch_serves_what_a_cached_function_holds_and_follows_its_tags() {
    static CACHE: std::sync::LazyLock<Cache> =
        std::sync::LazyLock::new(|| Cache::builder().build().unwrap());

    #[cache_core::cached(cache = CACHE, key_prefix = "user", tags = ["users"])]
    async fn user(id: u64) -> String {
        value_of(&format!("user:{id}"))
    }

    within(user(1)).await;
    let calls = Calls::default();
    let options = EntryOptions::new();
    let found =
        within(CACHE.get_or_load_many(&["user:1", "user:2"], &options, loader(&calls, &[])))
            .await
            .unwrap();
    assert_eq!(found["user:1"], value_of("user:1"));
    assert_eq!(calls.taken(), [names(&["user:2"])]);

    // Served, not copied: the function's tags still cover what the batch returned.
    CACHE.invalidate_tags(&["users"]).await;
    within(CACHE.get_or_load_many(&["user:1"], &options, loader(&calls, &[])))
        .await
        .unwrap();
    assert_eq!(calls.taken(), [names(&["user:2"]), names(&["user:1"])]);
}
