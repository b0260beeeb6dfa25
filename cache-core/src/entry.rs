//! What L1 keeps per key.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::tags::{TagStamp, all_current};

/// A cached value with its deadlines and validity stamps, packed (48 bytes with a `u64` value,
/// 80 before), since every byte here is paid once per entry.
pub(crate) struct Entry<V> {
    pub(crate) value: V,
    /// Clock millisecond at which the entry stops being fresh.
    expires_at: u64,
    /// Milliseconds before `expires_at` from which a hit schedules a refresh
    /// ([`NO_REFRESH`]: never). Saturates at about 49 days, which only makes a refresh later.
    refresh_before: u32,
    /// Milliseconds after `expires_at` during which the entry may be served when a reload
    /// fails. Saturates at about 49 days, which only makes the window shorter.
    stale_after: u32,
    /// The cache's `clear` epoch when the load started (its low 32 bits).
    epoch: u32,
    /// Tells this entry apart from an earlier one of the same key (the policy's handles).
    pub(crate) id: u32,
    /// The entry's weight against the cache's `l1_max_weight`.
    pub(crate) weight: u32,
    /// Generations of the entry's tags when the load started.
    tags: TagStamps,
    /// Set by the hit that scheduled this entry's refresh, so at most one is scheduled.
    refreshing: AtomicBool,
    /// Hits since the eviction policy's clock hand last passed (see [`Access`]).
    pub(crate) access: Access,
}

/// `refresh_before` of an entry that never refreshes.
const NO_REFRESH: u32 = u32::MAX;

/// When an entry stops being fresh, starts refreshing, and stops being servable as stale.
pub(crate) struct Deadlines {
    pub(crate) expires_at: u64,
    /// `None`: never refreshed ahead.
    pub(crate) refresh_at: Option<u64>,
    pub(crate) stale_until: u64,
}

/// Tag stamps behind one thin pointer (most entries have none: no allocation, 8 bytes).
struct TagStamps(Option<Box<Box<[TagStamp]>>>);

impl TagStamps {
    fn new(stamps: Box<[TagStamp]>) -> Self {
        Self((!stamps.is_empty()).then(|| Box::new(stamps)))
    }

    #[inline]
    fn all_current(&self) -> bool {
        self.0.as_deref().is_none_or(|stamps| all_current(stamps))
    }
}

fn saturating_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
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
    /// A new entry.
    pub(crate) fn new(
        value: V,
        deadlines: &Deadlines,
        stamps: Stamps,
        id: u32,
        weight: u32,
    ) -> Self {
        let expires_at = deadlines.expires_at;
        let refresh_before = match deadlines.refresh_at {
            Some(at) => saturating_u32(expires_at.saturating_sub(at)).min(NO_REFRESH - 1),
            None => NO_REFRESH,
        };
        Self {
            value,
            expires_at,
            refresh_before,
            stale_after: saturating_u32(deadlines.stale_until.saturating_sub(expires_at)),
            epoch: stamps.epoch as u32,
            id,
            weight,
            tags: TagStamps::new(stamps.tags),
            refreshing: AtomicBool::new(false),
            access: Access::default(),
        }
    }

    /// Clock millisecond at which the entry stops being fresh.
    pub(crate) fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// How many tags the entry carries.
    pub(crate) fn tag_count(&self) -> usize {
        self.tags.0.as_deref().map_or(0, |stamps| stamps.len())
    }

    /// Clock millisecond until which the entry may be served when a reload fails.
    #[inline]
    pub(crate) fn stale_until(&self) -> u64 {
        self.expires_at.saturating_add(u64::from(self.stale_after))
    }

    /// Not cleared and no tag invalidated since the load started.
    #[inline]
    pub(crate) fn is_valid(&self, epoch: u64) -> bool {
        self.epoch == epoch as u32 && self.tags.all_current()
    }

    /// Valid and not expired.
    #[inline]
    pub(crate) fn is_fresh(&self, now: u64, epoch: u64) -> bool {
        now < self.expires_at && self.is_valid(epoch)
    }

    /// Dead: expired past its stale window, or invalidated; the policy evicts it first.
    #[inline]
    pub(crate) fn is_dead(&self, now: u64, epoch: u64) -> bool {
        now >= self.stale_until() || !self.is_valid(epoch)
    }

    /// Claims the single refresh of this entry if its refresh point has passed.
    #[inline]
    pub(crate) fn claim_refresh(&self, now: u64) -> bool {
        self.refresh_before != NO_REFRESH
            && now
                >= self
                    .expires_at
                    .saturating_sub(u64::from(self.refresh_before))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_of_a_u64_takes_48_bytes() {
        assert_eq!(std::mem::size_of::<Entry<u64>>(), 48);
    }

    #[test]
    fn deadlines_round_trip_and_saturate_safely() {
        let stamps = || Stamps {
            epoch: 3,
            tags: Box::new([]),
        };
        let deadlines = Deadlines {
            expires_at: 10_000,
            refresh_at: Some(8_000),
            stale_until: 15_000,
        };
        let entry = Entry::new(1u64, &deadlines, stamps(), 0, 8);
        assert_eq!(entry.stale_until(), 15_000);
        assert!(!entry.claim_refresh(7_999));
        assert!(entry.claim_refresh(8_000));
        assert!(entry.is_fresh(9_999, 3) && !entry.is_fresh(10_000, 3));
        assert!(!entry.is_valid(4), "another epoch");

        let never = Deadlines {
            expires_at: 10_000,
            refresh_at: None,
            stale_until: 10_000,
        };
        let entry = Entry::new(1u64, &never, stamps(), 0, 8);
        assert!(!entry.claim_refresh(u64::MAX - 1));
        assert!(entry.is_dead(10_000, 3));

        // A stale window longer than u32 milliseconds is cut short, never extended.
        let long = Deadlines {
            expires_at: 10_000,
            refresh_at: None,
            stale_until: u64::MAX,
        };
        let entry = Entry::new(1u64, &long, stamps(), 0, 8);
        assert_eq!(entry.stale_until(), 10_000 + u64::from(u32::MAX));
    }
}
