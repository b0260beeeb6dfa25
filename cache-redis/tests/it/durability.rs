//! Faults that used to lose or amplify something: invalidations while Redis is away (queued,
//! replayed, flushed past the bound), a frozen Redis (circuit breaker), a backplane whose
//! building runtime is gone, and the first load of a freshly built cache.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_core::l2::{
    BoxError, BreakerState, IntoL2, Invalidation, InvalidationSink, L2, L2Context,
};
use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;
use cache_redis::test_util::RedisServer;

use crate::common::{WAIT_LIMIT, eventually, raw, within_limit};

/// A node with small timeouts and the given breaker and queue settings.
async fn node(url: &str, cooldown: Duration, max_pending: usize) -> (Cache, RedisL2) {
    let l2 = RedisL2::builder()
        .url(url)
        .operation_timeout(Duration::from_millis(300))
        .heartbeat(Duration::from_millis(200))
        .max_reconnect_backoff(Duration::from_millis(100))
        .breaker_threshold(3)
        .breaker_cooldown(cooldown)
        .max_pending_invalidations(max_pending)
        .build()
        .await
        .expect("RedisL2 builds");
    let cache = Cache::builder()
        .namespace("d")
        .l2(l2.clone())
        .build()
        .expect("cache builds");
    assert!(l2.backplane_connected(), "build waits for the backplane");
    (cache, l2)
}

/// The version of the "database" a loader reads.
#[derive(Clone, Default)]
struct Source(Arc<AtomicU64>);

impl Source {
    async fn read(&self, cache: &Cache, key: &str) -> String {
        let version = Arc::clone(&self.0);
        let key_text = key.to_owned();
        let options = EntryOptions::new().ttl(Duration::from_secs(600));
        let result: Result<String, std::io::Error> = cache
            .get_or_load(key, &options, move || async move {
                Ok(format!("{key_text} v{}", version.load(Ordering::SeqCst)))
            })
            .await;
        result.expect("a cache failure never reaches the caller")
    }
}

async fn stored(url: &str, key: &str) -> Option<Vec<u8>> {
    let mut redis = raw(url).await;
    redis::cmd("HGET")
        .arg(format!("d:{key}"))
        .arg("v")
        .query_async(&mut redis)
        .await
        .expect("HGET answers")
}

async fn drained(l2_of: &Cache) {
    eventually("the queued invalidations to be replayed", || async {
        l2_of
            .l2_status()
            .is_some_and(|status| status.pending_invalidations == 0)
    })
    .await;
}

#[tokio::test]
async fn an_invalidation_made_while_redis_is_down_is_replayed_after_a_restart_with_aof() {
    within_limit(async {
        let args = ["--appendonly", "yes", "--appendfsync", "always"];
        let mut server = RedisServer::start_with_args(&args).unwrap();
        let url = server.url();
        let (writer, _) = node(&url, Duration::from_millis(200), 100).await;
        let (reader, reader_l2) = node(&url, Duration::from_millis(200), 100).await;
        let source = Source::default();

        assert_eq!(source.read(&writer, "k").await, "k v0");
        assert!(stored(&url, "k").await.is_some(), "written through");
        assert_eq!(source.read(&reader, "k").await, "k v0");

        server.kill();
        source.0.store(1, Ordering::SeqCst);
        writer.invalidate("k").await; // fails in Redis: queued
        assert_eq!(writer.l2_status().unwrap().pending_invalidations, 1);
        assert_eq!(
            source.read(&writer, "k").await,
            "k v1",
            "local L1 invalidated"
        );

        server.restart().unwrap(); // the AOF brings "k v0" back
        drained(&writer).await;
        assert_eq!(
            stored(&url, "k").await,
            None,
            "the replay removed the value the invalidation was about"
        );
        eventually("the reader's backplane", || async {
            reader_l2.backplane_connected()
        })
        .await;
        assert_eq!(source.read(&reader, "k").await, "k v1");
        assert_eq!(source.read(&writer, "k").await, "k v1");
    })
    .await;
}

#[tokio::test]
async fn past_the_queue_bound_a_namespace_flush_hides_everything_older() {
    within_limit(async {
        let args = ["--appendonly", "yes", "--appendfsync", "always"];
        let mut server = RedisServer::start_with_args(&args).unwrap();
        let url = server.url();
        let (writer, _) = node(&url, Duration::from_millis(200), 2).await;
        let source = Source::default();
        for key in ["a", "b", "c", "untouched"] {
            assert_eq!(source.read(&writer, key).await, format!("{key} v0"));
        }

        server.kill();
        source.0.store(1, Ordering::SeqCst);
        writer.invalidate("a").await;
        writer.invalidate("b").await;
        writer.invalidate("c").await; // a third item: the queue becomes one flush
        assert_eq!(writer.l2_status().unwrap().pending_invalidations, 1);

        server.restart().unwrap();
        drained(&writer).await;
        // No scan: the values are still in Redis, hidden by the generation.
        assert!(stored(&url, "a").await.is_some());
        let (reader, _) = node(&url, Duration::from_millis(200), 2).await;
        for key in ["a", "b", "c", "untouched"] {
            assert_eq!(source.read(&reader, key).await, format!("{key} v1"));
        }
        assert_eq!(reader.stats().l2_hits, 0, "every older entry is hidden");
        // What is written after the flush is visible.
        let (late, _) = node(&url, Duration::from_millis(200), 2).await;
        assert_eq!(source.read(&late, "a").await, "a v1");
        assert_eq!(late.stats().l2_hits, 1);
    })
    .await;
}

#[tokio::test]
async fn a_frozen_redis_opens_the_breaker_instead_of_timing_out_every_call() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let url = server.url();
        let (cache, _) = node(&url, Duration::from_millis(500), 100).await;
        let source = Source::default();

        server.pause().unwrap();
        let mut calls = 0u64;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline {
            let key = format!("k{}", calls % 10);
            assert_eq!(source.read(&cache, &key).await, format!("{key} v0"));
            calls += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stats = cache.stats();
        assert_ne!(
            cache.l2_status().unwrap().breaker,
            Some(BreakerState::Closed)
        );
        // 3 failures open it; then one probe per 0.5 s cool-down at most (these calls'
        // and the backplane's own), over about 2 s.
        assert!(stats.l2_errors <= 3 + 6, "{stats:?}");
        assert!(stats.l2_skipped >= 5, "{stats:?} after {calls} calls");
        // The degraded L1 keeps each key's load for 1 s: about one load per key per second
        // (plus one per key when L1 is emptied on the backplane's loss), not one per call.
        assert!(
            calls >= 100 && stats.loads <= 50,
            "{stats:?} after {calls} calls"
        );

        server.resume().unwrap();
        eventually("the breaker to close", || async {
            cache.l2_status().unwrap().breaker == Some(BreakerState::Closed)
        })
        .await;
        let before = cache.stats().l2_errors;
        assert_eq!(source.read(&cache, "fresh").await, "fresh v0");
        assert_eq!(cache.stats().l2_errors, before);
        assert!(
            stored(&url, "fresh").await.is_some(),
            "writes go through again"
        );
    })
    .await;
}

#[test]
fn the_backplane_outlives_the_runtime_that_built_it() {
    let server = RedisServer::start().unwrap();
    let url = server.url();
    let building = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cache, l2) = building.block_on(node(&url, Duration::from_millis(200), 100));
    drop(building);

    let serving = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    serving.block_on(within_limit(async {
        let (peer, _) = node(&url, Duration::from_millis(200), 100).await;
        let source = Source::default();
        assert_eq!(source.read(&cache, "k").await, "k v0");
        assert!(
            l2.backplane_connected(),
            "its thread still proves the subscription"
        );
        // Another node's invalidation still reaches this L1.
        source.0.store(1, Ordering::SeqCst);
        peer.invalidate("k").await;
        eventually("the peer's invalidation to arrive", || async {
            source.read(&cache, "k").await == "k v1"
        })
        .await;
    }));
}

#[tokio::test]
async fn the_first_load_of_a_new_cache_is_written_through() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let url = server.url();
        let (cache, _) = node(&url, Duration::from_millis(200), 100).await;
        let source = Source::default();
        assert_eq!(source.read(&cache, "first").await, "first v0");
        assert!(stored(&url, "first").await.is_some());
        assert_eq!(source.read(&cache, "first").await, "first v0");
        assert_eq!(cache.stats().l1_hits, 1, "and kept in L1");
    })
    .await;
}

#[tokio::test]
async fn a_killed_pubsub_connection_degrades_then_recovers() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let url = server.url();
        let (cache, l2) = node(&url, Duration::from_millis(200), 100).await;
        let (peer, _) = node(&url, Duration::from_millis(200), 100).await;
        let source = Source::default();
        assert_eq!(source.read(&cache, "k").await, "k v0");

        let mut redis = raw(&url).await;
        let killed: u64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(killed >= 2, "both nodes' subscriptions killed");
        tokio::time::timeout(WAIT_LIMIT, async {
            while !l2.backplane_connected() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the backplane resubscribes");
        eventually("the peer to resubscribe", || async {
            peer.backplane_connected() == Some(true)
        })
        .await;
        source.0.store(1, Ordering::SeqCst);
        peer.invalidate("k").await;
        eventually("the invalidation after the resubscription", || async {
            source.read(&cache, "k").await == "k v1"
        })
        .await;
    })
    .await;
}

/// A sink that never hears other processes' invalidations: as if their messages arrived only
/// after this process's write-through.
struct Deaf(Arc<dyn InvalidationSink>);

impl InvalidationSink for Deaf {
    fn invalidate(&self, _invalidation: Invalidation) {}
    fn set_connected(&self, connected: bool) {
        self.0.set_connected(connected);
    }
}

struct DeafL2(RedisL2);

impl IntoL2 for DeafL2 {
    fn into_l2(self, context: L2Context) -> Result<Arc<dyn L2>, BoxError> {
        let sink = Arc::new(Deaf(context.sink()));
        self.0.into_l2(L2Context::new(context.namespace(), sink))
    }
}

/// Where the straddling tests run: a standalone server or a local cluster.
enum Target {
    Server(String),
    Cluster(Vec<String>),
}

impl Target {
    fn builder(&self) -> cache_redis::RedisL2Builder {
        match self {
            Target::Server(url) => RedisL2::builder().url(url),
            Target::Cluster(nodes) => RedisL2::builder().cluster(nodes.iter().cloned()),
        }
    }

    /// A cache on this target that never hears other processes' invalidations.
    async fn deaf_node(&self) -> Cache {
        let l2 = self.builder().build().await.unwrap();
        Cache::builder()
            .namespace("d")
            .l2(DeafL2(l2))
            .build()
            .unwrap()
    }

    async fn node(&self) -> Cache {
        let l2 = self.builder().build().await.unwrap();
        let cache = Cache::builder()
            .namespace("d")
            .l2(l2.clone())
            .build()
            .unwrap();
        assert!(l2.backplane_connected());
        cache
    }

    async fn stored(&self, key: &str) -> bool {
        let command = redis::cmd("HEXISTS")
            .arg(format!("d:{key}"))
            .arg("v")
            .clone();
        match self {
            Target::Server(url) => {
                let mut redis = raw(url).await;
                command.query_async(&mut redis).await.unwrap()
            }
            Target::Cluster(nodes) => {
                let mut redis = crate::common::raw_cluster(nodes).await;
                command.query_async(&mut redis).await.unwrap()
            }
        }
    }
}

/// Runs `get_or_load(key)` on `cache` with a loader that returns "old" only once released,
/// runs `meanwhile` while it waits, and returns what the caller got.
async fn straddle(
    cache: &Cache,
    key: &'static str,
    options: EntryOptions,
    meanwhile: impl Future<Output = ()>,
) -> String {
    let (started, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (release, release_rx) = tokio::sync::oneshot::channel::<()>();
    let cache = cache.clone();
    let load = tokio::spawn(async move {
        let result: Result<String, std::io::Error> = cache
            .get_or_load(key, &options, || async move {
                // Read from the source before the other process's change...
                started.send(()).unwrap();
                release_rx.await.unwrap();
                Ok("old".to_owned())
            })
            .await;
        result.unwrap()
    });
    tokio::time::timeout(WAIT_LIMIT, started_rx)
        .await
        .unwrap()
        .unwrap();
    // ...which changes the source and invalidates, completing before the write-through.
    meanwhile.await;
    release.send(()).unwrap();
    tokio::time::timeout(WAIT_LIMIT, load)
        .await
        .unwrap()
        .unwrap()
}

async fn key_invalidation_keeps_a_straddling_load_out(target: &Target) {
    let slow = target.deaf_node().await;
    let writer = target.node().await;
    let options = EntryOptions::new().ttl(Duration::from_secs(60));
    let raced = straddle(&slow, "raced", options.clone(), writer.invalidate("raced")).await;
    assert_eq!(raced, "old", "the caller still gets its value");
    assert!(!target.stored("raced").await, "not written through");
    let calm = straddle(&slow, "calm", options.clone(), async {}).await;
    assert_eq!(calm, "old");
    assert!(
        target.stored("calm").await,
        "written through without the race"
    );
    let fresh: Result<String, std::io::Error> = writer
        .get_or_load("raced", &options, || async { Ok("new".to_owned()) })
        .await;
    assert_eq!(fresh.unwrap(), "new");
}

async fn tag_invalidation_hides_a_straddling_load(target: &Target) {
    let slow = target.deaf_node().await;
    let writer = target.node().await;
    let options = EntryOptions::new()
        .ttl(Duration::from_secs(60))
        .tags(["group"]);
    let returned = straddle(
        &slow,
        "member",
        options.clone(),
        writer.invalidate_tags(&["group"]),
    )
    .await;
    assert_eq!(returned, "old");
    // Written as of the generation its load read: the tag invalidated since hides it.
    let reader = target.node().await;
    let fresh: Result<String, std::io::Error> = reader
        .get_or_load("member", &options, || async { Ok("new".to_owned()) })
        .await;
    assert_eq!(fresh.unwrap(), "new");
    assert_eq!(reader.stats().l2_hits, 0);
}

#[tokio::test]
async fn a_load_that_straddles_another_process_invalidation_is_not_written_through() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let target = Target::Server(server.url());
        key_invalidation_keeps_a_straddling_load_out(&target).await;
        tag_invalidation_hides_a_straddling_load(&target).await;
    })
    .await;
}

#[tokio::test]
async fn on_a_cluster_too_a_straddling_load_is_kept_out() {
    within_limit(async {
        let cluster = cache_redis::test_util::RedisCluster::start().unwrap();
        let target = Target::Cluster(cluster.node_urls());
        key_invalidation_keeps_a_straddling_load_out(&target).await;
        tag_invalidation_hides_a_straddling_load(&target).await;
    })
    .await;
}
