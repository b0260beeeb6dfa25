//! `#[cache_put]`: what the function returns is what the matching `#[cached]` function reads
//! next, without running its body; failures store nothing.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::{DbError, new_cache, within};
use cache_core::{Cache, cache_put, cached};

#[tokio::test]
async fn a_put_value_is_read_next_without_a_load() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "user", key = "{id}", tags = ["users"])]
    async fn user(id: u64) -> Result<String, DbError> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        Ok(format!("user {id}"))
    }

    #[cache_put(cache = CACHE, key_prefix = "user", key = "{id}", tags = ["users"])]
    async fn rename(id: u64, name: String) -> Result<String, DbError> {
        if name.is_empty() {
            return Err(DbError("empty name"));
        }
        Ok(name)
    }

    assert_eq!(within(user(1)).await, Ok("user 1".to_owned()));
    assert_eq!(
        within(rename(1, "ada".to_owned())).await,
        Ok("ada".to_owned())
    );
    assert_eq!(within(user(1)).await, Ok("ada".to_owned()));
    assert_eq!(within(user(1)).await, Ok("ada".to_owned()));
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        1,
        "the put value was read, not loaded"
    );

    // An `Err` stores nothing: the previous value stays.
    assert_eq!(
        within(rename(1, String::new())).await,
        Err(DbError("empty name"))
    );
    assert_eq!(within(user(1)).await, Ok("ada".to_owned()));

    // A put of a key never read is read first too; the keyed API sees it under the same key.
    assert_eq!(
        within(rename(2, "bob".to_owned())).await,
        Ok("bob".to_owned())
    );
    assert_eq!(CACHE.get::<String>("user:2").await, Some("bob".to_owned()));
    assert_eq!(within(user(2)).await, Ok("bob".to_owned()));
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);

    // Invalidating the tag drops the put value as well.
    CACHE.invalidate_tags(&["users"]).await;
    assert_eq!(within(user(2)).await, Ok("user 2".to_owned()));
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
}

#[test]
fn level_l1_puts_on_sync_functions() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[derive(Clone, Debug, PartialEq)]
    struct Counter(u64);

    #[cached(cache = CACHE, key_prefix = "counter", level = "l1")]
    fn counter(name: &str) -> Option<Counter> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        (name != "missing").then_some(Counter(0))
    }

    #[cache_put(cache = CACHE, key_prefix = "counter", key = "{name}", level = "l1")]
    fn set_counter(name: &str, value: u64) -> Option<Counter> {
        (value > 0).then_some(Counter(value))
    }

    assert_eq!(counter("a"), Some(Counter(0)));
    assert_eq!(set_counter("a", 5), Some(Counter(5)));
    assert_eq!(counter("a"), Some(Counter(5)));
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    // `None` stores nothing.
    assert_eq!(set_counter("a", 0), None);
    assert_eq!(counter("a"), Some(Counter(5)));
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    // Expiry and invalidation apply to put values as to loaded ones.
    CACHE.invalidate_blocking("counter:a");
    assert_eq!(counter("a"), Some(Counter(0)));
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
}
