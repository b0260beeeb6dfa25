//! Redis as the shared second level (L2) of a `cache_core::Cache`: write-through, tag and
//! pattern invalidation, and a pub/sub backplane that keeps every process's L1 coherent, on a
//! standalone Redis, a Redis Cluster or a service behind Redis Sentinel, over TLS (rustls) and
//! with ACL users.
//!
//! ```no_run
//! use std::time::Duration;
//! use cache_core::{Cache, EntryOptions};
//! use cache_redis::RedisL2;
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let l2 = RedisL2::builder()
//!     .url("redis://127.0.0.1:6379/")
//!     .operation_timeout(Duration::from_millis(250))
//!     .build()
//!     .await?;
//! let cache = Cache::builder().namespace("shop").l2(l2).build()?;
//! let options = EntryOptions::new().ttl(Duration::from_secs(600)).tags(["products"]);
//! let name: String = cache
//!     .get_or_load("product:42", &options, || async { Ok::<_, std::io::Error>("Teapot".into()) })
//!     .await?;
//! # let _ = name; Ok(()) }
//! ```
//!
//! # What happens where
//!
//! - **Reads**: an L1 miss reads Redis in one round trip: a plain `HMGET` of the value and its
//!   stored expiry, or, when the caller expects tags on a standalone server, a Lua script that
//!   also checks them; a hit fills L1 with the *remaining* TTL (and the entry's tags).
//! - **Writes** (`set`, a loader's result) reach Redis with their TTL (`PEXPIRE`, ms) before
//!   the call returns, and are announced on the backplane so other processes drop their copy.
//! - **Invalidation** by key (the value replaced by an invalidation marker, so a load that
//!   read the key before and writes through after is refused), pattern (`SCAN MATCH` + `UNLINK` in batches on every
//!   master, never `KEYS`), tags (generation counters: one script, O(number of tags)) or
//!   `clear`, then a backplane message.
//! - **Backplane**: each `RedisL2` subscribes to its namespace's channel, from a thread of its
//!   own, and applies other processes' messages to its L1. It counts as connected while a
//!   heartbeat answered through the subscription is younger than three heartbeats. When it is
//!   lost, L1 is emptied at once and degraded (new entries live at most
//!   `CacheBuilder::degraded_ttl`); it is emptied again once resubscribed, so no entry that may
//!   have missed an invalidation outlives the bound.
//! - **Failures** (Redis down, slow, garbage) never reach the caller: each operation is bounded
//!   by the [operation timeout](RedisL2Builder::operation_timeout), the engine counts the
//!   error in `Stats::l2_errors` and falls back to L1 or the loader. A
//!   [circuit breaker](RedisL2Builder::breaker_threshold) skips Redis during an outage
//!   (`Stats::l2_skipped`); invalidations Redis did not confirm are
//!   [queued](RedisL2Builder::max_pending_invalidations) and applied when it answers again.
//!   A write or invalidation that Redis answers with an error (a metadata key of the wrong
//!   type, a command the ACL user may not run) is still announced on the backplane, so no
//!   other process keeps serving the older value from its L1.
//!
//! # Where Redis is
//!
//! [`url`](RedisL2Builder::url) (standalone; `rediss://` for TLS through rustls, with
//! [`tls_ca_certificates`](RedisL2Builder::tls_ca_certificates) and
//! [`tls_client_certificate`](RedisL2Builder::tls_client_certificate);
//! `redis://user:password@host` for an ACL user), [`cluster`](RedisL2Builder::cluster) or
//! [`sentinel`](RedisL2Builder::sentinel). Credentials or a certificate Redis refuses are an
//! [`Error`] from [`build`](RedisL2Builder::build). Across a failover (a Sentinel master moving,
//! a cluster replica promoted) the connection and the backplane follow the new master, what
//! was queued is applied there, and so are the invalidations confirmed in the last 10 s, which
//! asynchronous replication may have lost (the README's "Topologies" says more).
//!
//! Every operation runs through one policy (time limit, breaker, queue); the Redis commands
//! themselves are plain functions apart from it. `health` alone passes the breaker: it reports
//! what Redis does now.
//!
//! The data layout, for services in other languages, is in `docs/redis-layout.md`.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backplane;
mod breaker;
mod builder;
mod commands;
mod connection;
mod error;
mod layout;
mod liveness;
mod pending;
mod recent;
mod redis_l2;
mod sentinel;
mod target;
mod tls;

#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod test_util;

pub use builder::{
    DEFAULT_BREAKER_COOLDOWN, DEFAULT_BREAKER_THRESHOLD, DEFAULT_BULK_TIMEOUT,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_FLEET_WAIT, DEFAULT_HEARTBEAT, DEFAULT_LEASE_TTL,
    DEFAULT_MAX_PENDING_INVALIDATIONS, DEFAULT_OPERATION_TIMEOUT, DEFAULT_SCAN_COUNT, DEFAULT_URL,
    RedisL2Builder,
};
pub use error::Error;
pub use redis_l2::RedisL2;
