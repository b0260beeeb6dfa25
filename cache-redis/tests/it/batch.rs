//! Batches (`get_many`, `set_many`, `get_or_load_many`) on a real Redis: one round trip for
//! the batch (counted with `INFO commandstats`), one backplane message, slots on a cluster,
//! leases shared with single-key calls of another cache, omitted keys and loader errors.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_core::{Cache, EntryOptions};
use cache_redis::test_util::{RedisCluster, RedisServer};
use tokio::sync::Notify;

use crate::common::{Target, eventually, keys_per_node, node, raw, raw_cluster, within_limit};

/// Calls of each command so far, from `INFO commandstats` (commands run by scripts included).
async fn command_calls(url: &str) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut raw(url).await)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, fields) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = fields.split(',').find_map(|f| f.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

/// How many more times `command` ran in `after` than in `before`.
fn more(before: &HashMap<String, u64>, after: &HashMap<String, u64>, command: &str) -> u64 {
    after.get(command).copied().unwrap_or(0) - before.get(command).copied().unwrap_or(0)
}

/// A loader that counts its calls and the keys it gets, and returns `"<who>:<key>"` for each.
#[derive(Clone)]
struct Loader {
    who: &'static str,
    calls: Arc<AtomicU64>,
    keys: Arc<AtomicU64>,
}

impl Loader {
    fn new(who: &'static str) -> Self {
        Self {
            who,
            calls: Arc::default(),
            keys: Arc::default(),
        }
    }

    fn load(
        &self,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<HashMap<String, String>, std::io::Error>> + use<> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.keys.fetch_add(keys.len() as u64, Ordering::SeqCst);
        let who = self.who;
        async move {
            Ok(keys
                .into_iter()
                .map(|key| {
                    let value = format!("{who}:{key}");
                    (key, value)
                })
                .collect())
        }
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    fn keys(&self) -> u64 {
        self.keys.load(Ordering::SeqCst)
    }
}

fn keys(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("u:{i}")).collect()
}

fn refs(keys: &[String]) -> Vec<&str> {
    keys.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn a_batch_is_one_round_trip_and_one_message_on_a_standalone_server() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let url = server.url();
        let (writer, _lw) = node(Target::Url(&url), "batch").await;
        let (reader, _lr) = node(Target::Url(&url), "batch").await;
        let options = EntryOptions::new()
            .ttl(Duration::from_secs(60))
            .tags(["users"]);
        // Loads the scripts, so the counts below are the batch's alone.
        writer.set_many(&[("warm", 0u32)], &options).await;
        reader.get_many::<u32>(&["warm"]).await;

        // Half of 100 keys are in Redis: one script, one message.
        let even: Vec<(String, String)> = (0..100)
            .step_by(2)
            .map(|i| (format!("u:{i}"), format!("stored:u:{i}")))
            .collect();
        let entries: Vec<(&str, String)> =
            even.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let before = command_calls(&url).await;
        writer.set_many(&entries, &options).await;
        let after = command_calls(&url).await;
        assert_eq!(
            more(&before, &after, "evalsha"),
            1,
            "one script for the write"
        );
        assert_eq!(more(&before, &after, "publish"), 1, "one backplane message");

        // Another cache: one read for the 100 keys, one loader call with the 50 missing, one
        // write-through.
        let all = keys(0..100);
        let loader = Loader::new("db");
        let before = command_calls(&url).await;
        let values = reader
            .get_or_load_many(&refs(&all), &options, |keys| loader.load(keys))
            .await
            .unwrap();
        let after = command_calls(&url).await;
        assert_eq!(values.len(), 100);
        assert_eq!(values["u:2"], "stored:u:2");
        assert_eq!(values["u:3"], "db:u:3");
        assert_eq!((loader.calls(), loader.keys()), (1, 50));
        assert_eq!(
            more(&before, &after, "evalsha"),
            2,
            "one read, one write-through"
        );
        assert_eq!(more(&before, &after, "publish"), 1);
        let stats = reader.stats();
        assert_eq!((stats.l2_hits, stats.misses, stats.loads), (51, 50, 50));
        assert_eq!((stats.leases_won, stats.l2_errors), (50, 0));

        // Batch entries are ordinary entries, in this cache, in Redis and in a third one.
        assert_eq!(reader.get::<String>("u:3").await.as_deref(), Some("db:u:3"));
        let (third, _lt) = node(Target::Url(&url), "batch").await;
        assert_eq!(third.get::<String>("u:3").await.as_deref(), Some("db:u:3"));
        let single = third
            .get_or_load("u:5", &options, || async {
                Ok::<_, std::io::Error>("never".to_owned())
            })
            .await
            .unwrap();
        assert_eq!(single, "db:u:5");
        let many = third.get_many::<String>(&["u:7", "u:8", "nowhere"]).await;
        assert_eq!(many.len(), 2);
        assert_eq!(many["u:8"], "stored:u:8");
        // Tags written by a batch hide its entries everywhere.
        third.invalidate_tags(&["users"]).await;
        let (fourth, _lf) = node(Target::Url(&url), "batch").await;
        assert!(fourth.get_many::<String>(&refs(&all)).await.is_empty());
        for cache in [&writer, &reader, &third, &fourth] {
            assert_eq!(cache.stats().l2_errors, 0);
        }
    })
    .await;
}

#[tokio::test]
async fn a_batch_on_a_cluster_spans_every_slot_without_crossslot_errors() {
    within_limit(async {
        let cluster = RedisCluster::start().unwrap();
        let nodes = cluster.node_urls();
        let (a, la) = node(Target::Cluster(&nodes), "cb").await;
        let (b, _lb) = node(Target::Cluster(&nodes), "cb").await;
        assert!(la.is_cluster());
        let options = EntryOptions::new()
            .ttl(Duration::from_secs(60))
            .tags(["users"]);

        let stored: Vec<(String, String)> = (0..60)
            .map(|i| (format!("u:{i}"), format!("stored:u:{i}")))
            .collect();
        let entries: Vec<(&str, String)> = stored
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        a.set_many(&entries, &options).await;
        let per_node = keys_per_node(&nodes, "cb:u:*").await;
        assert_eq!(per_node.iter().sum::<usize>(), 60);
        assert!(
            per_node.iter().all(|&n| n > 0),
            "keys on every master: {per_node:?}"
        );

        // Reads: what is there, from every master.
        let all = keys(0..120);
        let found = b.get_many::<String>(&refs(&all)).await;
        assert_eq!(found.len(), 60);
        assert_eq!(found["u:59"], "stored:u:59");
        assert_eq!(b.stats().l2_hits, 60);

        // Loads: the 60 missing keys in one loader call, written to every master.
        let loader = Loader::new("db");
        let values = b
            .get_or_load_many(&refs(&all), &options, |keys| loader.load(keys))
            .await
            .unwrap();
        assert_eq!(values.len(), 120);
        assert_eq!((loader.calls(), loader.keys()), (1, 60));
        assert_eq!(
            keys_per_node(&nodes, "cb:u:*").await.iter().sum::<usize>(),
            120
        );
        let (fresh, _lf) = node(Target::Cluster(&nodes), "cb").await;
        assert_eq!(
            fresh.get::<String>("u:100").await.as_deref(),
            Some("db:u:100")
        );
        let mut raw = raw_cluster(&nodes).await;
        let payload: Option<Vec<u8>> = redis::cmd("HGET")
            .arg("cb:u:100")
            .arg("v")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(payload.is_some(), "the loaded value is in Redis");

        // Invalidation of batch-written keys reaches the other cache's L1.
        assert_eq!(a.get::<String>("u:100").await.as_deref(), Some("db:u:100"));
        b.invalidate("u:100").await;
        a.invalidate_tags(&["users"]).await;
        eventually("A to drop what B's batch wrote", || {
            let a = a.clone();
            async move { a.get::<String>("u:100").await.is_none() }
        })
        .await;
        eventually("B to drop every tagged entry", || {
            let b = b.clone();
            async move { b.get::<String>("u:1").await.is_none() }
        })
        .await;
        for cache in [&a, &b, &fresh] {
            assert_eq!(cache.stats().l2_errors, 0);
        }
    })
    .await;
}

/// A batch of one cache and calls of another that overlap it: each key is loaded once for
/// both, and the other cache gets the batch's values.
#[tokio::test]
async fn another_cache_waits_for_the_keys_a_batch_is_loading() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let url = server.url();
        let (a, _la) = node(Target::Url(&url), "overlap").await;
        let (b, _lb) = node(Target::Url(&url), "overlap").await;
        let options = EntryOptions::new().ttl(Duration::from_secs(60));
        let loading = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());

        // A loads u:0..u:20, and holds its loader until told.
        let a_loader = Loader::new("a");
        let batch = tokio::spawn({
            let (a, options, loader) = (a.clone(), options.clone(), a_loader.clone());
            let (loading, release) = (loading.clone(), release.clone());
            async move {
                let keys = keys(0..20);
                a.get_or_load_many(&refs(&keys), &options, |keys| {
                    let load = loader.load(keys);
                    let (loading, release) = (loading.clone(), release.clone());
                    async move {
                        loading.notify_one();
                        release.notified().await;
                        load.await
                    }
                })
                .await
                .unwrap()
            }
        });
        loading.notified().await;

        // B, meanwhile: a single key and a batch that overlap A's.
        let b_loader = Loader::new("b");
        let single = tokio::spawn({
            let (b, options) = (b.clone(), options.clone());
            async move {
                b.get_or_load("u:5", &options, || async {
                    Ok::<_, std::io::Error>("b-single".to_owned())
                })
                .await
                .unwrap()
            }
        });
        let overlapping = tokio::spawn({
            let (b, options, loader) = (b.clone(), options.clone(), b_loader.clone());
            async move {
                let keys = keys(10..30);
                b.get_or_load_many(&refs(&keys), &options, |keys| loader.load(keys))
                    .await
                    .unwrap()
            }
        });
        // B's own keys are loaded and stored before A lets go.
        eventually("B to load the keys nobody else loads", || {
            let loader = b_loader.clone();
            async move { loader.keys() == 10 }
        })
        .await;
        release.notify_one();

        let from_a = batch.await.unwrap();
        assert_eq!(from_a.len(), 20);
        assert_eq!(single.await.unwrap(), "a:u:5");
        let from_b = overlapping.await.unwrap();
        assert_eq!(from_b.len(), 20);
        assert_eq!(from_b["u:15"], "a:u:15", "awaited, not loaded again");
        assert_eq!(from_b["u:25"], "b:u:25");
        assert_eq!((a_loader.calls(), a_loader.keys()), (1, 20));
        assert_eq!((b_loader.calls(), b_loader.keys()), (1, 10));
        assert_eq!(b.stats().lease_waits, 11, "u:5 and u:10..u:19");
        assert_eq!(b.get::<String>("u:19").await.as_deref(), Some("a:u:19"));
    })
    .await;
}

/// Waits until none of `keys` (of namespace `omit`) holds a lease in Redis.
async fn leases_given_up(url: &str, keys: &[&str]) {
    let raw = raw(url).await;
    for key in keys {
        let lease = redis::cmd("HEXISTS")
            .arg(format!("omit:{key}"))
            .arg("l")
            .clone();
        eventually(&format!("the lease of {key} to be given up"), || {
            let (lease, mut raw) = (lease.clone(), raw.clone());
            async move { !lease.query_async::<bool>(&mut raw).await.unwrap() }
        })
        .await;
    }
}

#[tokio::test]
async fn omitted_keys_and_loader_errors_leave_nothing_in_redis() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let url = server.url();
        let (a, _la) = node(Target::Url(&url), "omit").await;
        let (b, _lb) = node(Target::Url(&url), "omit").await;
        let options = EntryOptions::new().ttl(Duration::from_secs(60));
        let mut raw = raw(&url).await;
        let stored = |key: &str| {
            redis::cmd("HEXISTS")
                .arg(format!("omit:{key}"))
                .arg("v")
                .clone()
        };

        // The loader knows the even keys only.
        let all = keys(0..10);
        let evens = |keys: Vec<String>| async move {
            Ok::<_, std::io::Error>(
                keys.into_iter()
                    .filter(|key| key[2..].parse::<u32>().unwrap() % 2 == 0)
                    .map(|key| (key.clone(), key))
                    .collect::<HashMap<_, _>>(),
            )
        };
        let values = a
            .get_or_load_many(&refs(&all), &options, evens)
            .await
            .unwrap();
        assert_eq!(values.len(), 5);
        assert!(!values.contains_key("u:3"));
        let odd: bool = stored("u:3").query_async(&mut raw).await.unwrap();
        let even: bool = stored("u:4").query_async(&mut raw).await.unwrap();
        assert!(!odd && even);
        assert_eq!(a.get::<String>("u:3").await, None);
        // The odd keys' leases are given up: another cache then loads them at once.
        leases_given_up(&url, &["u:1", "u:3", "u:5", "u:7", "u:9"]).await;
        let loader = Loader::new("b");
        let values = b
            .get_or_load_many(&refs(&all), &options, |keys| loader.load(keys))
            .await
            .unwrap();
        assert_eq!(values["u:3"], "b:u:3");
        assert_eq!(values["u:4"], "u:4");
        assert_eq!((loader.calls(), loader.keys()), (1, 5));
        assert_eq!(b.stats().lease_waits, 0);

        // A loader error is returned, and nothing is stored; the next call loads again.
        let fresh = keys(100..110);
        let failed = a
            .get_or_load_many(&refs(&fresh), &options, |_| async {
                Err::<HashMap<String, String>, _>(std::io::Error::other("database down"))
            })
            .await;
        assert_eq!(failed.unwrap_err().to_string(), "database down");
        for key in &fresh {
            let there: bool = stored(key).query_async(&mut raw).await.unwrap();
            assert!(!there, "{key} stored after a failed load");
        }
        assert!(a.get_many::<String>(&refs(&fresh)).await.is_empty());
        leases_given_up(&url, &refs(&fresh)).await;
        let loader = Loader::new("b");
        let values = b
            .get_or_load_many(&refs(&fresh), &options, |keys| loader.load(keys))
            .await
            .unwrap();
        assert_eq!(
            (values.len(), loader.calls(), b.stats().lease_waits),
            (10, 1, 0)
        );
        assert_eq!(a.stats().load_errors, 10);
    })
    .await;
}

#[tokio::test]
async fn another_cache_drops_what_a_batch_overwrites() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let url = server.url();
        let (a, _la) = node(Target::Url(&url), "coh").await;
        let (b, _lb) = node(Target::Url(&url), "coh").await;
        let options = EntryOptions::new().ttl(Duration::from_secs(60));
        let loader = Loader::new("db");
        let all = keys(0..30);
        a.get_or_load_many(&refs(&all), &options, |keys| loader.load(keys))
            .await
            .unwrap();
        // B holds them in L1 (once A's write-through message, which may arrive after B's first
        // read, has passed).
        eventually("B to serve the batch from its L1", || {
            let (b, all) = (b.clone(), all.clone());
            async move {
                assert_eq!(b.get_many::<String>(&refs(&all)).await.len(), 30);
                let before = b.stats().l1_hits;
                assert_eq!(b.get_many::<String>(&refs(&all)).await.len(), 30);
                b.stats().l1_hits == before + 30
            }
        })
        .await;

        // One batch write from A: B drops its copies and reads the new values.
        let new: Vec<(&str, String)> = all
            .iter()
            .map(|key| (key.as_str(), format!("new:{key}")))
            .collect();
        a.set_many(&new, &options).await;
        eventually("B to read A's new values", || {
            let (b, all) = (b.clone(), all.clone());
            async move {
                let values = b.get_many::<String>(&refs(&all)).await;
                values.len() == 30 && values.values().all(|value| value.starts_with("new:"))
            }
        })
        .await;
        a.invalidate("u:7").await;
        eventually("B to drop u:7", || {
            let b = b.clone();
            async move { b.get::<String>("u:7").await.is_none() }
        })
        .await;
        assert_eq!(b.get::<String>("u:8").await.as_deref(), Some("new:u:8"));
    })
    .await;
}

#[tokio::test]
async fn a_batch_falls_back_to_its_loader_when_redis_is_down() {
    within_limit(async {
        let mut server = RedisServer::start().unwrap();
        let (cache, _l2): (Cache, _) = node(Target::Url(&server.url()), "down").await;
        server.kill();
        let options = EntryOptions::new().ttl(Duration::from_secs(60));
        let loader = Loader::new("db");
        let all = keys(0..20);
        let values = cache
            .get_or_load_many(&refs(&all), &options, |keys| loader.load(keys))
            .await
            .unwrap();
        assert_eq!((values.len(), loader.calls()), (20, 1));
        let stats = cache.stats();
        assert!(stats.l2_errors + stats.l2_skipped >= 1, "{stats:?}");
        assert!(
            stats.l2_errors + stats.l2_skipped <= 2,
            "the batch read and write count once each: {stats:?}"
        );
    })
    .await;
}
