//! Helpers: caches on a server, raw clients, bounded waits.

use std::future::Future;
use std::time::Duration;

use cache_core::{Cache, Codec};
use cache_redis::{RedisL2, RedisL2Builder};

/// Every test body runs within this.
pub const TEST_LIMIT: Duration = Duration::from_secs(90);
/// Longest bounded wait for an eventual condition.
pub const WAIT_LIMIT: Duration = Duration::from_secs(15);

/// Runs a test body with an overall limit.
pub async fn within_limit<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_LIMIT, body)
        .await
        .expect("the test did not finish within its limit");
}

/// Polls `check` until it is true; panics with `what` after [`WAIT_LIMIT`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An `RedisL2` on a standalone server or a cluster.
pub enum Target<'a> {
    Url(&'a str),
    Cluster(&'a [String]),
}

/// A cache with its own `RedisL2` (its own connections: a "node"), backplane subscribed.
pub async fn node(target: Target<'_>, namespace: &str) -> (Cache, RedisL2) {
    node_with(target, namespace, Codec::bincode()).await
}

/// [`node`] with a codec.
pub async fn node_with(target: Target<'_>, namespace: &str, codec: Codec) -> (Cache, RedisL2) {
    let builder = match target {
        Target::Url(url) => test_builder().url(url),
        Target::Cluster(nodes) => test_builder().cluster(nodes.iter().cloned()),
    };
    node_from(builder, namespace, codec).await
}

/// The builder settings of every test node: short timeouts and heartbeat.
pub fn test_builder() -> RedisL2Builder {
    RedisL2::builder()
        .operation_timeout(Duration::from_millis(500))
        .heartbeat(Duration::from_millis(300))
        .max_reconnect_backoff(Duration::from_millis(200))
}

/// A cache on the `RedisL2` this builder builds, backplane subscribed.
pub async fn node_from(builder: RedisL2Builder, namespace: &str, codec: Codec) -> (Cache, RedisL2) {
    let l2 = builder.build().await.expect("RedisL2 builds");
    let cache = Cache::builder()
        .namespace(namespace)
        .default_ttl(Duration::from_secs(60))
        .codec(codec)
        .l2(l2.clone())
        .build()
        .expect("cache builds");
    assert!(
        l2.wait_for_backplane(WAIT_LIMIT).await,
        "backplane did not subscribe"
    );
    (cache, l2)
}

/// A raw async connection to a standalone server.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("raw connection")
}

/// A raw async connection to a cluster.
pub async fn raw_cluster(nodes: &[String]) -> redis::cluster_async::ClusterConnection {
    redis::cluster::ClusterClient::new(nodes.to_vec())
        .unwrap()
        .get_async_connection()
        .await
        .expect("raw cluster connection")
}

/// Number of keys on each node of a cluster (or a single server) matching `pattern`.
pub async fn keys_per_node(urls: &[String], pattern: &str) -> Vec<usize> {
    let mut counts = Vec::new();
    for url in urls {
        let mut connection = raw(url).await;
        let mut cursor: u64 = 0;
        let mut count = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .unwrap();
            count += keys.len();
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        counts.push(count);
    }
    counts
}

/// Two caches on one Redis share values through it, and a change by one reaches the other's
/// L1 through the backplane. `key` is used for it.
pub async fn assert_shared_and_coherent(a: &Cache, b: &Cache, key: &str) {
    let options = cache_core::EntryOptions::new();
    a.set(key, "first".to_owned(), &options).await;
    let hits = b.stats().l2_hits;
    assert_eq!(b.get::<String>(key).await.as_deref(), Some("first"));
    assert_eq!(b.stats().l2_hits, hits + 1, "read from Redis");
    assert_eq!(b.get::<String>(key).await.as_deref(), Some("first"));
    a.set(key, "second".to_owned(), &options).await;
    eventually("the change to reach the other L1", || async {
        b.get::<String>(key).await.as_deref() == Some("second")
    })
    .await;
    a.invalidate(key).await;
    eventually("the invalidation to reach the other L1", || async {
        b.get::<String>(key).await.is_none()
    })
    .await;
}

/// Two caches on the `RedisL2`s `builder` makes, checked with [`assert_shared_and_coherent`].
pub async fn coherent_pair(
    builder: impl Fn() -> RedisL2Builder,
    namespace: &str,
) -> (Cache, Cache) {
    let (a, _la) = node_from(builder(), namespace, Codec::bincode()).await;
    let (b, _lb) = node_from(builder(), namespace, Codec::bincode()).await;
    assert_shared_and_coherent(&a, &b, "k").await;
    (a, b)
}

/// Builds a `RedisL2` on `url` with `connect_timeout`; panics unless `build()` returns within
/// twice that.
pub async fn build_within(
    url: &str,
    connect_timeout: Duration,
) -> Result<RedisL2, cache_redis::Error> {
    let build = RedisL2::builder()
        .url(url)
        .connect_timeout(connect_timeout)
        .build();
    tokio::time::timeout(connect_timeout * 2, build)
        .await
        .expect("build returns within the connect timeout")
}
