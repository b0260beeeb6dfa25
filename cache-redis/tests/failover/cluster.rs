//! Redis Cluster: the master serving a key killed, its replica promoted, while callers run:
//! the same guarantees as a standalone restart.

use std::time::Duration;

use cache_redis::RedisL2Builder;
use cache_redis::test_util::{FAILOVER_NODE_TIMEOUT, RedisCluster};

use crate::common::test_builder;
use crate::scenario::{self, Deployment};

struct Cluster {
    cluster: RedisCluster,
}

impl Deployment for Cluster {
    fn builder(&self) -> RedisL2Builder {
        test_builder().cluster(self.cluster.node_urls())
    }

    fn fault(&mut self, probe_key: &str) {
        let master = self.cluster.master_of(probe_key).unwrap();
        self.cluster.kill(master).unwrap();
    }

    fn new_master_of(&self, key: &str, old: u16) -> Option<u16> {
        self.cluster.master_of(key).ok().filter(|port| *port != old)
    }

    fn master_of(&self, key: &str) -> u16 {
        self.cluster.master_of(key).unwrap()
    }

    fn bound(&self) -> Duration {
        // The cluster's down-after is the node timeout; a replica's election takes up to
        // about twice that.
        FAILOVER_NODE_TIMEOUT * 3 + Duration::from_secs(2)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_follows_a_killed_master() {
    let cluster = tokio::task::block_in_place(RedisCluster::start_with_replicas).unwrap();
    let mut cluster = Cluster { cluster };
    scenario::run("Cluster, SIGKILL of a master", &mut cluster).await;
}
