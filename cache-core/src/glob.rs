//! Redis-compatible glob matching, used to apply `invalidate_pattern` to L1.
//!
//! The rules are those of Redis's `stringmatchlen` (the matcher behind `KEYS`, `SCAN MATCH` and
//! `PSUBSCRIBE`), byte for byte, including its corner cases: an unclosed `[` matches as if the
//! class ended at the end of the pattern, a trailing `\` matches a literal `\`, ranges may be
//! written backwards (`[z-a]`), and bytes above 0x7f compare as signed C chars inside ranges.
//! `tests/glob_parity.rs` in `cache-redis` checks it against a real `redis-server`.

/// Whether `text` matches the Redis glob `pattern`.
///
/// ```
/// use cache_core::glob_matches;
/// assert!(glob_matches("user:*", "user:42"));
/// assert!(glob_matches("user:[0-9]?", "user:42"));
/// assert!(!glob_matches("user:\\*", "user:42"));
/// ```
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    glob_matches_bytes(pattern.as_bytes(), text.as_bytes())
}

/// Byte-level form of [`glob_matches`].
pub fn glob_matches_bytes(pattern: &[u8], text: &[u8]) -> bool {
    let mut give_up = false;
    Matcher {
        give_up: &mut give_up,
    }
    .run(pattern, text, 0)
}

/// Guard against pathological patterns, as Redis does.
const MAX_NESTING: u32 = 1000;

struct Matcher<'a> {
    /// Set once a `*` failed to match the rest from every position: an earlier `*` trying a
    /// longer match cannot succeed either (Redis's `skipLongerMatches`).
    give_up: &'a mut bool,
}

/// Byte at `i`, or 0 past the end (Redis patterns are NUL-terminated strings).
fn at(bytes: &[u8], i: usize) -> u8 {
    bytes.get(i).copied().unwrap_or(0)
}

/// A byte as the signed C `char` Redis compares in ranges.
fn signed(byte: u8) -> i32 {
    i32::from(byte as i8)
}

impl Matcher<'_> {
    fn run(&mut self, pattern: &[u8], text: &[u8], nesting: u32) -> bool {
        if nesting > MAX_NESTING {
            return false;
        }
        let (mut p, mut s) = (0usize, 0usize);
        while p < pattern.len() && s < text.len() {
            match pattern[p] {
                b'*' => {
                    while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                        p += 1;
                    }
                    if p + 1 == pattern.len() {
                        return true;
                    }
                    while s < text.len() {
                        if self.run(&pattern[p + 1..], &text[s..], nesting + 1) {
                            return true;
                        }
                        if *self.give_up {
                            return false;
                        }
                        s += 1;
                    }
                    *self.give_up = true;
                    return false;
                }
                b'?' => s += 1,
                b'[' => {
                    let (matched, end) = match_class(pattern, p + 1, text[s]);
                    if !matched {
                        return false;
                    }
                    p = end;
                    s += 1;
                }
                b'\\' => {
                    if p + 1 < pattern.len() {
                        p += 1;
                    }
                    if pattern[p] != text[s] {
                        return false;
                    }
                    s += 1;
                }
                literal => {
                    if literal != text[s] {
                        return false;
                    }
                    s += 1;
                }
            }
            p += 1;
            if s == text.len() {
                while p < pattern.len() && pattern[p] == b'*' {
                    p += 1;
                }
                break;
            }
        }
        p == pattern.len() && s == text.len()
    }
}

/// Matches `byte` against the class starting at `p` (just after `[`). Returns whether it matched
/// and the index of the class's last byte (its `]`, or the pattern's last byte when unclosed).
fn match_class(pattern: &[u8], mut p: usize, byte: u8) -> (bool, usize) {
    let negated = at(pattern, p) == b'^';
    if negated {
        p += 1;
    }
    let mut matched = false;
    loop {
        let remaining = pattern.len().saturating_sub(p);
        let current = at(pattern, p);
        if current == b'\\' && remaining >= 2 {
            p += 1;
            if pattern[p] == byte {
                matched = true;
            }
        } else if current == b']' && remaining >= 1 {
            break;
        } else if remaining == 0 {
            // Unclosed class: Redis steps back so the outer loop ends exactly at the end.
            p -= 1;
            break;
        } else if remaining >= 3 && pattern[p + 1] == b'-' {
            let (mut start, mut end) = (signed(pattern[p]), signed(pattern[p + 2]));
            if start > end {
                std::mem::swap(&mut start, &mut end);
            }
            let c = signed(byte);
            if c >= start && c <= end {
                matched = true;
            }
            p += 2;
        } else if current == byte {
            matched = true;
        }
        p += 1;
    }
    (matched != negated, p)
}

#[cfg(test)]
mod tests {
    use super::glob_matches as m;

    #[test]
    fn stars_and_questions() {
        // As in Redis, a pattern never matches the empty string, not even "*".
        assert!(!m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*", "a"));
        assert!(m("a*b", "axxb"));
        assert!(!m("a*b", "axxc"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("**a**", "xax"));
        assert!(!m("", "a"));
        assert!(m("", ""));
    }

    #[test]
    fn classes() {
        assert!(m("[abc]", "b"));
        assert!(!m("[abc]", "d"));
        assert!(m("[^abc]", "d"));
        assert!(!m("[^abc]", "a"));
        assert!(m("[a-c]", "b"));
        assert!(m("[c-a]", "b"));
        assert!(m("[\\]]", "]"));
        // "a-]" is read as the range a..] and the class is left unclosed, as Redis does.
        assert!(!m("[a-]", "-"));
        assert!(m("[a-]", "_"));
    }

    #[test]
    fn escapes_and_unclosed() {
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
        assert!(m("a\\", "a\\"));
        assert!(m("[abc", "a"));
        assert!(!m("[abc", "ab"));
    }
}
