//! The fault suite: two OS processes of a small service share a real redis-server; one writes
//! (bumps versions in a database, invalidates) and both read through their caches, while the
//! orchestrator (this test) breaks Redis in scripted ways. Per fault it asserts no caller
//! error, no read older than an invalidation that completed more than the documented bound
//! before it, a bounded number of loads during the outage, and recovery within a bound; and it
//! prints the figures (`BENCHMARKS.md`, "Faults").
//!
//! `cargo test -p cache-redis --test fault_suite -- --nocapture` prints the table; with
//! `FAULT_SUITE_REPORT=path` it is also written to `path`.

mod analysis;
mod node;

use std::time::Duration;

use cache_redis::test_util::{ChildTest, RedisServer};

use analysis::{NodeLog, Phases, Report};
use node::NodeConfig;

/// Keys of the workload.
pub const KEYS: u64 = 20;
/// Reader tasks per node.
pub const READERS: u64 = 4;
/// A load's database time.
pub const LOAD_TIME: Duration = Duration::from_millis(2);
/// The nodes' backplane heartbeat.
pub const HEARTBEAT: Duration = Duration::from_millis(200);
/// The nodes' `degraded_ttl` (the default).
pub const DEGRADED_TTL: Duration = cache_core::DEFAULT_DEGRADED_TTL;
/// The environment variable that makes the ignored `node` test a node.
pub const NODE_ENV: &str = "CACHE_FAULT_NODE";
/// Replies of a node follow this marker (libtest prints other text too).
pub const PREFIX: &str = "FAULTNODE ";

const WARM: Duration = Duration::from_millis(1500);
const FAULT: Duration = Duration::from_secs(3);
/// Observation after the fault; also the bound on recovery.
const TAIL: Duration = Duration::from_secs(4);
const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// Microseconds since the Unix epoch (one clock for every process on the machine).
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The documented staleness bound: three heartbeats while connected, `degraded_ttl` after
/// the load while disconnected; plus the load's own time and the writer's 10 ms tick at
/// which it notices its invalidations completed.
fn bound() -> Duration {
    (HEARTBEAT * 3).max(DEGRADED_TTL) + LOAD_TIME + Duration::from_millis(20)
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// SIGKILL, then a restart after the fault window.
    Kill,
    /// SIGSTOP, then SIGCONT.
    Freeze,
    /// `CLIENT KILL TYPE pubsub`: every subscription dropped at once.
    KillSubscriptions,
    /// `CLIENT PAUSE <window> ALL`.
    Pause,
    /// No fault in Redis: the reader node's cache was built on a runtime dropped before it
    /// serves.
    None,
}

struct Scenario {
    name: &'static str,
    fault: Fault,
    aof: bool,
    dropped_runtime: bool,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario {
        name: "SIGKILL + restart, no persistence",
        fault: Fault::Kill,
        aof: false,
        dropped_runtime: false,
    },
    Scenario {
        name: "SIGKILL + restart, AOF",
        fault: Fault::Kill,
        aof: true,
        dropped_runtime: false,
    },
    Scenario {
        name: "SIGSTOP 3 s",
        fault: Fault::Freeze,
        aof: false,
        dropped_runtime: false,
    },
    Scenario {
        name: "CLIENT KILL TYPE pubsub",
        fault: Fault::KillSubscriptions,
        aof: false,
        dropped_runtime: false,
    },
    Scenario {
        name: "CLIENT PAUSE 3 s",
        fault: Fault::Pause,
        aof: false,
        dropped_runtime: false,
    },
    Scenario {
        name: "building runtime dropped",
        fault: Fault::None,
        aof: false,
        dropped_runtime: true,
    },
];

struct NodeProcess {
    child: ChildTest,
    log: std::path::PathBuf,
}

impl NodeProcess {
    async fn spawn(config: NodeConfig) -> Self {
        let log = std::path::PathBuf::from(&config.log);
        let mut child = ChildTest::spawn("node", (NODE_ENV, &config.encode()), PREFIX)
            .expect("the node process starts")
            .limit(WAIT_LIMIT);
        assert_eq!(child.reply().await.unwrap(), "ready");
        Self { child, log }
    }

    async fn stop(mut self) -> NodeLog {
        assert_eq!(self.child.ask("stop").await.unwrap(), "done");
        assert!(self.child.wait().await.unwrap().success());
        NodeLog::parse(&std::fs::read_to_string(&self.log).unwrap())
    }
}

async fn redis_command(url: &str, args: &[&str]) {
    let mut connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("a connection to Redis");
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    let _: redis::Value = command.query_async(&mut connection).await.unwrap();
}

async fn run(scenario: &Scenario, dir: &std::path::Path) -> Report {
    let database = RedisServer::start().unwrap();
    let args: &[&str] = if scenario.aof {
        &["--appendonly", "yes", "--appendfsync", "always"]
    } else {
        &[]
    };
    let mut redis = RedisServer::start_with_args(args).unwrap();
    let config = |writer: bool, dropped_runtime: bool, name: &str| NodeConfig {
        writer,
        redis_url: redis.url(),
        db_url: database.url(),
        log: dir.join(name).display().to_string(),
        dropped_runtime,
    };
    let writer = NodeProcess::spawn(config(true, false, "writer.log")).await;
    let reader = NodeProcess::spawn(config(false, scenario.dropped_runtime, "reader.log")).await;

    let warm = now_us();
    tokio::time::sleep(WARM).await;
    let fault = now_us();
    match scenario.fault {
        Fault::Kill => {
            redis.kill();
            tokio::time::sleep(FAULT).await;
        }
        Fault::Freeze => {
            redis.pause().unwrap();
            tokio::time::sleep(FAULT).await;
            redis.resume().unwrap();
        }
        Fault::KillSubscriptions => {
            redis_command(&redis.url(), &["CLIENT", "KILL", "TYPE", "pubsub"]).await;
            tokio::time::sleep(FAULT).await;
        }
        Fault::Pause => {
            let millis = FAULT.as_millis().to_string();
            redis_command(&redis.url(), &["CLIENT", "PAUSE", &millis, "ALL"]).await;
            tokio::time::sleep(FAULT).await;
        }
        Fault::None => tokio::time::sleep(FAULT).await,
    }
    let heal = now_us();
    if let Fault::Kill = scenario.fault {
        redis.restart().unwrap();
    }
    tokio::time::sleep(TAIL).await;
    let logs = vec![writer.stop().await, reader.stop().await];
    analysis::measure(
        scenario.name,
        &logs,
        Phases { warm, fault, heal },
        u64::try_from(bound().as_micros()).unwrap(),
        KEYS,
        u64::try_from(DEGRADED_TTL.as_micros()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_suite() {
    let dir = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for (index, scenario) in SCENARIOS.iter().enumerate() {
        let scenario_dir = dir.path().join(index.to_string());
        std::fs::create_dir_all(&scenario_dir).unwrap();
        let limit = WARM + FAULT + TAIL + WAIT_LIMIT * 2;
        let report = tokio::time::timeout(limit, run(scenario, &scenario_dir))
            .await
            .unwrap_or_else(|_| panic!("scenario {:?} did not finish", scenario.name));
        reports.push(report);
    }
    let table = analysis::table(&reports);
    println!(
        "staleness bound checked: {:?}; fault window {FAULT:?}\n{table}",
        bound()
    );
    if let Ok(path) = std::env::var("FAULT_SUITE_REPORT") {
        std::fs::write(path, &table).unwrap();
    }
    for report in &reports {
        let name = report.name;
        assert_eq!(report.errors, 0, "{name}: caller errors");
        assert_eq!(
            report.stale, 0,
            "{name}: stale reads, e.g. {:?}",
            report.stale_example
        );
        assert!(
            report.loads_during <= report.loads_allowed,
            "{name}: {} loads during the fault, at most {} allowed",
            report.loads_during,
            report.loads_allowed
        );
        assert!(
            report.recovery_ms.is_some(),
            "{name}: not recovered within {TAIL:?}"
        );
        assert!(report.calls > 1_000, "{name}: only {} calls", report.calls);
    }
}

/// A node of the service, in a child process started by `fault_suite`.
#[test]
#[ignore = "run by fault_suite in a child process"]
fn node() {
    node::run_node();
}
