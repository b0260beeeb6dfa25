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

#[tokio::test]
async fn on_a_cluster_two_caches_that_miss_the_same_keys_load_each_once() {
    within_limit(async {
        let cluster = RedisCluster::start().unwrap();
        let nodes = cluster.node_urls();
        let (a, _la) = node(Target::Cluster(&nodes), "lease").await;
        let (b, _lb) = node(Target::Cluster(&nodes), "lease").await;
        let loads = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let options = EntryOptions::new().ttl(Duration::from_secs(60)).tags(["t"]);
        // Twenty keys (spread over the masters), each missed by both caches at once.
        let mut calls = Vec::new();
        for key in 0..20 {
            for cache in [&a, &b] {
                let (cache, loads, options) = (cache.clone(), loads.clone(), options.clone());
                calls.push(tokio::spawn(async move {
                    let key = format!("item:{key}");
                    let value = key.clone();
                    cache
                        .get_or_load(&key, &options, move || async move {
                            loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            Ok::<_, std::io::Error>(value)
                        })
                        .await
                        .unwrap()
                }));
            }
        }
        for call in calls {
            let value = call.await.unwrap();
            assert!(value.starts_with("item:"));
        }
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 20);
        let won = a.stats().leases_won + b.stats().leases_won;
        let waited = a.stats().lease_waits + b.stats().lease_waits;
        assert_eq!((won, waited), (20, 20));
    })
    .await;
}
