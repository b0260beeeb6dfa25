//! How the cache answered (RFC 9211 `Cache-Status`), and the headers of a stored response
//! served (`Age`, and `Content-Length` from the same values).
//!
//! Hits are the hot path: their values are clones of values made once (the hit values of a
//! cache name, the table of small numbers).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, OnceLock};

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
        HeaderValue::try_from(self.text(cache))
            .unwrap_or(HeaderValue::from_static("response-cache"))
    }

    /// The text of [`header_value`](Self::header_value).
    fn text(self, cache: &str) -> String {
        match self {
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
        }
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

/// The hit values of one cache name, page by page, each made on its first use.
type HitPages = [OnceLock<Box<[HeaderValue]>>; HIT_PAGES];

/// A layer's `Cache-Status` values, made once.
///
/// Hits with `ttl` in `0..HIT_PAGE * HIT_PAGES` are served values made once per page and per
/// cache name for the whole process, on static text ([`static_value`]): a hit then neither
/// allocates nor checks a value, and its clone touches no reference count that every request
/// would share between cores.
pub(crate) struct StatusValues {
    name: String,
    stored: HeaderValue,
    method: HeaderValue,
    hit_pages: &'static HitPages,
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
            hit_pages: hit_pages(name),
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
                        let first = seconds / HIT_PAGE * HIT_PAGE;
                        (first..first + HIT_PAGE)
                            .map(|ttl| {
                                static_value(Outcome::Hit { ttl: ttl as i64 }.text(&self.name))
                            })
                            .collect()
                    });
                    page[seconds % HIT_PAGE].clone()
                }
                _ => outcome.header_value(&self.name),
            },
            other => other.header_value(&self.name),
        }
    }
}

/// The hit pages of cache name `name`, shared by every layer of that name: made (and kept)
/// once per name the process uses, so their size is bounded by the names, not the layers.
fn hit_pages(name: &str) -> &'static HitPages {
    static BY_NAME: LazyLock<Mutex<HashMap<String, &'static HitPages>>> =
        LazyLock::new(Mutex::default);
    let mut by_name = BY_NAME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    by_name
        .entry(name.to_owned())
        .or_insert_with(|| Box::leak(Box::new(std::array::from_fn(|_| OnceLock::new()))))
}

/// `text` as a header value on static text (kept for the life of the process): cloned without
/// a reference count. Text that is not a valid value is served as [`Outcome::header_value`]
/// serves it.
fn static_value(text: String) -> HeaderValue {
    match HeaderValue::from_str(&text) {
        // Checked above: `from_static` accepts what `from_str` does.
        Ok(_) => HeaderValue::from_static(Box::leak(text.into_boxed_str())),
        Err(_) => HeaderValue::from_static("response-cache"),
    }
}

/// Adds this cache's `Cache-Status` member after any a cache nearer the handler added.
pub(crate) fn add_cache_status(headers: &mut HeaderMap, value: HeaderValue) {
    headers.append(CACHE_STATUS, value);
}

/// Values of the numbers below 3600 (an `Age` below an hour, a small `Content-Length`), made
/// once, on static text (see [`static_value`]).
static SMALL_NUMBERS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    (0..3600u64)
        .map(|number| static_value(number.to_string()))
        .collect()
});

/// The header value of `number`: an `Age` in seconds, a `Content-Length`.
pub(crate) fn number_value(number: u64) -> HeaderValue {
    match usize::try_from(number)
        .ok()
        .and_then(|index| SMALL_NUMBERS.get(index))
    {
        Some(value) => value.clone(),
        None => HeaderValue::from(number),
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
    fn small_and_large_numbers() {
        for seconds in [0, 59, 3599, 3600, 1_000_000] {
            assert_eq!(number_value(seconds), seconds.to_string().as_str());
        }
    }
}
