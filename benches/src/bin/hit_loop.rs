//! A whole-process L1 hit loop, for comparing two builds with `farm-bench` (which times whole
//! processes and pairs their runs, steadier on a noisy machine than two criterion runs):
//! `THREADS` threads each make `CALLS` calls of a `#[cached(level = "l1")] fn(u64) -> u64`
//! cycling over 1,024 pre-filled keys.
//!
//! Run: `cargo run --release -p benches --bin hit_loop -- THREADS CALLS`; to compare builds,
//! `farm-bench -n 20 --vs 'OLD/hit_loop 1 40000000' -- NEW/hit_loop 1 40000000`.

use std::sync::LazyLock;

use cache_core::{Cache, cached};

/// Keys cycled over (all hits after the first pass).
const KEYS: u64 = 1_024;

static CACHE: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .build()
        .expect("the default configuration is valid")
});

#[cached(cache = CACHE, ttl = "10m", level = "l1")]
fn doubled(x: u64) -> u64 {
    x * 2
}

fn argument(position: usize, name: &str) -> u64 {
    match std::env::args().nth(position).map(|text| text.parse()) {
        Some(Ok(value)) => value,
        _ => {
            eprintln!("usage: hit_loop THREADS CALLS ({name} missing or not a number)");
            std::process::exit(2);
        }
    }
}

fn main() {
    let threads = argument(1, "THREADS");
    let calls = argument(2, "CALLS");
    for key in 0..KEYS {
        doubled(key);
    }
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            std::thread::spawn(move || {
                let mut sum = 0u64;
                for call in 0..calls {
                    let key = std::hint::black_box((call + thread * 7) % KEYS);
                    sum = sum.wrapping_add(doubled(key));
                }
                sum
            })
        })
        .collect();
    let total: u64 = workers
        .into_iter()
        .map(|worker| worker.join().expect("a worker panicked"))
        .sum();
    // Printed so the loop's result is used.
    println!("{total}");
}
