//! A key's lease, for the fleet-wide single-flight: the field `l` of its value hash,
//! `"<token> <until ms>"` (see `docs/redis-layout.md`). Taken by the read before a load
//! (`read.rs`) or on its own ([`take`], a refresh-ahead reload), renewed while the load runs,
//! ended by the load's write (which replaces the hash) or given up ([`release`]). Anything that
//! removes the hash (an invalidation by key, pattern or `clear`) voids it, and the holder's
//! write, which requires it, is refused.

use cache_core::l2::{L2Error, ReadMark};

use super::Keyspace;
use super::read::LeaseAsk;
use super::scripts::{RELEASE_LEASE_SCRIPT, RENEW_LEASE_SCRIPT, TAKE_LEASE_SCRIPT};
use crate::error::{from_redis, protocol};

/// What taking a lease answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// This token holds it now.
    Won,
    /// Another token holds it.
    Held,
}

impl Taken {
    /// Reads a script's answer: `won`, or `held <ms left>`.
    pub(crate) fn parse(answer: &[u8]) -> Result<Self, L2Error> {
        match answer {
            b"won" => Ok(Self::Won),
            held if held.starts_with(b"held ") => Ok(Self::Held),
            other => Err(protocol(format!(
                "unexpected lease outcome {:?}",
                String::from_utf8_lossy(other)
            ))),
        }
    }
}

/// Takes the key's lease whatever the key holds (unless another token holds it).
pub(crate) async fn take(
    keyspace: &Keyspace,
    key: &str,
    ask: LeaseAsk<'_>,
) -> Result<Taken, L2Error> {
    let answer: Vec<u8> = TAKE_LEASE_SCRIPT
        .key(keyspace.layout.value_key(key))
        .arg(ask.token)
        .arg(ask.ttl.as_millis().to_string())
        .invoke_async(&mut keyspace.connection())
        .await
        .map_err(from_redis)?;
    Taken::parse(&answer)
}

/// Extends the lease `mark` holds to `ask.ttl` from now; false when the key no longer holds
/// it (voided by an invalidation, or expired and taken by another process).
pub(crate) async fn renew(
    keyspace: &Keyspace,
    key: &str,
    mark: &ReadMark,
    ask: LeaseAsk<'_>,
) -> Result<bool, L2Error> {
    let Some(token) = mark.lease() else {
        return Ok(false);
    };
    RENEW_LEASE_SCRIPT
        .key(keyspace.layout.value_key(key))
        .arg(token)
        .arg(ask.ttl.as_millis().to_string())
        .invoke_async::<u8>(&mut keyspace.connection())
        .await
        .map(|renewed| renewed == 1)
        .map_err(from_redis)
}

/// Gives up the lease `mark` holds; false when the key no longer holds it.
pub(crate) async fn release(
    keyspace: &Keyspace,
    key: &str,
    mark: &ReadMark,
) -> Result<bool, L2Error> {
    let Some(token) = mark.lease() else {
        return Ok(false);
    };
    RELEASE_LEASE_SCRIPT
        .key(keyspace.layout.value_key(key))
        .arg(token)
        .invoke_async::<u8>(&mut keyspace.connection())
        .await
        .map(|released| released == 1)
        .map_err(from_redis)
}
