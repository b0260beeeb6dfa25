//! What a shared cache may store (RFC 9111 §3), and for how long: a handler's response is
//! either passed on unstored, with the reason, or stored with the lifetime, refresh point and
//! stale window the engine gets ([`Storage::entry_options`]).

use std::time::Duration;

use cache_core::EntryOptions;
use http::header::{AGE, AUTHORIZATION, SET_COOKIE, VARY};
use http::{HeaderMap, StatusCode};

use super::directives::Directives;

/// The response header whose comma-separated values tag the entry.
pub(crate) const CACHE_TAG: http::HeaderName = http::HeaderName::from_static("cache-tag");

/// Why a response was not stored (the `detail` of its `Cache-Status`).
pub(crate) type PassReason = &'static str;

/// How a storable response is kept.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Storage {
    /// How long it stays fresh from now (its age at arrival already taken off).
    pub(crate) fresh: Duration,
    /// Its age when it arrived (the handler's `Age`, if it sent one).
    pub(crate) age: Duration,
    /// `stale-while-revalidate`: served while revalidating in the background this long after.
    pub(crate) stale_while_revalidate: Duration,
    /// `stale-if-error`: answers a failed revalidation this long after it expired.
    pub(crate) stale_if_error: Duration,
    /// The tags of its `Cache-Tag` header.
    pub(crate) tags: Vec<String>,
    /// The request header names its `Vary` lists: lower case, sorted, without duplicates.
    pub(crate) vary: Vec<String>,
}

impl Storage {
    /// The engine's options for the entry: TTL `fresh + stale-while-revalidate`, a refresh
    /// point at `fresh / (fresh + stale-while-revalidate)` when there is such a window, the
    /// `stale-if-error` window (zero: never served stale on error), the `Cache-Tag` tags and
    /// `uri_tag`, the tag every entry of the URI carries.
    pub(crate) fn entry_options(&self, uri_tag: &str) -> EntryOptions {
        let lifetime = self.fresh + self.stale_while_revalidate;
        let tags = std::iter::once(uri_tag.to_owned()).chain(self.tags.iter().cloned());
        let mut options = EntryOptions::new()
            .ttl(lifetime)
            .tags(tags)
            .stale_if_error(self.stale_if_error);
        if !self.stale_while_revalidate.is_zero() {
            options = options.refresh_ahead(self.fresh.as_secs_f64() / lifetime.as_secs_f64());
        }
        options
    }
}

/// Whether a response to a `GET` may be stored, and how.
pub(crate) fn decide(
    request: &HeaderMap,
    status: StatusCode,
    response: &HeaderMap,
    default_ttl: Duration,
) -> Result<Storage, PassReason> {
    if !status.is_success() || status == StatusCode::PARTIAL_CONTENT {
        return Err("status");
    }
    let directives = Directives::of(response);
    if directives.no_store {
        return Err("no-store");
    }
    if directives.private {
        return Err("private");
    }
    if directives.no_cache {
        return Err("no-cache");
    }
    if response.contains_key(SET_COOKIE) {
        return Err("set-cookie");
    }
    if request.contains_key(AUTHORIZATION) && !directives.public && directives.s_maxage.is_none() {
        return Err("authorization");
    }
    let vary = vary_names(response).ok_or("vary-star")?;
    let lifetime = match directives.s_maxage.or(directives.max_age) {
        Some(Some(seconds)) => Duration::from_secs(seconds),
        Some(None) => return Err("invalid-max-age"),
        None => default_ttl,
    };
    let age = response_age(response);
    let fresh = lifetime.saturating_sub(age);
    if fresh.is_zero() {
        return Err("not-fresh");
    }
    let (stale_while_revalidate, stale_if_error) = if directives.must_revalidate {
        (0, 0)
    } else {
        (
            directives.stale_while_revalidate.unwrap_or(0),
            directives.stale_if_error.unwrap_or(0),
        )
    };
    Ok(Storage {
        fresh,
        age,
        stale_while_revalidate: Duration::from_secs(stale_while_revalidate),
        stale_if_error: Duration::from_secs(stale_if_error),
        tags: cache_tags(response),
        vary,
    })
}

/// The request header names of every `Vary` line (lower case, sorted, deduplicated); `None`
/// for `Vary: *` (or a line that is not visible ASCII, which cannot be matched either).
pub(crate) fn vary_names(headers: &HeaderMap) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for line in headers.get_all(VARY) {
        for name in line.to_str().ok()?.split(',') {
            let name = name.trim();
            if name == "*" {
                return None;
            }
            if !name.is_empty() {
                names.push(name.to_ascii_lowercase());
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    Some(names)
}

/// The tags of every `Cache-Tag` line: comma-separated, trimmed, without empty ones or
/// duplicates, in order of appearance.
pub(crate) fn cache_tags(headers: &HeaderMap) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for line in headers.get_all(CACHE_TAG) {
        let Ok(line) = line.to_str() else { continue };
        for tag in line.split(',').map(str::trim) {
            if !tag.is_empty() && !tags.iter().any(|known| known == tag) {
                tags.push(tag.to_owned());
            }
        }
    }
    tags
}

/// The handler's `Age`, if it sent a valid one.
fn response_age(headers: &HeaderMap) -> Duration {
    let seconds = headers
        .get(AGE)
        .and_then(|age| age.to_str().ok())
        .and_then(|age| age.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_secs(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// Header name/value pairs.
    type Pairs<'a> = &'a [(&'a str, &'a str)];

    fn headers(pairs: Pairs<'_>) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    const DEFAULT: Duration = Duration::from_secs(60);

    fn decide_ok(
        request: &[(&str, &str)],
        response: &[(&str, &str)],
    ) -> Result<Storage, &'static str> {
        decide(
            &headers(request),
            StatusCode::OK,
            &headers(response),
            DEFAULT,
        )
    }

    #[test]
    fn lifetime_from_s_maxage_then_max_age_then_the_default() {
        let s = decide_ok(&[], &[("cache-control", "max-age=10, s-maxage=20")]).unwrap();
        assert_eq!(s.fresh, Duration::from_secs(20));
        let s = decide_ok(&[], &[("cache-control", "max-age=10")]).unwrap();
        assert_eq!(s.fresh, Duration::from_secs(10));
        assert_eq!(decide_ok(&[], &[]).unwrap().fresh, DEFAULT);
        let s = decide_ok(&[], &[("cache-control", "max-age=10"), ("age", "4")]).unwrap();
        assert_eq!(
            (s.fresh, s.age),
            (Duration::from_secs(6), Duration::from_secs(4))
        );
        assert_eq!(
            decide_ok(&[], &[("cache-control", "max-age=0")]),
            Err("not-fresh")
        );
        assert_eq!(
            decide_ok(&[], &[("cache-control", "max-age=x")]),
            Err("invalid-max-age")
        );
    }

    #[test]
    fn what_a_shared_cache_must_not_store() {
        let cases: [(Pairs<'_>, Pairs<'_>, &str); 7] = [
            (&[], &[("cache-control", "no-store")], "no-store"),
            (&[], &[("cache-control", "private")], "private"),
            (&[], &[("cache-control", "no-cache")], "no-cache"),
            (&[], &[("set-cookie", "a=1")], "set-cookie"),
            (
                &[("authorization", "Bearer x")],
                &[("cache-control", "max-age=5")],
                "authorization",
            ),
            (&[], &[("vary", "accept, *")], "vary-star"),
            (&[], &[("cache-control", "public, no-store")], "no-store"),
        ];
        for (request, response, reason) in cases {
            assert_eq!(decide_ok(request, response), Err(reason), "{response:?}");
        }
        for status in [
            StatusCode::PARTIAL_CONTENT,
            StatusCode::NOT_FOUND,
            StatusCode::FOUND,
        ] {
            assert_eq!(
                decide(&HeaderMap::new(), status, &HeaderMap::new(), DEFAULT),
                Err("status")
            );
        }
        let authorized = [("authorization", "Bearer x")];
        assert!(decide_ok(&authorized, &[("cache-control", "public")]).is_ok());
        assert!(decide_ok(&authorized, &[("cache-control", "s-maxage=5")]).is_ok());
    }

    #[test]
    fn stale_windows_tags_and_vary() {
        let s = decide_ok(
            &[],
            &[
                (
                    "cache-control",
                    "max-age=30, stale-while-revalidate=10, stale-if-error=300",
                ),
                ("cache-tag", "user:1, users,user:1"),
                ("cache-tag", " posts "),
                ("vary", "Accept-Language, accept-encoding"),
                ("vary", "ACCEPT-LANGUAGE"),
            ],
        )
        .unwrap();
        assert_eq!(s.stale_while_revalidate, Duration::from_secs(10));
        assert_eq!(s.stale_if_error, Duration::from_secs(300));
        assert_eq!(s.tags, ["user:1", "users", "posts"]);
        assert_eq!(s.vary, ["accept-encoding", "accept-language"]);
        let options = s.entry_options("http:/a");
        let expected = EntryOptions::new()
            .ttl(Duration::from_secs(40))
            .tags(["http:/a", "user:1", "users", "posts"])
            .stale_if_error(Duration::from_secs(300))
            .refresh_ahead(0.75);
        assert_eq!(options, expected);

        let strict = decide_ok(
            &[],
            &[(
                "cache-control",
                "max-age=30, must-revalidate, stale-while-revalidate=10, stale-if-error=9",
            )],
        )
        .unwrap();
        assert_eq!(strict.stale_while_revalidate, Duration::ZERO);
        assert_eq!(strict.stale_if_error, Duration::ZERO);
        let options = strict.entry_options("t");
        let expected = EntryOptions::new()
            .ttl(Duration::from_secs(30))
            .tags(["t"])
            .stale_if_error(Duration::ZERO);
        assert_eq!(options, expected, "no refresh point without a window");
    }
}
