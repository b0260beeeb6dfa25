//! [`RedisSentinel`]: a throwaway Redis Sentinel deployment (a master, a replica, three
//! sentinels) for failover tests.

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::RedisServer;
use super::process::{
    START_TIMEOUT, log_tail, query, server_bin, signal, start_on_free_ports, stop,
};

/// Number of sentinels (a quorum of two).
const SENTINELS: usize = 3;

/// A master and one replica watched by three sentinels on free loopback ports (quorum 2),
/// with short failover timings: a master unanswered for `down-after-milliseconds` (default
/// 1 s) is failed over, a failover may take `failover-timeout` (default 2 s). Stopped and
/// cleaned up on drop.
///
/// [`start`](Self::start) returns once the replica is in sync and every sentinel knows the
/// replica and the other sentinels, so a failover can happen right away.
///
/// ```no_run
/// use std::time::Duration;
/// use cache_redis::test_util::RedisSentinel;
///
/// # fn main() -> std::io::Result<()> {
/// let mut deployment = RedisSentinel::start("cache")?;
/// let old = deployment.master_port()?;
/// deployment.kill_master()?;                          // SIGKILL; or .failover() to ask
/// let new = deployment.wait_for_new_master(old, Duration::from_secs(10))?;
/// assert_ne!(old, new);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RedisSentinel {
    service: String,
    servers: Vec<RedisServer>,
    sentinels: Vec<SentinelProcess>,
    tls: bool,
}

#[derive(Debug)]
struct SentinelProcess {
    port: u16,
    tls_port: Option<u16>,
    // Dropped after the child is killed.
    dir: TempDir,
    child: Option<Child>,
}

/// Timings of a [`RedisSentinel`].
#[derive(Debug, Clone, Copy)]
pub struct SentinelTimings {
    /// `down-after-milliseconds`: how long the master may not answer before it is failed over.
    pub down_after: Duration,
    /// `failover-timeout`.
    pub failover_timeout: Duration,
}

impl Default for SentinelTimings {
    fn default() -> Self {
        Self {
            down_after: Duration::from_millis(1000),
            failover_timeout: Duration::from_millis(2000),
        }
    }
}

impl RedisSentinel {
    /// Starts the deployment for `service` with the default [`SentinelTimings`].
    pub fn start(service: &str) -> io::Result<Self> {
        Self::start_with(service, SentinelTimings::default())
    }

    /// Starts the deployment with these timings.
    pub fn start_with(service: &str, timings: SentinelTimings) -> io::Result<Self> {
        Self::start_inner(service, timings, &[])
    }

    /// Starts the deployment over TLS: servers and sentinels listen for TLS too (the plain
    /// ports stay open, for set-up), replicate and monitor over TLS, so the sentinels name
    /// TLS ports and [`sentinel_urls`](Self::sentinel_urls) are `rediss://`. `tls_args` name
    /// the certificates as for [`RedisServer::start_tls`].
    pub fn start_tls(
        service: &str,
        timings: SentinelTimings,
        tls_args: &[&str],
    ) -> io::Result<Self> {
        Self::start_inner(service, timings, tls_args)
    }

    fn start_inner(service: &str, timings: SentinelTimings, tls_args: &[&str]) -> io::Result<Self> {
        let tls = !tls_args.is_empty();
        let mut server_args: Vec<&str> = tls_args.to_vec();
        if tls {
            server_args.extend(["--tls-replication", "yes"]);
        }
        let start = |args: &[&str]| {
            if tls {
                RedisServer::start_tls(args)
            } else {
                RedisServer::start_with_args(args)
            }
        };
        let master = start(&server_args)?;
        let master_port = master.tls_port().unwrap_or(master.port());
        let master_port_text = master_port.to_string();
        let mut replica_args = server_args.clone();
        replica_args.extend(["--replicaof", "127.0.0.1", &master_port_text]);
        let replica = start(&replica_args)?;
        let mut deployment = Self {
            service: service.to_owned(),
            servers: vec![master, replica],
            sentinels: Vec::new(),
            tls,
        };
        deployment.wait_until("the replica is in sync", |d| {
            d.servers[1]
                .command::<String>(redis::cmd("INFO").arg("replication"))
                .is_ok_and(|info| info.contains("master_link_status:up"))
        })?;
        // `--tls-cert-file x` becomes the configuration line `tls-cert-file x`.
        let tls_lines: String = tls_args
            .chunks(2)
            .map(|pair| {
                format!(
                    "{} {}\n",
                    pair[0].trim_start_matches("--"),
                    pair.get(1).unwrap_or(&"")
                )
            })
            .collect();
        for _ in 0..SENTINELS {
            let sentinel = SentinelProcess::start(service, master_port, timings, &tls_lines)?;
            deployment.sentinels.push(sentinel);
        }
        deployment.wait_until("every sentinel knows the replica and the others", |d| {
            d.sentinels.iter().all(|sentinel| {
                sentinel.master_info(&d.service).is_ok_and(|info| {
                    field(&info, "num-slaves") >= 1 && field(&info, "num-other-sentinels") >= 2
                })
            })
        })?;
        Ok(deployment)
    }

    fn wait_until(&self, what: &str, ready: impl Fn(&Self) -> bool) -> io::Result<()> {
        let started = Instant::now();
        while !ready(self) {
            if started.elapsed() > START_TIMEOUT * 2 {
                let logs: Vec<String> = self
                    .sentinels
                    .iter()
                    .map(|s| log_tail(s.dir.path()))
                    .collect();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out waiting until {what}: {}", logs.join(" || ")),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The service (master) name the sentinels monitor.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The sentinels' URLs, `redis://127.0.0.1:{port}/`: what
    /// `RedisL2::builder().sentinel(...)` takes.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|sentinel| match sentinel.tls_port {
                Some(port) if self.tls => format!("rediss://127.0.0.1:{port}/"),
                _ => format!("redis://127.0.0.1:{}/", sentinel.port),
            })
            .collect()
    }

    /// The port of the master the first answering sentinel names (its TLS port in a
    /// deployment over TLS).
    pub fn master_port(&self) -> io::Result<u16> {
        let mut last = None;
        for sentinel in &self.sentinels {
            match sentinel.master_address(&self.service) {
                Ok(port) => return Ok(port),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no sentinel")))
    }

    /// The data server (master or replica) on `port` (plain or TLS).
    pub fn server(&self, port: u16) -> Option<&RedisServer> {
        self.servers
            .iter()
            .find(|server| server.port() == port || server.tls_port() == Some(port))
    }

    /// The data servers' ports (the master's first at start).
    pub fn server_ports(&self) -> Vec<u16> {
        self.servers.iter().map(RedisServer::port).collect()
    }

    /// Asks a sentinel for a failover (`SENTINEL FAILOVER <service>`): the replica is
    /// promoted, the old master becomes a replica later.
    pub fn failover(&self) -> io::Result<()> {
        let sentinel = &self.sentinels[0];
        query::<String>(
            sentinel.port,
            redis::cmd("SENTINEL").arg("FAILOVER").arg(&self.service),
        )
        .map(drop)
        .map_err(io::Error::other)
    }

    /// Freezes sentinel number `index` with SIGSTOP (its connections stay open, nothing
    /// answers), or thaws it with `frozen = false` (SIGCONT).
    pub fn freeze_sentinel(&self, index: usize, frozen: bool) -> io::Result<()> {
        let pid = self
            .sentinels
            .get(index)
            .and_then(|sentinel| sentinel.child.as_ref())
            .map(Child::id)
            .ok_or_else(|| io::Error::other(format!("no sentinel number {index}")))?;
        signal(pid, if frozen { "STOP" } else { "CONT" })
    }

    /// Kills the current master with SIGKILL; returns its port.
    pub fn kill_master(&mut self) -> io::Result<u16> {
        let port = self.master_port()?;
        let server = self
            .servers
            .iter_mut()
            .find(|server| server.port() == port || server.tls_port() == Some(port))
            .ok_or_else(|| io::Error::other(format!("no server on port {port}")))?;
        server.kill();
        Ok(port)
    }

    /// Waits until every sentinel names a master other than `old` and that server says
    /// `master` to `ROLE`; returns its port.
    pub fn wait_for_new_master(&self, old: u16, limit: Duration) -> io::Result<u16> {
        let started = Instant::now();
        loop {
            let named: Vec<Option<u16>> = self
                .sentinels
                .iter()
                .map(|sentinel| sentinel.master_address(&self.service).ok())
                .collect();
            if let Some(Some(port)) = named.first()
                && *port != old
                && named.iter().all(|other| *other == Some(*port))
                && self.server(*port).is_some_and(|server| {
                    server
                        .command::<Vec<redis::Value>>(&redis::cmd("ROLE"))
                        .is_ok_and(|role| {
                            matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master")
                        })
                })
            {
                return Ok(*port);
            }
            if started.elapsed() > limit {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no new master within {limit:?}; sentinels name {named:?}"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl SentinelProcess {
    fn start(
        service: &str,
        master_port: u16,
        timings: SentinelTimings,
        tls_lines: &str,
    ) -> io::Result<Self> {
        let started = start_on_free_ports(
            "cache-redis-sentinel-",
            !tls_lines.is_empty(),
            |dir, port, tls_port| {
                let tls = match tls_port {
                    Some(tls_port) => {
                        format!("tls-port {tls_port}\ntls-replication yes\n{tls_lines}")
                    }
                    None => String::new(),
                };
                let config = format!(
                    "port {port}\n{tls}bind 127.0.0.1\ndaemonize no\nlogfile \"redis.log\"\ndir \"{dir}\"\n\
                 sentinel monitor {service} 127.0.0.1 {master_port} 2\n\
                 sentinel down-after-milliseconds {service} {down}\n\
                 sentinel failover-timeout {service} {failover}\n\
                 sentinel parallel-syncs {service} 1\n",
                    dir = dir.display(),
                    down = timings.down_after.as_millis(),
                    failover = timings.failover_timeout.as_millis(),
                );
                let path = dir.join("sentinel.conf");
                std::fs::write(&path, config)?;
                Command::new(server_bin())
                    .arg(&path)
                    .arg("--sentinel")
                    .current_dir(dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
            },
        )?;
        Ok(Self {
            port: started.port,
            tls_port: started.tls_port,
            dir: started.dir,
            child: Some(started.child),
        })
    }

    fn master_info(&self, service: &str) -> redis::RedisResult<Vec<String>> {
        query(self.port, redis::cmd("SENTINEL").arg("MASTER").arg(service))
    }

    fn master_address(&self, service: &str) -> io::Result<u16> {
        let address: Option<(String, String)> = query(
            self.port,
            redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(service),
        )
        .map_err(io::Error::other)?;
        let (_host, port) =
            address.ok_or_else(|| io::Error::other("the sentinel knows no such service"))?;
        port.parse().map_err(io::Error::other)
    }
}

/// A numeric field of a `SENTINEL MASTER` answer (field, value, field, value...).
fn field(info: &[String], name: &str) -> u64 {
    info.chunks(2)
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair.get(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child);
        }
    }
}
