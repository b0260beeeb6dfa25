//! Background refreshes: the one place that starts a reload the caller does not wait for,
//! used by the keyed API (`get_or_load`) and by `#[cached]` functions with owned arguments.
//!
//! Three ways to run the reload, one engine path (`Inner::reload_classified`: single-flight,
//! lease, fencing, release on panic) for all: a tokio task for a `Send` future, a helper thread
//! for a synchronous loader, and a blocking thread that builds the future there and blocks on
//! it, for a future that need not be `Send` (only the loader, which owns its inputs, moves).

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

use tokio::runtime::Handle;

use crate::blocking::{Blocking, driver, run_here};
use crate::engine::{Async, EntryKey, Inner, LoadError, ResolvedOptions};
use crate::loaded::Loaded;
use crate::store::Store;

/// Reloads `key` of `store` with `loader` on the current tokio runtime (or the driver runtime
/// outside one), through single-flight and write-through; the loader decides how its value is
/// cached.
pub(crate) fn spawn_deciding<S, K, V, E, Fut>(
    inner: Arc<Inner>,
    store: S,
    key: EntryKey<K>,
    options: ResolvedOptions,
    loader: impl FnOnce() -> Fut + Send + 'static,
) where
    S: Deref<Target = Store<K, V>> + Send + 'static,
    K: Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
    Fut: Future<Output = Result<Loaded<V>, E>> + Send + 'static,
{
    let loader = || async { loader().await.map_err(LoadError::Failed) };
    spawn_classified(inner, store, key, options, loader);
}

/// [`spawn_deciding`] with a loader that also says which of its errors are failures.
pub(crate) fn spawn_classified<S, K, V, E, Fut>(
    inner: Arc<Inner>,
    store: S,
    key: EntryKey<K>,
    options: ResolvedOptions,
    loader: impl FnOnce() -> Fut + Send + 'static,
) where
    S: Deref<Target = Store<K, V>> + Send + 'static,
    K: Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
    Fut: Future<Output = Result<Loaded<V>, LoadError<E>>> + Send + 'static,
{
    let refresh = async move {
        // A failed refresh is counted in `load_errors`; the current value stays.
        let _ = inner
            .reload_classified::<Async, K, V, E, Fut>(&store, key, &options, loader)
            .await;
    };
    match Handle::try_current() {
        Ok(handle) => drop(handle.spawn(refresh)),
        Err(_) => drop(driver().spawn(refresh)),
    }
}

/// [`spawn_classified`] for a loader whose future need not be `Send`: the loader moves to a
/// blocking thread of the current tokio runtime (or to a helper thread driven by the driver
/// runtime outside one), which builds the future and blocks on it with the runtime's handle.
pub(crate) fn spawn_unsend_classified<S, K, V, E, Fut>(
    inner: Arc<Inner>,
    store: S,
    key: EntryKey<K>,
    options: ResolvedOptions,
    loader: impl FnOnce() -> Fut + Send + 'static,
) where
    S: Deref<Target = Store<K, V>> + Send + 'static,
    K: Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Loaded<V>, LoadError<E>>>,
{
    let refresh = move |handle: Handle| {
        // A failed refresh is counted in `load_errors`; the current value stays.
        let _ = handle.block_on(
            inner.reload_classified::<Async, K, V, E, Fut>(&store, key, &options, loader),
        );
    };
    match Handle::try_current() {
        Ok(handle) => drop(handle.clone().spawn_blocking(move || refresh(handle))),
        Err(_) => {
            let handle = driver().handle().clone();
            drop(std::thread::spawn(move || refresh(handle)));
        }
    }
}

/// Reloads `key` of `store` with a synchronous `loader` on a helper thread; the loader decides
/// how its value is cached.
pub(crate) fn spawn_blocking_deciding<S, K, V, E>(
    inner: Arc<Inner>,
    store: S,
    key: EntryKey<K>,
    options: ResolvedOptions,
    loader: impl FnOnce() -> Result<Loaded<V>, E> + Send + 'static,
) where
    S: Deref<Target = Store<K, V>> + Send + 'static,
    K: Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
{
    let loader = move || loader().map_err(LoadError::Failed);
    spawn_blocking_classified(inner, store, key, options, loader);
}

/// [`spawn_blocking_deciding`] with a loader that also says which of its errors are failures.
pub(crate) fn spawn_blocking_classified<S, K, V, E>(
    inner: Arc<Inner>,
    store: S,
    key: EntryKey<K>,
    options: ResolvedOptions,
    loader: impl FnOnce() -> Result<Loaded<V>, LoadError<E>> + Send + 'static,
) where
    S: Deref<Target = Store<K, V>> + Send + 'static,
    K: Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + 'static,
{
    std::thread::spawn(move || {
        let loader = || async move { loader() };
        let load = inner.reload_classified::<Blocking, K, V, E, _>(&store, key, &options, loader);
        let _ = run_here(load);
    });
}
