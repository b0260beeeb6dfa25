//! Quickstart: a slow "database" read cached with `#[cached]`, an update that invalidates it
//! with `#[invalidate]`. No Redis needed: the global cache is the embedded, in-process one.
//!
//! Run with `cargo run -p examples --example quickstart`.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use cache_core::{cached, invalidate};
use serde::{Deserialize, Serialize};

/// What the "database" returns; cached values are `Clone` and, to be able to go to Redis
/// later, serializable.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
}

/// A "database" error: need not be `Clone`, never cached.
#[derive(Debug)]
struct DbError(String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbError {}

/// The "database": user names by id.
static USERS: LazyLock<Mutex<HashMap<u64, String>>> = LazyLock::new(|| {
    Mutex::new(HashMap::from([
        (7, "Grace".to_owned()),
        (42, "Alan".to_owned()),
    ]))
});

/// A slow query: 200 ms on a miss, nothing on a hit. The key is `"user:profile:{id}"`.
#[cached(ttl = "10m", key_prefix = "user:profile", tags = ["users", "user:{id}"])]
async fn user_profile(id: u64) -> Result<Profile, DbError> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let name = USERS.lock().unwrap().get(&id).cloned();
    let name = name.ok_or_else(|| DbError(format!("no user {id}")))?;
    Ok(Profile { id, name })
}

/// A write: once it returns `Ok`, every entry tagged `user:{id}` is invalidated (here, in
/// every process's L1 and in Redis when an L2 is configured).
#[invalidate(tags = ["user:{id}"])]
async fn rename_user(id: u64, name: &str) -> Result<(), DbError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    match USERS.lock().unwrap().get_mut(&id) {
        Some(stored) => *stored = name.to_owned(),
        None => return Err(DbError(format!("no user {id}"))),
    }
    println!("(database: user {id} renamed to {name:?})");
    Ok(())
}

/// Calls `user_profile(id)` and prints the result with its latency.
async fn timed(label: &str, id: u64) -> Result<Profile, DbError> {
    let started = Instant::now();
    let profile = user_profile(id).await;
    println!("{label:<28} {:>10.3?}  {profile:?}", started.elapsed());
    profile
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    timed("first call (miss)", 42).await?;
    timed("second call (L1 hit)", 42).await?;
    timed("another user (miss)", 7).await?;

    rename_user(42, "Ada").await?;
    // A failed update invalidates nothing.
    assert!(rename_user(0, "Nobody").await.is_err());
    timed("after invalidation (miss)", 42).await?;
    timed("again (L1 hit)", 42).await?;
    timed("other user still cached", 7).await?;

    // Errors are returned as they are and never cached.
    let _ = timed("a missing user (error)", 0).await;
    let _ = timed("again (error, not cached)", 0).await;

    let stats = cache_core::global().stats();
    println!("\n{stats:#?}");
    println!("hit ratio: {:.0}%", stats.hit_ratio() * 100.0);
    Ok(())
}
