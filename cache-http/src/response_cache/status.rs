//! How the cache answered (RFC 9211 `Cache-Status`), and the headers of a stored response
//! served (`Age`).

use http::header::AGE;
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

/// Adds this cache's `Cache-Status` member after any a cache nearer the handler added.
pub(crate) fn add_cache_status(headers: &mut HeaderMap, value: HeaderValue) {
    headers.append(CACHE_STATUS, value);
}

/// Sets `Age` to `seconds`.
pub(crate) fn set_age(headers: &mut HeaderMap, seconds: u64) {
    headers.insert(AGE, HeaderValue::from(seconds));
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
        for (outcome, expected) in cases {
            assert_eq!(outcome.header_value("c"), expected);
        }
    }
}
