//! The process-wide default cache used by `#[cached]` without `cache = ...`.

use std::sync::OnceLock;

use crate::builder::CacheBuilder;
use crate::cache::Cache;
use crate::error::Error;

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// Installs `cache` as the global cache. Call it once at start-up, before the first use of
/// [`global`]; afterwards it returns [`Error::GlobalInUse`].
///
/// ```
/// let cache = cache_core::Cache::builder().namespace("app").build().unwrap();
/// cache_core::install(cache).unwrap();
/// assert_eq!(cache_core::global().namespace(), Some("app"));
/// assert!(cache_core::install(cache_core::Cache::builder().build().unwrap()).is_err());
/// ```
pub fn install(cache: Cache) -> Result<(), Error> {
    GLOBAL.set(cache).map_err(|_| Error::GlobalInUse)
}

/// The global cache: the installed one, or the embedded L1-only default if nothing was
/// installed before the first call.
pub fn global() -> &'static Cache {
    GLOBAL.get_or_init(CacheBuilder::embedded)
}
