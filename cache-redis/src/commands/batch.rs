//! How a batch of keys is split into scripts: one script per [`KEYS_PER_SCRIPT`] keys on a
//! standalone server (one round trip for a batch of up to that many), and on a Redis Cluster
//! one per hash slot the batch touches (a script may only touch keys of one slot, so no
//! `CROSSSLOT` error), chunked the same way. The scripts of a batch are sent at once on the
//! multiplexed connection; each answers per key, so a key that fails (e.g. a key of another
//! Redis type) fails alone.

use std::collections::HashMap;
use std::future::Future;

use cache_core::l2::L2Error;
use redis::Value;
use redis::cluster_routing::Slot;

use super::Keyspace;
use crate::error::protocol;

/// The most keys one batch script reads or writes: a bigger batch is several scripts, sent at
/// once, so no single script keeps Redis busy for long.
pub(crate) const KEYS_PER_SCRIPT: usize = 500;

/// The indices of `keys`, grouped into scripts: in order on a standalone server, by the hash
/// slot of their value key on a cluster; at most [`KEYS_PER_SCRIPT`] per group.
pub(super) fn groups(keyspace: &Keyspace, keys: &[&str]) -> Vec<Vec<usize>> {
    let indices: Vec<usize> = (0..keys.len()).collect();
    if !keyspace.connection.is_cluster() {
        return indices
            .chunks(KEYS_PER_SCRIPT)
            .map(<[usize]>::to_vec)
            .collect();
    }
    let mut by_slot: HashMap<Slot, Vec<usize>> = HashMap::new();
    let mut slots = Vec::new();
    for index in indices {
        let slot = Slot::for_key(keyspace.layout.value_key(keys[index]));
        by_slot
            .entry(slot)
            .or_insert_with(|| {
                slots.push(slot);
                Vec::new()
            })
            .push(index);
    }
    slots
        .into_iter()
        .filter_map(|slot| by_slot.remove(&slot))
        .flat_map(|group| {
            group
                .chunks(KEYS_PER_SCRIPT)
                .map(<[usize]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Runs `script` for every group at once; returns each key's answer (by its index), or its
/// group's error. The batch fails as a whole only when every group failed.
pub(super) async fn per_group<'g, F, Fut>(
    groups: &'g [Vec<usize>],
    len: usize,
    script: F,
) -> Result<Vec<Result<Value, L2Error>>, L2Error>
where
    F: Fn(&'g [usize]) -> Fut,
    Fut: Future<Output = Result<Vec<Value>, L2Error>>,
{
    let runs = groups.iter().map(|group| {
        let answers = script(group);
        async move {
            let answers = answers.await?;
            if answers.len() == group.len() {
                Ok(answers)
            } else {
                Err(protocol(format!(
                    "{} answers from a batch script of {} keys",
                    answers.len(),
                    group.len()
                )))
            }
        }
    });
    let results = futures_util::future::join_all(runs).await;
    let mut answers: Vec<Option<Result<Value, L2Error>>> = (0..len).map(|_| None).collect();
    let mut first_error = None;
    let mut any_answered = false;
    for (group, result) in groups.iter().zip(results) {
        match result {
            Ok(values) => {
                any_answered = true;
                for (&index, value) in group.iter().zip(values) {
                    answers[index] = Some(per_key(value));
                }
            }
            Err(error) => {
                for &index in group {
                    answers[index] = Some(Err(error.clone()));
                }
                first_error.get_or_insert(error);
            }
        }
    }
    if let Some(error) = first_error
        && !any_answered
    {
        return Err(error);
    }
    Ok(answers
        .into_iter()
        .map(|answer| answer.unwrap_or_else(|| Err(protocol("a key of the batch got no answer"))))
        .collect())
}

/// One key's answer in a batch script's: `'!'` and an error for a key that failed alone.
fn per_key(value: Value) -> Result<Value, L2Error> {
    match value {
        Value::BulkString(text) if text.first() == Some(&b'!') => Err(protocol(format!(
            "Redis refused a key of the batch: {}",
            String::from_utf8_lossy(&text[1..])
        ))),
        value => Ok(value),
    }
}
