//! Reading the value hash: `v` (the payload), `m` (its metadata) and `t` (the marker an
//! invalidation leaves in place of the value), as `HMGET key v m t` or the tag-checking `GET`
//! script returns them, checked field by field.
//!
//! `m` is `"<f> <t> <e> <w>"` for an untagged entry and `"<f> <t> <e> <w> <tags>"` for a
//! tagged one: the format byte (decimal), the fingerprint (16 hex digits), the absolute expiry
//! (Unix milliseconds, server clock), the generation at write time (decimal) and the tags (a
//! JSON array, which may itself contain spaces, so it comes last). Entries written by earlier
//! versions have no `<w>` when untagged.

use std::time::Duration;

use cache_core::l2::{L2Error, StoredValue};
use redis::Value;

use crate::error::protocol;

/// The fields a read fetches, in this order.
pub(crate) const FIELDS: [&str; 3] = ["v", "m", "t"];

/// What a read found.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A live entry.
    Entry(Fetched),
    /// An entry past its expiry, still kept for its stale window: missing, but servable as
    /// stale while another process reloads it.
    Expired {
        /// The entry (no time left).
        entry: Fetched,
        /// The namespace generation at the read, when the read returned it.
        generation: Option<String>,
    },
    /// Nothing live.
    Missing {
        /// The invalidation marker, if the key holds one.
        marker: Option<String>,
        /// The namespace generation at the read, when the read returned it.
        generation: Option<String>,
    },
}

/// An entry as read from Redis.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) value: StoredValue,
    /// Time left before the entry expires.
    pub(crate) ttl: Duration,
    /// Generation at write time (empty for untagged entries of earlier versions).
    pub(crate) written_at: String,
    /// Tags as JSON; empty when untagged.
    pub(crate) tags: String,
}

/// Parses a read's answer: `[v, m, t]` from `HMGET`, or `[v, m, t, gen]` from the `GET`
/// script (`v` and `m` absent for an entry hidden by a tag). Missing when absent or hidden,
/// expired when past its expiry (but still kept, for its stale window).
pub(crate) fn parse(answer: Value) -> Result<Parsed, L2Error> {
    parse_at(answer, unix_millis())
}

fn parse_at(answer: Value, now_ms: u64) -> Result<Parsed, L2Error> {
    let mut fields = match answer {
        Value::Nil => Vec::new(),
        Value::Array(fields) if fields.len() == FIELDS.len() || fields.len() == 4 => fields,
        other => return Err(protocol(format!("unexpected answer to a read: {other:?}"))),
    };
    let optional = |value: Value, name: &str| match value {
        Value::Nil => Ok(None),
        value => text(value, name).map(Some),
    };
    let generation = match fields.len() {
        4 => optional(fields.pop().expect("four fields"), "gen")?,
        _ => None,
    };
    let Ok([payload, meta, marker]) = <[Value; 3]>::try_from(fields) else {
        return Ok(Parsed::Missing {
            marker: None,
            generation,
        });
    };
    let (payload, meta) = match (payload, meta) {
        (Value::Nil, Value::Nil) => {
            return Ok(Parsed::Missing {
                marker: optional(marker, "t")?,
                generation,
            });
        }
        (Value::Nil, _) | (_, Value::Nil) => {
            return Err(protocol("cache entry lacks field v or m"));
        }
        (payload, meta) => (bytes(payload, "v")?, text(meta, "m")?),
    };
    let mut parts = meta.splitn(5, ' ');
    let mut next = |name: &str| {
        parts
            .next()
            .ok_or_else(|| protocol(format!("field m lacks {name}")))
    };
    let format = next("the format")?
        .parse::<u8>()
        .map_err(|_| protocol("field m: the format is not a byte"))?;
    let fingerprint = u64::from_str_radix(next("the fingerprint")?, 16)
        .map_err(|_| protocol("field m: the fingerprint is not hexadecimal"))?;
    let expires_at = next("the expiry")?
        .parse::<u64>()
        .map_err(|_| protocol("field m: the expiry is not a time in milliseconds"))?;
    let left = expires_at.saturating_sub(now_ms);
    let entry = Fetched {
        value: StoredValue {
            fingerprint,
            format,
            payload,
        },
        ttl: Duration::from_millis(left),
        written_at: parts.next().unwrap_or_default().to_owned(),
        tags: parts.next().unwrap_or_default().to_owned(),
    };
    if left == 0 {
        return Ok(Parsed::Expired { entry, generation });
    }
    Ok(Parsed::Entry(entry))
}

/// This machine's clock in Unix milliseconds (compared with the server-clock expiry).
fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn bytes(value: Value, field: &str) -> Result<Vec<u8>, L2Error> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(text) => Ok(text.into_bytes()),
        other => Err(protocol(format!("field {field} is {other:?}"))),
    }
}

fn text(value: Value, field: &str) -> Result<String, L2Error> {
    String::from_utf8(bytes(value, field)?)
        .map_err(|_| protocol(format!("field {field} is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(v: Option<&[u8]>, m: Option<&str>) -> Value {
        read_marked(v, m, None)
    }

    fn read_marked(v: Option<&[u8]>, m: Option<&str>, t: Option<&str>) -> Value {
        let field = |f: Option<&[u8]>| f.map_or(Value::Nil, |b| Value::BulkString(b.to_vec()));
        Value::Array(vec![
            field(v),
            field(m.map(str::as_bytes)),
            field(t.map(str::as_bytes)),
        ])
    }

    fn entry(parsed: Result<Parsed, L2Error>) -> Fetched {
        match parsed.unwrap() {
            Parsed::Entry(entry) => entry,
            other => panic!("not an entry: {other:?}"),
        }
    }

    fn missing(parsed: Result<Parsed, L2Error>) -> Option<String> {
        match parsed.unwrap() {
            Parsed::Missing { marker, .. } => marker,
            other => panic!("not missing: {other:?}"),
        }
    }

    #[test]
    fn parses_untagged_and_tagged_entries() {
        let now = 1_000_000;
        let plain = entry(parse_at(
            read(Some(b"[1]"), Some("2 00000000000000ff 1001500")),
            now,
        ));
        assert_eq!(plain.value.payload, b"[1]");
        assert_eq!((plain.value.format, plain.value.fingerprint), (2, 255));
        assert_eq!(plain.ttl, Duration::from_millis(1500));
        assert_eq!((plain.written_at.as_str(), plain.tags.as_str()), ("", ""));

        let tagged = read(Some(b"x"), Some(r#"1 ff 1001500 42 ["a b","c"]"#));
        let tagged = entry(parse_at(tagged, now));
        assert_eq!(tagged.written_at, "42");
        assert_eq!(tagged.tags, r#"["a b","c"]"#);
    }

    #[test]
    fn absent_expired_hidden_or_malformed() {
        let now = 1_000_000;
        assert_eq!(missing(parse_at(read(None, None), now)), None);
        assert_eq!(missing(parse_at(Value::Nil, now)), None);
        let hidden = Value::Array(vec![
            Value::Nil,
            Value::Nil,
            Value::Nil,
            Value::BulkString(b"77".to_vec()),
        ]);
        match parse_at(hidden, now).unwrap() {
            Parsed::Missing { marker, generation } => {
                assert_eq!((marker, generation.as_deref()), (None, Some("77")));
            }
            other => panic!("not missing: {other:?}"),
        }
        match parse_at(read(Some(b"x"), Some("1 ff 999999")), now).unwrap() {
            Parsed::Expired { entry, .. } => {
                assert_eq!(
                    (entry.value.payload.as_slice(), entry.ttl),
                    (&b"x"[..], Duration::ZERO)
                );
            }
            other => panic!("not expired: {other:?}"),
        }
        assert_eq!(
            missing(parse_at(read_marked(None, None, Some("9a")), now)).as_deref(),
            Some("9a"),
            "an invalidation's marker"
        );
        assert!(parse_at(read(Some(b"x"), None), now).is_err());
        assert!(parse_at(read(None, Some("1 ff 2000000")), now).is_err());
        assert!(parse_at(read(Some(b"x"), Some("999 ff 2000000")), now).is_err());
        assert!(parse_at(read(Some(b"x"), Some("1 zz 2000000")), now).is_err());
        assert!(parse_at(read(Some(b"x"), Some("1 ff")), now).is_err());
        assert!(parse_at(Value::Okay, now).is_err());
    }
}
