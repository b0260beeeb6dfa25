//! One node of the service under test, run as a child process (this test binary again, the
//! ignored `node` test): a cache on the Redis under test, loaders reading the "database" (a
//! second redis-server that is never faulted), reader tasks, and on the writer node a task
//! that bumps versions in the database and invalidates. Everything it saw is written to a log
//! file when the orchestrator says `stop`:
//!
//! - `R <start µs> <end µs> <key> <version, or -1 for an error>`: one read through the cache;
//! - `I <key> <version> <completed µs>`: an invalidation, complete once Redis applied it;
//! - `S <µs> <backplane 0/1> <breaker 0 closed/1 open/2 half-open> <l2_hits> <loads>
//!   <pending> <l2_errors> <l2_skipped>`: the node's state every 50 ms.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cache_core::l2::BreakerState;
use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;

use crate::{DEGRADED_TTL, HEARTBEAT, KEYS, LOAD_TIME, NODE_ENV, READERS, now_us};

/// How a node is started (passed in `NODE_ENV` as space-separated fields).
pub struct NodeConfig {
    pub writer: bool,
    pub redis_url: String,
    pub db_url: String,
    pub log: String,
    /// Build the cache on a runtime that is dropped before the node serves.
    pub dropped_runtime: bool,
}

impl NodeConfig {
    pub fn encode(&self) -> String {
        format!(
            "{} {} {} {} {}",
            u8::from(self.writer),
            self.redis_url,
            self.db_url,
            self.log,
            u8::from(self.dropped_runtime)
        )
    }

    fn decode(text: &str) -> Self {
        let fields: Vec<&str> = text.split(' ').collect();
        Self {
            writer: fields[0] == "1",
            redis_url: fields[1].to_owned(),
            db_url: fields[2].to_owned(),
            log: fields[3].to_owned(),
            dropped_runtime: fields[4] == "1",
        }
    }
}

pub fn key(index: u64) -> String {
    format!("item:{index}")
}

async fn build(redis_url: &str) -> Cache {
    let l2 = RedisL2::builder()
        .url(redis_url)
        .operation_timeout(Duration::from_millis(250))
        .heartbeat(HEARTBEAT)
        .max_reconnect_backoff(Duration::from_millis(200))
        .build()
        .await
        .expect("RedisL2 builds");
    Cache::builder()
        .namespace("faults")
        .degraded_ttl(DEGRADED_TTL)
        .l2(l2)
        .build()
        .expect("cache builds")
}

/// A small xorshift generator (the workload needs no statistical quality).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

async fn read(
    cache: &Cache,
    db: &redis::aio::MultiplexedConnection,
    index: u64,
) -> Result<String, redis::RedisError> {
    let options = EntryOptions::new().ttl(Duration::from_secs(60));
    let db = db.clone();
    cache
        .get_or_load(&key(index), &options, move || async move {
            let mut db = db;
            let version: Option<u64> = redis::cmd("GET")
                .arg(format!("ver:{index}"))
                .query_async(&mut db)
                .await?;
            tokio::time::sleep(LOAD_TIME).await;
            Ok(format!("{index}:{}", version.unwrap_or(0)))
        })
        .await
}

async fn reader(
    cache: Cache,
    db: redis::aio::MultiplexedConnection,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> Vec<String> {
    let mut rng = Rng(seed | 1);
    let mut lines = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let index = rng.next() % KEYS;
        let start = now_us();
        let result = tokio::time::timeout(Duration::from_secs(10), read(&cache, &db, index)).await;
        let end = now_us();
        let version: i64 = match result {
            Ok(Ok(value)) => value
                .rsplit(':')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1),
            _ => -1,
        };
        lines.push(format!("R {start} {end} {index} {version}"));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    lines
}

async fn writer(
    cache: Cache,
    mut db: redis::aio::MultiplexedConnection,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut lines = Vec::new();
    // Invalidations Redis has not applied yet: complete when the queue is empty.
    let mut waiting: Vec<(u64, u64)> = Vec::new();
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let index = rng.next() % KEYS;
        // One round in four changes the key twice, 1 ms apart: the loads the first change
        // starts (on both nodes) straddle the second.
        round += 1;
        let changes = if round.is_multiple_of(4) { 2 } else { 1 };
        for change in 0..changes {
            if change > 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let version: u64 = redis::cmd("INCR")
                .arg(format!("ver:{index}"))
                .query_async(&mut db)
                .await
                .expect("the database answers");
            cache.invalidate(&key(index)).await;
            waiting.push((index, version));
        }
        let pending = cache
            .l2_status()
            .map_or(0, |status| status.pending_invalidations);
        if pending == 0 {
            let done = now_us();
            for (index, version) in waiting.drain(..) {
                lines.push(format!("I {index} {version} {done}"));
            }
        }
    }
    lines
}

async fn status(cache: Cache, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut lines = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let stats = cache.stats();
        let status = cache.l2_status().unwrap_or_default();
        let breaker = match status.breaker {
            Some(BreakerState::Open) => 1,
            Some(BreakerState::HalfOpen) => 2,
            _ => 0,
        };
        lines.push(format!(
            "S {} {} {breaker} {} {} {} {} {}",
            now_us(),
            u8::from(status.backplane_connected == Some(true)),
            stats.l2_hits,
            stats.loads,
            status.pending_invalidations,
            stats.l2_errors,
            stats.l2_skipped,
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lines
}

/// The child process's body.
pub fn run_node() {
    let Ok(config) = std::env::var(NODE_ENV) else {
        return;
    };
    let config = NodeConfig::decode(&config);
    let serving = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = if config.dropped_runtime {
        let building = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let cache = building.block_on(build(&config.redis_url));
        drop(building);
        cache
    } else {
        serving.block_on(build(&config.redis_url))
    };
    let lines = serving.block_on(async {
        let db = redis::Client::open(config.db_url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("the database answers");
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for reader_index in 0..READERS {
            let seed = u64::from(std::process::id()) * 1_000 + reader_index;
            tasks.push(tokio::spawn(reader(
                cache.clone(),
                db.clone(),
                Arc::clone(&stop),
                seed,
            )));
        }
        if config.writer {
            tasks.push(tokio::spawn(writer(
                cache.clone(),
                db.clone(),
                Arc::clone(&stop),
            )));
        }
        tasks.push(tokio::spawn(status(cache.clone(), Arc::clone(&stop))));
        println!("{}ready", crate::PREFIX);
        // Wait for "stop" on stdin (a blocking read, off the runtime's workers).
        tokio::task::spawn_blocking(|| {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                if line.map_or(true, |line| line.trim() == "stop") {
                    return;
                }
            }
        })
        .await
        .unwrap();
        stop.store(true, Ordering::Relaxed);
        let mut lines = Vec::new();
        for task in tasks {
            lines.extend(task.await.expect("a node task panicked"));
        }
        lines
    });
    let mut log = std::io::BufWriter::new(std::fs::File::create(&config.log).unwrap());
    for line in lines {
        writeln!(log, "{line}").unwrap();
    }
    log.flush().unwrap();
    println!("{}done", crate::PREFIX);
}
