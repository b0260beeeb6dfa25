//! Redis Sentinel: the master found through the sentinels, and followed across a requested
//! failover and across SIGKILL of the master while callers run.

use std::time::Duration;

use cache_redis::test_util::{RedisSentinel, SentinelTimings};
use cache_redis::{Error, RedisL2, RedisL2Builder};

use crate::common::test_builder;
use crate::scenario::{self, Deployment};

const SERVICE: &str = "cache";

#[derive(Clone, Copy, Debug)]
enum Fault {
    Requested,
    Killed,
}

struct Sentinel {
    deployment: RedisSentinel,
    timings: SentinelTimings,
    fault: Fault,
}

impl Deployment for Sentinel {
    fn builder(&self) -> RedisL2Builder {
        test_builder().sentinel(self.deployment.sentinel_urls(), SERVICE)
    }

    fn fault(&mut self, _probe_key: &str) {
        match self.fault {
            Fault::Requested => self.deployment.failover().unwrap(),
            Fault::Killed => {
                self.deployment.kill_master().unwrap();
            }
        }
    }

    fn new_master_of(&self, _key: &str, old: u16) -> Option<u16> {
        self.deployment
            .master_port()
            .ok()
            .filter(|port| *port != old)
    }

    fn master_of(&self, _key: &str) -> u16 {
        self.deployment.master_port().unwrap()
    }

    fn bound(&self) -> Duration {
        self.timings.down_after + self.timings.failover_timeout + Duration::from_secs(2)
    }
}

fn start(fault: Fault) -> Sentinel {
    let timings = SentinelTimings::default();
    let deployment =
        tokio::task::block_in_place(|| RedisSentinel::start_with(SERVICE, timings)).unwrap();
    Sentinel {
        deployment,
        timings,
        fault,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_follows_a_requested_failover() {
    let mut sentinel = start(Fault::Requested);
    // The master's credentials are the master's: a wrong one is refused at build time.
    let built = RedisL2::builder()
        .sentinel(sentinel.deployment.sentinel_urls(), SERVICE)
        .sentinel_master_auth("app", "wrong")
        .build()
        .await;
    assert!(matches!(built, Err(Error::Authentication(_))), "{built:?}");
    scenario::run("Sentinel, SENTINEL FAILOVER", &mut sentinel).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_follows_a_killed_master() {
    let mut sentinel = start(Fault::Killed);
    scenario::run("Sentinel, SIGKILL of the master", &mut sentinel).await;
}
