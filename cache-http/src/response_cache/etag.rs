//! Entity tags: the strong `ETag` the cache gives a body that has none, and `If-None-Match`
//! (RFC 9110 §13.1.2, weak comparison).

use http::header::IF_NONE_MATCH;
use http::{HeaderMap, HeaderValue};

/// A strong entity tag for `body`: the 128-bit xxh3 of its bytes in lower-case hex, quoted.
/// xxh3 is unseeded and fixed by its specification, so every process and version of the
/// service computes the same tag for the same bytes.
pub(crate) fn of_body(body: &[u8]) -> HeaderValue {
    let hash = xxhash_rust::xxh3::xxh3_128(body);
    HeaderValue::try_from(format!("\"{hash:032x}\"")).expect("hex digits and quotes are valid")
}

/// Whether the request's `If-None-Match` matches `etag`, so a `304 Not Modified` answers it:
/// `*` matches any tag; otherwise one listed tag equals `etag` once `W/` is ignored on both.
/// A request without the header, or with one that cannot be read, does not match.
pub(crate) fn none_match_hits(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let mut lines = request.get_all(IF_NONE_MATCH).iter().peekable();
    // Most requests carry no condition: the stored tag is not even read then.
    if lines.peek().is_none() {
        return false;
    }
    let Some(etag) = opaque(etag.as_bytes()) else {
        return false;
    };
    lines.any(|line| {
        let line = line.as_bytes();
        if line.iter().all(|b| b.is_ascii_whitespace() || *b == b'*') && line.contains(&b'*') {
            return true;
        }
        listed_tags(line).any(|tag| tag == etag)
    })
}

/// The opaque part of an entity tag (`W/"x"` and `"x"` are both `x`), if it is well-formed.
fn opaque(tag: &[u8]) -> Option<&[u8]> {
    let tag = tag.trim_ascii();
    let tag = tag.strip_prefix(b"W/").unwrap_or(tag);
    let inner = tag.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    (!inner.contains(&b'"')).then_some(inner)
}

/// The opaque parts of a comma-separated list of entity tags (commas may occur inside
/// quotes); entries that are not entity tags are skipped.
fn listed_tags(mut line: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        line = line.trim_ascii_start();
        while let Some(after) = line.strip_prefix(b",") {
            line = after.trim_ascii_start();
        }
        if line.is_empty() {
            return None;
        }
        let unprefixed = line.strip_prefix(b"W/").unwrap_or(line);
        let Some(quoted) = unprefixed.strip_prefix(b"\"") else {
            let end = line.iter().position(|b| *b == b',').unwrap_or(line.len());
            line = &line[end..];
            return Some(None);
        };
        let end = quoted
            .iter()
            .position(|b| *b == b'"')
            .unwrap_or(quoted.len());
        line = quoted.get(end + 1..).unwrap_or_default();
        Some(Some(&quoted[..end]))
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(IF_NONE_MATCH, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    #[test]
    fn the_body_tag_is_fixed_by_the_bytes() {
        // The same in every process and version: a change here breaks 304s across a fleet.
        assert_eq!(
            of_body(b"hello"),
            HeaderValue::from_static("\"b5e9c1ad071b3e7fc779cfaa5e523818\"")
        );
        assert_ne!(of_body(b"hello"), of_body(b"hello!"));
    }

    #[test]
    fn weak_comparison_lists_and_star() {
        let etag = HeaderValue::from_static("\"abc\"");
        let weak = HeaderValue::from_static("W/\"abc\"");
        assert!(none_match_hits(&request(&["\"abc\""]), &etag));
        assert!(none_match_hits(&request(&["W/\"abc\""]), &etag));
        assert!(none_match_hits(&request(&["\"abc\""]), &weak));
        assert!(none_match_hits(
            &request(&["\"x\", \"a,b\" ,W/\"abc\""]),
            &etag
        ));
        assert!(none_match_hits(&request(&["\"x\"", "\"abc\""]), &etag));
        assert!(none_match_hits(&request(&["*"]), &etag));
        assert!(!none_match_hits(&request(&["\"abcd\""]), &etag));
        assert!(!none_match_hits(&request(&["abc"]), &etag));
        assert!(!none_match_hits(
            &request(&["\"a,b\""]),
            &HeaderValue::from_static("\"a\"")
        ));
        assert!(!none_match_hits(&request(&[]), &etag));
        assert!(!none_match_hits(
            &request(&["\"abc\""]),
            &HeaderValue::from_static("abc")
        ));
    }
}
