//! One failover scenario, whatever the deployment: two caches (two "processes") with callers
//! running, invalidations while the failover runs, then the checks: writes land on the new
//! master within the bound, no invalidated value is served 3 s after, the backplane carries
//! invalidations again, and no caller saw an error.

use std::time::{Duration, Instant};

use cache_core::{Cache, Codec, EntryOptions};
use cache_redis::RedisL2Builder;

use crate::callers::Callers;
use crate::common::{assert_shared_and_coherent, eventually, node_from, raw};

/// Keys invalidated while the failover runs, one every 50 ms.
const INVALIDATED: u64 = 40;
/// The cache namespace.
pub const NAMESPACE: &str = "fo";

/// A deployment that can fail over.
pub trait Deployment {
    /// A builder for it, with the tests' short timeouts.
    fn builder(&self) -> RedisL2Builder;
    /// Starts the failover (kills or demotes the master serving `probe_key`, in Redis's key
    /// space).
    fn fault(&mut self, probe_key: &str);
    /// The port of the master serving `key` (a Redis key), if it is not `old`.
    fn new_master_of(&self, key: &str, old: u16) -> Option<u16>;
    /// The port of the master serving `key` now.
    fn master_of(&self, key: &str) -> u16;
    /// The bound on writes landing on the new master after the fault.
    fn bound(&self) -> Duration;
}

/// What a scenario measured.
#[derive(Debug)]
pub struct Figures {
    /// From the fault to a write through one process read by the other from the new master.
    pub writes_landed: Duration,
    /// From the fault to both backplanes subscribed again (after the writes landed).
    pub backplane_back: Duration,
    /// Calls of the 8 callers over the whole scenario, and the slowest.
    pub calls: u64,
    pub slowest: Duration,
    /// Loads (callers' misses) from the fault until the writes landed.
    pub loads_during: u64,
}

impl Figures {
    /// A row of the table in `BENCHMARKS.md`.
    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {:.2} | {:.2} | {} | 0 | {} | {:.0} |",
            self.writes_landed.as_secs_f64(),
            self.backplane_back.as_secs_f64(),
            self.calls,
            self.loads_during,
            self.slowest.as_secs_f64() * 1000.0,
        )
    }
}

/// Whether the server on `port` holds an entry (value field) at the Redis key `key`.
async fn holds(port: u16, key: &str) -> bool {
    let mut connection = raw(&format!("redis://127.0.0.1:{port}/")).await;
    let found: redis::RedisResult<u32> = redis::cmd("HEXISTS")
        .arg(key)
        .arg("v")
        .query_async(&mut connection)
        .await;
    found.is_ok_and(|found| found == 1)
}

/// Runs the scenario; panics on a broken guarantee.
pub async fn run<D: Deployment>(name: &str, deployment: &mut D) -> Figures {
    let limit = Duration::from_secs(120);
    tokio::time::timeout(limit, scenario(name, deployment))
        .await
        .unwrap_or_else(|_| panic!("{name}: the scenario did not finish within {limit:?}"))
}

async fn scenario<D: Deployment>(name: &str, deployment: &mut D) -> Figures {
    let (a, la) = node_from(deployment.builder(), NAMESPACE, Codec::bincode()).await;
    let (b, lb) = node_from(deployment.builder(), NAMESPACE, Codec::bincode()).await;
    assert_shared_and_coherent(&a, &b, "before").await;

    let options = EntryOptions::new().ttl(Duration::from_secs(600));
    let invalidated: Vec<String> = (0..INVALIDATED).map(|i| format!("inv:{i}")).collect();
    for (i, key) in invalidated.iter().enumerate() {
        a.set(key, i, &options).await;
    }
    let probe = "probe";
    let old = deployment.master_of(&redis_key(probe));
    let callers = [Callers::start(&a, 4), Callers::start(&b, 4)];
    let loads_before: u64 = callers.iter().map(Callers::loads).sum();

    let started = Instant::now();
    deployment.fault(&redis_key(probe));
    // Invalidations while the failover runs: some reach a dead or demoted master and wait
    // in the queue, some are acknowledged by a master whose replica is promoted without them.
    let invalidating = async {
        for key in &invalidated {
            a.invalidate(key).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let bound = deployment.bound();
    let landing = async {
        let mut value = 0u64;
        loop {
            value += 1;
            a.set(probe, value, &options).await;
            if let Some(port) = deployment.new_master_of(&redis_key(probe), old)
                && holds(port, &redis_key(probe)).await
                && b_reads(&b, probe, value).await
            {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < bound,
                "{name}: no write reached the new master within {bound:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (writes_landed, ()) = tokio::join!(landing, invalidating);
    let loads_during = callers.iter().map(Callers::loads).sum::<u64>() - loads_before;

    eventually("both backplanes to be subscribed again", || async {
        la.backplane_connected() && lb.backplane_connected()
    })
    .await;
    let backplane_back = started.elapsed();
    // No invalidated value is served 3 s after the new master took writes, by either process
    // or by Redis.
    let settled = writes_landed + Duration::from_secs(3);
    tokio::time::sleep(settled.saturating_sub(started.elapsed())).await;
    for key in &invalidated {
        assert_eq!(a.get::<usize>(key).await, None, "{name}: A serves {key}");
        assert_eq!(b.get::<usize>(key).await, None, "{name}: B serves {key}");
        let master = deployment.master_of(&redis_key(key));
        assert!(
            !holds(master, &redis_key(key)).await,
            "{name}: the master on port {master} holds {key}"
        );
    }
    // The backplane carries invalidations again, both ways.
    assert_shared_and_coherent(&a, &b, "after").await;
    assert_shared_and_coherent(&b, &a, "after, the other way").await;

    let [ca, cb] = callers;
    let (sa, sb) = (ca.stop().await, cb.stop().await);
    let figures = Figures {
        writes_landed,
        backplane_back,
        calls: sa.calls + sb.calls,
        slowest: sa.slowest.max(sb.slowest),
        loads_during,
    };
    println!("{}", figures.row(name));
    assert_eq!(
        (pending(&a), pending(&b)),
        (0, 0),
        "{name}: invalidations still wait"
    );
    assert_eq!(sa.errors + sb.errors, 0, "{name}: caller errors");
    assert!(
        figures.slowest < Duration::from_secs(5),
        "{name}: a call hung"
    );
    figures
}

/// Whether the other process reads `value` at `key` (from Redis: a write lands for everyone).
async fn b_reads(b: &Cache, key: &str, value: u64) -> bool {
    b.get::<u64>(key).await == Some(value)
}

/// The Redis key of a cache key.
pub fn redis_key(key: &str) -> String {
    format!("{NAMESPACE}:{key}")
}

fn pending(cache: &Cache) -> usize {
    cache
        .l2_status()
        .map_or(0, |status| status.pending_invalidations)
}
