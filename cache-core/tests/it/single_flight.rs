//! Single-flight: one load per key, cancellation and panics never leave waiters hanging.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{DbError, within};
use cache_core::{Cache, EntryOptions};
use tokio::sync::Notify;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_misses_run_the_loader_once() {
    let cache = Cache::builder().build().unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_load("cold", &EntryOptions::new(), move || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, DbError>(42u64)
                })
                .await
        }));
    }
    for task in tasks {
        assert_eq!(within(task).await.unwrap(), Ok(42));
    }
    let stats = cache.stats();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(stats.loads, 1);
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.coalesced + stats.l1_hits, 999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_leader_hands_over_to_a_waiter() {
    let cache = Cache::builder().build().unwrap();
    let leader_started = Arc::new(Notify::new());
    let leader = {
        let (cache, started) = (cache.clone(), Arc::clone(&leader_started));
        tokio::spawn(async move {
            cache
                .get_or_load("k", &EntryOptions::new(), move || async move {
                    started.notify_one();
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok::<_, DbError>(1u32)
                })
                .await
        })
    };
    within(leader_started.notified()).await;
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_load("k", &EntryOptions::new(), || async {
                        Ok::<_, DbError>(2u32)
                    })
                    .await
            })
        })
        .collect();
    // Let the waiters join the flight, then cancel the leader.
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    for waiter in waiters {
        assert_eq!(within(waiter).await.unwrap(), Ok(2));
    }
    assert_eq!(cache.stats().loads, 2, "the leader's load and one takeover");
    assert_eq!(cache.get::<u32>("k").await, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_loader_leaves_waiters_to_load_themselves() {
    let cache = Cache::builder().build().unwrap();
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let leader = {
        let (cache, started, release) = (cache.clone(), Arc::clone(&started), Arc::clone(&release));
        tokio::spawn(async move {
            cache
                .get_or_load("k", &EntryOptions::new(), move || async move {
                    started.notify_one();
                    release.notified().await;
                    panic!("loader bug");
                    #[allow(unreachable_code)]
                    Ok::<String, DbError>(String::new())
                })
                .await
        })
    };
    within(started.notified()).await;
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_load("k", &EntryOptions::new(), || async {
                    Ok::<_, DbError>("fine".to_string())
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.notify_one();
    let panicked = within(leader).await;
    assert!(
        panicked.unwrap_err().is_panic(),
        "the panic reaches the caller whose loader panicked"
    );
    assert_eq!(within(waiter).await.unwrap(), Ok("fine".to_string()));
    assert_eq!(cache.get::<String>("k").await.as_deref(), Some("fine"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_returned_untouched_and_not_cached() {
    let cache = Cache::builder().build().unwrap();
    let first = cache
        .get_or_load("k", &EntryOptions::new(), || async {
            Err::<u32, _>(DbError("down"))
        })
        .await;
    assert_eq!(first, Err(DbError("down")));
    let second = cache
        .get_or_load("k", &EntryOptions::new(), || async {
            Ok::<u32, DbError>(7)
        })
        .await;
    assert_eq!(second, Ok(7));
    let stats = cache.stats();
    assert_eq!((stats.loads, stats.load_errors, stats.misses), (2, 1, 2));
}
