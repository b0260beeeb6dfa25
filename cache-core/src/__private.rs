//! Support for the code `#[cached]` and `#[invalidate]` generate. Not a public API: names and
//! signatures change without notice.
//!
//! Each annotated function has a `static` [`Site`]. On a call, the site gives the function's
//! typed store in the chosen cache ([`FnStore`]); the generated code hashes the key arguments
//! by reference and probes with an equality closure, so a hit neither allocates nor formats.
//! Only a miss renders the string key and tags.

use std::any::{Any, TypeId};
use std::borrow::Borrow;
use std::future::Future;
use std::hash::BuildHasher;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

pub use crate::key::KeyBuilder;
pub use crate::options::{EntryOptions, Level};
pub use std::time::Duration;

use crate::blocking::{Blocking, run_here};
use crate::cache::Cache;
use crate::engine::{Async, Plan, Target};
use crate::refresh;
use crate::store::{SerdeFns, Store};

/// How a function's values reach L2: serde functions, or none for `level = "l1"`.
pub struct ValueSerde<V>(Option<SerdeFns<V>>);

/// Values of a `level = "both"` function: encoded with the cache's codec.
pub fn serde_value<V: serde::Serialize + serde::de::DeserializeOwned>() -> ValueSerde<V> {
    ValueSerde(Some(SerdeFns::new()))
}

/// Values of a `level = "l1"` function: never serialized, no serde bounds.
pub fn l1_value<V>() -> ValueSerde<V> {
    ValueSerde(None)
}

/// The per-function static that finds the function's store in a cache.
pub struct Site {
    first: OnceLock<FirstStore>,
}

/// The store of the first cache a site was called with, checked without a virtual call.
struct FirstStore {
    cache_id: u64,
    types: TypeId,
    store: *const (),
    /// Owns the store `store` points to; never read.
    _keep_alive: Arc<dyn Any + Send + Sync>,
}

// SAFETY: `store` is a shared pointer into `_keep_alive`, whose pointee is `Send + Sync`.
unsafe impl Send for FirstStore {}
// SAFETY: as above; the pointer is only ever read through `&`.
unsafe impl Sync for FirstStore {}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

/// A function's store, borrowed from its site or shared from the cache's registry.
enum StoreRef<K: 'static, V: 'static> {
    Static(&'static Store<K, V>),
    Shared(Arc<Store<K, V>>),
}

impl<K: 'static, V: 'static> Clone for StoreRef<K, V> {
    fn clone(&self) -> Self {
        match self {
            StoreRef::Static(store) => StoreRef::Static(store),
            StoreRef::Shared(store) => StoreRef::Shared(Arc::clone(store)),
        }
    }
}

impl<K: 'static, V: 'static> Deref for StoreRef<K, V> {
    type Target = Store<K, V>;
    #[inline]
    fn deref(&self) -> &Store<K, V> {
        match self {
            StoreRef::Static(store) => store,
            StoreRef::Shared(store) => store,
        }
    }
}

impl Site {
    /// A site with no store yet.
    pub const fn new() -> Self {
        Self {
            first: OnceLock::new(),
        }
    }

    /// The function's store in `cache`. The first cache a site sees is remembered in the site
    /// (a pointer comparison on later calls); other caches are looked up in their registry.
    #[inline]
    pub fn store<'c, K, V>(
        &'static self,
        cache: &'c Cache,
        serde: fn() -> ValueSerde<V>,
    ) -> FnStore<'c, K, V>
    where
        K: Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        if let Some(first) = self.first.get()
            && first.cache_id == cache.inner.id
            && first.types == TypeId::of::<(K, V)>()
        {
            // SAFETY: `store` points into `_keep_alive`, an `Arc<Store<K, V>>` (the `TypeId`
            // of `(K, V)` was just checked) that the site holds for the rest of the program.
            let store = unsafe { &*first.store.cast::<Store<K, V>>() };
            return FnStore {
                cache,
                store: StoreRef::Static(store),
            };
        }
        self.slow_store(cache, serde)
    }

    #[cold]
    fn slow_store<'c, K, V>(
        &'static self,
        cache: &'c Cache,
        serde: fn() -> ValueSerde<V>,
    ) -> FnStore<'c, K, V>
    where
        K: Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let site = self as *const Site as usize;
        let store = cache.inner.store::<K, V>(site, || serde().0);
        let _ = self.first.set(FirstStore {
            cache_id: cache.inner.id,
            types: TypeId::of::<(K, V)>(),
            store: Arc::as_ptr(&store).cast::<()>(),
            _keep_alive: Arc::clone(&store) as Arc<dyn Any + Send + Sync>,
        });
        FnStore {
            cache,
            store: StoreRef::Shared(store),
        }
    }
}

/// The result of probing a function's store.
pub enum Lookup<V> {
    /// A fresh value.
    Hit(V),
    /// A fresh value past its refresh point: this caller was chosen to reload it, in the
    /// background ([`spawn_refresh`]) or inline (then the value is dropped).
    Refresh(V),
    /// No usable value.
    Miss,
}

/// A function's store in one cache.
pub struct FnStore<'c, K: 'static, V: 'static> {
    cache: &'c Cache,
    store: StoreRef<K, V>,
}

/// What a miss needs: the owned key, its string form, and the entry's options.
pub struct MissKey<K> {
    /// The owned key parts.
    pub key: K,
    /// The rendered key (`"{prefix}:{part}..."`).
    pub skey: String,
    /// TTL, tags, refresh-ahead and level.
    pub options: EntryOptions,
    /// Whether a loader error is a failure (counted, may serve stale) or just "nothing to
    /// cache" (a `None` of an `Option` function).
    pub errors_are_failures: bool,
}

impl<K: 'static, V: Clone + 'static> FnStore<'_, K, V> {
    /// A hasher for the key parts (feed each part by reference, then `finish`).
    #[inline]
    pub fn hasher(&self) -> impl std::hash::Hasher {
        self.store.hasher().build_hasher()
    }

    /// Probes L1.
    #[inline]
    pub fn lookup(&self, hash: u64, eq: impl Fn(&K) -> bool) -> Lookup<V> {
        match self.cache.inner.probe(&self.store, hash, |key, _| eq(key)) {
            Some(hit) if hit.refresh => Lookup::Refresh(hit.value),
            Some(hit) => Lookup::Hit(hit.value),
            None => Lookup::Miss,
        }
    }

    fn prepare(&self, hash: u64, miss: MissKey<K>) -> (Target<K>, Plan) {
        let mut plan = self.cache.inner.plan(&miss.options);
        plan.errors_are_failures = miss.errors_are_failures;
        let target = Target {
            hash,
            key: miss.key,
            skey: miss.skey.into(),
        };
        (target, plan)
    }

    /// Loads on a miss (or refreshes inline, when `refresh`), through single-flight, L2 and
    /// the loader.
    pub async fn load<E, Fut>(
        &self,
        hash: u64,
        miss: MissKey<K>,
        refresh: bool,
        loader: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, E>>,
    {
        let (target, plan) = self.prepare(hash, miss);
        self.cache
            .inner
            .load::<Async, K, V, E, Fut>(&self.store, target, &plan, refresh, loader)
            .await
    }

    /// Reloads in the background: a task on the current tokio runtime (or the crate's driver
    /// runtime outside one) runs `loader` through single-flight and write-through, so the
    /// caller returns the current value at once.
    pub fn spawn_refresh<E, Fut>(
        &self,
        hash: u64,
        miss: MissKey<K>,
        loader: impl FnOnce() -> Fut + Send + 'static,
    ) where
        K: Send + Sync,
        V: Send + Sync,
        E: Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let (target, plan) = self.prepare(hash, miss);
        let inner = Arc::clone(&self.cache.inner);
        refresh::spawn(inner, self.store.clone(), target, plan, loader);
    }

    /// Blocking form of [`spawn_refresh`](Self::spawn_refresh): the loader runs on a helper
    /// thread.
    pub fn spawn_refresh_blocking<E>(
        &self,
        hash: u64,
        miss: MissKey<K>,
        loader: impl FnOnce() -> Result<V, E> + Send + 'static,
    ) where
        K: Send + Sync,
        V: Send + Sync,
        E: Send + 'static,
    {
        let (target, plan) = self.prepare(hash, miss);
        let inner = Arc::clone(&self.cache.inner);
        refresh::spawn_blocking(inner, self.store.clone(), target, plan, loader);
    }

    /// Blocking form of [`load`](Self::load) for plain `fn`s.
    pub fn load_blocking<E>(
        &self,
        hash: u64,
        miss: MissKey<K>,
        refresh: bool,
        loader: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        let (target, plan) = self.prepare(hash, miss);
        let load = self.cache.inner.load::<Blocking, K, V, E, _>(
            &self.store,
            target,
            &plan,
            refresh,
            || async move { loader() },
        );
        run_here(load)
    }
}

// ---------------------------------------------------------------------------------------------
// Checks and helpers with readable diagnostics, used by the code `#[cached]` and `#[invalidate]`
// generate. Each check is a trait with a blanket impl, so a type that does not fit is reported
// with the message below, at the span of the argument, template or return type at fault. Every
// helper touching a key part bounds it by `KeyPart<Name>` alone, and every helper touching the
// cached value bounds it by `CachedValue` alone; the generated code places all uses of one part
// (or of the value) at one span, so rustc reports each unmet bound once.

/// A key part. `Name` is a marker type named after the argument, so the message can name it.
#[diagnostic::on_unimplemented(
    message = "argument `{Name}` cannot be part of the cache key: `{Self}` must implement `Display`, `Hash`, `Eq` and `ToOwned` (with an owned form that is `Send + Sync + 'static`)",
    label = "this argument is part of the cache key",
    note = "by default every argument is part of the key: choose the key parts with `key = \"...\"`, e.g. `#[cached(key = \"{{id}}\")]`"
)]
pub trait KeyPart<Name>:
    std::fmt::Display + std::hash::Hash + Eq + ToOwned<Owned: Send + Sync + 'static>
{
}

impl<T, Name> KeyPart<Name> for T where
    T: ?Sized + std::fmt::Display + std::hash::Hash + Eq + ToOwned<Owned: Send + Sync + 'static>
{
}

/// Checks a key part; returns it unchanged.
#[inline(always)]
pub fn part_check<Name, T: ?Sized + KeyPart<Name>>(part: &T) -> &T {
    part
}

/// Feeds a key part to a hasher.
#[inline(always)]
pub fn part_hash<Name, T: ?Sized + KeyPart<Name>, H: std::hash::Hasher>(part: &T, state: &mut H) {
    part.hash(state);
}

/// Compares a borrowed key part with a stored owned one.
#[inline(always)]
pub fn part_eq<Name, T: ?Sized + KeyPart<Name>>(part: &T, owned: &T::Owned) -> bool {
    owned.borrow() == part
}

/// The owned form of a key part.
#[inline(always)]
pub fn part_owned<Name, T: ?Sized + KeyPart<Name>>(part: &T) -> T::Owned {
    part.to_owned()
}

/// Appends `:` and the escaped key part to a key.
#[inline]
pub fn part_push<Name, T: ?Sized + KeyPart<Name>>(key: &mut KeyBuilder, part: &T) {
    key.push(&part);
}

/// Appends the escaped key part to a key (templates).
#[inline]
pub fn part_push_escaped<Name, T: ?Sized + KeyPart<Name>>(key: &mut KeyBuilder, part: &T) {
    key.push_escaped(&part);
}

/// A value interpolated into a tag, a key or a pattern of `#[invalidate]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be interpolated into a cache key, tag or pattern: it does not implement `Display`",
    label = "used in this template"
)]
pub trait TemplateValue: std::fmt::Display {}

impl<T: ?Sized + std::fmt::Display> TemplateValue for T {}

/// Appends the escaped rendering of a template value (see [`escape_key_part`](crate::escape_key_part)).
#[inline]
pub fn render_part<T: ?Sized + TemplateValue>(out: &mut String, value: &T) {
    crate::key::escape_key_part(out, &value);
}

/// Checks a template value; returns it as something `Display` (one diagnostic when it is not).
#[inline]
pub fn template_value<T: ?Sized + TemplateValue>(value: &T) -> impl std::fmt::Display {
    value
}

/// A value of a function cached in L2: it must be serializable.
#[diagnostic::on_unimplemented(
    message = "the cached value `{Self}` cannot be stored in L2: it must implement serde's `Serialize` and `DeserializeOwned`",
    label = "the value cached for this return type",
    note = "derive `Serialize` and `Deserialize` for it, or add `level = \"l1\"` to keep the values in process (no serde bounds)"
)]
pub trait SerdeValue: serde::Serialize + serde::de::DeserializeOwned {}

impl<T: serde::Serialize + serde::de::DeserializeOwned> SerdeValue for T {}

/// [`serde_value`] with a readable error for values that are not serializable.
pub fn serde_value_of<V: SerdeValue>() -> ValueSerde<V> {
    serde_value::<V>()
}

/// A value a function caches: cloned out of L1 on each hit, shared between threads.
#[diagnostic::on_unimplemented(
    message = "the cached value `{Self}` must be `Clone + Send + Sync + 'static`",
    label = "the value cached for this return type",
    note = "a hit returns a clone of the cached value: wrap it in an `Arc` if it is expensive to clone or not `Clone`"
)]
pub trait CachedValue: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> CachedValue for T {}

/// [`Site::store`], with the key type taken from the closure that builds the owned key (the
/// generated code cannot name the types of field paths such as `{query.user_id}`).
#[inline(always)]
pub fn store_for<'c, K, V, F>(
    site: &'static Site,
    cache: &'c Cache,
    serde: fn() -> ValueSerde<V>,
    _owned_key: &F,
) -> FnStore<'c, K, V>
where
    K: Send + Sync + 'static,
    V: CachedValue,
    F: FnOnce() -> K,
{
    site.store(cache, serde)
}

/// [`FnStore::hasher`], as a concrete type (an opaque one would repeat a `CachedValue` error
/// wherever the hasher is used).
#[inline(always)]
pub fn hasher<K: 'static, V: CachedValue>(
    store: &FnStore<'_, K, V>,
) -> foldhash::fast::FoldHasher<'static> {
    store.store.hasher().build_hasher()
}

/// [`FnStore::lookup`].
#[inline(always)]
pub fn lookup<K: 'static, V: CachedValue, Eq: Fn(&K) -> bool>(
    store: &FnStore<'_, K, V>,
    hash: u64,
    eq: Eq,
) -> Lookup<V> {
    store.lookup(hash, eq)
}

/// [`FnStore::load`].
pub async fn load<K: 'static, V: CachedValue, E, Fut, L>(
    store: &FnStore<'_, K, V>,
    hash: u64,
    miss: MissKey<K>,
    refresh: bool,
    loader: L,
) -> Result<V, E>
where
    L: FnOnce() -> Fut,
    Fut: Future<Output = Result<V, E>>,
{
    store.load(hash, miss, refresh, loader).await
}

/// [`FnStore::load_blocking`].
pub fn load_blocking<K: 'static, V: CachedValue, E, L>(
    store: &FnStore<'_, K, V>,
    hash: u64,
    miss: MissKey<K>,
    refresh: bool,
    loader: L,
) -> Result<V, E>
where
    L: FnOnce() -> Result<V, E>,
{
    store.load_blocking(hash, miss, refresh, loader)
}

/// [`FnStore::spawn_refresh`].
pub fn spawn_refresh<K, V: CachedValue, E, Fut, L>(
    store: &FnStore<'_, K, V>,
    hash: u64,
    miss: MissKey<K>,
    loader: L,
) where
    K: Send + Sync + 'static,
    E: Send + 'static,
    L: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<V, E>> + Send + 'static,
{
    store.spawn_refresh(hash, miss, loader);
}

/// [`FnStore::spawn_refresh_blocking`].
pub fn spawn_refresh_blocking<K, V: CachedValue, E, L>(
    store: &FnStore<'_, K, V>,
    hash: u64,
    miss: MissKey<K>,
    loader: L,
) where
    K: Send + Sync + 'static,
    E: Send + 'static,
    L: FnOnce() -> Result<V, E> + Send + 'static,
{
    store.spawn_refresh_blocking(hash, miss, loader);
}
