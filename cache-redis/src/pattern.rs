//! Pattern removal: `SCAN cursor MATCH pattern COUNT n` + `UNLINK` of each batch, on every
//! master (never `KEYS`, which blocks the server).

use std::time::Duration;

use crate::connection::{Connection, Node};
use crate::error::{from_redis, timed};
use crate::layout::is_reserved;
use cache_core::l2::L2Error;

/// How a scan runs.
pub(crate) struct Scan<'a> {
    pub(crate) connection: &'a Connection,
    /// `COUNT` hint of each `SCAN`.
    pub(crate) count: usize,
    /// Limit of each round trip.
    pub(crate) operation_timeout: Duration,
    /// Skip metadata keys (needed when there is no namespace: `*` matches them).
    pub(crate) skip_reserved: bool,
}

impl Scan<'_> {
    /// Removes every key matching `pattern` on every master; returns how many were removed.
    pub(crate) async fn unlink_matching(&self, pattern: &str) -> Result<u64, L2Error> {
        let masters = self.masters().await?;
        let mut removed = 0;
        for node in &masters {
            removed += self.unlink_on(node, pattern).await?;
        }
        Ok(removed)
    }

    /// Up to `limit` keys matching `pattern`, over every master (for operators' listings).
    pub(crate) async fn list_matching(
        &self,
        pattern: &str,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, L2Error> {
        let masters = self.masters().await?;
        let mut found = Vec::new();
        for node in &masters {
            let mut cursor = 0;
            loop {
                let (next, keys) = self.scan_step(node, pattern, cursor).await?;
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

    async fn unlink_on(&self, node: &Node, pattern: &str) -> Result<u64, L2Error> {
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let (next, keys) = self.scan_step(node, pattern, cursor).await?;
            if !keys.is_empty() {
                removed += self.unlink(&keys).await?;
            }
            cursor = next;
            if cursor == 0 {
                return Ok(removed);
            }
        }
    }

    /// The masters to scan (one for a standalone server).
    async fn masters(&self) -> Result<Vec<Node>, L2Error> {
        timed(self.operation_timeout, "listing the masters", async {
            self.connection.masters().await.map_err(from_redis)
        })
        .await
    }

    /// One `SCAN` round trip on `node` from `cursor`: the next cursor (0 at the end) and the
    /// batch of matching keys (metadata keys left out when asked).
    async fn scan_step(
        &self,
        node: &Node,
        pattern: &str,
        cursor: u64,
    ) -> Result<(u64, Vec<Vec<u8>>), L2Error> {
        let mut command = redis::cmd("SCAN");
        command
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(self.count);
        let (next, keys): (u64, Vec<Vec<u8>>) = timed(self.operation_timeout, "SCAN", async {
            self.connection
                .query_node(node, command)
                .await
                .map_err(from_redis)
        })
        .await?;
        let keys = keys
            .into_iter()
            .filter(|key| !(self.skip_reserved && is_reserved(key)))
            .collect();
        Ok((next, keys))
    }

    /// `UNLINK` of one batch (a cluster connection splits it by slot).
    async fn unlink(&self, keys: &[Vec<u8>]) -> Result<u64, L2Error> {
        timed(self.operation_timeout, "UNLINK", async {
            let mut connection = self.connection.clone();
            let removed: u64 = redis::cmd("UNLINK")
                .arg(keys)
                .query_async(&mut connection)
                .await
                .map_err(from_redis)?;
            Ok(removed)
        })
        .await
    }
}
