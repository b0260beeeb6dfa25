//! Refresh-ahead through `#[cached]` with the fraction set only on the builder, one test per
//! shape: the generated code reloads in the background whenever the receiver and arguments can
//! be owned (owned and borrowed arguments, `&self` on a `Clone` type, a generic type with
//! `'static` in its bounds, an `async fn` whose future is not `Send`), and inline where they
//! cannot (a receiver that is not `Clone`, an argument that is not `Send`, a generic type
//! without `'static`, a slice of borrowed strings, `&mut self`, `refresh = "inline"`); async
//! and sync. See `refresh_harness.rs` for how "background" and "inline" are told apart without
//! timing, and for the counts each asserts (`inline_refreshes` included).
//!
//! Every function has a TTL of 100 s and the builder's refresh point at 0.5% of it (500 ms).

use std::rc::Rc;
use std::sync::{Arc, LazyLock};

use crate::refresh_harness::{Ran, Subject, drive, drive_blocking};
use cache_core::{Cache, cached};

/// A cache whose entries refresh at 0.5% of their TTL (500 ms of 100 s).
fn refreshing() -> Subject {
    Subject::with(Cache::builder().refresh_ahead(0.005).build().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_fn_with_owned_arguments_refreshes_in_the_background() {
    static S: LazyLock<Subject> = LazyLock::new(refreshing);

    #[cached(cache = S.cache, ttl = "100s")]
    async fn quote(symbol: String) -> Result<String, std::io::Error> {
        let version = S.probe.load().await;
        Ok(format!("{symbol}@v{version}"))
    }

    let call = || async { quote("ACME".into()).await.unwrap() };
    let (current, fresh) = ("ACME@v1".to_owned(), "ACME@v2".to_owned());
    drive(&S, call, current, fresh, Ran::Background).await;
}

/// A `current_thread` runtime: the reload's blocking thread blocks on the runtime's handle
/// while the test's thread drives the runtime.
#[tokio::test]
async fn an_async_fn_on_a_current_thread_runtime_refreshes_in_the_background() {
    static S: LazyLock<Subject> = LazyLock::new(refreshing);

    #[cached(cache = S.cache, ttl = "100s", level = "l1")]
    async fn stock(item: &str) -> String {
        let version = S.probe.load().await;
        format!("{item}@v{version}")
    }

    let call = || async { stock("pen").await };
    let (current, fresh) = ("pen@v1".to_owned(), "pen@v2".to_owned());
    drive(&S, call, current, fresh, Ran::Background).await;
}

#[test]
fn a_sync_fn_with_a_str_refreshes_on_a_helper_thread() {
    static S: LazyLock<Subject> = LazyLock::new(refreshing);

    #[cached(cache = S.cache, ttl = "100s")]
    fn rate(currency: &str) -> Option<String> {
        let version = S.probe.load_blocking();
        Some(format!("{currency}@v{version}"))
    }

    let (current, fresh) = (Some("EUR@v1".to_owned()), Some("EUR@v2".to_owned()));
    drive_blocking(&S, || rate("EUR"), current, fresh, Ran::Background);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_fn_with_a_str_and_bytes_refreshes_in_the_background() {
    static S: LazyLock<Subject> = LazyLock::new(refreshing);

    #[cached(cache = S.cache, ttl = "100s", key = "{name}", level = "l1")]
    async fn checksum(name: &str, bytes: &[u8]) -> u64 {
        let version = S.probe.load().await;
        bytes.iter().map(|&byte| u64::from(byte)).sum::<u64>() * u64::from(version)
    }

    let call = || async { checksum("a", &[1, 2]).await };
    drive(&S, call, 3, 6, Ran::Background).await;
}

/// Cheap to clone: the builder's fraction reloads its methods in the background.
#[derive(Clone)]
struct Repo(Arc<Subject>);

impl Repo {
    #[cached(cache = self.0.cache, ttl = "100s", key = "{id}")]
    fn name(&self, id: u64) -> String {
        format!("user {id} v{}", self.0.probe.load_blocking())
    }

    #[cached(cache = self.0.cache, ttl = "100s", key = "{email}", level = "l1")]
    async fn find(&self, email: &str) -> Result<Option<u64>, std::io::Error> {
        Ok(Some(
            email.len() as u64 * u64::from(self.0.probe.load().await),
        ))
    }
}

#[test]
fn a_sync_method_on_a_clone_type_refreshes_in_the_background() {
    let repo = Repo(Arc::new(refreshing()));
    let subject = Arc::clone(&repo.0);
    let call = move || repo.name(7);
    let (current, fresh) = ("user 7 v1".to_owned(), "user 7 v2".to_owned());
    drive_blocking(&subject, call, current, fresh, Ran::Background);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_method_on_a_clone_type_refreshes_in_the_background() {
    let repo = Repo(Arc::new(refreshing()));
    let subject = Arc::clone(&repo.0);
    let call = move || {
        let repo = repo.clone();
        async move { repo.find("ada@x").await.unwrap() }
    };
    drive(&subject, call, Some(5), Some(10), Ran::Background).await;
}

/// Not `Clone`: a background reload could not own the receiver, so its callers reload inline.
struct Ledger(Subject);

impl Ledger {
    #[cached(cache = self.0.cache, ttl = "100s", level = "l1")]
    fn balance(&self, account: u64) -> u64 {
        account * u64::from(self.0.probe.load_blocking())
    }

    #[cached(cache = self.0.cache, ttl = "100s", level = "l1")]
    async fn limit(&self, account: &str) -> u64 {
        account.len() as u64 * u64::from(self.0.probe.load().await)
    }
}

#[test]
fn a_sync_method_on_a_type_that_is_not_clone_refreshes_inline() {
    static LEDGER: LazyLock<Ledger> = LazyLock::new(|| Ledger(refreshing()));
    drive_blocking(&LEDGER.0, || LEDGER.balance(10), 10, 20, Ran::Inline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_method_on_a_type_that_is_not_clone_refreshes_inline() {
    static LEDGER: LazyLock<Ledger> = LazyLock::new(|| Ledger(refreshing()));
    let call = || async { LEDGER.limit("abc").await };
    drive(&LEDGER.0, call, 3, 6, Ran::Inline).await;
}

static GENERIC: LazyLock<Subject> = LazyLock::new(refreshing);
static SYNC_GENERIC: LazyLock<Subject> = LazyLock::new(refreshing);
static UNBOUNDED: LazyLock<Subject> = LazyLock::new(refreshing);
static SYNC_UNBOUNDED: LazyLock<Subject> = LazyLock::new(refreshing);

/// `'static` among the bounds: the background reload calls `label_uncached::<T>`.
#[cached(cache = GENERIC.cache, ttl = "100s", key_prefix = "label", level = "l1")]
async fn label<T>(value: T) -> String
where
    T: std::fmt::Display + std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    format!("{value}#{}", GENERIC.probe.load().await)
}

#[cached(cache = SYNC_GENERIC.cache, ttl = "100s", level = "l1")]
fn sync_label<T: std::fmt::Display + std::hash::Hash + Eq + Clone + Send + Sync + 'static>(
    value: T,
) -> String {
    format!("{value}#{}", SYNC_GENERIC.probe.load_blocking())
}

/// No `'static` among the bounds (the key leaves the value out, so none is needed): the
/// dispatch could not tell a lifetime apart, so the macro plans inline.
#[cached(cache = UNBOUNDED.cache, ttl = "100s", key = "{id}", level = "l1")]
async fn unbounded<T>(id: u64, value: T) -> String
where
    T: std::fmt::Display + Clone + Send + Sync,
{
    format!("{id}:{value}#{}", UNBOUNDED.probe.load().await)
}

#[cached(cache = SYNC_UNBOUNDED.cache, ttl = "100s", key = "{id}", level = "l1")]
fn sync_unbounded<T: std::fmt::Display + Clone>(id: u64, values: &[T]) -> String {
    let first = values.first().map(ToString::to_string).unwrap_or_default();
    format!("{id}:{first}#{}", SYNC_UNBOUNDED.probe.load_blocking())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_function_with_static_bounds_refreshes_in_the_background() {
    let (current, fresh) = ("7#1".to_owned(), "7#2".to_owned());
    drive(&GENERIC, || label(7u64), current, fresh, Ran::Background).await;
}

#[test]
fn a_sync_generic_function_with_static_bounds_refreshes_in_the_background() {
    let (current, fresh) = ("x#1".to_owned(), "x#2".to_owned());
    let call = || sync_label("x");
    drive_blocking(&SYNC_GENERIC, call, current, fresh, Ran::Background);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_function_without_static_refreshes_inline() {
    let (current, fresh) = ("1:7#1".to_owned(), "1:7#2".to_owned());
    drive(
        &UNBOUNDED,
        || unbounded(1, 7u64),
        current,
        fresh,
        Ran::Inline,
    )
    .await;
}

#[test]
fn a_sync_generic_function_without_static_refreshes_inline() {
    let (current, fresh) = ("1:x#1".to_owned(), "1:x#2".to_owned());
    let call = || sync_unbounded(1, &["x"]);
    drive_blocking(&SYNC_UNBOUNDED, call, current, fresh, Ran::Inline);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_fn_whose_future_is_not_send_refreshes_in_the_background() {
    static S: LazyLock<Subject> = LazyLock::new(refreshing);

    /// Holds an `Rc` across an `.await`: the reload's future is built and run on the blocking
    /// thread that reloads, so it need not be `Send`.
    #[cached(cache = S.cache, ttl = "100s", level = "l1")]
    async fn local(id: u64) -> u64 {
        let held = Rc::new(id);
        let version = S.probe.load().await;
        *held * u64::from(version)
    }

    // A caller on this task alone (the function's future is not `Send`): the harness spawns
    // its calls, so they run on a `LocalSet`.
    let local_set = tokio::task::LocalSet::new();
    local_set
        .run_until(async {
            let calls = tokio::task::spawn_local(async {
                drive_local(&S, || local(3), 3, 6).await;
            });
            calls.await.unwrap();
        })
        .await;
}

/// [`drive`] for calls whose futures are not `Send`: first load, then calls until the reload
/// reached the gate (the refreshing call must return the current value while it is held),
/// then the reloaded value, with the counts of a background refresh.
async fn drive_local<F, Fut>(subject: &Subject, call: F, current: u64, fresh: u64)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    use crate::common::within;
    let probe = &subject.probe;
    assert_eq!(within(call()).await, current, "the first load");
    let refreshing = within(async {
        loop {
            let value = call().await;
            if probe.gate.arrivals() > 0 {
                return value;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await;
    assert_eq!(refreshing, current, "the refreshing call did not wait");
    probe.gate.open();
    within(async {
        while call().await != fresh {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await;
    let stats = subject.cache.stats();
    assert_eq!((probe.loads(), probe.gate.arrivals()), (2, 1));
    assert_eq!(
        (stats.refreshes, stats.inline_refreshes),
        (1, 0),
        "{stats:?}"
    );
}

#[test]
fn an_argument_that_is_not_send_refreshes_inline() {
    static S: LazyLock<Subject> = LazyLock::new(refreshing);

    /// `Rc` is `Clone` but not `Send`: no owned copy can move to the reload's thread.
    #[cached(cache = S.cache, ttl = "100s", key = "{id}", level = "l1")]
    fn shared(id: u64, name: Rc<str>) -> String {
        format!("{id}:{name}#{}", S.probe.load_blocking())
    }

    let call = || shared(1, Rc::from("a"));
    drive_blocking(
        &S,
        call,
        "1:a#1".to_owned(),
        "1:a#2".to_owned(),
        Ran::Inline,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_of_borrowed_strings_refreshes_inline() {
    static S: LazyLock<Subject> = LazyLock::new(refreshing);

    /// Its owned copy would be a `Vec<&str>`, still borrowing: the macro plans inline.
    #[cached(cache = S.cache, ttl = "100s", key = "{id}", level = "l1")]
    async fn joined(id: u64, parts: &[&str]) -> String {
        format!("{id}:{}#{}", parts.join(","), S.probe.load().await)
    }

    let call = || async { joined(1, &["a", "b"]).await };
    let (current, fresh) = ("1:a,b#1".to_owned(), "1:a,b#2".to_owned());
    drive(&S, call, current, fresh, Ran::Inline).await;
}

#[test]
fn a_sync_mut_self_method_refreshes_inline() {
    static S: LazyLock<Subject> = LazyLock::new(refreshing);

    struct Meter {
        reads: u32,
    }

    impl Meter {
        #[cached(cache = S.cache, ttl = "100s", level = "l1")]
        fn reading(&mut self, dial: &str) -> String {
            self.reads += 1;
            format!("{dial}={}", S.probe.load_blocking())
        }
    }

    let call = || Meter { reads: 0 }.reading("a");
    drive_blocking(&S, call, "a=1".to_owned(), "a=2".to_owned(), Ran::Inline);
}

/// A receiver whose type borrows (`'a`): the macro cannot see it, and the dispatch cannot
/// tell a lifetime apart, so the attribute says `refresh = "inline"`.
#[derive(Clone)]
struct View<'a> {
    subject: &'a Subject,
}

impl View<'_> {
    #[cached(cache = self.subject.cache, ttl = "100s", level = "l1", refresh = "inline")]
    fn size(&self, id: u64) -> u64 {
        id * u64::from(self.subject.probe.load_blocking())
    }
}

#[test]
fn a_receiver_that_borrows_refreshes_inline_when_the_attribute_says_so() {
    static S: LazyLock<Subject> = LazyLock::new(refreshing);
    let call = || View { subject: &S }.size(4);
    drive_blocking(&S, call, 4, 8, Ran::Inline);
}

/// A recursive `async fn` compiles: nothing asks its future to be `Send`.
#[cached(level = "l1")]
async fn depth(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        1 + Box::pin(depth(n - 1)).await
    }
}

#[tokio::test]
async fn a_recursive_async_fn_compiles_and_runs() {
    assert_eq!(depth(3).await, 3);
}

#[test]
fn unless_applies_to_a_background_reload() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    static S: LazyLock<Subject> = LazyLock::new(refreshing);
    static REFUSED: AtomicBool = AtomicBool::new(false);

    /// Refuses version 2, and records that the engine asked.
    fn refused(version: &u32) -> bool {
        let refused = *version == 2;
        if refused {
            REFUSED.store(true, Ordering::SeqCst);
        }
        refused
    }

    #[cached(cache = S.cache, ttl = "100s", level = "l1", unless = refused)]
    fn version(id: u64) -> u32 {
        let _ = id;
        S.probe.load_blocking()
    }

    S.probe.gate.open();
    assert_eq!(version(1), 1, "the first load");
    // Calls until the background reload's value was refused (had `unless` not applied to it,
    // version 2 would be stored and returned, and never refused).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !REFUSED.load(Ordering::SeqCst) {
        assert_eq!(version(1), 1, "no call returns a value `unless` refuses");
        assert!(
            Instant::now() < deadline,
            "the reload's value was never refused"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(version(1), 1, "the refused value was not stored");
    let stats = S.cache.stats();
    assert_eq!(
        (S.probe.loads(), stats.inline_refreshes),
        (2, 0),
        "{stats:?}"
    );
}
