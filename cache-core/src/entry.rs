//! What L1 keeps per key.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::tags::{TagStamp, all_current};

/// A cached value with its deadlines and validity stamps, packed (40 bytes with a `u64` value;
/// 80 at first, then 48), since every byte here is paid once per entry.
pub(crate) struct Entry<V> {
    pub(crate) value: V,
    /// Clock millisecond at which the entry stops being fresh.
    expires_at: u64,
    /// Generations of the entry's tags when the load started.
    tags: TagStamps,
    /// Tells this entry apart from an earlier one of the same key (the policy's handles).
    pub(crate) id: u32,
    /// The entry's weight against the cache's `l1_max_weight`.
    pub(crate) weight: u32,
    /// Milliseconds before `expires_at` from which a hit schedules a refresh
    /// ([`NO_REFRESH`]: never), as a [`Span`].
    refresh_before: Span,
    /// Milliseconds after `expires_at` during which the entry may be served when a reload
    /// fails, as a [`Span`].
    stale_after: Span,
    /// The load's epoch, the refresh claim and the policy's access bits (see [`StateWord`]).
    state: StateWord,
}

/// `refresh_before` of an entry that never refreshes.
const NO_REFRESH: Span = Span(u16::MAX);

/// A span of milliseconds in 16 bits: 11 bits of mantissa and a 5-bit shift, rounded down.
/// Exact up to 2,047 ms; beyond, short by less than 0.05%, which only makes a refresh later or
/// a stale window shorter; spans up to about 139 years.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Span(u16);

impl Span {
    const MANTISSA_BITS: u32 = 11;

    fn from_ms(ms: u64) -> Self {
        let significant = 64 - ms.leading_zeros();
        let shift = significant.saturating_sub(Self::MANTISSA_BITS);
        if shift > 31 {
            return Self(u16::MAX - 1);
        }
        let mantissa = (ms >> shift) as u16;
        Self(((shift as u16) << Self::MANTISSA_BITS) | mantissa).min(Self(u16::MAX - 1))
    }

    fn ms(self) -> u64 {
        let shift = u32::from(self.0 >> Self::MANTISSA_BITS);
        u64::from(self.0 & ((1 << Self::MANTISSA_BITS) - 1)) << shift
    }
}

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

/// One word for what an entry's readers share:
/// - bits 8-31: the cache's `clear` epoch when the load started (its low 24 bits; an entry
///   would have to survive 2^24 clears to be mistaken as current);
/// - bit 6: set by the hit that scheduled this entry's refresh, so at most one is scheduled;
/// - bits 0 and 4-5, what the eviction policy knows of the entry's use: whether it was hit
///   since the clock hand last passed (bit 0) and credit, passes it survives without a hit
///   (bits 4-5, up to 3, earned by each further hit between two passes).
///
/// A hit writes the word only when its access bits change, so a hot entry's hits are plain
/// loads once it has full credit (from its fourth hit between two passes); the write is a
/// compare-and-swap (dropped if it races), so it never clears a concurrent refresh claim.
struct StateWord(AtomicU32);

// The fields of a `StateWord` (see its doc).
const HIT: u32 = 0x01;
const CREDIT_ONE: u32 = 0x10;
const MAX_CREDIT: u32 = 3;
const ACCESS: u32 = HIT | (MAX_CREDIT * CREDIT_ONE);
const REFRESHING: u32 = 0x40;
const EPOCH_SHIFT: u32 = 8;

impl StateWord {
    /// The word of a new entry loaded at `epoch`, with the access bits `access`.
    fn new(epoch: u64, access: u32) -> Self {
        Self(AtomicU32::new(
            ((epoch as u32) << EPOCH_SHIFT) | (access & ACCESS),
        ))
    }

    #[inline]
    fn load(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    #[inline]
    fn epoch_matches(&self, epoch: u64) -> bool {
        (self.load() >> EPOCH_SHIFT) == ((epoch as u32) << EPOCH_SHIFT) >> EPOCH_SHIFT
    }

    #[inline]
    fn hit(&self) {
        let old = self.load();
        let credit = (old & ACCESS) >> 4;
        let mut new = old | HIT;
        if old & HIT != 0 && credit < MAX_CREDIT {
            new += CREDIT_ONE;
        }
        if new != old {
            let _ = self
                .0
                .compare_exchange(old, new, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    fn sweep(&self) -> (bool, bool) {
        let mut seen = 0;
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                seen = old;
                let credit = (old & ACCESS) >> 4;
                Some((old & !ACCESS) | (credit.saturating_sub(1) << 4))
            });
        (seen & HIT != 0, (seen & ACCESS) >> 4 > 0)
    }

    /// Sets the refresh claim; true if this call set it.
    fn claim_refresh(&self) -> bool {
        self.load() & REFRESHING == 0
            && self.0.fetch_or(REFRESHING, Ordering::AcqRel) & REFRESHING == 0
    }

    /// Clears the refresh claim.
    fn release_refresh(&self) {
        self.0.fetch_and(!REFRESHING, Ordering::Release);
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
            Some(at) => Span::from_ms(expires_at.saturating_sub(at)),
            None => NO_REFRESH,
        };
        Self {
            value,
            expires_at,
            tags: TagStamps::new(stamps.tags),
            id,
            weight,
            refresh_before,
            stale_after: Span::from_ms(deadlines.stale_until.saturating_sub(expires_at)),
            state: StateWord::new(stamps.epoch, 0),
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
        self.expires_at.saturating_add(self.stale_after.ms())
    }

    /// Not cleared and no tag invalidated since the load started.
    #[inline]
    pub(crate) fn is_valid(&self, epoch: u64) -> bool {
        self.state.epoch_matches(epoch) && self.tags.all_current()
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

    /// Records a hit for the eviction policy.
    #[inline]
    pub(crate) fn hit(&self) {
        self.state.hit();
    }

    /// The policy's clock hand passes: returns whether the entry was hit since its last pass
    /// and whether it had credit, clears the hit and spends one credit.
    pub(crate) fn sweep(&self) -> (bool, bool) {
        self.state.sweep()
    }

    /// Takes over the access history of the entry this one replaces.
    pub(crate) fn inherit_access(&mut self, replaced: &Entry<V>) {
        let epoch = self.state.load() >> EPOCH_SHIFT;
        self.state = StateWord::new(u64::from(epoch), replaced.state.load());
    }

    /// Claims the single refresh of this entry if its refresh point has passed.
    #[inline]
    pub(crate) fn claim_refresh(&self, now: u64) -> bool {
        if self.refresh_before == NO_REFRESH
            || now < self.expires_at.saturating_sub(self.refresh_before.ms())
        {
            return false;
        }
        self.state.claim_refresh()
    }

    /// Gives the refresh claim back (the refresh failed), so a later hit may try again.
    pub(crate) fn release_refresh(&self) {
        self.state.release_refresh();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YEAR_MS: u64 = 365 * 86_400_000;

    #[test]
    fn an_entry_of_a_u64_takes_40_bytes() {
        assert_eq!(std::mem::size_of::<Entry<u64>>(), 40);
    }

    #[test]
    fn spans_round_down_by_less_than_a_two_thousandth() {
        for ms in [0, 1, 2_047, 2_048, 5_000, 86_400_000, 1 << 40] {
            let kept = Span::from_ms(ms).ms();
            assert!(kept <= ms, "{ms} -> {kept}");
            assert!(ms - kept <= ms / 2_048, "{ms} -> {kept}");
        }
        assert_eq!(Span::from_ms(5_000).ms(), 5_000);
        // Longer than about 139 years: cut short, and never the "no refresh" mark.
        assert_ne!(Span::from_ms(u64::MAX), NO_REFRESH);
        assert!(Span::from_ms(u64::MAX).ms() > 100 * YEAR_MS);
        assert!(Span::from_ms(5_000) < Span::from_ms(5_100));
    }

    #[test]
    fn hits_and_sweeps_keep_the_epoch_and_the_refresh_claim() {
        let deadlines = Deadlines {
            expires_at: 10_000,
            refresh_at: Some(8_000),
            stale_until: 10_000,
        };
        let stamps = Stamps {
            epoch: (1 << 24) + 5,
            tags: Box::new([]),
        };
        let entry = Entry::new(1u64, &deadlines, stamps, 0, 8);
        assert!(entry.claim_refresh(9_000));
        for _ in 0..20 {
            entry.hit();
        }
        assert_eq!(entry.sweep(), (true, true));
        assert_eq!(
            entry.sweep(),
            (false, true),
            "credit is spent one pass at a time"
        );
        assert!(!entry.claim_refresh(9_000), "still claimed");
        assert!(entry.is_valid((1 << 24) + 5) && entry.is_valid(5));
        assert!(!entry.is_valid(6));
        entry.release_refresh();
        assert!(entry.claim_refresh(9_000));

        // A replacement keeps the access history, not the refresh claim or the old epoch.
        entry.hit();
        entry.hit();
        let stamps = Stamps {
            epoch: 6,
            tags: Box::new([]),
        };
        let mut replacement = Entry::new(2u64, &deadlines, stamps, 1, 8);
        replacement.inherit_access(&entry);
        assert!(replacement.is_valid(6) && !replacement.is_valid(5));
        assert!(replacement.claim_refresh(9_000), "not claimed yet");
        assert_eq!(replacement.sweep(), (true, true));
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

        // A very long stale window is cut short, never extended.
        let long = Deadlines {
            expires_at: 10_000,
            refresh_at: None,
            stale_until: u64::MAX,
        };
        let entry = Entry::new(1u64, &long, stamps(), 0, 8);
        assert!(entry.stale_until() > 10_000 + 100 * YEAR_MS);
    }
}
