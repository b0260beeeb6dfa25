//! Writing a batch of entries with one backplane message for all of them (`batch.rs` splits
//! it into scripts): on a standalone server the `SET_MANY_STANDALONE` script, which also
//! publishes, so a batch of up to `KEYS_PER_SCRIPT` keys costs one round trip; on a cluster the
//! namespace generation first (the metadata slot), then one `WRITE_MANY` script per hash slot,
//! then the message. Each entry is written if its condition holds, as [`write`](super::write)
//! writes one.

use cache_core::l2::{L2Error, L2Write, PerKey};
use redis::Value;

use super::batch::{groups, per_group};
use super::scripts::{SET_MANY_STANDALONE_SCRIPT, WRITE_MANY_SCRIPT};
use super::write::{WriteArgs, current_generation};
use super::{Keyspace, publish};
use crate::error::{from_redis, protocol};

/// Writes each entry if its condition holds and publishes `message` once (if any entry was
/// written or failed): per entry, in order, `Ok(true)` written, `Ok(false)` refused.
pub(crate) async fn write_many(
    keyspace: &Keyspace,
    writes: &[(&str, L2Write<'_>)],
    message: &str,
) -> Result<PerKey<bool>, L2Error> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let layout = &keyspace.layout;
    let cluster = keyspace.connection.is_cluster();
    let args: Vec<WriteArgs<'_>> = writes
        .iter()
        .map(|(_, write)| WriteArgs::of(write))
        .collect();
    let keys: Vec<&str> = writes.iter().map(|(key, _)| *key).collect();
    let groups = groups(keyspace, &keys);
    // One script publishes for the batch when it is the batch's only one (one round trip);
    // otherwise the client publishes once they all answered.
    let publish_in_script = !cluster && groups.len() == 1;
    let current = match cluster {
        true => {
            let tag_ttl_ms = args.iter().map(WriteArgs::tag_ttl_ms).max().unwrap_or(0);
            Some(current_generation(keyspace, tag_ttl_ms).await?)
        }
        false => None,
    };
    let script = |group: &[usize]| {
        let mut invocation = match &current {
            Some(_) => WRITE_MANY_SCRIPT.prepare_invoke(),
            None => {
                let mut invocation = SET_MANY_STANDALONE_SCRIPT.prepare_invoke();
                let (channel, message) = match publish_in_script {
                    true => (layout.channel(), message),
                    false => (String::new(), ""),
                };
                invocation.key(layout.gen_key()).arg(channel).arg(message);
                invocation
            }
        };
        for &index in group {
            let args = &args[index];
            invocation
                .key(layout.value_key(keys[index]))
                .arg(args.payload)
                .arg(args.format)
                .arg(&args.fingerprint)
                .arg(args.ttl_ms);
            match &current {
                // WRITE_MANY: payload, format, fingerprint, ttl, w, tags, expect, stale, lease.
                Some(current) => invocation.arg(args.written_at(current)).arg(&args.tags),
                // SET_MANY_STANDALONE: payload, format, fingerprint, ttl, tags, expect, read
                // generation, stale, lease.
                None => invocation.arg(&args.tags),
            };
            invocation.arg(args.expect);
            if current.is_none() {
                invocation.arg(args.read_generation);
            }
            invocation.arg(args.stale_ms).arg(args.lease);
        }
        async move {
            invocation
                .invoke_async::<Vec<Value>>(&mut keyspace.connection())
                .await
                .map_err(from_redis)
        }
    };
    let answers = per_group(&groups, writes.len(), script).await?;
    let written: PerKey<bool> = answers
        .into_iter()
        .map(|answer| match answer? {
            Value::Int(written) => Ok(written == 1),
            other => Err(protocol(format!("unexpected answer to a write: {other:?}"))),
        })
        .collect();
    let changed = written.iter().any(|written| !matches!(written, Ok(false)));
    if changed && !publish_in_script {
        publish(keyspace, message).await?;
    }
    Ok(written)
}
