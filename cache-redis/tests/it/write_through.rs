//! Write-through, L2 hits, and the layout other languages read.

use std::time::Duration;

use cache_core::{Codec, EntryOptions};
use cache_redis::test_util::RedisServer;
use serde::{Deserialize, Serialize};

use crate::common::{Target, eventually, node, node_with, raw, within_limit};

#[tokio::test]
async fn set_and_load_reach_redis_with_their_ttl() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let (cache, _l2) = node(Target::Url(&server.url()), "wt").await;
        let mut redis = raw(&server.url()).await;

        let options = EntryOptions::new().ttl(Duration::from_secs(30));
        cache.set("user:1", "Ada".to_string(), &options).await;
        let pttl: i64 = redis::cmd("PTTL")
            .arg("wt:user:1")
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(pttl > 0 && pttl <= 30_000, "PTTL {pttl}");
        let kind: String = redis::cmd("TYPE")
            .arg("wt:user:1")
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(kind, "hash");

        let loaded: Result<u64, std::io::Error> = cache
            .get_or_load(
                "count",
                &EntryOptions::new().ttl(Duration::from_secs(5)),
                || async { Ok(7) },
            )
            .await;
        assert_eq!(loaded.unwrap(), 7);
        let pttl: i64 = redis::cmd("PTTL")
            .arg("wt:count")
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(pttl > 0 && pttl <= 5_000, "PTTL {pttl}");
        assert_eq!(cache.stats().l2_errors, 0);
        assert_eq!(cache.stats().loads, 1);
    })
    .await;
}

#[tokio::test]
async fn an_l2_hit_fills_l1_with_the_remaining_ttl() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let (writer, _a) = node(Target::Url(&server.url()), "hit").await;
        let (reader, _b) = node(Target::Url(&server.url()), "hit").await;

        writer
            .set(
                "k",
                41u32,
                &EntryOptions::new().ttl(Duration::from_millis(2000)),
            )
            .await;
        // About 800 ms of life left in Redis when the reader gets it.
        tokio::time::sleep(Duration::from_millis(1200)).await;

        assert_eq!(reader.get::<u32>("k").await, Some(41));
        assert_eq!(reader.stats().l2_hits, 1);
        assert_eq!(reader.get::<u32>("k").await, Some(41));
        assert_eq!(reader.stats().l1_hits, 1, "the L2 hit filled L1");

        // A fresh TTL (2 s from the read) would keep serving from L1; the remaining one
        // (about 800 ms) does not.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(reader.get::<u32>("k").await, None);
    })
    .await;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    tags: Vec<String>,
}

#[tokio::test]
async fn a_json_value_is_read_back_by_redis_cli_with_one_command() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let (cache, _l2) = node_with(
            Target::Url(&server.url()),
            "svc",
            Codec::json().compress_above(None),
        )
        .await;
        let profile = Profile {
            id: 7,
            name: "Grace".into(),
            tags: vec!["admin".into()],
        };
        cache
            .set("user:7", profile.clone(), &EntryOptions::new())
            .await;

        let port = server.port();
        // --no-raw prints a quoted string: unquote it the way redis-cli escaped it.
        let printed = redis_cli(port, &["--no-raw", "HGET", "svc:user:7", "v"]);
        let json: String = serde_json::from_str(printed.trim()).unwrap();
        assert_eq!(json, serde_json::to_string(&profile).unwrap());
        assert_eq!(serde_json::from_str::<Profile>(&json).unwrap(), profile);

        let raw = redis_cli(port, &["--raw", "HGET", "svc:user:7", "v"]);
        assert_eq!(
            raw.trim_end(),
            r#"{"id":7,"name":"Grace","tags":["admin"]}"#
        );
        // The metadata field starts with the format: 2, plain JSON.
        let meta = redis_cli(port, &["--raw", "HGET", "svc:user:7", "m"]);
        assert!(meta.starts_with("2 "), "{meta}");

        // And the cache reads what it wrote.
        let (other, _l2) = node_with(
            Target::Url(&server.url()),
            "svc",
            Codec::json().compress_above(None),
        )
        .await;
        eventually("the other node to read the JSON value", || {
            let other = other.clone();
            let profile = profile.clone();
            async move { other.get::<Profile>("user:7").await == Some(profile) }
        })
        .await;
    })
    .await;
}

/// Runs the real `redis-cli` against `port` and returns what it printed.
fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = std::process::Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli runs");
    assert!(output.status.success(), "redis-cli {args:?} failed");
    String::from_utf8(output.stdout).expect("redis-cli prints UTF-8")
}
