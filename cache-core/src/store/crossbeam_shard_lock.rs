//! crossbeam's `ShardedLock` behind the shard locks' interface: the lock the hand-written one
//! (`shard_lock.rs`) replaced, built in with `RUSTFLAGS="--cfg cache_core_crossbeam_lock"` to
//! measure one against the other (`hit_loop`, `l1_hit`).

use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};

use crate::thread_slot::ThreadSlot;

/// A fixed number of values, each behind its own `ShardedLock`.
pub(super) struct ShardLocks<T> {
    shards: Box<[ShardedLock<T>]>,
}

impl<T> ShardLocks<T> {
    /// `count` values made by `make`.
    pub(super) fn new(count: usize, mut make: impl FnMut() -> T) -> Self {
        Self {
            shards: (0..count).map(|_| ShardedLock::new(make())).collect(),
        }
    }

    /// How many values there are.
    pub(super) fn len(&self) -> usize {
        self.shards.len()
    }

    /// Shared access to value `index`.
    #[inline]
    pub(super) fn read(&self, index: usize) -> ShardedLockReadGuard<'_, T> {
        // A panic under a guard does not corrupt a table: take the value either way.
        self.shards[index]
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`ShardLocks::read`]; the slot is not needed.
    #[inline]
    pub(super) fn read_as(&self, _slot: ThreadSlot, index: usize) -> ShardedLockReadGuard<'_, T> {
        self.read(index)
    }

    /// Exclusive access to value `index`.
    pub(super) fn write(&self, index: usize) -> ShardedLockWriteGuard<'_, T> {
        self.shards[index]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
