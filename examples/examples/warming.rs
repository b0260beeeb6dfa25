//! Start-up warming: before serving, load a list of hot ids into the cache with at most
//! `CONCURRENCY` loads at a time, through the `user_profile_refresh` companion that
//! `#[cached]` generates (it runs the body now and stores the result). Then updates go through
//! `#[cache_put]`, so readers get the new value without a reload. No Redis needed.
//!
//! Run with `cargo run -p examples --example warming`.

use std::sync::Arc;
use std::time::Instant;

use cache_core::{cache_put, cached};
use examples::{DbError, Profile};
use tokio::sync::Semaphore;

/// Loads at most this many profiles at once while warming (the database's fair share).
const CONCURRENCY: usize = 2;

/// A slow query (200 ms). Its key is `"user:profile:{id}"`.
#[cached(ttl = "10m", key_prefix = "user:profile")]
async fn user_profile(id: u64) -> Result<Profile, DbError> {
    examples::read_profile(id).await
}

/// A write that returns the stored profile: it becomes what `user_profile(id)` returns next.
#[cache_put(ttl = "10m", key_prefix = "user:profile", key = "{id}")]
async fn rename_user(id: u64, name: String) -> Result<Profile, DbError> {
    examples::rename(id, &name).await?;
    Ok(Profile { id, name })
}

/// Warms `ids` with at most `CONCURRENCY` loads in flight; returns how many failed.
async fn warm(ids: &[u64]) -> usize {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for &id in ids {
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            user_profile_refresh(id).await.is_ok()
        });
    }
    let mut failed = 0;
    while let Some(loaded) = tasks.join_next().await {
        if !matches!(loaded, Ok(true)) {
            failed += 1;
        }
    }
    failed
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 99 does not exist: warming reports it and goes on.
    let started = Instant::now();
    let failed = warm(&[7, 42, 99]).await;
    println!(
        "warmed 3 profiles ({failed} failed) in {:?}, {CONCURRENCY} at a time",
        started.elapsed()
    );

    let started = Instant::now();
    for id in [7, 42] {
        let profile = user_profile(id).await?;
        println!("{:>3}: {} ({:?})", id, profile.name, started.elapsed());
    }
    let stats = cache_core::global().stats();
    println!(
        "after warming: {} loads, {} L1 hits",
        stats.loads, stats.l1_hits
    );

    rename_user(42, "Ada King".to_owned()).await?;
    let profile = user_profile(42).await?;
    println!(
        "after the update: {} ({} loads)",
        profile.name,
        cache_core::global().stats().loads
    );
    Ok(())
}
