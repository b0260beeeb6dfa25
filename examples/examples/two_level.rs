//! Two levels: the quickstart's cached function, now backed by Redis (`cache-redis`).
//!
//! Each process keeps an L1 in memory and shares an L2 in Redis; an invalidation anywhere
//! reaches every process's L1 through the backplane. This example plays two processes: the
//! global cache (used by `#[cached]`) and a second `Cache` with its own `RedisL2`.
//!
//! Run against your Redis with `REDIS_URL=redis://127.0.0.1:6379/ cargo run -p examples
//! --example two_level`; without `REDIS_URL` it starts a throwaway `redis-server` itself
//! (`cache_redis::test_util`, needs `redis-server` on `PATH`).

use std::time::{Duration, Instant};

use cache_core::{Cache, cached, invalidate};
use cache_redis::RedisL2;
use cache_redis::test_util::RedisServer;
use examples::{DbError, Profile, timed};

/// A slow query (200 ms). In Redis its entries are `demo:user:profile:{id}`.
#[cached(ttl = "10m", key_prefix = "user:profile", tags = ["users", "user:{id}"])]
async fn user_profile(id: u64) -> Result<Profile, DbError> {
    examples::read_profile(id).await
}

/// A write: invalidates the user's tag in Redis and in every process's L1.
#[invalidate(tags = ["user:{id}"])]
async fn rename_user(id: u64, name: &str) -> Result<(), DbError> {
    examples::rename(id, name).await
}

/// Calls `user_profile(id)` and prints the result with its latency.
async fn timed_profile(label: &str, id: u64) -> Result<Profile, DbError> {
    timed(label, user_profile(id)).await
}

/// A cache on `url` with its own Redis connections, as a separate process would have.
async fn node(url: &str) -> Result<(Cache, RedisL2), Box<dyn std::error::Error>> {
    let l2 = RedisL2::builder()
        .url(url)
        .operation_timeout(Duration::from_millis(250))
        .build()
        .await?;
    let cache = Cache::builder().namespace("demo").l2(l2.clone()).build()?;
    // `build` waited up to the connect timeout for the backplane; on a slow start, wait more
    // (until it is subscribed, L1 is degraded: it could miss invalidations).
    l2.wait_for_backplane(Duration::from_secs(5)).await;
    Ok((cache, l2))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_server, url) = match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let server = RedisServer::start()?;
            let url = server.url();
            println!("started redis-server at {url}");
            (Some(server), url)
        }
    };

    let (cache, _l2) = node(&url).await?;
    cache_core::install(cache)?;
    // Start clean (the namespace only: `demo:*` and its metadata).
    cache_core::global().clear().await;
    let (other_process, _other_l2) = node(&url).await?;

    timed_profile("first call (miss: loader, then Redis)", 42).await?;
    timed_profile("second call (L1 hit)", 42).await?;

    // Let the backplane deliver the write's message first: arriving after the other process
    // filled its L1, it would drop that (fresh) copy. Harmless, but this demo shows an L1 hit.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    let seen = other_process.get::<Profile>("user:profile:42").await;
    println!(
        "{:<36} {:>10.3?}  {seen:?}",
        "other process (L2 hit)",
        started.elapsed()
    );
    let started = Instant::now();
    let seen = other_process.get::<Profile>("user:profile:42").await;
    println!(
        "{:<36} {:>10.3?}  {seen:?}",
        "other process again (its L1)",
        started.elapsed()
    );

    rename_user(42, "Ada").await?;
    println!("(renamed user 42: tag user:42 invalidated in Redis and every L1)");
    // The other process's L1 copy is dropped by the backplane message.
    for _ in 0..100 {
        if other_process
            .get::<Profile>("user:profile:42")
            .await
            .is_none()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "{:<36} {:>10}  {:?}",
        "other process after rename",
        "",
        other_process.get::<Profile>("user:profile:42").await
    );
    timed_profile("after invalidation (miss)", 42).await?;
    timed_profile("again (L1 hit)", 42).await?;

    println!("\nthis process:  {:?}", cache_core::global().stats());
    println!("other process: {:?}", other_process.stats());
    Ok(())
}
