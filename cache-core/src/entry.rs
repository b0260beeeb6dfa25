//! What L1 keeps per key.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

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
    /// Hits since the eviction policy's clock hand last passed (see [`Access`]).
    pub(crate) access: Access,
    /// Tells this entry apart from an earlier one of the same key (the policy's handles).
    pub(crate) id: u32,
    /// The entry's weight against the cache's `l1_max_weight`.
    pub(crate) weight: u32,
}

/// What the eviction policy knows of an entry's use: hits since the clock hand last passed
/// (low 4 bits, saturating at 15) and credit, passes it survives without a hit (bits 4-5, up to
/// 3, earned by a second hit between two passes). A hit writes the byte only when it changes,
/// so a hot entry's hits are plain loads once it saturates.
#[derive(Default)]
pub(crate) struct Access(AtomicU8);

const HITS: u8 = 0x0F;
const CREDIT_ONE: u8 = 0x10;
const MAX_CREDIT: u8 = 3;

impl Access {
    /// Records a hit.
    #[inline]
    pub(crate) fn hit(&self) {
        let old = self.0.load(Ordering::Relaxed);
        let hits = old & HITS;
        let credit = old >> 4;
        let mut new = old;
        if hits < HITS {
            new += 1;
        }
        if hits >= 1 && credit < MAX_CREDIT {
            new += CREDIT_ONE;
        }
        if new != old {
            self.0.store(new, Ordering::Relaxed);
        }
    }

    /// A copy, for the entry that replaces this one.
    pub(crate) fn carry(&self) -> Access {
        Access(AtomicU8::new(self.0.load(Ordering::Relaxed)))
    }

    /// The clock hand passes: returns the hits since its last pass and whether the entry had
    /// credit, clears the hits and spends one credit.
    pub(crate) fn sweep(&self) -> (u8, bool) {
        let old = self.0.load(Ordering::Relaxed);
        let credit = old >> 4;
        self.0
            .store(credit.saturating_sub(1) << 4, Ordering::Relaxed);
        (old & HITS, credit > 0)
    }
}

/// Validity stamps taken when a load starts.
pub(crate) struct Stamps {
    pub(crate) epoch: u64,
    pub(crate) tags: Box<[TagStamp]>,
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

    /// Dead: expired past its stale window, or invalidated; the policy evicts it first.
    #[inline]
    pub(crate) fn is_dead(&self, now: u64, epoch: u64) -> bool {
        now >= self.stale_until || !self.is_valid(epoch)
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
