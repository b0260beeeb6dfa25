//! Tag checks on a Redis Cluster, where tag keys (one slot, hash tag `{<ns>}`) cannot be read
//! by the script that reads the value (another slot): a second request, `MGET` of the entry's
//! tag keys, compares their generations with the entry's write generation.

use cache_core::l2::L2Error;

use crate::connection::Connection;
use crate::error::from_redis;
use crate::layout::Layout;

/// Whether an entry written at generation `written_at` with `tags` is still visible.
/// Unreadable metadata counts as invalidated (a miss, never a stale value).
pub(super) async fn visible(
    connection: &Connection,
    layout: &Layout,
    written_at: &[u8],
    tags: &[String],
) -> Result<bool, L2Error> {
    let Some(written_at) = std::str::from_utf8(written_at)
        .ok()
        .and_then(|w| w.parse::<u64>().ok())
    else {
        return Ok(false);
    };
    if tags.is_empty() {
        return Ok(true);
    }
    let keys: Vec<String> = tags.iter().map(|tag| layout.tag_key(tag)).collect();
    let generations: Vec<Option<String>> = redis::cmd("MGET")
        .arg(&keys)
        .query_async(&mut connection.clone())
        .await
        .map_err(from_redis)?;
    Ok(generations.iter().all(|generation| match generation {
        None => true,
        Some(generation) => generation
            .parse::<u64>()
            .is_ok_and(|generation| generation <= written_at),
    }))
}
