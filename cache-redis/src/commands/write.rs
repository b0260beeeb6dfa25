//! Writing an entry: one script on a standalone server, two on a cluster (the namespace
//! generation lives in the metadata slot, the value in its own).

use cache_core::l2::{L2Error, L2Write, WriteCondition};

use super::Keyspace;
use super::read_mark::parse_read_mark;
use super::scripts::{GENERATION_SCRIPT, SET_STANDALONE_SCRIPT, WRITE_SCRIPT};
use crate::error::from_redis;

/// Writes an entry if its condition holds and publishes `message`; `Ok(false)` when refused
/// (the key was invalidated since the read before the load, or no longer holds the lease the
/// load took).
pub(crate) async fn write(
    keyspace: &Keyspace,
    key: &str,
    write: L2Write<'_>,
    message: &str,
) -> Result<bool, L2Error> {
    let layout = &keyspace.layout;
    let ttl_ms = u64::try_from(write.ttl.as_millis())
        .unwrap_or(u64::MAX / 2)
        .max(1);
    let tags = if write.tags.is_empty() {
        String::new()
    } else {
        serde_json::to_string(write.tags).expect("strings serialize")
    };
    let value_key = layout.value_key(key);
    let fingerprint = format!("{:016x}", write.value.fingerprint);
    let format = u32::from(write.value.format);
    let (expect, read_generation, lease) = match write.condition {
        WriteCondition::Always => ("*", "", ""),
        WriteCondition::UnchangedSince(mark) => {
            let (expect, generation) = parse_read_mark(mark);
            (expect, generation, mark.lease().unwrap_or_default())
        }
    };
    let stale_ms = u64::try_from(write.stale_for.as_millis()).unwrap_or(u64::MAX / 4);
    let mut connection = keyspace.connection();
    if !connection.is_cluster() {
        return SET_STANDALONE_SCRIPT
            .key(value_key)
            .key(layout.gen_key())
            .arg(&write.value.payload)
            .arg(format)
            .arg(fingerprint)
            .arg(ttl_ms)
            .arg(tags)
            .arg(layout.channel())
            .arg(message)
            .arg(expect)
            .arg(read_generation)
            .arg(stale_ms)
            .arg(lease)
            .invoke_async::<u8>(&mut connection)
            .await
            .map(|written| written == 1)
            .map_err(from_redis);
    }
    // Cluster: the generation lives in the metadata slot, the value in its own.
    let tag_ttl_ms = if tags.is_empty() { 0 } else { ttl_ms };
    let current = GENERATION_SCRIPT
        .key(layout.gen_key())
        .arg(tag_ttl_ms)
        .invoke_async::<String>(&mut connection)
        .await
        .map_err(from_redis)?;
    let written_at = if read_generation.is_empty() {
        current.as_str()
    } else {
        read_generation
    };
    WRITE_SCRIPT
        .key(value_key)
        .arg(&write.value.payload)
        .arg(format)
        .arg(fingerprint)
        .arg(ttl_ms)
        .arg(written_at)
        .arg(tags)
        .arg(layout.channel())
        .arg(message)
        .arg(expect)
        .arg(stale_ms)
        .arg(lease)
        .invoke_async::<u8>(&mut connection)
        .await
        .map(|written| written == 1)
        .map_err(from_redis)
}
