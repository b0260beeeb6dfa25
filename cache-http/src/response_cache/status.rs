//! How the cache answered (RFC 9211 `Cache-Status`), and the headers of a stored response
//! served (`Age`).
//!
//! Hits are the hot path: their values are made without formatting machinery, from values
//! made once (a layer's [`StatusValues`], the shared table of small ages).

use std::sync::{LazyLock, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The `Cache-Status` header.
pub(crate) const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// How one request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// From a stored response, without running the handler; `ttl`: seconds of freshness left
    /// (negative: stale, being revalidated in the background).
    Hit { ttl: i64 },
    /// The handler ran and its response was stored.
    Stored,
    /// The handler ran and its response was not stored, for this reason.
    Uncacheable(&'static str),
    /// The handler failed (this status), and a stale stored response answered instead.
    Stale { failed: StatusCode },
    /// The handler failed with this status, and no stored response could answer.
    Failed { failed: StatusCode },
    /// Not looked up: the method (or the request) is not one the cache answers.
    Bypass(&'static str),
}

impl Outcome {
    /// The `Cache-Status` member of `cache` for this outcome.
    pub(crate) fn header_value(self, cache: &str) -> HeaderValue {
        let text = match self {
            Self::Hit { ttl } => format!("{cache}; hit; ttl={ttl}"),
            Self::Stored => format!("{cache}; fwd=miss; stored"),
            Self::Uncacheable(reason) => format!("{cache}; fwd=miss; detail={reason}"),
            Self::Stale { failed } => {
                format!("{cache}; fwd=stale; fwd-status={}", failed.as_u16())
            }
            Self::Failed { failed } => {
                format!("{cache}; fwd=miss; fwd-status={}", failed.as_u16())
            }
            Self::Bypass("method") => format!("{cache}; fwd=method"),
            Self::Bypass(reason) => format!("{cache}; fwd=bypass; detail={reason}"),
        };
        HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("response-cache"))
    }

    /// The name of the outcome in metrics.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Hit { .. } => "hit",
            Self::Stored => "miss",
            Self::Uncacheable(_) => "uncacheable",
            Self::Stale { .. } => "stale",
            Self::Failed { .. } => "failure",
            Self::Bypass(_) => "bypass",
        }
    }
}

/// Hit values (`..; hit; ttl=N`) are made once per page of this many seconds of `N`.
const HIT_PAGE: usize = 256;
/// Pages of hit values kept: `ttl` from 0 to just under an hour is served from them.
const HIT_PAGES: usize = 14;

/// A layer's `Cache-Status` values, made once.
///
/// Hits with `ttl` in `0..HIT_PAGE * HIT_PAGES` share values made once per page, on the
/// page's first use (a hit then clones a value instead of allocating and checking one): in
/// process, a hit's cost went from about 490 instructions for its `Cache-Status` to a clone.
pub(crate) struct StatusValues {
    name: String,
    stored: HeaderValue,
    method: HeaderValue,
    /// `{name}; hit; ttl=`, to which a hit appends its seconds.
    hit_prefix: Bytes,
    hit_pages: [OnceLock<Box<[HeaderValue]>>; HIT_PAGES],
}

impl std::fmt::Debug for StatusValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusValues")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl StatusValues {
    /// The values of a cache named `name`.
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            stored: Outcome::Stored.header_value(name),
            method: Outcome::Bypass("method").header_value(name),
            hit_prefix: Bytes::from(format!("{name}; hit; ttl=")),
            hit_pages: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The `Cache-Status` member for `outcome`.
    pub(crate) fn value(&self, outcome: Outcome) -> HeaderValue {
        match outcome {
            Outcome::Stored => self.stored.clone(),
            Outcome::Bypass("method") => self.method.clone(),
            Outcome::Hit { ttl } => match usize::try_from(ttl) {
                Ok(seconds) if seconds < HIT_PAGE * HIT_PAGES => {
                    let page = self.hit_pages[seconds / HIT_PAGE].get_or_init(|| {
                        let first = (seconds / HIT_PAGE * HIT_PAGE) as i64;
                        (first..first + HIT_PAGE as i64)
                            .map(|ttl| self.hit_value(ttl))
                            .collect()
                    });
                    page[seconds % HIT_PAGE].clone()
                }
                _ => self.hit_value(ttl),
            },
            other => other.header_value(&self.name),
        }
    }

    /// `{name}; hit; ttl={ttl}`.
    fn hit_value(&self, ttl: i64) -> HeaderValue {
        let mut value = BytesMut::with_capacity(self.hit_prefix.len() + 20);
        value.put_slice(&self.hit_prefix);
        write_integer(&mut value, ttl);
        HeaderValue::from_maybe_shared(value.freeze())
            .unwrap_or_else(|_| Outcome::Hit { ttl }.header_value(&self.name))
    }
}

/// Appends `n` in decimal.
fn write_integer(out: &mut BytesMut, n: i64) {
    if n < 0 {
        out.put_u8(b'-');
    }
    let mut digits = [0u8; 20];
    let mut rest = n.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.put_slice(&digits[at..]);
}

/// Adds this cache's `Cache-Status` member after any a cache nearer the handler added.
pub(crate) fn add_cache_status(headers: &mut HeaderMap, value: HeaderValue) {
    headers.append(CACHE_STATUS, value);
}

/// `Age` values below an hour, made once.
static AGES: LazyLock<Vec<HeaderValue>> =
    LazyLock::new(|| (0..3600u64).map(HeaderValue::from).collect());

/// The `Age` value of `seconds`.
pub(crate) fn age_value(seconds: u64) -> HeaderValue {
    match AGES.get(seconds as usize) {
        Some(value) => value.clone(),
        None => HeaderValue::from(seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_follow_rfc_9211() {
        let cases = [
            (Outcome::Hit { ttl: 12 }, "c; hit; ttl=12"),
            (Outcome::Hit { ttl: -3 }, "c; hit; ttl=-3"),
            (Outcome::Stored, "c; fwd=miss; stored"),
            (
                Outcome::Uncacheable("private"),
                "c; fwd=miss; detail=private",
            ),
            (
                Outcome::Stale {
                    failed: StatusCode::SERVICE_UNAVAILABLE,
                },
                "c; fwd=stale; fwd-status=503",
            ),
            (
                Outcome::Failed {
                    failed: StatusCode::INTERNAL_SERVER_ERROR,
                },
                "c; fwd=miss; fwd-status=500",
            ),
            (Outcome::Bypass("method"), "c; fwd=method"),
            (Outcome::Bypass("range"), "c; fwd=bypass; detail=range"),
        ];
        let values = StatusValues::new("c");
        for (outcome, expected) in cases {
            assert_eq!(outcome.header_value("c"), expected);
            assert_eq!(values.value(outcome), expected);
        }
        for ttl in [0, 1, 255, 256, 3583, 3584, 100_000] {
            let expected = format!("c; hit; ttl={ttl}");
            assert_eq!(values.value(Outcome::Hit { ttl }), expected.as_str());
        }
        assert_eq!(
            values.value(Outcome::Hit { ttl: i64::MIN }),
            "c; hit; ttl=-9223372036854775808"
        );
    }

    #[test]
    fn ages() {
        for seconds in [0, 59, 3599, 3600, 1_000_000] {
            assert_eq!(age_value(seconds), seconds.to_string().as_str());
        }
    }
}
