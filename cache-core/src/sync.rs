//! The primitives the hand-written shard lock (`store/shard_lock.rs`) is built on, in one
//! place, so that its model test (`tests/shard_lock_model.rs`) compiles the very same lock
//! source against loom's checked versions of them. The API follows loom's: a cell hands out
//! pointer guards ([`UnsafeCell::get`], [`UnsafeCell::get_mut`]) that a checker can track for as
//! long as an access lasts.
#![allow(unsafe_code)]

pub(crate) use parking_lot::{Mutex, MutexGuard};
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, Ordering, fence};
pub(crate) use std::thread_local;

/// `std::cell::UnsafeCell` with loom's API.
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// A pointer for shared access.
    #[inline]
    pub(crate) fn get(&self) -> ConstPtr<T> {
        ConstPtr(self.0.get())
    }

    /// A pointer for exclusive access.
    #[inline]
    pub(crate) fn get_mut(&self) -> MutPtr<T> {
        MutPtr(self.0.get())
    }
}

/// A pointer to a cell's value for shared access.
pub(crate) struct ConstPtr<T>(*const T);

impl<T> ConstPtr<T> {
    /// # Safety
    /// No exclusive access to the value may overlap the returned borrow.
    #[inline]
    pub(crate) unsafe fn deref(&self) -> &T {
        // SAFETY: the caller's promise.
        unsafe { &*self.0 }
    }
}

/// A pointer to a cell's value for exclusive access.
pub(crate) struct MutPtr<T>(*mut T);

impl<T> MutPtr<T> {
    /// # Safety
    /// No other access to the value may overlap the returned borrow.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn deref(&self) -> &mut T {
        // SAFETY: the caller's promise.
        unsafe { &mut *self.0 }
    }
}

/// Waiting in a loop for another thread: spins, then yields.
pub(crate) struct Backoff(crossbeam_utils::Backoff);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self(crossbeam_utils::Backoff::new())
    }

    pub(crate) fn snooze(&self) {
        self.0.snooze();
    }
}
