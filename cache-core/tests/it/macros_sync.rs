//! `#[cached]` on plain `fn`s: outside any runtime, inside a multi-thread runtime (directly and
//! through `spawn_blocking`), inside a current-thread runtime, with `return` and `?` in the body.

use std::num::ParseIntError;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cache_core::{Cache, cached};

fn new_cache() -> Cache {
    Cache::builder().build().unwrap()
}

static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
static PARSES: AtomicU32 = AtomicU32::new(0);

/// `?` and an early `return` in a cached sync body.
#[cached(cache = CACHE, ttl = "10m", key_prefix = "parse", tags = ["parse:{text}"])]
fn parse(text: &str) -> Result<i64, ParseIntError> {
    PARSES.fetch_add(1, Ordering::SeqCst);
    if text.is_empty() {
        return Ok(0);
    }
    let value: i64 = text.trim().parse()?;
    Ok(value * 2)
}

#[test]
fn outside_any_runtime() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE)]
    fn length(text: &str) -> usize {
        LOADS.fetch_add(1, Ordering::SeqCst);
        text.len()
    }

    #[cached(cache = CACHE)]
    fn maybe(n: u32) -> Option<u32> {
        LOADS.fetch_add(1, Ordering::SeqCst);
        n.checked_sub(1)
    }

    assert_eq!(length("abc"), 3);
    assert_eq!(length("abc"), 3);
    assert_eq!(maybe(0), None);
    assert_eq!(maybe(0), None);
    assert_eq!(maybe(2), Some(1));
    assert_eq!(maybe(2), Some(1));
    assert_eq!(LOADS.load(Ordering::SeqCst), 4);
    let stats = CACHE.stats();
    assert_eq!(stats.l1_hits, 2);
    assert_eq!(stats.misses, 4);
    assert_eq!(stats.load_errors, 0);
}

#[test]
fn return_and_question_mark_in_a_sync_body() {
    let before = PARSES.load(Ordering::SeqCst);
    assert_eq!(parse("21"), Ok(42));
    assert_eq!(parse("21"), Ok(42));
    assert_eq!(parse(""), Ok(0));
    assert_eq!(parse(""), Ok(0));
    assert!(parse("x").is_err());
    assert!(parse("x").is_err());
    assert_eq!(PARSES.load(Ordering::SeqCst) - before, 4);
    CACHE.invalidate_tags_blocking(&["parse:21"]);
    assert_eq!(parse("21"), Ok(42));
    assert_eq!(PARSES.load(Ordering::SeqCst) - before, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_multi_thread_runtime() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE, key_prefix = "square")]
    fn square(n: u64) -> u64 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        n * n
    }

    // Directly on a worker thread.
    assert_eq!(square(3), 9);
    assert_eq!(square(3), 9);
    // On blocking threads, concurrently.
    let calls: Vec<_> = (0..4)
        .map(|_| tokio::task::spawn_blocking(|| square(5)))
        .collect();
    for call in calls {
        let value = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("timed out")
            .unwrap();
        assert_eq!(value, 25);
    }
    assert_eq!(
        LOADS.load(Ordering::SeqCst),
        2,
        "single-flight across threads"
    );
    let stats = CACHE.stats();
    assert_eq!(stats.loads, 2);
    assert_eq!(stats.misses, 2);
    assert_eq!(stats.l1_hits + stats.coalesced, 4);
}

#[tokio::test(flavor = "current_thread")]
async fn inside_a_current_thread_runtime() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static LOADS: AtomicU32 = AtomicU32::new(0);

    #[cached(cache = CACHE)]
    fn cube(n: u64) -> u64 {
        LOADS.fetch_add(1, Ordering::SeqCst);
        n * n * n
    }

    assert_eq!(cube(2), 8);
    assert_eq!(cube(2), 8);
    assert_eq!(LOADS.load(Ordering::SeqCst), 1);
    assert_eq!(CACHE.stats().l1_hits, 1);
}

/// A sync method: `&self` is not part of the key, a field of it may be.
struct Catalog {
    cache: Cache,
    region: &'static str,
    loads: AtomicU32,
}

impl Catalog {
    #[cached(cache = self.cache, key = "{self.region}:{sku}")]
    fn price(&self, sku: u32) -> Option<u32> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        (sku != 0).then_some(sku * 100)
    }
}

#[test]
fn sync_methods() {
    let catalog = Catalog {
        cache: new_cache(),
        region: "eu",
        loads: AtomicU32::new(0),
    };
    assert_eq!(catalog.price(3), Some(300));
    assert_eq!(catalog.price(3), Some(300));
    assert_eq!(catalog.price(0), None);
    assert_eq!(catalog.loads.load(Ordering::SeqCst), 2);
    let key = concat!(module_path!(), "::price:eu:3");
    catalog.cache.invalidate_blocking(key);
    assert_eq!(catalog.price(3), Some(300));
    assert_eq!(catalog.loads.load(Ordering::SeqCst), 3);
    let stats = catalog.cache.stats();
    assert_eq!(stats.l1_hits, 1);
    assert_eq!(stats.misses, 3);
}
