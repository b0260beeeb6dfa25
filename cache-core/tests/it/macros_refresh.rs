//! Refresh-ahead through `#[cached]` in the background, one test per shape of function: owned
//! arguments, borrowed arguments (`&str`, `&[T]`), methods on `&self` (the receiver is cloned)
//! and on `self: &Arc<Self>`, generic functions, async and sync. The attribute sets
//! `refresh_ahead` and the function has its companions, so the refreshing call returns the
//! current value while another task (or thread) reloads; see `refresh_harness.rs` for how that
//! is told without timing.
//!
//! Every function has a TTL of 100 s and a refresh point at 0.5% of it (500 ms): the drive
//! calls until a reload starts, and the entry is far from expiring meanwhile.

use std::sync::{Arc, LazyLock};

use crate::refresh_harness::{Ran, Subject, drive, drive_blocking};
use cache_core::cached;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_borrowed_argument_refreshes_in_the_background() {
    static S: LazyLock<Subject> = LazyLock::new(Subject::new);

    /// Version 1, 2, 3... of the price.
    #[cached(cache = S.cache, ttl = "100s", refresh_ahead = 0.005)]
    async fn price(market: &str) -> Result<String, std::io::Error> {
        let version = S.probe.load().await;
        Ok(format!("{market}@v{version}"))
    }

    let call = || async { price("eu").await.unwrap() };
    let (current, fresh) = ("eu@v1".to_owned(), "eu@v2".to_owned());
    drive(&S, call, current, fresh, Ran::Background).await;
}

#[test]
fn a_sync_fn_with_borrowed_arguments_refreshes_on_a_helper_thread() {
    static S: LazyLock<Subject> = LazyLock::new(Subject::new);

    #[cached(cache = S.cache, ttl = "100s", refresh_ahead = 0.005, key = "{country}")]
    fn tax(country: &str, codes: &[u32]) -> u64 {
        u64::from(S.probe.load_blocking()) * codes.iter().map(|&code| u64::from(code)).sum::<u64>()
    }

    drive_blocking(&S, || tax("fr", &[1, 2]), 3, 6, Ran::Background);
}

/// A service whose state is shared (`Clone` is cheap): refresh-ahead clones it for the
/// background reload.
#[derive(Clone)]
struct Service(Arc<Subject>);

impl Service {
    #[cached(cache = self.0.cache, ttl = "100s", refresh_ahead = 0.005, key = "{name}")]
    fn greeting(&self, name: &str) -> String {
        let n = self.0.probe.load_blocking();
        format!("hello {name} #{n}")
    }

    #[cached(cache = self.0.cache, ttl = "100s", refresh_ahead = 0.005, level = "l1", key = "{label}")]
    async fn total(&self, label: &str, ids: &[u64]) -> u64 {
        let n = self.0.probe.load().await;
        ids.iter().sum::<u64>() * u64::from(n)
    }
}

#[test]
fn a_sync_method_on_self_refreshes_in_the_background() {
    let service = Service(Arc::new(Subject::new()));
    let subject = Arc::clone(&service.0);
    let call = move || service.greeting("ada");
    let (current, fresh) = ("hello ada #1".to_owned(), "hello ada #2".to_owned());
    drive_blocking(&subject, call, current, fresh, Ran::Background);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_method_with_a_slice_refreshes_in_the_background() {
    let service = Service(Arc::new(Subject::new()));
    let subject = Arc::clone(&service.0);
    let call = move || {
        let service = service.clone();
        async move { service.total("abc", &[1, 2, 3]).await }
    };
    drive(&subject, call, 6, 12, Ran::Background).await;
}

/// Not `Clone`: the method takes `self: &Arc<Self>`, and the background reload gets a clone of
/// the `Arc`.
struct Ledger(Subject);

impl Ledger {
    #[cached(cache = self.0.cache, ttl = "100s", refresh_ahead = 0.005, level = "l1")]
    fn balance(self: &Arc<Self>, account: u64) -> u64 {
        account * u64::from(self.0.probe.load_blocking())
    }
}

#[test]
fn a_method_on_an_arc_receiver_refreshes_in_the_background() {
    let ledger = Arc::new(Ledger(Subject::new()));
    let call = {
        let ledger = Arc::clone(&ledger);
        move || ledger.balance(10)
    };
    drive_blocking(&ledger.0, call, 10, 20, Ran::Background);
}

static GENERIC: LazyLock<Subject> = LazyLock::new(Subject::new);
static SYNC_GENERIC: LazyLock<Subject> = LazyLock::new(Subject::new);

/// A generic function: the background reload calls `label_uncached::<T>`.
#[cached(cache = GENERIC.cache, ttl = "100s", refresh_ahead = 0.005, key_prefix = "label", level = "l1")]
async fn label<T>(value: T) -> String
where
    T: std::fmt::Display + std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    let n = GENERIC.probe.load().await;
    format!("{value}#{n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_function_refreshes_in_the_background() {
    let (current, fresh) = ("7#1".to_owned(), "7#2".to_owned());
    drive(&GENERIC, || label(7u64), current, fresh, Ran::Background).await;
}

#[cached(cache = SYNC_GENERIC.cache, ttl = "100s", refresh_ahead = 0.005, level = "l1")]
fn sync_label<T: std::fmt::Display + std::hash::Hash + Eq + Clone + Send + Sync + 'static>(
    value: T,
) -> String {
    let n = SYNC_GENERIC.probe.load_blocking();
    format!("{value}#{n}")
}

#[test]
fn a_sync_generic_function_refreshes_on_a_helper_thread() {
    let (current, fresh) = ("x#1".to_owned(), "x#2".to_owned());
    drive_blocking(
        &SYNC_GENERIC,
        || sync_label("x"),
        current,
        fresh,
        Ran::Background,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_fn_with_owned_arguments_refreshes_in_the_background() {
    static S: LazyLock<Subject> = LazyLock::new(Subject::new);

    #[cached(cache = S.cache, ttl = "100s", refresh_ahead = 0.005)]
    async fn quote(symbol: String, venue: u32) -> Result<String, std::io::Error> {
        let version = S.probe.load().await;
        Ok(format!("{symbol}/{venue}@v{version}"))
    }

    let call = || async { quote("ACME".into(), 1).await.unwrap() };
    let (current, fresh) = ("ACME/1@v1".to_owned(), "ACME/1@v2".to_owned());
    drive(&S, call, current, fresh, Ran::Background).await;
}

#[test]
fn a_plain_fn_with_owned_arguments_refreshes_on_a_helper_thread() {
    static S: LazyLock<Subject> = LazyLock::new(Subject::new);

    #[cached(cache = S.cache, ttl = "100s", refresh_ahead = 0.005)]
    fn rate(currency: String) -> Option<String> {
        let version = S.probe.load_blocking();
        Some(format!("{currency}@v{version}"))
    }

    let (current, fresh) = (Some("EUR@v1".to_owned()), Some("EUR@v2".to_owned()));
    drive_blocking(&S, || rate("EUR".into()), current, fresh, Ran::Background);
}

#[test]
fn an_error_type_that_is_not_send_refreshes_in_the_background() {
    static S: LazyLock<Subject> = LazyLock::new(Subject::new);

    /// `Box<dyn Error>` is not `Send`: a background reload drops its error where it happens.
    #[cached(cache = S.cache, ttl = "100s", refresh_ahead = 0.005)]
    fn parsed(text: String) -> Result<u32, Box<dyn std::error::Error>> {
        Ok(text.parse::<u32>()? * S.probe.load_blocking())
    }

    drive_blocking(&S, || parsed("21".into()).unwrap(), 21, 42, Ran::Background);
}
