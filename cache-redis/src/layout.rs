//! Key names in Redis (documented in `docs/redis-layout.md`).
//!
//! - value of cache key `k`: `"{namespace}:{k}"` (no namespace: `"{k}"`), a Redis HASH;
//! - namespace metadata, all in one cluster slot thanks to the hash tag `{<ns>}`:
//!   - `__lc:{<ns>}:gen`: HASH with the namespace's generation counter (`gen`) and the
//!     longest TTL a tagged entry was written with (`maxttl`, ms);
//!   - `__lc:{<ns>}:tag:{tag}`: STRING, the generation at which the tag was last invalidated;
//!   - `__lc:{<ns>}:invalidations`: the backplane's pub/sub channel;
//!
//! where `<ns>` is the namespace with `%`, `{` and `}` percent-encoded, or `%` alone when there
//! is no namespace (no encoded namespace can be `%`).

/// Prefix of every metadata key; keys starting with it are never removed by a pattern scan.
pub(crate) const RESERVED_PREFIX: &str = "__lc:{";

/// Key names of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// `"{namespace}:"` or empty.
    value_prefix: String,
    /// `"__lc:{<ns>}:"`.
    meta_prefix: String,
}

impl Layout {
    pub(crate) fn new(namespace: Option<&str>) -> Self {
        let (value_prefix, tag) = match namespace {
            Some(ns) => (format!("{ns}:"), encode_hash_tag(ns)),
            None => (String::new(), "%".to_owned()),
        };
        Self {
            value_prefix,
            meta_prefix: format!("{RESERVED_PREFIX}{tag}}}:"),
        }
    }

    /// The Redis key holding the value of cache key `key`.
    pub(crate) fn value_key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.value_prefix.len() + key.len());
        full.push_str(&self.value_prefix);
        full.push_str(key);
        full
    }

    /// The Redis glob matching the value keys of cache keys matching `pattern`.
    /// (A namespace cannot contain glob characters: `CacheBuilder` rejects them.)
    pub(crate) fn value_pattern(&self, pattern: &str) -> String {
        self.value_key(pattern)
    }

    /// The cache key a value key holds, if it is one of this namespace's.
    pub(crate) fn cache_key<'a>(&self, value_key: &'a str) -> Option<&'a str> {
        value_key.strip_prefix(self.value_prefix.as_str())
    }

    /// The HASH with the namespace's generation counter and longest tagged TTL.
    pub(crate) fn gen_key(&self) -> String {
        format!("{}gen", self.meta_prefix)
    }

    /// Prefix of the per-tag generation keys.
    pub(crate) fn tag_prefix(&self) -> String {
        format!("{}tag:", self.meta_prefix)
    }

    /// The key holding the generation at which `tag` was last invalidated.
    pub(crate) fn tag_key(&self, tag: &str) -> String {
        format!("{}tag:{tag}", self.meta_prefix)
    }

    /// The Redis glob matching every tag key of the namespace.
    pub(crate) fn tag_pattern(&self) -> String {
        format!("{}*", glob_escape(&self.tag_prefix()))
    }

    /// The backplane's pub/sub channel.
    pub(crate) fn channel(&self) -> String {
        format!("{}invalidations", self.meta_prefix)
    }
}

/// Whether a key found by a scan is metadata that pattern invalidation must leave alone.
pub(crate) fn is_reserved(key: &[u8]) -> bool {
    key.starts_with(RESERVED_PREFIX.as_bytes())
}

/// The namespace as it appears inside the `{...}` hash tag.
fn encode_hash_tag(namespace: &str) -> String {
    let mut out = String::with_capacity(namespace.len());
    for c in namespace.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes Redis glob syntax so `text` matches itself only.
pub(crate) fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let layout = Layout::new(Some("billing"));
        assert_eq!(layout.value_key("user:7"), "billing:user:7");
        assert_eq!(layout.value_pattern("user:*"), "billing:user:*");
        assert_eq!(layout.gen_key(), "__lc:{billing}:gen");
        assert_eq!(layout.tag_key("users"), "__lc:{billing}:tag:users");
        assert_eq!(layout.tag_pattern(), "__lc:{billing}:tag:*");
        assert_eq!(layout.channel(), "__lc:{billing}:invalidations");

        let bare = Layout::new(None);
        assert_eq!(bare.value_key("user:7"), "user:7");
        assert_eq!(bare.gen_key(), "__lc:{%}:gen");

        let odd = Layout::new(Some("a}{%"));
        assert_eq!(odd.gen_key(), "__lc:{a%7D%7B%25}:gen");
        assert!(is_reserved(odd.tag_key("x").as_bytes()));
        assert!(!is_reserved(b"billing:__lc:{x}"));
    }

    #[test]
    fn escapes_globs() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert!(cache_core::glob_matches(&glob_escape("a*["), "a*["));
        assert!(!cache_core::glob_matches(&glob_escape("a*"), "ab"));
    }
}
