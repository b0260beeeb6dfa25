//! Metrics through the `metrics` facade (feature `metrics`): the names in the README's table
//! ("Operating it"), all labelled `cache` (the namespace, or `default`) and, where it applies, `function`
//! (the key prefix).
//!
//! The hit path pays nothing for them: counters are published as absolute values from the
//! per-function counters that `Stats` already keeps (once a second by a publisher thread that
//! ends with the cache, and whenever [`Cache::publish_metrics`](crate::Cache::publish_metrics)
//! is called, e.g. at scrape time). Durations are recorded where they happen, on the miss and
//! L2 paths.

use std::sync::Weak;
use std::time::Duration;

use metrics::{counter, gauge, histogram};

use super::Inner;
use crate::stats::Stats;

/// How often the publisher thread publishes the counters.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Publishes every counter and gauge of `inner` now.
pub(crate) fn publish(inner: &Inner) {
    let cache = inner.metrics_label().to_owned();
    for (function, stats) in inner.stats_by_function() {
        publish_function(&cache, &function, &stats);
    }
    let own = inner.cache_counters();
    for (kind, count) in own.invalidations_by_kind() {
        counter!("cache_invalidations_total", "cache" => cache.clone(), "kind" => kind)
            .absolute(count);
    }
    gauge!("cache_l1_entries", "cache" => cache.clone()).set(inner.l1_len() as f64);
    if inner.has_l2() {
        let connected = if inner.l1_enabled() { 1.0 } else { 0.0 };
        gauge!("cache_backplane_connected", "cache" => cache).set(connected);
    }
}

fn publish_function(cache: &str, function: &str, stats: &Stats) {
    let requests = [
        ("l1_hit", stats.l1_hits),
        ("l2_hit", stats.l2_hits),
        ("miss", stats.misses),
        ("stale", stats.stale_served),
    ];
    for (result, count) in requests {
        counter!(
            "cache_requests_total",
            "cache" => cache.to_owned(),
            "function" => function.to_owned(),
            "result" => result
        )
        .absolute(count);
    }
    let loads = [
        ("ok", stats.loads.saturating_sub(stats.load_errors)),
        ("error", stats.load_errors),
    ];
    for (outcome, count) in loads {
        counter!(
            "cache_loads_total",
            "cache" => cache.to_owned(),
            "function" => function.to_owned(),
            "outcome" => outcome
        )
        .absolute(count);
    }
    let leases = [
        ("won", stats.leases_won),
        ("waited", stats.lease_waits),
        ("timed_out", stats.lease_timeouts),
        ("stale", stats.lease_stale),
        ("refresh_skipped", stats.refreshes_skipped),
    ];
    for (outcome, count) in leases {
        counter!(
            "cache_leases_total",
            "cache" => cache.to_owned(),
            "function" => function.to_owned(),
            "outcome" => outcome
        )
        .absolute(count);
    }
    counter!(
        "cache_l2_skipped_total",
        "cache" => cache.to_owned(),
        "function" => function.to_owned()
    )
    .absolute(stats.l2_skipped);
    counter!(
        "cache_evictions_total",
        "cache" => cache.to_owned(),
        "function" => function.to_owned()
    )
    .absolute(stats.evictions);
    counter!(
        "cache_type_mismatches_total",
        "cache" => cache.to_owned(),
        "function" => function.to_owned()
    )
    .absolute(stats.type_mismatches);
}

/// Records a load's duration.
pub(crate) fn record_load(cache: &str, function: &str, elapsed: Duration) {
    histogram!(
        "cache_load_duration_seconds",
        "cache" => cache.to_owned(),
        "function" => function.to_owned()
    )
    .record(elapsed.as_secs_f64());
}

/// Records an L2 operation's duration and, if it failed, the error.
pub(crate) fn record_l2(cache: &str, op: &'static str, elapsed: Duration, failed: bool) {
    histogram!("cache_l2_duration_seconds", "cache" => cache.to_owned(), "op" => op)
        .record(elapsed.as_secs_f64());
    if failed {
        counter!("cache_l2_errors_total", "cache" => cache.to_owned(), "op" => op).increment(1);
    }
}

/// Starts the thread that publishes `inner`'s metrics every second until the cache is dropped.
pub(crate) fn start_publisher(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new()
        .name("cache-metrics".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(PUBLISH_EVERY);
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                publish(&inner);
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "cannot start the metrics publisher: metrics are published only by Cache::publish_metrics");
    }
}
