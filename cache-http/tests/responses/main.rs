//! The response cache through a real server on a loopback port and a real HTTP client: each
//! storing and answering rule, concurrency, the failure paths, and (with a real Redis) two
//! processes sharing responses and their handler calls.

mod concurrency;
mod failures;
mod fleet;
#[cfg(feature = "metrics")]
mod metrics;
mod processes;
mod rules;
mod support;
