//! What operators can ask a cache (the admin API of `cache-http` is built on it): which keys it
//! holds, what it holds for one key, whether its backplane is up.

use serde::Serialize;

use crate::cache::Cache;
use crate::clock::now_ms;
use crate::error::Error;
use crate::glob::glob_matches;

/// What the cache holds for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    /// The key asked about.
    pub key: String,
    /// This process's L1 copy, if any.
    pub l1: Option<L1EntryInfo>,
    /// The L2 copy, if any (and if the cache has an L2).
    pub l2: Option<L2EntryInfo>,
}

/// An L1 entry, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L1EntryInfo {
    /// The function (key prefix) whose entry it is, or `<keyed>`.
    pub function: String,
    /// Milliseconds until it stops being fresh.
    pub ttl_ms: u64,
    /// Its weight against `l1_max_weight`.
    pub weight: u32,
    /// How many tags it carries.
    pub tags: usize,
}

/// An L2 entry, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L2EntryInfo {
    /// Milliseconds it has left in L2.
    pub ttl_ms: u64,
    /// Its tags.
    pub tags: Vec<String>,
    /// Size of the stored value in bytes.
    pub size: usize,
}

impl Cache {
    /// Up to `limit` keys of this process's L1 matching a Redis glob `pattern`: those a read
    /// would return now (not expired, not removed by an invalidation by key, pattern, tag or
    /// `clear`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cache = cache_core::Cache::builder().build().unwrap();
    /// cache.set("user:1", 1u32, &Default::default()).await;
    /// cache.set("order:1", 2u32, &Default::default()).await;
    /// assert_eq!(cache.l1_keys("user:*", 10), ["user:1"]);
    /// # }
    /// ```
    pub fn l1_keys(&self, pattern: &str, limit: usize) -> Vec<String> {
        let matches = |key: &str| glob_matches(pattern, key);
        self.inner.l1_keys(&matches, limit)
    }

    /// Up to `limit` keys of the L2 matching a Redis glob `pattern` (none without an L2): those
    /// a read would find (an L2 checks them as it checks a read).
    pub async fn l2_keys(&self, pattern: &str, limit: usize) -> Result<Vec<String>, Error> {
        Ok(self.inner.l2_keys(pattern, limit).await?)
    }

    /// What L1 and L2 hold for `key`, without the value: each copy a read would return now
    /// (an entry removed or hidden by an invalidation, or expired, is not reported).
    pub async fn inspect(&self, key: &str) -> Result<EntryInfo, Error> {
        let now = now_ms();
        let l1 = self
            .inner
            .l1_describe(key)
            .map(|(function, expires_at, weight, tags)| L1EntryInfo {
                function,
                ttl_ms: expires_at.saturating_sub(now),
                weight,
                tags,
            });
        let l2 = self.inner.l2_entry(key).await?.map(|entry| L2EntryInfo {
            ttl_ms: u64::try_from(entry.ttl.as_millis()).unwrap_or(u64::MAX),
            tags: entry.tags,
            size: entry.value.payload.len(),
        });
        Ok(EntryInfo {
            key: key.to_owned(),
            l1,
            l2,
        })
    }

    /// Whether the L2's backplane is connected (`None` without an L2): while it is not, L1 is
    /// degraded (see [`CacheBuilder::degraded_ttl`](crate::CacheBuilder::degraded_ttl)).
    pub fn backplane_connected(&self) -> Option<bool> {
        self.inner.backplane_connected()
    }

    /// What the L2 reports about itself (`None` without an L2): backplane, circuit breaker,
    /// invalidations waiting to be applied. No round trip.
    ///
    /// ```
    /// let cache = cache_core::Cache::builder().build().unwrap();
    /// assert!(cache.l2_status().is_none());
    /// ```
    pub fn l2_status(&self) -> Option<crate::l2::L2Status> {
        self.inner.l2_status()
    }
}
