//! Background refreshes: the one place that starts a reload the caller does not wait for,
//! used by the keyed API (`get_or_load`) and by `#[cached]` functions with owned arguments.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

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
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => drop(handle.spawn(refresh)),
        Err(_) => drop(driver().spawn(refresh)),
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
