//! [`RedisL2`]: a configured Redis connection, which becomes a cache's `L2` when the cache is
//! built (`IntoL2`): the attached form (`redis_l2/attached.rs`) runs every operation as one
//! Redis command (`commands.rs`) under one policy of timeouts, circuit breaker and durable
//! invalidations (`redis_l2/policy.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cache_core::l2::{BoxError, IntoL2, L2, L2Context};

use crate::backplane::Status;
use crate::breaker::Breaker;
use crate::builder::RedisL2Builder;
use crate::connection::Connection;
use crate::error::Error;
use crate::target::Source;

mod attached;
mod policy;

use attached::Attached;

/// Redis (standalone, Cluster or Sentinel) as the shared second level of a `cache_core::Cache`.
///
/// Build one with [`RedisL2::builder`] and hand it to
/// [`CacheBuilder::l2`](cache_core::CacheBuilder::l2). One `RedisL2` serves one `Cache`
/// (attaching it to a second cache is an error); it is cheap to clone, so keep a clone to
/// look at [`backplane_connected`](Self::backplane_connected).
///
/// ```no_run
/// use std::time::Duration;
/// use cache_core::{Cache, EntryOptions};
/// use cache_redis::RedisL2;
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let l2 = RedisL2::builder().url("redis://127.0.0.1:6379/").build().await?;
/// let cache = Cache::builder().namespace("shop").l2(l2.clone()).build()?;
/// l2.wait_for_backplane(Duration::from_secs(2)).await;
///
/// let options = EntryOptions::new().ttl(Duration::from_secs(60)).tags(["products"]);
/// let price: u64 = cache
///     .get_or_load("price:42", &options, || async { Ok::<_, std::io::Error>(1999) })
///     .await?;
/// // Every process sharing this Redis and namespace now sees it, in `shop:price:42`.
/// cache.invalidate_tags(&["products"]).await; // gone everywhere, whatever the number of keys
/// # let _ = price; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisL2 {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisL2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisL2")
            .field("cluster", &self.inner.connection.is_cluster())
            .field("settings", &self.inner.settings)
            .field("attached", &self.inner.attached.load(Ordering::Relaxed))
            .field("backplane_connected", &self.backplane_connected())
            .finish()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) operation_timeout: Duration,
    pub(crate) bulk_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) scan_count: usize,
    pub(crate) max_pending: usize,
    /// Fleet-wide single-flight (`None`: off): how long a lease lives unless renewed, how
    /// long a reader waits for another process's lease.
    pub(crate) fleet: Option<FleetSettings>,
}

/// The fleet-wide single-flight's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FleetSettings {
    pub(crate) lease_ttl: Duration,
    pub(crate) wait_at_most: Duration,
}

pub(crate) struct Inner {
    pub(crate) connection: Connection,
    pub(crate) settings: Settings,
    /// Where the backplane subscribes.
    pub(crate) source: Source,
    /// This instance's id in backplane messages.
    pub(crate) origin: String,
    pub(crate) status: Arc<Status>,
    pub(crate) breaker: Breaker,
    /// Set when a cache is built with this L2: one `RedisL2` serves one cache.
    pub(crate) attached: AtomicBool,
}

impl RedisL2 {
    /// A builder: standalone at [`DEFAULT_URL`](crate::DEFAULT_URL) unless told otherwise.
    pub fn builder() -> RedisL2Builder {
        RedisL2Builder::default()
    }

    /// Whether the backplane is subscribed and proved so within the last three heartbeats.
    /// While it is not, the cache's L1 is degraded (`CacheBuilder::degraded_ttl`): it could
    /// miss other processes' invalidations.
    pub fn backplane_connected(&self) -> bool {
        self.inner.status.is_connected()
    }

    /// Waits until the backplane is subscribed, at most `timeout`; returns whether it is.
    /// Building the cache already waits up to the connect timeout; this is for tests and
    /// for waiting after an outage.
    pub async fn wait_for_backplane(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.backplane_connected() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Whether this L2 talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.inner.connection.is_cluster()
    }
}

impl IntoL2 for RedisL2 {
    fn into_l2(self, context: L2Context) -> Result<Arc<dyn L2>, BoxError> {
        if self.inner.attached.swap(true, Ordering::AcqRel) {
            return Err(Box::new(Error::AlreadyAttached));
        }
        Ok(Attached::start(self.inner, &context)?)
    }
}
