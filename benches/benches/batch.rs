//! Batches against per-key calls: a list page of 100 keys at a 50% hit ratio (half of them in
//! Redis, none in L1), on a real `redis-server`, read with one `get_or_load_many` or with 100
//! `get_or_load` calls one after another (what a loop over the page does). For each: the Redis
//! round trips (scripts the client sent, from `INFO commandstats`: every operation of both is
//! one script), the loader calls, and the time of a page (median and p90 of the rounds).
//!
//! The loader stands for a database query: it returns at once (`loader 0 ms`), or after 1 ms
//! whatever the number of keys it is asked for (`loader 1 ms`, one `WHERE id IN (..)`).
//!
//! Run: `cargo bench -p benches --bench batch` (a few seconds).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;
use cache_redis::test_util::RedisServer;

const KEYS: usize = 100;
const ROUNDS: usize = 41;
const WARMUP: usize = 5;

/// How a page is read.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    Batch,
    PerKey,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Batch => "get_or_load_many",
            Way::PerKey => "100 x get_or_load",
        }
    }
}

/// What one way cost, over the measured rounds.
struct Measured {
    times: Vec<Duration>,
    round_trips: u64,
    /// Server time in the scripts, µs.
    server_us: u64,
    loader_calls: u64,
    loaded_keys: u64,
}

impl Measured {
    fn percentile(&self, p: f64) -> Duration {
        let mut times = self.times.clone();
        times.sort();
        let at = ((times.len() - 1) as f64 * p).round() as usize;
        times[at]
    }

    fn per_round(&self, total: u64) -> f64 {
        total as f64 / self.times.len() as f64
    }
}

/// Scripts (`EVALSHA`, `EVAL`) the server ran so far (the client's round trips), and the
/// server's time in them (µs).
async fn scripts_run(connection: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(connection)
        .await
        .unwrap();
    let field = |line: &str, name: &str| {
        line.split([':', ','])
            .find_map(|f| f.strip_prefix(name)?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    info.lines()
        .filter(|line| line.starts_with("cmdstat_evalsha:") || line.starts_with("cmdstat_eval:"))
        .fold((0, 0), |(calls, usec), line| {
            (calls + field(line, "calls="), usec + field(line, "usec="))
        })
}

async fn cache(url: &str) -> Cache {
    let l2 = RedisL2::builder().url(url).build().await.unwrap();
    let cache = Cache::builder()
        .namespace("bench")
        .default_ttl(Duration::from_secs(600))
        .l2(l2.clone())
        .build()
        .unwrap();
    assert!(l2.wait_for_backplane(Duration::from_secs(10)).await);
    cache
}

/// The loader: one "query" per call, counted.
struct Database {
    delay: Duration,
    calls: AtomicU64,
    keys: AtomicU64,
}

impl Database {
    async fn query(&self, keys: Vec<String>) -> Result<HashMap<String, String>, std::io::Error> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.keys.fetch_add(keys.len() as u64, Ordering::Relaxed);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(keys
            .into_iter()
            .map(|key| {
                let value = format!("row of {key}");
                (key, value)
            })
            .collect())
    }
}

/// Reads one page of fresh keys (half already in Redis) the given way; returns its time and
/// the scripts Redis ran for the read.
async fn page(
    (reader, writer): (&Cache, &Cache),
    database: &Arc<Database>,
    way: Way,
    round: &str,
    stats: &mut redis::aio::MultiplexedConnection,
) -> (Duration, (u64, u64)) {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("{round}:user:{i}")).collect();
    let options = EntryOptions::new().ttl(Duration::from_secs(600));
    let stored: Vec<(&str, String)> = keys
        .iter()
        .step_by(2)
        .map(|key| (key.as_str(), format!("row of {key}")))
        .collect();
    writer.set_many(&stored, &options).await;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let scripts_before = scripts_run(stats).await;
    let started = Instant::now();
    let found = match way {
        Way::Batch => reader
            .get_or_load_many(&refs, &options, |keys| database.query(keys))
            .await
            .unwrap()
            .len(),
        Way::PerKey => {
            let mut found = 0;
            for key in &refs {
                let (database, owned) = (Arc::clone(database), (*key).to_owned());
                let value: String = reader
                    .get_or_load(key, &options, || async move {
                        let mut rows = database.query(vec![owned.clone()]).await?;
                        Ok::<_, std::io::Error>(rows.remove(&owned).unwrap_or_default())
                    })
                    .await
                    .unwrap();
                found += usize::from(!value.is_empty());
            }
            found
        }
    };
    let elapsed = started.elapsed();
    let scripts = scripts_run(stats).await;
    assert_eq!(found, KEYS);
    (
        elapsed,
        (scripts.0 - scripts_before.0, scripts.1 - scripts_before.1),
    )
}

async fn measure(url: &str, way: Way, delay: Duration, label: &str) -> Measured {
    let reader = cache(url).await;
    let writer = cache(url).await;
    let mut stats = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let database = Arc::new(Database {
        delay,
        calls: AtomicU64::new(0),
        keys: AtomicU64::new(0),
    });
    let mut measured = Measured {
        times: Vec::new(),
        round_trips: 0,
        server_us: 0,
        loader_calls: 0,
        loaded_keys: 0,
    };
    for round in 0..WARMUP + ROUNDS {
        let name = format!("{label}:{}:{round}", way.name());
        let calls_before = database.calls.load(Ordering::Relaxed);
        let keys_before = database.keys.load(Ordering::Relaxed);
        let caches = (&reader, &writer);
        let (time, (round_trips, server_us)) =
            page(caches, &database, way, &name, &mut stats).await;
        if round >= WARMUP {
            measured.times.push(time);
            measured.round_trips += round_trips;
            measured.server_us += server_us;
            measured.loader_calls += database.calls.load(Ordering::Relaxed) - calls_before;
            measured.loaded_keys += database.keys.load(Ordering::Relaxed) - keys_before;
        }
    }
    measured
}

#[tokio::main]
async fn main() {
    let server = RedisServer::start().expect("redis-server starts");
    let url = server.url();
    println!(
        "{KEYS} keys per page, 50% in Redis, none in L1; {ROUNDS} rounds (after {WARMUP} warm-up)"
    );
    println!(
        "| loader | way | Redis round trips | Redis time | loader calls | keys loaded | median | p90 | median ratio |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (delay, label) in [(Duration::ZERO, "0 ms"), (Duration::from_millis(1), "1 ms")] {
        let per_key = measure(&url, Way::PerKey, delay, label).await;
        let batch = measure(&url, Way::Batch, delay, label).await;
        let ratio = per_key.percentile(0.5).as_secs_f64() / batch.percentile(0.5).as_secs_f64();
        for (way, measured) in [(Way::PerKey, &per_key), (Way::Batch, &batch)] {
            let ratio = match way {
                Way::PerKey => "1x".to_owned(),
                Way::Batch => format!("{ratio:.1}x faster"),
            };
            println!(
                "| {label} | {} | {:.1} | {:.3} ms | {:.1} | {:.1} | {:.3} ms | {:.3} ms | {ratio} |",
                way.name(),
                measured.per_round(measured.round_trips),
                measured.per_round(measured.server_us) / 1e3,
                measured.per_round(measured.loader_calls),
                measured.per_round(measured.loaded_keys),
                measured.percentile(0.5).as_secs_f64() * 1e3,
                measured.percentile(0.9).as_secs_f64() * 1e3,
            );
        }
    }
}
