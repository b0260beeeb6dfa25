//! [`RedisCluster`]: a throwaway local three-master Redis Cluster.

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{
    START_TIMEOUT, cli_bin, free_port, log_tail, query, spawn_server, stop, wait_ready,
};

/// Number of masters of a [`RedisCluster`].
const MASTERS: usize = 3;

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
        let mut last_error = None;
        for _ in 0..3 {
            match Self::try_start() {
                Ok(cluster) => return Ok(cluster),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("the cluster did not start")))
    }

    fn try_start() -> io::Result<Self> {
        let mut cluster = Self { nodes: Vec::new() };
        for _ in 0..MASTERS {
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
                "5000",
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
            .args(["--cluster-replicas", "0", "--cluster-yes"])
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

    /// The URL of every master, `redis://127.0.0.1:{port}/`: what
    /// `RedisL2::builder().cluster(...)` and `ClusterClient::new` take.
    pub fn node_urls(&self) -> Vec<String> {
        self.ports()
            .into_iter()
            .map(|port| format!("redis://127.0.0.1:{port}/"))
            .collect()
    }

    /// The port of every master.
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
