//! Where a function's L1 lives: one owner, one collection.
//!
//! Every typed store of a cache is registered here under its site (a `#[cached]` function's
//! static, or the keyed API's site 0) and its key and value types. The registry answers "where
//! is this function's store" and "every store", for invalidation and eviction.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use parking_lot::RwLock;

use crate::store::{ErasedStore, SerdeFns, Store};

/// A registered store, typed (for lookups) and erased (for invalidation and eviction).
struct Registered {
    typed: Arc<dyn Any + Send + Sync>,
    erased: Arc<dyn ErasedStore>,
}

/// The stores of one cache, by (site, key and value types); hashed with foldhash, as the
/// keyed API looks a store up on every call.
pub(crate) struct Registry {
    stores: RwLock<HashMap<(usize, TypeId), Registered, foldhash::fast::RandomState>>,
    /// Entries in all stores (the cache's L1 size).
    len: Arc<AtomicUsize>,
}

impl Registry {
    pub(crate) fn new(len: Arc<AtomicUsize>) -> Self {
        Self {
            stores: RwLock::new(HashMap::default()),
            len,
        }
    }

    /// The store of `site` for key and value types `K`, `V`, created on first use.
    pub(crate) fn store<K, V>(
        &self,
        site: usize,
        serde: impl FnOnce() -> Option<SerdeFns<V>>,
    ) -> Arc<Store<K, V>>
    where
        K: Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let id = (site, TypeId::of::<(K, V)>());
        if let Some(found) = self.stores.read().get(&id)
            && let Ok(store) = Arc::clone(&found.typed).downcast::<Store<K, V>>()
        {
            return store;
        }
        let mut stores = self.stores.write();
        let found = stores.entry(id).or_insert_with(|| {
            let store = Arc::new(Store::<K, V>::new(Arc::clone(&self.len), serde()));
            Registered {
                typed: Arc::clone(&store) as Arc<dyn Any + Send + Sync>,
                erased: store,
            }
        });
        Arc::clone(&found.typed)
            .downcast::<Store<K, V>>()
            .expect("registry ids include the store's types")
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
        let stores = self.stores.read();
        let found = stores.get(&(site, TypeId::of::<(K, V)>()))?;
        let store = (*found.typed).downcast_ref::<Store<K, V>>()?;
        Some(f(store))
    }

    /// The store holding the most entries (the one that evicts).
    pub(crate) fn largest(&self) -> Option<Arc<dyn ErasedStore>> {
        self.stores
            .read()
            .values()
            .max_by_key(|found| found.erased.len())
            .map(|found| Arc::clone(&found.erased))
    }

    /// Runs `f` on every store under the registry's read lock.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&dyn ErasedStore)) {
        for found in self.stores.read().values() {
            f(found.erased.as_ref());
        }
    }
}
