//! How a call waits: the async API awaits; the blocking twins block their thread (see
//! `crate::blocking` for the blocking mode).

use std::future::Future;

use crate::flight::{Flight, FlightOutcome};
use crate::l2::BoxFuture;

/// How a call waits for another caller's load and for L2 operations.
pub(crate) trait CallMode {
    /// Waits for another caller's load; `None` means "do not wait, load yourself" (a blocking
    /// caller that would stall the runtime the leader runs on).
    fn wait<V: Clone>(flight: &Flight<V>) -> impl Future<Output = Option<FlightOutcome<V>>>;
    /// Runs an L2 operation.
    fn l2<T: Send>(operation: BoxFuture<'_, T>) -> impl Future<Output = T>;
}

/// The async API's mode.
pub(crate) struct Async;

impl CallMode for Async {
    async fn wait<V: Clone>(flight: &Flight<V>) -> Option<FlightOutcome<V>> {
        Some(flight.wait().await)
    }

    async fn l2<T: Send>(operation: BoxFuture<'_, T>) -> T {
        operation.await
    }
}
