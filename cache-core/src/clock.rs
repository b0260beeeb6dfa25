//! The coarse monotonic clock behind every expiry check.
//!
//! A hit compares an entry's deadline with "now" on every call, so reading the clock must cost a
//! few nanoseconds. `CLOCK_MONOTONIC_COARSE` (through `coarsetime`) is a plain memory read in the
//! vDSO with a resolution of one kernel tick (1 to 4 ms), which is ample for cache lifetimes.

use std::time::Duration;

/// Milliseconds on a coarse monotonic clock with an unspecified origin.
#[inline]
pub(crate) fn now_ms() -> u64 {
    // `now_without_cache_update` does not write coarsetime's shared "recent" atomic, so
    // concurrent readers never bounce a cache line.
    let ticks = coarsetime::Instant::now_without_cache_update().as_ticks();
    coarsetime::Duration::from_ticks(ticks).as_millis()
}

/// A duration in whole milliseconds, saturating, at least 1 for a non-zero duration.
#[inline]
pub(crate) fn millis(duration: Duration) -> u64 {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 && !duration.is_zero() {
        1
    } else {
        ms
    }
}

/// `now + duration` in clock milliseconds, saturating.
#[inline]
pub(crate) fn deadline(now: u64, duration: Duration) -> u64 {
    now.saturating_add(millis(duration))
}
