//! The admin API of a cache with a real Redis L2: `/keys` lists L2 keys by SCAN, `/entry`
//! shows the L2 copy, `/stats` counts fleet leases, `/health` turns 503 when Redis is gone.

use std::time::Duration;

use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;
use cache_redis::test_util::RedisServer;
use reqwest::StatusCode;
use serde_json::json;

mod common;
use common::{client, get, serve};

#[tokio::test]
async fn keys_entry_and_health_see_redis() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut server = RedisServer::start().unwrap();
        let l2 = RedisL2::builder()
            .url(server.url())
            .operation_timeout(Duration::from_millis(300))
            .build()
            .await
            .unwrap();
        let cache = Cache::builder()
            .namespace("admin")
            .l2(l2.clone())
            .build()
            .unwrap();
        assert!(l2.wait_for_backplane(Duration::from_secs(10)).await);
        let tagged = EntryOptions::new()
            .tags(["users"])
            .ttl(Duration::from_secs(600));
        cache.set("user:1", "ada".to_owned(), &tagged).await;
        cache.set("user:2", "bob".to_owned(), &tagged).await;
        cache.set("order:1", 1u64, &EntryOptions::new()).await;
        let base = serve(cache.clone()).await;

        let (status, keys) = get(&format!("{base}/keys?pattern=user:*")).await;
        assert_eq!(status, StatusCode::OK, "{keys}");
        assert_eq!(
            keys["l2"],
            json!(["user:1", "user:2"]),
            "namespace stripped"
        );

        // An invalidated key (only its invalidation marker is left in Redis) is not listed.
        cache
            .set("user:3", "eve".to_owned(), &EntryOptions::new())
            .await;
        cache.invalidate("user:3").await;
        let (_, keys) = get(&format!("{base}/keys?pattern=user:*")).await;
        assert_eq!(keys["l2"], json!(["user:1", "user:2"]), "{keys}");

        let (_, entry) = get(&format!("{base}/entry?key=user:1")).await;
        assert_eq!(entry["l2"]["tags"], json!(["users"]));
        let ttl = entry["l2"]["ttl_ms"].as_u64().unwrap();
        assert!(ttl > 500_000 && ttl <= 600_000, "{entry}");
        assert!(entry["l2"]["size"].as_u64().unwrap() > 0);

        let (status, health) = get(&format!("{base}/health")).await;
        assert_eq!(status, StatusCode::OK, "{health}");
        assert_eq!(health["l2"], json!("ok"));
        assert_eq!(health["backplane"], json!("connected"));
        assert_eq!(health["breaker"], json!("closed"));
        assert_eq!(health["pending_invalidations"], json!(0));

        // A miss loaded here took the key's fleet lease: /stats shows the lease counters.
        let loaded: u64 = cache
            .get_or_load("order:2", &EntryOptions::new(), || async {
                Ok::<_, std::convert::Infallible>(2)
            })
            .await
            .unwrap();
        assert_eq!(loaded, 2);
        let (_, stats) = get(&format!("{base}/stats")).await;
        assert_eq!(stats["cache"]["leases_won"], json!(1), "{stats}");
        assert_eq!(stats["cache"]["lease_waits"], json!(0), "{stats}");
        assert_eq!(stats["cache"]["lease_timeouts"], json!(0), "{stats}");

        server.kill();
        let (status, health) = get(&format!("{base}/health")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{health}");
        assert_eq!(health["status"], json!("degraded"));
        assert!(
            health["l2"].as_str().unwrap().starts_with("error"),
            "{health}"
        );
        // An invalidation while Redis is away waits in the queue, and health says so.
        let invalidated = client()
            .post(format!("{base}/invalidate"))
            .json(&json!({"keys": ["user:1"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(invalidated.status(), StatusCode::OK);
        let (_, health) = get(&format!("{base}/health")).await;
        assert_eq!(health["pending_invalidations"], json!(1), "{health}");
    })
    .await
    .expect("the test finished within its limit");
}

#[tokio::test]
async fn keys_and_entry_never_show_what_a_tag_invalidation_or_a_clear_removed_from_redis() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let server = RedisServer::start().unwrap();
        let l2 = RedisL2::builder().url(server.url()).build().await.unwrap();
        let cache = Cache::builder()
            .namespace("hidden")
            .l2(l2.clone())
            .build()
            .unwrap();
        assert!(l2.wait_for_backplane(Duration::from_secs(10)).await);
        let users = EntryOptions::new().tags(["users"]);
        cache.set("user:1", "ada".to_owned(), &users).await;
        cache.set("user:2", "bob".to_owned(), &users).await;
        cache.set("order:1", 1u64, &EntryOptions::new()).await;
        let base = serve(cache.clone()).await;
        let keys = |pattern: &str| {
            let url = format!("{base}/keys?pattern={pattern}");
            async move { get(&url).await.1 }
        };
        assert_eq!(keys("user:*").await["l2"], json!(["user:1", "user:2"]));

        // Redis still holds the tagged entries (tags are checked on read), but no read finds
        // them: neither does the admin API.
        cache.invalidate_tags(&["users"]).await;
        let listed = keys("*").await;
        assert_eq!(listed["l1"], json!(["order:1"]), "{listed}");
        assert_eq!(listed["l2"], json!(["order:1"]), "{listed}");
        let (_, entry) = get(&format!("{base}/entry?key=user:1")).await;
        assert_eq!(
            (entry["l1"].clone(), entry["l2"].clone()),
            (json!(null), json!(null))
        );

        // A clear (a namespace flush in Redis) hides everything.
        cache.clear().await;
        let listed = keys("*").await;
        assert_eq!(
            (listed["l1"].clone(), listed["l2"].clone()),
            (json!([]), json!([]))
        );
        let (_, entry) = get(&format!("{base}/entry?key=order:1")).await;
        assert_eq!(entry["l2"], json!(null), "{entry}");
    })
    .await
    .expect("the test finished within its limit");
}
