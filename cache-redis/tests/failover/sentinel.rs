//! Redis Sentinel: the master found through the sentinels, and followed across a requested
//! failover and across SIGKILL of the master while callers run.

use std::time::{Duration, Instant};

use cache_core::{Cache, Codec, EntryOptions};
use cache_redis::test_util::{RedisSentinel, SentinelTimings};
use cache_redis::{Error, RedisL2};

use crate::callers::Callers;
use crate::common::{assert_shared_and_coherent, eventually, node_from, raw, test_builder};

const SERVICE: &str = "cache";
/// Keys invalidated while the failover runs, one every 50 ms.
const INVALIDATED: u64 = 40;

#[derive(Clone, Copy, Debug)]
enum Fault {
    Requested,
    Killed,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_follows_a_requested_failover() {
    follow(Fault::Requested).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_follows_a_killed_master() {
    follow(Fault::Killed).await;
}

async fn exists(port: u16, key: &str) -> bool {
    let mut connection = raw(&format!("redis://127.0.0.1:{port}/")).await;
    let found: redis::RedisResult<u32> = redis::cmd("HEXISTS")
        .arg(key)
        .arg("v")
        .query_async(&mut connection)
        .await;
    found.is_ok_and(|found| found == 1)
}

async fn follow(fault: Fault) {
    let limit = Duration::from_secs(120);
    tokio::time::timeout(limit, scenario(fault))
        .await
        .expect("the failover scenario did not finish within its limit");
}

async fn scenario(fault: Fault) {
    let timings = SentinelTimings::default();
    let mut deployment =
        tokio::task::block_in_place(|| RedisSentinel::start_with(SERVICE, timings)).unwrap();
    let urls = deployment.sentinel_urls();
    let builder = || test_builder().sentinel(urls.clone(), SERVICE);
    let (a, la) = node_from(builder(), "sv", Codec::bincode()).await;
    let (b, lb) = node_from(builder(), "sv", Codec::bincode()).await;
    assert_shared_and_coherent(&a, &b, "before").await;

    if let Fault::Requested = fault {
        // The master's credentials are the master's: a wrong one is refused at build time.
        let built = RedisL2::builder()
            .sentinel(urls.clone(), SERVICE)
            .sentinel_master_auth("app", "wrong")
            .build()
            .await;
        assert!(matches!(built, Err(Error::Authentication(_))), "{built:?}");
    }

    let options = EntryOptions::new().ttl(Duration::from_secs(600));
    for i in 0..INVALIDATED {
        a.set(&format!("inv:{i}"), i, &options).await;
    }
    let old = deployment.master_port().unwrap();
    assert!(exists(old, "sv:inv:0").await);
    let callers = [Callers::start(&a, 4), Callers::start(&b, 4)];
    let loads_before: u64 = callers.iter().map(Callers::loads).sum();

    let started = Instant::now();
    match fault {
        Fault::Requested => deployment.failover().unwrap(),
        Fault::Killed => {
            deployment.kill_master().unwrap();
        }
    }
    // Invalidations while the failover runs: some reach a dead or demoted master and wait in
    // the queue, to be applied on the new master.
    let invalidating = async {
        for i in 0..INVALIDATED {
            a.invalidate(&format!("inv:{i}")).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // Writes land on the new master within down-after + failover timeout + 2 s.
    let bound = timings.down_after + timings.failover_timeout + Duration::from_secs(2);
    let landing = async {
        let mut attempt = 0u64;
        loop {
            attempt += 1;
            let key = format!("probe:{attempt}");
            a.set(&key, attempt, &options).await;
            if let Ok(port) = deployment.master_port()
                && port != old
                && exists(port, &format!("sv:{key}")).await
            {
                return (started.elapsed(), port);
            }
            assert!(
                started.elapsed() < bound,
                "{fault:?}: no write reached a new master within {bound:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let ((landed, new), ()) = tokio::join!(landing, invalidating);
    let loads_during = callers.iter().map(Callers::loads).sum::<u64>() - loads_before;

    eventually(
        "both backplanes to resubscribe on the new master",
        || async { la.backplane_connected() && lb.backplane_connected() },
    )
    .await;
    // No invalidated value is served 3 s after the new master took writes, by either process
    // or by Redis.
    tokio::time::sleep((landed + Duration::from_secs(3)).saturating_sub(started.elapsed())).await;
    for i in 0..INVALIDATED {
        let key = format!("inv:{i}");
        assert_eq!(a.get::<u64>(&key).await, None, "{fault:?}: A serves {key}");
        assert_eq!(b.get::<u64>(&key).await, None, "{fault:?}: B serves {key}");
        assert!(
            !exists(new, &format!("sv:{key}")).await,
            "{fault:?}: the new master holds {key}"
        );
    }
    // The backplane carries invalidations again.
    assert_shared_and_coherent(&a, &b, "after").await;
    assert_shared_and_coherent(&b, &a, "after, the other way").await;

    let [ca, cb] = callers;
    let (sa, sb) = (ca.stop().await, cb.stop().await);
    let recovered = started.elapsed();
    println!(
        "sentinel {fault:?}: writes on the new master after {landed:?}; calls {}, caller errors {}, \
         loads during {loads_during}, slowest call {:?}, pending now {}/{}",
        sa.calls + sb.calls,
        sa.errors + sb.errors,
        sa.slowest.max(sb.slowest),
        pending(&a),
        pending(&b),
    );
    assert_eq!(sa.errors + sb.errors, 0, "{fault:?}: caller errors");
    assert!(
        sa.slowest.max(sb.slowest) < Duration::from_secs(3),
        "{fault:?}: a call hung"
    );
    let _ = recovered;
}

fn pending(cache: &Cache) -> usize {
    cache
        .l2_status()
        .map_or(0, |status| status.pending_invalidations)
}
