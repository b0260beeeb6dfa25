//! Support for the code `#[cached]`, `#[cache_put]` and `#[invalidate]` generate, and for the
//! workspace's own crates (`cache-http`). Not a public API: names and signatures change
//! without notice.
//!
//! Each annotated function has a `static` [`CachedFn`] (its key template and the site that
//! finds its store) and makes one call, [`lookup`], with its cache, that static and a tuple of
//! references to its key arguments ([`KeyParts`]). A hit hashes and compares those references,
//! so it neither allocates nor formats; a miss comes back as a [`LoadGuard`] that owns the
//! rendered key, so the body may then take the arguments and run through [`run`].

use std::future::Future;
use std::sync::Arc;

pub use crate::cached_batch::{
    BatchArgument, BatchKeys, batch_argument, load_many, load_many_blocking,
};
pub use crate::engine::LoadError;
pub use crate::key_parts::{KeyParts, KeyTemplate, Part, Piece, RenderParts};
pub use crate::options::{EntryOptions, Level};
pub use crate::reader_put::{
    AnyPlan, Both, Ch, L1Only, PlanFor, PutArg, PutPlan, PutReaderSupported, checked_plan, put_plan,
};
pub use crate::refresh_dispatch::{
    AsyncFn, Background, ChooseRefresh, CloneOf, Inline, OwnedOf, RefreshCopies, RefreshPlan,
    RefreshProbe, RefreshShape, StartRefresh, SyncFn, start_refresh,
};
pub use std::time::Duration;

use crate::blocking::{Blocking, run_here};
use crate::cache::Cache;
use crate::engine::{
    Async, CallMode, EntryKey, Inner, KEYED_L1_SITE, KEYED_SITE, ResolvedOptions, Site, StoreRef,
};
use crate::loaded::Loaded;
use crate::refresh;
use crate::store::{SerdeFns, ValueFns};

/// How a function's values reach L2: serde functions, or none for `level = "l1"`.
pub struct ValueSerde<V>(pub(crate) ValueFns<V>);

/// Values of a `level = "both"` function: encoded with the cache's codec.
pub fn serde_value<V: serde::Serialize + serde::de::DeserializeOwned>() -> ValueSerde<V> {
    ValueSerde(ValueFns {
        serde: Some(SerdeFns::new()),
        weigher: None,
    })
}

/// Values of a `level = "l1"` function: never serialized, no serde bounds.
pub fn l1_value<V>() -> ValueSerde<V> {
    ValueSerde(ValueFns {
        serde: None,
        weigher: None,
    })
}

/// Values weighed by `#[cached(weight = ...)]` (in bytes, or any unit of `l1_max_weight`).
pub fn weighed<V>(mut fns: ValueSerde<V>, weigher: fn(&V) -> usize) -> ValueSerde<V> {
    fns.0.weigher = Some(weigher);
    fns
}

/// Everything fixed about one `#[cached]` function, in one `static` the macro writes: where its
/// store is found, its key template, and how its results and refreshes are handled.
pub struct CachedFn {
    site: Site,
    key: KeyTemplate,
    /// Whether a hit past the refresh point hands the reload to the caller as
    /// [`Lookup::Refresh`] (the function reloads in the background, or its generated code
    /// chooses how: [`RefreshProbe`]), or reloads inline.
    background_refresh: bool,
}

impl CachedFn {
    /// The function's static description.
    pub const fn new(key: KeyTemplate, background_refresh: bool) -> Self {
        Self {
            site: Site::new(),
            key,
            background_refresh,
        }
    }
}

/// What a `#[cached]` call found in L1.
pub enum Lookup<'c, K: 'static, V: 'static> {
    /// A fresh value: return it.
    Hit(V),
    /// A fresh value past its refresh point; this caller was chosen to start the reload in
    /// the background ([`spawn`]) and returns the value at once.
    Refresh(V, LoadGuard<'c, K, V>),
    /// No usable value (or an inline refresh): run the body through [`run`].
    Load(LoadGuard<'c, K, V>),
}

/// A miss (or refresh) of one key, ready to run the body: the one guard a `#[cached]` call
/// holds between its lookup and its load. Owns its key, so the body may take the arguments.
pub struct LoadGuard<'c, K: 'static, V: 'static> {
    cache: &'c Cache,
    store: StoreRef<K, V>,
    key: EntryKey<K>,
    options: ResolvedOptions,
    refresh: bool,
}

/// Looks a `#[cached]` call up in L1: the one engine entry of the generated code. A hit hashes
/// and compares the borrowed `parts` (no allocation, no formatting); only a miss or refresh
/// renders the key and evaluates `options`.
#[inline]
pub fn lookup<'c, V, P>(
    cache: &'c Cache,
    function: &'static CachedFn,
    serde: fn() -> ValueSerde<V>,
    parts: P,
    options: impl FnOnce() -> EntryOptions,
) -> Lookup<'c, P::Owned, V>
where
    V: CachedValue,
    P: KeyParts,
{
    let (store, hash) = function.store_and_hash(cache, serde, &parts);
    let hit = cache.inner.probe(&store, hash, |owned| parts.equals(owned));
    let refresh = match hit {
        Some(hit) if !hit.refresh => return Lookup::Hit(hit.value),
        Some(hit) => Some(hit.value),
        None => None,
    };
    if refresh.is_some() && !function.background_refresh {
        count_inline_refresh(&store);
    }
    let load = function.load(cache, store, hash, &parts, options, refresh.is_some());
    match refresh {
        Some(value) if function.background_refresh => Lookup::Refresh(value, load),
        _ => Lookup::Load(load),
    }
}

impl<'c, K: 'static, V: 'static> LoadGuard<'c, K, V> {
    /// A refresh the caller runs itself, counted (the generated code chose it).
    pub(crate) fn counted_inline(self) -> Self {
        count_inline_refresh(&self.store);
        self
    }

    /// What a background reload takes from its load.
    pub(crate) fn into_background(
        self,
    ) -> (Arc<Inner>, StoreRef<K, V>, EntryKey<K>, ResolvedOptions) {
        (
            Arc::clone(&self.cache.inner),
            self.store,
            self.key,
            self.options,
        )
    }
}

/// Counts a refresh the caller runs itself (it waits for the reload), and logs the first of
/// each function: the latency refresh-ahead exists to remove, made visible.
#[cold]
fn count_inline_refresh<K, V>(store: &crate::store::Store<K, V>) {
    if store
        .counters
        .inline_refreshes
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        tracing::info!(
            function = store.name(),
            "refresh-ahead reloads this function inline: the caller that claims a refresh \
             waits for the reload, because the function takes `&mut`, has no companions, \
             says `refresh = \"inline\"`, or has a receiver or argument a background reload \
             cannot own (see the #[cached] docs, Refresh-ahead)"
        );
    }
}

/// The load of `{name}_refresh`: runs the body now, skipping L1 and L2 (through the key's
/// single-flight), and stores the result as a refresh does.
pub fn refresh_load<'c, V, P>(
    cache: &'c Cache,
    function: &'static CachedFn,
    serde: fn() -> ValueSerde<V>,
    parts: P,
    options: impl FnOnce() -> EntryOptions,
) -> LoadGuard<'c, P::Owned, V>
where
    V: CachedValue,
    P: KeyParts,
{
    let (store, hash) = function.store_and_hash(cache, serde, &parts);
    function.load(cache, store, hash, &parts, options, true)
}

impl CachedFn {
    /// The function's store in `cache` and the hash of `parts` in it.
    #[inline(always)]
    fn store_and_hash<V: CachedValue, P: KeyParts>(
        &'static self,
        cache: &Cache,
        serde: fn() -> ValueSerde<V>,
        parts: &P,
    ) -> (StoreRef<P::Owned, V>, u64) {
        let store = self
            .site
            .store::<P::Owned, V>(cache, self.key.prefix(), serde, || {
                parts.owned_fns(&self.key)
            });
        let hash = store.hash_with(|state| parts.hash_parts(state));
        (store, hash)
    }

    /// The guard of a miss (or refresh) of `parts`: the rendered key, the resolved options.
    fn load<'c, V: CachedValue, P: KeyParts>(
        &self,
        cache: &'c Cache,
        store: StoreRef<P::Owned, V>,
        hash: u64,
        parts: &P,
        options: impl FnOnce() -> EntryOptions,
        refresh: bool,
    ) -> LoadGuard<'c, P::Owned, V> {
        let options = cache.inner.resolve(&options());
        let key = EntryKey {
            hash,
            text: self.key.render(parts).into(),
            typed: parts.to_owned_parts(),
        };
        LoadGuard {
            cache,
            store,
            key,
            options,
            refresh,
        }
    }
}

/// What a `#[cached]` function's companions ask of its shared implementation (the hidden
/// function holding its static and its key checks, so each is written once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The cached call: L1, L2, then the body.
    Get,
    /// `{name}_refresh`: the body now, stored.
    Refresh,
    /// `{name}_invalidate`: remove the entry.
    Invalidate,
}

/// What the shared implementation answers.
pub enum Outcome<R> {
    /// The function's return value ([`Mode::Get`] and [`Mode::Refresh`]).
    Value(R),
    /// The entry was removed ([`Mode::Invalidate`]).
    Invalidated,
}

impl<R> Outcome<R> {
    /// The return value; only called on the outcome of [`Mode::Get`] or [`Mode::Refresh`],
    /// which is always a value.
    #[inline(always)]
    pub fn value(self) -> R {
        match self {
            Outcome::Value(value) => value,
            Outcome::Invalidated => unreachable!("Mode::Invalidate is only asked by _invalidate"),
        }
    }
}

/// `#[cache_put]`: writes `value` under `key` through to L2 (which tells other processes to
/// drop their copies), drops this process's copies, and keeps it for the next read of the key:
/// the matching `#[cached]` function returns it without running its body.
pub async fn put<V: CachedValue + L2Value<How>, How>(
    cache: &Cache,
    key: String,
    value: V,
    options: EntryOptions,
) {
    let options = cache.inner.resolve(&options);
    let serde = || V::value_serde().0.serde;
    cache
        .inner
        .put::<Async, V>(KEYED_SITE, serde, &key, value, &options)
        .await;
}

/// Blocking form of [`put`].
pub fn put_blocking<V: CachedValue + L2Value<How>, How>(
    cache: &Cache,
    key: String,
    value: V,
    options: EntryOptions,
) {
    let options = cache.inner.resolve(&options);
    let serde = || V::value_serde().0.serde;
    run_here(
        cache
            .inner
            .put::<Blocking, V>(KEYED_SITE, serde, &key, value, &options),
    );
}

/// [`put`] for `level = "l1"` values: this process only, no serde bounds.
pub async fn put_l1<V: CachedValue>(cache: &Cache, key: String, value: V, options: EntryOptions) {
    let options = cache.inner.resolve(&options);
    cache
        .inner
        .put::<Async, V>(KEYED_L1_SITE, || None, &key, value, &options)
        .await;
}

/// Blocking form of [`put_l1`].
pub fn put_l1_blocking<V: CachedValue>(
    cache: &Cache,
    key: String,
    value: V,
    options: EntryOptions,
) {
    let options = cache.inner.resolve(&options);
    run_here(
        cache
            .inner
            .put::<Blocking, V>(KEYED_L1_SITE, || None, &key, value, &options),
    );
}

/// The key `#[cached]` uses for these parts (`{name}_invalidate`).
pub fn key_of<P: KeyParts>(function: &'static CachedFn, parts: P) -> String {
    function.key.render(&parts)
}

/// `#[cached(unless = ...)]`: a loaded value for which `unless` is true is returned but not
/// stored (neither L1 nor L2).
pub fn unless<V: CachedValue, K: 'static>(
    mut load: LoadGuard<'_, K, V>,
    unless: impl Fn(&V) -> bool + Send + Sync + 'static,
) -> LoadGuard<'_, K, V> {
    load.options.store_if = Some(Arc::new(move |value: &dyn std::any::Any| {
        value.downcast_ref::<V>().is_none_or(|value| !unless(value))
    }));
    load
}

/// The receiver of a method refreshed in the background: the task gets a clone of it.
#[diagnostic::on_unimplemented(
    message = "refresh-ahead reloads in the background with a clone of the receiver, and `{Self}` is not `Clone + Send + Sync + 'static`: keep its state in an `Arc` and derive `Clone`, take `self: &Arc<Self>`, or write `refresh = \"inline\"` (or leave `refresh_ahead` out of the attribute) so that the caller reloads inline",
    label = "this receiver is cloned for the background reload",
    note = "make the type cheap to clone (e.g. keep its state in an `Arc`) and derive `Clone`, or take `self: &Arc<Self>`"
)]
pub trait RefreshReceiver: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> RefreshReceiver for T {}

/// A clone of the receiver for a background reload.
#[inline]
pub fn refresh_receiver<T: RefreshReceiver>(receiver: &T) -> T {
    receiver.clone()
}

/// An argument of a function refreshed in the background: the task gets an owned copy.
#[diagnostic::on_unimplemented(
    message = "refresh-ahead reloads in the background with an owned copy of each argument, and `{Self}` has no owned form that is `Send + 'static`",
    label = "this argument is copied for the background reload",
    note = "`&str`, `&[T]` and `&T` work when `T: Clone`; otherwise pass an owned or `Arc` argument"
)]
pub trait RefreshArgument: ToOwned<Owned: Send + 'static> {}

impl<T: ?Sized + ToOwned<Owned: Send + 'static>> RefreshArgument for T {}

/// An owned copy of an argument for a background reload.
#[inline]
pub fn refresh_argument<T: ?Sized + RefreshArgument>(argument: &T) -> T::Owned {
    argument.to_owned()
}

// The operations on a [`LoadGuard`] are free functions that name the value type as their
// first generic argument: the generated code spells it at the return type, so an unfit value
// type is reported once, there (as `lookup` reports it).

impl<K: 'static, V: Clone> LoadGuard<'_, K, V> {
    /// The engine's load (or, for an inline refresh, reload) of this key in `mode` `M`.
    async fn run_in<M: CallMode, E, Fut>(self, loader: impl FnOnce() -> Fut) -> Result<V, E>
    where
        Fut: Future<Output = Result<V, LoadError<E>>>,
    {
        let loader = || async { loader().await.map(Loaded::new) };
        let LoadGuard {
            cache,
            store,
            key,
            options,
            refresh,
        } = self;
        if refresh {
            cache
                .inner
                .reload_classified::<M, K, V, E, _>(&store, key, &options, loader)
                .await
        } else {
            cache
                .inner
                .load_classified::<M, K, V, E, _>(&store, key, &options, loader)
                .await
        }
    }
}

/// Runs the load (or inline refresh) through single-flight, L2 and `loader`, whose errors say
/// whether they are failures ([`LoadError`]).
pub async fn run<V: CachedValue, K: 'static, E, Fut>(
    load: LoadGuard<'_, K, V>,
    loader: impl FnOnce() -> Fut,
) -> Result<V, E>
where
    Fut: Future<Output = Result<V, LoadError<E>>>,
{
    load.run_in::<Async, E, Fut>(loader).await
}

/// Blocking form of [`run`] for plain `fn`s. Never inlined: it is a miss's work, and inlined
/// into the cached function it can cost that function's hits (one build of `l1_hit` was 12%
/// slower per hit with it inline, for a change in the function's refresh arm alone).
#[inline(never)]
pub fn run_blocking<V: CachedValue, K: 'static, E>(
    load: LoadGuard<'_, K, V>,
    loader: impl FnOnce() -> Result<V, LoadError<E>>,
) -> Result<V, E> {
    run_here(load.run_in::<Blocking, E, _>(|| async move { loader() }))
}

/// Reloads in the background: a task on the current tokio runtime (or the crate's driver
/// runtime outside one) runs `loader` through single-flight and write-through. A failed reload
/// is counted and its error dropped where it happens, so the error type need not be `Send`.
pub fn spawn<V: CachedValue, K: Send + Sync + 'static, E, Fut>(
    load: LoadGuard<'_, K, V>,
    loader: impl FnOnce() -> Fut + Send + 'static,
) where
    Fut: Future<Output = Result<V, LoadError<E>>> + Send + 'static,
{
    let inner = Arc::clone(&load.cache.inner);
    let loader = move || async move { loader().await.map(Loaded::new).map_err(LoadError::dropped) };
    refresh::spawn_classified(inner, load.store, load.key, load.options, loader);
}

/// Blocking form of [`spawn`]: the loader runs on a helper thread.
pub fn spawn_blocking<V: CachedValue, K: Send + Sync + 'static, E>(
    load: LoadGuard<'_, K, V>,
    loader: impl FnOnce() -> Result<V, LoadError<E>> + Send + 'static,
) {
    let inner = Arc::clone(&load.cache.inner);
    let loader = move || loader().map(Loaded::new).map_err(LoadError::dropped);
    refresh::spawn_blocking_classified(inner, load.store, load.key, load.options, loader);
}

/// Renders a full key from its template (`#[invalidate(keys)]`), exactly as `#[cached]`
/// renders its keys.
pub fn render_key(key: &KeyTemplate, parts: impl RenderParts) -> String {
    key.render(&parts)
}

/// Renders a tag or pattern template (no prefix, no hashing).
pub fn render_text(pieces: &[Piece], parts: impl RenderParts) -> String {
    crate::key_parts::render_text(pieces, &parts)
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

/// Checks a key part and captures what the engine needs of its type.
#[inline(always)]
pub fn part_check<Name, T: ?Sized + KeyPart<Name>>(part: &T) -> Part<'_, T, T::Owned> {
    Part::new(part)
}

/// A value interpolated into a tag, a key or a pattern of `#[invalidate]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be interpolated into a cache key, tag or pattern: it does not implement `Display`",
    label = "used in this template"
)]
pub trait TemplateValue: std::fmt::Display {}

impl<T: ?Sized + std::fmt::Display> TemplateValue for T {}

/// Checks a template value (one diagnostic, at the template, when it is not `Display`).
#[inline(always)]
pub fn template_value<T: ?Sized + TemplateValue>(value: &T) -> &T {
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

/// A value of a `#[cached]` function stored in L2, checked once at its return type: `How` is
/// [`BySerde`] for a type with serde's traits. The other impl, [`NotSerde`], no type can use:
/// with two impls to choose from, a type that fits neither is reported at this trait, once,
/// with its message, instead of once per serde trait it lacks.
#[diagnostic::on_unimplemented(
    message = "the cached value `{Self}` cannot be stored in L2: it must implement serde's `Serialize` and `Deserialize`",
    label = "the value cached for this return type",
    note = "derive `Serialize` and `Deserialize` for it (`#[derive(serde::Serialize, serde::Deserialize)]`), or add `level = \"l1\"` to keep the values in process (no serde bounds)"
)]
pub trait L2Value<How>: Sized {
    /// The serde functions of the value.
    fn value_serde() -> ValueSerde<Self>;
}

/// The impl of [`L2Value`] for serde types.
pub struct BySerde;

/// The impl of [`L2Value`] no type can use.
pub struct NotSerde;

/// Implemented by no type: the bound of [`L2Value`]'s second impl.
pub trait Unimplementable {
    /// Never called.
    fn value_serde() -> ValueSerde<Self>
    where
        Self: Sized;
}

impl<T: serde::Serialize + serde::de::DeserializeOwned> L2Value<BySerde> for T {
    fn value_serde() -> ValueSerde<T> {
        serde_value::<T>()
    }
}

impl<T: Unimplementable> L2Value<NotSerde> for T {
    fn value_serde() -> ValueSerde<T> {
        T::value_serde()
    }
}

/// A value a function caches: cloned out of L1 on each hit, shared between threads.
#[diagnostic::on_unimplemented(
    message = "the cached value `{Self}` must be `Clone + Send + Sync + 'static`",
    label = "the value cached for this return type",
    note = "a hit returns a clone of the cached value: wrap it in an `Arc` if it is expensive to clone or not `Clone`"
)]
pub trait CachedValue: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> CachedValue for T {}

/// One cache's keyed store of `V`, held by a caller that looks keys up on every request
/// (`cache-http`'s layer): its hits skip the look-up of the store in the cache's registry.
pub struct KeyedProbe<V> {
    cache: Cache,
    store: Arc<crate::engine::KeyedStore<V>>,
}

impl<V: crate::CacheValue> KeyedProbe<V> {
    /// The keyed store of `V` in `cache` (the one `Cache::get` and `get_or_load` use).
    pub fn new(cache: &Cache) -> Self {
        Self {
            cache: cache.clone(),
            store: cache.keyed_store_of::<V>(),
        }
    }

    /// The fresh L1 value of `key`, without a future: what an HTTP layer answers a hit with
    /// before it builds the request's future. A hit that claims the entry's refresh starts
    /// the reload `make_loader` builds, as [`Cache::get_or_load_with`] would; a miss is `None`,
    /// not counted (the caller then calls `get_or_load_with`, which counts it and loads).
    pub fn l1_hit_or_refresh<E, F, Fut>(
        &self,
        key: &str,
        options: &EntryOptions,
        make_loader: impl FnOnce() -> F,
    ) -> Option<V>
    where
        E: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Loaded<V>, E>> + Send + 'static,
    {
        self.cache
            .l1_hit_or_refresh(&self.store, key, options, make_loader)
    }
}

impl<V> Clone for KeyedProbe<V> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            store: Arc::clone(&self.store),
        }
    }
}

impl<V> std::fmt::Debug for KeyedProbe<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedProbe").finish_non_exhaustive()
    }
}

/// A counter many threads bump on a hot path without a locked instruction: each live thread
/// writes a cache-line-padded slot of its own, and a read sums the slots (the engine counts its
/// L1 hits so). `cache-http` counts its hits by route with it.
#[derive(Default)]
pub struct ThreadCounter(crate::stats::StripedCounter);

impl ThreadCounter {
    /// Adds one, in the calling thread's slot.
    #[inline]
    pub fn add_one(&self) {
        self.0.incr(crate::thread_slot::current());
    }

    /// The count so far.
    pub fn sum(&self) -> u64 {
        self.0.sum()
    }
}

impl std::fmt::Debug for ThreadCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ThreadCounter").field(&self.sum()).finish()
    }
}

/// Milliseconds since the Unix epoch on the engine's coarse wall clock (one kernel tick of
/// resolution, read without the time-stamp counter): `cache-http`'s storage times and ages.
pub fn unix_now_ms() -> u64 {
    crate::clock::unix_now_ms()
}
