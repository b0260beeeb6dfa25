//! Changes Redis answers with an error (a namespace generation key of the wrong type, a
//! command the ACL user may not run): they are counted, no call panics or fails, and every
//! other process's L1 still drops what was invalidated or overwritten.

use std::time::Duration;

use cache_core::{Cache, EntryOptions, Level};
use cache_redis::test_util::RedisServer;

use crate::common::{Target, eventually, node, raw, within_limit};

/// Reads `key` through `cache`, loading `loaded` on a miss.
async fn read(cache: &Cache, key: &str, options: &EntryOptions, loaded: &str) -> String {
    let loaded = loaded.to_owned();
    let result: Result<String, std::io::Error> = cache
        .get_or_load(key, options, || async move { Ok(loaded) })
        .await;
    result.expect("a cache failure never reaches the caller")
}

/// Reads `key` until `cache` serves `value` from its L1.
async fn warm(cache: &Cache, key: &str, options: &EntryOptions, value: &str) {
    eventually(&format!("{key} to be served from L1"), || async {
        assert_eq!(read(cache, key, options, value).await, value);
        let before = cache.stats().l1_hits;
        assert_eq!(read(cache, key, options, "a load").await, value);
        cache.stats().l1_hits == before + 1
    })
    .await;
}

/// Waits until `cache` no longer serves `old` for `key` (the loader would now give `new`).
async fn dropped(cache: &Cache, key: &str, options: &EntryOptions, old: &str, new: &str) {
    eventually(&format!("the other node to drop {key}"), || async {
        let value = read(cache, key, options, new).await;
        assert!(value == old || value == new, "{key}: {value}");
        value == new
    })
    .await;
}

/// Replaces the namespace's generation hash with a key of another type.
async fn corrupt_generation(url: &str, namespace: &str, command: &str) {
    let gen_key = format!("__lc:{{{namespace}}}:gen");
    let mut redis = raw(url).await;
    let _: () = redis::cmd("DEL")
        .arg(&gen_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: () = redis::cmd(command)
        .arg(&gen_key)
        .arg("stray")
        .query_async(&mut redis)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_tag_invalidation_over_a_wrong_typed_generation_key_reaches_the_other_nodes_l1() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let url = server.url();
        let tagged = EntryOptions::new().ttl(Duration::from_secs(60)).tags(["t"]);
        // A stray list, then a stray string, where the generation hash belongs.
        for (namespace, command) in [("list", "LPUSH"), ("string", "SET")] {
            let (a, _la) = node(Target::Url(&url), namespace).await;
            let (b, _lb) = node(Target::Url(&url), namespace).await;
            assert_eq!(read(&a, "k", &tagged, "old").await, "old");
            warm(&b, "k", &tagged, "old").await;

            corrupt_generation(&url, namespace, command).await;
            let errors = a.stats().l2_errors;
            a.invalidate_tags(&["t"]).await;
            assert_eq!(a.stats().l2_errors, errors + 1, "{command}: reported");

            // B's L1 drops it; B's read of Redis fails on the generation key too (counted),
            // so it loads.
            let b_errors = b.stats().l2_errors;
            dropped(&b, "k", &tagged, "old", "new").await;
            assert!(b.stats().l2_errors > b_errors, "{command}: {:?}", b.stats());
            assert_eq!(read(&a, "k", &tagged, "new").await, "new", "{command}");
        }
    })
    .await;
}

#[tokio::test]
async fn reads_and_writes_over_a_wrong_typed_generation_key_degrade_and_recover() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let url = server.url();
        let (a, _la) = node(Target::Url(&url), "g").await;
        let (b, _lb) = node(Target::Url(&url), "g").await;
        let plain = EntryOptions::new().ttl(Duration::from_secs(60));
        let tagged = plain.clone().tags(["t"]);
        a.set("w", "old".to_string(), &plain).await;
        assert_eq!(
            read(&a, "first", &plain, "x").await,
            "x",
            "a first read of Redis"
        );
        warm(&b, "w", &plain, "old").await;
        corrupt_generation(&url, "g", "LPUSH").await;

        // Tagged and untagged loads: the loader's value, every failure counted. (A tagged
        // read checks the tags against the generation; an untagged one does not need it.)
        let errors = a.stats().l2_errors;
        assert_eq!(read(&a, "tagged", &tagged, "loaded").await, "loaded");
        assert_eq!(a.stats().l2_errors, errors + 2, "the read and the write");
        assert_eq!(read(&a, "plain", &plain, "loaded").await, "loaded");
        assert_eq!(a.stats().l2_errors, errors + 3, "the write");

        // A write Redis rejects: counted, and B does not keep serving the older value,
        // neither from its L1 nor from Redis.
        a.set("w", "new".to_string(), &plain).await;
        assert_eq!(a.stats().l2_errors, errors + 4);
        assert_eq!(a.get::<String>("w").await.as_deref(), Some("new"));
        eventually("B to stop serving the overwritten value", || async {
            b.get::<String>("w").await.as_deref() != Some("old")
        })
        .await;
        assert!(a.health().await.is_ok(), "Redis answers");

        // Repaired: writes go through again.
        let mut redis = raw(&url).await;
        let _: () = redis::cmd("DEL")
            .arg("__lc:{g}:gen")
            .query_async(&mut redis)
            .await
            .unwrap();
        let errors = a.stats().l2_errors;
        a.set("w", "newest".to_string(), &plain).await;
        assert_eq!(a.stats().l2_errors, errors);
        eventually("B to read the repaired write", || async {
            b.get::<String>("w").await.as_deref() == Some("newest")
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn invalidations_and_writes_redis_refuses_still_reach_the_other_nodes_l1() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let url = server.url();
        // A user that may read, publish and subscribe, but not run scripts (key and tag
        // invalidations, writes) nor UNLINK (patterns, clear).
        let mut redis = raw(&url).await;
        let _: () = redis::cmd("ACL")
            .arg(&[
                "SETUSER", "narrow", "on", ">secret", "~*", "&*", "+@all", "-eval", "-evalsha",
                "-unlink",
            ])
            .query_async(&mut redis)
            .await
            .unwrap();
        let narrow_url = format!("redis://narrow:secret@127.0.0.1:{}/", server.port());
        let (a, _la) = node(Target::Url(&narrow_url), "r").await;
        let (b, _lb) = node(Target::Url(&url), "r").await;
        // B's copies live in its L1 only: what B serves after A's call comes from its L1.
        let local = EntryOptions::new()
            .ttl(Duration::from_secs(60))
            .level(Level::L1);
        let tagged = local.clone().tags(["t"]);
        let plain = EntryOptions::new().ttl(Duration::from_secs(60));

        let mut errors = a.stats().l2_errors;
        let mut refused = |what: &str| {
            let now = a.stats().l2_errors;
            assert_eq!(now, errors + 1, "{what} is counted once");
            errors = now;
        };

        warm(&b, "key", &local, "old").await;
        a.invalidate("key").await;
        refused("a key invalidation");
        dropped(&b, "key", &local, "old", "new").await;

        warm(&b, "tagged", &tagged, "old").await;
        a.invalidate_tags(&["t"]).await;
        refused("a tag invalidation");
        dropped(&b, "tagged", &tagged, "old", "new").await;

        // The pattern and clear find a value to UNLINK (the ACL refuses that, not the SCAN).
        b.set("user:1", "in redis".to_string(), &plain).await;
        warm(&b, "user:2", &local, "old").await;
        a.invalidate_pattern("user:*").await;
        refused("a pattern invalidation");
        dropped(&b, "user:2", &local, "old", "new").await;

        warm(&b, "written", &local, "old").await;
        a.set("written", "by a".to_string(), &plain).await;
        refused("a write");
        dropped(&b, "written", &local, "old", "new").await;

        b.set("any:1", "in redis".to_string(), &plain).await;
        warm(&b, "any", &local, "old").await;
        a.clear().await;
        refused("a clear");
        dropped(&b, "any", &local, "old", "new").await;
    })
    .await;
}
