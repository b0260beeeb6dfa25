//! Redis Sentinel: the master found through the sentinels, and followed across a requested
//! failover and across SIGKILL of the master while callers run; and over TLS with an ACL user
//! on the master.

use std::time::Duration;

use cache_redis::test_util::{RedisSentinel, RedisServer, SentinelTimings};
use cache_redis::{Error, RedisL2, RedisL2Builder};

use crate::certs::Certs;
use crate::common::{coherent_pair, test_builder, within_limit};
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
    /// For a deployment over TLS: the CA the test made (and the directory of its files).
    tls: Option<(tempfile::TempDir, Certs)>,
}

/// The ACL user of the TLS deployment's servers.
const USER: (&str, &str) = ("app", "s3cret");

impl Sentinel {
    /// The plain port of the server on `port` (the sentinels name TLS ports over TLS).
    fn plain(&self, port: u16) -> u16 {
        self.deployment.server(port).map_or(port, RedisServer::port)
    }
}

impl Deployment for Sentinel {
    fn builder(&self) -> RedisL2Builder {
        let builder = test_builder().sentinel(self.deployment.sentinel_urls(), SERVICE);
        match &self.tls {
            Some((_, certs)) => builder
                .tls_ca_certificates(certs.ca_pem.clone())
                .sentinel_master_auth(USER.0, USER.1),
            None => builder,
        }
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
        let port = self.plain(self.deployment.master_port().ok()?);
        (port != old).then_some(port)
    }

    fn master_of(&self, _key: &str) -> u16 {
        self.plain(self.deployment.master_port().unwrap())
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
        tls: None,
    }
}

/// A deployment over TLS whose servers only let the ACL user [`USER`] in (the default user
/// stays for replication and the sentinels).
fn start_tls(fault: Fault) -> Sentinel {
    let timings = SentinelTimings::default();
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::generate(dir.path());
    let args = certs.server_args(false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let deployment =
        tokio::task::block_in_place(|| RedisSentinel::start_tls(SERVICE, timings, &args)).unwrap();
    for port in deployment.server_ports() {
        let server = deployment.server(port).unwrap();
        let _: () = server
            .command(
                redis::cmd("ACL")
                    .arg("SETUSER")
                    .arg(USER.0)
                    .arg("on")
                    .arg(format!(">{}", USER.1))
                    .arg("~*")
                    .arg("&*")
                    .arg("+@all"),
            )
            .unwrap();
    }
    Sentinel {
        deployment,
        timings,
        fault,
        tls: Some((dir, certs)),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_over_tls_with_an_acl_user_follows_a_requested_failover() {
    let mut sentinel = start_tls(Fault::Requested);
    assert!(sentinel.deployment.sentinel_urls()[0].starts_with("rediss://"));
    scenario::run(
        "Sentinel over TLS, ACL user, SENTINEL FAILOVER",
        &mut sentinel,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_sentinel_does_not_hold_up_the_others() {
    within_limit(async {
        let sentinel = start(Fault::Requested);
        sentinel.deployment.freeze_sentinel(0, true).unwrap();
        // Every sentinel is asked at once; the frozen one's silence costs half the connect
        // timeout, not the whole resolution.
        coherent_pair(
            || sentinel.builder().connect_timeout(Duration::from_secs(1)),
            "frozen",
        )
        .await;
        sentinel.deployment.freeze_sentinel(0, false).unwrap();
    })
    .await;
}
