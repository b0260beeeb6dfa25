//! The coarse monotonic clock behind every expiry check.
//!
//! A hit compares an entry's deadline with "now" on every call, so reading the clock must cost a
//! few nanoseconds. `CLOCK_MONOTONIC_COARSE` is a plain memory read in the vDSO with a
//! resolution of one kernel tick (1 to 4 ms), which is ample for cache lifetimes. On Linux it is
//! read through rustix, which calls the vDSO itself: reading it through libc (coarsetime, as
//! before) made a whole hit about 10% slower (`BENCHMARKS.md`, "l1_hit and the clock read").
//! Elsewhere, coarsetime's coarse clock.

use std::time::Duration;

/// Milliseconds on a coarse monotonic clock with an unspecified origin.
#[cfg(target_os = "linux")]
#[inline]
pub(crate) fn now_ms() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
    // A monotonic clock's seconds are never negative; its nanoseconds are below 10^9.
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    seconds * 1_000 + nanos / 1_000_000
}

/// Milliseconds on a coarse monotonic clock with an unspecified origin.
#[cfg(not(target_os = "linux"))]
#[inline]
pub(crate) fn now_ms() -> u64 {
    // `now_without_cache_update` does not write coarsetime's shared "recent" atomic, so
    // concurrent readers never bounce a cache line.
    let ticks = coarsetime::Instant::now_without_cache_update().as_ticks();
    coarsetime::Duration::from_ticks(ticks).as_millis()
}

/// Milliseconds since the Unix epoch on a coarse wall clock (`CLOCK_REALTIME_COARSE`, one
/// kernel tick of resolution): for times other processes read (an HTTP response's storage
/// time). A plain memory read in the vDSO; `SystemTime::now` reads the time-stamp counter,
/// which on a virtual machine cost about 40 ns per HTTP hit under `perf`.
#[cfg(target_os = "linux")]
pub(crate) fn unix_now_ms() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    seconds * 1_000 + nanos / 1_000_000
}

/// Milliseconds since the Unix epoch.
#[cfg(not(target_os = "linux"))]
pub(crate) fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_is_the_system_time_within_a_tick() {
        let system = |now: std::time::SystemTime| {
            let since = now.duration_since(std::time::UNIX_EPOCH).unwrap();
            u64::try_from(since.as_millis()).unwrap()
        };
        let before = system(std::time::SystemTime::now());
        let coarse = unix_now_ms();
        let after = system(std::time::SystemTime::now());
        // A coarse clock lags by up to one kernel tick (1 to 10 ms).
        assert!(
            coarse <= after && coarse + 20 >= before,
            "{before} {coarse} {after}"
        );
    }

    #[test]
    fn the_clock_counts_milliseconds_forward() {
        let start = now_ms();
        let started = std::time::Instant::now();
        std::thread::sleep(Duration::from_millis(50));
        let elapsed = now_ms() - start;
        let real = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // One coarse tick (at most 10 ms) either side of the real elapsed time.
        assert!(
            elapsed + 10 >= real && elapsed <= real + 10,
            "the clock advanced {elapsed} ms in {real} ms"
        );
    }
}
