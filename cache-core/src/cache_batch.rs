//! The batch API of [`Cache`]: many keys in one call, with one L1 pass, one L2 round trip and
//! one loader call (the engine's side is `engine/batch.rs`).

use std::collections::HashMap;
use std::future::Future;

use crate::blocking::{Blocking, run_here};
use crate::cache::{Cache, CacheValue};
use crate::engine::{Async, KEYED_SITE};
use crate::options::EntryOptions;
use crate::store::SerdeFns;

/// Batches: a list page that shows 100 users makes one call, not 100.
///
/// Batch entries are ordinary entries: what `set_many` or `get_or_load_many` stored under
/// `"user:3"` is what `get("user:3")` returns, and the other way round. Each key goes through
/// its own single-flight, shared with single-key calls and overlapping batches: a key another
/// caller (here or, with a Redis L2, in another process) is already loading is awaited, not
/// loaded twice. [`Stats`](crate::Stats) count each key.
impl Cache {
    /// The cached values of `keys` (L1, then one L2 round trip for the rest), by key. A key
    /// that is absent, or holds a value of another type, is left out.
    ///
    /// ```
    /// use cache_core::{Cache, EntryOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::builder().build().unwrap();
    /// cache.set_many(&[("user:1", "Ada".to_string()), ("user:2", "Grace".to_string())], &EntryOptions::new()).await;
    /// let names = cache.get_many::<String>(&["user:1", "user:2", "user:3"]).await;
    /// assert_eq!(names.len(), 2);
    /// assert_eq!(names["user:2"], "Grace");
    /// # }
    /// ```
    pub async fn get_many<V: CacheValue>(&self, keys: &[&str]) -> HashMap<String, V> {
        let options = self.inner.resolve(&EntryOptions::new());
        let serde = || Some(SerdeFns::new());
        self.inner
            .get_many::<Async, V>(KEYED_SITE, serde, keys, &options)
            .await
    }

    /// Stores several values with the same options: one write-through to L2 (awaited) for
    /// all of them, one message that tells every other process to drop its copies, then L1.
    /// A key given twice keeps its last value.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_core::{Cache, EntryOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = Cache::builder().build().unwrap();
    /// let options = EntryOptions::new().ttl(Duration::from_secs(60)).tags(["prices"]);
    /// cache.set_many(&[("price:1", 1999u64), ("price:2", 2499), ("price:1", 1899)], &options).await;
    /// assert_eq!(cache.get::<u64>("price:1").await, Some(1899)); // the last value given
    /// cache.invalidate_tags(&["prices"]).await; // batch entries are ordinary entries
    /// assert_eq!(cache.get::<u64>("price:2").await, None);
    /// # }
    /// ```
    pub async fn set_many<V: CacheValue>(&self, entries: &[(&str, V)], options: &EntryOptions) {
        let options = self.inner.resolve(options);
        let serde = || Some(SerdeFns::new());
        self.inner
            .set_many::<Async, V>(KEYED_SITE, serde, entries, &options)
            .await;
    }

    /// The values of `keys`, loading those found nowhere with one call of `loader`.
    ///
    /// One pass over L1, then one L2 round trip for the keys L1 does not have (grouped by
    /// slot on a Redis Cluster), then `loader` is called once with exactly the keys found
    /// nowhere that no other caller is already loading, and returns the values it found, by
    /// key. They are written through in one round trip (one message to the other processes)
    /// and put in L1, with `options` (TTL, tags, level) for all. The result holds every
    /// requested key the cache or the loader had; a key the loader leaves out is not cached
    /// and not in the result.
    ///
    /// - **Overlap.** A key another caller is loading (a single-key call, another batch, or
    ///   with a Redis L2 another process) is awaited, not loaded again; if that load fails,
    ///   this call loads the key itself, in one more call of `loader`.
    /// - **Big batches.** `loader` receives at most [`MAX_BATCH_LOAD`](crate::MAX_BATCH_LOAD)
    ///   keys per call: more keys found nowhere mean one call per that many.
    /// - **Errors.** A loader error is returned as is, and nothing that call loaded is
    ///   cached. (A batch does not answer it with a stale value, and does not refresh ahead:
    ///   an entry past its refresh point is returned as is.)
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use cache_core::{Cache, EntryOptions};
    ///
    /// /// One query for every id it is given: `SELECT .. WHERE id IN (..)`.
    /// async fn load_names(keys: Vec<String>) -> Result<HashMap<String, String>, std::io::Error> {
    ///     Ok(keys.into_iter().map(|key| {
    ///         let name = format!("name of {key}");
    ///         (key, name)
    ///     }).collect())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), std::io::Error> {
    /// let cache = Cache::builder().build().unwrap();
    /// let options = EntryOptions::new().tags(["users"]);
    /// cache.set("user:1", "Ada".to_string(), &options).await;
    ///
    /// let keys = ["user:1", "user:2", "user:3"];
    /// let names = cache.get_or_load_many(&keys, &options, load_names).await?;
    /// assert_eq!(names["user:1"], "Ada"); // cached
    /// assert_eq!(names["user:3"], "name of user:3"); // loaded, in one call with user:2
    /// assert_eq!(cache.stats().loads, 2); // per key
    /// assert_eq!(cache.get::<String>("user:2").await.as_deref(), Some("name of user:2"));
    /// # Ok(()) }
    /// ```
    pub async fn get_or_load_many<V, E, F, Fut>(
        &self,
        keys: &[&str],
        options: &EntryOptions,
        mut loader: F,
    ) -> Result<HashMap<String, V>, E>
    where
        V: CacheValue,
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = Result<HashMap<String, V>, E>>,
    {
        let options = self.inner.resolve(options);
        let serde = || Some(SerdeFns::new());
        self.inner
            .get_or_load_many::<Async, V, E, F, Fut>(KEYED_SITE, serde, keys, &options, &mut loader)
            .await
    }

    /// Blocking twin of [`get_many`](Self::get_many).
    ///
    /// ```
    /// use cache_core::{Cache, EntryOptions};
    ///
    /// let cache = Cache::builder().build().unwrap();
    /// cache.set_many_blocking(&[("user:1", "Ada".to_string())], &EntryOptions::new());
    /// let names = cache.get_many_blocking::<String>(&["user:1", "user:2"]);
    /// assert_eq!(names.len(), 1);
    /// ```
    pub fn get_many_blocking<V: CacheValue>(&self, keys: &[&str]) -> HashMap<String, V> {
        let options = self.inner.resolve(&EntryOptions::new());
        let serde = || Some(SerdeFns::new());
        run_here(
            self.inner
                .get_many::<Blocking, V>(KEYED_SITE, serde, keys, &options),
        )
    }

    /// Blocking twin of [`set_many`](Self::set_many).
    pub fn set_many_blocking<V: CacheValue>(&self, entries: &[(&str, V)], options: &EntryOptions) {
        let options = self.inner.resolve(options);
        let serde = || Some(SerdeFns::new());
        run_here(
            self.inner
                .set_many::<Blocking, V>(KEYED_SITE, serde, entries, &options),
        );
    }

    /// Blocking twin of [`get_or_load_many`](Self::get_or_load_many); the loader runs on the
    /// calling thread.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use cache_core::{Cache, EntryOptions};
    ///
    /// let cache = Cache::builder().build().unwrap();
    /// let mut queries = 0;
    /// let mut load = |keys: Vec<String>| {
    ///     queries += 1;
    ///     Ok::<_, std::io::Error>(keys.into_iter().map(|key| (key.clone(), key.len())).collect::<HashMap<_, _>>())
    /// };
    /// let lengths = cache.get_or_load_many_blocking(&["a", "bb"], &EntryOptions::new(), &mut load).unwrap();
    /// assert_eq!(lengths["bb"], 2);
    /// let again = cache.get_or_load_many_blocking(&["a", "bb"], &EntryOptions::new(), &mut load).unwrap();
    /// assert_eq!((again.len(), queries), (2, 1)); // the second call found both in L1
    /// ```
    pub fn get_or_load_many_blocking<V, E, F>(
        &self,
        keys: &[&str],
        options: &EntryOptions,
        mut loader: F,
    ) -> Result<HashMap<String, V>, E>
    where
        V: CacheValue,
        F: FnMut(Vec<String>) -> Result<HashMap<String, V>, E>,
    {
        let options = self.inner.resolve(options);
        let serde = || Some(SerdeFns::new());
        let mut loader = |keys| std::future::ready(loader(keys));
        run_here(self.inner.get_or_load_many::<Blocking, V, E, _, _>(
            KEYED_SITE,
            serde,
            keys,
            &options,
            &mut loader,
        ))
    }
}
