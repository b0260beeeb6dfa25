//! `#[invalidate]`: keys, patterns, tags, all; after `Ok` only (or before the body); escaped
//! values that cannot widen a pattern; several attributes on one function; sync functions.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::{new_cache, within};
use cache_core::{Cache, cached, invalidate};

#[derive(Debug, PartialEq)]
struct DbError;

/// A cached "profile" read and its load counter, per test (each test has its own cache).
macro_rules! profile_fn {
    ($cache:ident, $loads:ident) => {
        static $cache: LazyLock<Cache> = LazyLock::new(new_cache);
        static $loads: AtomicU32 = AtomicU32::new(0);

        #[cached(cache = $cache, key_prefix = "user:profile", tags = ["users", "user:{id}"])]
        async fn profile(id: &str) -> Result<String, DbError> {
            $loads.fetch_add(1, Ordering::SeqCst);
            Ok(format!("profile {id}"))
        }

        /// Loads `ids` once each into the cache.
        async fn warm(ids: &[&str]) {
            for id in ids {
                within(profile(id)).await.unwrap();
            }
        }

        fn loads() -> u32 {
            $loads.load(Ordering::SeqCst)
        }
    };
}

#[tokio::test]
async fn tags_after_ok() {
    profile_fn!(CACHE, LOADS);

    #[invalidate(cache = CACHE, tags = ["user:{id}"])]
    async fn rename(id: &str, fail: bool) -> Result<(), DbError> {
        if fail { Err(DbError) } else { Ok(()) }
    }

    warm(&["1", "2"]).await;
    warm(&["1", "2"]).await;
    assert_eq!(loads(), 2);

    // After an `Err`, nothing is invalidated.
    assert_eq!(within(rename("1", true)).await, Err(DbError));
    warm(&["1", "2"]).await;
    assert_eq!(loads(), 2);
    assert_eq!(CACHE.stats().invalidations, 0);

    // After `Ok`, exactly that user's entries.
    assert_eq!(within(rename("1", false)).await, Ok(()));
    warm(&["1", "2"]).await;
    assert_eq!(loads(), 3);
    let stats = CACHE.stats();
    assert_eq!(stats.invalidations, 1);
    assert_eq!(stats.misses, 3);
}

#[tokio::test]
async fn keys_with_the_prefix_written_out() {
    profile_fn!(CACHE, LOADS);

    #[invalidate(cache = CACHE, keys = ["user:profile:{id}", "user:profile:{other}"])]
    async fn merge(id: &str, other: &str) {
        let _ = (id, other);
    }

    warm(&["1", "2", "3", "a:b"]).await;
    assert_eq!(loads(), 4);
    within(merge("1", "a:b")).await;
    warm(&["1", "2", "3", "a:b"]).await;
    assert_eq!(
        loads(),
        6,
        "keys 1 and a:b (escaped like the cached key) reloaded"
    );
    assert_eq!(CACHE.stats().invalidations, 2);
}

#[tokio::test]
async fn patterns_are_globs_and_values_are_escaped() {
    profile_fn!(CACHE, LOADS);

    #[invalidate(cache = CACHE, pattern = "user:profile:{prefix}*")]
    async fn drop_prefix(prefix: &str) {
        let _ = prefix;
    }

    warm(&["10", "11", "20", "*", "1?"]).await;
    assert_eq!(loads(), 5);

    // "1" + literal "*" glob: 10, 11 and "1?" (escaped as 1%3F) match; 20 and "*" do not.
    within(drop_prefix("1")).await;
    warm(&["10", "11", "20", "*", "1?"]).await;
    assert_eq!(loads(), 8);

    // An argument "*" is escaped: it matches only the key whose part is a literal "*".
    within(drop_prefix("*")).await;
    warm(&["10", "11", "20", "*", "1?"]).await;
    assert_eq!(loads(), 9, "only the \"*\" entry was reloaded");

    // Same for "?" and "[": no glob syntax gets through.
    within(drop_prefix("?")).await;
    within(drop_prefix("[12]")).await;
    warm(&["10", "11", "20", "*", "1?"]).await;
    assert_eq!(loads(), 9);
    assert_eq!(CACHE.stats().invalidations, 4);
}

#[tokio::test]
async fn all_clears_the_cache() {
    profile_fn!(CACHE, LOADS);

    #[invalidate(cache = CACHE, all = true)]
    async fn reset() -> Result<u32, DbError> {
        Ok(1)
    }

    warm(&["1", "2"]).await;
    assert_eq!(within(reset()).await, Ok(1));
    warm(&["1", "2"]).await;
    assert_eq!(loads(), 4);
    assert_eq!(CACHE.stats().invalidations, 1);
}

#[tokio::test]
async fn before_runs_even_when_the_body_fails() {
    profile_fn!(CACHE, LOADS);
    static SEEN_CACHED: AtomicU32 = AtomicU32::new(0);

    #[invalidate(cache = CACHE, tags = ["user:{id}"], before = true)]
    async fn import(id: &str) -> Result<(), DbError> {
        // The entry is already gone when the body runs.
        if CACHE.get::<String>("user:profile:1").await.is_some() {
            SEEN_CACHED.fetch_add(1, Ordering::SeqCst);
        }
        let _ = id;
        Err(DbError)
    }

    warm(&["1", "2"]).await;
    assert_eq!(within(import("1")).await, Err(DbError));
    warm(&["1", "2"]).await;
    assert_eq!(loads(), 3);
    assert_eq!(SEEN_CACHED.load(Ordering::SeqCst), 0);
    assert_eq!(CACHE.stats().invalidations, 1);
}

#[tokio::test]
async fn plain_return_types_invalidate_after_the_body() {
    profile_fn!(CACHE, LOADS);

    #[invalidate(cache = CACHE, tags = ["users"])]
    async fn touch_all() -> Option<u8> {
        None
    }

    warm(&["1", "2"]).await;
    assert_eq!(within(touch_all()).await, None);
    warm(&["1", "2"]).await;
    assert_eq!(loads(), 4);
}

#[tokio::test]
async fn two_attributes_on_one_function() {
    profile_fn!(CACHE, LOADS);
    static OTHER: LazyLock<Cache> = LazyLock::new(new_cache);
    static OTHER_LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = OTHER, key_prefix = "directory")]
    async fn directory() -> Vec<String> {
        OTHER_LOADS.fetch_add(1, Ordering::SeqCst);
        vec!["ada".into()]
    }

    #[invalidate(cache = CACHE, tags = ["user:{id}"])]
    #[invalidate(cache = OTHER, keys = ["directory"])]
    async fn rename(id: &str, name: &str) -> Result<String, DbError> {
        if name.is_empty() {
            return Err(DbError);
        }
        Ok(format!("{id} is now {name}"))
    }

    warm(&["1", "2"]).await;
    within(directory()).await;
    within(directory()).await;
    assert_eq!(OTHER_LOADS.load(Ordering::SeqCst), 1);

    assert_eq!(within(rename("1", "")).await, Err(DbError));
    warm(&["1", "2"]).await;
    within(directory()).await;
    assert_eq!((loads(), OTHER_LOADS.load(Ordering::SeqCst)), (2, 1));

    assert_eq!(within(rename("1", "Ada")).await, Ok("1 is now Ada".into()));
    warm(&["1", "2"]).await;
    within(directory()).await;
    assert_eq!((loads(), OTHER_LOADS.load(Ordering::SeqCst)), (3, 2));
    assert_eq!(CACHE.stats().invalidations, 1);
    assert_eq!(OTHER.stats().invalidations, 1);
}

#[test]
fn sync_functions_use_the_blocking_twins() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "stock", tags = ["stock:{sku}"])]
    fn stock(sku: u32) -> u32 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        sku * 10
    }

    #[invalidate(cache = CACHE, tags = ["stock:{sku}"])]
    fn sell(sku: u32, count: u32) -> Result<u32, String> {
        if count == 0 {
            return Err("nothing sold".into());
        }
        Ok(count)
    }

    #[invalidate(cache = CACHE, pattern = "stock:*", before = true)]
    fn restock() {}

    #[invalidate(cache = CACHE, keys = ["stock:{sku}"])]
    fn recount(sku: u32) {
        let _ = sku;
    }

    #[invalidate(cache = CACHE, all = true)]
    fn wipe() {}

    assert_eq!(stock(1), 10);
    assert_eq!(stock(2), 20);
    assert_eq!(sell(1, 0), Err("nothing sold".into()));
    assert_eq!((stock(1), stock(2)), (10, 20));
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
    assert_eq!(sell(1, 3), Ok(3));
    assert_eq!((stock(1), stock(2)), (10, 20));
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
    restock();
    assert_eq!((stock(1), stock(2)), (10, 20));
    assert_eq!(LOADS.load(Ordering::SeqCst), 5);
    recount(2);
    assert_eq!((stock(1), stock(2)), (10, 20));
    assert_eq!(LOADS.load(Ordering::SeqCst), 6);
    wipe();
    assert_eq!((stock(1), stock(2)), (10, 20));
    assert_eq!(LOADS.load(Ordering::SeqCst), 8);
    assert_eq!(CACHE.stats().invalidations, 4);
}

#[tokio::test]
async fn keys_match_over_long_keys_replaced_by_their_hash() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "doc:body")]
    async fn body(text: &str) -> usize {
        LOADS.fetch_add(1, Ordering::SeqCst);
        text.len()
    }

    #[invalidate(cache = CACHE, keys = ["doc:body:{text}"])]
    async fn edit(text: &str) {
        let _ = text;
    }

    let long = "x".repeat(2000);
    assert_eq!(within(body(&long)).await, 2000);
    assert_eq!(within(body(&long)).await, 2000);
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    within(edit(&long)).await;
    assert_eq!(within(body(&long)).await, 2000);
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
}

/// `#[invalidate]` on methods, with the cache in a field and templates reading `self`.
struct Accounts {
    cache: Cache,
    tenant: String,
    loads: AtomicU32,
}

impl Accounts {
    #[cached(cache = self.cache, key_prefix = "account", key = "{self.tenant}:{id}")]
    async fn get(&self, id: u64) -> u64 {
        self.loads.fetch_add(1, Ordering::SeqCst);
        id
    }

    #[invalidate(cache = self.cache, keys = ["account:{self.tenant}:{id}"])]
    async fn close(&self, id: u64) -> Result<(), DbError> {
        let _ = id;
        Ok(())
    }
}

#[tokio::test]
async fn methods_with_self_in_templates() {
    let accounts = Accounts {
        cache: new_cache(),
        tenant: "acme corp".into(),
        loads: AtomicU32::new(0),
    };
    within(accounts.get(1)).await;
    within(accounts.get(2)).await;
    within(accounts.close(1)).await.unwrap();
    within(accounts.get(1)).await;
    within(accounts.get(2)).await;
    assert_eq!(accounts.loads.load(Ordering::SeqCst), 3);
}
