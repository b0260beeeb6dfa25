//! Invalidations: keys (replaced by invalidation markers), patterns (`SCAN` + `UNLINK`), tags
//! (generation counters), clear, and the O(1) namespace flush.

use cache_core::l2::{Invalidation, L2Error};

use super::scan::{self, Reserved};
use super::scripts::{
    FLUSH_SCRIPT, INVALIDATE_TAGS_SCRIPT, MIN_TAG_TTL_MS, REMOVE_SCRIPT, TOMBSTONE_TTL_MS,
};
use super::{Keyspace, publish};
use crate::backplane;
use crate::error::{from_redis, protocol};

/// Applies an invalidation to Redis, then publishes `message`.
pub(crate) async fn invalidate(
    keyspace: &Keyspace,
    invalidation: &Invalidation,
    message: &str,
) -> Result<(), L2Error> {
    match invalidation {
        Invalidation::Keys(keys) => remove_keys(keyspace, keys, message).await,
        Invalidation::Pattern(pattern) => remove_matching(keyspace, pattern, message).await,
        Invalidation::Tags(tags) => invalidate_tags(keyspace, tags, message).await,
        Invalidation::Clear => remove_all(keyspace, message).await,
    }
}

/// Replaces each key by an invalidation marker (`scripts.rs`, `REMOVE`), then publishes.
async fn remove_keys(keyspace: &Keyspace, keys: &[String], message: &str) -> Result<(), L2Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let layout = &keyspace.layout;
    let marker = backplane::random_id();
    let invocation = |value_keys: &[String], channel: &str, message: &str| {
        let mut invocation = REMOVE_SCRIPT.prepare_invoke();
        for key in value_keys {
            invocation.key(key);
        }
        invocation
            .arg(&marker)
            .arg(TOMBSTONE_TTL_MS)
            .arg(channel)
            .arg(message);
        invocation
    };
    let value_keys: Vec<String> = keys.iter().map(|key| layout.value_key(key)).collect();
    if !keyspace.connection.is_cluster() {
        // One round trip; the markers are in place before the message goes out.
        return invocation(&value_keys, &layout.channel(), message)
            .invoke_async::<()>(&mut keyspace.connection())
            .await
            .map_err(from_redis);
    }
    // Cluster: keys live in different slots; one script per key, concurrently.
    let removals = value_keys.iter().map(|value_key| async move {
        invocation(std::slice::from_ref(value_key), "", "")
            .invoke_async::<()>(&mut keyspace.connection())
            .await
            .map_err(from_redis)
    });
    futures_util::future::try_join_all(removals).await?;
    publish(keyspace, message).await
}

/// Removes the keys matching `pattern` (a glob over cache keys), then publishes.
async fn remove_matching(keyspace: &Keyspace, pattern: &str, message: &str) -> Result<(), L2Error> {
    let value_pattern = keyspace.layout.value_pattern(pattern);
    scan::unlink_matching(keyspace, &value_pattern, Reserved::Skip).await?;
    publish(keyspace, message).await
}

/// Raises the generation of each tag in one script (`scripts.rs`, `INVALIDATE_TAGS`), which
/// publishes.
async fn invalidate_tags(
    keyspace: &Keyspace,
    tags: &[String],
    message: &str,
) -> Result<(), L2Error> {
    if tags.is_empty() {
        return Ok(());
    }
    let layout = &keyspace.layout;
    let mut invocation = INVALIDATE_TAGS_SCRIPT.key(layout.gen_key());
    for tag in tags {
        invocation.key(layout.tag_key(tag));
    }
    invocation
        .arg(MIN_TAG_TTL_MS)
        .arg(layout.channel())
        .arg(message)
        .invoke_async::<()>(&mut keyspace.connection())
        .await
        .map_err(from_redis)
}

/// Removes every value of the namespace, then its tag keys, then publishes.
async fn remove_all(keyspace: &Keyspace, message: &str) -> Result<(), L2Error> {
    let layout = &keyspace.layout;
    scan::unlink_matching(keyspace, &layout.value_pattern("*"), Reserved::Skip).await?;
    // Only once every value is gone: a tag key may still hide a surviving entry.
    scan::unlink_matching(keyspace, &layout.tag_pattern(), Reserved::Include).await?;
    publish(keyspace, message).await
}

/// Hides every entry of the namespace in O(1) (`scripts.rs`, `FLUSH`), which publishes a
/// `flush` message made of `message_prefix` and the new generation; returns the generation.
pub(crate) async fn flush(keyspace: &Keyspace, message_prefix: &str) -> Result<u64, L2Error> {
    let layout = &keyspace.layout;
    let generation: String = FLUSH_SCRIPT
        .key(layout.gen_key())
        .arg(layout.channel())
        .arg(message_prefix)
        .invoke_async(&mut keyspace.connection())
        .await
        .map_err(from_redis)?;
    generation
        .parse::<u64>()
        .map_err(|_| protocol("the flush script returned no generation"))
}
