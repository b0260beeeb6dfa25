//! `Cache::stats_by_function`: each function's counters under its key prefix, adding up to the
//! cache's `stats`.

use std::sync::LazyLock;

use crate::common::{DbError, new_cache, within};
use cache_core::{Cache, EntryOptions, cached};

#[tokio::test]
async fn each_function_counts_its_own_calls() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);

    #[cached(cache = CACHE, key_prefix = "user")]
    async fn user(id: u64) -> Result<String, DbError> {
        if id == 0 {
            return Err(DbError("no user 0"));
        }
        Ok(format!("user {id}"))
    }

    #[cached(cache = CACHE, key_prefix = "order", level = "l1")]
    fn order(id: u64) -> u64 {
        id * 10
    }

    for _ in 0..3 {
        within(user(1)).await.unwrap();
    }
    assert!(within(user(0)).await.is_err());
    for id in 0..4 {
        order(id);
    }
    order(1);
    CACHE
        .set("greeting", "hi".to_owned(), &EntryOptions::new())
        .await;
    assert_eq!(CACHE.get::<String>("greeting").await.as_deref(), Some("hi"));
    within(user_invalidate(1)).await;

    let by_function = CACHE.stats_by_function();
    let user = by_function["user"];
    assert_eq!(
        (user.l1_hits, user.misses, user.loads, user.load_errors),
        (2, 2, 2, 1)
    );
    let order = by_function["order"];
    assert_eq!((order.l1_hits, order.misses, order.loads), (1, 4, 4));
    assert_eq!(by_function["<keyed>"].l1_hits, 1);
    assert_eq!(by_function.len(), 3);

    // The cache's stats are the functions' plus what belongs to none (the invalidation).
    let total = CACHE.stats();
    let sum = by_function
        .values()
        .fold(cache_core::Stats::default(), |a, b| a + *b);
    assert_eq!(total.l1_hits, sum.l1_hits);
    assert_eq!(total.loads, sum.loads);
    assert_eq!(total.invalidations, 1);
    assert_eq!(sum.invalidations, 0);
}
