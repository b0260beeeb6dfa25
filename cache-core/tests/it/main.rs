//! The engine's integration tests, one binary (one link instead of one per file): the async
//! and blocking APIs, single-flight, invalidation and its races, refresh-ahead, L2 error
//! isolation (with a small in-process L2 double), the macros, and their compile-time
//! diagnostics (`trybuild`, cases in `tests/ui`).

mod common;

mod batch;
mod blocking;
mod builder;
mod invalidation;
mod invalidation_races;
mod l1_policy;
mod l2_errors;
mod loader_options;
mod macros_batch;
mod macros_cached;
mod macros_companions;
mod macros_invalidate;
mod macros_put;
mod macros_refresh;
mod macros_refresh_builder;
mod macros_refresh_inline;
mod macros_sync;
#[cfg(feature = "metrics")]
mod metrics;
mod one_keyspace;
mod read_your_writes;
mod read_your_writes_stress;
mod refresh_and_stale;
mod refresh_harness;
mod single_flight;
mod stats_by_function;
mod tracing_spans;
mod trybuild;
