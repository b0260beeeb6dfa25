//! A `RedisL2` is attached when its cache is built, to that cache only; bad settings are
//! `cache_redis::Error`s from `build`, before anything runs.

use std::time::Duration;

use cache_core::{Cache, Error as CacheError};
use cache_redis::test_util::RedisServer;
use cache_redis::{Error, RedisL2};

use crate::common::{WAIT_LIMIT, within_limit};

#[tokio::test]
async fn a_redis_l2_serves_one_cache_a_second_build_is_an_error() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let l2 = RedisL2::builder().url(server.url()).build().await.unwrap();
        let first = Cache::builder().namespace("a").l2(l2.clone()).build();
        assert!(first.is_ok());
        assert!(l2.wait_for_backplane(WAIT_LIMIT).await);
        let second = Cache::builder().namespace("b").l2(l2.clone()).build();
        match second {
            Err(CacheError::L2Attach(source)) => {
                assert!(matches!(
                    source.downcast_ref::<Error>(),
                    Some(Error::AlreadyAttached)
                ));
            }
            other => panic!("expected an attach error, got {other:?}"),
        }
        // The first cache still works through its L2.
        let cache = first.unwrap();
        cache.set("k", 7u32, &cache_core::EntryOptions::new()).await;
        assert_eq!(cache.stats().l2_errors, 0);
    })
    .await;
}

#[tokio::test]
async fn bad_settings_are_errors_from_build() {
    let zero = RedisL2::builder()
        .operation_timeout(Duration::ZERO)
        .build()
        .await;
    assert!(matches!(
        zero,
        Err(Error::InvalidConfig {
            setting: "operation_timeout",
            ..
        })
    ));
    let url = RedisL2::builder().url("not a url").build().await;
    assert!(matches!(url, Err(Error::InvalidUrl { .. })), "{url:?}");
    let cluster = RedisL2::builder()
        .cluster(Vec::<String>::new())
        .build()
        .await;
    assert!(matches!(
        cluster,
        Err(Error::InvalidConfig {
            setting: "cluster",
            ..
        })
    ));
}
