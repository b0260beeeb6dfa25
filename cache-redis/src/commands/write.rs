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
    let args = WriteArgs::of(&write);
    let value_key = layout.value_key(key);
    let mut connection = keyspace.connection();
    if !connection.is_cluster() {
        return SET_STANDALONE_SCRIPT
            .key(value_key)
            .key(layout.gen_key())
            .arg(args.payload)
            .arg(args.format)
            .arg(&args.fingerprint)
            .arg(args.ttl_ms)
            .arg(&args.tags)
            .arg(layout.channel())
            .arg(message)
            .arg(args.expect)
            .arg(args.read_generation)
            .arg(args.stale_ms)
            .arg(args.lease)
            .invoke_async::<u8>(&mut connection)
            .await
            .map(|written| written == 1)
            .map_err(from_redis);
    }
    // Cluster: the generation lives in the metadata slot, the value in its own.
    let current = current_generation(keyspace, args.tag_ttl_ms()).await?;
    WRITE_SCRIPT
        .key(value_key)
        .arg(args.payload)
        .arg(args.format)
        .arg(&args.fingerprint)
        .arg(args.ttl_ms)
        .arg(args.written_at(&current))
        .arg(&args.tags)
        .arg(layout.channel())
        .arg(message)
        .arg(args.expect)
        .arg(args.stale_ms)
        .arg(args.lease)
        .invoke_async::<u8>(&mut connection)
        .await
        .map(|written| written == 1)
        .map_err(from_redis)
}

/// The namespace generation now (created if missing), raising the longest tagged TTL to
/// `tag_ttl_ms`: the first step of a write on a cluster (the metadata slot).
pub(super) async fn current_generation(
    keyspace: &Keyspace,
    tag_ttl_ms: u64,
) -> Result<String, L2Error> {
    GENERATION_SCRIPT
        .key(keyspace.layout.gen_key())
        .arg(tag_ttl_ms)
        .invoke_async::<String>(&mut keyspace.connection())
        .await
        .map_err(from_redis)
}

/// A write's arguments as the write scripts take them.
pub(super) struct WriteArgs<'a> {
    pub(super) payload: &'a [u8],
    pub(super) format: u32,
    /// 16 hex digits.
    pub(super) fingerprint: String,
    pub(super) ttl_ms: u64,
    /// JSON array, `''` when untagged.
    pub(super) tags: String,
    /// The invalidation marker the write expects (`*`: any).
    pub(super) expect: &'a str,
    /// The generation the load read (`''`: unknown).
    pub(super) read_generation: &'a str,
    pub(super) stale_ms: u64,
    /// The lease token the load holds (`''`: none).
    pub(super) lease: &'a str,
}

impl<'a> WriteArgs<'a> {
    pub(super) fn of(write: &L2Write<'a>) -> Self {
        let ttl_ms = u64::try_from(write.ttl.as_millis())
            .unwrap_or(u64::MAX / 2)
            .max(1);
        let tags = if write.tags.is_empty() {
            String::new()
        } else {
            serde_json::to_string(write.tags).expect("strings serialize")
        };
        let (expect, read_generation, lease) = match write.condition {
            WriteCondition::Always => ("*", "", ""),
            WriteCondition::UnchangedSince(mark) => {
                let (expect, generation) = parse_read_mark(mark);
                (expect, generation, mark.lease().unwrap_or_default())
            }
        };
        Self {
            payload: &write.value.payload,
            format: u32::from(write.value.format),
            fingerprint: format!("{:016x}", write.value.fingerprint),
            ttl_ms,
            tags,
            expect,
            read_generation,
            stale_ms: u64::try_from(write.stale_for.as_millis()).unwrap_or(u64::MAX / 4),
            lease,
        }
    }

    /// The TTL the tag keys must outlive: the entry's when tagged (0: untagged).
    pub(super) fn tag_ttl_ms(&self) -> u64 {
        if self.tags.is_empty() { 0 } else { self.ttl_ms }
    }

    /// The generation the entry is written as of (cluster): the one its load read when known,
    /// else `current`.
    pub(super) fn written_at<'c>(&'c self, current: &'c str) -> &'c str {
        if self.read_generation.is_empty() {
            current
        } else {
            self.read_generation
        }
    }
}
