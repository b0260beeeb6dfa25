//! What L1 keeps per key.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::tags::{TagStamp, all_current};

/// A cached value with its deadlines and validity stamps.
pub(crate) struct Entry<V> {
    pub(crate) value: V,
    /// Clock millisecond at which the entry stops being fresh.
    pub(crate) expires_at: u64,
    /// Clock millisecond after which a hit schedules a refresh (`u64::MAX`: never).
    pub(crate) refresh_at: u64,
    /// Clock millisecond until which the entry may be served when a reload fails.
    pub(crate) stale_until: u64,
    /// The cache's `clear` epoch when the load started.
    pub(crate) epoch: u64,
    /// Generations of the entry's tags when the load started.
    pub(crate) tags: Box<[TagStamp]>,
    /// Set by the hit that scheduled this entry's refresh, so at most one is scheduled.
    pub(crate) refreshing: AtomicBool,
    /// Coarse time of the last hit, for eviction.
    pub(crate) last_access: AtomicU32,
}

/// Validity stamps taken when a load starts.
pub(crate) struct Stamps {
    pub(crate) epoch: u64,
    pub(crate) tags: Box<[TagStamp]>,
}

/// Coarse access time: 16 ms units, wrapping (only compared between live entries).
#[inline]
pub(crate) fn access_time(now_ms: u64) -> u32 {
    (now_ms >> 4) as u32
}

impl<V> Entry<V> {
    /// Not cleared and no tag invalidated since the load started.
    #[inline]
    pub(crate) fn is_valid(&self, epoch: u64) -> bool {
        self.epoch == epoch && all_current(&self.tags)
    }

    /// Valid and not expired.
    #[inline]
    pub(crate) fn is_fresh(&self, now: u64, epoch: u64) -> bool {
        now < self.expires_at && self.is_valid(epoch)
    }

    /// Records a hit for eviction, writing only when the coarse time changed.
    #[inline]
    pub(crate) fn touch(&self, now: u64) {
        let t = access_time(now);
        if self.last_access.load(Ordering::Relaxed) != t {
            self.last_access.store(t, Ordering::Relaxed);
        }
    }

    /// Claims the single refresh of this entry if its refresh point has passed.
    #[inline]
    pub(crate) fn claim_refresh(&self, now: u64) -> bool {
        now >= self.refresh_at
            && !self.refreshing.load(Ordering::Relaxed)
            && self
                .refreshing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Gives the refresh claim back (the refresh failed), so a later hit may try again.
    pub(crate) fn release_refresh(&self) {
        self.refreshing.store(false, Ordering::Release);
    }
}
