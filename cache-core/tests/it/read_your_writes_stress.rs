//! Read-your-writes under stress: many more threads than cores read, write and invalidate 512
//! keys (by key and by tag) through a small L1, and every read is checked against the last
//! invalidation that completed before the read began.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::DbError;
use cache_core::{Cache, EntryOptions};

const KEYS: usize = 512;
/// Keys per tag group: a tag invalidation covers `KEYS / GROUPS` keys.
const GROUPS: usize = 32;
const WORKERS: usize = 64;
const ROUNDS: usize = 1_500;

/// The "database" and what invalidations have completed.
struct World {
    cache: Cache,
    /// The source's version of each key.
    versions: Vec<AtomicU64>,
    /// Per key: the version the last completed invalidation of it covered.
    completed: Vec<AtomicU64>,
    reads: AtomicUsize,
    stale_reads: AtomicUsize,
    /// The first stale reads: (key, floor, value seen, whether the caller's own loader ran).
    stale_samples: std::sync::Mutex<Vec<(usize, u64, u64, bool)>>,
}

impl World {
    fn new() -> Arc<Self> {
        let cache = Cache::builder().l1_max_capacity(200).build().unwrap();
        Arc::new(Self {
            cache,
            versions: (0..KEYS).map(|_| AtomicU64::new(0)).collect(),
            completed: (0..KEYS).map(|_| AtomicU64::new(0)).collect(),
            reads: AtomicUsize::new(0),
            stale_reads: AtomicUsize::new(0),
            stale_samples: std::sync::Mutex::default(),
        })
    }

    fn key(index: usize) -> String {
        format!("item:{index}")
    }

    fn group(index: usize) -> String {
        format!("group:{}", index % GROUPS)
    }

    fn options(index: usize) -> EntryOptions {
        EntryOptions::new()
            .tags([Self::group(index)])
            .ttl(Duration::from_secs(600))
    }

    /// The keys a tag invalidation of `index`'s group covers.
    fn group_members(index: usize) -> impl Iterator<Item = usize> {
        (index % GROUPS..KEYS).step_by(GROUPS)
    }

    /// Checks a read of `index` that returned `seen` against `floor`, the version covered by
    /// the last invalidation completed before the read began; `loaded`: the caller's own
    /// loader produced it.
    fn check(&self, index: usize, floor: u64, seen: u64, loaded: bool) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        if seen < floor {
            self.stale_reads.fetch_add(1, Ordering::Relaxed);
            let mut samples = self.stale_samples.lock().unwrap();
            if samples.len() < 8 {
                samples.push((index, floor, seen, loaded));
            }
        }
    }

    fn assert_no_stale_read(&self) {
        let (reads, stale) = (
            self.reads.load(Ordering::Relaxed),
            self.stale_reads.load(Ordering::Relaxed),
        );
        assert!(reads > WORKERS * ROUNDS / 2, "only {reads} reads ran");
        let samples = self.stale_samples.lock().unwrap();
        assert_eq!(
            stale, 0,
            "{stale} of {reads} reads returned a value older than an invalidation completed \
             before they began; (key, floor, seen, own load): {samples:?}"
        );
    }

    /// Bumps the source of the keys `write` covers, returning their new versions.
    fn bump(&self, indexes: impl Iterator<Item = usize>) -> Vec<(usize, u64)> {
        indexes
            .map(|index| {
                (
                    index,
                    self.versions[index].fetch_add(1, Ordering::SeqCst) + 1,
                )
            })
            .collect()
    }

    fn completed(&self, written: &[(usize, u64)]) {
        for &(index, version) in written {
            self.completed[index].fetch_max(version, Ordering::SeqCst);
        }
    }
}

/// What a worker does in a round.
enum Step {
    Read(usize),
    InvalidateKey(usize),
    InvalidateGroup(usize),
}

/// A worker's steps: mostly reads of a skewed key choice, one write in ten (a third of them by
/// tag).
fn steps(worker: usize) -> impl Iterator<Item = Step> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (worker as u64).wrapping_mul(0xA24B_AED4_963E_E407);
    (0..ROUNDS).map(move |_| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let draw = (state >> 33) as usize;
        // Half the reads go to 64 hot keys, so loads and invalidations meet.
        let index = if draw.is_multiple_of(2) {
            (draw >> 8) % 64
        } else {
            (draw >> 8) % KEYS
        };
        match draw % 30 {
            0 | 1 => Step::InvalidateKey(index),
            2 => Step::InvalidateGroup(index),
            _ => Step::Read(index),
        }
    })
}

/// A loader of `index` that reads the source as it runs, yielding first to widen the window
/// in which an invalidation can overtake it; it raises `ran` when it runs.
fn loader(
    world: &Arc<World>,
    index: usize,
    ran: &Arc<AtomicBool>,
) -> impl FnOnce() -> Result<u64, DbError> + Send + 'static {
    let (world, ran) = (Arc::clone(world), Arc::clone(ran));
    move || {
        ran.store(true, Ordering::SeqCst);
        let version = world.versions[index].load(Ordering::SeqCst);
        std::thread::yield_now();
        Ok(version)
    }
}

fn blocking_worker(world: &Arc<World>, worker: usize) {
    for step in steps(worker) {
        match step {
            Step::Read(index) => {
                let floor = world.completed[index].load(Ordering::SeqCst);
                let ran = Arc::new(AtomicBool::new(false));
                let seen = world
                    .cache
                    .get_or_load_blocking(
                        &World::key(index),
                        &World::options(index),
                        loader(world, index, &ran),
                    )
                    .unwrap();
                world.check(index, floor, seen, ran.load(Ordering::SeqCst));
            }
            Step::InvalidateKey(index) => {
                let written = world.bump(std::iter::once(index));
                world.cache.invalidate_blocking(&World::key(index));
                world.completed(&written);
            }
            Step::InvalidateGroup(index) => {
                let written = world.bump(World::group_members(index));
                world
                    .cache
                    .invalidate_tags_blocking(&[&World::group(index)]);
                world.completed(&written);
            }
        }
    }
}

async fn async_worker(world: Arc<World>, worker: usize) {
    for step in steps(worker) {
        match step {
            Step::Read(index) => {
                let floor = world.completed[index].load(Ordering::SeqCst);
                let ran = Arc::new(AtomicBool::new(false));
                let load = loader(&world, index, &ran);
                let seen = world
                    .cache
                    .get_or_load(&World::key(index), &World::options(index), || async move {
                        tokio::task::yield_now().await;
                        load()
                    })
                    .await
                    .unwrap();
                world.check(index, floor, seen, ran.load(Ordering::SeqCst));
            }
            Step::InvalidateKey(index) => {
                let written = world.bump(std::iter::once(index));
                world.cache.invalidate(&World::key(index)).await;
                world.completed(&written);
            }
            Step::InvalidateGroup(index) => {
                let written = world.bump(World::group_members(index));
                world.cache.invalidate_tags(&[&World::group(index)]).await;
                world.completed(&written);
            }
        }
        // A hit completes without awaiting: let the other tasks in.
        tokio::task::yield_now().await;
    }
}

#[test]
fn every_blocking_read_sees_the_invalidations_completed_before_it() {
    let world = World::new();
    let (done, finished) = std::sync::mpsc::channel();
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (world, done) = (Arc::clone(&world), done.clone());
            std::thread::spawn(move || {
                blocking_worker(&world, worker);
                let _ = done.send(());
            })
        })
        .collect();
    for _ in 0..WORKERS {
        finished
            .recv_timeout(Duration::from_secs(120))
            .expect("a worker hung or panicked");
    }
    for worker in workers {
        worker.join().unwrap();
    }
    world.assert_no_stale_read();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_async_read_sees_the_invalidations_completed_before_it() {
    let world = World::new();
    let tasks: Vec<_> = (0..WORKERS)
        .map(|worker| tokio::spawn(async_worker(Arc::clone(&world), worker)))
        .collect();
    // Bounded, like every wait here, but generously: 64 tasks on a loaded machine.
    tokio::time::timeout(Duration::from_secs(120), async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await
    .expect("a worker hung");
    world.assert_no_stale_read();
}
