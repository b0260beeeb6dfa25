//! The data connection: a `ConnectionManager` (standalone), a cluster connection, or the master
//! of a Sentinel service (`sentinel.rs`), behind one type that speaks
//! `redis::aio::ConnectionLike`, plus the list of masters to scan.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, RedisFuture, RedisResult, Value};

use crate::sentinel::MasterConnection;

/// Where a command for "every master" goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// The standalone server (or the Sentinel service's master).
    Only,
    /// A cluster master at this address.
    Master {
        /// Host as the cluster announces it.
        host: String,
        /// Port.
        port: u16,
    },
}

/// A cheap-to-clone handle on the data connection. Both variants reconnect by themselves.
#[derive(Clone)]
pub(crate) enum Connection {
    /// Standalone: one multiplexed connection, replaced on failure.
    Single(ConnectionManager),
    /// Redis Cluster: one multiplexed connection per node, slots refreshed on `MOVED`; and
    /// the cluster's configuration epoch, watched for failovers.
    Cluster(ClusterConnection, Arc<Epochs>),
    /// Redis Sentinel: the master the sentinels name, resolved again after a failover.
    Sentinel(MasterConnection),
}

impl Connection {
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(..))
    }

    /// How many times a master moved to another server (a Sentinel failover, a Cluster
    /// configuration epoch that grew) since the connection was made; the last writes the old
    /// master acknowledged may be missing on the new one.
    pub(crate) fn switches(&self) -> u64 {
        match self {
            Self::Sentinel(connection) => connection.sentinel().switches(),
            Self::Cluster(_, epochs) => epochs.switches.load(Ordering::Acquire),
            Self::Single(_) => 0,
        }
    }

    /// Reads the cluster's configuration epoch (`CLUSTER INFO`, any node): a failover raises
    /// it. Run on the backplane thread's periodic step; nothing for the other kinds.
    pub(crate) async fn observe_failovers(&self) {
        let Self::Cluster(connection, epochs) = self else {
            return;
        };
        let mut connection = connection.clone();
        let info = connection.route_command(
            redis::cmd("CLUSTER").arg("INFO").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        );
        let Ok(value) = info.await else { return };
        let Ok(info) = redis::from_redis_value::<String>(value) else {
            return;
        };
        if let Some(epoch) = info
            .lines()
            .find_map(|line| line.strip_prefix("cluster_current_epoch:"))
            .and_then(|epoch| epoch.trim().parse().ok())
        {
            epochs.observe(epoch);
        }
    }

    /// Whether the master can move to another server (Sentinel, Cluster).
    pub(crate) fn fails_over(&self) -> bool {
        !matches!(self, Self::Single(_))
    }

    /// Every master: the server itself, or the cluster's masters (from `CLUSTER NODES`).
    pub(crate) async fn masters(&self) -> RedisResult<Vec<Node>> {
        match self {
            Self::Single(_) | Self::Sentinel(_) => Ok(vec![Node::Only]),
            Self::Cluster(connection, _) => {
                let mut connection = connection.clone();
                let nodes: String = redis::from_redis_value(
                    connection
                        .route_command(
                            redis::cmd("CLUSTER").arg("NODES").clone(),
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                        )
                        .await?,
                )?;
                Ok(parse_masters(&nodes))
            }
        }
    }

    /// Sends a command to one node.
    pub(crate) async fn query_node<T: redis::FromRedisValue>(
        &self,
        node: &Node,
        command: Cmd,
    ) -> RedisResult<T> {
        match (self, node) {
            (Self::Cluster(connection, _), Node::Master { host, port }) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                let value = connection.clone().route_command(command, routing).await?;
                Ok(redis::from_redis_value(value)?)
            }
            _ => command.query_async(&mut self.clone()).await,
        }
    }
}

/// A cluster's configuration epoch as seen, and how many times it grew.
#[derive(Default)]
pub(crate) struct Epochs {
    seen: AtomicU64,
    switches: AtomicU64,
}

impl Epochs {
    /// Notes the epoch a node reported; a growth after the first reading counts as a switch.
    fn observe(&self, epoch: u64) {
        let before = self.seen.fetch_max(epoch, Ordering::AcqRel);
        if before != 0 && epoch > before {
            self.switches.fetch_add(1, Ordering::AcqRel);
            tracing::warn!(
                from = before,
                to = epoch,
                "the cluster's configuration epoch grew (a failover)"
            );
        }
    }
}

/// One line of `CLUSTER NODES` (`id host:port@bus[,hostname] flags ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterNode {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) master: bool,
    /// Flagged `fail` or `fail?`.
    pub(crate) failed: bool,
}

/// The nodes listed by `CLUSTER NODES`.
pub(crate) fn parse_cluster_nodes(nodes: &str) -> Vec<ClusterNode> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _id = fields.next()?;
            let address = fields.next()?.split(['@', ',']).next()?;
            let flags: Vec<&str> = fields.next()?.split(',').collect();
            let (host, port) = address.rsplit_once(':')?;
            Some(ClusterNode {
                host: host.to_owned(),
                port: port.parse().ok()?,
                master: flags.contains(&"master"),
                failed: flags.iter().any(|flag| flag.starts_with("fail")),
            })
        })
        .collect()
}

/// The masters listed by `CLUSTER NODES`, skipping failed ones.
fn parse_masters(nodes: &str) -> Vec<Node> {
    parse_cluster_nodes(nodes)
        .into_iter()
        .filter(|node| node.master && !node.failed)
        .map(|node| Node::Master {
            host: node.host,
            port: node.port,
        })
        .collect()
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection, _) => connection.req_packed_command(cmd),
            Self::Sentinel(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection, _) => connection.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(connection) => connection.get_db(),
            Self::Cluster(connection, _) => connection.get_db(),
            Self::Sentinel(connection) => connection.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes() {
        let nodes = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-a slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 master,fail - 0 1426238316232 5 connected
";
        let masters = parse_masters(nodes);
        let ports: Vec<u16> = masters
            .iter()
            .map(|node| match node {
                Node::Master { port, .. } => *port,
                Node::Only => 0,
            })
            .collect();
        assert_eq!(ports, [30002, 30003, 30001]);
    }

    #[test]
    fn a_growing_epoch_counts_as_a_switch() {
        let epochs = Epochs::default();
        epochs.observe(6);
        epochs.observe(6);
        assert_eq!(epochs.switches.load(Ordering::Relaxed), 0);
        epochs.observe(7);
        epochs.observe(5);
        assert_eq!(epochs.switches.load(Ordering::Relaxed), 1);
    }
}
