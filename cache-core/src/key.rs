//! Building cache keys from argument values.
//!
//! A key is `"{prefix}:{part}:{part}..."`. Every interpolated value is rendered with `Display`
//! and escaped: `:`, `*`, `?`, `[`, `]`, `\`, `%`, whitespace and control characters become
//! `%XX` (the UTF-8 bytes, upper-case hex). Escaping makes the rendering injective, so
//! `("a:b", "c")` and `("a", "b:c")` never share a key, and a value can never add glob syntax
//! to a pattern.
//!
//! Keys longer than [`MAX_KEY_LEN`] bytes are replaced by `"{prefix}:#{hash}"`, where `hash` is
//! the 128-bit xxh3 of the full key in lower-case hex: fixed, so the same in every process and
//! across restarts. Such keys still match patterns on their prefix (`"{prefix}:*"`), not on
//! their parts.

use std::fmt::{self, Display, Write};

/// Keys longer than this many bytes are replaced by a stable hash (see the module docs).
pub const MAX_KEY_LEN: usize = 512;

/// Whether `c` is escaped inside a key part.
fn needs_escape(c: char) -> bool {
    matches!(c, ':' | '*' | '?' | '[' | ']' | '\\' | '%') || c.is_whitespace() || c.is_control()
}

/// A `fmt::Write` that escapes everything written through it into `out`.
struct Escaper<'a> {
    out: &'a mut String,
}

impl Write for Escaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if needs_escape(c) {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    write!(self.out, "%{byte:02X}")?;
                }
            } else {
                self.out.push(c);
            }
        }
        Ok(())
    }
}

/// Appends `value`, rendered with `Display` and escaped, to `out`.
///
/// ```
/// let mut key = String::from("search:");
/// cache_core::escape_key_part(&mut key, &"a:b*");
/// assert_eq!(key, "search:a%3Ab%2A");
/// ```
pub fn escape_key_part(out: &mut String, value: &dyn Display) {
    // Writing into a String cannot fail unless `Display` itself reports an error; a key is
    // then rendered with whatever was written, which stays injective for well-behaved types.
    let _ = write!(Escaper { out }, "{value}");
}

/// Builds a key from a prefix and escaped parts.
///
/// ```
/// use cache_core::KeyBuilder;
/// let key = KeyBuilder::new("user:profile").part(&42).part(&"a b").finish();
/// assert_eq!(key, "user:profile:42:a%20b");
/// ```
#[derive(Debug, Clone)]
pub struct KeyBuilder {
    key: String,
    prefix_len: usize,
}

impl KeyBuilder {
    /// Starts a key with a literal (unescaped) prefix.
    pub fn new(prefix: &str) -> Self {
        let mut key = String::with_capacity(prefix.len() + 24);
        key.push_str(prefix);
        Self {
            prefix_len: key.len(),
            key,
        }
    }

    /// Appends `:` and the escaped rendering of `value`.
    pub fn part(mut self, value: &dyn Display) -> Self {
        self.push(value);
        self
    }

    /// In-place form of [`part`](Self::part).
    pub fn push(&mut self, value: &dyn Display) {
        self.key.push(':');
        escape_key_part(&mut self.key, value);
    }

    /// Appends a literal (unescaped) piece, e.g. the fixed text of a template such as `":"`.
    pub fn push_literal(&mut self, literal: &str) {
        self.key.push_str(literal);
    }

    /// Appends an escaped value without a separator (for templates such as `"{a}-{b}"`).
    pub fn push_escaped(&mut self, value: &dyn Display) {
        escape_key_part(&mut self.key, value);
    }

    /// The key so far, for appending escaped parts in place.
    pub(crate) fn buffer(&mut self) -> &mut String {
        &mut self.key
    }

    /// The finished key, hashed when longer than [`MAX_KEY_LEN`].
    pub fn finish(self) -> String {
        if self.key.len() <= MAX_KEY_LEN {
            return self.key;
        }
        let hash = xxhash_rust::xxh3::xxh3_128(self.key.as_bytes());
        let mut short = String::with_capacity(self.prefix_len + 34);
        short.push_str(&self.key[..self.prefix_len.min(MAX_KEY_LEN - 34)]);
        let _ = write!(short, ":#{hash:032x}");
        short
    }
}

/// Escapes one value into a fresh string (a whole key part).
pub fn escaped(value: &dyn Display) -> String {
    let mut out = String::new();
    escape_key_part(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_never_collide() {
        let a = KeyBuilder::new("p").part(&"a:b").part(&"c").finish();
        let b = KeyBuilder::new("p").part(&"a").part(&"b:c").finish();
        assert_ne!(a, b);
        assert_eq!(a, "p:a%3Ab:c");
    }

    #[test]
    fn glob_syntax_is_escaped() {
        assert_eq!(escaped(&"*?[]\\%"), "%2A%3F%5B%5D%5C%25");
        assert_eq!(escaped(&"a\tb\n"), "a%09b%0A");
        assert_eq!(escaped(&"\u{3000}"), "%E3%80%80");
        assert_eq!(escaped(&"é"), "é");
    }

    #[test]
    fn long_keys_hash_stably() {
        let long = "x".repeat(600);
        let key = KeyBuilder::new("p").part(&long).finish();
        assert!(key.starts_with("p:#"));
        assert_eq!(key.len(), "p:#".len() + 32);
        assert_eq!(key, KeyBuilder::new("p").part(&long).finish());
        // Fixed algorithm: this value must never change between builds.
        assert_eq!(
            key,
            format!(
                "p:#{:032x}",
                xxhash_rust::xxh3::xxh3_128(format!("p:{long}").as_bytes())
            )
        );
    }
}
