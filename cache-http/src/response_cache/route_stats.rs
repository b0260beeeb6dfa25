//! Counters of the response cache by route: axum's matched route (`/users/{id}`), never the
//! raw URI, so their number stays that of the routes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::MatchedPath;
use cache_core::__private::ThreadCounter;
use http::Extensions;
use serde::Serialize;

use super::status::Outcome;

/// The label of requests that reached the layer without a matched route: a layer outside the
/// router (it runs before routing), or the router's fallback.
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

/// A snapshot of one route's counters. Every request the layer sees counts in exactly one of
/// `hits`, `misses`, `stale`, `uncacheable`, `failures` and `bypassed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RouteStats {
    /// Answered from a stored response, without running the handler.
    pub hits: u64,
    /// The handler ran and its response was stored.
    pub misses: u64,
    /// The handler failed and a stale stored response answered (`stale-if-error`).
    pub stale: u64,
    /// The handler ran and its response was not stored (`no-store`, `private`, too large ...).
    pub uncacheable: u64,
    /// The handler failed (a 5xx, a panic, a broken body) and nothing stored could answer.
    pub failures: u64,
    /// Passed to the handler without a lookup: other methods, `Range`, a request body.
    pub bypassed: u64,
    /// Of the answers from the cache, those that were `304 Not Modified`.
    pub not_modified: u64,
    /// Successful unsafe requests (`POST`, `PUT`, ...) that dropped their URI's entries.
    pub invalidations: u64,
}

impl RouteStats {
    /// `hits / (hits + misses + stale + uncacheable + failures)`: the share of lookups the
    /// cache answered without the handler; 0 without lookups.
    pub fn hit_ratio(&self) -> f64 {
        let lookups = self.hits + self.misses + self.stale + self.uncacheable + self.failures;
        if lookups == 0 {
            0.0
        } else {
            self.hits as f64 / lookups as f64
        }
    }
}

/// The live counters of one route.
#[derive(Debug, Default)]
pub(crate) struct RouteCounters {
    route: Box<str>,
    /// Counted by every hit: on slots of the threads' own.
    hits: ThreadCounter,
    misses: AtomicU64,
    stale: AtomicU64,
    uncacheable: AtomicU64,
    failures: AtomicU64,
    bypassed: AtomicU64,
    not_modified: AtomicU64,
    invalidations: AtomicU64,
}

impl RouteCounters {
    /// Counts one answer.
    pub(crate) fn count(&self, outcome: Outcome, not_modified: bool) {
        let counter = match outcome {
            Outcome::Hit { .. } => None,
            Outcome::Stored => Some(&self.misses),
            Outcome::Stale { .. } => Some(&self.stale),
            Outcome::Uncacheable(_) => Some(&self.uncacheable),
            Outcome::Failed { .. } => Some(&self.failures),
            Outcome::Bypass(_) => Some(&self.bypassed),
        };
        match counter {
            Some(counter) => {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            // Every answered request from the cache: on the thread's own slot.
            None => self.hits.add_one(),
        }
        if not_modified {
            self.not_modified.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one invalidation by an unsafe method.
    pub(crate) fn count_invalidation(&self) {
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// The route label.
    pub(crate) fn route(&self) -> &str {
        &self.route
    }

    fn snapshot(&self) -> RouteStats {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        RouteStats {
            hits: self.hits.sum(),
            misses: load(&self.misses),
            stale: load(&self.stale),
            uncacheable: load(&self.uncacheable),
            failures: load(&self.failures),
            bypassed: load(&self.bypassed),
            not_modified: load(&self.not_modified),
            invalidations: load(&self.invalidations),
        }
    }
}

/// The response cache's counters by route, shared by the layer and whoever reads them
/// ([`ResponseCacheLayer::stats`](crate::ResponseCacheLayer::stats),
/// [`router_with_responses`](crate::router_with_responses)). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ResponseStats {
    routes: Arc<RwLock<CountersByRoute>>,
}

/// Each route's counters, by route label.
type CountersByRoute = HashMap<Box<str>, Arc<RouteCounters>, foldhash::fast::RandomState>;

impl ResponseStats {
    /// Each route's counters, by route (`<unmatched>` for requests without one).
    pub fn snapshot(&self) -> BTreeMap<String, RouteStats> {
        let routes = self.routes.read().unwrap_or_else(|e| e.into_inner());
        routes
            .iter()
            .map(|(route, counters)| (route.to_string(), counters.snapshot()))
            .collect()
    }

    /// The counters of `route`.
    pub(crate) fn counters(&self, route: &str) -> Arc<RouteCounters> {
        if let Some(counters) = self
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(route)
        {
            return Arc::clone(counters);
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        let counters = routes.entry(route.into()).or_insert_with(|| {
            Arc::new(RouteCounters {
                route: route.into(),
                ..RouteCounters::default()
            })
        });
        Arc::clone(counters)
    }
}

/// The route label of a request: axum's matched route, or [`UNMATCHED_ROUTE`].
pub(crate) fn route_label(extensions: &Extensions) -> &str {
    extensions
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, MatchedPath::as_str)
}
