//! L1 hit cost: raw moka, the keyed `Cache` API, a `#[cached]` function and the `cached`
//! crate's `#[cached]` (unbounded, and with `ttl_secs = 600` like ours has a TTL), on the same one-`u64`-argument function, single-threaded and with two
//! threads. Every variant cycles through the same 1,024 pre-filled keys.
//!
//! Run: `cargo bench -p benches --bench l1_hit` (and `--features metrics` for the same with
//! cache-core's metrics on and a recorder installed). Results: `BENCHMARKS.md`.

use std::hint::black_box;
use std::sync::{Arc, Barrier, LazyLock};
use std::time::{Duration, Instant};

use cache_core::{Cache, EntryOptions, cached};
use criterion::{Criterion, criterion_group, criterion_main};

const KEYS: u64 = 1024;

static CACHE: LazyLock<Cache> = LazyLock::new(|| {
    // With the `metrics` feature, a recorder is installed first, as a service would.
    #[cfg(feature = "metrics")]
    metrics::set_global_recorder(metrics_util::debugging::DebuggingRecorder::new())
        .expect("the first recorder");
    Cache::builder().l1_max_capacity(100_000).build().unwrap()
});

/// The function under test: a `u64` in, a `u64` out.
fn slow_square(x: u64) -> u64 {
    x.wrapping_mul(x)
}

#[cached(ttl = "10m", cache = CACHE, level = "l1")]
fn ours(x: u64) -> u64 {
    slow_square(x)
}

#[cached::proc_macro::cached]
fn theirs(x: u64) -> u64 {
    slow_square(x)
}

/// The like-for-like peer: the `cached` crate with a lifetime, as `ours` has.
#[cached::proc_macro::cached(ttl_secs = 600)]
fn theirs_timed(x: u64) -> u64 {
    slow_square(x)
}

/// Runs `op` `iters` times on each of `threads` threads; returns the wall time.
fn on_threads(threads: usize, iters: u64, op: impl Fn(u64) + Send + Sync + 'static) -> Duration {
    let op = Arc::new(op);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (op, barrier) = (Arc::clone(&op), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for i in 0..iters {
                    op((i + t as u64 * 512) % KEYS);
                }
                start.elapsed()
            })
        })
        .collect();
    barrier.wait();
    handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .max()
        .unwrap_or_default()
}

/// One way of reading key `k`.
type Op = Arc<dyn Fn(u64) + Send + Sync>;

fn variants() -> Vec<(&'static str, Op)> {
    let moka = moka::sync::Cache::<u64, u64>::builder()
        .max_capacity(100_000)
        .build();
    let keyed: Vec<String> = (0..KEYS).map(|k| format!("sq:{k}")).collect();
    let keyed = Arc::new(keyed);
    for k in 0..KEYS {
        moka.insert(k, slow_square(k));
        CACHE.set_blocking(&keyed[k as usize], slow_square(k), &EntryOptions::new());
        ours(k);
        theirs(k);
        theirs_timed(k);
    }
    let keys = Arc::clone(&keyed);
    vec![
        (
            "moka_get",
            Arc::new(move |k| {
                black_box(moka.get(&k));
            }),
        ),
        (
            "cache_get",
            Arc::new(move |k| {
                black_box(CACHE.get_blocking::<u64>(&keys[k as usize]));
            }),
        ),
        (
            "cached_fn_ours",
            Arc::new(|k| {
                black_box(ours(black_box(k)));
            }),
        ),
        (
            "cached_crate",
            Arc::new(|k| {
                black_box(theirs(black_box(k)));
            }),
        ),
        (
            "cached_crate_timed",
            Arc::new(|k| {
                black_box(theirs_timed(black_box(k)));
            }),
        ),
    ]
}

fn l1_hit(c: &mut Criterion) {
    let variants = variants();
    for threads in [1usize, 2] {
        let mut group = c.benchmark_group(format!("l1_hit/{threads}_thread"));
        for (name, op) in &variants {
            group.bench_function(*name, |b| {
                if threads == 1 {
                    let mut i = 0u64;
                    b.iter(|| {
                        i = (i + 1) % KEYS;
                        op(i)
                    });
                } else {
                    let op = Arc::clone(op);
                    b.iter_custom(move |iters| {
                        let op = Arc::clone(&op);
                        on_threads(threads, iters, move |k| op(k))
                    });
                }
            });
        }
        group.finish();
    }
    assert_eq!(CACHE.stats().misses, KEYS, "only the warm-up calls missed");
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = l1_hit
}
criterion_main!(benches);
