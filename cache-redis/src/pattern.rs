//! Pattern removal: `SCAN cursor MATCH pattern COUNT n` + `UNLINK` of each batch, on every
//! master (never `KEYS`, which blocks the server).

use std::time::Duration;

use crate::connection::{Connection, Node};
use crate::error::{from_redis, timed};
use crate::layout::is_reserved;
use cache_core::L2Error;

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
        let masters = timed(self.operation_timeout, "listing the masters", async {
            self.connection.masters().await.map_err(from_redis)
        })
        .await?;
        let mut removed = 0;
        for node in &masters {
            removed += self.unlink_on(node, pattern).await?;
        }
        Ok(removed)
    }

    async fn unlink_on(&self, node: &Node, pattern: &str) -> Result<u64, L2Error> {
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
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
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|key| !(self.skip_reserved && is_reserved(key)))
                .collect();
            if !keys.is_empty() {
                removed += self.unlink(&keys).await?;
            }
            cursor = next;
            if cursor == 0 {
                return Ok(removed);
            }
        }
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
