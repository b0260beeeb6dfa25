//! Heap bytes per L1 entry for `u64 -> u64`: a `#[cached(level = "l1")]` function, moka and
//! quick_cache, each filled with the same 100,000 entries (capacity large enough to hold them
//! all) and measured by a counting global allocator.
//!
//! Run: `cargo run --release -p benches --bin mem_per_entry`. Results: `BENCHMARKS.md`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicIsize, Ordering};

use cache_core::{Cache, cached};

/// Entries inserted into each cache.
const ENTRIES: u64 = 100_000;

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
        .l1_max_capacity(ENTRIES)
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
    (after - before) as f64 / ENTRIES as f64
}

fn main() {
    // Each structure is built inside its measurement, as each sizes itself for its capacity.
    let ours = per_entry(
        || LazyLock::force(&CACHE),
        |_| {
            for key in 0..ENTRIES {
                ours(key);
            }
        },
    );
    assert_eq!(CACHE.l1_len(), ENTRIES, "every entry was kept");
    let moka = per_entry(
        || moka::sync::Cache::<u64, u64>::new(ENTRIES),
        |cache| {
            for key in 0..ENTRIES {
                cache.insert(key, key);
            }
            cache.run_pending_tasks();
        },
    );
    let quick = per_entry(
        || quick_cache::sync::Cache::<u64, u64>::new(ENTRIES as usize),
        |cache| {
            for key in 0..ENTRIES {
                cache.insert(key, key);
            }
        },
    );
    println!("| store | heap bytes per entry (u64 -> u64, {ENTRIES} entries) |");
    println!("| --- | --- |");
    println!("| `#[cached(level = \"l1\")]` (ours) | {ours:.0} |");
    println!(
        "| moka 0.12 `sync::Cache` | {moka:.0} (ours {:.2}x) |",
        ours / moka
    );
    println!(
        "| quick_cache 0.6 `sync::Cache` | {quick:.0} (ours {:.2}x) |",
        ours / quick
    );
}
