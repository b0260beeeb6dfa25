//! Tracing: one `cache.load` span per load (function, outcome, duration), nothing per hit, and
//! no full key in logs unless `log_keys(true)`.

use std::io::Write;
use std::sync::{Arc, Mutex};

use cache_core::{Cache, EntryOptions, cached};
use tracing_subscriber::fmt::format::FmtSpan;

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// One traced section at a time: tracing recomputes its global level filter and callsite
/// interest whenever a subscriber comes or goes, and a section racing another's could see a
/// span it should record filtered out.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f` with a debug-level subscriber that logs span closes into the returned text.
fn traced(f: impl FnOnce()) -> String {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // A second dispatcher for the section's length. With one registered dispatcher,
    // tracing-core computes a callsite's interest from the default subscriber of whichever
    // thread registers the callsite first: another test's thread (no subscriber) loading
    // after the rebuild below would register `cache.load` as "never", for every thread. With
    // two, the interest is computed over all registered dispatchers.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        // Other tests' threads may have registered the engine's callsites while no subscriber
        // wanted them; recompute their interest now that this one exists.
        tracing::callsite::rebuild_interest_cache();
        f();
    });
    captured.text()
}

#[test]
fn a_load_is_one_span_and_a_hit_is_none() {
    let cache = Cache::builder().build().unwrap();

    #[cached(cache = cache, key_prefix = "user:secret", key = "{email}", level = "l1")]
    fn lookup(cache: &Cache, email: &str) -> String {
        let _ = cache;
        format!("id of {email}")
    }

    let text = traced(|| {
        lookup(&cache, "ada@example.com");
    });
    assert_eq!(text.matches("cache.load").count(), 1, "{text}");
    assert!(text.contains("function=\"user:secret\""), "{text}");
    assert!(text.contains("outcome=\"ok\""), "{text}");
    assert!(text.contains("duration_ms="), "{text}");
    assert!(
        !text.contains("ada@example.com"),
        "no key in the logs: {text}"
    );

    let text = traced(|| {
        for _ in 0..100 {
            lookup(&cache, "ada@example.com");
        }
    });
    assert_eq!(text, "", "a hit logs nothing");
}

#[test]
fn l2_warnings_name_the_function_not_the_key() {
    // An L2 that fails makes the write-through warn.
    use crate::l2_errors::failing_l2;
    let quiet = Cache::builder().l2(failing_l2()).build().unwrap();
    let loud = Cache::builder()
        .l2(failing_l2())
        .log_keys(true)
        .build()
        .unwrap();
    let options = EntryOptions::new();
    let text = traced(|| {
        quiet.set_blocking("user:ada@example.com", 1u32, &options);
    });
    assert!(text.contains("L2 write failed"), "{text}");
    assert!(!text.contains("ada@example.com"), "{text}");
    let text = traced(|| {
        loud.set_blocking("user:ada@example.com", 1u32, &options);
    });
    assert!(
        text.contains("ada@example.com"),
        "log_keys(true) shows keys: {text}"
    );
}
