//! `#[cached]` on async functions: every argument of the attribute, every return shape, with
//! the returned values and the cache's `Stats` checked. Each test has its own `Cache`.

use std::fmt::Display;
use std::hash::Hash;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::common::{new_cache, within};
use cache_core::{Cache, Stats, cached};

/// An error type that is neither `Clone` nor serializable.
#[derive(Debug, PartialEq)]
struct DbError(String);

#[tokio::test]
async fn result_caches_only_ok_and_tags_invalidate() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, ttl = "10m", key_prefix = "user", tags = ["users", "user:{id}"])]
    async fn user(id: u64) -> Result<String, DbError> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        if id == 0 {
            return Err(DbError("no user 0".into()));
        }
        let name = format!("user {id}");
        Ok(name)
    }

    assert_eq!(within(user(1)).await, Ok("user 1".to_owned()));
    assert_eq!(within(user(1)).await, Ok("user 1".to_owned()));
    assert_eq!(within(user(2)).await, Ok("user 2".to_owned()));
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);

    // Errors are returned untouched and never cached.
    assert_eq!(within(user(0)).await, Err(DbError("no user 0".into())));
    assert_eq!(within(user(0)).await, Err(DbError("no user 0".into())));
    assert_eq!(LOADS.load(Ordering::SeqCst), 4);

    let stats = CACHE.stats();
    assert_eq!(stats.l1_hits, 1);
    assert_eq!(stats.misses, 4);
    assert_eq!(stats.loads, 4);
    assert_eq!(stats.load_errors, 2);

    // The tag rendered from the argument reaches exactly that user's entry.
    CACHE.invalidate_tags(&["user:1"]).await;
    assert_eq!(within(user(1)).await, Ok("user 1".to_owned()));
    assert_eq!(within(user(2)).await, Ok("user 2".to_owned()));
    assert_eq!(LOADS.load(Ordering::SeqCst), 5);

    // The literal tag reaches every entry.
    CACHE.invalidate_tags(&["users"]).await;
    assert_eq!(within(user(1)).await, Ok("user 1".to_owned()));
    assert_eq!(within(user(2)).await, Ok("user 2".to_owned()));
    assert_eq!(LOADS.load(Ordering::SeqCst), 7);
    let stats = CACHE.stats();
    assert_eq!(stats.l1_hits, 2);
    assert_eq!(stats.invalidations, 2);
}

#[tokio::test]
async fn option_caches_only_some_without_cache_none() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE)]
    async fn find(email: &str) -> Option<u64> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        (email == "ada@example.com").then_some(7)
    }

    assert_eq!(within(find("ada@example.com")).await, Some(7));
    assert_eq!(within(find("ada@example.com")).await, Some(7));
    assert_eq!(within(find("nobody@example.com")).await, None);
    assert_eq!(within(find("nobody@example.com")).await, None);
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
    let stats = CACHE.stats();
    assert_eq!(stats.l1_hits, 1);
    assert_eq!(stats.misses, 3);
    // A `None` is "nothing to cache", not a failed load.
    assert_eq!(stats.load_errors, 0);
}

#[tokio::test]
async fn cache_none_caches_none_too() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, cache_none)]
    async fn find(email: &str) -> Option<u64> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        (email == "ada@example.com").then_some(7)
    }

    #[cached(cache = CACHE, cache_none = true, key_prefix = "explicit")]
    async fn find_explicit(email: &str) -> Option<u64> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        (email == "ada@example.com").then_some(7)
    }

    assert_eq!(within(find("nobody@example.com")).await, None);
    assert_eq!(within(find("nobody@example.com")).await, None);
    assert_eq!(within(find("ada@example.com")).await, Some(7));
    assert_eq!(within(find("ada@example.com")).await, Some(7));
    assert_eq!(within(find_explicit("nobody@example.com")).await, None);
    assert_eq!(within(find_explicit("nobody@example.com")).await, None);
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
    let stats = CACHE.stats();
    assert_eq!(stats.l1_hits, 3);
    assert_eq!(stats.misses, 3);
}

#[tokio::test]
async fn result_option_caches_only_ok_some_without_cache_none() {
    static CACHE: LazyLock<Cache> = LazyLock::new(|| {
        Cache::builder()
            .stale_if_error(Duration::from_secs(60))
            .build()
            .unwrap()
    });
    static LOADS: AtomicU32 = AtomicU32::new(0);
    static DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    /// A lookup that may find nothing (`Ok(None)`) or fail (`Err`).
    #[cached(cache = CACHE, ttl = "50ms")]
    async fn by_email(email: &str) -> Result<Option<u64>, DbError> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        if DOWN.load(Ordering::SeqCst) {
            return Err(DbError("down".into()));
        }
        Ok((email == "ada@example.com").then_some(7))
    }

    // `Ok(Some)` is cached.
    assert_eq!(within(by_email("ada@example.com")).await, Ok(Some(7)));
    assert_eq!(within(by_email("ada@example.com")).await, Ok(Some(7)));
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    // `Ok(None)` is not: a new address is looked up again, and it is not a failure.
    assert_eq!(within(by_email("new@example.com")).await, Ok(None));
    assert_eq!(within(by_email("new@example.com")).await, Ok(None));
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
    let stats = CACHE.stats();
    assert_eq!((stats.l1_hits, stats.misses, stats.load_errors), (1, 3, 0));

    // An `Err` is a failure: counted, and answered with the expired value within the cache's
    // stale-if-error window.
    tokio::time::sleep(Duration::from_millis(120)).await;
    DOWN.store(true, Ordering::SeqCst);
    assert_eq!(within(by_email("ada@example.com")).await, Ok(Some(7)));
    assert_eq!(
        within(by_email("new@example.com")).await,
        Err(DbError("down".into()))
    );
    let stats = CACHE.stats();
    assert_eq!((stats.load_errors, stats.stale_served), (2, 1));
}

#[tokio::test]
async fn result_option_with_cache_none_caches_ok_none_too() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, cache_none)]
    async fn by_email(email: &str) -> Result<Option<u64>, DbError> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        Ok((email == "ada@example.com").then_some(7))
    }

    assert_eq!(within(by_email("new@example.com")).await, Ok(None));
    assert_eq!(within(by_email("new@example.com")).await, Ok(None));
    assert_eq!(LOADS.load(Ordering::SeqCst), 1, "`Ok(None)` was cached");
}

#[tokio::test]
async fn plain_values_are_cached_as_is() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE)]
    async fn area(width: u32, height: u32) -> u64 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        u64::from(width) * u64::from(height)
    }

    #[cached(cache = CACHE)]
    async fn constant() -> Vec<String> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        vec!["a".to_owned()]
    }

    assert_eq!(within(area(2, 3)).await, 6);
    assert_eq!(within(area(2, 3)).await, 6);
    assert_eq!(within(area(3, 2)).await, 6);
    assert_eq!(within(constant()).await, ["a"]);
    assert_eq!(within(constant()).await, ["a"]);
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
    assert_eq!(
        CACHE.stats(),
        Stats {
            l1_hits: 2,
            misses: 3,
            loads: 3,
            ..Stats::default()
        }
    );
}

#[tokio::test]
async fn the_default_key_prefix_is_the_module_path_and_function_name() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE)]
    async fn square(n: u64, label: &str) -> String {
        LOADS.fetch_add(1, Ordering::SeqCst);
        format!("{label}{}", n * n)
    }

    assert_eq!(within(square(3, "a b")).await, "a b9");
    assert_eq!(within(square(3, "a b")).await, "a b9");
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    // Keys are "{module path}::{fn}:{part}:{part}", each part escaped.
    let key = concat!(module_path!(), "::square:3:a%20b");
    CACHE.invalidate(key).await;
    assert_eq!(within(square(3, "a b")).await, "a b9");
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
    // Another key of the same function is untouched.
    assert_eq!(within(square(4, "x")).await, "x16");
    CACHE
        .invalidate(concat!(module_path!(), "::square:3:x"))
        .await;
    assert_eq!(within(square(4, "x")).await, "x16");
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_explicit_key_prefix_and_key_template() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "search", key = "{user}/{page}")]
    async fn search(user: &str, page: u32, verbose: bool) -> Vec<String> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        let _ = verbose;
        vec![format!("{user}@{page}")]
    }

    assert_eq!(within(search("ada", 1, false)).await, ["ada@1"]);
    // `verbose` is not part of the key: same entry.
    assert_eq!(within(search("ada", 1, true)).await, ["ada@1"]);
    assert_eq!(within(search("ada", 2, true)).await, ["ada@2"]);
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
    CACHE.invalidate("search:ada/1").await;
    assert_eq!(within(search("ada", 1, true)).await, ["ada@1"]);
    assert_eq!(within(search("ada", 2, true)).await, ["ada@2"]);
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
    let stats = CACHE.stats();
    assert_eq!(stats.l1_hits, 2);
    assert_eq!(stats.misses, 3);
}

struct Query {
    user_id: u64,
    filter: String,
    pair: (u8, u8),
}

#[tokio::test]
async fn key_templates_with_field_paths() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "q", key = "{query.user_id}:{query.filter}:{query.pair.1}")]
    async fn run(query: &Query) -> String {
        LOADS.fetch_add(1, Ordering::SeqCst);
        format!("{}-{}", query.user_id, query.filter)
    }

    let query = Query {
        user_id: 5,
        filter: "a:b".into(),
        pair: (1, 2),
    };
    assert_eq!(within(run(&query)).await, "5-a:b");
    let same = Query {
        pair: (9, 2),
        ..query
    };
    assert_eq!(within(run(&same)).await, "5-a:b");
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    // The filter's ':' is escaped in the key.
    CACHE.invalidate("q:5:a%3Ab:2").await;
    assert_eq!(within(run(&same)).await, "5-a:b");
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
}

/// A repository holding its own cache and a "database pool" that is not part of any key.
struct Repo {
    cache: Cache,
    pool: Arc<AtomicU32>,
    tenant: String,
}

impl Repo {
    #[cached(cache = self.cache, key_prefix = "repo", key = "{self.tenant}:{id}")]
    async fn user(&self, id: u64) -> Result<String, DbError> {
        self.pool.fetch_add(1, Ordering::SeqCst);
        Ok(format!("{}/{id}", self.tenant))
    }

    #[cached(cache = self.cache, key_prefix = "repo:page", key = "{id}:{page}")]
    async fn page(&self, id: u64, page: u32, trace: bool) -> Vec<u64> {
        self.pool.fetch_add(1, Ordering::SeqCst);
        let _ = trace;
        vec![id, u64::from(page)]
    }

    /// `&self` is never part of the default key.
    #[cached(cache = &self.cache, key_prefix = "repo:count")]
    async fn count(&self, kind: &str) -> usize {
        self.pool.fetch_add(1, Ordering::SeqCst);
        kind.len()
    }
}

#[tokio::test]
async fn methods_with_key_templates() {
    let repo = Repo {
        cache: new_cache(),
        pool: Arc::new(AtomicU32::new(0)),
        tenant: "acme".into(),
    };
    assert_eq!(within(repo.user(1)).await, Ok("acme/1".to_owned()));
    assert_eq!(within(repo.user(1)).await, Ok("acme/1".to_owned()));
    assert_eq!(within(repo.page(1, 2, false)).await, [1, 2]);
    assert_eq!(within(repo.page(1, 2, true)).await, [1, 2]);
    assert_eq!(within(repo.count("abc")).await, 3);
    assert_eq!(within(repo.count("abc")).await, 3);
    assert_eq!(repo.pool.load(Ordering::SeqCst), 3);
    let stats = repo.cache.stats();
    assert_eq!(stats.l1_hits, 3);
    assert_eq!(stats.misses, 3);

    // Another repo with its own cache does not see these entries.
    let other = Repo {
        cache: new_cache(),
        pool: Arc::new(AtomicU32::new(0)),
        tenant: "acme".into(),
    };
    assert_eq!(within(other.user(1)).await, Ok("acme/1".to_owned()));
    assert_eq!(other.pool.load(Ordering::SeqCst), 1);

    repo.cache.invalidate("repo:acme:1").await;
    repo.cache.invalidate("repo:page:1:2").await;
    repo.cache.invalidate("repo:count:abc").await;
    assert_eq!(within(repo.user(1)).await, Ok("acme/1".to_owned()));
    assert_eq!(within(repo.page(1, 2, true)).await, [1, 2]);
    assert_eq!(within(repo.count("abc")).await, 3);
    assert_eq!(repo.pool.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn generic_functions_keep_one_store_per_instantiation() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "describe")]
    async fn describe<T>(value: T) -> String
    where
        T: Display + Hash + Eq + Clone + Send + Sync + 'static,
    {
        LOADS.fetch_add(1, Ordering::SeqCst);
        format!("<{value}>")
    }

    assert_eq!(within(describe(1u64)).await, "<1>");
    assert_eq!(within(describe(1u64)).await, "<1>");
    assert_eq!(within(describe("1".to_owned())).await, "<1>");
    assert_eq!(within(describe("1".to_owned())).await, "<1>");
    assert_eq!(within(describe('x')).await, "<x>");
    assert_eq!(LOADS.load(Ordering::SeqCst), 3);
    let stats = CACHE.stats();
    assert_eq!(stats.l1_hits, 2);
    assert_eq!(stats.misses, 3);
}

#[tokio::test]
async fn level_l1_needs_no_serde() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    /// Neither `Serialize` nor `Deserialize`.
    #[derive(Clone, Debug, PartialEq)]
    struct Compiled(Arc<Vec<u8>>);

    #[cached(cache = CACHE, level = "l1", ttl = "1h")]
    async fn compile(source: &str) -> Result<Compiled, DbError> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        Ok(Compiled(Arc::new(source.bytes().collect())))
    }

    #[cached(cache = CACHE, level = "both")]
    async fn length(source: &str) -> usize {
        LOADS.fetch_add(1, Ordering::SeqCst);
        source.len()
    }

    let first = within(compile("ab")).await.unwrap();
    let second = within(compile("ab")).await.unwrap();
    assert!(
        Arc::ptr_eq(&first.0, &second.0),
        "a hit clones the cached value"
    );
    assert_eq!(within(length("ab")).await, 2);
    assert_eq!(within(length("ab")).await, 2);
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
    assert_eq!(CACHE.stats().l1_hits, 2);
}

#[tokio::test]
async fn ttl_expires_entries() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, ttl = "300ms")]
    async fn short(id: u64) -> u64 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        id
    }

    #[cached(cache = CACHE, ttl = 1)]
    async fn one_second(id: u64) -> u64 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        id
    }

    assert_eq!(within(short(1)).await, 1);
    assert_eq!(within(one_second(1)).await, 1);
    assert_eq!(within(short(1)).await, 1);
    assert_eq!(within(one_second(1)).await, 1);
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(within(short(1)).await, 1);
    assert_eq!(within(one_second(1)).await, 1);
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        3,
        "only the 300 ms entry expired"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(within(one_second(1)).await, 1);
    assert_eq!(LOADS.load(Ordering::SeqCst), 4);
    let stats = CACHE.stats();
    assert_eq!(stats.misses, 4);
    assert_eq!(stats.l1_hits, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_run_the_body_once() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE)]
    async fn slow(id: u64) -> Result<u64, DbError> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(id * 10)
    }

    let calls: Vec<_> = (0..8).map(|_| tokio::spawn(slow(4))).collect();
    for call in calls {
        assert_eq!(within(call).await.unwrap(), Ok(40));
    }
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    let stats = CACHE.stats();
    assert_eq!(stats.loads, 1);
    assert_eq!(stats.misses + stats.coalesced + stats.l1_hits, 8);
    assert_eq!(stats.misses, 1);
}

#[tokio::test]
async fn the_cache_expression_may_await() {
    static CELL: tokio::sync::OnceCell<Cache> = tokio::sync::OnceCell::const_new();
    static LOADS: AtomicU32 = AtomicU32::new(0);

    async fn make_cache() -> Cache {
        tokio::task::yield_now().await;
        new_cache()
    }

    #[cached(cache = CELL.get_or_init(make_cache).await)]
    async fn double(n: u64) -> u64 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        n * 2
    }

    assert_eq!(within(double(4)).await, 8);
    assert_eq!(within(double(4)).await, 8);
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    assert_eq!(CELL.get().unwrap().stats().l1_hits, 1);
}

#[tokio::test]
async fn the_global_cache_is_the_default() {
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(key_prefix = "macros_cached:global")]
    async fn triple(n: u64) -> u64 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        n * 3
    }

    let before = cache_core::global().stats();
    assert_eq!(within(triple(4)).await, 12);
    assert_eq!(within(triple(4)).await, 12);
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    let after = cache_core::global().stats();
    assert!(after.l1_hits > before.l1_hits);
    cache_core::global()
        .invalidate("macros_cached:global:4")
        .await;
    assert_eq!(within(triple(4)).await, 12);
    assert_eq!(LOADS.load(Ordering::SeqCst), 2);
}

/// A crate re-exporting `cache_core` under another path.
mod platform {
    pub use cache_core as cache;
}

#[tokio::test]
async fn the_crate_argument_renames_the_runtime_crate() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[platform::cache::cached(crate = "crate::macros_cached::platform::cache", cache = CACHE)]
    async fn renamed(n: u64) -> u64 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        n + 1
    }

    assert_eq!(within(renamed(1)).await, 2);
    assert_eq!(within(renamed(1)).await, 2);
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    assert_eq!(CACHE.stats().l1_hits, 1);
}

#[tokio::test]
async fn the_future_is_send() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);

    #[cached(cache = CACHE)]
    async fn fetch(name: &str) -> Result<String, DbError> {
        tokio::task::yield_now().await;
        Ok(name.to_uppercase())
    }

    fn assert_send<T: Send>(value: T) -> T {
        value
    }
    let name = String::from("ada");
    assert_eq!(within(assert_send(fetch(&name))).await, Ok("ADA".into()));
    let spawned = tokio::spawn(async { fetch("bob").await });
    assert_eq!(within(spawned).await.unwrap(), Ok("BOB".into()));
}
