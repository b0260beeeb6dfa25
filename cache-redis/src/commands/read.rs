//! Reading an entry: one round trip, `HMGET key v m t`, or on a standalone server the `GET`
//! script that also checks the tags the caller expects. The read before a load also takes the
//! key's lease in that round trip when no fresh entry is there (`LEASE_READ`, or `GET` with a
//! token): the fleet-wide single-flight.

use std::time::Duration;

use cache_core::l2::{L2Entry, L2Error, L2Read, ReadMark};
use redis::Value;

use super::entry::{self, Fetched, Parsed};
use super::lease::{Taken, take};
use super::read_mark::read_mark;
use super::scripts::{GET_SCRIPT, LEASE_READ_SCRIPT};
use super::{Keyspace, namespace_field, tags};
use crate::error::{from_redis, protocol};
use crate::liveness::Status;

/// The lease a read before a load asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeaseAsk<'a> {
    /// This lease's token.
    pub(crate) token: &'a str,
    /// Its lifetime (renewed while the load runs).
    pub(crate) ttl: Duration,
    /// How long a reader waits for another process's lease before loading itself.
    pub(crate) wait_at_most: Duration,
}

/// Reads an entry in one round trip: `HMGET key v m t` when no tags are expected (a tagged
/// entry found that way costs a second request for its tag check), the `GET` script that
/// checks tags server-side when tags are expected on a standalone server. A miss carries the
/// key's invalidation marker, if any, and for tagged entries the namespace generation at the
/// read (a concurrent `HGET` on a cluster), for the write-through of the load that follows
/// ([`read_mark`]).
///
/// With `lease`, a miss also takes the key's lease in the same round trip (a second one only
/// when the entry is there but the client finds it hidden): the mark holds it, or the read is
/// [`L2Read::Leased`] with the expired entry still in its stale window, if any.
///
/// An entry written before the namespace's last flush known to `flushes` (read once the
/// answer is in) is a miss.
pub(crate) async fn read(
    keyspace: &Keyspace,
    key: &str,
    expected_tags: &[String],
    flushes: &Status,
    lease: Option<LeaseAsk<'_>>,
) -> Result<L2Read, L2Error> {
    let layout = &keyspace.layout;
    let cluster = keyspace.connection.is_cluster();
    let checked_by_script = !expected_tags.is_empty() && !cluster;
    let (token, lease_ms) = lease.map_or((String::new(), String::new()), |ask| {
        (ask.token.to_owned(), ask.ttl.as_millis().to_string())
    });
    let fetch = || async {
        let mut connection = keyspace.connection();
        if lease.is_some() {
            LEASE_READ_SCRIPT
                .key(layout.value_key(key))
                .arg(&token)
                .arg(&lease_ms)
                .invoke_async::<Value>(&mut connection)
                .await
        } else {
            redis::cmd("HMGET")
                .arg(layout.value_key(key))
                .arg(&entry::FIELDS[..])
                .query_async::<Value>(&mut connection)
                .await
        }
        .map_err(from_redis)
    };
    let (answer, cluster_generation) = if checked_by_script {
        let answer = GET_SCRIPT
            .key(layout.value_key(key))
            .key(layout.gen_key())
            .arg(layout.tag_prefix())
            .arg(&token)
            .arg(&lease_ms)
            .invoke_async(&mut keyspace.connection())
            .await
            .map_err(from_redis)?;
        (answer, None)
    } else if cluster && !expected_tags.is_empty() {
        let generation = namespace_field::<String>(keyspace, "gen");
        let (answer, generation) = futures_util::future::try_join(fetch(), generation).await?;
        (answer, Some(generation.unwrap_or_else(|| "0".to_owned())))
    } else {
        (fetch().await?, None)
    };
    let (answer, taken) = split_lease(answer, lease.is_some() || checked_by_script)?;
    let answered = Answered {
        answer,
        taken,
        cluster_generation,
        checked_by_script,
    };
    resolve(keyspace, key, answered, flushes, lease).await
}

/// What Redis answered for one key, with the lease's outcome split off.
pub(super) struct Answered {
    /// `[v, m, t]`, or `[v, m, t, gen]` from a script that read the generation.
    pub(super) answer: Value,
    /// What taking the lease answered (`None`: not taken, or not asked).
    pub(super) taken: Option<Taken>,
    /// The namespace generation read next to the value (a tagged read on a cluster).
    pub(super) cluster_generation: Option<String>,
    /// Whether the script already checked the entry's tags.
    pub(super) checked_by_script: bool,
}

/// The read's outcome from Redis's answer for one key: the entry if visible, else the mark of
/// the miss, with the lease taken (in a second round trip when the script saw a fresh entry
/// the client finds hidden or expired).
pub(super) async fn resolve(
    keyspace: &Keyspace,
    key: &str,
    answered: Answered,
    flushes: &Status,
    lease: Option<LeaseAsk<'_>>,
) -> Result<L2Read, L2Error> {
    let Answered {
        answer,
        taken,
        cluster_generation,
        checked_by_script,
    } = answered;
    let (mark, stale) = match entry::parse(answer)? {
        Parsed::Entry(fetched) => {
            let found = visible(keyspace, fetched, flushes, checked_by_script).await?;
            if let Some(entry) = found {
                return Ok(L2Read::Found(entry));
            }
            // Hidden (flushed, unreadable tags, or a tag invalidated since the write): a miss
            // whose load writes as of the generation read, when known. The script saw a
            // fresh entry and took no lease.
            let mark = read_mark(None, cluster_generation);
            return match lease {
                Some(ask) => leased(ask, mark, None, take(keyspace, key, ask).await?),
                None => Ok(L2Read::Missing(mark)),
            };
        }
        Parsed::Expired { entry, generation } => {
            let mark = read_mark(None, generation.or(cluster_generation));
            let stale = visible(keyspace, entry, flushes, checked_by_script).await?;
            (mark, stale)
        }
        Parsed::Missing { marker, generation } => {
            (read_mark(marker, generation.or(cluster_generation)), None)
        }
    };
    let Some(ask) = lease else {
        return Ok(L2Read::Missing(mark));
    };
    let taken = match taken {
        Some(taken) => taken,
        // The server found the entry fresh by its clock; this one does not (clocks differ).
        None => take(keyspace, key, ask).await?,
    };
    leased(ask, mark, stale, taken)
}

/// The read's outcome, given what taking the lease answered.
fn leased(
    ask: LeaseAsk<'_>,
    mark: ReadMark,
    stale: Option<L2Entry>,
    taken: Taken,
) -> Result<L2Read, L2Error> {
    Ok(match taken {
        Taken::Won => L2Read::Missing(mark.with_lease(ask.token.to_owned())),
        Taken::Held => L2Read::Leased {
            mark,
            wait_at_most: ask.wait_at_most,
            stale,
        },
    })
}

/// Splits the lease's outcome off the end of a script's answer (`''`: no lease taken).
pub(super) fn split_lease(
    answer: Value,
    has_lease: bool,
) -> Result<(Value, Option<Taken>), L2Error> {
    if !has_lease {
        return Ok((answer, None));
    }
    let Value::Array(mut fields) = answer else {
        return Err(protocol(format!("unexpected answer to a read: {answer:?}")));
    };
    let taken = match fields.pop() {
        Some(Value::BulkString(outcome)) if outcome.is_empty() => None,
        Some(Value::BulkString(outcome)) => Some(Taken::parse(&outcome)?),
        other => return Err(protocol(format!("unexpected lease outcome: {other:?}"))),
    };
    Ok((Value::Array(fields), taken))
}

/// The entry if it is visible: written after the last flush known here, and (unless the
/// server already checked) no tag of it invalidated since it was written.
async fn visible(
    keyspace: &Keyspace,
    fetched: Fetched,
    flushes: &Status,
    checked_by_script: bool,
) -> Result<Option<L2Entry>, L2Error> {
    let Fetched {
        value,
        ttl,
        written_at,
        tags,
    } = fetched;
    if !survives_flush(&written_at, flushes.flushed()) {
        return Ok(None);
    }
    if tags.is_empty() {
        return Ok(Some(L2Entry {
            value,
            ttl,
            tags: Vec::new(),
        }));
    }
    // Unreadable tags: treat as invalidated (a miss, never a stale value).
    let Ok(tags) = serde_json::from_str::<Vec<String>>(&tags) else {
        return Ok(None);
    };
    let layout = &keyspace.layout;
    if !checked_by_script
        && !tags::visible(&keyspace.connection, layout, written_at.as_bytes(), &tags).await?
    {
        return Ok(None);
    }
    Ok(Some(L2Entry { value, ttl, tags }))
}

/// Whether an entry written at generation `written_at` was written after the namespace flush
/// at generation `flushed` (0: none known).
fn survives_flush(written_at: &str, flushed: u64) -> bool {
    flushed == 0 || written_at.parse::<u64>().is_ok_and(|w| w >= flushed)
}
