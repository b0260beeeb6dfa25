//! Two caches, each with its own `RedisL2` (two "nodes"): writes and every kind of
//! invalidation in one reach the other's L1.

use std::time::Duration;

use cache_core::{Cache, EntryOptions};
use cache_redis::test_util::RedisServer;

use crate::common::{Target, eventually, keys_per_node, node, raw, within_limit};

async fn sees(cache: &Cache, key: &str, expected: Option<&str>) -> bool {
    cache.get::<String>(key).await.as_deref() == expected
}

/// Puts `value` in `cache`'s L1 through an L2 read, and waits until a read is an L1 hit (a
/// late backplane message about an earlier write may drop the first copy).
async fn warm(cache: &Cache, key: &str, value: &str) {
    eventually(&format!("{key} to be served from L1"), || async {
        assert_eq!(cache.get::<String>(key).await.as_deref(), Some(value));
        let before = cache.stats().l1_hits;
        assert_eq!(cache.get::<String>(key).await.as_deref(), Some(value));
        cache.stats().l1_hits == before + 1
    })
    .await;
}

#[tokio::test]
async fn writes_and_invalidations_reach_the_other_nodes_l1() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let (a, _la) = node(Target::Url(&server.url()), "co").await;
        let (b, _lb) = node(Target::Url(&server.url()), "co").await;
        let options = EntryOptions::new().ttl(Duration::from_secs(60));

        // A write.
        a.set("k", "v1".to_string(), &options).await;
        warm(&b, "k", "v1").await;
        a.set("k", "v2".to_string(), &options).await;
        eventually("B to see A's write", || sees(&b, "k", Some("v2"))).await;

        // A key invalidation.
        warm(&b, "k", "v2").await;
        a.invalidate("k").await;
        eventually("B to drop the invalidated key", || sees(&b, "k", None)).await;

        // A pattern.
        for i in 0..5 {
            a.set(&format!("user:{i}"), format!("u{i}"), &options).await;
        }
        a.set("order:1", "o1".to_string(), &options).await;
        for i in 0..5 {
            warm(&b, &format!("user:{i}"), &format!("u{i}")).await;
        }
        warm(&b, "order:1", "o1").await;
        a.invalidate_pattern("user:*").await;
        for i in 0..5 {
            let key = format!("user:{i}");
            eventually("B to drop keys matching the pattern", || {
                sees(&b, &key, None)
            })
            .await;
        }
        assert!(sees(&b, "order:1", Some("o1")).await);
        let left = keys_per_node(&[server.url()], "co:user:*").await;
        assert_eq!(left, [0], "the pattern removed the keys from Redis");

        // Tags.
        let tagged = |tag: &str| options.clone().tags([tag.to_owned(), "all".to_owned()]);
        a.set("t1", "x".to_string(), &tagged("red")).await;
        a.set("t2", "y".to_string(), &tagged("blue")).await;
        warm(&b, "t1", "x").await;
        warm(&b, "t2", "y").await;
        a.invalidate_tags(&["red"]).await;
        eventually("B to drop the tagged entry", || sees(&b, "t1", None)).await;
        assert!(sees(&b, "t2", Some("y")).await);

        // Clear.
        warm(&b, "t2", "y").await;
        warm(&b, "order:1", "o1").await;
        a.clear().await;
        eventually("B to drop everything", || sees(&b, "t2", None)).await;
        assert!(sees(&b, "order:1", None).await);
        assert_eq!(keys_per_node(&[server.url()], "co:*").await, [0]);

        // B's own writes reach A too.
        a.set("back", "a".to_string(), &options).await;
        warm(&a, "back", "a").await;
        b.set("back", "b".to_string(), &options).await;
        eventually("A to see B's write", || sees(&a, "back", Some("b"))).await;

        assert_eq!(a.stats().l2_errors, 0);
        assert_eq!(b.stats().l2_errors, 0);
    })
    .await;
}

#[tokio::test]
async fn tag_invalidation_hides_entries_in_redis_without_touching_them() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let (a, _la) = node(Target::Url(&server.url()), "tg").await;
        let options = EntryOptions::new()
            .ttl(Duration::from_secs(60))
            .tags(["users"]);
        for i in 0..50 {
            a.set(&format!("u{i}"), i, &options).await;
        }
        a.set("plain", 1u32, &EntryOptions::new()).await;
        a.invalidate_tags(&["users"]).await;

        // The values are still in Redis (no per-key work), yet no process serves them.
        assert_eq!(keys_per_node(&[server.url()], "tg:u*").await, [50]);
        let (fresh, _lf) = node(Target::Url(&server.url()), "tg").await;
        for i in 0..50 {
            assert_eq!(fresh.get::<i32>(&format!("u{i}")).await, None);
        }
        assert_eq!(fresh.get::<u32>("plain").await, Some(1));

        // Entries written after the invalidation are visible.
        a.set("u1", 100, &options).await;
        assert_eq!(fresh.get::<i32>("u1").await, Some(100));

        // The tag key has a TTL (it disappears once no older entry can exist).
        let mut redis = raw(&server.url()).await;
        let pttl: i64 = redis::cmd("PTTL")
            .arg("__lc:{tg}:tag:users")
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(pttl > 60_000, "PTTL {pttl}");
        assert_eq!(fresh.stats().l2_errors, 0);
    })
    .await;
}
