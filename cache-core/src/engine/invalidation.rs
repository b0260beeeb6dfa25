//! Invalidation (by key, Redis glob pattern, tag, or all): in L2 first, which tells every other
//! process through the backplane, then in this process's L1.
//!
//! # Read-your-writes
//!
//! Once an invalidation has been applied here (it was made here, or came from another
//! process), no call that starts afterwards receives the result of a load that began before
//! it: the invalidation *detaches* the flights it covers (`flight.rs`, module doc), so later
//! calls start loads of their own, and the detached load's value goes to its own caller only.
//! Keys and patterns detach the flights of the keys they name, tags the flights started with
//! one of those tags, `clear` every flight. A flight whose value brings tags it was not
//! started with (a value found in L1 or L2) is not handed to waiters if any tag invalidation
//! or `clear` ran since it started (`L1::unchanged_since`).
//!
//! # No stale resurrection
//!
//! An invalidation that completes while a load of an affected key is in flight must keep that
//! load's result out of L1 and L2 (its caller still receives it). Three mechanisms do it:
//! - **Detached flights are not stored**: the leader skips its write-through when its flight
//!   was invalidated, and L1's insert re-checks that under the shard's write lock and the lock
//!   of the key text's index (`Store::insert`), so an invalidation either removes the new
//!   entry or is seen by the insert.
//! - **Tags and `clear` also use stamps** (`l1.rs`): a load records the `clear` epoch and its
//!   tags' generations before the loader runs (`L1::stamps`); an entry with an older stamp is
//!   invisible, whenever it was inserted. A value read from L2, whose tags are known only after
//!   the read, is not put in L1 if any tag invalidation ran during the read
//!   (`L1::fill_from_l2`).
//! - **In L2**, the write-through happens before the flight completes and the invalidation
//!   removes or hides what is there (`cache-redis`: tag generations, `UNLINK`). Another
//!   process's load of the key that read L2 before an invalidation by key and writes through
//!   after it is refused by L2 (`ReadMark`, `WriteCondition`: `cache-redis` keeps an
//!   invalidation marker in place of the value), even when the backplane message reaches that
//!   process too late to detach its flight; for tags, `cache-redis` writes the entry as of the
//!   generation the read saw, so a tag invalidated since hides it. Patterns and `clear` racing
//!   another process's load are covered by the backplane's detaching only.

use crate::l2::Invalidation;
use crate::stats::bump;

use super::Inner;
use super::mode::CallMode;

impl Inner {
    /// Applies an invalidation to this process's L1 (local, or from another process).
    pub(crate) fn invalidate_local(&self, invalidation: &Invalidation) {
        bump(&self.counters.invalidations);
        self.counters.count_invalidation(invalidation);
        match invalidation {
            Invalidation::Keys(keys) => keys.iter().for_each(|key| self.l1.invalidate_key(key)),
            Invalidation::Pattern(pattern) => self.l1.invalidate_pattern(pattern),
            Invalidation::Tags(tags) => self.l1.invalidate_tags(tags),
            Invalidation::Clear => self.l1.clear(),
        }
        // A write or an invalidation of a key another process was loading for the fleet:
        // whoever waits for it reads L2 again now (the value, or a voided lease to take).
        match invalidation {
            Invalidation::Keys(keys) => keys.iter().for_each(|key| self.fleet.wake(key)),
            Invalidation::Pattern(pattern) => {
                self.fleet
                    .wake_matching(&|key| crate::glob::glob_matches(pattern, key));
            }
            Invalidation::Clear => self.fleet.wake_matching(&|_| true),
            // A tag invalidation voids no lease: the holder's value lands hidden by its tags
            // and its write wakes the waiters, who then load.
            Invalidation::Tags(_) => {}
        }
    }

    /// Invalidates in L2 (which tells other processes), then locally.
    pub(crate) async fn invalidate<M: CallMode>(&self, invalidation: Invalidation) {
        self.l2.invalidate::<M>(&self.counters, &invalidation).await;
        self.invalidate_local(&invalidation);
    }
}
