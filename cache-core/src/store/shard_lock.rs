//! The locks of a store's shards: a read costs one locked instruction, a write waits for the
//! shard's readers.
//!
//! Each thread that owns one of the first [`thread_slot`]s has a reader lane of its own: a
//! count per shard that only it writes. Taking a read lock is a plain store of that count, a
//! sequentially consistent fence (one locked instruction on x86), then a load of the shard's
//! `writing` flag; releasing it is a plain store. A writer raises the flag, fences, then waits
//! until every lane's count for its shard is zero. Each side stores, fences, then loads what
//! the other side stores (Dekker's scheme): the fences are totally ordered, so at least one
//! side sees the other, and either the reader backs out or the writer waits for it. (The
//! handshake is written with fences rather than sequentially consistent stores and loads,
//! which compile to the same single locked instruction, because that is what the model
//! checker can verify; see below.)
//!
//! Hand-written because the crates' reader-writer locks take two locked instructions per read
//! (one to lock, one to unlock). With this lock instead of crossbeam's `ShardedLock`, a
//! `hit_loop` call takes 0.86-0.92x the time (`BENCHMARKS.md`, "l1_hit and the shard lock").
//! Building with `RUSTFLAGS="--cfg cache_core_crossbeam_lock"` swaps crossbeam's lock back
//! in (`crossbeam_shard_lock.rs`), so anyone can measure the difference again.
//!
//! The lanes are laid out lane-major, a thread's counts for all the shards packed in lines of
//! its own, which also took a store's lock memory from about 17 KiB to 3 KiB (16 shards, two
//! processors). There are two lanes per processor (8 to 64): enough for a runtime's worker
//! threads, few enough that a writer's look at every lane stays cheap. Threads without a lane
//! of their own share a count per shard, on a line of its own, changed with atomic
//! read-modify-writes. A writer waits for readers by spinning, then yielding: a reader holds a
//! shard only to compare keys and clone a value.
//!
//! # Reading a shard again
//!
//! A thread may read a shard it already reads, even while a writer waits for it: its count is
//! above zero, so no writer can be inside, and the second read goes in without looking at the
//! flag (else it would wait for the writer, which waits for it). A thread with a lane sees that
//! in its own count; a thread on the shared count keeps the shards it holds in a thread-local
//! list. Writing a shard the thread reads would wait forever: it panics instead.
//!
//! # Verification
//!
//! The lock reaches its primitives through `crate::sync` and its thread's slot through
//! `crate::thread_slot`. `tests/shard_lock_model.rs` compiles this file against loom's
//! versions of both and checks every interleaving of readers with and without lanes, writers
//! and re-entering readers; loom's cells also check that no read overlaps a write.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crossbeam_utils::CachePadded;

use crate::sync::{
    AtomicBool, AtomicU32, Backoff, ConstPtr, MutPtr, Mutex, MutexGuard, Ordering, UnsafeCell,
    fence, thread_local,
};
use crate::thread_slot::{self, ThreadSlot};

/// Reader lanes per processor (a writer checks every lane, so more lanes make writes slower).
const LANES_PER_CPU: usize = 2;
/// The fewest reader lanes.
const MIN_LANES: usize = 8;
/// The most reader lanes.
const MAX_LANES: usize = 64;
/// Reader counts per (128-byte) line of a lane.
const PER_LINE: usize = 32;

type Line = CachePadded<[AtomicU32; PER_LINE]>;

thread_local! {
    /// The shards this thread reads through the shared count (their addresses): a thread
    /// reading one of them again must not wait for a writer. Not a `const` initializer: the
    /// model test's `thread_local!` (loom's) takes none, and only lane-less threads use it.
    #[allow(clippy::missing_const_for_thread_local)]
    static SHARED_HELD: RefCell<Vec<usize>> = RefCell::new(Vec::new());
}

/// A fixed number of values, each behind its own lock.
pub(super) struct ShardLocks<T> {
    shards: Box<[Shard<T>]>,
    /// Readers inside each shard, per lane: lane `l`'s count of shard `s` is in line
    /// `l * lines_per_lane + s / PER_LINE`.
    readers: Box<[Line]>,
    lines_per_lane: usize,
    /// Threads whose [`thread_slot`] is below this have a lane of their own.
    own_lanes: usize,
}

struct Shard<T> {
    /// Readers inside the shard that have no lane of their own.
    shared_readers: CachePadded<AtomicU32>,
    /// A writer holds the shard or waits for its readers: readers not yet inside stay out.
    writing: AtomicBool,
    /// Orders writers; a reader that finds `writing` raised waits here.
    writers: Mutex<()>,
    value: UnsafeCell<T>,
}

// SAFETY: as for `RwLock`: readers on several threads share `&T` (so `T: Sync`), writers on
// any thread get `&mut T` (so `T: Send`); the lock keeps them apart (module doc).
unsafe impl<T: Send + Sync> Sync for ShardLocks<T> {}

/// How a read is counted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// In the thread's own lane: plain stores.
    Own,
    /// In the shard's shared count (atomic read-modify-writes), listed in [`SHARED_HELD`].
    Shared,
}

/// Shared access to one shard; released when dropped.
pub(super) struct ReadGuard<'a, T> {
    /// Dropped first: the access ends before the count is given back.
    value: ConstPtr<T>,
    _reader: Reader<'a, T>,
}

/// A counted reader of a shard; gives its count back when dropped.
struct Reader<'a, T> {
    shard: &'a Shard<T>,
    count: &'a AtomicU32,
    lane: Lane,
    /// An own lane is written by its thread only: the reader is released where it was taken.
    _not_send: PhantomData<*const ()>,
}

/// Exclusive access to one shard; released when dropped.
pub(super) struct WriteGuard<'a, T> {
    /// Dropped first: the access ends before readers are let in.
    value: MutPtr<T>,
    _writer: Writer<'a, T>,
}

/// The writer of a shard; lowers its flag, then lets the next writer in, when dropped.
struct Writer<'a, T> {
    shard: &'a Shard<T>,
    /// Dropped after [`Writer::drop`] lowered the flag.
    _writers: MutexGuard<'a, ()>,
}

impl<T> ShardLocks<T> {
    /// `count` values made by `make`.
    pub(super) fn new(count: usize, make: impl FnMut() -> T) -> Self {
        let cpus = std::thread::available_parallelism().map_or(MIN_LANES, usize::from);
        Self::with_lanes(
            count,
            (cpus * LANES_PER_CPU).clamp(MIN_LANES, MAX_LANES),
            make,
        )
    }

    /// `count` values made by `make`, with `own_lanes` reader lanes.
    pub(super) fn with_lanes(count: usize, own_lanes: usize, mut make: impl FnMut() -> T) -> Self {
        let lines_per_lane = count.div_ceil(PER_LINE).max(1);
        Self {
            shards: (0..count)
                .map(|_| Shard {
                    shared_readers: CachePadded::new(AtomicU32::new(0)),
                    writing: AtomicBool::new(false),
                    writers: Mutex::new(()),
                    value: UnsafeCell::new(make()),
                })
                .collect(),
            readers: (0..own_lanes * lines_per_lane)
                .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU32::new(0))))
                .collect(),
            lines_per_lane,
            own_lanes,
        }
    }

    /// How many values there are.
    pub(super) fn len(&self) -> usize {
        self.shards.len()
    }

    fn count(&self, lane: usize, index: usize) -> &AtomicU32 {
        &self.readers[lane * self.lines_per_lane + index / PER_LINE][index % PER_LINE]
    }

    /// The own lane of the thread of `slot`, if it has one.
    #[inline]
    pub(super) fn own_lane(&self, slot: ThreadSlot) -> Option<usize> {
        slot.index().filter(|&lane| lane < self.own_lanes)
    }

    /// Whether a writer holds value `index` or waits for its readers.
    #[cfg(test)]
    pub(super) fn writer_waiting(&self, index: usize) -> bool {
        self.shards[index].writing.load(Ordering::SeqCst)
    }

    /// Shared access to value `index`. A thread may take it again while it holds it.
    #[inline]
    pub(super) fn read(&self, index: usize) -> ReadGuard<'_, T> {
        self.read_as(thread_slot::current(), index)
    }

    /// [`ShardLocks::read`] for a caller that already has its [`thread_slot::current`].
    #[inline]
    pub(super) fn read_as(&self, slot: ThreadSlot, index: usize) -> ReadGuard<'_, T> {
        let Some(lane) = self.own_lane(slot) else {
            return self.read_shared(index);
        };
        let shard = &self.shards[index];
        let count = self.count(lane, index);
        loop {
            // Only this thread writes its lane, so load-then-store is exact.
            let held = count.load(Ordering::Relaxed);
            count.store(held + 1, Ordering::Relaxed);
            // Already inside (held > 0): no writer can be, it waits for this count.
            if held > 0 {
                return self.guard(shard, count, Lane::Own);
            }
            fence(Ordering::SeqCst);
            if !shard.writing.load(Ordering::Acquire) {
                return self.guard(shard, count, Lane::Own);
            }
            count.store(held, Ordering::Release);
            shard.wait_for_writer();
        }
    }

    /// [`ShardLocks::read`] for a thread without a lane of its own.
    #[cold]
    fn read_shared(&self, index: usize) -> ReadGuard<'_, T> {
        let shard = &self.shards[index];
        let count = &*shard.shared_readers;
        if shared_held(shard) {
            // This thread's earlier read keeps writers out (module doc, "Reading a shard
            // again").
            count.fetch_add(1, Ordering::Relaxed);
            return self.guard(shard, count, Lane::Shared);
        }
        loop {
            count.fetch_add(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if !shard.writing.load(Ordering::Acquire) {
                return self.guard(shard, count, Lane::Shared);
            }
            count.fetch_sub(1, Ordering::Release);
            shard.wait_for_writer();
        }
    }

    fn guard<'a>(
        &'a self,
        shard: &'a Shard<T>,
        count: &'a AtomicU32,
        lane: Lane,
    ) -> ReadGuard<'a, T> {
        if lane == Lane::Shared {
            // Unavailable only while the thread exits: its later reads just do not re-enter.
            let _ = SHARED_HELD.try_with(|held| held.borrow_mut().push(address(shard)));
        }
        ReadGuard {
            // Counted as a reader while `writing` was down, so no writer holds the value until
            // this guard's count is given back (module doc).
            value: shard.value.get(),
            _reader: Reader {
                shard,
                count,
                lane,
                _not_send: PhantomData,
            },
        }
    }

    /// Exclusive access to value `index`, once its readers are out.
    ///
    /// # Panics
    /// If this thread holds a read of the same value (it would wait for itself forever).
    pub(super) fn write(&self, index: usize) -> WriteGuard<'_, T> {
        let shard = &self.shards[index];
        let reading = match self.own_lane(thread_slot::current()) {
            Some(lane) => self.count(lane, index).load(Ordering::Relaxed) > 0,
            None => shared_held(shard),
        };
        assert!(
            !reading,
            "a thread reading an L1 shard asked to write it (a value's Clone calling back into \
             the same cache?)"
        );
        let writers = shard.writers.lock();
        shard.writing.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let own = (0..self.own_lanes).map(|lane| self.count(lane, index));
        for count in own.chain([&*shard.shared_readers]) {
            let backoff = Backoff::new();
            while count.load(Ordering::Acquire) != 0 {
                backoff.snooze();
            }
        }
        WriteGuard {
            value: shard.value.get_mut(),
            _writer: Writer {
                shard,
                _writers: writers,
            },
        }
    }
}

/// A shard's identity in [`SHARED_HELD`].
fn address<T>(shard: &Shard<T>) -> usize {
    std::ptr::from_ref(shard) as usize
}

/// Whether this thread reads `shard` through the shared count.
fn shared_held<T>(shard: &Shard<T>) -> bool {
    SHARED_HELD
        .try_with(|held| held.borrow().contains(&address(shard)))
        .unwrap_or(false)
}

impl<T> Shard<T> {
    /// Blocks until the current writer (if any) is done.
    fn wait_for_writer(&self) {
        drop(self.writers.lock());
    }
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: no writer holds the value while this guard is counted (module doc).
        unsafe { self.value.deref() }
    }
}

impl<T> Drop for Reader<'_, T> {
    #[inline]
    fn drop(&mut self) {
        match self.lane {
            Lane::Own => {
                // This thread's lane (the reader is not `Send`): a plain decrement.
                let held = self.count.load(Ordering::Relaxed);
                self.count.store(held - 1, Ordering::Release);
            }
            Lane::Shared => {
                let shard = address(self.shard);
                let _ = SHARED_HELD.try_with(|held| {
                    let mut held = held.borrow_mut();
                    if let Some(at) = held.iter().rposition(|&held| held == shard) {
                        held.swap_remove(at);
                    }
                });
                self.count.fetch_sub(1, Ordering::Release);
            }
        }
    }
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: every reader is out and stays out while `writing` is up; writers are
        // ordered by the mutex this guard holds.
        unsafe { self.value.deref() }
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow of the guard.
        unsafe { self.value.deref() }
    }
}

impl<T> Drop for Writer<'_, T> {
    fn drop(&mut self) {
        // Before the mutex (a field, dropped after this): the next writer raises it again.
        self.shard.writing.store(false, Ordering::Release);
    }
}
