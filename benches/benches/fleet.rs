//! Fleet-wide single-flight: K processes (1, 4, 8), each a `Cache` with its own `RedisL2` on one
//! real `redis-server`, 8 tasks each over 20 hot keys whose loader takes 100 ms. Counts the
//! loads of the whole fleet and times every call, for four moments:
//!
//! - **cold start**: every task of every process asks for every key at once;
//! - **steady expiry**: 12 s of calls (every 10 ms per task) on keys that live 2 s;
//! - **refresh-ahead**: the same with refresh-ahead at 0.8 of the TTL;
//! - **invalidation**: 6 s of calls on keys that do not expire; after 2 s, another process
//!   invalidates the tag of the 20 keys; the loads after it. (Each task calls the keys in
//!   turn and waits for a missing one, so the reloads come one key after another, over about
//!   two seconds, as the cold start's do.)
//!
//! The ideal is one load per key per moment: per key for the cold start and the invalidation,
//! per key and expiry (or refresh) for the other two. A load of a key that another load of the
//! same key, in any process, preceded by less than half the TTL is a *repeat*: a second load
//! for the same moment, what fleet-wide single-flight removes. `loads per moment` is loads
//! divided by the loads that are not repeats (ideal 1.00). For the two timed moments, the loads
//! of one process in the same run are shown too (`K = 1`): the fleet reaches an expiry or a
//! refresh point a little sooner than one process (its copies read from Redis expire up to a
//! tenth early, and eight processes call a key eight times as often), so it may run a few more
//! cycles in 12 s without loading any key twice per cycle.
//!
//! Call latency (p99, max) counts every call of the cold start, and for the other moments the
//! calls after each task's first pass over the keys (the fill that precedes the moment is the
//! cold start's). The lease columns sum the processes' `Stats`.
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
            Scenario::Invalidation => Duration::from_secs(6),
        }
    }

    fn options(self) -> EntryOptions {
        match self {
            Scenario::RefreshAhead => EntryOptions::new().ttl(TTL).refresh_ahead(0.8),
            // Nothing expires during the moment, so every load after the invalidation is
            // one the invalidation caused.
            Scenario::Invalidation => EntryOptions::new().ttl(Duration::from_secs(600)),
            _ => EntryOptions::new().ttl(TTL),
        }
        .tags(["hot"])
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
    println!(
        "| moment | K | fleet loads | repeats | loads per moment | loads / K = 1 | p99 call | max call | leases won | lease waits | lease timeouts | refreshes skipped |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for scenario in Scenario::ALL {
        let mut one_process = None;
        for processes in PROCESSES {
            let run = run(&server.url(), scenario, processes, fleet);
            let loads = run.loads.len();
            let repeats = run.repeats();
            let one_process = *one_process.get_or_insert(loads as f64);
            println!(
                "| {} | {processes} | {loads} | {repeats} | {:.2} | {:.2} | {} ms | {} ms | {} | {} | {} | {} |",
                scenario.name(),
                loads as f64 / (loads - repeats).max(1) as f64,
                loads as f64 / one_process,
                run.quantile(0.99),
                run.quantile(1.0),
                run.leases[0],
                run.leases[1],
                run.leases[2],
                run.leases[3],
            );
        }
    }
}

/// What one run of the fleet measured.
struct Run {
    /// Each counted load: key, unix ms.
    loads: Vec<(usize, u64)>,
    /// Call latency, ms -> calls.
    latency: BTreeMap<u64, u64>,
    /// Leases won, lease waits, lease timeouts, refreshes skipped.
    leases: [u64; 4],
}

impl Run {
    /// Loads that followed another load of the same key by less than half the TTL.
    fn repeats(&self) -> usize {
        let mut loads = self.loads.clone();
        loads.sort_unstable();
        loads
            .windows(2)
            .filter(|pair| {
                pair[0].0 == pair[1].0 && pair[1].1 - pair[0].1 < TTL.as_millis() as u64 / 2
            })
            .count()
    }

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
        invalidated_at = Some(invalidate_after(url, &namespace, Duration::from_secs(2)));
    }
    let mut run = Run {
        loads: Vec::new(),
        latency: BTreeMap::new(),
        leases: [0; 4],
    };
    for worker in &mut workers {
        // `loads <key>@<unix ms> ...`, `latency <ms>:<calls> ...`, then `leases <won> <waits> ...`.
        let loads = worker.line();
        let counted = loads.split_whitespace().skip(1).filter_map(|load| {
            let (key, at) = load.split_once('@').unwrap();
            let load = (key.parse::<usize>().unwrap(), at.parse::<u64>().unwrap());
            match invalidated_at {
                Some(at) => (load.1 >= at).then_some(load),
                None => Some(load),
            }
        });
        run.loads.extend(counted);
        for bucket in worker.line().split_whitespace().skip(1) {
            let (ms, calls) = bucket.split_once(':').unwrap();
            *run.latency.entry(ms.parse().unwrap()).or_default() += calls.parse::<u64>().unwrap();
        }
        for (sum, count) in run
            .leases
            .iter_mut()
            .zip(worker.line().split_whitespace().skip(1))
        {
            *sum += count.parse::<u64>().unwrap();
        }
        worker.child.wait().expect("the worker exits");
    }
    run
}

/// Invalidates the hot keys' tag `after` the calls began, as another process of the service
/// would; returns when it started (unix ms).
fn invalidate_after(url: &str, namespace: &str, after: Duration) -> u64 {
    let began = Instant::now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let l2 = RedisL2::builder().url(url).build().await.unwrap();
        let cache = Cache::builder()
            .namespace(namespace)
            .l2(l2)
            .build()
            .unwrap();
        tokio::time::sleep(after.saturating_sub(began.elapsed())).await;
        let at = unix_ms();
        cache.invalidate_tags(&["hot"]).await;
        at
    })
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
                    let mut first_pass = true;
                    loop {
                        for key in 0..KEYS {
                            let index = (key + task) % KEYS;
                            let key = format!("hot:{index}");
                            let loads = Arc::clone(&loads);
                            let started = Instant::now();
                            let value = cache
                                .get_or_load(&key, &options, move || async move {
                                    loads.lock().unwrap().push((index, unix_ms()));
                                    tokio::time::sleep(LOAD).await;
                                    Ok::<_, std::io::Error>(42u64)
                                })
                                .await;
                            assert_eq!(value.unwrap(), 42);
                            let ms = started.elapsed().as_millis() as u64;
                            if scenario.duration().is_zero() || !first_pass {
                                *latency.lock().unwrap().entry(ms).or_default() += 1;
                            }
                            if !scenario.duration().is_zero() {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                        first_pass = false;
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
        let times: Vec<String> = loads
            .iter()
            .map(|(key, at)| format!("{key}@{at}"))
            .collect();
        println!("loads {}", times.join(" "));
        let latency = latency.lock().unwrap();
        let buckets: Vec<String> = latency.iter().map(|(ms, n)| format!("{ms}:{n}")).collect();
        println!("latency {}", buckets.join(" "));
        let stats = cache.stats();
        println!(
            "leases {} {} {} {}",
            stats.leases_won, stats.lease_waits, stats.lease_timeouts, stats.refreshes_skipped
        );
    });
}
