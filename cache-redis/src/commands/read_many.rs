//! Reading a batch of entries (`batch.rs` splits it into scripts): on a standalone server the
//! `GET_MANY` script, which checks each entry's tags server-side, so a batch of up to
//! `KEYS_PER_SCRIPT` keys costs one round trip; on a cluster one `READ_MANY` script per hash
//! slot (plus the namespace generation when tags are expected, and tag checks for the tagged
//! entries found, as a single read does). With a lease ask, each key with no fresh entry has
//! its lease taken by the same script: the fleet-wide single-flight of a batch load.

use cache_core::l2::{L2Error, L2Read, PerKey};
use redis::Value;

use super::batch::{groups, per_group};
use super::read::{Answered, LeaseAsk, resolve, split_lease};
use super::scripts::{GET_MANY_SCRIPT, READ_MANY_SCRIPT};
use super::{Keyspace, namespace_field};
use crate::error::from_redis;
use crate::liveness::Status;

/// Reads `keys` as [`read`](super::read) reads one, in one round trip per script; each key's
/// outcome, in order.
pub(crate) async fn read_many(
    keyspace: &Keyspace,
    keys: &[&str],
    expected_tags: &[String],
    flushes: &Status,
    lease: Option<LeaseAsk<'_>>,
) -> Result<PerKey<L2Read>, L2Error> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let layout = &keyspace.layout;
    let cluster = keyspace.connection.is_cluster();
    let (token, lease_ms) = lease.map_or((String::new(), String::new()), |ask| {
        (ask.token.to_owned(), ask.ttl.as_millis().to_string())
    });
    let groups = groups(keyspace, keys);
    let script = |group: &[usize]| {
        let mut invocation = if cluster {
            READ_MANY_SCRIPT.prepare_invoke()
        } else {
            let mut invocation = GET_MANY_SCRIPT.prepare_invoke();
            invocation.key(layout.gen_key()).arg(layout.tag_prefix());
            invocation
        };
        for &index in group {
            invocation.key(layout.value_key(keys[index]));
        }
        invocation.arg(&token).arg(&lease_ms);
        async move {
            invocation
                .invoke_async::<Vec<Value>>(&mut keyspace.connection())
                .await
                .map_err(from_redis)
        }
    };
    let answers = per_group(&groups, keys.len(), script);
    // On a cluster the tag keys are in another slot: the client checks tags, as of the
    // generation read next to the values.
    let (answers, cluster_generation) = if cluster && !expected_tags.is_empty() {
        let generation = namespace_field::<String>(keyspace, "gen");
        let (answers, generation) = futures_util::future::try_join(answers, generation).await?;
        (answers, Some(generation.unwrap_or_else(|| "0".to_owned())))
    } else {
        (answers.await?, None)
    };
    let outcomes = answers.into_iter().zip(keys).map(|(answer, key)| {
        let cluster_generation = cluster_generation.clone();
        async move {
            // Every answer ends with the lease's outcome (`''`: none taken).
            let (answer, taken) = split_lease(answer?, true)?;
            let answered = Answered {
                answer,
                taken,
                cluster_generation,
                checked_by_script: !cluster,
            };
            resolve(keyspace, key, answered, flushes, lease).await
        }
    });
    Ok(futures_util::future::join_all(outcomes).await)
}
