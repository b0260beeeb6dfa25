//! `Cache-Control` directives of a response (RFC 9111 §5.2.2, RFC 5861), parsed from every
//! `Cache-Control` field line.
//!
//! Hand-written because the maintained header crates (`headers`) leave out the RFC 5861
//! extensions (`stale-while-revalidate`, `stale-if-error`) this layer maps onto the engine.

use http::HeaderMap;
use http::header::CACHE_CONTROL;

/// The directives the response cache acts on; the rest are ignored.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Directives {
    /// `no-store`.
    pub(crate) no_store: bool,
    /// `no-cache` (with or without field names): no reuse without revalidation, which this
    /// cache does not do, so nothing is stored.
    pub(crate) no_cache: bool,
    /// `private` (with or without field names).
    pub(crate) private: bool,
    /// `public`.
    pub(crate) public: bool,
    /// `must-revalidate` or `proxy-revalidate`: never served stale.
    pub(crate) must_revalidate: bool,
    /// `max-age` in seconds; `Some(None)` when present with an invalid value.
    pub(crate) max_age: Option<Option<u64>>,
    /// `s-maxage` in seconds; `Some(None)` when present with an invalid value.
    pub(crate) s_maxage: Option<Option<u64>>,
    /// `stale-while-revalidate` in seconds (invalid values are ignored).
    pub(crate) stale_while_revalidate: Option<u64>,
    /// `stale-if-error` in seconds (invalid values are ignored).
    pub(crate) stale_if_error: Option<u64>,
}

impl Directives {
    /// The directives of every `Cache-Control` line of `headers`. A line that is not visible
    /// ASCII is skipped. When a directive repeats, its first occurrence counts.
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let mut directives = Self::default();
        for line in headers.get_all(CACHE_CONTROL) {
            if let Ok(line) = line.to_str() {
                for (name, value) in split(line) {
                    directives.apply(&name, value.as_deref());
                }
            }
        }
        directives
    }

    fn apply(&mut self, name: &str, value: Option<&str>) {
        let seconds = || value.and_then(parse_seconds);
        match name {
            "no-store" => self.no_store = true,
            "no-cache" => self.no_cache = true,
            "private" => self.private = true,
            "public" => self.public = true,
            "must-revalidate" | "proxy-revalidate" => self.must_revalidate = true,
            "max-age" if self.max_age.is_none() => self.max_age = Some(seconds()),
            "s-maxage" if self.s_maxage.is_none() => self.s_maxage = Some(seconds()),
            "stale-while-revalidate" if self.stale_while_revalidate.is_none() => {
                self.stale_while_revalidate = seconds();
            }
            "stale-if-error" if self.stale_if_error.is_none() => {
                self.stale_if_error = seconds();
            }
            _ => {}
        }
    }
}

/// Delta-seconds: digits only; values past `u64` saturate (RFC 9111 §1.2.2).
fn parse_seconds(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse().unwrap_or(u64::MAX))
}

/// Splits one field line into `(lower-case name, value)` pairs. Values may be tokens or quoted
/// strings; a comma inside quotes does not split.
fn split(line: &str) -> Vec<(String, Option<String>)> {
    let mut directives = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return directives;
        }
        let name_end = rest.find(['=', ',']).unwrap_or(rest.len());
        let name = rest[..name_end].trim().to_ascii_lowercase();
        rest = &rest[name_end..];
        let mut value = None;
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            if let Some(quoted) = after.strip_prefix('"') {
                let (text, remaining) = quoted_string(quoted);
                value = Some(text);
                rest = remaining;
            } else {
                let end = after.find(',').unwrap_or(after.len());
                value = Some(after[..end].trim().to_owned());
                rest = &after[end..];
            }
        }
        if !name.is_empty() {
            directives.push((name, value));
        }
    }
}

/// The text of a quoted string whose opening quote was consumed, and what follows it.
fn quoted_string(input: &str) -> (String, &str) {
    let mut text = String::new();
    let mut chars = input.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return (text, &input[at + 1..]),
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    text.push(escaped);
                }
            }
            c => text.push(c),
        }
    }
    (text, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parse(lines: &[&str]) -> Directives {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(CACHE_CONTROL, HeaderValue::from_str(line).unwrap());
        }
        Directives::of(&headers)
    }

    #[test]
    fn every_directive_the_cache_acts_on() {
        let d = parse(&[
            "public, max-age=60, s-maxage=120",
            "stale-while-revalidate=30, stale-if-error=600",
        ]);
        assert!(d.public && !d.private && !d.no_store && !d.no_cache);
        assert_eq!(d.max_age, Some(Some(60)));
        assert_eq!(d.s_maxage, Some(Some(120)));
        assert_eq!(d.stale_while_revalidate, Some(30));
        assert_eq!(d.stale_if_error, Some(600));
        assert!(!d.must_revalidate);
        assert!(parse(&["Proxy-Revalidate"]).must_revalidate);
        assert!(parse(&["NO-STORE"]).no_store);
    }

    #[test]
    fn quoted_values_first_occurrence_and_invalid_numbers() {
        let d = parse(&[r#"private="set-cookie, x-a", max-age=10, max-age=99, no-cache"#]);
        assert!(d.private && d.no_cache);
        assert_eq!(d.max_age, Some(Some(10)), "the first occurrence counts");
        assert_eq!(parse(&["max-age=ten"]).max_age, Some(None));
        assert_eq!(parse(&["max-age=\"5\""]).max_age, Some(Some(5)));
        assert_eq!(parse(&["s-maxage=-1"]).s_maxage, Some(None));
        assert_eq!(
            parse(&["max-age=99999999999999999999999"]).max_age,
            Some(Some(u64::MAX))
        );
        assert_eq!(parse(&["stale-if-error=x"]).stale_if_error, None);
        assert_eq!(parse(&[" , ,"]), Directives::default());
    }
}
