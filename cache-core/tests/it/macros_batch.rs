//! `#[cached_batch]` in process (L1 only): the body receives only the keys found nowhere, keys
//! it leaves out are neither cached nor returned, an error caches nothing and is returned; the
//! `Vec<K>` and `&[K]` forms, async and plain functions, methods; and the entries it shares
//! with `#[cached]` functions and the keyed API.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use crate::common::{DbError, new_cache, within};
use cache_core::{Cache, cached, cached_batch};
use parking_lot::Mutex;

/// What a body was called with, call by call (each call's keys sorted).
#[derive(Default)]
struct Calls<K>(Mutex<Vec<Vec<K>>>);

impl<K: Clone + Ord> Calls<K> {
    fn record(&self, keys: &[K]) {
        let mut keys = keys.to_vec();
        keys.sort();
        self.0.lock().push(keys);
    }

    fn taken(&self) -> Vec<Vec<K>> {
        std::mem::take(&mut *self.0.lock())
    }
}

fn name_of(id: u64) -> String {
    format!("user {id}")
}

#[tokio::test]
async fn only_the_missing_keys_reach_the_body() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static CALLS: LazyLock<Calls<u64>> = LazyLock::new(Calls::default);

    #[cached_batch(cache = CACHE, key_prefix = "user", ttl = "10m")]
    async fn names(ids: &[u64]) -> Result<HashMap<u64, String>, DbError> {
        CALLS.record(ids);
        Ok(ids.iter().map(|&id| (id, name_of(id))).collect())
    }

    let first = within(names(&[1, 2])).await.unwrap();
    assert_eq!(first, HashMap::from([(1, name_of(1)), (2, name_of(2))]));
    let second = within(names(&[2, 3, 1, 3])).await.unwrap();
    assert_eq!(
        second,
        HashMap::from([(1, name_of(1)), (2, name_of(2)), (3, name_of(3))])
    );
    assert_eq!(CALLS.taken(), [vec![1, 2], vec![3]]);
    let stats = CACHE.stats();
    assert_eq!((stats.loads, stats.l1_hits), (3, 2));

    // Everything cached: the body does not run at all.
    assert_eq!(within(names(&[3, 1])).await.unwrap().len(), 2);
    assert!(CALLS.taken().is_empty());
}

#[tokio::test]
async fn keys_the_body_leaves_out_are_neither_cached_nor_returned() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static CALLS: LazyLock<Calls<u64>> = LazyLock::new(Calls::default);

    /// Only even ids exist; the map may also hold keys nobody asked for.
    #[cached_batch(cache = CACHE, key_prefix = "even")]
    async fn evens(ids: Vec<u64>) -> HashMap<u64, String> {
        CALLS.record(&ids);
        let mut found: HashMap<u64, String> = ids
            .into_iter()
            .filter(|id| id % 2 == 0)
            .map(|id| (id, name_of(id)))
            .collect();
        found.insert(1000, name_of(1000));
        found
    }

    let found = within(evens(vec![1, 2, 3, 4])).await;
    assert_eq!(found, HashMap::from([(2, name_of(2)), (4, name_of(4))]));
    assert_eq!(CACHE.get::<String>("even:1").await, None);
    assert_eq!(CACHE.get::<String>("even:1000").await, None);
    assert_eq!(CACHE.get::<String>("even:2").await, Some(name_of(2)));

    // The left-out keys are asked for again; the others are cached.
    let found = within(evens(vec![1, 2, 3, 4])).await;
    assert_eq!(found.len(), 2);
    assert_eq!(CALLS.taken(), [vec![1, 2, 3, 4], vec![1, 3]]);
}

#[tokio::test]
async fn an_error_is_returned_and_caches_nothing() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static CALLS: LazyLock<Calls<u64>> = LazyLock::new(Calls::default);

    #[cached_batch(cache = CACHE, key_prefix = "flaky")]
    async fn lookup(ids: Vec<u64>) -> Result<HashMap<u64, String>, DbError> {
        CALLS.record(&ids);
        if ids.contains(&13) {
            return Err(DbError("unlucky"));
        }
        let found = ids.into_iter().map(|id| (id, name_of(id))).collect();
        Ok(found)
    }

    assert_eq!(within(lookup(vec![1, 13])).await, Err(DbError("unlucky")));
    assert_eq!(CACHE.get::<String>("flaky:1").await, None);
    assert_eq!(
        within(lookup(vec![1, 2])).await,
        Ok(HashMap::from([(1, name_of(1)), (2, name_of(2))]))
    );
    assert_eq!(CALLS.taken(), [vec![1, 13], vec![1, 2]]);
    assert_eq!(CACHE.stats().load_errors, 2);
}

#[test]
fn plain_functions_run_through_the_blocking_engine() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static CALLS: LazyLock<Calls<String>> = LazyLock::new(Calls::default);

    // `&[K]` and `Vec<K>`, a `BTreeMap`, a value kept in process (`level = "l1"`).
    #[cached_batch(cache = CACHE, key_prefix = "len", level = "l1")]
    fn lengths(words: &[String]) -> BTreeMap<String, usize> {
        CALLS.record(words);
        words
            .iter()
            .map(|word| (word.clone(), word.len()))
            .collect()
    }

    #[cached_batch(cache = CACHE, key_prefix = "upper")]
    fn upper(mut words: Vec<String>) -> Result<HashMap<String, String>, DbError> {
        words.retain(|word| !word.is_empty());
        Ok(words
            .into_iter()
            .map(|w| (w.clone(), w.to_uppercase()))
            .collect())
    }

    let words = |list: &[&str]| -> Vec<String> { list.iter().map(|w| (*w).to_owned()).collect() };
    let found = lengths(&words(&["a", "bb"]));
    assert_eq!(
        found,
        BTreeMap::from([("a".to_owned(), 1), ("bb".to_owned(), 2)])
    );
    assert_eq!(lengths(&words(&["bb", "ccc"])).len(), 2);
    assert_eq!(CALLS.taken(), [words(&["a", "bb"]), words(&["ccc"])]);

    let found = upper(words(&["x", ""])).unwrap();
    assert_eq!(found, HashMap::from([("x".to_owned(), "X".to_owned())]));
    assert_eq!(
        CACHE.get_blocking::<String>("upper:x"),
        Some("X".to_owned())
    );
    assert_eq!(CACHE.stats().loads, 5);
}

#[tokio::test]
async fn methods_take_self_by_reference_and_clones_of_other_arguments() {
    struct Directory {
        cache: Cache,
        calls: Calls<u64>,
    }

    impl Directory {
        /// The key names the tenant too; the tag is the tenant's.
        #[cached_batch(
            cache = self.cache,
            key_prefix = "member",
            key = "{tenant}:{ids}",
            tags = ["tenant:{tenant}"],
        )]
        async fn members(
            &self,
            mut tenant: String,
            ids: &[u64],
        ) -> Result<HashMap<u64, String>, DbError> {
            self.calls.record(ids);
            tenant.push('/');
            Ok(ids
                .iter()
                .map(|&id| (id, format!("{tenant}{id}")))
                .collect())
        }
    }

    let directory = Directory {
        cache: new_cache(),
        calls: Calls::default(),
    };
    let acme = || "acme".to_owned();
    let found = within(directory.members(acme(), &[1, 2])).await.unwrap();
    assert_eq!(found[&2], "acme/2");
    within(directory.members("other".to_owned(), &[1]))
        .await
        .unwrap();
    assert_eq!(
        directory.cache.get::<String>("member:acme:1").await,
        Some("acme/1".to_owned())
    );
    assert_eq!(directory.calls.taken(), [vec![1, 2], vec![1]]);

    directory.cache.invalidate_tags(&["tenant:acme"]).await;
    within(directory.members(acme(), &[1, 2])).await.unwrap();
    within(directory.members("other".to_owned(), &[1]))
        .await
        .unwrap();
    assert_eq!(directory.calls.taken(), [vec![1, 2]]);
}

#[tokio::test]
async fn entries_are_shared_with_cached_functions_and_the_keyed_api() {
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);
    static SINGLE: LazyLock<Calls<String>> = LazyLock::new(Calls::default);
    static BATCH: LazyLock<Calls<String>> = LazyLock::new(Calls::default);

    // Keys that need escaping: both render them the same way.
    #[cached(cache = CACHE, key_prefix = "u")]
    async fn user(id: &str) -> String {
        SINGLE.record(&[id.to_owned()]);
        format!("user {id}")
    }

    #[cached_batch(cache = CACHE, key_prefix = "u")]
    async fn users(ids: Vec<String>) -> HashMap<String, String> {
        BATCH.record(&ids);
        ids.into_iter()
            .map(|id| (id.clone(), format!("user {id}")))
            .collect()
    }

    let id = |id: &str| id.to_owned();
    // A batch's entries are read by the single-key function and by `get`.
    within(users(vec![id("a:1"), id("b 2")])).await;
    assert_eq!(within(user("a:1")).await, "user a:1");
    assert_eq!(
        CACHE.get::<String>("u:b%202").await,
        Some("user b 2".to_owned())
    );
    // The single-key function's entries are read by a batch.
    assert_eq!(within(user("c*3")).await, "user c*3");
    let found = within(users(vec![id("c*3"), id("a:1"), id("d")])).await;
    assert_eq!(found[&id("c*3")], "user c*3");
    assert_eq!(SINGLE.taken(), [vec![id("c*3")]]);
    assert_eq!(BATCH.taken(), [vec![id("a:1"), id("b 2")], vec![id("d")]]);
}

#[test]
fn generic_functions_render_each_key_type_as_cached_does() {
    use std::fmt::Display;
    use std::hash::Hash;
    static CACHE: LazyLock<Cache> = LazyLock::new(new_cache);

    #[cached_batch(cache = CACHE, key_prefix = "shown", level = "l1")]
    fn shown<K: Display + Hash + Eq + Clone + Send + Sync + 'static>(
        keys: &[K],
    ) -> HashMap<K, String> {
        keys.iter()
            .map(|key| (key.clone(), format!("<{key}>")))
            .collect()
    }

    assert_eq!(shown(&[1u8])[&1], "<1>");
    assert_eq!(shown(&["a b"])[&"a b"], "<a b>");
    // One entry per rendered key, whatever the key type: "shown:1" is shared by `1u8` and `"1"`.
    assert_eq!(shown(&["1"])[&"1"], "<1>");
    assert_eq!(CACHE.stats().loads, 2);
}
