//! What a Redis outage costs the callers and the database: 16 tasks read 100 hot keys through
//! `get_or_load` (a 2 ms loader) while a real redis-server is up, killed, back, then frozen
//! (SIGSTOP). Run twice in one process: with the defaults (circuit breaker, degraded L1), and
//! configured as before them (no breaker, L1 off while the backplane is down). Prints calls/s,
//! latency percentiles and loads/s per phase (`BENCHMARKS.md`, "Faults").
//!
//! `cargo bench -p benches --bench outage`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;
use cache_redis::test_util::RedisServer;

const TASKS: usize = 16;
const KEYS: u64 = 100;
const LOAD_TIME: Duration = Duration::from_millis(2);
const PHASE: Duration = Duration::from_secs(3);
const PHASES: [&str; 4] = ["up", "killed", "back", "frozen"];

struct Config {
    name: &'static str,
    breaker: bool,
    degraded_l1: bool,
}

async fn cache_on(url: &str, config: &Config) -> Cache {
    let mut l2 = RedisL2::builder().url(url);
    if !config.breaker {
        l2 = l2.breaker_threshold(u32::MAX);
    }
    let l2 = l2.build().await.unwrap();
    let mut cache = Cache::builder().namespace("outage");
    if !config.degraded_l1 {
        cache = cache.degraded_ttl(Duration::ZERO);
    }
    cache.l2(l2).build().unwrap()
}

/// Call latencies: exact in µs below 1 ms, in whole ms above (up to 10 s), so recording
/// millions of calls allocates nothing.
#[derive(Clone)]
struct Histogram(Vec<u64>);

const MICRO_BUCKETS: u64 = 1_000;
const MILLI_BUCKETS: u64 = 10_000;

impl Histogram {
    fn new() -> Self {
        Self(vec![0; (MICRO_BUCKETS + MILLI_BUCKETS + 1) as usize])
    }

    fn record(&mut self, micros: u64) {
        let bucket = if micros < MICRO_BUCKETS {
            micros
        } else {
            MICRO_BUCKETS + (micros / 1_000).min(MILLI_BUCKETS)
        };
        self.0[bucket as usize] += 1;
    }

    fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine += theirs;
        }
    }

    fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The latency (µs) at quantile `q`.
    fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        let target = ((total.saturating_sub(1)) as f64 * q).round() as u64;
        let mut seen = 0;
        for (bucket, count) in self.0.iter().enumerate() {
            seen += count;
            if *count > 0 && seen > target {
                let bucket = bucket as u64;
                return if bucket < MICRO_BUCKETS {
                    bucket
                } else {
                    (bucket - MICRO_BUCKETS) * 1_000
                };
            }
        }
        0
    }
}

/// Latencies of the calls made in each phase.
type PhaseLatencies = Vec<Histogram>;

async fn reader(
    cache: Cache,
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> PhaseLatencies {
    let mut latencies = vec![Histogram::new(); PHASES.len()];
    let mut state = seed | 1;
    let options = EntryOptions::new().ttl(Duration::from_secs(60));
    while !stop.load(Ordering::Relaxed) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let key = format!("hot:{}", state % KEYS);
        let started = Instant::now();
        let value: Result<u64, std::io::Error> = cache
            .get_or_load(&key, &options, || async {
                tokio::time::sleep(LOAD_TIME).await;
                Ok(42)
            })
            .await;
        assert_eq!(value.unwrap(), 42);
        let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        latencies[usize::from(phase.load(Ordering::Relaxed))].record(elapsed);
        // Let other tasks run even when every call is an L1 hit.
        tokio::task::yield_now().await;
    }
    latencies
}

async fn run(config: &Config) {
    let mut server = RedisServer::start().unwrap();
    let cache = cache_on(&server.url(), config).await;
    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // Warm up: every key loaded once.
    for key in 0..KEYS {
        let _: Result<u64, std::io::Error> = cache
            .get_or_load(&format!("hot:{key}"), &EntryOptions::new(), || async {
                Ok(42)
            })
            .await;
    }
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            tokio::spawn(reader(
                cache.clone(),
                Arc::clone(&phase),
                Arc::clone(&stop),
                0x51_7c_c1_b7 + i as u64,
            ))
        })
        .collect();
    let mut loads = Vec::new();
    for (index, name) in PHASES.iter().enumerate() {
        match *name {
            "killed" => server.kill(),
            "back" => {
                server.restart().unwrap();
            }
            "frozen" => server.pause().unwrap(),
            _ => {}
        }
        phase.store(index as u8, Ordering::Relaxed);
        let before = cache.stats().loads;
        tokio::time::sleep(PHASE).await;
        loads.push(cache.stats().loads - before);
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies: PhaseLatencies = vec![Histogram::new(); PHASES.len()];
    for task in tasks {
        for (all, mine) in latencies.iter_mut().zip(task.await.unwrap()) {
            all.merge(&mine);
        }
    }
    server.resume().unwrap();
    let seconds = PHASE.as_secs_f64();
    for (index, name) in PHASES.iter().enumerate() {
        let calls = &latencies[index];
        println!(
            "| {} | {name} | {:.0} | {} | {} | {:.0} | {:.0} |",
            config.name,
            calls.count() as f64 / seconds,
            calls.quantile(0.5),
            calls.quantile(0.99),
            calls.quantile(1.0) as f64 / 1000.0,
            loads[index] as f64 / seconds
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; run only when benchmarks are asked for.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("| configuration | Redis | calls/s | p50 µs | p99 µs | max ms | loads/s |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for config in [
        Config {
            name: "defaults (breaker, degraded L1)",
            breaker: true,
            degraded_l1: true,
        },
        Config {
            name: "as before (no breaker, L1 off)",
            breaker: false,
            degraded_l1: false,
        },
    ] {
        runtime.block_on(run(&config));
    }
}
