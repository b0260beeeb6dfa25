//! L2 hit cost: the cache's read of a value from Redis (L1 bypassed) against raw redis-rs doing
//! the same round trip and bincode decode, on the same kind of connection (a
//! `ConnectionManager` with TCP_NODELAY, as `RedisL2` uses), sequential and 16 concurrent
//! requests on 16 distinct keys (which redis-rs pipelines on its multiplexed connection;
//! distinct keys, so the cache's single-flight does not merge them).
//!
//! Variants:
//! - `raw_get`: `GET key` of the bincode bytes + `bincode` decode: the floor.
//! - `raw_hget`: `HGET key v` + decode: the same with the hash layout `RedisL2` uses.
//! - `raw_hmget`: `HMGET key v m` + decode: the layout's read, by hand.
//! - `l2_get`: `RedisL2`'s `L2::get` (one `HMGET key v m`: payload and metadata with the
//!   stored expiry; no tags are expected, so no Lua) + `Codec::decode` (fingerprint check): exactly what the engine
//!   does on an L1 miss.
//! - `cache_get`: the whole `Cache::get` with L1 forced off (a wrapper keeps the engine's L1
//!   disabled, as while the backplane is down): single-flight, L2 read, decode, stats.
//!
//! The bench starts its own `redis-server` (`cache_redis::test_util`).
//! Run: `cargo bench -p benches --bench l2_hit`. Results: `BENCHMARKS.md`.

use std::hint::black_box;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use benches::{Profile, profile};
use cache_core::l2::{BoxError, IntoL2, Invalidation, InvalidationSink, L2, L2Context};
use cache_core::{Cache, Codec, EntryOptions};
use cache_redis::RedisL2;
use cache_redis::test_util::RedisServer;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::future::join_all;
use redis::IntoConnectionInfo;
use redis::aio::ConnectionManager;
use redis::io::tcp::TcpSettings;

/// Keeps the engine's L1 disabled, so every `Cache::get` goes to L2, and keeps the attached L2
/// so the bench can also call `L2::get` on it directly.
struct NoL1 {
    l2: RedisL2,
    attached: Arc<OnceLock<Arc<dyn L2>>>,
}

struct NoL1Sink(Arc<dyn InvalidationSink>);

impl InvalidationSink for NoL1Sink {
    fn invalidate(&self, invalidation: Invalidation) {
        self.0.invalidate(invalidation);
    }
    fn set_connected(&self, _connected: bool) {
        self.0.set_connected(false);
    }
}

impl IntoL2 for NoL1 {
    fn into_l2(self, context: L2Context) -> Result<Arc<dyn L2>, BoxError> {
        let sink = Arc::new(NoL1Sink(context.sink()));
        let l2 = self.l2.into_l2(L2Context::new(context.namespace(), sink))?;
        let _ = self.attached.set(Arc::clone(&l2));
        Ok(l2)
    }
}

struct Setup {
    raw: ConnectionManager,
    l2: Arc<dyn L2>,
    cache: Cache,
    codec: Codec,
}

const NAMESPACE: &str = "bench";
const CONCURRENCY: usize = 16;

/// Cache key `i` (`bench:profile:{i}` in Redis, a hash).
fn key(i: usize) -> String {
    format!("profile:{i}")
}

/// The Redis hash of cache key `i`.
fn hash_key(i: usize) -> String {
    format!("{NAMESPACE}:profile:{i}")
}

/// A plain string holding the same bytes, for the `GET` baseline.
fn raw_key(i: usize) -> String {
    format!("raw:profile:{i}")
}

async fn setup(url: &str) -> Setup {
    let info = url
        .into_connection_info()
        .unwrap()
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    let raw = ConnectionManager::new(redis::Client::open(info).unwrap())
        .await
        .unwrap();
    let redis = RedisL2::builder().url(url).build().await.unwrap();
    let attached = Arc::new(OnceLock::new());
    let codec = Codec::bincode();
    let cache = Cache::builder()
        .namespace(NAMESPACE)
        .codec(codec)
        // Reported as disconnected (`NoL1Sink`) and no degraded L1: L1 stays off.
        .degraded_ttl(Duration::ZERO)
        .l2(NoL1 {
            l2: redis.clone(),
            attached: Arc::clone(&attached),
        })
        .build()
        .unwrap();
    assert!(redis.wait_for_backplane(Duration::from_secs(5)).await);
    let l2 = Arc::clone(attached.get().expect("attached by build"));
    let options = EntryOptions::new().ttl(Duration::from_secs(3600));
    let bytes = bincode::serde::encode_to_vec(profile(), bincode::config::standard()).unwrap();
    for i in 0..CONCURRENCY {
        cache.set(&key(i), profile(), &options).await;
        // The same bytes as a plain string for the GET baseline.
        let _: () = redis::cmd("SET")
            .arg(raw_key(i))
            .arg(&bytes)
            .query_async(&mut raw.clone())
            .await
            .unwrap();
        let payload: Vec<u8> = redis::cmd("HGET")
            .arg(hash_key(i))
            .arg("v")
            .query_async(&mut raw.clone())
            .await
            .unwrap();
        assert_eq!(
            payload, bytes,
            "the cache stores the codec's bytes in field v"
        );
    }
    Setup {
        raw,
        l2,
        cache,
        codec,
    }
}

fn decode(bytes: &[u8]) -> Profile {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .unwrap()
        .0
}

async fn raw_get(mut connection: ConnectionManager, i: usize) -> Profile {
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(raw_key(i))
        .query_async(&mut connection)
        .await
        .unwrap();
    decode(&bytes)
}

async fn raw_hget(mut connection: ConnectionManager, i: usize) -> Profile {
    let bytes: Vec<u8> = redis::cmd("HGET")
        .arg(hash_key(i))
        .arg("v")
        .query_async(&mut connection)
        .await
        .unwrap();
    decode(&bytes)
}

async fn raw_hmget(mut connection: ConnectionManager, i: usize) -> Profile {
    let (payload, _meta): (Vec<u8>, String) = redis::cmd("HMGET")
        .arg(hash_key(i))
        .arg(&["v", "m"])
        .query_async(&mut connection)
        .await
        .unwrap();
    decode(&payload)
}

async fn l2_get(l2: &dyn L2, codec: &Codec, i: usize) -> Profile {
    let entry = l2.get(&key(i), &[]).await.unwrap().unwrap();
    codec.decode::<Profile>(&entry.value).unwrap().unwrap()
}

async fn cache_get(cache: &Cache, i: usize) -> Profile {
    cache.get::<Profile>(&key(i)).await.unwrap()
}

fn l2_hit(c: &mut Criterion) {
    let server = RedisServer::start().expect("redis-server starts (install redis-server)");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let setup = runtime.block_on(setup(&server.url()));
    let Setup {
        raw,
        l2,
        cache,
        codec,
    } = &setup;

    let mut group = c.benchmark_group("l2_hit/sequential");
    group.bench_function("raw_get", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(raw_get(raw.clone(), 0).await) })
    });
    group.bench_function("raw_hget", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(raw_hget(raw.clone(), 0).await) })
    });
    group.bench_function("raw_hmget", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(raw_hmget(raw.clone(), 0).await) })
    });
    group.bench_function("l2_get", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(l2_get(l2, codec, 0).await) })
    });
    group.bench_function("cache_get", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(cache_get(cache, 0).await) })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("l2_hit/concurrent{CONCURRENCY}"));
    group.bench_function("raw_get", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(join_all((0..CONCURRENCY).map(|i| raw_get(raw.clone(), i))).await)
        })
    });
    group.bench_function("raw_hget", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(join_all((0..CONCURRENCY).map(|i| raw_hget(raw.clone(), i))).await)
        })
    });
    group.bench_function("raw_hmget", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(join_all((0..CONCURRENCY).map(|i| raw_hmget(raw.clone(), i))).await)
        })
    });
    group.bench_function("l2_get", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(join_all((0..CONCURRENCY).map(|i| l2_get(l2, codec, i))).await)
        })
    });
    group.bench_function("cache_get", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(join_all((0..CONCURRENCY).map(|i| cache_get(cache, i))).await)
        })
    });
    group.finish();

    runtime.block_on(paired(raw, l2, codec, cache));
    assert_eq!(cache.stats().l2_errors, 0);
    assert_eq!(cache.stats().l1_hits, 0, "L1 stayed bypassed");
}

/// Rounds of the paired comparison.
const PAIRED_ROUNDS: usize = 3000;

/// Loopback latency on a shared VM drifts by several times within a minute, so the groups
/// above, measured one after the other, can disagree on their order. This runs the sequential
/// variants interleaved (raw GET, `L2::get`, `Cache::get`, in turn, many times), so each sees
/// the same drift, and prints the median of each and the ratios to raw GET.
async fn paired(raw: &ConnectionManager, l2: &dyn L2, codec: &Codec, cache: &Cache) {
    for concurrency in [1, CONCURRENCY] {
        let mut samples = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..PAIRED_ROUNDS / concurrency.min(4) {
            let started = Instant::now();
            black_box(join_all((0..concurrency).map(|i| raw_get(raw.clone(), i))).await);
            samples[0].push(started.elapsed());
            let started = Instant::now();
            black_box(join_all((0..concurrency).map(|i| l2_get(l2, codec, i))).await);
            samples[1].push(started.elapsed());
            let started = Instant::now();
            black_box(join_all((0..concurrency).map(|i| cache_get(cache, i))).await);
            samples[2].push(started.elapsed());
        }
        let medians = samples.map(|mut s| {
            s.sort();
            s[s.len() / 2]
        });
        let ratio = |d: Duration| d.as_secs_f64() / medians[0].as_secs_f64();
        println!(
            "l2_hit/paired x{concurrency}: raw_get {:?}, l2_get {:?} ({:.2}x), cache_get {:?} ({:.2}x)",
            medians[0],
            medians[1],
            ratio(medians[1]),
            medians[2],
            ratio(medians[2])
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = l2_hit
}
criterion_main!(benches);
