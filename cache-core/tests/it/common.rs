//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

/// Fails the test instead of hanging when `future` does not finish in 10 s.
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out: a wait that should finish did not")
}

/// Polls `condition` every 10 ms for up to 10 s.
pub async fn eventually(mut condition: impl FnMut() -> bool) {
    within(async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A cache with default settings.
pub fn new_cache() -> cache_core::Cache {
    cache_core::Cache::builder().build().unwrap()
}

/// A loader error type that is neither `Clone` nor `Display`-heavy.
#[derive(Debug, PartialEq, Eq)]
pub struct DbError(pub &'static str);
