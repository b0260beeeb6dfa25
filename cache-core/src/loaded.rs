//! What a loader returns when it decides how its value is cached
//! ([`Cache::get_or_load_with`](crate::Cache::get_or_load_with)).

use crate::options::EntryOptions;

/// A loaded value and how to cache it, as the loader decides: for values whose lifetime or
/// tags are known only once they are loaded (an HTTP response's `Cache-Control` and tags, an
/// API's expiry), or that must not be cached at all.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{Cache, EntryOptions, Loaded};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let cache = Cache::builder().build().unwrap();
/// let token = cache
///     .get_or_load_with("token", &EntryOptions::new(), || async {
///         let (token, expires_in) = ("abc".to_string(), Duration::from_secs(300));
///         let options = EntryOptions::new().ttl(expires_in).tags(["auth"]);
///         Ok::<_, std::io::Error>(Loaded::with_options(token, options))
///     })
///     .await
///     .unwrap();
/// assert_eq!(token, "abc");
/// assert_eq!(cache.get::<String>("token").await.as_deref(), Some("abc"));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Loaded<V> {
    pub(crate) value: V,
    pub(crate) storage: Storage,
}

/// Where a loaded value goes.
#[derive(Debug, Clone)]
pub(crate) enum Storage {
    /// With the options of the call.
    AsAsked,
    /// With these options (the call's level).
    With(EntryOptions),
    /// Nowhere: returned to the callers only.
    Nowhere,
}

impl<V> Loaded<V> {
    /// Cached with the options of the call.
    pub fn new(value: V) -> Self {
        Self {
            value,
            storage: Storage::AsAsked,
        }
    }

    /// Cached with `options` instead of the call's: TTL, tags, refresh-ahead and
    /// stale-if-error window (unset ones fall back to the cache's defaults); the level stays
    /// the call's.
    pub fn with_options(value: V, options: EntryOptions) -> Self {
        Self {
            value,
            storage: Storage::With(options),
        }
    }

    /// Returned to the caller, and to the callers waiting for the same key, but cached
    /// nowhere.
    pub fn uncached(value: V) -> Self {
        Self {
            value,
            storage: Storage::Nowhere,
        }
    }

    /// The value.
    pub fn value(&self) -> &V {
        &self.value
    }
}

impl<V> From<V> for Loaded<V> {
    fn from(value: V) -> Self {
        Self::new(value)
    }
}
