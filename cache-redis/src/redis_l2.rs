//! [`RedisL2`]: a configured Redis connection, which becomes a cache's `L2` when the cache is
//! built (`IntoL2`): the attached form, `Attached`, holds its namespace's layout, its queue of
//! unconfirmed invalidations and its backplane thread from the start, so no operation checks
//! for a half-built state. Every operation goes through the circuit breaker (`breaker.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_core::l2::{
    BoxError, BoxFuture, IntoL2, Invalidation, L2, L2Context, L2Entry, L2Error, L2Read, L2Status,
    L2Write, WriteCondition,
};

use crate::backplane::{self, Backplane, Maintain, Op, Status, SubscriberConfig};
use crate::breaker::Breaker;
use crate::builder::RedisL2Builder;
use crate::connection::Connection;
use crate::entry::{self, Fetched, Parsed};
use crate::error::{Error, from_redis, timed};
use crate::layout::Layout;
use crate::pattern::Scan;
use crate::pending::Pending;
use crate::scripts::{
    GENERATION_SCRIPT, GET_SCRIPT, INVALIDATE_TAGS_SCRIPT, MIN_TAG_TTL_MS, REMOVE_SCRIPT,
    SET_STANDALONE_SCRIPT, TOMBSTONE_TTL_MS, WRITE_SCRIPT,
};
use crate::tags;

mod read_mark;
mod recovery;

use read_mark::{parse_read_mark, read_mark};

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
    pub(crate) max_pending: usize,
}

pub(crate) struct Inner {
    pub(crate) connection: Connection,
    pub(crate) settings: Settings,
    /// Clients to subscribe the backplane through.
    pub(crate) subscribers: Vec<redis::Client>,
    /// This instance's id in backplane messages.
    pub(crate) origin: String,
    pub(crate) status: Arc<Status>,
    pub(crate) breaker: Breaker,
    /// Set when a cache is built with this L2: one `RedisL2` serves one cache.
    pub(crate) attached: AtomicBool,
}

/// A `RedisL2` attached to its cache: the namespace's key layout, the queue of unconfirmed
/// invalidations and the backplane thread are set from the start. The thread stops when the
/// cache (its only owner) is dropped.
struct Attached {
    inner: Arc<Inner>,
    layout: Layout,
    pending: Pending,
    /// One replay of the queue at a time; other readers skip Redis meanwhile.
    replaying: tokio::sync::Mutex<()>,
    /// Set right after the thread starts (it needs a weak handle on this value).
    backplane: OnceLock<Backplane>,
    /// The backplane's `changes` when the flush generation was last read.
    flush_checked: AtomicU64,
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

impl Attached {
    fn connection(&self) -> Connection {
        self.inner.connection.clone()
    }

    /// A field of the namespace's generation hash (`gen`: the tag generation, `flushed`: the
    /// last flush; see `docs/redis-layout.md`).
    async fn namespace_field<T: redis::FromRedisValue>(
        &self,
        field: &str,
    ) -> Result<Option<T>, L2Error> {
        redis::cmd("HGET")
            .arg(self.layout.gen_key())
            .arg(field)
            .query_async::<Option<T>>(&mut self.connection())
            .await
            .map_err(from_redis)
    }

    fn message(&self, op: Op) -> String {
        backplane::encode(&self.inner.origin, op)
    }

    /// Reads an entry in one round trip: `HMGET key v m t` when no tags are expected (a tagged
    /// entry found that way costs a second request for its tag check), the `GET` script that
    /// checks tags server-side when tags are expected on a standalone server. A miss carries
    /// the key's invalidation marker, if any, and for tagged entries the namespace generation
    /// at the read (a concurrent `HGET` on a cluster), for the write-through of the load that
    /// follows ([`read_mark`]).
    async fn lookup(&self, key: &str, expected_tags: &[String]) -> Result<L2Read, L2Error> {
        let layout = &self.layout;
        let cluster = self.inner.connection.is_cluster();
        let checked_by_script = !expected_tags.is_empty() && !cluster;
        let hmget = || async {
            redis::cmd("HMGET")
                .arg(layout.value_key(key))
                .arg(&entry::FIELDS[..])
                .query_async::<redis::Value>(&mut self.connection())
                .await
                .map_err(from_redis)
        };
        let (answer, cluster_generation) = if checked_by_script {
            let answer = GET_SCRIPT
                .key(layout.value_key(key))
                .key(layout.gen_key())
                .arg(layout.tag_prefix())
                .invoke_async(&mut self.connection())
                .await
                .map_err(from_redis)?;
            (answer, None)
        } else if cluster && !expected_tags.is_empty() {
            let generation = self.namespace_field::<String>("gen");
            let (answer, generation) = futures_util::future::try_join(hmget(), generation).await?;
            (answer, Some(generation.unwrap_or_else(|| "0".to_owned())))
        } else {
            (hmget().await?, None)
        };
        let Fetched {
            value,
            ttl,
            written_at,
            tags,
        } = match entry::parse(answer)? {
            Parsed::Entry(fetched) => fetched,
            Parsed::Missing { marker, generation } => {
                let generation = generation.or(cluster_generation);
                return Ok(L2Read::Missing(read_mark(marker, generation)));
            }
        };
        // Hidden (flushed, unreadable tags, or a tag invalidated since the write): a miss
        // whose load writes as of the generation read, when known.
        let missing = || Ok(L2Read::Missing(read_mark(None, cluster_generation.clone())));
        if !self.survives_flush(&written_at) {
            return missing();
        }
        if tags.is_empty() {
            return Ok(L2Read::Found(L2Entry {
                value,
                ttl,
                tags: Vec::new(),
            }));
        }
        // Unreadable tags: treat as invalidated (a miss, never a stale value).
        let Ok(tags) = serde_json::from_str::<Vec<String>>(&tags) else {
            return missing();
        };
        if !checked_by_script
            && !tags::visible(&self.inner.connection, layout, written_at.as_bytes(), &tags).await?
        {
            return missing();
        }
        Ok(L2Read::Found(L2Entry { value, ttl, tags }))
    }

    /// Writes an entry if its condition holds; `Ok(false)` when refused (the key was
    /// invalidated since the read before the load).
    async fn write(&self, key: &str, write: L2Write<'_>) -> Result<bool, L2Error> {
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
        let (expect, read_generation) = match write.condition {
            WriteCondition::Always => ("*", ""),
            WriteCondition::UnchangedSince(mark) => parse_read_mark(mark),
        };
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
                .arg(expect)
                .arg(read_generation)
                .invoke_async::<u8>(&mut connection)
                .await
                .map(|written| written == 1)
                .map_err(from_redis);
        }
        // Cluster: the generation lives in the metadata slot, the value in its own.
        let tag_ttl_ms = if tags.is_empty() { 0 } else { ttl_ms };
        let current = GENERATION_SCRIPT
            .key(layout.gen_key())
            .arg(tag_ttl_ms)
            .invoke_async::<String>(&mut connection)
            .await
            .map_err(from_redis)?;
        let written_at = if read_generation.is_empty() {
            current.as_str()
        } else {
            read_generation
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
            .arg(expect)
            .invoke_async::<u8>(&mut connection)
            .await
            .map(|written| written == 1)
            .map_err(from_redis)
    }

    /// Invalidates keys: each is replaced by an invalidation marker (`scripts.rs`, `REMOVE`),
    /// then the backplane message goes out.
    async fn remove(&self, keys: &[&str]) -> Result<(), L2Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let layout = &self.layout;
        let marker = backplane::random_id();
        let message = self.message(Op::Keys {
            keys: keys.iter().map(|key| (*key).to_owned()).collect(),
        });
        let invocation = |value_keys: &[String], channel: &str, message: &str| {
            let mut invocation = REMOVE_SCRIPT.prepare_invoke();
            for key in value_keys {
                invocation.key(key);
            }
            invocation
                .arg(&marker)
                .arg(TOMBSTONE_TTL_MS)
                .arg(channel)
                .arg(message);
            invocation
        };
        let value_keys: Vec<String> = keys.iter().map(|key| layout.value_key(key)).collect();
        if !self.inner.connection.is_cluster() {
            // One round trip; the markers are in place before the message goes out.
            return invocation(&value_keys, &layout.channel(), &message)
                .invoke_async::<()>(&mut self.connection())
                .await
                .map_err(from_redis);
        }
        // Cluster: keys live in different slots; one script per key, concurrently.
        let removals = value_keys.iter().map(|value_key| async move {
            invocation(std::slice::from_ref(value_key), "", "")
                .invoke_async::<()>(&mut self.connection())
                .await
                .map_err(from_redis)
        });
        futures_util::future::try_join_all(removals).await?;
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
        let status = Arc::clone(&self.inner.status);
        // Not connected until the subscription proves itself: L1 starts degraded.
        status.report(sink.as_ref());
        let settings = &self.inner.settings;
        let config = SubscriberConfig {
            clients: self.inner.subscribers.clone(),
            channel: layout.channel(),
            origin: self.inner.origin.clone(),
            heartbeat: settings.heartbeat,
            connect_timeout: settings.connect_timeout,
            max_backoff: settings.max_backoff,
        };
        let connect_timeout = settings.connect_timeout;
        let attached = Arc::new(Attached {
            pending: Pending::new(settings.max_pending),
            inner: self.inner,
            layout,
            replaying: tokio::sync::Mutex::new(()),
            backplane: OnceLock::new(),
            flush_checked: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&attached);
        let maintain: Maintain = Box::new(move || {
            let weak = weak.clone();
            Box::pin(async move {
                if let Some(attached) = weak.upgrade() {
                    attached.maintain().await;
                }
            })
        });
        let thread = backplane::start(config, sink, Arc::clone(&status), maintain)
            .map_err(|source| Box::new(Error::Backplane(source)))?;
        let _ = attached.backplane.set(thread);
        // Wait (bounded) for the first subscription, so the first loads are coherent and
        // written through. The subscriber runs on its own thread: blocking here is safe.
        let deadline = std::time::Instant::now() + connect_timeout;
        while !status.is_connected() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if !status.is_connected() {
            tracing::warn!(
                ?connect_timeout,
                "backplane not subscribed yet; L1 degraded until it is"
            );
        }
        Ok(attached)
    }
}

impl L2 for Attached {
    fn get<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<Option<L2Entry>, L2Error>> {
        Box::pin(async move { Ok(self.read(key, expected_tags).await?.into_entry()) })
    }

    fn read<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<L2Read, L2Error>> {
        Box::pin(async move {
            self.settle().await?;
            let limit = self.inner.settings.operation_timeout;
            self.guarded("L2 read", limit, self.lookup(key, expected_tags))
                .await
        })
    }

    fn set<'a>(&'a self, key: &'a str, write: L2Write<'a>) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(async move {
            let limit = self.inner.settings.operation_timeout;
            let mark = self.pending.mark();
            let written = self
                .guarded("L2 write", limit, self.write(key, write))
                .await;
            if matches!(written, Ok(true)) {
                self.pending.written(key, mark);
            }
            // An older value may still be there: its removal waits in the queue.
            self.queue_unconfirmed(written.map(drop), || {
                Invalidation::Keys(vec![key.to_owned()])
            })
        })
    }

    fn invalidate<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(async move {
            let limit = self.inner.settings.operation_timeout;
            let removed = self
                .guarded("L2 invalidation", limit, self.remove(keys))
                .await;
            self.queue_unconfirmed(removed, || {
                Invalidation::Keys(keys.iter().map(|key| (*key).to_owned()).collect())
            })
        })
    }

    fn invalidate_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(async move {
            let removed = self.inner.breaker.call(self.remove_matching(pattern)).await;
            self.queue_unconfirmed(removed, || Invalidation::Pattern(pattern.to_owned()))
        })
    }

    fn invalidate_tags<'a>(&'a self, tags: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
        Box::pin(async move {
            let limit = self.inner.settings.operation_timeout;
            let removed = self
                .guarded("L2 tag invalidation", limit, self.remove_tags(tags))
                .await;
            self.queue_unconfirmed(removed, || {
                Invalidation::Tags(tags.iter().map(|tag| (*tag).to_owned()).collect())
            })
        })
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        Box::pin(async move {
            let removed = self.inner.breaker.call(self.remove_all()).await;
            self.queue_unconfirmed(removed, || Invalidation::Clear)
        })
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
                // (Redis name, cache key) of each key of this namespace.
                let named: Vec<(&str, &str)> = found
                    .iter()
                    .filter_map(|raw| std::str::from_utf8(raw).ok())
                    .filter_map(|name| Some((name, layout.cache_key(name)?)))
                    .collect();
                // A key that holds only an invalidation marker is not an entry.
                let holds_value = named.iter().map(|&(name, _)| async move {
                    redis::cmd("HEXISTS")
                        .arg(name)
                        .arg("v")
                        .query_async::<bool>(&mut self.connection())
                        .await
                        // Another type (not written by a cache), or no answer: listed, as
                        // SCAN found it.
                        .unwrap_or(true)
                });
                let holds_value = futures_util::future::join_all(holds_value).await;
                let mut keys: Vec<String> = named
                    .iter()
                    .zip(holds_value)
                    .filter(|(_, holds)| *holds)
                    .map(|(&(_, key), _)| key.to_owned())
                    .collect();
                keys.sort();
                Ok(keys)
            },
        ))
    }

    /// A direct `PING`, past the breaker: health checks report what Redis does now.
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

    fn status(&self) -> L2Status {
        L2Status::new(
            Some(self.inner.status.is_connected()),
            Some(self.inner.breaker.state()),
            self.pending.len(),
        )
    }
}
