//! Cache keys of responses.
//!
//! - A URI's key is `{prefix}:{path?query}`, the path and query escaped as every key part is
//!   (`cache_core::KeyBuilder`: `:`, `*`, `?`, ... percent-encoded, long keys hashed). The
//!   method is not part of it: `HEAD` reads what `GET` stored.
//! - A variant (a response with `Vary`) is stored under `{URI key}:vary:{hash}`, where `hash`
//!   is the 128-bit xxh3, in hex, of the `Vary` header names and the request's values of them.
//!   The escaped URI holds no `:`, so no URI key is another's variant key.
//! - Every entry of a URI (its response, its `Vary` note, its variants) carries the URI's key
//!   as a tag, so one tag invalidation drops all of them.

use std::cell::Cell;

use axum::extract::OriginalUri;
use cache_core::{KeyBuilder, MAX_KEY_LEN};
use http::{Extensions, HeaderMap, Uri};

/// The URI the client asked for: axum's `OriginalUri` when a nesting router stripped a prefix
/// from the request's, so that routers nested under different prefixes never share keys.
pub(crate) fn request_uri<'a>(extensions: &'a Extensions, uri: &'a Uri) -> &'a Uri {
    extensions
        .get::<OriginalUri>()
        .map_or(uri, |original| &original.0)
}

/// The key of a URI's entry (also the tag of all its entries).
pub(crate) fn uri_key(prefix: &str, uri: &Uri) -> String {
    let mut key = String::new();
    write_uri_key(prefix, uri, &mut key);
    key
}

/// Calls `with` with the key of a URI's entry, written into a buffer the thread keeps (a hit
/// looks its key up without allocating it).
pub(crate) fn with_uri_key<R>(prefix: &str, uri: &Uri, with: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        static KEY: Cell<String> = const { Cell::new(String::new()) };
    }
    // Taken out while in use: a nested call (none is made today) would find an empty buffer
    // and grow its own, never share this one.
    let mut key = KEY.take();
    key.clear();
    write_uri_key(prefix, uri, &mut key);
    let result = with(&key);
    KEY.set(key);
    result
}

fn write_uri_key(prefix: &str, uri: &Uri, key: &mut String) {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    if path_and_query.len() + prefix.len() < MAX_KEY_LEN && !needs_escaping(path_and_query) {
        // The common case, without formatting: the escaped text is the text itself.
        key.reserve(prefix.len() + 1 + path_and_query.len());
        key.push_str(prefix);
        key.push(':');
        key.push_str(path_and_query);
        return;
    }
    key.push_str(&KeyBuilder::new(prefix).part(&path_and_query).finish());
}

/// Whether `text` holds a character a key part escapes (see `cache_core::escape_key_part`);
/// any non-ASCII character counts, to leave Unicode whitespace to the full escaping.
fn needs_escaping(text: &str) -> bool {
    text.bytes().any(|b| ESCAPED[usize::from(b)])
}

/// The bytes [`needs_escaping`] looks for, as a table (one load per byte of a URI).
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] =
            matches!(b, b':' | b'*' | b'?' | b'[' | b']' | b'\\' | b'%') || b <= b' ' || b >= 0x7f;
        byte += 1;
    }
    table
};

/// The key of the variant of a URI that a request with `headers` selects, for a response
/// varying by `names` (lower case, sorted).
pub(crate) fn variant_key(
    prefix: &str,
    uri: &Uri,
    names: &[String],
    headers: &HeaderMap,
) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for name in names {
        hasher.update(name.as_bytes());
        let mut values = headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none() {
            // Absent differs from present and empty.
            hasher.update(b"\x01");
        }
        for value in values {
            // Field values hold no NUL or LF: unambiguous separators.
            hasher.update(b"\n");
            hasher.update(value.as_bytes());
        }
        hasher.update(b"\0");
    }
    let hash = hasher.digest128();
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut key = KeyBuilder::new(prefix).part(&path_and_query);
    key.push_literal(&format!(":vary:{hash:032x}"));
    key.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    http::HeaderName::from_static(n),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn uri_keys_escape_the_uri() {
        let uri: Uri = "/users/42?fields=a:b*".parse().unwrap();
        assert_eq!(uri_key("http", &uri), "http:/users/42%3Ffields=a%3Ab%2A");
        assert_eq!(uri_key("http", &"http://h/".parse().unwrap()), "http:/");
        let long = format!("/{}", "x".repeat(600)).parse().unwrap();
        assert!(
            uri_key("http", &long).starts_with("http:#"),
            "long keys are hashed"
        );
    }

    #[test]
    fn the_unescaped_shortcut_builds_the_same_key_as_key_builder() {
        let near_the_limit = |extra: usize| format!("/{}", "x".repeat(MAX_KEY_LEN - 6 + extra));
        let mut texts: Vec<String> = ["/", "/users/42", "/a?b=c&d=e", "/a%20b", "/a:b", "/~x"]
            .iter()
            .map(|text| (*text).to_owned())
            .collect();
        texts.extend((0..4).map(near_the_limit));
        for text in texts {
            let uri: Uri = text.parse().unwrap();
            let path_and_query = uri.path_and_query().unwrap().as_str();
            let expected = KeyBuilder::new("http").part(&path_and_query).finish();
            assert_eq!(uri_key("http", &uri), expected, "{text}");
            with_uri_key("http", &uri, |key| assert_eq!(key, expected, "{text}"));
        }
    }

    #[test]
    fn variant_keys_differ_by_the_named_values_only() {
        let uri: Uri = "/a".parse().unwrap();
        let names = vec!["accept-language".to_owned()];
        let en = variant_key("http", &uri, &names, &headers(&[("accept-language", "en")]));
        let en_again = variant_key(
            "http",
            &uri,
            &names,
            &headers(&[("accept-language", "en"), ("cookie", "x")]),
        );
        let fr = variant_key("http", &uri, &names, &headers(&[("accept-language", "fr")]));
        let absent = variant_key("http", &uri, &names, &HeaderMap::new());
        let empty = variant_key("http", &uri, &names, &headers(&[("accept-language", "")]));
        assert_eq!(en, en_again);
        assert!(en.starts_with("http:/a:vary:"), "{en}");
        assert_ne!(en, fr);
        assert_ne!(absent, empty);
        assert_ne!(
            en,
            variant_key(
                "http",
                &"/b".parse().unwrap(),
                &names,
                &headers(&[("accept-language", "en")])
            )
        );
    }
}
