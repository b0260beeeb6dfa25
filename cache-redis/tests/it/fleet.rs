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

use crate::common::{Target, WAIT_LIMIT, node_with, within_limit};

/// Replies of the child's protocol follow this marker.
const PREFIX: &str = "FLEET ";

/// Lease lifetime in the children: a killed holder delays the others at most this long.
const LEASE_TTL: Duration = Duration::from_millis(900);

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

/// A few nodes on one server, and a cache of this process on it.
async fn fleet(nodes: usize) -> (RedisServer, Vec<Node>, Cache) {
    let server = RedisServer::start().unwrap();
    let mut children = Vec::new();
    for _ in 0..nodes {
        children.push(Node::spawn(&server.url()).await);
    }
    let (here, _l2) = node_with(Target::Url(&server.url()), "fleet", Codec::json()).await;
    (server, children, here)
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
        let (_server, mut nodes, _here) = fleet(3).await;
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
    })
    .await;
}

#[tokio::test]
async fn a_killed_holder_delays_the_others_by_its_lease_then_one_of_them_loads() {
    within_limit(async {
        let (_server, mut nodes, _here) = fleet(3).await;
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
    })
    .await;
}

#[tokio::test]
async fn an_invalidation_voids_the_lease_and_the_older_load_is_not_written() {
    within_limit(async {
        let (_server, mut nodes, here) = fleet(2).await;
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
        assert_eq!(here.get::<String>("y").await.as_deref(), Some("new"));
        slow.send("load y 100 newest").await;
        assert_eq!(slow.done("y").await, "new", "served from Redis, not loaded");
        assert_eq!(total_loads(&mut [slow, later]).await, 2);
    })
    .await;
}

#[tokio::test]
async fn when_the_holders_load_fails_a_waiting_process_loads_instead() {
    within_limit(async {
        let (_server, mut nodes, _here) = fleet(2).await;
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
    })
    .await;
}

/// The child process: a cache node. Commands: `load KEY MS VALUE` (a call whose loader takes
/// MS ms and returns VALUE; answers `loading KEY` when its loader starts and `done KEY VALUE`
/// when the call returns), `fail KEY MS` (a loader that fails after MS ms), `burst KEYS
/// CALLERS MS` (CALLERS calls of each of KEYS keys at once; answers `burst errors=E
/// distinct=D`), `stats`, `quit`.
#[tokio::test]
#[ignore = "run by the fleet tests in child processes"]
async fn fleet_node() {
    let Ok(url) = std::env::var("CACHE_FLEET_URL") else {
        return;
    };
    let l2 = RedisL2::builder()
        .url(url)
        .operation_timeout(Duration::from_millis(500))
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
    let loads = Arc::new(AtomicU64::new(0));
    println!("{PREFIX}ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["load", key, ms, value] => {
                let call = call(&cache, &loads, key, ms.parse().unwrap(), Ok(value));
                tokio::spawn(call);
            }
            ["fail", key, ms] => {
                let call = call(&cache, &loads, key, ms.parse().unwrap(), Err(()));
                tokio::spawn(call);
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
                    "{PREFIX}stats loads={} leases_won={} lease_waits={} lease_timeouts={}",
                    loads.load(Ordering::SeqCst),
                    stats.leases_won,
                    stats.lease_waits,
                    stats.lease_timeouts
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
) -> impl Future<Output = ()> + Send + 'static {
    let (cache, loads, key) = (cache.clone(), Arc::clone(loads), key.to_owned());
    let outcome = outcome.map(str::to_owned);
    async move {
        let loading = key.clone();
        let result = cache
            .get_or_load(
                &key,
                &EntryOptions::new().ttl(Duration::from_secs(60)),
                move || async move {
                    println!("{PREFIX}loading {loading}");
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    outcome.map_err(|()| std::io::Error::other("the source failed"))
                },
            )
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
                let key = format!("k{key}");
                let value = format!("v{key}");
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
