//! Refresh-ahead through `#[cached]` inline, one test per shape the rule sends there whatever
//! sets the fraction: `&mut self` and `&mut` arguments, `companions = false` (with and without
//! `condition`), an argument bound by a pattern; async and sync (the shapes a fraction from the
//! builder alone sends inline are in `macros_refresh_builder.rs`). The caller that
//! claims the refresh reloads and returns the fresh value, while a call made meanwhile returns
//! the current value without waiting (`refresh_harness.rs`).
//!
//! Also here: with `condition` and `companions = false`, the body is one body, whichever path
//! runs it.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::refresh_harness::{Ran, Subject, drive, drive_blocking};
use cache_core::{Cache, cached};

static METER: LazyLock<Subject> = LazyLock::new(Subject::new);

/// A `&mut self` method: a copy of the receiver would not be the caller's.
struct Meter {
    reads: u32,
}

impl Meter {
    #[cached(cache = METER.cache, ttl = "100s", refresh_ahead = 0.005, level = "l1")]
    fn reading(&mut self, dial: &str) -> String {
        self.reads += 1;
        format!("{dial}={}", METER.probe.load_blocking())
    }
}

#[test]
fn a_mut_self_method_refreshes_inline() {
    let call = || Meter { reads: 0 }.reading("a");
    let (current, fresh) = ("a=1".to_owned(), "a=2".to_owned());
    drive_blocking(&METER, call, current, fresh, Ran::Inline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_fn_with_a_mut_argument_refreshes_inline() {
    static S: LazyLock<Subject> = LazyLock::new(Subject::new);

    #[cached(cache = S.cache, ttl = "100s", refresh_ahead = 0.005, key = "{id}", level = "l1")]
    async fn fill(buffer: &mut Vec<u32>, id: u32) -> u32 {
        let version = S.probe.load().await;
        buffer.push(version);
        id * version
    }

    let call = || async { fill(&mut Vec::new(), 5).await };
    drive(&S, call, 5, 10, Ran::Inline).await;
}

/// A trait whose implementation caches a method: a trait impl cannot gain companions.
trait Catalog {
    fn title(&self, id: u64) -> String;
}

struct Books(Subject);

impl Catalog for Books {
    #[cached(cache = self.0.cache, ttl = "100s", refresh_ahead = 0.005, level = "l1", companions = false)]
    fn title(&self, id: u64) -> String {
        format!("book {id} v{}", self.0.probe.load_blocking())
    }
}

#[test]
fn a_trait_method_without_companions_refreshes_inline() {
    static BOOKS: LazyLock<Books> = LazyLock::new(|| Books(Subject::new()));
    let (current, fresh) = ("book 3 v1".to_owned(), "book 3 v2".to_owned());
    drive_blocking(&BOOKS.0, || BOOKS.title(3), current, fresh, Ran::Inline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_fn_without_companions_and_with_a_condition_refreshes_inline() {
    static S: LazyLock<Subject> = LazyLock::new(Subject::new);

    #[cached(
        cache = S.cache,
        ttl = "100s",
        refresh_ahead = 0.005,
        key = "{id}",
        condition = !fresh,
        companions = false
    )]
    async fn stock(id: u64, fresh: bool) -> Result<u64, std::io::Error> {
        Ok(id * u64::from(S.probe.load().await))
    }

    let call = || async { stock(4, false).await.unwrap() };
    drive(&S, call, 4, 8, Ran::Inline).await;
}

#[test]
fn an_argument_bound_by_a_pattern_refreshes_inline() {
    static S: LazyLock<Subject> = LazyLock::new(Subject::new);

    /// No companions: `(width, height)` has no name to forward.
    #[cached(cache = S.cache, ttl = "100s", refresh_ahead = 0.005, key = "{id}", level = "l1")]
    fn area(id: u64, (width, height): (u64, u64)) -> u64 {
        id + width * height * u64::from(S.probe.load_blocking())
    }

    drive_blocking(&S, || area(1, (2, 3)), 7, 13, Ran::Inline);
}

#[test]
fn with_a_condition_and_no_companions_the_body_is_one_body() {
    static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());

    #[cached(cache = CACHE, key = "{id}", condition = !fresh, companions = false, level = "l1")]
    fn calls(id: u64, fresh: bool) -> u32 {
        // Were the body emitted twice (once for a false condition, once for the cache), each
        // copy would have its own counter, and the two paths would count apart.
        static CALLS: AtomicU32 = AtomicU32::new(0);
        let _ = id;
        CALLS.fetch_add(1, Ordering::SeqCst) + 1
    }

    assert_eq!(calls(1, true), 1, "the condition is false: the body runs");
    assert_eq!(calls(1, false), 2, "a miss runs the same body");
    assert_eq!(calls(1, false), 2, "a hit");
    assert_eq!(calls(1, true), 3, "the same body again");
    let stats = CACHE.stats();
    assert_eq!((stats.loads, stats.l1_hits), (1, 1));
}

#[tokio::test]
async fn with_a_condition_and_no_companions_an_async_body_is_one_body() {
    static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());

    #[cached(cache = CACHE, key = "{id}", condition = !fresh, companions = false, level = "l1")]
    async fn calls(id: u64, fresh: bool) -> u32 {
        static CALLS: AtomicU32 = AtomicU32::new(0);
        let _ = id;
        tokio::task::yield_now().await;
        CALLS.fetch_add(1, Ordering::SeqCst) + 1
    }

    assert_eq!(calls(1, true).await, 1);
    assert_eq!(calls(1, false).await, 2);
    assert_eq!(calls(1, false).await, 2);
    assert_eq!(calls(1, true).await, 3);
}
