//! Reading the value hash: the answer of the `GET` script, checked field by field.

use std::time::Duration;

use cache_core::{L2Error, StoredValue};
use redis::Value;

use crate::error::protocol;

/// An entry as the `GET` script returns it.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) value: StoredValue,
    /// Time left; `None` when the entry does not record its expiry (ask `PTTL`).
    pub(crate) ttl: Option<Duration>,
    /// Generation at write time (tagged entries).
    pub(crate) written_at: Vec<u8>,
    /// Tags as JSON; empty when untagged.
    pub(crate) tags: Vec<u8>,
}

/// Parses the `GET` script's answer: `None` when absent, expired or hidden by a tag.
pub(crate) fn parse(answer: Value) -> Result<Option<Fetched>, L2Error> {
    let items = match answer {
        Value::Nil | Value::Int(0) => return Ok(None),
        Value::Array(items) if items.len() == 6 => items,
        other => return Err(protocol(format!("unexpected answer to a read: {other:?}"))),
    };
    let mut items = items.into_iter();
    let mut next = || items.next().unwrap_or(Value::Nil);
    let payload = bytes(next(), "v")?;
    let format = text(next(), "f")?
        .parse::<u8>()
        .map_err(|_| protocol("field f is not a format byte"))?;
    let fingerprint = u64::from_str_radix(&text(next(), "t")?, 16)
        .map_err(|_| protocol("field t is not a hexadecimal fingerprint"))?;
    let ttl = match next() {
        Value::Int(ms) if ms > 0 => Duration::from_millis(ms as u64),
        // Expired between the read of the fields and PTTL.
        Value::Int(-2) | Value::Int(0) => return Ok(None),
        Value::Int(-1) => return Err(protocol("cache entry has no expiry")),
        other => return Err(protocol(format!("unexpected PTTL {other:?}"))),
    };
    let written_at = bytes(next(), "w")?;
    let tags = bytes(next(), "tags")?;
    Ok(Some(Fetched {
        value: StoredValue {
            fingerprint,
            format,
            payload,
        },
        ttl: Some(ttl),
        written_at,
        tags,
    }))
}

/// The fields a plain read fetches with `HMGET`, in this order.
pub(crate) const FIELDS: [&str; 6] = ["v", "f", "t", "e", "w", "tags"];

/// Parses the answer of `HMGET key` [`FIELDS`]: `None` when absent or expired.
pub(crate) fn parse_fields(fields: Vec<Value>) -> Result<Option<Fetched>, L2Error> {
    if fields.len() != FIELDS.len() {
        return Err(protocol(format!("HMGET returned {} fields", fields.len())));
    }
    if fields.iter().all(|field| matches!(field, Value::Nil)) {
        return Ok(None);
    }
    let mut fields = fields.into_iter();
    let mut next = || fields.next().unwrap_or(Value::Nil);
    let (payload, format, fingerprint) = (next(), next(), next());
    if [&payload, &format, &fingerprint]
        .iter()
        .any(|f| matches!(f, Value::Nil))
    {
        return Err(protocol("cache entry lacks field v, f or t"));
    }
    let ttl = match next() {
        Value::Nil => None,
        expiry => {
            let expires_at = text(expiry, "e")?
                .parse::<u64>()
                .map_err(|_| protocol("field e is not a time in milliseconds"))?;
            match expires_at.checked_sub(unix_millis()) {
                Some(left) if left > 0 => Some(Duration::from_millis(left)),
                _ => return Ok(None),
            }
        }
    };
    let (written_at, tags) = (next(), next());
    Ok(Some(Fetched {
        value: StoredValue {
            fingerprint: u64::from_str_radix(&text(fingerprint, "t")?, 16)
                .map_err(|_| protocol("field t is not a hexadecimal fingerprint"))?,
            format: text(format, "f")?
                .parse::<u8>()
                .map_err(|_| protocol("field f is not a format byte"))?,
            payload: bytes(payload, "v")?,
        },
        ttl,
        written_at: optional_bytes(written_at, "w")?,
        tags: optional_bytes(tags, "tags")?,
    }))
}

/// This machine's clock in Unix milliseconds (compared with the server-clock `e`).
fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn optional_bytes(value: Value, field: &str) -> Result<Vec<u8>, L2Error> {
    match value {
        Value::Nil => Ok(Vec::new()),
        other => bytes(other, field),
    }
}

fn bytes(value: Value, field: &str) -> Result<Vec<u8>, L2Error> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(text) => Ok(text.into_bytes()),
        Value::Int(n) => Ok(n.to_string().into_bytes()),
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

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    #[test]
    fn parses_and_rejects() {
        let ok = Value::Array(vec![
            bulk(b"[1]"),
            bulk(b"2"),
            bulk(b"00000000000000ff"),
            Value::Int(1500),
            bulk(b""),
            bulk(b""),
        ]);
        let fetched = parse(ok).unwrap().unwrap();
        assert_eq!(fetched.value.payload, b"[1]");
        assert_eq!(fetched.value.format, 2);
        assert_eq!(fetched.value.fingerprint, 255);
        assert_eq!(fetched.ttl, Some(Duration::from_millis(1500)));

        assert!(parse(Value::Nil).unwrap().is_none());
        assert!(parse(Value::Int(0)).unwrap().is_none());
        assert!(parse(Value::Okay).is_err());
        let bad_format = Value::Array(vec![
            bulk(b"x"),
            bulk(b"999"),
            bulk(b"ff"),
            Value::Int(5),
            bulk(b""),
            bulk(b""),
        ]);
        assert!(parse(bad_format).is_err());
        let no_expiry = Value::Array(vec![
            bulk(b"x"),
            bulk(b"1"),
            bulk(b"ff"),
            Value::Int(-1),
            bulk(b""),
            bulk(b""),
        ]);
        assert!(parse(no_expiry).is_err());
    }
}
