//! One keyspace: the keyed API (`get`, `set`, `get_or_load`, `invalidate`) and `#[cached]`
//! functions see and act on the same entry for the same key, in L1 as in L2; a value of
//! another type under a key is a counted miss.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::{new_cache, within};
use cache_core::{Cache, EntryOptions, cached};

#[tokio::test]
async fn the_keyed_api_and_a_cached_function_share_their_entries_in_l1() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "u", tags = ["users"])]
    async fn name(id: u64) -> String {
        LOADS.fetch_add(1, Ordering::SeqCst);
        format!("user {id}")
    }

    assert_eq!(within(name(3)).await, "user 3");
    // What the function stored, `inspect` reports and `get` returns.
    assert!(CACHE.inspect("u:3").await.unwrap().l1.is_some());
    assert_eq!(CACHE.get::<String>("u:3").await, Some("user 3".to_owned()));
    let loaded = CACHE
        .get_or_load("u:3", &EntryOptions::new(), || async {
            Ok::<_, ()>("from the loader".to_owned())
        })
        .await;
    assert_eq!(
        loaded,
        Ok("user 3".to_owned()),
        "no load: the entry is there"
    );

    // Another value type under the key: a miss, counted.
    assert_eq!(CACHE.get::<u64>("u:3").await, None);
    assert_eq!(CACHE.stats().type_mismatches, 1);

    // `set` replaces what the function reads.
    CACHE
        .set("u:3", "ada".to_owned(), &EntryOptions::new())
        .await;
    assert_eq!(within(name(3)).await, "ada");
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);

    // `invalidate` drops it for both.
    CACHE.invalidate("u:3").await;
    assert_eq!(CACHE.get::<String>("u:3").await, None);
    assert_eq!(within(name(3)).await, "user 3");
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);

    // A tag invalidation of the function's entry hides it from the keyed API too.
    assert_eq!(CACHE.get::<String>("u:3").await, Some("user 3".to_owned()));
    CACHE.invalidate_tags(&["users"]).await;
    assert_eq!(CACHE.get::<String>("u:3").await, None);
}
