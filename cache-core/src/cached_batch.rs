//! Support for the code `#[cached_batch]` generates (re-exported from `__private`): the keys of
//! one call with their rendered texts, and the one engine call, `load_many` (or its blocking
//! form), through the keyed API's batch stage (`engine/batch.rs`). A function's entries are
//! ordinary keyed entries: `Cache::get("u:3")` and a `#[cached]` function rendering the same
//! key text read them.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;

use crate::__private::{CachedValue, ValueSerde};
use crate::blocking::{Blocking, run_here};
use crate::cache::Cache;
use crate::engine::{Async, CallMode, KEYED_L1_SITE, KEYED_SITE};
use crate::options::EntryOptions;

/// The distinct keys of one `#[cached_batch]` call, each with its rendered text: what maps the
/// engine's texts back to the function's keys (never by parsing a text).
pub struct BatchKeys<K> {
    /// Each distinct key once, in order of first appearance, with its text.
    entries: Vec<(String, K)>,
    /// The index in `entries` of each text (the first key rendered so).
    by_text: HashMap<String, usize>,
    /// The index in `entries` of each key.
    by_key: HashMap<K, usize>,
}

impl<K: Clone + Hash + Eq> BatchKeys<K> {
    /// The distinct keys among `keys`, each rendered by `render`.
    pub fn new<'k>(keys: impl IntoIterator<Item = &'k K>, render: impl Fn(&K) -> String) -> Self
    where
        K: 'k,
    {
        let keys = keys.into_iter();
        let capacity = keys.size_hint().0;
        let mut batch = Self {
            entries: Vec::with_capacity(capacity),
            by_text: HashMap::with_capacity(capacity),
            by_key: HashMap::with_capacity(capacity),
        };
        for key in keys {
            if batch.by_key.contains_key(key) {
                continue;
            }
            let index = batch.entries.len();
            let text = render(key);
            batch.by_text.entry(text.clone()).or_insert(index);
            batch.by_key.insert(key.clone(), index);
            batch.entries.push((text, key.clone()));
        }
        batch
    }

    /// The texts to look up.
    pub fn texts(&self) -> Vec<&str> {
        self.entries.iter().map(|(text, _)| text.as_str()).collect()
    }

    /// The keys of the texts the engine found nowhere: what the body receives.
    pub fn missing(&self, texts: &[String]) -> Vec<K> {
        texts
            .iter()
            .filter_map(|text| self.by_text.get(text.as_str()))
            .map(|&index| self.entries[index].1.clone())
            .collect()
    }

    /// What the body returned, by text; keys it was not asked for are dropped.
    pub fn loaded<V>(&self, values: impl IntoIterator<Item = (K, V)>) -> HashMap<String, V> {
        values
            .into_iter()
            .filter_map(|(key, value)| {
                let &index = self.by_key.get(&key)?;
                Some((self.entries[index].0.clone(), value))
            })
            .collect()
    }

    /// The engine's answer as the function's map: each requested key it has a value for.
    pub fn into_map<V, M: FromIterator<(K, V)>>(self, mut found: HashMap<String, V>) -> M {
        self.entries
            .into_iter()
            .filter_map(|(text, key)| Some((key, found.remove(&text)?)))
            .collect()
    }
}

/// The site and serde functions of a function's values: the keyed store with L2 encoding, or
/// the L1-only one (`level = "l1"`).
fn keyed_site<V>(serde: fn() -> ValueSerde<V>) -> (usize, Option<crate::store::SerdeFns<V>>) {
    match serde().0.serde {
        Some(fns) => (KEYED_SITE, Some(fns)),
        None => (KEYED_L1_SITE, None),
    }
}

/// `Cache::get_or_load_many` in mode `M` on the function's keyed store (L1-only for
/// `level = "l1"`).
async fn load_many_in<M, V, E, F, Fut>(
    cache: &Cache,
    keys: &[&str],
    options: EntryOptions,
    serde: fn() -> ValueSerde<V>,
    loader: &mut F,
) -> Result<HashMap<String, V>, E>
where
    M: CallMode,
    V: CachedValue,
    F: FnMut(Vec<String>) -> Fut,
    Fut: Future<Output = Result<HashMap<String, V>, E>>,
{
    let options = cache.inner.resolve(&options);
    let (site, fns) = keyed_site(serde);
    cache
        .inner
        .get_or_load_many::<M, V, E, F, Fut>(site, || fns, keys, &options, loader)
        .await
}

/// The one engine call of an async `#[cached_batch]` function.
pub async fn load_many<V, E, F, Fut>(
    cache: &Cache,
    keys: &[&str],
    options: EntryOptions,
    serde: fn() -> ValueSerde<V>,
    mut loader: F,
) -> Result<HashMap<String, V>, E>
where
    V: CachedValue,
    F: FnMut(Vec<String>) -> Fut,
    Fut: Future<Output = Result<HashMap<String, V>, E>>,
{
    load_many_in::<Async, V, E, F, Fut>(cache, keys, options, serde, &mut loader).await
}

/// Blocking form of [`load_many`]: the body runs on the calling thread.
pub fn load_many_blocking<V: CachedValue, E>(
    cache: &Cache,
    keys: &[&str],
    options: EntryOptions,
    serde: fn() -> ValueSerde<V>,
    mut loader: impl FnMut(Vec<String>) -> Result<HashMap<String, V>, E>,
) -> Result<HashMap<String, V>, E> {
    let mut loader = |keys| std::future::ready(loader(keys));
    run_here(load_many_in::<Blocking, V, E, _, _>(
        cache,
        keys,
        options,
        serde,
        &mut loader,
    ))
}

/// An argument of a `#[cached_batch]` function other than its batch: each run of the body
/// gets a clone of it.
#[diagnostic::on_unimplemented(
    message = "the body of a `#[cached_batch]` function may run more than once per call, with a clone of each argument, and `{Self}` is not `Clone`",
    label = "each run of the body gets a clone of this argument",
    note = "the body runs once per `MAX_BATCH_LOAD` keys to load, and again for keys whose load by another caller failed: pass a reference or a `Clone` type"
)]
pub trait BatchArgument: Clone {}

impl<T: Clone> BatchArgument for T {}

/// A clone of an argument for one run of a `#[cached_batch]` body.
#[inline]
pub fn batch_argument<T: BatchArgument>(argument: &T) -> T {
    argument.clone()
}
