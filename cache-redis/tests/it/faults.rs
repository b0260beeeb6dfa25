//! Redis returning garbage, dying, freezing and coming back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_core::{Cache, Codec, EntryOptions};
use cache_redis::test_util::RedisServer;

use crate::common::{Target, eventually, node, raw, within_limit};

#[tokio::test]
async fn garbage_and_wrong_types_are_counted_misses() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let (cache, _l2) = node(Target::Url(&server.url()), "g").await;
        let mut redis = raw(&server.url()).await;
        let fingerprint = format!("{:016x}", Codec::bincode().fingerprint::<String>());

        // A string, a list, a hash lacking fields, a hash of undecodable bytes.
        let _: () = redis::cmd("SET")
            .arg("g:string")
            .arg("garbage")
            .query_async(&mut redis)
            .await
            .unwrap();
        let _: () = redis::cmd("LPUSH")
            .arg("g:list")
            .arg("x")
            .query_async(&mut redis)
            .await
            .unwrap();
        let _: () = redis::cmd("HSET")
            .arg("g:partial")
            .arg("v")
            .arg("x")
            .query_async(&mut redis)
            .await
            .unwrap();
        let _: () = redis::cmd("HSET")
            .arg("g:bytes")
            .arg(
                &[
                    ("v", &b"\xff\xff\xff\xff\xff"[..]),
                    // format 1 (bincode), the right fingerprint, an expiry far ahead.
                    ("m", format!("1 {fingerprint} 99999999999999").as_bytes()),
                ][..],
            )
            .query_async(&mut redis)
            .await
            .unwrap();
        let _: () = redis::cmd("PEXPIRE")
            .arg("g:bytes")
            .arg(60_000)
            .query_async(&mut redis)
            .await
            .unwrap();

        let mut errors = 0;
        for key in ["string", "list", "partial", "bytes"] {
            assert_eq!(cache.get::<String>(key).await, None, "{key}");
            let now = cache.stats().l2_errors;
            assert!(now > errors, "a bad value at {key} is counted");
            errors = now;
        }
        // The engine removes the undecodable value (an invalidation marker takes its place).
        let exists: u32 = redis::cmd("HEXISTS")
            .arg("g:bytes")
            .arg("v")
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(exists, 0);

        // A load over a wrong-type key returns the loader's value and repairs the key.
        let value: Result<String, std::io::Error> = cache
            .get_or_load("list", &EntryOptions::new(), || async {
                Ok("fixed".to_string())
            })
            .await;
        assert_eq!(value.unwrap(), "fixed");
        let kind: String = redis::cmd("TYPE")
            .arg("g:list")
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(kind, "hash");
        let (other, _l2) = node(Target::Url(&server.url()), "g").await;
        assert_eq!(other.get::<String>("list").await.as_deref(), Some("fixed"));
    })
    .await;
}

#[tokio::test]
async fn a_redis_error_keeps_the_redis_client_error_as_its_source() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let (cache, _l2) = node(Target::Url(&server.url()), "s").await;
        let mut redis = raw(&server.url()).await;
        let _: () = redis::cmd("LPUSH")
            .arg("s:list")
            .arg("x")
            .query_async(&mut redis)
            .await
            .unwrap();
        let error = cache.inspect("list").await.unwrap_err();
        let l2 = std::error::Error::source(&error).expect("the L2 error");
        let redis_error = l2
            .source()
            .and_then(|source| source.downcast_ref::<redis::RedisError>())
            .expect("the redis-rs error");
        assert_eq!(redis_error.code(), Some("WRONGTYPE"), "{redis_error}");
    })
    .await;
}

async fn load(cache: &Cache, key: &str, loads: &Arc<AtomicU64>) -> String {
    let loads = Arc::clone(loads);
    let value = format!("value of {key}");
    let result: Result<String, std::io::Error> = cache
        .get_or_load(
            key,
            &EntryOptions::new().ttl(Duration::from_secs(60)),
            move || async move {
                loads.fetch_add(1, Ordering::Relaxed);
                Ok(value)
            },
        )
        .await;
    result.expect("a cache failure never reaches the caller")
}

#[tokio::test]
async fn a_killed_redis_degrades_to_the_loader_and_recovers_after_restart() {
    within_limit(async {
        let mut server = RedisServer::start().unwrap();
        let (cache, l2) = node(Target::Url(&server.url()), "k").await;
        let (peer, peer_l2) = node(Target::Url(&server.url()), "k").await;
        let loads = Arc::new(AtomicU64::new(0));

        assert_eq!(load(&cache, "a", &loads).await, "value of a");
        assert_eq!(loads.load(Ordering::Relaxed), 1);

        server.kill();
        eventually("the backplane to notice", || {
            let l2 = l2.clone();
            async move { !l2.backplane_connected() }
        })
        .await;
        // L1 was emptied (it could miss invalidations): "a" is loaded again. Then the
        // degraded L1 keeps each new load for at most `degraded_ttl` (1 s by default): three
        // rounds cost one load per key, not one per call.
        let before = loads.load(Ordering::Relaxed);
        for round in 0..3 {
            assert_eq!(
                load(&cache, "a", &loads).await,
                "value of a",
                "round {round}"
            );
            assert_eq!(load(&cache, "b", &loads).await, "value of b");
        }
        let during = loads.load(Ordering::Relaxed) - before;
        assert!((2..=4).contains(&during), "{during} loads for 6 calls");
        assert!(cache.stats().l2_errors > 0);

        server.restart().unwrap();
        eventually("the backplane to come back", || {
            let (l2, peer_l2) = (l2.clone(), peer_l2.clone());
            async move { l2.backplane_connected() && peer_l2.backplane_connected() }
        })
        .await;

        // L2 is used again: a value the peer writes is an L2 hit here.
        let hits = cache.stats().l2_hits;
        let url = server.url();
        eventually("the peer's write to reach Redis", || {
            let (peer, url) = (peer.clone(), url.clone());
            async move {
                peer.set("c", "from peer".to_string(), &EntryOptions::new())
                    .await;
                let mut redis = raw(&url).await;
                let exists: redis::RedisResult<u32> = redis::cmd("EXISTS")
                    .arg("k:c")
                    .query_async(&mut redis)
                    .await;
                exists.is_ok_and(|n| n == 1)
            }
        })
        .await;
        eventually("an L2 hit after the restart", || {
            let cache = cache.clone();
            async move { cache.get::<String>("c").await.as_deref() == Some("from peer") }
        })
        .await;
        assert!(cache.stats().l2_hits > hits);

        // And the backplane works again: a new write by the peer replaces our L1 copy.
        assert_eq!(cache.get::<String>("c").await.as_deref(), Some("from peer"));
        peer.set("c", "newer".to_string(), &EntryOptions::new())
            .await;
        eventually("the backplane to deliver after the restart", || {
            let cache = cache.clone();
            async move { cache.get::<String>("c").await.as_deref() == Some("newer") }
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_frozen_redis_times_out_and_calls_still_return() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let (cache, l2) = node(Target::Url(&server.url()), "p").await;
        let loads = Arc::new(AtomicU64::new(0));
        assert_eq!(load(&cache, "a", &loads).await, "value of a");

        server.pause().unwrap();
        assert_eq!(load(&cache, "fresh", &loads).await, "value of fresh");
        assert!(cache.stats().l2_errors > 0, "the timeout is counted");
        eventually("the heartbeat to notice the frozen server", || {
            let l2 = l2.clone();
            async move { !l2.backplane_connected() }
        })
        .await;
        assert_eq!(load(&cache, "a", &loads).await, "value of a");

        server.resume().unwrap();
        eventually("the backplane to come back", || {
            let l2 = l2.clone();
            async move { l2.backplane_connected() }
        })
        .await;
        assert_eq!(load(&cache, "a", &loads).await, "value of a");
    })
    .await;
}
