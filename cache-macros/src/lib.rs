//! Attribute macros for `cache-core`: [`macro@cached`] caches a function's results,
//! [`macro@cached_batch`] caches a batch function's results key by key,
//! [`macro@cache_put`] stores what a function returns as the value a `#[cached]` function reads
//! next, and [`macro@invalidate`] drops entries when a function runs.
//!
//! Use them through `cache_core` (feature `macros`, on by default):
//! `use cache_core::{cache_put, cached, cached_batch, invalidate};`. The generated code calls the engine
//! through absolute `::cache_core::` paths; a crate that re-exports `cache_core` under another
//! path passes `crate = "path::to::cache_core"`.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use quote::quote;

mod args;
mod batch_model;
mod body;
mod cache_expr;
mod cached_model;
mod companions;
mod errors;
mod expand_batch;
mod expand_cached;
mod expand_invalidate;
mod expand_put;
mod invalidate_model;
mod item;
mod keys;
mod params;
mod put_model;
mod reader_put;
mod refresh;
mod render;
mod ret;
mod template;
mod ttl;

/// Caches a function's results in a [`Cache`](https://docs.rs/cache-core) (the global one
/// unless `cache = ...` names another).
///
/// ```
/// use cache_core::cached;
/// # #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// # pub struct Profile { pub name: String }
/// # #[derive(Debug)]
/// # pub struct DbError;
/// # mod db {
/// #     pub async fn load_profile(id: u64) -> Result<super::Profile, super::DbError> {
/// #         Ok(super::Profile { name: format!("user {id}") })
/// #     }
/// # }
///
/// #[cached(ttl = "10m", key_prefix = "user:profile", tags = ["users", "user:{id}"])]
/// async fn user_profile(id: u64) -> Result<Profile, DbError> {
///     db::load_profile(id).await // runs on a miss only
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # assert_eq!(user_profile(7).await.unwrap().name, "user 7");
/// # assert_eq!(user_profile(7).await.unwrap().name, "user 7");
/// # assert_eq!(cache_core::global().stats().loads, 1);
/// # }
/// ```
///
/// Works on `async fn` and plain `fn`, free functions and methods (`self` is never part of the
/// key), generic functions included. The body runs on a miss, once per key however many
/// callers miss it at the same time (single-flight); `return` and `?` work as usual in it.
///
/// # Arguments
///
/// Every argument is optional.
///
/// | argument | meaning | default |
/// | --- | --- | --- |
/// | `ttl` | `"90s"`, `"10m"`, `"1h30m"` or an integer number of seconds, at most 30 days; checked at compile time (`M` for months and years are refused: `"10M"` is not ten minutes) | the cache's default TTL |
/// | `key_prefix` | literal prefix of every key of this function | module path + `::` + function name |
/// | `key` | template naming the key parts, such as `"{id}:{page}"` or `"{query.user_id}"` | every argument, in order |
/// | `tags` | list of templates, such as `["users", "user:{id}"]` | none |
/// | `refresh_ahead` | fraction of the TTL (strictly between 0 and 1) after which a hit reloads | the cache's setting |
/// | `cache_none` | also cache `None` (negative caching) | `false` |
/// | `level` | `"l1"` (in process only, no serde bounds) or `"both"` (L1 and the L2) | `"both"` |
/// | `weight` | a function or closure `fn(&V) -> usize`: the value's weight against the cache's `l1_max_weight` (e.g. its size in bytes) | `size_of::<V>()` |
/// | `condition` | a `bool` expression over the arguments; `false` runs the body without reading or writing the cache | always cached |
/// | `unless` | a closure or function taking `&V`; `true` returns the loaded value without storing it | everything is stored |
/// | `refresh` | `"inline"`: the caller that claims a refresh reloads (for a method whose receiver type borrows: see "Refresh-ahead") | in the background when the receiver and arguments can be owned |
/// | `companions` | `false`: no companion functions (needed on methods of a trait impl, which cannot gain items) | `true` |
/// | `cache` | expression giving the cache, evaluated on each call inside the function | `cache_core::global()` |
/// | `crate` | path of `cache_core`, for crates that re-export it | `::cache_core` |
///
/// ```
/// use std::sync::{Arc, LazyLock};
/// use cache_core::{Cache, cached};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Clone, Serialize, Deserialize)] pub struct Profile;
/// # #[derive(Clone, Serialize, Deserialize)] pub struct Settings;
/// # #[derive(Clone, Serialize, Deserialize)] pub struct Prices;
/// # #[derive(Clone, Serialize, Deserialize)] pub struct User;
/// # #[derive(Clone, Serialize, Deserialize)] pub struct Hit;
/// # #[derive(Clone, Serialize, Deserialize)] pub struct Ast;
/// # #[derive(Clone, Serialize, Deserialize)] pub struct UserId(u64);
/// # pub struct Regex;
/// # pub struct DbError;
/// # pub struct ApiError;
/// # pub struct Db;
/// # pub struct Query { user_id: u64 }
/// # mod my_platform { pub use cache_core; }
///
/// // ttl: a humantime duration, or whole seconds.
/// #[cached(ttl = "1h30m")]
/// fn exchange_rate(from: &str, to: &str) -> f64 {
///     // ..
/// #   1.0
/// }
/// #[cached(ttl = 90)]
/// fn weather(city: &str) -> String {
///     // ..
/// #   String::new()
/// }
///
/// // key_prefix: keys are "user:profile:42".
/// #[cached(key_prefix = "user:profile")]
/// async fn profile(id: u64) -> Result<Profile, DbError> {
///     // ..
/// #   Ok(Profile)
/// }
///
/// // key: choose the parts (arguments and their fields); here `db` is left out of the key.
/// #[cached(key = "{query.user_id}:{page}")]
/// async fn search(db: &Db, query: &Query, page: u32) -> Result<Vec<Hit>, DbError> {
///     // ..
/// #   Ok(Vec::new())
/// }
///
/// // tags: invalidate every entry of a user with `invalidate_tags(&["user:42"])`.
/// #[cached(tags = ["users", "user:{id}"])]
/// async fn settings(id: u64) -> Result<Settings, DbError> {
///     // ..
/// #   Ok(Settings)
/// }
///
/// // refresh_ahead: after 80% of the TTL, one reload (see "Refresh-ahead" below).
/// #[cached(ttl = "5m", refresh_ahead = 0.8)]
/// async fn prices(market: &str) -> Result<Prices, ApiError> {
///     // ..
/// #   Ok(Prices)
/// }
///
/// // cache_none: `None` is cached too (the default caches only `Some`).
/// #[cached(cache_none)]
/// async fn find_user(email: &str) -> Option<UserId> {
///     // ..
/// #   None
/// }
///
/// // level = "l1": values never leave the process and need no serde impls.
/// #[cached(level = "l1")]
/// fn compiled(pattern: &str) -> Arc<Regex> {
///     // ..
/// #   Arc::new(Regex)
/// }
///
/// // weight: what an entry counts against `CacheBuilder::l1_max_weight`.
/// #[cached(level = "l1", weight = |page: &String| page.len())]
/// fn render(id: u64) -> String {
///     // ..
/// #   String::new()
/// }
///
/// // condition: `fresh = true` bypasses the cache (no read, no write).
/// #[cached(key = "{id}", condition = !fresh)]
/// async fn balance(id: u64, fresh: bool) -> Result<u64, DbError> {
///     // ..
/// #   Ok(0)
/// }
///
/// // unless: an empty result is returned but not stored.
/// #[cached(unless = |hits: &Vec<Hit>| hits.is_empty())]
/// async fn lookup(query: &str) -> Vec<Hit> {
///     // ..
/// #   Vec::new()
/// }
///
/// // cache: a cache of your own: a static, a field, anything that derefs to a `Cache`;
/// // in an async fn the expression may `.await`.
/// static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());
/// #[cached(cache = CACHE)]
/// fn parse(input: &str) -> Ast {
///     // ..
/// #   Ast
/// }
///
/// struct Repo {
///     cache: Cache,
/// }
///
/// impl Repo {
///     #[cached(cache = self.cache, key = "{id}")]
///     async fn user(&self, id: u64) -> Result<User, DbError> {
///         // ..
/// #       Ok(User)
///     }
/// }
///
/// // crate: for crates that re-export cache_core.
/// #[cached(crate = "my_platform::cache_core")]
/// fn name_of(id: u64) -> String {
///     // ..
/// #   String::new()
/// }
/// # fn main() {}
/// ```
///
/// # Companion functions
///
/// Next to `f`, with its visibility, receiver, generics and arguments, `#[cached]` generates:
///
/// | function | does |
/// | --- | --- |
/// | `f_invalidate(args)` | removes the entry of these arguments from this process's L1, from L2 and from every other process's L1 |
/// | `f_refresh(args)` | runs the body now and stores its result as a refresh does (warming, priming); returns what `f` returns |
/// | `f_uncached(args)` | runs the body without reading or writing the cache |
///
/// ```
/// use cache_core::cached;
///
/// #[cached(ttl = "10m", key_prefix = "user")]
/// async fn user(id: u64) -> Result<String, std::io::Error> {
///     Ok(format!("user {id}")) // the slow query
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), std::io::Error> {
/// user(42).await?;
/// user_invalidate(42).await; // the next user(42) loads
/// user_refresh(7).await?; // warm one entry now
/// assert_eq!(user_uncached(7).await?, "user 7"); // bypass the cache
/// assert_eq!(cache_core::global().stats().loads, 2);
/// # Ok(())
/// # }
/// ```
///
/// They are documented on the generated items (rustdoc lists them next to `f`). Functions with
/// an argument bound by a pattern other than a plain name get no companions.
///
/// # Return types
///
/// Recognised by the last segment of the return type's path (`Result`, `std::io::Result`,
/// `Option`; a type alias with another name is a plain value):
///
/// | return type | cached | a hit returns | not cached |
/// | --- | --- | --- | --- |
/// | `Result<T, E>` | the `T` of `Ok` | `Ok(T)` | `Err(E)`: returned untouched (`E` need not be `Clone`), counted as a failed load, answered with an expired value within the `stale_if_error` window |
/// | `Result<Option<T>, E>` | the `T` of `Ok(Some(T))` | `Ok(Some(T))` | `Ok(None)`, as `None` below (with `cache_none`, `Option<T>` is the value and `Ok(None)` is cached); `Err(E)` as above |
/// | `Option<T>` | the `T` of `Some` | `Some(T)` | `None`: returned, not cached, not a failure (with `cache_none`, `Option<T>` is the value and `None` is cached) |
/// | any other `T` | `T` | `T` | |
///
/// The cached value must be `Clone + Send + Sync + 'static` (a hit returns a clone: wrap big
/// values in an `Arc`) and, unless `level = "l1"`, implement serde's `Serialize` and
/// `DeserializeOwned`. A value that borrows (`&T`, `&str`, `Cow<'a, str>`) is a compile error
/// at the return type: the cache keeps the value past the call, so return an owned one
/// (`T`, `String`, or `Arc<T>` to share one cheaply); `&'static T` is accepted. An
/// `impl Trait` return type is a compile error too.
///
/// # Keys
///
/// A key is `"{key_prefix}:{part}:{part}.."` (with `key = "{a}-{b}"`,
/// `"{key_prefix}:{a}-{b}"`). Each part is the argument's `Display` rendering, escaped
/// (`:`, `*`, `?`, `[`, `]`, `\`, `%`, whitespace and control characters are percent-encoded),
/// so two argument lists never share a key and a value never adds glob syntax to a pattern.
/// Tags are rendered the same way. Over-long keys are replaced by a stable hash.
///
/// A key part must implement `Display`, `Hash`, `Eq` and `ToOwned` (the owned form is what the
/// cache keeps: `String` for a `&str` argument). A hit hashes and compares the arguments by
/// reference: it neither allocates nor formats. Only a miss renders the string key.
///
/// # Refresh-ahead
///
/// With `refresh_ahead = f` (or the cache's setting), a hit after `f * ttl` still returns the
/// current value, and exactly one reload of the entry is started. `#[cached]` refreshes in the
/// background when the function has companions, takes no `&mut` receiver or argument, and its
/// receiver and arguments can be owned (a clone of the receiver, an owned copy of each
/// argument, each `Send + 'static`): the hit that claims the refresh returns the current value
/// and a task calls `f_uncached` with the owned copies. When the attribute sets
/// `refresh_ahead`, copies that cannot be made are a compile error; when the fraction comes
/// only from the builder, the generated code chooses at compile time. Otherwise (`&mut`,
/// `companions = false`, an argument bound by a pattern, `refresh = "inline"`, or, with the
/// fraction from the builder only, a receiver or argument that cannot be owned, an argument
/// type borrowing beyond a top-level `&`, `impl Trait`, a type parameter without a `'static`
/// bound) the caller that claims the refresh reloads inline and returns the fresh value.
///
/// - **In the background**, a plain `fn`'s reload runs on a helper thread. An `async fn`'s runs
///   on the current tokio runtime: as a task when the attribute sets `refresh_ahead` (its future
///   must then be `Send`), on a thread of the runtime's blocking pool that builds the future and
///   blocks on it when the generated code chose (no `Send` future needed). The owned copies are a
///   clone of the receiver for `&self` or `self` (make the type cheap to clone, e.g. an `Arc`
///   inside, or take `self: &Arc<Self>`), an owned copy of each borrowed argument (`String` for
///   `&str`, `Vec<T>` for `&[T]`, `T` for `&T` with `T: Clone`) and a clone of each owned one; a
///   generic function's reload calls `f_uncached::<T>`.
/// - **Chosen at compile time**: with the fraction from the builder only, the generated code
///   asks, by autoref-based dispatch, whether every copy can be made and is `Send + 'static`, and
///   reloads inline when one cannot (a receiver that is not `Clone`, an `Rc` argument). Trait
///   selection does not see lifetimes, so the macro plans inline, before any dispatch, what it
///   sees borrowing (listed above); it cannot see the receiver's `Self`: a method of a type with
///   a lifetime or a type parameter not bounded by `'static` (`impl<'a> Repo<'a>`) that is
///   `Clone` fails to compile at `self` ("lifetime may not live long enough" or "may not live
///   long enough"); write `refresh = "inline"` on it (or add `T: 'static`).
/// - **Inline**, every concurrent caller keeps getting the current value without waiting while
///   the one caller reloads. A copy of a `&mut` would not be the caller's; without companions
///   there is no `f_uncached` for a reload to call.
///
/// Inline refreshes are counted in `Stats::inline_refreshes`, and the first of each function is
/// logged (`info`) with the reason: a caller that claims a refresh waits for a whole load.
///
/// If the reload fails, the current value stays until it expires and a later hit may try
/// again.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use cache_core::{Cache, cached};
///
/// /// Cheap to clone: the background reload gets its own clone.
/// #[derive(Clone)]
/// struct Prices {
///     cache: Cache,
///     fetches: Arc<AtomicU64>,
/// }
///
/// impl Prices {
///     // In the background: the attribute sets `refresh_ahead`, and the receiver and the
///     // `&str` can be owned.
///     #[cached(cache = self.cache, ttl = "5m", refresh_ahead = 0.8, level = "l1")]
///     async fn price(&self, market: &str) -> u64 {
///         self.fetches.fetch_add(1, Ordering::SeqCst) // the slow fetch
///     }
///
///     // Inline: a `&mut self` method (and so would be any function with `companions = false`
///     // or `refresh = "inline"`).
///     #[cached(ttl = "5m", refresh_ahead = 0.8, level = "l1")]
///     fn volume(&mut self, market: &str) -> u64 {
///         self.fetches.fetch_add(1, Ordering::SeqCst)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut prices = Prices { cache: Cache::builder().build().unwrap(), fetches: Arc::default() };
/// assert_eq!(prices.price("eu").await, 0);
/// assert_eq!(prices.price("eu").await, 0); // a hit, well before the refresh point
/// assert_eq!(prices.volume("eu"), 1);
/// # }
/// ```
///
/// # Errors at compile time
///
/// An unknown argument, an unknown name or a bad field path in a template, a zero,
/// unparsable or over-long `ttl` (or one in months or years), a `refresh_ahead` outside
/// (0, 1), an unknown `level`, an argument that cannot be part of the default key, a value
/// type that cannot go to L2 without `level = "l1"`, a borrowed return type, a receiver or
/// argument a background refresh cannot own, a `condition` that is not a `bool`, an `unless`
/// that does not take `&V`: each is a compile error pointing at the token at fault.
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, "cached", expand_cached::expand)
}

/// Caches a batch function's results key by key: each key of its batch argument is an entry
/// of its own, and the body receives only the keys found nowhere (one `WHERE id IN (..)`
/// instead of one query per key).
///
/// ```
/// use std::collections::HashMap;
/// use cache_core::{cached, cached_batch};
/// # #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// # pub struct User { pub name: String }
/// # #[derive(Debug)]
/// # pub struct DbError;
/// # mod db {
/// #     use super::{DbError, User};
/// #     pub async fn users_by_id(ids: &[u64]) -> Result<Vec<(u64, User)>, DbError> {
/// #         Ok(ids.iter().filter(|&&id| id != 404).map(|&id| (id, User { name: format!("user {id}") })).collect())
/// #     }
/// # }
///
/// #[cached_batch(ttl = "10m", key_prefix = "user")]
/// async fn users(ids: &[u64]) -> Result<HashMap<u64, User>, DbError> {
///     // runs with the ids found nowhere: `SELECT .. WHERE id IN (..)`
///     Ok(db::users_by_id(ids).await?.into_iter().collect())
/// }
///
/// // The same entries, one at a time: "user:7" is one key for both functions.
/// #[cached(ttl = "10m", key_prefix = "user")]
/// async fn user(id: u64) -> Result<User, DbError> {
/// #   unreachable!("every user this example reads was loaded by the batch");
///     // ..
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), DbError> {
/// let found = users(&[7, 8, 404]).await?; // one call of the body, for the three ids
/// assert_eq!(found[&7].name, "user 7");
/// assert!(!found.contains_key(&404)); // left out by the body: not cached, not returned
/// assert_eq!(user(8).await?.name, "user 8"); // the batch's entry
/// users(&[7, 9]).await?; // the body runs with [9] only
/// assert_eq!(cache_core::global().stats().loads, 4);
/// # Ok(())
/// # }
/// ```
///
/// The function takes exactly one **batch argument**, `Vec<K>` or `&[K]`, and returns
/// `HashMap<K, V>` or `Result<HashMap<K, V>, E>` (a `BTreeMap` works too). A call looks every
/// key up (L1 in one pass, then the L2 in one round trip), then runs the body once with the
/// keys found nowhere, in the batch argument's form, through `Cache::get_or_load_many`:
/// - the body returns the values it found; each is cached under its key. A key it leaves out
///   is neither cached nor in the result (and is asked for again next time); a key it was not
///   asked for is ignored;
/// - an `Err` is returned as is and nothing is cached;
/// - the result holds every requested key the cache or the body had, once (a key given twice
///   is looked up once);
/// - a key another caller is loading (a single-key `#[cached]` call, another batch, or with a
///   Redis L2 another process) is awaited, not loaded again.
///
/// The body runs once per [`MAX_BATCH_LOAD`](https://docs.rs/cache-core) keys to load, and
/// again for keys whose load by another caller failed, so it may run more than once per call:
/// each run gets a clone of every other argument (a reference is just copied), and methods
/// take `&self`.
///
/// # Arguments
///
/// The key arguments of `#[cached]`, every one optional:
///
/// | argument | meaning | default |
/// | --- | --- | --- |
/// | `ttl` | `"90s"`, `"10m"`, `"1h30m"` or an integer number of seconds; checked at compile time | the cache's default TTL |
/// | `key_prefix` | literal prefix of every key of this function | module path + `::` + function name |
/// | `key` | template of one key's parts, in which the batch argument's name stands for one key: `"{tenant}:{ids}"` | every argument, in order |
/// | `tags` | list of templates over the other arguments; the same tags for every key of a call | none |
/// | `level` | `"l1"` (in process only, no serde bounds) or `"both"` (L1 and the L2) | `"both"` |
/// | `cache` | expression giving the cache, evaluated on each call inside the function | `cache_core::global()` |
/// | `crate` | path of `cache_core`, for crates that re-export it | `::cache_core` |
///
/// # Keys
///
/// Each key `k` is rendered exactly as `#[cached]` renders an argument: `"{key_prefix}:{k}"`,
/// escaped, hashed when over-long. So a batch's entries are ordinary entries:
/// `cache.get::<V>("user:7")` returns what `users(&[7])` stored, and a `#[cached]` function
/// with the same prefix, key and value type shares them both ways. Keys must implement
/// `Display`, `Hash`, `Eq`, `Clone`, `Send`, `Sync` and be `'static`; the generated code keeps
/// each key next to its text, and never parses a text back.
///
/// ```
/// use std::collections::HashMap;
/// use cache_core::{Cache, cached_batch};
///
/// struct Directory {
///     cache: Cache,
/// }
///
/// impl Directory {
///     // A method, a key that names another argument, tags, a plain `fn` (the blocking engine).
///     #[cached_batch(
///         cache = self.cache,
///         key_prefix = "member",
///         key = "{tenant}:{ids}",
///         tags = ["tenant:{tenant}"],
///         level = "l1",
///     )]
///     fn members(&self, tenant: &str, ids: Vec<u64>) -> HashMap<u64, String> {
///         ids.into_iter().map(|id| (id, format!("{tenant}/{id}"))).collect()
///     }
/// }
///
/// let directory = Directory { cache: Cache::builder().build().unwrap() };
/// assert_eq!(directory.members("acme", vec![1, 2])[&2], "acme/2"); // keys "member:acme:2", ..
/// directory.cache.invalidate_tags_blocking(&["tenant:acme"]);
/// ```
///
/// # Errors at compile time
///
/// No batch argument, two of them, a return type that is not a map, a key type that cannot be
/// rendered, a `key` that does not name the batch argument, a tag that does, an unknown
/// argument, a zero or unparsable `ttl`, `&mut self` or a `&mut` argument: each is a compile
/// error pointing at the token at fault.
#[proc_macro_attribute]
pub fn cached_batch(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, "cached_batch", expand_batch::expand)
}

/// Stores what a function returns under the key of a `#[cached]` function, so that its next
/// read (on every process) returns it without running its body: the write-side twin of
/// `#[cached]` (Spring's `@CachePut`).
///
/// ```
/// use cache_core::{cache_put, cached};
/// # #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// # pub struct User { pub name: String }
/// # #[derive(Debug)]
/// # pub struct DbError;
/// # mod db {
/// #     use super::{DbError, User};
/// #     pub async fn load_user(id: u64) -> Result<User, DbError> {
/// #         Ok(User { name: format!("user {id}") })
/// #     }
/// #     pub async fn rename(_id: u64, name: &str) -> Result<User, DbError> {
/// #         Ok(User { name: name.to_owned() })
/// #     }
/// # }
///
/// #[cached(key_prefix = "user", key = "{id}")]
/// async fn user(id: u64) -> Result<User, DbError> {
///     db::load_user(id).await
/// }
///
/// // Names the function it feeds: its key, prefix, level, cache, tags and TTL are used, and
/// // returning another value type than `user` caches is a compile error.
/// #[cache_put(user)]
/// async fn rename_user(id: u64, name: String) -> Result<User, DbError> {
///     db::rename(id, &name).await // returns the updated user
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), DbError> {
/// assert_eq!(user(7).await?.name, "user 7");
/// rename_user(7, "Ada".into()).await?;
/// assert_eq!(user(7).await?.name, "Ada"); // the stored value: no load
/// assert_eq!(cache_core::global().stats().loads, 1);
/// # Ok(())
/// # }
/// ```
///
/// The body runs first; then its storable result (the `Ok` of a `Result`, the `Some` of an
/// `Option`, or the value itself) is written through to L2, every process drops its L1 copy
/// of the key, and this process keeps the value for its next read. An `Err` or `None` stores
/// nothing. With `level = "l1"` (no L2) only this process sees the value.
///
/// # Naming the reader
///
/// `#[cache_put(reader)]`, where `reader` is the path of a `#[cached]` function (`user`,
/// `repo::user`, `Self::user` for a method), takes from it the key prefix, the key template,
/// the level, the `cache` expression, the tags and the TTL. The put's arguments must supply
/// the names the reader's key and tags use (in any order, with any others); the key is
/// rendered from them exactly as the reader renders it. `ttl`, `tags` and `cache` given next
/// to the reader replace the reader's; `key_prefix`, `key` and `level` cannot be given.
///
/// A return type whose stored value differs from what the reader caches is a compile error at
/// the return type (the reader would never return it). A missing argument name is a compile
/// error naming the reader's bound. The reader must be reachable from the put (same crate,
/// visible) and have its companion functions; a reader whose key or tags use a field path
/// (`{query.id}`) or `self`, or whose `cache` is not a static or a field of `self`, cannot be
/// named (a compile error says so): use the free-standing form below.
///
/// # Arguments of the free-standing form
///
/// The key arguments of `#[cached]`, which must name the same key as the `#[cached]` function
/// whose entries this one writes: `key_prefix` (required), `key`, `tags`, `ttl`, `level`,
/// `cache`, `crate`. Templates are rendered before the body runs (it may take the arguments).
/// Nothing checks that the value type is the reader's: a value of another type is never
/// returned by the reader, which loads instead.
///
/// ```
/// use cache_core::{cache_put, cached};
/// # #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// # pub struct User { pub name: String }
/// # #[derive(Debug)]
/// # pub struct DbError;
///
/// #[cached(key_prefix = "user", key = "{id}")]
/// async fn user(id: u64) -> Result<User, DbError> {
///     // ..
/// #   Ok(User { name: String::new() })
/// }
///
/// #[cache_put(key_prefix = "user", key = "{id}")]
/// async fn save_user(id: u64, user: User) -> Result<User, DbError> {
///     // ..
/// #   Ok(user)
/// }
/// # fn main() {}
/// ```
///
/// # Errors at compile time
///
/// A missing `key_prefix` (free-standing form), a key or tag template naming a missing
/// argument, a value type other than the reader's, or a function that returns nothing to
/// store (`()`, `Result<(), E>`) is a compile error at the token at fault.
#[proc_macro_attribute]
pub fn cache_put(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, "cache_put", expand_put::expand)
}

/// Invalidates cache entries when a function runs: by key, Redis glob pattern, tag, or all.
///
/// ```
/// use cache_core::{cached, invalidate};
/// # #[derive(Debug)]
/// # pub struct DbError;
/// # mod db {
/// #     pub async fn rename(_id: u64, _name: &str) -> Result<(), super::DbError> { Ok(()) }
/// # }
///
/// #[cached(key_prefix = "user:name", tags = ["user:{id}"])]
/// async fn user_name(id: u64) -> Result<String, DbError> {
///     Ok(format!("user {id}")) // the slow query
/// }
///
/// #[invalidate(tags = ["user:{id}"])]
/// async fn rename_user(id: u64, name: String) -> Result<(), DbError> {
///     db::rename(id, &name).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), DbError> {
/// user_name(7).await?;
/// rename_user(7, "Ada".into()).await?; // drops every entry tagged "user:7"
/// user_name(7).await?; // loads again
/// assert_eq!(cache_core::global().stats().loads, 2);
/// # Ok(())
/// # }
/// ```
///
/// By default the invalidation runs after the body returns, and for a function returning
/// `Result` only after `Ok`: a failed update leaves the cache alone. With `before = true` it
/// runs before the body, whatever the body then returns. Invalidations act on this process's
/// L1, on the L2 and on the L1 of every other process.
///
/// # Arguments
///
/// At least one of `keys`, `pattern`, `tags` and `all` is required.
///
/// | argument | meaning |
/// | --- | --- |
/// | `keys` | list of full keys, as templates: `["user:profile:{id}"]` |
/// | `pattern` | Redis glob (or a list of globs), as a template: `"user:profile:{id}*"` |
/// | `tags` | list of tags, as templates: `["users", "user:{id}"]` |
/// | `all` | `all = true` clears the whole cache (the namespace's keys in L2) |
/// | `before` | `before = true` invalidates before the body runs; default: after it returns (`Ok`) |
/// | `cache` | expression giving the cache, as for `#[cached]` (evaluated on each call, before the body); default `cache_core::global()` |
/// | `crate` | path of `cache_core`, for crates that re-export it |
///
/// Templates name the function's arguments (and `self` fields) as in `#[cached]`; they are
/// rendered when the function is called, before the body runs (and takes the arguments). Every
/// interpolated value is escaped exactly as in keys, so `keys` and `tags` match what
/// `#[cached]` wrote, and a value such as `"*"` can never widen a pattern: only the
/// template's literal text is glob syntax.
///
/// ```
/// use std::path::Path;
/// use std::sync::LazyLock;
/// use cache_core::{Cache, invalidate};
/// # pub struct DbError;
/// # pub struct ImportError;
///
/// // keys: full keys, prefix included.
/// #[invalidate(keys = ["user:profile:{id}", "user:settings:{id}"])]
/// async fn delete_user(id: u64) -> Result<(), DbError> {
///     // ..
/// #   Ok(())
/// }
///
/// // pattern: every page of a user's search results.
/// #[invalidate(pattern = "search:{user}:*")]
/// fn reindex(user: &str) {
///     // ..
/// }
///
/// // tags, before the body runs (even if it fails).
/// #[invalidate(tags = ["users"], before = true)]
/// async fn import_users(file: &Path) -> Result<usize, ImportError> {
///     // ..
/// #   Ok(0)
/// }
///
/// // all, on a cache of your own.
/// struct Session {
///     cache: Cache,
/// }
///
/// impl Session {
///     #[invalidate(all = true, cache = self.cache)]
///     fn reset(&self) {
///         // ..
///     }
/// }
///
/// // Repeatable: each attribute acts on its own.
/// static DIRECTORY: LazyLock<Cache> = LazyLock::new(|| Cache::builder().build().unwrap());
/// #[invalidate(tags = ["user:{id}"])]
/// #[invalidate(keys = ["directory:all"], cache = DIRECTORY)]
/// async fn rename(id: u64, name: &str) -> Result<(), DbError> {
///     // ..
/// #   Ok(())
/// }
/// # fn main() {}
/// ```
///
/// With several attributes, the one written first runs its "after" invalidation first and its
/// "before" invalidation last (each attribute wraps the function produced by the next one).
#[proc_macro_attribute]
pub fn invalidate(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, "invalidate", expand_invalidate::expand)
}

/// Runs an expansion; on error, emits the errors and the item unchanged (so that code using
/// the function does not pile further errors on top).
fn expand(
    args: TokenStream,
    item: TokenStream,
    name: &str,
    expand: fn(proc_macro2::TokenStream, &item::LightFn) -> syn::Result<proc_macro2::TokenStream>,
) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let function = match item::parse_fn(item.clone(), name) {
        Ok(function) => function,
        Err(error) => {
            let mut error = error;
            if let Err(args_error) = check_args(args, name) {
                error.combine(args_error);
            }
            let error = error.to_compile_error();
            return quote!(#item #error).into();
        }
    };
    match expand(args.into(), &function) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#function #error).into()
        }
    }
}

/// Parses the arguments alone, to report their errors along with a misplaced attribute.
fn check_args(args: TokenStream, name: &str) -> syn::Result<()> {
    match name {
        "cached" => args::parse::<args::CachedArgs>(args.into()).map(drop),
        "cache_put" => args::parse_put(args.into()).map(drop),
        "cached_batch" => args::parse::<args::KeyArgs>(args.into()).map(drop),
        _ => args::parse::<args::InvalidateArgs>(args.into()).map(drop),
    }
}
