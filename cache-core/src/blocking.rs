//! Support for the blocking twins (`get_blocking`, `get_or_load_blocking`, ...).
//!
//! A blocking call runs the engine's async code on the calling thread with a tiny executor
//! that parks the thread between polls; the user's loader runs right there, never inside a
//! tokio `block_on`, so cached sync functions may call each other. Only L2 operations need
//! tokio; they are driven as follows:
//! - inside a multi-thread runtime: `block_in_place` + `Handle::block_on`;
//! - inside a `current_thread` runtime (which a blocked thread would stall): on a scoped helper
//!   thread, by the crate's internal driver runtime;
//! - on a plain thread: by the internal driver runtime.
//!
//! In a `current_thread` runtime a blocking caller also never waits for another caller's load
//! (that load may be a task of the very runtime it blocks): it runs its own loader instead.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

use crate::engine::CallMode;
use crate::flight::{Flight, FlightOutcome};
use crate::l2::BoxFuture;

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on this thread, parking it while the future is pending.
pub(crate) fn run_here<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

/// The internal runtime that drives L2 operations for blocking callers outside a usable
/// runtime, and runs background refreshes started where no runtime is available.
pub(crate) fn driver() -> &'static Runtime {
    static DRIVER: OnceLock<Runtime> = OnceLock::new();
    DRIVER.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cache-core-driver")
            .enable_all()
            .build()
            .unwrap_or_else(|error| panic!("cannot start the cache's driver runtime: {error}"))
    })
}

fn current_flavor() -> Option<(Handle, RuntimeFlavor)> {
    Handle::try_current().ok().map(|handle| {
        let flavor = handle.runtime_flavor();
        (handle, flavor)
    })
}

/// Runs a tokio-dependent future from synchronous code, in any context.
pub(crate) fn block_on_tokio<T: Send>(future: BoxFuture<'_, T>) -> T {
    match current_flavor() {
        Some((handle, RuntimeFlavor::MultiThread)) => {
            tokio::task::block_in_place(|| handle.block_on(future))
        }
        Some(_) => std::thread::scope(|scope| {
            scope
                .spawn(|| driver().block_on(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
        None => driver().block_on(future),
    }
}

/// The blocking twins' flavor.
pub(crate) struct Blocking;

impl CallMode for Blocking {
    async fn wait<V: Clone>(flight: &Flight<V>) -> Option<FlightOutcome<V>> {
        match current_flavor() {
            // The leader may be a task of the runtime this thread would block: load instead.
            Some((_, RuntimeFlavor::CurrentThread)) => None,
            Some((_, RuntimeFlavor::MultiThread)) => {
                Some(tokio::task::block_in_place(|| flight.wait_blocking()))
            }
            _ => Some(flight.wait_blocking()),
        }
    }

    async fn l2<T: Send>(operation: BoxFuture<'_, T>) -> T {
        block_on_tokio(operation)
    }
}
