//! The locks of a store's shards: a read costs one locked instruction, a write waits for the
//! shard's readers.
//!
//! Each thread that owns one of the first [`thread_slot`]s has a reader lane of its own:
//! a count per shard that only it writes. Taking a read lock is a load and a sequentially
//! consistent store of that count (one `xchg` on x86), then a load of the shard's `writing`
//! flag; releasing it is a plain store. A writer raises the flag, then waits until every lane's
//! count for its shard is zero. The flag and the counts are each written by one side and read
//! by the other, both sequentially consistent, so at least one side sees the other (Dekker's
//! scheme): either the reader backs out, or the writer waits for it.
//!
//! Hand-written because the crates' reader-writer locks take two locked instructions per read
//! (one to lock, one to unlock). With this lock instead of crossbeam's `ShardedLock`, a
//! `hit_loop` call takes 0.86-0.92x the time (`BENCHMARKS.md`, "l1_hit and the shard lock").
//! The lanes are laid out lane-major, a thread's counts for all the shards packed in lines of
//! its own, which also took a store's lock memory from about 17 KiB to 3 KiB (16 shards, two
//! processors).
//!
//! There are two lanes per processor (8 to 64): enough for a runtime's worker threads, few
//! enough that a writer's look at every lane stays cheap. Threads without a lane of their own
//! share a count per shard, on a line of its own, changed with atomic read-modify-writes (two
//! locked instructions per read, as before). A writer waits for readers by spinning, then
//! yielding: a reader holds a shard only to compare keys and clone a value.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crossbeam_utils::{Backoff, CachePadded};
use parking_lot::{Mutex, MutexGuard};

use crate::thread_slot;

/// Reader lanes per processor (a writer checks every lane, so more lanes make writes slower).
const LANES_PER_CPU: usize = 2;
/// The fewest reader lanes.
const MIN_LANES: usize = 8;
/// The most reader lanes.
const MAX_LANES: usize = 64;
/// Reader counts per (128-byte) line of a lane.
const PER_LINE: usize = 32;

type Line = CachePadded<[AtomicU32; PER_LINE]>;

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

/// Shared access to one shard; released when dropped.
pub(super) struct ReadGuard<'a, T> {
    value: &'a T,
    count: &'a AtomicU32,
    /// Counted in the shared lane (atomic read-modify-write) rather than the thread's own.
    shared: bool,
    /// An own lane is written by its thread only: the guard is released where it was taken.
    _not_send: PhantomData<*const ()>,
}

/// Exclusive access to one shard; released when dropped.
pub(super) struct WriteGuard<'a, T> {
    shard: &'a Shard<T>,
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
    fn with_lanes(count: usize, own_lanes: usize, mut make: impl FnMut() -> T) -> Self {
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

    /// The own lane of the thread of slot `slot`, if it has one.
    #[inline]
    fn own_lane(&self, slot: Option<usize>) -> Option<usize> {
        slot.filter(|&lane| lane < self.own_lanes)
    }

    /// Shared access to value `index`. A thread may take it again while it holds it.
    #[inline]
    pub(super) fn read(&self, index: usize) -> ReadGuard<'_, T> {
        self.read_as(thread_slot::current(), index)
    }

    /// [`ShardLocks::read`] for a caller that already knows its [`thread_slot::current`].
    #[inline]
    pub(super) fn read_as(&self, slot: Option<usize>, index: usize) -> ReadGuard<'_, T> {
        let Some(lane) = self.own_lane(slot) else {
            return self.read_shared(index);
        };
        let shard = &self.shards[index];
        let count = self.count(lane, index);
        loop {
            // Only this thread writes its lane, so load-then-store is exact.
            let held = count.load(Ordering::Relaxed);
            count.store(held + 1, Ordering::SeqCst);
            // Already inside (held > 0): no writer can be, it waits for this count.
            if held > 0 || !shard.writing.load(Ordering::SeqCst) {
                return self.guard(index, count, false);
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
        loop {
            count.fetch_add(1, Ordering::SeqCst);
            if !shard.writing.load(Ordering::SeqCst) {
                return self.guard(index, count, true);
            }
            count.fetch_sub(1, Ordering::Release);
            shard.wait_for_writer();
        }
    }

    fn guard<'a>(&'a self, index: usize, count: &'a AtomicU32, shared: bool) -> ReadGuard<'a, T> {
        // SAFETY: counted as a reader while `writing` was down, so no writer holds the value
        // until this guard's count is given back (module doc).
        let value = unsafe { &*self.shards[index].value.get() };
        ReadGuard {
            value,
            count,
            shared,
            _not_send: PhantomData,
        }
    }

    /// Exclusive access to value `index`, once its readers are out.
    ///
    /// # Panics
    /// If this thread holds a read of the same value (it would wait for itself forever).
    pub(super) fn write(&self, index: usize) -> WriteGuard<'_, T> {
        if let Some(lane) = self.own_lane(thread_slot::current()) {
            assert!(
                self.count(lane, index).load(Ordering::Relaxed) == 0,
                "a thread reading an L1 shard asked to write it (a value's Clone calling \
                 back into the same cache?)"
            );
        }
        let shard = &self.shards[index];
        let writers = shard.writers.lock();
        shard.writing.store(true, Ordering::SeqCst);
        let own = (0..self.own_lanes).map(|lane| self.count(lane, index));
        for count in own.chain([&*shard.shared_readers]) {
            let backoff = Backoff::new();
            while count.load(Ordering::SeqCst) != 0 {
                backoff.snooze();
            }
        }
        WriteGuard {
            shard,
            _writers: writers,
        }
    }
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
        self.value
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.shared {
            self.count.fetch_sub(1, Ordering::Release);
        } else {
            // This thread's lane (the guard is not `Send`): a plain decrement.
            let held = self.count.load(Ordering::Relaxed);
            self.count.store(held - 1, Ordering::Release);
        }
    }
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: every reader is out and stays out while `writing` is up; writers are
        // ordered by the mutex this guard holds.
        unsafe { &*self.shard.value.get() }
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow of the guard.
        unsafe { &mut *self.shard.value.get() }
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        // Before the mutex (a field, dropped after this): the next writer raises it again.
        self.shard.writing.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use super::*;

    /// These tests count on threads having lanes of their own (or not): one at a time, so that
    /// one test's crowd of threads does not take the lanes of another's.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    const PATIENCE: Duration = Duration::from_secs(20);

    /// Runs `test` on its own thread and fails if it does not finish in time (a deadlock).
    fn within_patience(test: impl FnOnce() + Send + 'static) {
        let _alone = ONE_AT_A_TIME.lock();
        let (done, finished) = mpsc::channel();
        let runner = std::thread::spawn(move || {
            test();
            let _ = done.send(());
        });
        match finished.recv_timeout(PATIENCE) {
            Ok(()) => runner.join().expect("the test passed"),
            // The runner panicked: report its panic.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Err(panic) = runner.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("deadlocked: not done in {PATIENCE:?}"),
        }
    }

    /// Polls `condition` until it holds; panics after [`PATIENCE`].
    fn wait_until(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !condition() {
            assert!(Instant::now() < deadline, "waited too long for {what}");
            std::thread::yield_now();
        }
    }

    /// Readers check that the two halves of a pair are equal; writers change one half, yield,
    /// then change the other: a reader inside a write would see them differ.
    fn hammer(locks: &ShardLocks<(u64, u64)>, threads: usize, rounds: u64) -> usize {
        let ready = AtomicUsize::new(0);
        let shared = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let (ready, shared) = (&ready, &shared);
                scope.spawn(move || {
                    if locks.own_lane(thread_slot::current()).is_none() {
                        shared.fetch_add(1, Ordering::Relaxed);
                    }
                    // Every thread holds its slot before any starts: they compete for lanes.
                    ready.fetch_add(1, Ordering::AcqRel);
                    wait_until("every thread", || ready.load(Ordering::Acquire) == threads);
                    for round in 0..rounds {
                        if (round + thread as u64).is_multiple_of(4) {
                            let mut pair = locks.write(0);
                            pair.0 += 1;
                            std::thread::yield_now();
                            pair.1 += 1;
                        } else {
                            let pair = locks.read(0);
                            assert_eq!(pair.0, pair.1, "a reader saw a write half done");
                        }
                    }
                });
            }
        });
        shared.load(Ordering::Relaxed)
    }

    fn writes(threads: usize, rounds: u64) -> u64 {
        (0..threads as u64)
            .map(|thread| {
                (0..rounds)
                    .filter(|round| (round + thread).is_multiple_of(4))
                    .count() as u64
            })
            .sum()
    }

    #[test]
    fn writers_and_readers_never_overlap() {
        within_patience(|| {
            let locks = ShardLocks::with_lanes(2, MAX_LANES, || (0, 0));
            hammer(&locks, 4, 20_000);
            assert_eq!(*locks.read(0), (writes(4, 20_000), writes(4, 20_000)));
            assert_eq!(*locks.read(1), (0, 0), "the other shard is untouched");
        });
    }

    #[test]
    fn threads_sharing_a_lane_are_kept_apart_too() {
        within_patience(|| {
            let locks = ShardLocks::with_lanes(1, 4, || (0, 0));
            let threads = locks.own_lanes + 24;
            let shared = hammer(&locks, threads, 2_000);
            assert!(shared >= 24, "only {shared} threads shared the lane");
            assert_eq!(
                *locks.read(0),
                (writes(threads, 2_000), writes(threads, 2_000))
            );
        });
    }

    #[test]
    fn a_reader_reads_again_while_a_writer_waits_for_it() {
        within_patience(|| {
            let locks = ShardLocks::with_lanes(1, MAX_LANES, || 0u64);
            let (holding, held) = mpsc::channel();
            std::thread::scope(|scope| {
                let locks = &locks;
                scope.spawn(move || {
                    assert!(
                        locks.own_lane(thread_slot::current()).is_some(),
                        "this test needs its own lane"
                    );
                    let outer = locks.read(0);
                    holding.send(()).expect("the writer listens");
                    wait_until("the writer", || {
                        locks.shards[0].writing.load(Ordering::SeqCst)
                    });
                    let inner = locks.read(0);
                    assert_eq!((*outer, *inner), (0, 0), "the writer is still waiting");
                });
                held.recv_timeout(PATIENCE)
                    .expect("the reader holds the lock");
                *locks.write(0) += 1;
            });
            assert_eq!(*locks.read(0), 1);
        });
    }

    #[test]
    fn a_panic_under_a_guard_releases_it() {
        within_patience(|| {
            let locks = ShardLocks::new(1, || 0u64);
            let reading = catch_unwind(AssertUnwindSafe(|| {
                let _value = locks.read(0);
                panic!("while reading");
            }));
            let writing = catch_unwind(AssertUnwindSafe(|| {
                *locks.write(0) += 1;
                let _value = locks.write(0);
                panic!("while writing");
            }));
            assert!(reading.is_err() && writing.is_err());
            // Neither guard is left held: another thread writes, then reads.
            std::thread::scope(|scope| {
                scope.spawn(|| *locks.write(0) += 1);
            });
            assert_eq!(*locks.read(0), 2);
        });
    }

    #[test]
    fn writing_a_shard_this_thread_reads_panics_instead_of_hanging() {
        within_patience(|| {
            let locks = ShardLocks::with_lanes(2, MAX_LANES, || 0u64);
            assert!(
                locks.own_lane(thread_slot::current()).is_some(),
                "this test needs its own lane"
            );
            let reading = locks.read(0);
            let writing = catch_unwind(AssertUnwindSafe(|| *locks.write(0) += 1));
            assert!(writing.is_err());
            *locks.write(1) += 1;
            drop(reading);
            *locks.write(0) += 1;
            assert_eq!((*locks.read(0), *locks.read(1)), (1, 1));
        });
    }
}
