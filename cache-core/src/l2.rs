//! The seam between the engine and a shared second level: the [`L2`] trait and the types its
//! methods take and return. `cache_redis::RedisL2` is the Redis implementation; most users
//! only hand one to [`CacheBuilder::l2`](crate::CacheBuilder::l2) and never touch this module.
//!
//! The engine hands an [`L2`] opaque, already encoded values ([`StoredValue`]) and plain keys
//! (without the namespace: the L2 owns its layout). The L2 also carries invalidations between
//! processes: it is attached when its cache is built ([`IntoL2`]), with an [`L2Context`] that
//! holds the namespace and the [`InvalidationSink`] to report what other processes did. An
//! `L2` value is always attached: there is no half-built state to check for.
//!
//! A failure is an [`L2Error`]: the engine counts it (`Stats::l2_errors`, or
//! `Stats::l2_skipped` for the [skipped kinds](L2ErrorKind::is_skipped)), logs it and falls
//! back to L1 or the loader; it never reaches the caller's function.
//!
//! ```
//! use cache_core::Cache;
//! use cache_core::l2::{BoxFuture, L2, L2Entry, L2Error, L2ErrorKind, L2Write};
//!
//! /// An L2 whose server is always down: every call fails, and the cache still answers.
//! struct Down;
//!
//! fn down<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T, L2Error>> {
//!     let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
//!     Box::pin(async move { Err(L2Error::with_source(L2ErrorKind::Connection, "down", refused)) })
//! }
//!
//! impl L2 for Down {
//!     fn get<'a>(&'a self, _: &'a str, _: &'a [String]) -> BoxFuture<'a, Result<Option<L2Entry>, L2Error>> {
//!         down()
//!     }
//!     fn set<'a>(&'a self, _: &'a str, _: L2Write<'a>) -> BoxFuture<'a, Result<(), L2Error>> {
//!         down()
//!     }
//!     fn invalidate<'a>(&'a self, _: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
//!         down()
//!     }
//!     fn invalidate_pattern<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), L2Error>> {
//!         down()
//!     }
//!     fn invalidate_tags<'a>(&'a self, _: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
//!         down()
//!     }
//!     fn clear(&self) -> BoxFuture<'_, Result<(), L2Error>> {
//!         down()
//!     }
//!     fn health(&self) -> BoxFuture<'_, Result<(), L2Error>> {
//!         down()
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let cache = Cache::builder().l2(Down).build().unwrap();
//! cache.set("k", 1u32, &Default::default()).await;
//! assert_eq!(cache.get::<u32>("k").await, Some(1)); // from L1
//! assert_eq!(cache.stats().l2_errors, 1); // the write
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed, sendable future, the return type of [`L2`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An encoded value as stored in L2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredValue {
    /// Fingerprint of the Rust type and codec that wrote the value; a reader with another
    /// fingerprint treats the value as absent.
    pub fingerprint: u64,
    /// Codec and compression of `payload` (see [`Codec`](crate::Codec)).
    pub format: u8,
    /// The encoded bytes.
    pub payload: Vec<u8>,
}

/// A value read from L2 with its remaining lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Entry {
    /// The stored value.
    pub value: StoredValue,
    /// Time left before the entry expires in L2.
    pub ttl: Duration,
    /// The tags it was written with: the engine stamps them on the L1 copy, so a later
    /// invalidation of any of them hides that copy too.
    pub tags: Vec<String>,
}

/// What another process invalidated or overwrote; the engine applies it to its L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// These keys were written or removed.
    Keys(Vec<String>),
    /// Keys matching this Redis glob were removed.
    Pattern(String),
    /// These tags were invalidated.
    Tags(Vec<String>),
    /// Everything was removed.
    Clear,
}

/// Receives what other processes did, from the L2's backplane.
pub trait InvalidationSink: Send + Sync {
    /// Applies another process's invalidation to the local L1.
    fn invalidate(&self, invalidation: Invalidation);
    /// Another process gave up the lease of `key` without writing a value (its load failed or
    /// was cancelled): whoever waits for that key may take the lease now.
    fn lease_released(&self, key: &str) {
        let _ = key;
    }
    /// The backplane lost (`false`) or regained (`true`) its connection. While it is down, L1
    /// may miss invalidations: the engine empties L1 on loss and stops filling it until
    /// the backplane is back.
    fn set_connected(&self, connected: bool);
}

/// How an [`L2`] operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum L2ErrorKind {
    /// The operation did not finish within the L2's timeout.
    Timeout,
    /// No connection to the server.
    Connection,
    /// The server answered with something unexpected (e.g. a key of another Redis type).
    Protocol,
    /// Not attempted: the L2's circuit breaker is open after repeated failures (one of the
    /// [skipped](Self::is_skipped) kinds).
    CircuitOpen,
    /// Not attempted: the L2 is applying invalidations queued while it was unreachable, and
    /// reads skip it until they are applied (one of the [skipped](Self::is_skipped) kinds).
    Replaying,
    /// Any other failure.
    Other,
}

impl L2ErrorKind {
    /// Whether the L2 skipped the operation instead of failing at it ([`CircuitOpen`],
    /// [`Replaying`]): the engine counts it in `Stats::l2_skipped` (not `l2_errors`) and does
    /// not log it per call.
    ///
    /// [`CircuitOpen`]: Self::CircuitOpen
    /// [`Replaying`]: Self::Replaying
    ///
    /// ```
    /// use cache_core::l2::L2ErrorKind;
    ///
    /// assert!(L2ErrorKind::CircuitOpen.is_skipped());
    /// assert!(L2ErrorKind::Replaying.is_skipped());
    /// assert!(!L2ErrorKind::Timeout.is_skipped());
    /// ```
    pub fn is_skipped(self) -> bool {
        matches!(self, Self::CircuitOpen | Self::Replaying)
    }
}

/// An L2 failure. The engine counts it and falls back; it never reaches the caller's function.
///
/// It keeps the error it comes from, if any ([`source`](std::error::Error::source)), e.g. the
/// Redis client's error, for reporters that walk the chain.
///
/// ```
/// use std::error::Error;
/// use cache_core::l2::{L2Error, L2ErrorKind};
///
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// let error = L2Error::with_source(L2ErrorKind::Connection, "cannot reach Redis", refused);
/// assert_eq!(error.to_string(), "Connection: cannot reach Redis");
/// let source = error.source().and_then(|source| source.downcast_ref::<std::io::Error>());
/// assert_eq!(source.map(std::io::Error::kind), Some(std::io::ErrorKind::ConnectionRefused));
/// ```
#[derive(Debug, Clone)]
pub struct L2Error {
    /// The kind of failure.
    pub kind: L2ErrorKind,
    /// A human-readable description.
    pub message: String,
    /// The underlying error, shared by clones.
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl L2Error {
    /// An error of `kind` with a message, and no underlying error.
    pub fn new(kind: L2ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` with a message, caused by `source` (returned by
    /// [`Error::source`](std::error::Error::source)).
    pub fn with_source(
        kind: L2ErrorKind,
        message: impl Into<String>,
        source: impl Into<BoxError>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(Arc::from(source.into())),
        }
    }
}

impl std::fmt::Display for L2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for L2Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// The state of an L2's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go to the L2.
    Closed,
    /// Calls skip the L2 until the cool-down ends.
    Open,
    /// One probe call is allowed through; its outcome closes or reopens the breaker.
    HalfOpen,
}

/// What an L2 reports about itself, for health checks ([`L2::status`]). Parts an L2 does not
/// have are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct L2Status {
    /// Whether the backplane has proved its subscription recently (`None`: no backplane).
    pub backplane_connected: Option<bool>,
    /// The circuit breaker's state (`None`: no breaker).
    pub breaker: Option<BreakerState>,
    /// Invalidations that failed and wait to be applied when the L2 answers again.
    pub pending_invalidations: usize,
}

impl L2Status {
    /// A status with these parts.
    pub fn new(
        backplane_connected: Option<bool>,
        breaker: Option<BreakerState>,
        pending_invalidations: usize,
    ) -> Self {
        Self {
            backplane_connected,
            breaker,
            pending_invalidations,
        }
    }
}

/// What an L2 read that found nothing saw of the key's invalidations, and the key's lease if
/// the read took it: the write-through of the load that follows carries it back
/// ([`WriteCondition::UnchangedSince`]), so an invalidation by another process between the
/// read and the write keeps the loaded (possibly older) value out of L2, and the lease (the
/// fleet-wide single-flight, [`L2::read_for_load`]) ends with the write. Opaque to the
/// engine; the default means "no invalidation marker seen, no lease".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadMark {
    seen: Option<String>,
    lease: Option<String>,
}

impl ReadMark {
    /// A mark holding what the L2 saw (`None`: nothing).
    pub fn new(seen: Option<String>) -> Self {
        Self { seen, lease: None }
    }

    /// This mark, holding the key's lease `token` too: the load that follows is the fleet's
    /// one load of the key.
    #[must_use]
    pub fn with_lease(mut self, token: String) -> Self {
        self.lease = Some(token);
        self
    }

    /// What the L2 saw.
    pub fn seen(&self) -> Option<&str> {
        self.seen.as_deref()
    }

    /// The lease the read took, if any.
    pub fn lease(&self) -> Option<&str> {
        self.lease.as_deref()
    }
}

/// When a write may replace what L2 holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteCondition<'a> {
    /// Always: an explicit write (`Cache::set`, `#[cache_put]`).
    Always,
    /// Only if the key was not invalidated since the read that left this mark (a load's
    /// write-through; a refresh, which read nothing, passes the default mark).
    UnchangedSince(&'a ReadMark),
}

/// A write to L2.
#[derive(Debug, Clone, Copy)]
pub struct L2Write<'a> {
    /// The encoded value.
    pub value: &'a StoredValue,
    /// Lifetime of the entry.
    pub ttl: Duration,
    /// How long after `ttl` the entry may still be read as stale ([`L2Read::Leased`]), to be
    /// served while another process reloads it; zero: never.
    pub stale_for: Duration,
    /// Tags of the entry; a later `invalidate_tags` of any of them must hide it.
    pub tags: &'a [String],
    /// When the write may replace what is there.
    pub condition: WriteCondition<'a>,
}

/// The result of [`L2::read`]: the entry, or the mark a miss leaves for the write-through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L2Read {
    /// The key holds a visible entry.
    Found(L2Entry),
    /// Nothing visible; the load that follows writes through with this mark (which holds the
    /// key's lease when [`L2::read_for_load`] took it).
    Missing(ReadMark),
    /// Nothing visible, and another process holds the key's lease: it is loading the key
    /// ([`L2::read_for_load`]). The reader waits for its value (read again when woken, or
    /// after a while), at most `wait_at_most`, then loads itself with `mark`. `stale` is the
    /// expired entry within its stale window, if Redis still has one: served at once instead
    /// of waiting.
    Leased {
        /// What the read saw, for a load after the wait.
        mark: ReadMark,
        /// The longest wait for the other process's value.
        wait_at_most: Duration,
        /// An expired entry still within its stale window.
        stale: Option<L2Entry>,
    },
}

impl L2Read {
    /// The entry, as [`L2::get`] returns it (`None` for a miss).
    pub fn into_entry(self) -> Option<L2Entry> {
        match self {
            Self::Found(entry) => Some(entry),
            Self::Missing(_) | Self::Leased { .. } => None,
        }
    }

    /// Reads a missing entry as `Missing` with the default mark (for L2s that do not lease).
    fn from_entry(entry: Option<L2Entry>) -> Self {
        entry.map_or_else(|| Self::Missing(ReadMark::default()), Self::Found)
    }
}

/// What a batch operation ([`L2::read_many`], [`L2::set_many`]) answered for each of its keys,
/// in the order of the keys: an error here is that key's alone (e.g. a key of another Redis
/// type); the batch's own failure (unreachable, timeout) is the outer `Err`.
pub type PerKey<T> = Vec<Result<T, L2Error>>;

/// A boxed error, as an [`IntoL2`] reports a failure to attach.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What an L2 is given when its cache is built: the namespace its keys live under, and where
/// to report other processes' invalidations.
#[derive(Clone)]
pub struct L2Context {
    namespace: Option<String>,
    sink: Arc<dyn InvalidationSink>,
}

impl L2Context {
    /// A context (for an [`IntoL2`] that wraps another one and passes it a sink of its own).
    pub fn new(namespace: Option<&str>, sink: Arc<dyn InvalidationSink>) -> Self {
        Self {
            namespace: namespace.map(str::to_owned),
            sink,
        }
    }

    /// The cache's namespace, if it has one.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Where to report other processes' invalidations and the backplane's state.
    pub fn sink(&self) -> Arc<dyn InvalidationSink> {
        Arc::clone(&self.sink)
    }
}

/// Something that becomes a cache's [`L2`] when the cache is built
/// ([`CacheBuilder::l2`](crate::CacheBuilder::l2)): `cache_redis::RedisL2`, or any `L2` value
/// (which needs no context).
pub trait IntoL2: Send + 'static {
    /// Attaches to the cache being built. A failure is an [`Error`](crate::Error) from
    /// [`CacheBuilder::build`](crate::CacheBuilder::build).
    fn into_l2(self, context: L2Context) -> Result<Arc<dyn L2>, BoxError>;
}

impl<T: L2> IntoL2 for T {
    fn into_l2(self, _context: L2Context) -> Result<Arc<dyn L2>, BoxError> {
        Ok(Arc::new(self))
    }
}

/// A shared second level, attached to one cache (see [`IntoL2`]). `cache_redis::RedisL2`
/// attaches as one.
///
/// Every method must finish within the implementation's own operation timeout.
pub trait L2: Send + Sync + 'static {
    /// Reads a key. `Ok(None)` when absent, expired, hidden by a tag invalidation, or not a
    /// value this cache wrote. `expected_tags` are the tags the caller's entries carry (empty
    /// for the keyed `get`): a hint to check them in the read's own round trip. Visibility is
    /// always decided by the tags stored with the entry.
    fn get<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<Option<L2Entry>, L2Error>>;

    /// Reads a key like [`get`](Self::get), and on a miss returns the mark the load's
    /// write-through carries back. The default reads with `get` and leaves the default mark.
    fn read<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<L2Read, L2Error>> {
        Box::pin(async move { Ok(L2Read::from_entry(self.get(key, expected_tags).await?)) })
    }

    /// Writes a key (if `write.condition` allows: a refused write is `Ok`) and tells other
    /// processes to drop their L1 copy.
    fn set<'a>(&'a self, key: &'a str, write: L2Write<'a>) -> BoxFuture<'a, Result<(), L2Error>>;

    /// Reads a key for the load that follows a miss: like [`read`](Self::read), and on a miss
    /// also takes the key's lease in the same round trip (fleet-wide single-flight): the
    /// returned mark holds it (this process loads the key for the fleet), or the read is
    /// [`L2Read::Leased`] when another process holds it. The default reads with `read`: no
    /// lease, every process that misses loads.
    fn read_for_load<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<L2Read, L2Error>> {
        self.read(key, expected_tags)
    }

    /// Reads several keys, like [`read`](Self::read) each, in as few round trips as the L2
    /// can (the batch API: `Cache::get_many`). The default calls `read` for each key in turn.
    fn read_many<'a>(
        &'a self,
        keys: &'a [&'a str],
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<PerKey<L2Read>, L2Error>> {
        Box::pin(read_each(keys, |key| self.read(key, expected_tags)))
    }

    /// Reads several keys for the load that follows, like [`read_for_load`](Self::read_for_load)
    /// each (taking the lease of each key found nowhere), in as few round trips as the L2 can
    /// (`Cache::get_or_load_many`). The default calls `read_for_load` for each key in turn.
    fn read_many_for_load<'a>(
        &'a self,
        keys: &'a [&'a str],
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<PerKey<L2Read>, L2Error>> {
        Box::pin(read_each(keys, |key| {
            self.read_for_load(key, expected_tags)
        }))
    }

    /// Writes several keys, like [`set`](Self::set) each, in as few round trips as the L2 can,
    /// and tells other processes once for the whole batch (`Cache::set_many`, the write-through
    /// of a batch load). The default calls `set` for each key in turn.
    fn set_many<'a>(
        &'a self,
        writes: &'a [(&'a str, L2Write<'a>)],
    ) -> BoxFuture<'a, Result<PerKey<()>, L2Error>> {
        Box::pin(async move {
            let mut written = Vec::with_capacity(writes.len());
            for (key, write) in writes {
                written.push(self.set(key, *write).await);
            }
            Ok(written)
        })
    }

    /// Takes the key's lease without reading, for a refresh-ahead reload: `Some(mark)` holding
    /// it, `None` when another process holds it (that process refreshes for the fleet; this
    /// one skips its refresh). The default leases nothing: every process refreshes.
    fn take_lease<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ReadMark>, L2Error>> {
        let _ = key;
        Box::pin(async { Ok(Some(ReadMark::default())) })
    }

    /// Extends the lease `mark` holds, while its load runs (every
    /// [`lease_renewal`](Self::lease_renewal)). The default has nothing to extend.
    fn renew_lease<'a>(
        &'a self,
        key: &'a str,
        mark: &'a ReadMark,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        let _ = (key, mark);
        Box::pin(async { Ok(()) })
    }

    /// Gives up the lease `mark` holds without writing (its load failed or was cancelled) and
    /// tells the processes waiting for the key. The default has nothing to release.
    fn release_lease<'a>(
        &'a self,
        key: &'a str,
        mark: &'a ReadMark,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        let _ = (key, mark);
        Box::pin(async { Ok(()) })
    }

    /// How often the holder of a lease renews it while its load runs (`None`: this L2 takes
    /// no leases).
    fn lease_renewal(&self) -> Option<Duration> {
        None
    }

    /// Removes keys and tells other processes.
    fn invalidate<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>>;

    /// Removes keys matching a Redis glob and tells other processes.
    fn invalidate_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<(), L2Error>>;

    /// Invalidates tags and tells other processes.
    fn invalidate_tags<'a>(&'a self, tags: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>>;

    /// Removes every key of the namespace and tells other processes.
    fn clear(&self) -> BoxFuture<'_, Result<(), L2Error>>;

    /// Checks that the L2 answers.
    fn health(&self) -> BoxFuture<'_, Result<(), L2Error>>;

    /// Up to `limit` cache keys matching a Redis glob (without the namespace), for operators
    /// (`cache-http`'s `/keys`). An L2 that cannot list keys lists none (the default).
    fn keys<'a>(
        &'a self,
        pattern: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, L2Error>> {
        let _ = (pattern, limit);
        Box::pin(async { Ok(Vec::new()) })
    }

    /// The L2's own state (backplane, breaker, queued invalidations), without a round trip.
    /// Default: nothing to report.
    fn status(&self) -> L2Status {
        L2Status::default()
    }
}

/// Reads `keys` one at a time with `read`: the batch reads of an L2 without batches of its own.
async fn read_each<'a, Fut>(
    keys: &'a [&'a str],
    read: impl Fn(&'a str) -> Fut,
) -> Result<PerKey<L2Read>, L2Error>
where
    Fut: Future<Output = Result<L2Read, L2Error>>,
{
    let mut reads = Vec::with_capacity(keys.len());
    for key in keys {
        reads.push(read(key).await);
    }
    Ok(reads)
}

impl<T: L2 + ?Sized> L2 for Arc<T> {
    fn get<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<Option<L2Entry>, L2Error>> {
        (**self).get(key, expected_tags)
    }
    fn read<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<L2Read, L2Error>> {
        (**self).read(key, expected_tags)
    }
    fn set<'a>(&'a self, key: &'a str, write: L2Write<'a>) -> BoxFuture<'a, Result<(), L2Error>> {
        (**self).set(key, write)
    }
    fn read_for_load<'a>(
        &'a self,
        key: &'a str,
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<L2Read, L2Error>> {
        (**self).read_for_load(key, expected_tags)
    }
    fn read_many<'a>(
        &'a self,
        keys: &'a [&'a str],
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<PerKey<L2Read>, L2Error>> {
        (**self).read_many(keys, expected_tags)
    }
    fn read_many_for_load<'a>(
        &'a self,
        keys: &'a [&'a str],
        expected_tags: &'a [String],
    ) -> BoxFuture<'a, Result<PerKey<L2Read>, L2Error>> {
        (**self).read_many_for_load(keys, expected_tags)
    }
    fn set_many<'a>(
        &'a self,
        writes: &'a [(&'a str, L2Write<'a>)],
    ) -> BoxFuture<'a, Result<PerKey<()>, L2Error>> {
        (**self).set_many(writes)
    }
    fn take_lease<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ReadMark>, L2Error>> {
        (**self).take_lease(key)
    }
    fn renew_lease<'a>(
        &'a self,
        key: &'a str,
        mark: &'a ReadMark,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        (**self).renew_lease(key, mark)
    }
    fn release_lease<'a>(
        &'a self,
        key: &'a str,
        mark: &'a ReadMark,
    ) -> BoxFuture<'a, Result<(), L2Error>> {
        (**self).release_lease(key, mark)
    }
    fn lease_renewal(&self) -> Option<Duration> {
        (**self).lease_renewal()
    }
    fn invalidate<'a>(&'a self, keys: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
        (**self).invalidate(keys)
    }
    fn invalidate_pattern<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<(), L2Error>> {
        (**self).invalidate_pattern(pattern)
    }
    fn invalidate_tags<'a>(&'a self, tags: &'a [&'a str]) -> BoxFuture<'a, Result<(), L2Error>> {
        (**self).invalidate_tags(tags)
    }
    fn clear(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        (**self).clear()
    }
    fn health(&self) -> BoxFuture<'_, Result<(), L2Error>> {
        (**self).health()
    }
    fn keys<'a>(
        &'a self,
        pattern: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, L2Error>> {
        (**self).keys(pattern, limit)
    }
    fn status(&self) -> L2Status {
        (**self).status()
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn the_source_survives_clones_and_the_cache_error() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = L2Error::with_source(L2ErrorKind::Connection, "no Redis", refused);
        let cloned = error.clone();
        let io = |error: &(dyn std::error::Error + 'static)| {
            error
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind)
        };
        assert_eq!(
            cloned.source().and_then(io),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
        // Through the cache's own error, one level further down the chain.
        let cache_error = crate::Error::from(error);
        let l2 = cache_error.source().expect("the L2 error");
        let underlying = l2.source().expect("the L2 error's source");
        assert_eq!(underlying.to_string(), "refused");
        assert_eq!(io(underlying), Some(std::io::ErrorKind::ConnectionRefused));
        assert!(L2Error::new(L2ErrorKind::Other, "x").source().is_none());
    }
}
