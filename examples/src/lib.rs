//! The pretend database the examples cache: user profiles by id, slow on purpose, plus a
//! helper that prints how long a call took.
#![forbid(unsafe_code)]

pub mod service;

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What the database returns. Cached values are `Clone` and, so they can go to Redis,
/// serializable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The user's id.
    pub id: u64,
    /// The user's name.
    pub name: String,
}

/// A database error: need not be `Clone`, and is never cached.
#[derive(Debug)]
pub struct DbError(pub String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DbError {}

static USERS: LazyLock<Mutex<HashMap<u64, String>>> = LazyLock::new(|| {
    Mutex::new(HashMap::from([
        (7, "Grace".to_owned()),
        (42, "Alan".to_owned()),
    ]))
});

fn users() -> std::sync::MutexGuard<'static, HashMap<u64, String>> {
    USERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A slow query: 200 ms, then the profile or "no user".
pub async fn read_profile(id: u64) -> Result<Profile, DbError> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let name = users().get(&id).cloned();
    let name = name.ok_or_else(|| DbError(format!("no user {id}")))?;
    Ok(Profile { id, name })
}

/// A slow query for many users at once (`WHERE id IN (..)`): 200 ms for the whole list, then
/// the profiles found (unknown ids are left out).
pub async fn read_profiles(ids: &[u64]) -> Result<Vec<Profile>, DbError> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let users = users();
    let found = ids
        .iter()
        .filter_map(|&id| {
            let name = users.get(&id)?.clone();
            Some(Profile { id, name })
        })
        .collect();
    Ok(found)
}

/// A write: renames a user, or fails for an unknown id.
pub async fn rename(id: u64, name: &str) -> Result<(), DbError> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    match users().get_mut(&id) {
        Some(stored) => *stored = name.to_owned(),
        None => return Err(DbError(format!("no user {id}"))),
    }
    Ok(())
}

/// Awaits `call` and prints its label, latency and result.
pub async fn timed<T: Debug, E: Debug>(
    label: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    println!("{label:<38} {:>10.3?}  {result:?}", started.elapsed());
    result
}
