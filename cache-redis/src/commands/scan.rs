//! Walking the keyspace: `SCAN cursor MATCH pattern COUNT n` on every master (never `KEYS`,
//! which blocks the server), to `UNLINK` each batch (pattern invalidation, clear) or to list
//! keys (operators' listings). Each round trip is bounded by the keyspace's step timeout.

use cache_core::l2::{L2Error, L2Read};

use super::{Keyspace, read};
use crate::connection::Node;
use crate::error::{from_redis, timed};
use crate::layout::is_reserved;
use crate::liveness::Status;

/// Which keys a scan leaves alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reserved {
    /// Metadata keys are skipped (needed when there is no namespace: `*` matches them).
    Skip,
    /// Metadata keys are included (the scan looks for them).
    Include,
}

/// Removes every key matching `pattern` on every master; returns how many were removed.
pub(super) async fn unlink_matching(
    keyspace: &Keyspace,
    pattern: &str,
    reserved: Reserved,
) -> Result<u64, L2Error> {
    let mut removed = 0;
    for node in &masters(keyspace).await? {
        let mut cursor: u64 = 0;
        loop {
            let (next, keys) = scan_step(keyspace, node, pattern, cursor, reserved).await?;
            if !keys.is_empty() {
                removed += unlink(keyspace, &keys).await?;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(removed)
}

/// Up to `limit` cache keys matching `pattern` (a glob over cache keys, without the
/// namespace), sorted. Only keys a read would find are listed, checked as a read checks them
/// ([`read`]): a key that holds only an invalidation marker, an entry hidden by a tag
/// invalidation or a flush (`clear`), or one past its expiry is left out.
pub(crate) async fn list_keys(
    keyspace: &Keyspace,
    pattern: &str,
    limit: usize,
    flushes: &Status,
) -> Result<Vec<String>, L2Error> {
    let layout = &keyspace.layout;
    let found = list_matching(keyspace, &layout.value_pattern(pattern), limit).await?;
    // (Redis name, cache key) of each key of this namespace.
    let named: Vec<(&str, &str)> = found
        .iter()
        .filter_map(|raw| std::str::from_utf8(raw).ok())
        .filter_map(|name| Some((name, layout.cache_key(name)?)))
        .collect();
    let holds_value = named.iter().map(|&(_, key)| async move {
        match read(keyspace, key, &[], flushes, None).await {
            Ok(found) => matches!(found, L2Read::Found(_)),
            // Another type (not written by a cache), or no answer: listed, as SCAN found it.
            Err(_) => true,
        }
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
}

/// Up to `limit` Redis keys matching `pattern`, over every master.
async fn list_matching(
    keyspace: &Keyspace,
    pattern: &str,
    limit: usize,
) -> Result<Vec<Vec<u8>>, L2Error> {
    let mut found = Vec::new();
    for node in &masters(keyspace).await? {
        let mut cursor = 0;
        loop {
            let (next, keys) = scan_step(keyspace, node, pattern, cursor, Reserved::Skip).await?;
            found.extend(keys);
            cursor = next;
            if cursor == 0 || found.len() >= limit {
                break;
            }
        }
        if found.len() >= limit {
            break;
        }
    }
    found.truncate(limit);
    Ok(found)
}

/// The masters to scan (one for a standalone server).
async fn masters(keyspace: &Keyspace) -> Result<Vec<Node>, L2Error> {
    timed(keyspace.step_timeout, "listing the masters", async {
        keyspace.connection.masters().await.map_err(from_redis)
    })
    .await
}

/// One `SCAN` round trip on `node` from `cursor`: the next cursor (0 at the end) and the
/// batch of matching keys.
async fn scan_step(
    keyspace: &Keyspace,
    node: &Node,
    pattern: &str,
    cursor: u64,
    reserved: Reserved,
) -> Result<(u64, Vec<Vec<u8>>), L2Error> {
    let mut command = redis::cmd("SCAN");
    command
        .arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(keyspace.scan_count);
    let (next, keys): (u64, Vec<Vec<u8>>) = timed(keyspace.step_timeout, "SCAN", async {
        keyspace
            .connection
            .query_node(node, command)
            .await
            .map_err(from_redis)
    })
    .await?;
    let keys = keys
        .into_iter()
        .filter(|key| reserved == Reserved::Include || !is_reserved(key))
        .collect();
    Ok((next, keys))
}

/// `UNLINK` of one batch (a cluster connection splits it by slot).
async fn unlink(keyspace: &Keyspace, keys: &[Vec<u8>]) -> Result<u64, L2Error> {
    timed(keyspace.step_timeout, "UNLINK", async {
        redis::cmd("UNLINK")
            .arg(keys)
            .query_async(&mut keyspace.connection())
            .await
            .map_err(from_redis)
    })
    .await
}
