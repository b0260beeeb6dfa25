//! A whole-process L1 hit loop, for comparing two builds by timing whole processes (steadier
//! on a noisy machine than two criterion runs): `THREADS` threads each make `CALLS` calls of a
//! `#[cached(level = "l1")] fn(u64) -> u64` cycling over 1,024 pre-filled keys (or, with
//! `cached_crate` as a third argument, of the same function under the `cached` crate's plain
//! `#[cached]`).
//!
//! Run: `cargo run --release -p benches --bin hit_loop -- THREADS CALLS [ours|cached_crate]`;
//! to compare builds, time both binaries in turn, e.g. `hyperfine -N -r 20 'OLD/hit_loop 1
//! 40000000' 'NEW/hit_loop 1 40000000'`. Build with `RUSTFLAGS="--cfg
//! cache_core_crossbeam_lock"` for L1 on crossbeam's shard lock instead of the hand-written one.

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

/// The peer: the `cached` crate's plain `#[cached]` on the same function.
#[cached::proc_macro::cached]
fn doubled_by_peer(x: u64) -> u64 {
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
    let function: fn(u64) -> u64 = match std::env::args().nth(3).as_deref() {
        None | Some("ours") => doubled,
        Some("cached_crate") => doubled_by_peer,
        Some(other) => {
            eprintln!("unknown function {other}: expected ours or cached_crate");
            std::process::exit(2);
        }
    };
    for key in 0..KEYS {
        function(key);
    }
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            std::thread::spawn(move || {
                let mut sum = 0u64;
                for call in 0..calls {
                    let key = std::hint::black_box((call + thread * 7) % KEYS);
                    sum = sum.wrapping_add(function(key));
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
