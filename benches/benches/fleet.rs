//! Fleet-wide single-flight: K processes (1, 4, 8), each a `Cache` with its own `RedisL2` on one
//! real `redis-server`, 8 tasks each over 20 hot keys whose loader takes 100 ms. Counts the
//! loads of the whole fleet and times every call, for four moments:
//!
//! - **cold start**: every task of every process asks for every key at once;
//! - **steady expiry**: 12 s of calls (every 10 ms per task) on keys that live 2 s;
//! - **refresh-ahead**: the same with refresh-ahead at 0.8 of the TTL;
//! - **invalidation**: 4 s of calls; after 2 s, the tag of the 20 keys is invalidated; loads in
//!   the second after it.
//!
//! Run: `cargo bench -p benches --bench fleet` (about four minutes). Each process is this
//! program again (`fleet worker ...`), driven over stdin and stdout; `--no-fleet` runs the same
//! with `fleet_single_flight(false)`, for comparison.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cache_core::{Cache, EntryOptions};
use cache_redis::RedisL2;
use cache_redis::test_util::RedisServer;

const KEYS: usize = 20;
const TASKS: usize = 8;
const LOAD: Duration = Duration::from_millis(100);
const TTL: Duration = Duration::from_secs(2);
const PROCESSES: [usize; 3] = [1, 4, 8];

/// A moment of the benchmark.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    ColdStart,
    SteadyExpiry,
    RefreshAhead,
    Invalidation,
}

impl Scenario {
    const ALL: [Scenario; 4] = [
        Scenario::ColdStart,
        Scenario::SteadyExpiry,
        Scenario::RefreshAhead,
        Scenario::Invalidation,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::ColdStart => "cold",
            Scenario::SteadyExpiry => "steady",
            Scenario::RefreshAhead => "refresh",
            Scenario::Invalidation => "invalidation",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// How long the calls go on.
    fn duration(self) -> Duration {
        match self {
            Scenario::ColdStart => Duration::ZERO,
            Scenario::SteadyExpiry | Scenario::RefreshAhead => Duration::from_secs(12),
            Scenario::Invalidation => Duration::from_secs(4),
        }
    }

    fn options(self) -> EntryOptions {
        let options = EntryOptions::new().ttl(TTL).tags(["hot"]);
        match self {
            Scenario::RefreshAhead => options.refresh_ahead(0.8),
            _ => options,
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        return worker(
            &args[1],
            Scenario::parse(&args[2]).expect("a scenario"),
            &args[3],
        );
    }
    let fleet = !args.iter().any(|arg| arg == "--no-fleet");
    let server = RedisServer::start().expect("redis-server starts");
    println!("| moment | K | fleet loads | ideal | ratio | p99 call | max call |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for scenario in Scenario::ALL {
        let mut one_process = None;
        for processes in PROCESSES {
            let run = run(&server.url(), scenario, processes, fleet);
            let ideal = match scenario {
                Scenario::ColdStart | Scenario::Invalidation => KEYS as f64,
                // What one process needs, measured in this run.
                Scenario::SteadyExpiry | Scenario::RefreshAhead => {
                    *one_process.get_or_insert(run.loads as f64)
                }
            };
            println!(
                "| {} | {processes} | {} | {ideal:.0} | {:.2} | {} ms | {} ms |",
                scenario.name(),
                run.loads,
                run.loads as f64 / ideal,
                run.quantile(0.99),
                run.quantile(1.0),
            );
        }
    }
}

/// What one run of the fleet measured.
struct Run {
    loads: u64,
    /// Call latency, ms -> calls.
    latency: BTreeMap<u64, u64>,
}

impl Run {
    fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.latency.values().sum();
        let wanted = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (&ms, &count) in &self.latency {
            seen += count;
            if seen >= wanted {
                return ms;
            }
        }
        0
    }
}

/// A worker process.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    fn spawn(url: &str, scenario: Scenario, namespace: &str, fleet: bool) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("this program"))
            .args(["worker", url, scenario.name(), namespace])
            .env("FLEET_SINGLE_FLIGHT", if fleet { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("a worker starts");
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("the worker answers");
        line.trim().to_owned()
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("the worker listens");
    }
}

/// Runs `scenario` on `processes` workers; every worker starts its calls at once.
fn run(url: &str, scenario: Scenario, processes: usize, fleet: bool) -> Run {
    let namespace = format!("{}-{processes}-{}", scenario.name(), unix_ms());
    let mut workers: Vec<Worker> = (0..processes)
        .map(|_| Worker::spawn(url, scenario, &namespace, fleet))
        .collect();
    for worker in &mut workers {
        assert_eq!(worker.line(), "ready");
    }
    for worker in &mut workers {
        worker.send("go");
    }
    let mut invalidated_at = None;
    if let Scenario::Invalidation = scenario {
        std::thread::sleep(Duration::from_secs(2));
        invalidated_at = Some(unix_ms());
        invalidate(url, &namespace);
    }
    let mut run = Run {
        loads: 0,
        latency: BTreeMap::new(),
    };
    for worker in &mut workers {
        // `loads <unix ms> ...` then `latency <ms>:<calls> ...`.
        let loads = worker.line();
        let times = loads
            .split_whitespace()
            .skip(1)
            .map(|t| t.parse::<u64>().unwrap());
        run.loads += match invalidated_at {
            Some(at) => times.filter(|&t| t >= at && t < at + 1_000).count() as u64,
            None => times.count() as u64,
        };
        for bucket in worker.line().split_whitespace().skip(1) {
            let (ms, calls) = bucket.split_once(':').unwrap();
            *run.latency.entry(ms.parse().unwrap()).or_default() += calls.parse::<u64>().unwrap();
        }
        worker.child.wait().expect("the worker exits");
    }
    run
}

/// Invalidates the hot keys' tag, as another process of the service would.
fn invalidate(url: &str, namespace: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let l2 = RedisL2::builder().url(url).build().await.unwrap();
        let cache = Cache::builder()
            .namespace(namespace)
            .l2(l2)
            .build()
            .unwrap();
        cache.invalidate_tags(&["hot"]).await;
    });
}

/// A worker: waits for `go`, runs the scenario's calls, prints its loads' times and its calls'
/// latency.
fn worker(url: &str, scenario: Scenario, namespace: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let fleet = std::env::var("FLEET_SINGLE_FLIGHT").as_deref() != Ok("0");
        let l2 = RedisL2::builder()
            .url(url)
            .fleet_single_flight(fleet)
            .build()
            .await
            .unwrap();
        let cache = Cache::builder()
            .namespace(namespace)
            .l2(l2.clone())
            .build()
            .unwrap();
        assert!(l2.wait_for_backplane(Duration::from_secs(5)).await);
        println!("ready");
        let mut go = String::new();
        std::io::stdin().read_line(&mut go).unwrap();
        let loads = Arc::new(Mutex::new(Vec::new()));
        let latency = Arc::new(Mutex::new(BTreeMap::<u64, u64>::new()));
        let until = Instant::now() + scenario.duration();
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let (cache, loads, latency) = (cache.clone(), loads.clone(), latency.clone());
                tokio::spawn(async move {
                    let options = scenario.options();
                    loop {
                        for key in 0..KEYS {
                            let key = format!("hot:{}", (key + task) % KEYS);
                            let loads = Arc::clone(&loads);
                            let started = Instant::now();
                            let value = cache
                                .get_or_load(&key, &options, move || async move {
                                    loads.lock().unwrap().push(unix_ms());
                                    tokio::time::sleep(LOAD).await;
                                    Ok::<_, std::io::Error>(42u64)
                                })
                                .await;
                            assert_eq!(value.unwrap(), 42);
                            let ms = started.elapsed().as_millis() as u64;
                            *latency.lock().unwrap().entry(ms).or_default() += 1;
                            if !scenario.duration().is_zero() {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                        if Instant::now() >= until {
                            return;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let loads = loads.lock().unwrap();
        let times: Vec<String> = loads.iter().map(u64::to_string).collect();
        println!("loads {}", times.join(" "));
        let latency = latency.lock().unwrap();
        let buckets: Vec<String> = latency.iter().map(|(ms, n)| format!("{ms}:{n}")).collect();
        println!("latency {}", buckets.join(" "));
    });
}
