//! Quickstart: a slow function cached with `get_or_load`, no Redis needed.
//!
//! Run with `cargo run -p examples --example quickstart`.

use std::time::{Duration, Instant};

use cache_core::{Cache, EntryOptions};

/// A stand-in for a slow database query.
async fn load_profile(id: u64) -> Result<String, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(format!("profile of user {id}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cache = Cache::builder()
        .default_ttl(Duration::from_secs(600))
        .build()?;
    let options = EntryOptions::new().tags(["users", "user:42"]);

    for attempt in ["first", "second"] {
        let started = Instant::now();
        let profile = cache
            .get_or_load("user:profile:42", &options, || load_profile(42))
            .await?;
        println!("{attempt} call: {profile:?} in {:?}", started.elapsed());
    }
    println!("{:?}", cache.stats());
    Ok(())
}
