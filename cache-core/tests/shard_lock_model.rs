//! The model test of L1's hand-written shard lock: `src/store/shard_lock.rs`, compiled here
//! against loom's versions of its primitives (`sync` below) and a thread-slot stand-in whose
//! lanes each test assigns, so that loom runs every interleaving of a few threads (bounded
//! preemptions) and checks, through its tracked cells, that no read ever overlaps a write.
//!
//! Loom models sequentially consistent accesses as weaker than the memory model does, so the
//! lock's handshake is written with `fence(SeqCst)`, which loom models exactly.

/// loom's primitives, with the API of `cache_core`'s `sync` module.
mod sync {
    pub(crate) use loom::cell::{ConstPtr, MutPtr, UnsafeCell};
    pub(crate) use loom::sync::MutexGuard;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering, fence};
    pub(crate) use loom::thread_local;

    /// `parking_lot`'s mutex API over loom's mutex.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }

    /// A spin wait is a yield to loom's scheduler (else a spinning thread never ends).
    pub(crate) struct Backoff;

    impl Backoff {
        pub(crate) fn new() -> Self {
            Backoff
        }

        pub(crate) fn snooze(&self) {
            loom::thread::yield_now();
        }
    }
}

/// The thread-slot tokens, with each test thread's slot set by the test.
mod thread_slot {
    use std::cell::Cell;
    use std::marker::PhantomData;

    loom::thread_local! {
        static SLOT: Cell<Option<usize>> = Cell::new(None);
    }

    #[derive(Clone, Copy)]
    pub(crate) struct ThreadSlot {
        index: Option<usize>,
        _this_thread: PhantomData<*const ()>,
    }

    impl ThreadSlot {
        pub(crate) fn index(self) -> Option<usize> {
            self.index
        }
    }

    pub(crate) fn current() -> ThreadSlot {
        ThreadSlot {
            index: SLOT.with(Cell::get),
            _this_thread: PhantomData,
        }
    }

    /// Gives the calling thread slot `slot` (`None`: no slot, so no lane of its own).
    pub(crate) fn assign(slot: Option<usize>) {
        SLOT.with(|cell| cell.set(slot));
    }
}

#[allow(dead_code, unreachable_pub)]
#[path = "../src/store/shard_lock.rs"]
mod shard_lock;

use loom::sync::Arc;
use loom::thread;
use shard_lock::ShardLocks;

/// Runs `model` under loom with a bound on preemptions that keeps each test to seconds.
fn check(model: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(model);
}

/// A value whose halves a writer changes one after the other: a reader inside a write would
/// see them differ (and loom would see the overlapping accesses to the cell first).
type Pair = (u32, u32);

fn read_pair(locks: &ShardLocks<Pair>) -> Pair {
    let pair = *locks.read(0);
    assert_eq!(pair.0, pair.1, "a reader saw a write half done");
    pair
}

fn write_pair(locks: &ShardLocks<Pair>) {
    let mut pair = locks.write(0);
    pair.0 += 1;
    thread::yield_now();
    pair.1 += 1;
}

/// One writer and one reader with the given slot (lanes: slot 0 only), the reader's view
/// before or after the write, never during it.
fn one_reader_one_writer(reader_slot: Option<usize>) {
    check(move || {
        let locks = Arc::new(ShardLocks::with_lanes(1, 1, || (0, 0)));
        let writer = {
            let locks = Arc::clone(&locks);
            thread::spawn(move || {
                thread_slot::assign(None);
                write_pair(&locks);
            })
        };
        thread_slot::assign(reader_slot);
        let seen = read_pair(&locks);
        assert!(seen == (0, 0) || seen == (1, 1));
        writer.join().unwrap();
        assert_eq!(read_pair(&locks), (1, 1));
    });
}

#[test]
fn a_reader_with_a_lane_and_a_writer_never_overlap() {
    one_reader_one_writer(Some(0));
}

#[test]
fn a_reader_without_a_lane_and_a_writer_never_overlap() {
    one_reader_one_writer(None);
}

#[test]
fn readers_with_and_without_lanes_and_a_writer_never_overlap() {
    check(|| {
        let locks = Arc::new(ShardLocks::with_lanes(1, 1, || (0, 0)));
        let readers: Vec<_> = [Some(0), Some(1)]
            .into_iter()
            .map(|slot| {
                let locks = Arc::clone(&locks);
                thread::spawn(move || {
                    // Slot 1 is past the lanes: that reader uses the shared count.
                    thread_slot::assign(slot);
                    read_pair(&locks);
                })
            })
            .collect();
        thread_slot::assign(None);
        write_pair(&locks);
        for reader in readers {
            reader.join().unwrap();
        }
    });
}

#[test]
fn two_writers_are_ordered() {
    check(|| {
        let locks = Arc::new(ShardLocks::with_lanes(1, 1, || (0, 0)));
        let other = {
            let locks = Arc::clone(&locks);
            thread::spawn(move || {
                thread_slot::assign(Some(0));
                write_pair(&locks);
            })
        };
        thread_slot::assign(None);
        write_pair(&locks);
        other.join().unwrap();
        assert_eq!(read_pair(&locks), (2, 2));
    });
}

/// A reader reads the shard again while holding it, with a writer racing it: the second
/// read must not wait for the writer (which waits for the first), on either kind of lane.
fn reentering_reader(reader_slot: Option<usize>) {
    check(move || {
        let locks = Arc::new(ShardLocks::with_lanes(1, 1, || (0, 0)));
        let writer = {
            let locks = Arc::clone(&locks);
            thread::spawn(move || {
                thread_slot::assign(None);
                write_pair(&locks);
            })
        };
        thread_slot::assign(reader_slot);
        {
            let outer = locks.read(0);
            let inner = read_pair(&locks);
            assert_eq!(*outer, inner);
        }
        writer.join().unwrap();
    });
}

#[test]
fn a_reader_with_a_lane_reads_again_while_a_writer_waits() {
    reentering_reader(Some(0));
}

#[test]
fn a_reader_without_a_lane_reads_again_while_a_writer_waits() {
    reentering_reader(None);
}
