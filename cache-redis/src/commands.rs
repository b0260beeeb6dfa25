//! The Redis commands of one namespace, as plain functions over a [`Keyspace`] (the data
//! connection and the namespace's key layout): what each operation sends to Redis and how its
//! answer reads. No policy here: the time limit, the circuit breaker and the queue of
//! unconfirmed invalidations wrap every call (`redis_l2/policy.rs`).
//!
//! A command that changes Redis takes the backplane message that announces the change and
//! publishes it after the change, in the same script where it can, so a process that drops its
//! L1 copy on the message reads the new state from Redis.

mod batch;
mod entry;
mod invalidate;
mod lease;
mod read;
mod read_many;
mod read_mark;
mod scan;
mod scripts;
mod tags;
mod write;
mod write_many;

use std::time::Duration;

use cache_core::l2::L2Error;

use crate::connection::Connection;
use crate::error::from_redis;
use crate::layout::Layout;

pub(crate) use invalidate::{flush, invalidate};
pub(crate) use lease::{Taken, release as release_lease, renew as renew_lease, take as take_lease};
pub(crate) use read::{LeaseAsk, read};
pub(crate) use read_many::read_many;
pub(crate) use scan::list_keys;
pub(crate) use write::write;
pub(crate) use write_many::write_many;

/// Where the commands of one namespace go: the data connection and the namespace's key
/// layout, plus how a scan walks the keyspace.
#[derive(Clone)]
pub(crate) struct Keyspace {
    pub(crate) connection: Connection,
    pub(crate) layout: Layout,
    /// `COUNT` hint of each `SCAN`.
    pub(crate) scan_count: usize,
    /// Limit of each round trip of a command that makes many (a scan and its `UNLINK`s), so
    /// a frozen server fails the command at its first step instead of at its overall limit.
    pub(crate) step_timeout: Duration,
}

impl Keyspace {
    fn connection(&self) -> Connection {
        self.connection.clone()
    }
}

/// Publishes a backplane message on the namespace's channel.
pub(crate) async fn publish(keyspace: &Keyspace, message: &str) -> Result<(), L2Error> {
    redis::cmd("PUBLISH")
        .arg(keyspace.layout.channel())
        .arg(message)
        .query_async::<()>(&mut keyspace.connection())
        .await
        .map_err(from_redis)
}

/// `PING`.
pub(crate) async fn ping(keyspace: &Keyspace) -> Result<(), L2Error> {
    redis::cmd("PING")
        .query_async::<()>(&mut keyspace.connection())
        .await
        .map_err(from_redis)
}

/// The generation of the namespace's last flush, if it was ever flushed (see
/// `docs/redis-layout.md`).
pub(crate) async fn flush_generation(keyspace: &Keyspace) -> Result<Option<u64>, L2Error> {
    namespace_field(keyspace, "flushed").await
}

/// A field of the namespace's generation hash (`gen`: the tag generation, `flushed`: the last
/// flush; see `docs/redis-layout.md`).
async fn namespace_field<T: redis::FromRedisValue>(
    keyspace: &Keyspace,
    field: &str,
) -> Result<Option<T>, L2Error> {
    redis::cmd("HGET")
        .arg(keyspace.layout.gen_key())
        .arg(field)
        .query_async::<Option<T>>(&mut keyspace.connection())
        .await
        .map_err(from_redis)
}
