//! A multi-level cache for Rust services: a typed in-process L1 in front of a shared L2
//! (Redis, in `cache-redis`), with single-flight loads, refresh-ahead, stale-if-error,
//! write-through, and invalidation by key, Redis glob pattern or tag, across processes.
//!
//! Most users annotate functions with `#[cached]`, `#[cached_batch]` (a list of keys, one body
//! call for those found nowhere), `#[cache_put]` and `#[invalidate]` (feature `macros`, on by
//! default):
//!
//! ```
//! use cache_core::{cached, invalidate};
//!
//! #[derive(Clone, serde::Serialize, serde::Deserialize)]
//! pub struct Profile { pub id: u64, pub name: String }
//!
//! /// Cached for 10 minutes under `user:profile:{id}`, tagged `users` and `user:{id}`.
//! #[cached(ttl = "10m", key_prefix = "user:profile", tags = ["users", "user:{id}"])]
//! pub async fn user_profile(id: u64) -> Result<Profile, std::io::Error> {
//!     Ok(Profile { id, name: "Ada".into() }) // the slow query
//! }
//!
//! /// Once the write succeeds, every entry tagged `user:{id}` is invalidated everywhere.
//! #[invalidate(tags = ["user:{id}"])]
//! pub async fn rename_user(id: u64, name: &str) -> Result<(), std::io::Error> {
//!     Ok(()) // the write
//! }
//! # fn main() {}
//! ```
//!
//! Each `#[cached]` function `f` comes with `f_invalidate`, `f_refresh` and `f_uncached`
//! (same arguments), and `#[cache_put]` writes a function's result as the value the matching
//! `#[cached]` function reads next:
//!
//! ```
//! use cache_core::{cache_put, cached};
//!
//! #[cached(key_prefix = "price", level = "l1")]
//! fn price(sku: &str) -> u64 {
//!     42 // the slow lookup
//! }
//!
//! #[cache_put(key_prefix = "price", key = "{sku}", level = "l1")]
//! fn set_price(sku: &str, cents: u64) -> u64 {
//!     cents // the write; its result is what `price(sku)` returns next
//! }
//!
//! assert_eq!(price("tea"), 42);
//! assert_eq!(set_price("tea", 45), 45);
//! assert_eq!(price("tea"), 45); // no lookup: the put value
//! price_invalidate("tea"); // gone from every level and process
//! assert_eq!(price_refresh("tea"), 42); // looked up now, and stored
//! assert_eq!(price_uncached("tea"), 42); // the body alone
//! ```
//!
//! The same engine is available directly through [`Cache`]:
//!
//! ```
//! use std::time::Duration;
//! use cache_core::{Cache, EntryOptions};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache = Cache::builder().default_ttl(Duration::from_secs(300)).build().unwrap();
//! let options = EntryOptions::new().tags(["users", "user:7"]);
//! let name = cache
//!     .get_or_load("user:7", &options, || async { Ok::<_, std::io::Error>("Grace".to_string()) })
//!     .await
//!     .unwrap();
//! assert_eq!(name, "Grace");
//! assert_eq!(cache.stats().misses, 1);
//! # }
//! ```
//!
//! Without an L2 (the embedded default) everything runs in process; [`global`] is such a
//! cache unless [`install`] replaced it.
//!
//! A second level (`cache_redis::RedisL2`, or your own) plugs in through the seam in [`l2`].

mod blocking;
mod builder;
mod cache;
mod cache_batch;
mod cached_batch;
mod clock;
mod codec;
mod engine;
mod entry;
mod error;
mod flight;
mod glob;
mod global;
mod inspect;
mod key;
mod key_parts;
pub mod l2;
mod loaded;
mod options;
mod reader_put;
mod refresh;
mod refresh_dispatch;
mod stats;
mod store;
#[cfg(not(cache_core_crossbeam_lock))]
mod sync;
mod tags;
mod thread_slot;

#[doc(hidden)]
pub mod __private;

pub use builder::{CacheBuilder, DEFAULT_DEGRADED_TTL, DEFAULT_L1_CAPACITY, DEFAULT_TTL};
pub use cache::{Cache, CacheValue};
pub use codec::{
    Codec, CodecError, DEFAULT_COMPRESS_ABOVE, FORMAT_BINCODE, FORMAT_JSON, FORMAT_LZ4,
};
pub use engine::MAX_BATCH_LOAD;
pub use error::Error;
pub use glob::{glob_matches, glob_matches_bytes};
pub use global::{global, install};
pub use inspect::{EntryInfo, L1EntryInfo, L2EntryInfo};
pub use key::{KeyBuilder, MAX_KEY_LEN, escape_key_part, escaped};
pub use loaded::Loaded;
pub use options::{EntryOptions, Level};
pub use stats::Stats;

#[cfg(feature = "macros")]
pub use cache_macros::{cache_put, cached, cached_batch, invalidate};
