//! Where a function's L1 lives: one owner, one collection.
//!
//! Every typed store of a cache is registered here under its site (a `#[cached]` function's
//! static, or the keyed API's site 0) and its key and value types. The registry answers "where
//! is this function's store" and "every store", for invalidation and eviction. A function's
//! [`Site`] remembers its store in the first cache it was called with, so that a hit finds it
//! with a pointer comparison instead of a registry look-up.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::__private::ValueSerde;
use crate::cache::Cache;
use crate::store::{ErasedStore, KeyFns, Occupancy, Store, ValueFns};

/// The stores of one cache, by (site, key and value types); hashed with foldhash, as the
/// keyed API looks a store up on every call.
///
/// Read without a lock: the collection is an immutable snapshot behind an [`ArcSwap`],
/// replaced whole when a store is added (once per store, under `adding`). A shared read-write
/// lock here had every keyed hit on every thread write the lock's one reader count, a cache
/// line that then travels between cores on each call.
pub(crate) struct Registry {
    stores: ArcSwap<Stores>,
    /// Held while a store is added, so two additions never replace each other's snapshot.
    adding: Mutex<()>,
    /// What all stores hold together (the cache's L1 size and weight).
    occupancy: Arc<Occupancy>,
}

/// The stores by id, and by index (the eviction policy's handles name stores by index).
#[derive(Default, Clone)]
struct Stores {
    by_id: HashMap<(usize, TypeId), Arc<dyn Any + Send + Sync>, foldhash::fast::RandomState>,
    by_index: Vec<Arc<dyn ErasedStore>>,
}

impl Registry {
    pub(crate) fn new(occupancy: Arc<Occupancy>) -> Self {
        Self {
            stores: ArcSwap::default(),
            adding: Mutex::new(()),
            occupancy,
        }
    }

    /// The store of `site` for key and value types `K`, `V`, created on first use.
    pub(crate) fn store<K, V>(
        &self,
        site: usize,
        name: &str,
        fns: impl FnOnce() -> ValueFns<V>,
        key_fns: impl FnOnce() -> KeyFns<K>,
    ) -> Arc<Store<K, V>>
    where
        K: Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let id = (site, TypeId::of::<(K, V)>());
        let found = |stores: &Stores| {
            let found = stores.by_id.get(&id)?;
            Arc::clone(found).downcast::<Store<K, V>>().ok()
        };
        if let Some(store) = found(&self.stores.load()) {
            return store;
        }
        let _adding = self.adding.lock();
        let current = self.stores.load_full();
        if let Some(store) = found(&current) {
            return store;
        }
        let mut stores = Stores::clone(&current);
        let index = u32::try_from(stores.by_index.len()).expect("fewer than 2^32 stores");
        let occupancy = Arc::clone(&self.occupancy);
        let store = Arc::new(Store::<K, V>::new(index, name, occupancy, fns(), key_fns()));
        stores
            .by_index
            .push(Arc::clone(&store) as Arc<dyn ErasedStore>);
        stores
            .by_id
            .insert(id, Arc::clone(&store) as Arc<dyn Any + Send + Sync>);
        self.stores.store(Arc::new(stores));
        store
    }

    /// Runs `f` on the store of `site` for `K`, `V` if it exists, without cloning its `Arc`:
    /// the keyed API's hit path.
    #[inline]
    pub(crate) fn with_store<K, V, R>(
        &self,
        site: usize,
        f: impl FnOnce(&Store<K, V>) -> R,
    ) -> Option<R>
    where
        K: 'static,
        V: 'static,
    {
        let stores = self.stores.load();
        let found = stores.by_id.get(&(site, TypeId::of::<(K, V)>()))?;
        let store = (**found).downcast_ref::<Store<K, V>>()?;
        Some(f(store))
    }

    /// Runs `f` on the stores, by index, as of now (a snapshot: stores added meanwhile are not
    /// in it).
    pub(crate) fn with_all<R>(&self, f: impl FnOnce(&[Arc<dyn ErasedStore>]) -> R) -> R {
        f(&self.stores.load().by_index)
    }

    /// Runs `f` on every store of the current snapshot.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&dyn ErasedStore)) {
        for store in &self.stores.load().by_index {
            f(store.as_ref());
        }
    }
}

/// The per-function static that finds the function's store in a cache.
pub(crate) struct Site {
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
#[allow(unsafe_code)]
unsafe impl Send for FirstStore {}
// SAFETY: as above; the pointer is only ever read through `&`.
#[allow(unsafe_code)]
unsafe impl Sync for FirstStore {}

/// A function's store, borrowed from its site or shared from the cache's registry.
pub(crate) enum StoreRef<K: 'static, V: 'static> {
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
    pub(crate) const fn new() -> Self {
        Self {
            first: OnceLock::new(),
        }
    }

    /// The function's store in `cache`. The first cache a site sees is remembered in the site
    /// (a pointer comparison on later calls); other caches are looked up in their registry.
    #[inline]
    pub(crate) fn store<K, V>(
        &'static self,
        cache: &Cache,
        name: &'static str,
        serde: fn() -> ValueSerde<V>,
        key_fns: impl FnOnce() -> KeyFns<K>,
    ) -> StoreRef<K, V>
    where
        K: Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        if let Some(first) = self.first.get()
            && first.cache_id == cache.inner.id()
            && first.types == TypeId::of::<(K, V)>()
        {
            // SAFETY: `store` points into `_keep_alive`, an `Arc<Store<K, V>>` (the `TypeId`
            // of `(K, V)` was just checked) that the site holds for the rest of the program.
            // Measured: this saves the `Any::type_id` virtual call of a downcast, about 2 ns
            // of a 17 ns hit (BENCHMARKS.md).
            #[allow(unsafe_code)]
            let store = unsafe { &*first.store.cast::<Store<K, V>>() };
            return StoreRef::Static(store);
        }
        self.slow_store(cache, name, serde, key_fns)
    }

    #[cold]
    fn slow_store<K, V>(
        &'static self,
        cache: &Cache,
        name: &'static str,
        serde: fn() -> ValueSerde<V>,
        key_fns: impl FnOnce() -> KeyFns<K>,
    ) -> StoreRef<K, V>
    where
        K: Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let site = self as *const Site as usize;
        let store = cache.inner.store::<K, V>(site, name, || serde().0, key_fns);
        let _ = self.first.set(FirstStore {
            cache_id: cache.inner.id(),
            types: TypeId::of::<(K, V)>(),
            store: Arc::as_ptr(&store).cast::<()>(),
            _keep_alive: Arc::clone(&store) as Arc<dyn Any + Send + Sync>,
        });
        StoreRef::Shared(store)
    }
}
