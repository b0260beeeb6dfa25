//! The L1 hit-ratio yardstick: replays real traces (`benches/traces`) and synthetic workloads
//! through a `#[cached]` function, moka (as users run it, and held to its capacity),
//! quick_cache, a plain LRU and Belady's optimum (OPT), at 5% and 25% of each workload's
//! distinct keys, single-threaded and with two threads replaying the workload interleaved;
//! prints one markdown table (`BENCHMARKS.md`).
//!
//! Run: `cargo run --release -p benches --bin hit_ratio [name filter...]`.

mod lru;
mod opt;
mod replay;
mod report;
mod traces;
mod workloads;

use replay::Moka;
use report::{Row, Table};

/// Capacities, as percentages of a workload's distinct keys.
const CAPACITY_PERCENTS: [usize; 2] = [5, 25];

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).collect();
    let selected = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    let mut workloads = Vec::new();
    for name in traces::NAMES {
        if selected(name) {
            match traces::load(name) {
                Ok(keys) => workloads.push(((*name).to_owned(), keys)),
                Err(error) => {
                    eprintln!("error: {error}");
                    std::process::exit(1);
                }
            }
        }
    }
    for (name, keys) in workloads::all() {
        if selected(&name) {
            workloads.push((name, keys));
        }
    }

    let mut table = Table::default();
    for (name, keys) in &workloads {
        let distinct = workloads::distinct(keys);
        for percent in CAPACITY_PERCENTS {
            let capacity = (distinct * percent / 100).max(1);
            eprintln!("{name}: {} accesses, capacity {capacity}", keys.len());
            table.push(Row {
                workload: name.clone(),
                capacity,
                threads: 1,
                ours: replay::ours(keys, capacity, 1),
                moka: replay::moka(keys, capacity, 1, Moka::AsUsersRunIt),
                quick_cache: replay::quick_cache(keys, capacity, 1),
                moka_at_capacity: Some(replay::moka(keys, capacity, 1, Moka::HeldToCapacity)),
                lru: Some(lru::hit_ratio(keys, capacity)),
                opt: Some(opt::hit_ratio(keys, capacity)),
            });
            table.push(Row {
                workload: name.clone(),
                capacity,
                threads: 2,
                ours: replay::ours(keys, capacity, 2),
                moka: replay::moka(keys, capacity, 2, Moka::AsUsersRunIt),
                quick_cache: replay::quick_cache(keys, capacity, 2),
                moka_at_capacity: None,
                lru: None,
                opt: None,
            });
        }
    }
    print!("{table}");
}
