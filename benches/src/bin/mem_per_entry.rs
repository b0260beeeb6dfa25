//! Heap bytes per L1 entry for `u64 -> u64`: a `#[cached(level = "l1")]` function, moka and
//! quick_cache, each filled with the same entries (capacity large enough to hold them all) and
//! measured by a counting global allocator, at several entry counts (hash tables grow by
//! doubling, so bytes per entry depend on where a count falls between two sizes). Each count
//! runs in a process of its own (the function's cache is a static).
//!
//! Run: `cargo run --release -p benches --bin mem_per_entry`. Results: `BENCHMARKS.md`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicIsize, Ordering};

use cache_core::{Cache, cached};

/// Entry counts measured (one process each).
const COUNTS: [u64; 4] = [10_000, 100_000, 150_000, 1_000_000];

/// Entries inserted into each cache: the count this process measures.
static ENTRIES: LazyLock<u64> = LazyLock::new(|| {
    std::env::var("MEM_PER_ENTRY_COUNT")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(100_000)
});

/// The system allocator, counting the bytes it has handed out and not taken back.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is only
// bookkeeping. (The one `unsafe` of this crate: a global allocator cannot be written without.)
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc` is passed through.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract for `realloc` is passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

static CACHE: LazyLock<Cache> = LazyLock::new(|| {
    Cache::builder()
        .l1_max_capacity(*ENTRIES)
        .build()
        .expect("a valid capacity")
});

#[cached(cache = CACHE, level = "l1", ttl = "1h")]
fn ours(key: u64) -> u64 {
    key
}

/// Bytes allocated (and still held) per entry while `fill` inserts `ENTRIES` entries into
/// what `build` returns; the structure is dropped afterwards.
fn per_entry<T>(build: impl FnOnce() -> T, fill: impl FnOnce(&T)) -> f64 {
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let structure = build();
    fill(&structure);
    let after = LIVE_BYTES.load(Ordering::Relaxed);
    drop(structure);
    (after - before) as f64 / *ENTRIES as f64
}

fn main() {
    if std::env::var_os("MEM_PER_ENTRY_COUNT").is_some() {
        measure();
        return;
    }
    println!("| entries | ours | moka 0.12 `sync::Cache` | quick_cache 0.6 `sync::Cache` |");
    println!("| --- | --- | --- | --- |");
    let exe = std::env::current_exe().expect("the path of this benchmark");
    let mut totals = [0.0; 3];
    for count in COUNTS {
        let output = std::process::Command::new(&exe)
            .env("MEM_PER_ENTRY_COUNT", count.to_string())
            .output()
            .expect("the measuring process runs");
        assert!(output.status.success(), "measuring {count} entries failed");
        let line = String::from_utf8_lossy(&output.stdout);
        let bytes: Vec<f64> = line
            .split_whitespace()
            .map(|field| field.parse().expect("three figures"))
            .collect();
        for (total, value) in totals.iter_mut().zip(&bytes) {
            *total += value;
        }
        let (ours, moka, quick) = (bytes[0], bytes[1], bytes[2]);
        println!(
            "| {count} | **{ours:.0}** | {moka:.0} (ours {:.2}x) | {quick:.0} (ours {:.2}x) |",
            ours / moka,
            ours / quick
        );
    }
    let n = COUNTS.len() as f64;
    let [ours, moka, quick] = totals.map(|total| total / n);
    println!(
        "| **mean** | **{ours:.0}** | {moka:.0} (ours {:.2}x) | {quick:.0} (ours {:.2}x) |",
        ours / moka,
        ours / quick
    );
}

/// Prints the bytes per entry of ours, moka and quick_cache for `ENTRIES` entries.
fn measure() {
    let entries = *ENTRIES;
    // Each structure is built inside its measurement, as each sizes itself for its capacity.
    let ours = per_entry(
        || LazyLock::force(&CACHE),
        |_| {
            for key in 0..entries {
                ours(key);
            }
        },
    );
    assert_eq!(CACHE.l1_len(), entries, "every entry was kept");
    let moka = per_entry(
        || moka::sync::Cache::<u64, u64>::new(entries),
        |cache| {
            for key in 0..entries {
                cache.insert(key, key);
            }
            cache.run_pending_tasks();
        },
    );
    let quick = per_entry(
        || quick_cache::sync::Cache::<u64, u64>::new(entries as usize),
        |cache| {
            for key in 0..entries {
                cache.insert(key, key);
            }
        },
    );
    println!("{ours} {moka} {quick}");
}
