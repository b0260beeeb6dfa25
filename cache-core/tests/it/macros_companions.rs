//! The functions `#[cached]` generates next to `f` (`f_invalidate`, `f_refresh`,
//! `f_uncached`) and the `condition` and `unless` arguments, checked by their loads, values and
//! `Stats`.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::common::{DbError, new_cache, within};
use cache_core::{Cache, cached};

#[tokio::test]
async fn invalidate_refresh_and_uncached_act_on_one_entry() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "user")]
    async fn user(id: u64) -> Result<String, DbError> {
        let n = LOADS.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(format!("user {id} #{n}"))
    }

    assert_eq!(within(user(1)).await, Ok("user 1 #1".to_owned()));
    assert_eq!(within(user(1)).await, Ok("user 1 #1".to_owned()));
    assert_eq!(within(user(2)).await, Ok("user 2 #2".to_owned()));

    // _invalidate: that entry only.
    within(user_invalidate(1)).await;
    assert_eq!(CACHE.stats().invalidations, 1);
    assert_eq!(within(user(1)).await, Ok("user 1 #3".to_owned()));
    assert_eq!(
        within(user(2)).await,
        Ok("user 2 #2".to_owned()),
        "other keys stay"
    );

    // _refresh: runs the body now and stores the result; the next call is a hit.
    assert_eq!(within(user_refresh(2)).await, Ok("user 2 #4".to_owned()));
    let before = CACHE.stats();
    assert_eq!(within(user(2)).await, Ok("user 2 #4".to_owned()));
    assert_eq!(CACHE.stats().loads, before.loads);
    assert_eq!(CACHE.stats().l1_hits, before.l1_hits + 1);

    // _uncached: the body alone, the cache untouched.
    assert_eq!(within(user_uncached(2)).await, Ok("user 2 #5".to_owned()));
    assert_eq!(CACHE.stats().loads, before.loads, "not a load of the cache");
    assert_eq!(within(user(2)).await, Ok("user 2 #4".to_owned()));
    assert_eq!(LOADS.load(Ordering::SeqCst), 5);
}

/// A service whose methods are cached on its own cache.
struct Directory {
    cache: Cache,
    queries: AtomicU32,
}

impl Directory {
    #[cached(cache = self.cache, key = "{team}:{name}", level = "l1")]
    fn member(&self, team: &str, name: &str) -> Option<String> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        (name != "nobody").then(|| format!("{name} of {team}"))
    }
}

#[test]
fn companions_of_a_method_take_the_receiver() {
    let directory = Directory {
        cache: new_cache(),
        queries: AtomicU32::new(0),
    };
    assert_eq!(
        directory.member("ops", "ada"),
        Some("ada of ops".to_owned())
    );
    assert_eq!(
        directory.member("ops", "ada"),
        Some("ada of ops".to_owned())
    );
    assert_eq!(directory.queries.load(Ordering::SeqCst), 1);

    directory.member_invalidate("ops", "ada");
    assert_eq!(
        directory.member("ops", "ada"),
        Some("ada of ops".to_owned())
    );
    assert_eq!(directory.queries.load(Ordering::SeqCst), 2);

    // Warming: _refresh stores; the later call is a hit.
    assert_eq!(
        directory.member_refresh("dev", "bob"),
        Some("bob of dev".to_owned())
    );
    assert_eq!(
        directory.member("dev", "bob"),
        Some("bob of dev".to_owned())
    );
    assert_eq!(directory.queries.load(Ordering::SeqCst), 3);

    // `None` is not cached, through _refresh either.
    assert_eq!(directory.member_refresh("dev", "nobody"), None);
    assert_eq!(directory.member("dev", "nobody"), None);
    assert_eq!(directory.queries.load(Ordering::SeqCst), 5);
    assert_eq!(
        directory.member_uncached("dev", "bob"),
        Some("bob of dev".to_owned())
    );
    assert_eq!(directory.queries.load(Ordering::SeqCst), 6);
}

#[test]
fn a_false_condition_bypasses_the_cache() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key = "{id}", condition = !fresh, level = "l1")]
    fn balance(id: u64, fresh: bool) -> u64 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        id * 100
    }

    // `fresh = true`: no read, no write.
    assert_eq!(balance(1, true), 100);
    assert_eq!(balance(1, true), 100);
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
    assert_eq!(CACHE.l1_len(), 0);
    let stats = CACHE.stats();
    assert_eq!((stats.loads, stats.misses, stats.l1_hits), (0, 0, 0));

    assert_eq!(balance(1, false), 100);
    assert_eq!(balance(1, false), 100);
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
    assert_eq!(CACHE.l1_len(), 1);
    // A bypassing call does not read the cached value either.
    assert_eq!(balance(1, true), 100);
    assert_eq!(LOADS.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn unless_keeps_a_value_out_of_the_cache() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, unless = |hits: &Vec<u64>| hits.is_empty())]
    async fn search(query: &str) -> Vec<u64> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        if query == "none" {
            Vec::new()
        } else {
            vec![1, 2, 3]
        }
    }

    assert_eq!(within(search("none")).await, Vec::<u64>::new());
    assert_eq!(within(search("none")).await, Vec::<u64>::new());
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        2,
        "an empty result is not stored"
    );
    assert_eq!(within(search("rust")).await, vec![1, 2, 3]);
    assert_eq!(within(search("rust")).await, vec![1, 2, 3]);
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
    assert_eq!(CACHE.l1_len(), 1);
}

/// A trait whose implementation caches a method: a trait impl cannot gain the companion
/// functions, so `companions = false` keeps everything inside the method.
trait Catalog {
    fn title(&self, id: u64) -> String;
}

struct Books {
    cache: Cache,
    queries: AtomicU32,
}

impl Catalog for Books {
    #[cached(cache = self.cache, level = "l1", companions = false)]
    fn title(&self, id: u64) -> String {
        self.queries.fetch_add(1, Ordering::SeqCst);
        format!("book {id}")
    }
}

#[test]
fn trait_impl_methods_are_cached_without_companions() {
    let books = Books {
        cache: new_cache(),
        queries: AtomicU32::new(0),
    };
    assert_eq!(books.title(1), "book 1");
    assert_eq!(books.title(1), "book 1");
    assert_eq!(books.queries.load(Ordering::SeqCst), 1);
    assert_eq!(books.cache.stats().l1_hits, 1);
}
