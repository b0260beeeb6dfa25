//! [`RedisL2`]: a configured Redis connection, which becomes a cache's `L2` when the cache is
//! built (`IntoL2`): the attached form, `AttachedRedisL2`, holds its namespace's layout and
//! its backplane task from the start, so no operation checks for a half-built state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cache_core::{BoxError, BoxFuture, IntoL2, L2, L2Context, L2Entry, L2Error, L2Write};

use crate::backplane::{self, Op, Status, SubscriberConfig};
use crate::builder::RedisL2Builder;
use crate::connection::Connection;
use crate::entry::{self, Fetched};
use crate::error::{Error, from_redis, timed};
use crate::layout::Layout;
use crate::pattern::Scan;
use crate::scripts::{
    GENERATION_SCRIPT, GET_SCRIPT, INVALIDATE_TAGS_SCRIPT, MIN_TAG_TTL_MS, SET_STANDALONE_SCRIPT,
    WRITE_SCRIPT,
};
use crate::tags;

/// Redis (standalone or Cluster) as the shared second level of a `cache_core::Cache`.
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
}

pub(crate) struct Inner {
    pub(crate) connection: Connection,
    pub(crate) settings: Settings,
    /// Clients to subscribe the backplane through.
    pub(crate) subscribers: Vec<redis::Client>,
    pub(crate) runtime: tokio::runtime::Handle,
    /// This instance's id in backplane messages.
    pub(crate) origin: String,
    pub(crate) status: Arc<Status>,
    /// Set when a cache is built with this L2: one `RedisL2` serves one cache.
    pub(crate) attached: AtomicBool,
}

/// A `RedisL2` attached to its cache: the namespace's key layout and the backplane task are
/// set from the start. The task stops when the cache (its only owner) is dropped.
struct AttachedRedisL2 {
    inner: Arc<Inner>,
    layout: Layout,
    task: tokio::task::AbortHandle,
}

impl Drop for AttachedRedisL2 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedisL2 {
    /// A builder: standalone at [`DEFAULT_URL`](crate::DEFAULT_URL) unless told otherwise.
    pub fn builder() -> RedisL2Builder {
        RedisL2Builder::default()
    }

    /// Whether the backplane is subscribed. While it is not, the cache's L1 is empty and
    /// unused (it could miss other processes' invalidations); reads go to Redis.
    pub fn backplane_connected(&self) -> bool {
        self.inner.status.is_connected()
    }

    /// Waits until the backplane is subscribed, at most `timeout`; returns whether it is.
    /// Useful at start-up (L1 is off until then) and in tests.
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

impl AttachedRedisL2 {
    fn connection(&self) -> Connection {
        self.inner.connection.clone()
    }

    fn message(&self, op: Op) -> String {
        backplane::encode(&self.inner.origin, op)
    }

    /// Reads an entry in one round trip: `HMGET key v m` when no tags are expected (a tagged
    /// entry found that way costs a second request for its tag check), the `GET` script that
    /// checks tags server-side when tags are expected on a standalone server.
    async fn read(&self, key: &str, expected_tags: &[String]) -> Result<Option<L2Entry>, L2Error> {
        let layout = &self.layout;
        let checked_by_script = !expected_tags.is_empty() && !self.inner.connection.is_cluster();
        let answer: redis::Value = if checked_by_script {
            GET_SCRIPT
                .key(layout.value_key(key))
                .arg(layout.tag_prefix())
                .invoke_async(&mut self.connection())
                .await
        } else {
            redis::cmd("HMGET")
                .arg(layout.value_key(key))
                .arg(&entry::FIELDS[..])
                .query_async(&mut self.connection())
                .await
        }
        .map_err(from_redis)?;
        let Some(Fetched {
            value,
            ttl,
            written_at,
            tags,
        }) = entry::parse(answer)?
        else {
            return Ok(None);
        };
        if tags.is_empty() {
            return Ok(Some(L2Entry {
                value,
                ttl,
                tags: Vec::new(),
            }));
        }
        // Unreadable tags: treat as invalidated (a miss, never a stale value).
        let Ok(tags) = serde_json::from_str::<Vec<String>>(&tags) else {
            return Ok(None);
        };
        if !checked_by_script
            && !tags::visible(&self.inner.connection, layout, written_at.as_bytes(), &tags).await?
        {
            return Ok(None);
        }
        Ok(Some(L2Entry { value, ttl, tags }))
    }

    async fn write(&self, key: &str, write: L2Write<'_>) -> Result<(), L2Error> {
        let layout = &self.layout;
        let ttl_ms = u64::try_from(write.ttl.as_millis())
            .unwrap_or(u64::MAX / 2)
            .max(1);
        let tags = if write.tags.is_empty() {
            String::new()
        } else {
            serde_json::to_string(write.tags).expect("strings serialize")
        };
        let message = self.message(Op::Keys {
            keys: vec![key.to_owned()],
        });
        let value_key = layout.value_key(key);
        let fingerprint = format!("{:016x}", write.value.fingerprint);
        let format = u32::from(write.value.format);
        let mut connection = self.connection();
        if !connection.is_cluster() {
            return SET_STANDALONE_SCRIPT
                .key(value_key)
                .key(layout.gen_key())
                .arg(&write.value.payload)
                .arg(format)
                .arg(fingerprint)
                .arg(ttl_ms)
                .arg(tags)
                .arg(layout.channel())
                .arg(message)
                .invoke_async::<()>(&mut connection)
                .await
                .map_err(from_redis);
        }
        // Cluster: the generation lives in the metadata slot, the value in its own.
        let written_at = if tags.is_empty() {
            String::new()
        } else {
            GENERATION_SCRIPT
                .key(layout.gen_key())
                .arg(ttl_ms)
                .invoke_async::<String>(&mut connection)
                .await
                .map_err(from_redis)?
        };
        WRITE_SCRIPT
            .key(value_key)
            .arg(&write.value.payload)
            .arg(format)
            .arg(fingerprint)
            .arg(ttl_ms)
            .arg(written_at)
            .arg(tags)
            .arg(layout.channel())
            .arg(message)
            .invoke_async::<()>(&mut connection)
            .await
            .map_err(from_redis)
    }

    async fn remove(&self, keys: &[&str]) -> Result<(), L2Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let layout = &self.layout;
        let value_keys: Vec<String> = keys.iter().map(|key| layout.value_key(key)).collect();
        let message = self.message(Op::Keys {
            keys: keys.iter().map(|key| (*key).to_owned()).collect(),
        });
        let mut connection = self.connection();
        if !connection.is_cluster() {
            // One round trip; UNLINK before PUBLISH, so no one reloads the old value after
            // dropping it.
            return redis::pipe()
                .cmd("UNLINK")
                .arg(&value_keys)
                .ignore()
                .cmd("PUBLISH")
                .arg(layout.channel())
                .arg(message)
                .ignore()
                .query_async::<()>(&mut connection)
                .await
                .map_err(from_redis);
        }
        redis::cmd("UNLINK")
            .arg(&value_keys)
            .query_async::<()>(&mut connection)
            .await
            .map_err(from_redis)?;
        self.publish(layout, message).await
    }

    async fn publish(&self, layout: &Layout, message: String) -> Result<(), L2Error> {
        timed(self.inner.settings.operation_timeout, "PUBLISH", async {
            redis::cmd("PUBLISH")
                .arg(layout.channel())
                .arg(message)
                .query_async::<()>(&mut self.connection())
                .await
                .map_err(from_redis)
        })
        .await
    }

    fn scan(&self) -> Scan<'_> {
        Scan {
            connection: &self.inner.connection,
            count: self.inner.settings.scan_count,
            operation_timeout: self.inner.settings.operation_timeout,
            skip_reserved: true,
        }
    }

    async fn remove_matching(&self, pattern: &str) -> Result<(), L2Error> {
        let layout = &self.layout;
        let scanned = timed(
            self.inner.settings.bulk_timeout,
            "pattern invalidation",
            self.scan().unlink_matching(&layout.value_pattern(pattern)),
        )
        .await;
        // Tell the other processes even if the scan failed part-way: their L1 must go.
        let published = self
            .publish(
                layout,
                self.message(Op::Pattern {
                    pattern: pattern.to_owned(),
                }),
            )
            .await;
        scanned.and(published)
    }

    async fn remove_tags(&self, tags: &[&str]) -> Result<(), L2Error> {
        if tags.is_empty() {
            return Ok(());
        }
        let layout = &self.layout;
        let message = self.message(Op::Tags {
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        });
        let mut invocation = INVALIDATE_TAGS_SCRIPT.key(layout.gen_key());
        for tag in tags {
            invocation.key(layout.tag_key(tag));
        }
        invocation
            .arg(MIN_TAG_TTL_MS)
            .arg(layout.channel())
            .arg(message)
            .invoke_async::<()>(&mut self.connection())
            .await
            .map_err(from_redis)
    }

    async fn remove_all(&self) -> Result<(), L2Error> {
        let layout = &self.layout;
        let scan = async {
            self.scan()
                .unlink_matching(&layout.value_pattern("*"))
                .await?;
            // Only once every value is gone: a tag key may still hide a surviving entry.
            Scan {
                skip_reserved: false,
                ..self.scan()
            }
            .unlink_matching(&layout.tag_pattern())
            .await
        };
        let scanned = timed(self.inner.settings.bulk_timeout, "clear", scan).await;
        let published = self.publish(layout, self.message(Op::Clear)).await;
        scanned.map(drop).and(published)
    }
}

impl IntoL2 for RedisL2 {
    fn into_l2(self, context: L2Context) -> Result<Arc<dyn L2>, BoxError> {
        if self.inner.attached.swap(true, Ordering::AcqRel) {
            return Err(Box::new(Error::AlreadyAttached));
        }
        let layout = Layout::new(context.namespace());
        let sink = context.sink();
        // L1 stays off until the backplane is subscribed: it could miss invalidations.
        sink.set_connected(false);
        let settings = &self.inner.settings;
        let config = SubscriberConfig {
            clients: self.inner.subscribers.clone(),
            channel: layout.channel(),
            origin: self.inner.origin.clone(),
            heartbeat: settings.heartbeat,
            connect_timeout: settings.connect_timeout,
            max_backoff: settings.max_backoff,
        };
        let task = self
            .inner
            .runtime
            .spawn(backplane::run(config, sink, Arc::clone(&self.inner.status)))
            .abort_handle();
        Ok(Arc::new(AttachedRedisL2 {
            inner: self.inner,
            layout,
            task,
        }))
    }
}

impl L2 for AttachedRedisL2 {
    fn get<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<Option<L2Entry>, L2Error>> {
        Box::pin(timed(
            self.inner.settings.operation_timeout,
            "L2 read",
            self.read(key, expected_tags),
        ))
    }

    fn set<'a>(&'a self, key: &'a str, write: L2Write<'a>) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(timed(
            self.inner.settings.operation_timeout,
            "L2 write",
            self.write(key, write),
        ))
    }

    fn invalidate<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(timed(
            self.inner.settings.operation_timeout,
            "L2 invalidation",
            self.remove(keys),
        ))
    }

    fn invalidate_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(self.remove_matching(pattern))
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(timed(
            self.inner.settings.operation_timeout,
            "L2 tag invalidation",
            self.remove_tags(tags),
        ))
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(self.remove_all())
    }

    fn keys<'a>(
        &'a self,
        pattern: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, L2Error>> {
        Box::pin(timed(
            self.inner.settings.bulk_timeout,
            "key listing",
            async move {
                let layout = &self.layout;
                let found = self
                    .scan()
                    .list_matching(&layout.value_pattern(pattern), limit)
                    .await?;
                let mut keys: Vec<String> = found
                    .iter()
                    .filter_map(|raw| std::str::from_utf8(raw).ok())
                    .filter_map(|key| layout.cache_key(key))
                    .map(str::to_owned)
                    .collect();
                keys.sort();
                Ok(keys)
            },
        ))
    }

    fn health(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(timed(
            self.inner.settings.operation_timeout,
            "PING",
            async move {
                redis::cmd("PING")
                    .query_async::<()>(&mut self.connection())
                    .await
                    .map_err(from_redis)
            },
        ))
    }
}
