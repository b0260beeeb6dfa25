//! Feature `metrics`: the counters, histograms and gauges of the README's table reach the
//! recorder with their labels and the values `Stats` has. Published on demand into a local recorder, so the
//! test sees exactly what one publication wrote.

use std::sync::LazyLock;

use cache_core::{Cache, cached};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use crate::common::new_cache;

/// The value of metric `name` whose labels include every pair of `labels`.
fn value<'a>(
    snapshot: &'a [(metrics_util::CompositeKey, DebugValue)],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<&'a DebugValue> {
    snapshot.iter().find_map(|(key, value)| {
        let key = key.key();
        let matches = key.name() == name
            && labels.iter().all(|(k, v)| {
                key.labels()
                    .any(|label| label.key() == *k && label.value() == *v)
            });
        matches.then_some(value)
    })
}

#[test]
fn counters_and_gauges_carry_the_cache_and_function_labels() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);

    #[cached(cache = CACHE, key_prefix = "square", level = "l1")]
    fn square(x: u64) -> u64 {
        x * x
    }

    square(2);
    square(2);
    square(2);
    square(3);
    CACHE.invalidate_blocking("square:3");

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || CACHE.publish_metrics());
    let snapshot: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect();

    let function = [("cache", "default"), ("function", "square")];
    let with = |extra: (&'static str, &'static str)| {
        let mut labels = function.to_vec();
        labels.push(extra);
        labels
    };
    assert_eq!(
        value(
            &snapshot,
            "cache_requests_total",
            &with(("result", "l1_hit"))
        ),
        Some(&DebugValue::Counter(2))
    );
    assert_eq!(
        value(&snapshot, "cache_requests_total", &with(("result", "miss"))),
        Some(&DebugValue::Counter(2))
    );
    assert_eq!(
        value(&snapshot, "cache_loads_total", &with(("outcome", "ok"))),
        Some(&DebugValue::Counter(2))
    );
    assert_eq!(
        value(
            &snapshot,
            "cache_invalidations_total",
            &[("cache", "default"), ("kind", "key")]
        ),
        Some(&DebugValue::Counter(1))
    );
    assert!(matches!(
        value(&snapshot, "cache_l1_entries", &[("cache", "default")]),
        Some(DebugValue::Gauge(entries)) if entries.into_inner() == 1.0
    ));
}
