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

/// `#[cache_put(reader)]` on a free function: the reader's prefix, key, tags, TTL and cache,
/// from the put's own arguments by name (here in another order, with one the key does not use).
#[tokio::test]
async fn a_put_naming_its_reader_feeds_it() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "profile", key = "{tenant}/{id}", tags = ["t:{tenant}"])]
    async fn profile(pool: &str, tenant: &str, id: u64) -> Result<Option<String>, DbError> {
        let _ = pool;
        LOADS.fetch_add(1, Ordering::SeqCst);
        Ok((id != 0).then(|| format!("{tenant} {id}")))
    }

    #[cache_put(profile)]
    async fn rename(id: u64, name: String, tenant: String) -> Result<String, DbError> {
        Ok(format!("{tenant} {name}"))
    }

    assert_eq!(
        within(rename(7, "ada".to_owned(), "acme".to_owned())).await,
        Ok("acme ada".to_owned())
    );
    assert_eq!(
        within(profile("db", "acme", 7)).await,
        Ok(Some("acme ada".to_owned()))
    );
    assert_eq!(LOADS.load(Ordering::SeqCst), 0, "the put value was read");
    assert_eq!(
        CACHE.get::<String>("profile:acme/7").await,
        Some("acme ada".to_owned())
    );
    // The reader's tags came with it.
    CACHE.invalidate_tags(&["t:acme"]).await;
    assert_eq!(
        within(profile("db", "acme", 7)).await,
        Ok(Some("acme 7".to_owned()))
    );
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
}

/// `#[cache_put(Self::reader)]` on methods whose cache is a field, sync and async mixed, and
/// an L1-only reader.
#[tokio::test]
async fn a_put_naming_a_method_reader_uses_its_cache_and_level() {
    #[derive(Clone, Debug, PartialEq)]
    struct Session(u64);

    struct Repo {
        cache: Cache,
        loads: AtomicU32,
    }

    impl Repo {
        #[cached(cache = self.cache, key = "{id}", level = "l1")]
        fn session(&self, id: u64) -> Session {
            self.loads.fetch_add(1, Ordering::SeqCst);
            Session(id)
        }

        #[cache_put(Self::session)]
        async fn touch(&self, id: u64) -> Option<Session> {
            Some(Session(id * 100))
        }
    }

    let repo = Repo {
        cache: new_cache(),
        loads: AtomicU32::new(0),
    };
    assert_eq!(within(repo.touch(3)).await, Some(Session(300)));
    assert_eq!(repo.session(3), Session(300));
    // Read from the repo's own cache: a put into another cache would leave this one to load.
    assert_eq!(
        repo.loads.load(Ordering::SeqCst),
        0,
        "the put value was read"
    );
}

/// A free-standing put of another value type than its reader's: the reader never returns it
/// (it loads), and the mismatch is counted instead of passing silently.
#[tokio::test]
async fn a_put_of_another_type_is_a_counted_miss() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "age", key = "{id}")]
    async fn age(id: u64) -> u64 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        id
    }

    #[cache_put(cache = CACHE, key_prefix = "age", key = "{id}")]
    async fn set_age(id: u64, age: String) -> String {
        let _ = id;
        age
    }

    assert_eq!(within(set_age(4, "forty".to_owned())).await, "forty");
    assert_eq!(within(age(4)).await, 4);
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        1,
        "the other type is not returned"
    );
    assert_eq!(CACHE.stats().type_mismatches, 1);
    assert_eq!(within(age(4)).await, 4, "a hit of the loaded value");
    assert_eq!(CACHE.stats().type_mismatches, 1);
    // A key with nothing of another type under it is no mismatch.
    assert_eq!(within(age(5)).await, 5);
    assert_eq!(CACHE.stats().type_mismatches, 1);
}
