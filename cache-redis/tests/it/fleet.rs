//! Fleet-wide single-flight across real OS processes: children running this same test binary
//! (the ignored `fleet_node` test), each a cache with its own `RedisL2` on one real
//! `redis-server`, driven over stdin/stdout. Loads are counted in each child and summed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_core::{Cache, Codec, EntryOptions};
use cache_redis::RedisL2;
use cache_redis::test_util::{ChildTest, RedisServer};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{WAIT_LIMIT, within_limit};

/// Replies of the child's protocol follow this marker.
const PREFIX: &str = "FLEET ";

/// Lease lifetime in the children: a killed holder delays the others at most this long.
const LEASE_TTL: Duration = Duration::from_millis(1500);

/// One fleet at a time: each is a few processes, and the machine running the tests may have
/// two cores.
static ONE_FLEET: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One child process, a cache node.
struct Node {
    child: ChildTest,
    /// Lines read while looking for another one.
    seen: Vec<String>,
}

impl Node {
    async fn spawn(url: &str) -> Self {
        let child = ChildTest::spawn("fleet::fleet_node", ("CACHE_FLEET_URL", url), PREFIX)
            .expect("the child process starts")
            .limit(WAIT_LIMIT);
        let mut node = Self {
            child,
            seen: Vec::new(),
        };
        assert_eq!(node.line_starting("ready").await, "ready");
        node
    }

    async fn send(&mut self, command: &str) {
        self.child.send(command).await.expect("the child listens");
    }

    /// The next line (already seen, or read now) that starts with `start`.
    async fn line_starting(&mut self, start: &str) -> String {
        if let Some(at) = self.seen.iter().position(|line| line.starts_with(start)) {
            return self.seen.remove(at);
        }
        loop {
            let line = self.child.reply().await.expect("the child answers");
            if line.starts_with(start) {
                return line;
            }
            self.seen.push(line);
        }
    }

    /// What the child's call for `key` returned.
    async fn done(&mut self, key: &str) -> String {
        let line = self.line_starting(&format!("done {key} ")).await;
        line.rsplit(' ').next().unwrap_or_default().to_owned()
    }

    /// A counter of the child's (`loads`, or a `Stats` field).
    async fn count(&mut self, name: &str) -> u64 {
        self.send("stats").await;
        let line = self.line_starting("stats ").await;
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    }
}

/// A few nodes on one server, and a cache of this process on it; the guard keeps other
/// fleets from starting until this one is dropped.
async fn fleet(
    nodes: usize,
) -> (
    tokio::sync::MutexGuard<'static, ()>,
    RedisServer,
    Vec<Node>,
    Cache,
) {
    let alone = ONE_FLEET.lock().await;
    let server = RedisServer::start().unwrap();
    let mut children = Vec::new();
    for _ in 0..nodes {
        children.push(Node::spawn(&server.url()).await);
    }
    let here = fleet_cache(&server.url()).await;
    (alone, server, children, here)
}

/// A cache of the fleet, as every node has one.
async fn fleet_cache(url: &str) -> Cache {
    // A generous limit: several of these processes share two cores in CI, and a write that
    // times out is treated as "may have landed" (its key's removal is queued), which would
    // change what these tests read back.
    let l2 = RedisL2::builder()
        .url(url)
        .operation_timeout(Duration::from_secs(2))
        .heartbeat(Duration::from_millis(300))
        .lease_ttl(LEASE_TTL)
        .fleet_wait(Duration::from_secs(10))
        .build()
        .await
        .expect("RedisL2 builds");
    let cache = Cache::builder()
        .namespace("fleet")
        .codec(Codec::json())
        .l2(l2.clone())
        .build()
        .expect("cache builds");
    assert!(l2.wait_for_backplane(WAIT_LIMIT).await);
    cache
}

async fn total_loads(nodes: &mut [Node]) -> u64 {
    let mut total = 0;
    for node in nodes {
        total += node.count("loads").await;
    }
    total
}

#[tokio::test]
async fn a_cold_start_of_three_processes_loads_each_key_once() {
    within_limit(async {
        let (_alone, _server, mut nodes, here) = fleet(3).await;
        // Every node asks for 12 keys, 4 callers per key, all at once; a load takes 300 ms.
        for node in &mut nodes {
            node.send("burst 12 4 300").await;
        }
        for node in &mut nodes {
            let line = node.line_starting("burst ").await;
            assert_eq!(line, "burst errors=0 distinct=12", "{line}");
        }
        assert_eq!(
            total_loads(&mut nodes).await,
            12,
            "one load per key for the fleet"
        );
        let mut won = 0;
        for node in &mut nodes {
            won += node.count("leases_won").await;
        }
        assert_eq!(won, 12);
        for key in 0..12 {
            let value = here.get::<String>(&format!("k{key}")).await;
            assert_eq!(
                value,
                Some(format!("v{key}")),
                "written through for the fleet"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_killed_holder_delays_the_others_by_its_lease_then_one_of_them_loads() {
    within_limit(async {
        let (_alone, _server, mut nodes, here) = fleet(3).await;
        let mut holder = nodes.remove(0);
        holder.send("load x 30000 doomed").await;
        holder.line_starting("loading x").await;
        for node in &mut nodes {
            node.send("load x 200 fresh").await;
        }
        // Let them find the lease taken, then kill its holder mid-load.
        tokio::time::sleep(Duration::from_millis(200)).await;
        holder.child.kill().await.unwrap();
        for node in &mut nodes {
            assert_eq!(
                node.done("x").await,
                "fresh",
                "no error, the survivors' value"
            );
        }
        assert_eq!(
            total_loads(&mut nodes).await,
            1,
            "one survivor loads for both"
        );
        assert_eq!(here.get::<String>("x").await.as_deref(), Some("fresh"));
    })
    .await;
}

#[tokio::test]
async fn an_invalidation_voids_the_lease_and_the_older_load_is_not_written() {
    within_limit(async {
        let (_alone, _server, mut nodes, here) = fleet(2).await;
        let (mut slow, mut later) = (nodes.remove(0), nodes.remove(0));
        slow.send("load y 3000 old").await;
        slow.line_starting("loading y").await;
        // The source changes; the key is invalidated while the slow load holds its lease.
        here.invalidate("y").await;
        later.send("load y 100 new").await;
        // The lease was voided: the later call loads at once, without waiting for the slow one.
        assert_eq!(later.done("y").await, "new");
        assert!(
            !slow.seen.iter().any(|line| line.starts_with("done y")),
            "the later call did not wait for the older load"
        );
        // The slow load's own caller gets what it loaded; Redis keeps the newer value.
        assert_eq!(slow.done("y").await, "old");
        let read = here.get::<String>("y").await;
        slow.send("stats").await;
        let slow_stats = slow.line_starting("stats ").await;
        later.send("stats").await;
        let later_stats = later.line_starting("stats ").await;
        assert_eq!(
            read.as_deref(),
            Some("new"),
            "here {:?}\nslow {slow_stats}\nlater {later_stats}",
            here.stats()
        );
        slow.send("load y 100 newest").await;
        assert_eq!(slow.done("y").await, "new", "served from Redis, not loaded");
        assert_eq!(total_loads(&mut [slow, later]).await, 2);
    })
    .await;
}

#[tokio::test]
async fn when_the_holders_load_fails_a_waiting_process_loads_instead() {
    within_limit(async {
        let (_alone, _server, mut nodes, here) = fleet(2).await;
        let (mut failing, mut waiting) = (nodes.remove(0), nodes.remove(0));
        failing.send("fail z 800").await;
        failing.line_starting("loading z").await;
        waiting.send("load z 100 recovered").await;
        // The error goes to the failing load's own caller only; the waiter, woken when the
        // lease is given up, loads itself.
        assert_eq!(failing.done("z").await, "error");
        assert_eq!(waiting.done("z").await, "recovered");
        assert_eq!(waiting.count("loads").await, 1);
        assert_eq!(
            waiting.count("lease_timeouts").await,
            0,
            "woken, not timed out"
        );
        assert_eq!(here.get::<String>("z").await.as_deref(), Some("recovered"));
    })
    .await;
}

#[tokio::test]
async fn a_pattern_or_clear_during_a_lease_keeps_the_older_value_out_of_redis() {
    within_limit(async {
        let (_alone, _server, mut nodes, here) = fleet(1).await;
        let mut slow = nodes.remove(0);
        for (key, invalidate) in [("p:1", "pattern"), ("c:1", "clear")] {
            slow.send(&format!("load {key} 1500 old")).await;
            slow.line_starting(&format!("loading {key}")).await;
            match invalidate {
                "pattern" => here.invalidate_pattern("p:*").await,
                _ => here.clear().await,
            }
            // Its own caller gets what it loaded; Redis refuses it (the lease was voided).
            assert_eq!(slow.done(key).await, "old");
            assert_eq!(here.get::<String>(key).await, None, "{invalidate}");
        }
    })
    .await;
}

#[tokio::test]
async fn while_one_process_reloads_an_expired_key_the_others_serve_it_stale() {
    within_limit(async {
        let (_alone, _server, mut nodes, _here) = fleet(2).await;
        let (mut loader, mut other) = (nodes.remove(0), nodes.remove(0));
        // A 300 ms entry that Redis keeps 10 s longer, for its stale window.
        loader.send("load s 10 v1 300 10000").await;
        assert_eq!(loader.done("s").await, "v1");
        // That load's own `loading s` line, consumed now: the wait for the reload's below must
        // not return on it before the reload has taken the lease.
        loader.line_starting("loading s").await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        // Expired: one process takes the lease and reloads (2 s)...
        loader.send("load s 2000 v2 300 10000").await;
        loader.line_starting("loading s").await;
        // ... and the other serves the stale value at once instead of waiting for it.
        other.send("load s 100 v3 300 10000").await;
        let served = other.done("s").await;
        other.send("stats").await;
        let stats = other.line_starting("stats ").await;
        assert_eq!(served, "v1", "{stats}");
        assert!(
            !loader.seen.iter().any(|line| line.starts_with("done s")),
            "served before the reload ended"
        );
        assert_eq!(other.count("lease_stale").await, 1);
        assert_eq!(other.count("loads").await, 0);
        assert_eq!(loader.done("s").await, "v2");
    })
    .await;
}

#[tokio::test]
async fn refresh_ahead_runs_once_per_refresh_for_the_fleet_and_nobody_waits() {
    within_limit(async {
        let (_alone, _server, mut nodes, _here) = fleet(3).await;
        // Each of three processes reads one key every 20 ms for about 3 s; the key lives
        // 1 s and refreshes after half of it.
        for node in &mut nodes {
            node.send("steady r 1000 0.5 20 150").await;
        }
        let mut slowest = 0;
        for node in &mut nodes {
            let line = node.line_starting("steady done").await;
            let ms: u64 = line.rsplit('=').next().unwrap().parse().unwrap();
            slowest = slowest.max(ms);
        }
        let (mut loads, mut refreshes, mut skipped) = (0, 0, 0);
        for node in &mut nodes {
            loads += node.count("loads").await;
            refreshes += node.count("refreshes").await;
            skipped += node.count("refreshes_skipped").await;
        }
        // One process alone reloads about every 500 ms: 6 or 7 loads in 3 s. Three
        // processes each on their own would load about 20 times.
        assert!(
            loads <= 10,
            "{loads} loads ({refreshes} refreshes, {skipped} skipped)"
        );
        assert!(skipped > 0, "the others skipped their refreshes");
        // Only the first call of the first process waits for a load (50 ms); refreshes are
        // in the background and the others read Redis.
        assert!(slowest < 1000, "a call waited {slowest} ms");
    })
    .await;
}

/// The child process: a cache node. Commands: `load KEY MS VALUE [TTL_MS STALE_MS]` (a call
/// whose loader takes MS ms and returns VALUE; answers `loading KEY` when its loader starts and
/// `done KEY VALUE` when the call returns), `fail KEY MS` (a loader that fails after MS ms),
/// `burst KEYS CALLERS MS` (CALLERS calls of each of KEYS keys at once; answers `burst
/// errors=E distinct=D`), `steady KEY TTL_MS FRACTION EVERY_MS CALLS` (calls one after the
/// other with refresh-ahead; answers `steady done in MS slowest=MS`), `stats`, `quit`.
#[tokio::test]
#[ignore = "run by the fleet tests in child processes"]
async fn fleet_node() {
    let Ok(url) = std::env::var("CACHE_FLEET_URL") else {
        return;
    };
    let cache = fleet_cache(&url).await;
    let loads = Arc::new(AtomicU64::new(0));
    println!("{PREFIX}ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["load", key, ms, value] => {
                let options = EntryOptions::new().ttl(Duration::from_secs(60));
                let call = call(&cache, &loads, key, ms.parse().unwrap(), Ok(value), options);
                tokio::spawn(call);
            }
            ["load", key, ms, value, ttl, stale] => {
                let options = EntryOptions::new()
                    .ttl(Duration::from_millis(ttl.parse().unwrap()))
                    .stale_if_error(Duration::from_millis(stale.parse().unwrap()));
                let call = call(&cache, &loads, key, ms.parse().unwrap(), Ok(value), options);
                tokio::spawn(call);
            }
            ["fail", key, ms] => {
                let options = EntryOptions::new().ttl(Duration::from_secs(60));
                let call = call(&cache, &loads, key, ms.parse().unwrap(), Err(()), options);
                tokio::spawn(call);
            }
            ["steady", key, ttl, fraction, every, calls] => {
                let options = EntryOptions::new()
                    .ttl(Duration::from_millis(ttl.parse().unwrap()))
                    .refresh_ahead(fraction.parse().unwrap());
                let every = Duration::from_millis(every.parse().unwrap());
                let calls: u32 = calls.parse().unwrap();
                let (cache, loads, key) = (cache.clone(), Arc::clone(&loads), (*key).to_owned());
                tokio::spawn(async move {
                    let started = std::time::Instant::now();
                    let mut slowest = Duration::ZERO;
                    for _ in 0..calls {
                        let loads = Arc::clone(&loads);
                        let call = std::time::Instant::now();
                        let _ = cache
                            .get_or_load(&key, &options, move || async move {
                                loads.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                Ok::<_, std::io::Error>("steady".to_owned())
                            })
                            .await;
                        slowest = slowest.max(call.elapsed());
                        tokio::time::sleep(every).await;
                    }
                    let ms = started.elapsed().as_millis();
                    println!(
                        "{PREFIX}steady done in {ms} slowest={}",
                        slowest.as_millis()
                    );
                });
            }
            ["burst", keys, callers, ms] => {
                let (keys, callers, ms): (usize, usize, u64) = (
                    keys.parse().unwrap(),
                    callers.parse().unwrap(),
                    ms.parse().unwrap(),
                );
                let (cache, loads) = (cache.clone(), Arc::clone(&loads));
                tokio::spawn(async move { burst(&cache, &loads, keys, callers, ms).await });
            }
            ["stats"] => {
                let stats = cache.stats();
                println!(
                    "{PREFIX}stats loads={} leases_won={} lease_waits={} lease_timeouts={} \
                     lease_stale={} refreshes={} refreshes_skipped={} l2_errors={} l2_skipped={}",
                    loads.load(Ordering::SeqCst),
                    stats.leases_won,
                    stats.lease_waits,
                    stats.lease_timeouts,
                    stats.lease_stale,
                    stats.refreshes,
                    stats.refreshes_skipped,
                    stats.l2_errors,
                    stats.l2_skipped
                );
            }
            ["quit"] => return,
            _ => println!("{PREFIX}unknown command {line:?}"),
        }
    }
}

/// One call of `key` whose loader takes `ms` and returns `outcome`; reports as it goes.
fn call(
    cache: &Cache,
    loads: &Arc<AtomicU64>,
    key: &str,
    ms: u64,
    outcome: Result<&str, ()>,
    options: EntryOptions,
) -> impl Future<Output = ()> + Send + 'static {
    let (cache, loads, key) = (cache.clone(), Arc::clone(loads), key.to_owned());
    let outcome = outcome.map(str::to_owned);
    async move {
        let loading = key.clone();
        let result = cache
            .get_or_load(&key, &options, move || async move {
                println!("{PREFIX}loading {loading}");
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                outcome.map_err(|()| std::io::Error::other("the source failed"))
            })
            .await;
        match result {
            Ok(value) => println!("{PREFIX}done {key} {value}"),
            Err(_) => println!("{PREFIX}done {key} error"),
        }
    }
}

/// `callers` concurrent calls of each of `keys` keys; reports errors and distinct values.
async fn burst(cache: &Cache, loads: &Arc<AtomicU64>, keys: usize, callers: usize, ms: u64) {
    let mut calls = Vec::new();
    for key in 0..keys {
        for _ in 0..callers {
            let (cache, loads) = (cache.clone(), Arc::clone(loads));
            calls.push(tokio::spawn(async move {
                let (key, value) = (format!("k{key}"), format!("v{key}"));
                cache
                    .get_or_load(
                        &key,
                        &EntryOptions::new().ttl(Duration::from_secs(60)),
                        move || async move {
                            loads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                            Ok::<_, std::io::Error>(value)
                        },
                    )
                    .await
            }));
        }
    }
    let (mut errors, mut values) = (0, std::collections::BTreeSet::new());
    for call in calls {
        match call.await {
            Ok(Ok(value)) => {
                values.insert(value);
            }
            _ => errors += 1,
        }
    }
    println!("{PREFIX}burst errors={errors} distinct={}", values.len());
}
