//! Values written by key rather than loaded: the keyed API's `set` and `#[cache_put]`. They
//! live in a per-value-type store keyed by the key's text (one with L2 encoding, one for
//! L1-only values), and a `#[cached]` miss of the same key text and value type takes its value
//! from there (`L1::find`) before reading L2 or running its body: a put is what the next read
//! returns, with or without an L2.

use std::hash::Hash;
use std::sync::Arc;

use crate::store::{KeyFns, SerdeFns, Store, ValueFns};

use super::mode::CallMode;
use super::{EntryKey, Inner, ResolvedOptions};

/// The store of values written by key whose type can go to L2.
pub(crate) const KEYED_SITE: usize = 0;
/// The store of values written by key that stay in process (`#[cache_put(level = "l1")]`).
pub(crate) const KEYED_L1_SITE: usize = 1;

/// The name under which values written by key are counted in `stats_by_function`.
pub(crate) const KEYED_NAME: &str = "<keyed>";

/// A store keyed by the key's text.
pub(crate) type KeyedStore<V> = Store<Box<str>, V>;

impl Inner {
    /// The keyed store of `V` at `site`, created on first use with `serde` (`None`: L1 only).
    pub(crate) fn keyed_store<V>(
        &self,
        site: usize,
        serde: impl FnOnce() -> Option<SerdeFns<V>>,
    ) -> Arc<KeyedStore<V>>
    where
        V: Clone + Send + Sync + 'static,
    {
        self.store::<Box<str>, V>(
            site,
            KEYED_NAME,
            || ValueFns {
                serde: serde(),
                weigher: None,
            },
            || KeyFns {
                text: Box::new(|key| String::from(&**key)),
                hash: Box::new(|key, state| (**key).hash(state)),
            },
        )
    }

    /// The entry of `text` in a keyed store.
    pub(crate) fn keyed_key<V>(store: &KeyedStore<V>, text: &str) -> EntryKey<Box<str>> {
        EntryKey {
            hash: store.hash_str(text),
            typed: text.into(),
            text: text.into(),
        }
    }

    /// Writes `value` under `text`: through to L2 (which tells other processes to drop their
    /// copies), drops this process's copies of the key in every store, then keeps it in the
    /// keyed store at `site`.
    pub(crate) async fn put<M: CallMode, V>(
        &self,
        site: usize,
        serde: impl FnOnce() -> Option<SerdeFns<V>>,
        text: &str,
        value: V,
        options: &ResolvedOptions,
    ) where
        V: Clone + Send + Sync + 'static,
    {
        let store = self.keyed_store::<V>(site, serde);
        let key = Self::keyed_key(&store, text);
        self.set::<M, Box<str>, V>(&store, key, value, options)
            .await;
    }
}
