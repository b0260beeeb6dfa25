//! Quickstart: a slow "database" read cached with `#[cached]`, an update that invalidates it
//! with `#[invalidate]`. No Redis needed: the global cache is the embedded, in-process one.
//!
//! Run with `cargo run -p examples --example quickstart`.

use cache_core::{cached, invalidate};
use examples::{DbError, Profile, timed};

/// A slow query (200 ms on a miss, nothing on a hit). Its key is `"user:profile:{id}"`.
#[cached(ttl = "10m", key_prefix = "user:profile", tags = ["users", "user:{id}"])]
async fn user_profile(id: u64) -> Result<Profile, DbError> {
    examples::read_profile(id).await
}

/// A write: once it returns `Ok`, every entry tagged `user:{id}` is invalidated (in this
/// process's L1, and in Redis and every other process's L1 when an L2 is configured).
#[invalidate(tags = ["user:{id}"])]
async fn rename_user(id: u64, name: &str) -> Result<(), DbError> {
    examples::rename(id, name).await
}

/// Calls `user_profile(id)` and prints the result with its latency.
async fn timed_profile(label: &str, id: u64) -> Result<Profile, DbError> {
    timed(label, user_profile(id)).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    timed_profile("first call (miss)", 42).await?;
    timed_profile("second call (L1 hit)", 42).await?;
    timed_profile("another user (miss)", 7).await?;

    rename_user(42, "Ada").await?;
    println!("(database: user 42 renamed to \"Ada\")");
    // A failed update invalidates nothing.
    assert!(rename_user(0, "Nobody").await.is_err());
    timed_profile("after invalidation (miss)", 42).await?;
    timed_profile("again (L1 hit)", 42).await?;
    timed_profile("other user still cached", 7).await?;

    // Errors are returned as they are and never cached.
    let _ = timed_profile("a missing user (error)", 0).await;
    let _ = timed_profile("again (error, not cached)", 0).await;

    let stats = cache_core::global().stats();
    println!("\n{stats:#?}");
    println!("hit ratio: {:.0}%", stats.hit_ratio() * 100.0);
    Ok(())
}
