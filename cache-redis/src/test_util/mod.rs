//! Throwaway Redis servers for tests (feature `test-util`), as `tokio` has `test-util`.
//!
//! [`RedisServer`] starts a standalone `redis-server` on a free loopback port, with
//! persistence off and its files in a temporary directory; [`RedisCluster`] starts a local
//! three-master Redis Cluster (with replicas, for failovers); [`RedisSentinel`] a master, a
//! replica and three sentinels; [`ChildTest`] runs a test of the current binary as a second
//! process (a second "node"). Servers are stopped and cleaned up when dropped, so a test can
//! simply hold one for its duration. They need the `redis-server` and `redis-cli` binaries on
//! `PATH` (or in `REDIS_SERVER_BIN` / `REDIS_CLI_BIN`).
//!
//! Enable the feature in your own crate's dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! cache-redis = { version = "0.1", features = ["test-util"] }
//! ```
//!
//! The functions here block the calling thread while a server starts (tens of milliseconds);
//! that is fine in tests, including inside `#[tokio::test]`.

mod child;
mod cluster;
mod process;
mod sentinel;
mod server;

pub use child::ChildTest;
pub use cluster::{FAILOVER_NODE_TIMEOUT, RedisCluster};
pub use sentinel::{RedisSentinel, SentinelTimings};
pub use server::RedisServer;
