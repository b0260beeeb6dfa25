//! Start-up warming: before serving, load a list of hot ids into the cache with one database
//! query for the whole list, through a `#[cached_batch]` function whose entries are those of
//! the single-key `#[cached]` function (same key prefix, same value type). Then one entry is
//! reloaded now through the `user_profile_refresh` companion, and an update goes through
//! `#[cache_put]`, so readers get the new value without a reload. No Redis needed.
//!
//! Run with `cargo run -p examples --example warming`.

use std::collections::HashMap;
use std::time::Instant;

use cache_core::{cache_put, cached, cached_batch};
use examples::{DbError, Profile};

/// A slow query (200 ms). Its key is `"user:profile:{id}"`.
#[cached(ttl = "10m", key_prefix = "user:profile")]
async fn user_profile(id: u64) -> Result<Profile, DbError> {
    examples::read_profile(id).await
}

/// The same entries for a list of ids: one slow query (200 ms) with the ids found nowhere.
/// Ids the database does not have are left out, so they are neither cached nor returned.
#[cached_batch(ttl = "10m", key_prefix = "user:profile")]
async fn user_profiles(ids: &[u64]) -> Result<HashMap<u64, Profile>, DbError> {
    let found = examples::read_profiles(ids).await?;
    Ok(found
        .into_iter()
        .map(|profile| (profile.id, profile))
        .collect())
}

/// A write that returns the stored profile: it becomes what `user_profile(id)` returns next.
#[cache_put(ttl = "10m", key_prefix = "user:profile", key = "{id}")]
async fn rename_user(id: u64, name: String) -> Result<Profile, DbError> {
    examples::rename(id, &name).await?;
    Ok(Profile { id, name })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 99 does not exist: warming reports it and goes on.
    let hot = [7, 42, 99];
    let started = Instant::now();
    let warmed = user_profiles(&hot).await?;
    let missing: Vec<u64> = hot
        .into_iter()
        .filter(|id| !warmed.contains_key(id))
        .collect();
    println!(
        "warmed {} profiles in {:?} with one query (not found: {missing:?})",
        warmed.len(),
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

    // One entry reloaded now, whatever the cache holds.
    let started = Instant::now();
    user_profile_refresh(7).await?;
    println!("reloaded 7 in {:?}", started.elapsed());

    rename_user(42, "Ada King".to_owned()).await?;
    let profile = user_profile(42).await?;
    println!(
        "after the update: {} ({} loads)",
        profile.name,
        cache_core::global().stats().loads
    );
    Ok(())
}
