//! Refresh-ahead through `#[cached]` never makes a caller wait, whatever the function's shape:
//! borrowed arguments (`&str`, `&[T]`), methods on `&self` (the receiver is cloned), async and
//! sync. Each reload is held at a gate until the test opens it, so "the caller did not wait"
//! is asserted without timing: the refreshing call returns the current value while its reload
//! cannot finish (a caller that waited would hang, and `within` would fail the test).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use crate::common::{eventually, within};
use cache_core::{Cache, cached};

/// A gate a reload waits at (at most 10 s, so a bug fails instead of hanging).
#[derive(Clone, Default)]
struct Gate(Arc<AtomicBool>);

impl Gate {
    fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wait_blocking(&self) {
        for _ in 0..10_000 {
            if self.0.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the gate was never opened");
    }

    async fn wait(&self) {
        for _ in 0..10_000 {
            if self.0.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the gate was never opened");
    }
}

static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());
static LOADS: AtomicU32 = AtomicU32::new(0);
static GATE: LazyLock<Gate> = LazyLock::new(Gate::default);

/// Version 1, 2, 3... of the price; every reload waits at the gate.
#[cached(cache = CACHE, ttl = "1s", refresh_ahead = 0.5)]
async fn price(market: &str) -> Result<String, std::io::Error> {
    let version = LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    if version > 1 {
        GATE.wait().await;
    }
    Ok(format!("{market}@v{version}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borrowed_argument_refreshes_in_the_background() {
    assert_eq!(within(price("eu")).await.unwrap(), "eu@v1");
    // Past the refresh point (500 ms), before expiry (1 s).
    tokio::time::sleep(Duration::from_millis(550)).await;

    // The refreshing call returns the current value while its reload is held at the gate.
    assert_eq!(within(price("eu")).await.unwrap(), "eu@v1");
    for _ in 0..5 {
        assert_eq!(within(price("eu")).await.unwrap(), "eu@v1");
    }
    GATE.open();
    eventually(|| CACHE.stats().refreshes == 1 && LOADS.load(Ordering::SeqCst) == 2).await;
    let mut fresh = String::new();
    for _ in 0..100 {
        fresh = within(price("eu")).await.unwrap();
        if fresh == "eu@v2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fresh, "eu@v2", "a later call returns the reloaded value");
    assert_eq!(LOADS.load(Ordering::SeqCst), 2, "exactly one reload");
    let stats = CACHE.stats();
    assert_eq!((stats.loads, stats.refreshes, stats.misses), (2, 1, 1));
}

/// A service whose state is shared (`Clone` is cheap): refresh-ahead clones it for the
/// background reload.
#[derive(Clone)]
struct Service {
    cache: Cache,
    queries: Arc<AtomicU32>,
    gate: Gate,
}

impl Service {
    fn new() -> Self {
        Self {
            cache: Cache::builder().build().unwrap(),
            queries: Arc::new(AtomicU32::new(0)),
            gate: Gate::default(),
        }
    }

    #[cached(cache = self.cache, ttl = "1s", refresh_ahead = 0.5, key = "{name}")]
    fn greeting(&self, name: &str) -> String {
        let n = self.queries.fetch_add(1, Ordering::SeqCst) + 1;
        if n > 1 {
            self.gate.wait_blocking();
        }
        format!("hello {name} #{n}")
    }

    #[cached(cache = self.cache, ttl = "1s", refresh_ahead = 0.5, level = "l1", key = "{label}")]
    async fn total(&self, label: &str, ids: &[u64]) -> u64 {
        let n = self.queries.fetch_add(1, Ordering::SeqCst) + 1;
        if n > 1 {
            self.gate.wait().await;
        }
        ids.iter().sum::<u64>() * u64::from(n)
    }
}

#[test]
fn a_sync_method_on_self_refreshes_in_the_background() {
    let service = Service::new();
    assert_eq!(service.greeting("ada"), "hello ada #1");
    std::thread::sleep(Duration::from_millis(550));
    // Returns at once with the current value; the reload waits at the gate on another thread.
    assert_eq!(service.greeting("ada"), "hello ada #1");
    assert_eq!(service.greeting("ada"), "hello ada #1");
    service.gate.open();
    let mut fresh = String::new();
    for _ in 0..1_000 {
        fresh = service.greeting("ada");
        if fresh == "hello ada #2" {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(fresh, "hello ada #2");
    assert_eq!(
        service.queries.load(Ordering::SeqCst),
        2,
        "exactly one reload"
    );
    let stats = service.cache.stats();
    assert_eq!((stats.loads, stats.refreshes), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_method_with_a_slice_refreshes_in_the_background() {
    let service = Service::new();
    let ids = vec![1, 2, 3];
    assert_eq!(within(service.total("abc", &ids)).await, 6);
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(
        within(service.total("abc", &ids)).await,
        6,
        "the current value, at once"
    );
    service.gate.open();
    eventually(|| service.cache.stats().refreshes == 1).await;
    let mut fresh = 0;
    for _ in 0..100 {
        fresh = within(service.total("abc", &ids)).await;
        if fresh == 12 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fresh, 12, "a later call returns the reloaded value");
    assert_eq!(
        service.queries.load(Ordering::SeqCst),
        2,
        "exactly one reload"
    );
}

static GENERIC_LOADS: AtomicU32 = AtomicU32::new(0);
static GENERIC_GATE: LazyLock<Gate> = LazyLock::new(Gate::default);

/// A generic function: the background reload calls `label_uncached::<T>`.
#[cached(cache = CACHE, ttl = "1s", refresh_ahead = 0.5, key_prefix = "label", level = "l1")]
async fn label<T>(value: T) -> String
where
    T: std::fmt::Display + std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    let n = GENERIC_LOADS.fetch_add(1, Ordering::SeqCst) + 1;
    if n > 1 {
        GENERIC_GATE.wait().await;
    }
    format!("{value}#{n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_function_refreshes_in_the_background() {
    assert_eq!(within(label(7u64)).await, "7#1");
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(
        within(label(7u64)).await,
        "7#1",
        "the current value, at once"
    );
    GENERIC_GATE.open();
    let mut fresh = String::new();
    for _ in 0..100 {
        fresh = within(label(7u64)).await;
        if fresh == "7#2" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fresh, "7#2");
    assert_eq!(
        GENERIC_LOADS.load(Ordering::SeqCst),
        2,
        "exactly one reload"
    );
}
