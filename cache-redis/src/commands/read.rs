//! Reading an entry: one round trip, `HMGET key v m t`, or on a standalone server the `GET`
//! script that also checks the tags the caller expects.

use cache_core::l2::{L2Entry, L2Error, L2Read};

use super::entry::{self, Fetched, Parsed};
use super::read_mark::read_mark;
use super::scripts::GET_SCRIPT;
use super::{Keyspace, namespace_field, tags};
use crate::error::from_redis;
use crate::liveness::Status;

/// Reads an entry in one round trip: `HMGET key v m t` when no tags are expected (a tagged
/// entry found that way costs a second request for its tag check), the `GET` script that
/// checks tags server-side when tags are expected on a standalone server. A miss carries the
/// key's invalidation marker, if any, and for tagged entries the namespace generation at the
/// read (a concurrent `HGET` on a cluster), for the write-through of the load that follows
/// ([`read_mark`]).
///
/// An entry written before the namespace's last flush known to `flushes` (read once the
/// answer is in) is a miss.
pub(crate) async fn read(
    keyspace: &Keyspace,
    key: &str,
    expected_tags: &[String],
    flushes: &Status,
) -> Result<L2Read, L2Error> {
    let layout = &keyspace.layout;
    let cluster = keyspace.connection.is_cluster();
    let checked_by_script = !expected_tags.is_empty() && !cluster;
    let hmget = || async {
        redis::cmd("HMGET")
            .arg(layout.value_key(key))
            .arg(&entry::FIELDS[..])
            .query_async::<redis::Value>(&mut keyspace.connection())
            .await
            .map_err(from_redis)
    };
    let (answer, cluster_generation) = if checked_by_script {
        let answer = GET_SCRIPT
            .key(layout.value_key(key))
            .key(layout.gen_key())
            .arg(layout.tag_prefix())
            .invoke_async(&mut keyspace.connection())
            .await
            .map_err(from_redis)?;
        (answer, None)
    } else if cluster && !expected_tags.is_empty() {
        let generation = namespace_field::<String>(keyspace, "gen");
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
    // Hidden (flushed, unreadable tags, or a tag invalidated since the write): a miss whose
    // load writes as of the generation read, when known.
    let missing = || Ok(L2Read::Missing(read_mark(None, cluster_generation.clone())));
    if !survives_flush(&written_at, flushes.flushed()) {
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
        && !tags::visible(&keyspace.connection, layout, written_at.as_bytes(), &tags).await?
    {
        return missing();
    }
    Ok(L2Read::Found(L2Entry { value, ttl, tags }))
}

/// Whether an entry written at generation `written_at` was written after the namespace flush
/// at generation `flushed` (0: none known).
fn survives_flush(written_at: &str, flushed: u64) -> bool {
    flushed == 0 || written_at.parse::<u64>().is_ok_and(|w| w >= flushed)
}
