//! The same behaviour on a local three-master Redis Cluster.

use std::time::Duration;

use cache_core::EntryOptions;
use cache_redis::test_util::RedisCluster;

use crate::common::{Target, eventually, keys_per_node, node, raw_cluster, within_limit};

#[tokio::test]
async fn cluster_tags_patterns_clear_and_backplane() {
    within_limit(async {
        let cluster = RedisCluster::start().unwrap();
        let nodes = cluster.node_urls();
        let (a, la) = node(Target::Cluster(&nodes), "cl").await;
        let (b, _lb) = node(Target::Cluster(&nodes), "cl").await;
        assert!(la.is_cluster());
        let options = EntryOptions::new().ttl(Duration::from_secs(60));

        // Keys spread over every master.
        for i in 0..60 {
            let tag = if i % 2 == 0 { "even" } else { "odd" };
            a.set(&format!("user:{i}"), i, &options.clone().tags([tag]))
                .await;
            a.set(&format!("order:{i}"), i, &options).await;
        }
        let per_node = keys_per_node(&nodes, "cl:user:*").await;
        assert_eq!(per_node.iter().sum::<usize>(), 60);
        assert!(
            per_node.iter().all(|&n| n > 0),
            "keys on every master: {per_node:?}"
        );
        let mut raw = raw_cluster(&nodes).await;
        let pttl: i64 = redis::cmd("PTTL")
            .arg("cl:user:3")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(pttl > 0 && pttl <= 60_000);

        // The other node reads them (L2 hits), then holds them in L1.
        for i in 0..60 {
            assert_eq!(b.get::<i32>(&format!("user:{i}")).await, Some(i));
        }
        assert_eq!(b.stats().l2_hits, 60);

        // Tags: hidden in Redis and dropped from the other L1.
        a.invalidate_tags(&["even"]).await;
        for i in (0..60).step_by(2) {
            let key = format!("user:{i}");
            eventually("B to drop even users", || {
                let (b, key) = (b.clone(), key.clone());
                async move { b.get::<i32>(&key).await.is_none() }
            })
            .await;
        }
        assert_eq!(b.get::<i32>("user:1").await, Some(1));
        let (fresh, _lf) = node(Target::Cluster(&nodes), "cl").await;
        assert_eq!(fresh.get::<i32>("user:2").await, None);
        assert_eq!(fresh.get::<i32>("user:3").await, Some(3));
        a.set("user:2", 200, &options.clone().tags(["even"])).await;
        assert_eq!(fresh.get::<i32>("user:2").await, Some(200));

        // Patterns: SCAN + UNLINK on every master.
        a.invalidate_pattern("order:*").await;
        assert_eq!(keys_per_node(&nodes, "cl:order:*").await, [0, 0, 0]);
        assert!(
            keys_per_node(&nodes, "cl:user:*")
                .await
                .iter()
                .sum::<usize>()
                > 0
        );

        // Clear: every master, and the other node's L1.
        assert_eq!(b.get::<i32>("user:5").await, Some(5));
        a.clear().await;
        assert_eq!(keys_per_node(&nodes, "cl:*").await, [0, 0, 0]);
        eventually("B to drop everything", || {
            let b = b.clone();
            async move { b.get::<i32>("user:5").await.is_none() }
        })
        .await;
        for cache in [&a, &b, &fresh] {
            assert_eq!(cache.stats().l2_errors, 0);
        }
    })
    .await;
}
