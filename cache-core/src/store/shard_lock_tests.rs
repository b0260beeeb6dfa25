//! Tests of the shard locks on OS threads (their model test, with every interleaving of a few
//! threads, is `tests/shard_lock_model.rs`).
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::shard_lock::ShardLocks;
use crate::thread_slot;

/// These tests count on threads having lanes of their own (or not): one at a time, so that
/// one test's crowd of threads does not take the lanes of another's.
static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

const PATIENCE: Duration = Duration::from_secs(20);

/// Enough lanes for every thread of a test.
const ALL_LANES: usize = 64;

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
        let locks = ShardLocks::with_lanes(2, ALL_LANES, || (0, 0));
        hammer(&locks, 4, 20_000);
        assert_eq!(*locks.read(0), (writes(4, 20_000), writes(4, 20_000)));
        assert_eq!(*locks.read(1), (0, 0), "the other shard is untouched");
    });
}

#[test]
fn threads_sharing_a_lane_are_kept_apart_too() {
    within_patience(|| {
        let locks = ShardLocks::with_lanes(1, 4, || (0, 0));
        let threads = 4 + 24;
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
        let locks = ShardLocks::with_lanes(1, ALL_LANES, || 0u64);
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
                wait_until("the writer", || locks.writer_waiting(0));
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
        let locks = ShardLocks::with_lanes(2, ALL_LANES, || 0u64);
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

#[test]
fn a_thread_without_a_lane_reads_again_while_a_writer_waits_for_it() {
    within_patience(|| {
        let locks = ShardLocks::with_lanes(1, 0, || 0u64);
        let (holding, held) = mpsc::channel();
        std::thread::scope(|scope| {
            let locks = &locks;
            scope.spawn(move || {
                let outer = locks.read(0);
                holding.send(()).expect("the writer listens");
                wait_until("the writer", || locks.writer_waiting(0));
                // On the shared count: without the thread's list of held shards this read
                // would wait for the writer, which waits for the outer read.
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
fn a_thread_without_a_lane_writing_a_shard_it_reads_panics_instead_of_hanging() {
    within_patience(|| {
        let locks = ShardLocks::with_lanes(2, 0, || 0u64);
        let reading = locks.read(0);
        let writing = catch_unwind(AssertUnwindSafe(|| *locks.write(0) += 1));
        assert!(writing.is_err());
        *locks.write(1) += 1;
        drop(reading);
        *locks.write(0) += 1;
        assert_eq!((*locks.read(0), *locks.read(1)), (1, 1));
    });
}
