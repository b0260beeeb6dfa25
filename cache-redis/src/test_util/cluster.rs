//! [`RedisCluster`]: a throwaway local three-master Redis Cluster, optionally with a replica
//! per master for failover tests.

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::connection::parse_cluster_nodes;

use super::process::{
    START_TIMEOUT, cli_bin, free_port, log_tail, query, spawn_server, stop, wait_ready,
};

/// Number of masters of a [`RedisCluster`].
const MASTERS: usize = 3;
/// `cluster-node-timeout` of a cluster with replicas: a master unreachable this long is
/// failed over.
pub const FAILOVER_NODE_TIMEOUT: Duration = Duration::from_millis(1000);

/// A local Redis Cluster of three masters (no replicas) on free loopback ports, created with
/// `redis-cli --cluster create`, stopped and cleaned up on drop.
///
/// [`start`](Self::start) returns once every node reports `cluster_state:ok`, so keys can be
/// written right away; the 16384 slots are split evenly, so keys land on several masters.
///
/// ```no_run
/// use cache_redis::test_util::RedisCluster;
///
/// # fn main() -> std::io::Result<()> {
/// let cluster = RedisCluster::start()?;
/// let client = redis::cluster::ClusterClient::new(cluster.node_urls()).unwrap();
/// let mut connection = client.get_connection().unwrap();
/// let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut connection).unwrap();
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Node>,
    replicas: bool,
}

#[derive(Debug)]
struct Node {
    port: u16,
    // Dropped after the child is killed (fields drop in order; `Drop` kills first).
    dir: TempDir,
    child: Option<Child>,
}

impl RedisCluster {
    /// Starts three `cluster-enabled` servers, joins them into a cluster with
    /// `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`, and waits (at most
    /// 10 s) until every node reports `cluster_state:ok`.
    pub fn start() -> io::Result<Self> {
        Self::start_inner(false)
    }

    /// A cluster of three masters with one replica each (six nodes), `cluster-node-timeout`
    /// [`FAILOVER_NODE_TIMEOUT`]: a killed master's replica takes over within a few seconds.
    /// Returns once the cluster is ok and every replica is in sync.
    pub fn start_with_replicas() -> io::Result<Self> {
        Self::start_inner(true)
    }

    fn start_inner(replicas: bool) -> io::Result<Self> {
        let mut last_error = None;
        for _ in 0..3 {
            match Self::try_start(replicas) {
                Ok(cluster) => return Ok(cluster),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("the cluster did not start")))
    }

    fn try_start(replicas: bool) -> io::Result<Self> {
        let mut cluster = Self {
            nodes: Vec::new(),
            replicas,
        };
        let timeout = if replicas {
            FAILOVER_NODE_TIMEOUT.as_millis().to_string()
        } else {
            "5000".to_owned()
        };
        let count = if replicas { MASTERS * 2 } else { MASTERS };
        for _ in 0..count {
            let dir = tempfile::Builder::new()
                .prefix("cache-redis-cluster-")
                .tempdir()?;
            let port = free_port()?;
            let args = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                &timeout,
            ];
            let mut child = spawn_server(port, dir.path(), &args)?;
            let ready = wait_ready(&mut child, port, dir.path());
            cluster.nodes.push(Node {
                port,
                dir,
                child: Some(child),
            });
            ready?;
        }
        cluster.create()?;
        cluster.wait_ok()?;
        if replicas {
            cluster.wait_replicas_in_sync()?;
        }
        Ok(cluster)
    }

    fn create(&self) -> io::Result<()> {
        let output = Command::new(cli_bin())
            .arg("--cluster")
            .arg("create")
            .args(
                self.nodes
                    .iter()
                    .map(|node| format!("127.0.0.1:{}", node.port)),
            )
            .args([
                "--cluster-replicas",
                if self.replicas { "1" } else { "0" },
                "--cluster-yes",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot run `{}` ({error}); install redis-tools", cli_bin()),
                )
            })?;
        if output.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )))
        }
    }

    fn wait_replicas_in_sync(&self) -> io::Result<()> {
        self.wait_for("every replica is in sync", || {
            let nodes = self.cluster_nodes().unwrap_or_default();
            let replicas: Vec<u16> = parse_cluster_nodes(&nodes)
                .into_iter()
                .filter(|node| !node.master)
                .map(|node| node.port)
                .collect();
            replicas.len() == MASTERS
                && replicas.iter().all(|port| {
                    query::<String>(*port, redis::cmd("INFO").arg("replication"))
                        .is_ok_and(|info| info.contains("master_link_status:up"))
                })
        })
    }

    fn wait_for(&self, what: &str, ready: impl Fn() -> bool) -> io::Result<()> {
        let started = Instant::now();
        while !ready() {
            if started.elapsed() > START_TIMEOUT {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out waiting until {what}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// `CLUSTER NODES` from the first node that answers.
    fn cluster_nodes(&self) -> io::Result<String> {
        let mut last = None;
        for node in self.nodes.iter().filter(|node| node.child.is_some()) {
            match query::<String>(node.port, redis::cmd("CLUSTER").arg("NODES")) {
                Ok(nodes) => return Ok(nodes),
                Err(error) => last = Some(io::Error::other(error)),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no node runs")))
    }

    /// The ports of the masters now (from `CLUSTER NODES`; failed ones left out).
    pub fn master_ports(&self) -> io::Result<Vec<u16>> {
        let nodes = self.cluster_nodes()?;
        Ok(parse_cluster_nodes(&nodes)
            .into_iter()
            .filter(|node| node.master && !node.failed)
            .map(|node| node.port)
            .collect())
    }

    /// The port of the master serving `key` now (`CLUSTER KEYSLOT`, then `CLUSTER SLOTS`).
    pub fn master_of(&self, key: &str) -> io::Result<u16> {
        let port = self
            .nodes
            .iter()
            .find(|node| node.child.is_some())
            .map(|node| node.port)
            .ok_or_else(|| io::Error::other("no node runs"))?;
        let slot: u16 =
            query(port, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key)).map_err(io::Error::other)?;
        // Each range: [first, last, [host, port, id, ...], replicas...].
        let ranges: Vec<Vec<redis::Value>> =
            query(port, redis::cmd("CLUSTER").arg("SLOTS")).map_err(io::Error::other)?;
        ranges
            .iter()
            .find_map(|range| {
                let first: u16 = redis::from_redis_value_ref(range.first()?).ok()?;
                let last: u16 = redis::from_redis_value_ref(range.get(1)?).ok()?;
                let master: Vec<redis::Value> = redis::from_redis_value_ref(range.get(2)?).ok()?;
                let port: u16 = redis::from_redis_value_ref(master.get(1)?).ok()?;
                (first..=last).contains(&slot).then_some(port)
            })
            .ok_or_else(|| io::Error::other(format!("no master serves slot {slot}")))
    }

    /// Kills the node on `port` with SIGKILL.
    pub fn kill(&mut self, port: u16) -> io::Result<()> {
        let node = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .ok_or_else(|| io::Error::other(format!("no node on port {port}")))?;
        if let Some(mut child) = node.child.take() {
            stop(&mut child);
        }
        Ok(())
    }

    /// Waits until `key`'s slots have a master other than `old` and every running node
    /// reports `cluster_state:ok`; returns the new master's port.
    pub fn wait_for_failover(&self, key: &str, old: u16, limit: Duration) -> io::Result<u16> {
        let started = Instant::now();
        loop {
            if let Ok(port) = self.master_of(key)
                && port != old
                && self.running_nodes_ok()
            {
                return Ok(port);
            }
            if started.elapsed() > limit {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no replica took over from port {old} within {limit:?}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn running_nodes_ok(&self) -> bool {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .all(|node| {
                query::<String>(node.port, redis::cmd("CLUSTER").arg("INFO"))
                    .is_ok_and(|info| info.contains("cluster_state:ok"))
            })
    }

    fn wait_ok(&self) -> io::Result<()> {
        let started = Instant::now();
        loop {
            let all_ok = self.nodes.iter().all(|node| {
                query::<String>(node.port, redis::cmd("CLUSTER").arg("INFO"))
                    .is_ok_and(|info| info.contains("cluster_state:ok"))
            });
            if all_ok {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                let logs: Vec<String> = self.nodes.iter().map(|n| log_tail(n.dir.path())).collect();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the cluster did not reach cluster_state:ok within {START_TIMEOUT:?}: {}",
                        logs.join(" || ")
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of every node as started, `redis://127.0.0.1:{port}/` (the three masters, and
    /// the replicas of a cluster started with replicas): what
    /// `RedisL2::builder().cluster(...)` and `ClusterClient::new` take.
    pub fn node_urls(&self) -> Vec<String> {
        self.ports()
            .into_iter()
            .map(|port| format!("redis://127.0.0.1:{port}/"))
            .collect()
    }

    /// The port of every node, as in [`node_urls`](Self::node_urls).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                stop(&mut child);
            }
        }
    }
}
