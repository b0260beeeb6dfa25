//! Per-entry options.

use std::time::Duration;

/// Which levels an entry lives in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Level {
    /// In-process L1 only: never serialized, never leaves the process.
    L1,
    /// L1 and the configured L2 (L1 only when no L2 is configured).
    #[default]
    Both,
}

/// Options of one entry: lifetime, tags, refresh-ahead, stale-if-error window and level.
///
/// Anything left unset falls back to the cache's builder settings.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{EntryOptions, Level};
/// let options = EntryOptions::new()
///     .ttl(Duration::from_secs(600))
///     .tags(["users", "user:42"])
///     .refresh_ahead(0.8)
///     .stale_if_error(Duration::from_secs(30))
///     .level(Level::Both);
/// # drop(options);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryOptions {
    pub(crate) ttl: Option<Duration>,
    pub(crate) tags: Vec<String>,
    pub(crate) refresh_ahead: Option<f64>,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) level: Level,
}

impl EntryOptions {
    /// Options with every field unset: the builder's defaults apply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Time to live of the entry.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Tags of the entry, for [`Cache::invalidate_tags`](crate::Cache::invalidate_tags).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags = tags.into_iter().map(Into::into).collect();
        self
    }

    /// Fraction of the TTL after which a hit schedules one background refresh (0 < f < 1).
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.refresh_ahead = Some(fraction);
        self
    }

    /// How long after it expires the entry may still be served when its reload fails
    /// (overrides [`CacheBuilder::stale_if_error`](crate::CacheBuilder::stale_if_error) for
    /// this entry; zero: never).
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.stale_if_error = Some(window);
        self
    }

    /// The levels the entry lives in.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }
}
