//! Invalidation by key, pattern, tag and clear; no stale resurrection; escaping.

use std::sync::Arc;

use crate::common::{DbError, within};
use cache_core::{Cache, EntryOptions, KeyBuilder};
use tokio::sync::Notify;

async fn fill(cache: &Cache, key: &str, tags: &[&str]) {
    let options = EntryOptions::new().tags(tags.iter().copied());
    let value = key.to_string();
    cache
        .get_or_load(
            key,
            &options,
            move || async move { Ok::<_, DbError>(value) },
        )
        .await
        .unwrap();
}

async fn present(cache: &Cache, keys: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for key in keys {
        if cache.get::<String>(key).await.is_some() {
            found.push((*key).to_string());
        }
    }
    found
}

const KEYS: [&str; 5] = ["user:1", "user:2", "user:10", "order:1", "user:1:orders"];

async fn filled() -> Cache {
    let cache = Cache::builder().build().unwrap();
    for key in KEYS {
        let id_tag = format!("id:{}", key.split(':').nth(1).unwrap_or_default());
        let kind_tag = key.split(':').next().unwrap_or_default().to_string();
        fill(&cache, key, &[&kind_tag, &id_tag]).await;
    }
    cache
}

#[tokio::test]
async fn a_key_removes_exactly_that_key() {
    let cache = filled().await;
    cache.invalidate("user:1").await;
    assert_eq!(
        present(&cache, &KEYS).await,
        ["user:2", "user:10", "order:1", "user:1:orders"]
    );
    assert_eq!(cache.stats().invalidations, 1);
}

#[tokio::test]
async fn a_pattern_removes_exactly_the_matching_keys() {
    let cache = filled().await;
    cache.invalidate_pattern("user:?").await;
    assert_eq!(
        present(&cache, &KEYS).await,
        ["user:10", "order:1", "user:1:orders"]
    );
    cache.invalidate_pattern("user:1*").await;
    assert_eq!(present(&cache, &KEYS).await, ["order:1"]);
}

#[tokio::test]
async fn tags_remove_exactly_the_tagged_entries() {
    let cache = filled().await;
    cache.invalidate_tags(&["id:1"]).await;
    assert_eq!(present(&cache, &KEYS).await, ["user:2", "user:10"]);
    cache.invalidate_tags(&["user", "nothing"]).await;
    assert_eq!(present(&cache, &KEYS).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_tag_invalidation_touches_no_entry() {
    // 100,000 tagged entries: invalidating the tag is one counter bump, and every entry reads
    // as absent afterwards.
    let cache = Cache::builder().l1_max_capacity(200_000).build().unwrap();
    let options = EntryOptions::new().tags(["bulk"]);
    for i in 0..100_000u32 {
        cache.set(&format!("bulk:{i}"), i, &options).await;
    }
    assert_eq!(cache.l1_len(), 100_000);
    cache.invalidate_tags(&["bulk"]).await;
    assert_eq!(cache.l1_len(), 100_000, "no entry was visited");
    assert_eq!(cache.get::<u32>("bulk:7").await, None);
    assert_eq!(cache.get::<u32>("bulk:99999").await, None);
}

#[tokio::test]
async fn clear_removes_everything() {
    let cache = filled().await;
    cache.clear().await;
    assert!(present(&cache, &KEYS).await.is_empty());
    assert_eq!(cache.l1_len(), 0);
}

#[tokio::test]
async fn escaped_values_neither_collide_nor_widen_a_pattern() {
    let cache = Cache::builder().build().unwrap();
    let a = KeyBuilder::new("search").part(&"a:b").part(&"c").finish();
    let b = KeyBuilder::new("search").part(&"a").part(&"b:c").finish();
    assert_ne!(a, b);
    fill(&cache, &a, &[]).await;
    fill(&cache, &b, &[]).await;
    let star = KeyBuilder::new("search").part(&"*").finish();
    fill(&cache, &star, &[]).await;
    // A caller-supplied "*" as the value of a pattern's part matches only the key for "*".
    let pattern = format!("{}*", KeyBuilder::new("search").part(&"*").finish());
    cache.invalidate_pattern(&pattern).await;
    assert_eq!(
        present(&cache, &[&a, &b, &star]).await,
        [a.clone(), b.clone()]
    );
}

/// Starts a load whose loader waits for `release`, runs `invalidate` while it is in flight,
/// then releases it: the caller gets the value, but it must not be cached.
async fn load_survives_invalidation<F, Fut>(invalidate: F)
where
    F: FnOnce(Cache) -> Fut,
    Fut: Future<Output = ()>,
{
    let cache = Cache::builder().build().unwrap();
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let load = {
        let (cache, started, release) = (cache.clone(), Arc::clone(&started), Arc::clone(&release));
        tokio::spawn(async move {
            let options = EntryOptions::new().tags(["user:1"]);
            cache
                .get_or_load("user:profile:1", &options, move || async move {
                    started.notify_one();
                    release.notified().await;
                    Ok::<_, DbError>("old".to_string())
                })
                .await
        })
    };
    within(started.notified()).await;
    invalidate(cache.clone()).await;
    release.notify_one();
    assert_eq!(
        within(load).await.unwrap(),
        Ok("old".to_string()),
        "the caller still gets its value"
    );
    assert_eq!(
        cache.get::<String>("user:profile:1").await,
        None,
        "but it was not cached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stale_resurrection_after_key_invalidation() {
    load_survives_invalidation(|cache| async move { cache.invalidate("user:profile:1").await })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stale_resurrection_after_pattern_invalidation() {
    load_survives_invalidation(
        |cache| async move { cache.invalidate_pattern("user:profile:*").await },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stale_resurrection_after_tag_invalidation() {
    load_survives_invalidation(|cache| async move { cache.invalidate_tags(&["user:1"]).await })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stale_resurrection_after_clear() {
    load_survives_invalidation(|cache| async move { cache.clear().await }).await;
}

#[tokio::test]
async fn set_replaces_the_value_for_later_loads() {
    let cache = Cache::builder().build().unwrap();
    fill(&cache, "k", &[]).await;
    cache
        .set("k", "new".to_string(), &EntryOptions::new())
        .await;
    let value = cache
        .get_or_load("k", &EntryOptions::new(), || async {
            Ok::<_, DbError>("loader".to_string())
        })
        .await;
    assert_eq!(value, Ok("new".to_string()));
}

#[tokio::test]
async fn capacity_bounds_the_number_of_entries() {
    let cache = Cache::builder().l1_max_capacity(100).build().unwrap();
    for i in 0..1000u32 {
        cache.set(&format!("k{i}"), i, &EntryOptions::new()).await;
    }
    assert!(cache.l1_len() <= 100, "{} entries", cache.l1_len());
    assert_eq!(
        cache.get::<u32>("k999").await,
        Some(999),
        "the newest entry survives"
    );
}

#[tokio::test]
async fn entries_over_the_capacity_are_evicted_and_counted() {
    let cache = Cache::builder().l1_max_capacity(100).build().unwrap();
    for i in 0..1000u32 {
        let key = format!("k{i}");
        let value = within(
            cache.get_or_load(&key, &EntryOptions::new(), move || async move {
                Ok::<_, DbError>(i)
            }),
        )
        .await;
        assert_eq!(value, Ok(i));
    }
    assert_eq!(cache.l1_len(), 100, "the entry bound holds");
    let stats = cache.stats();
    assert_eq!(
        stats.evictions, 900,
        "one eviction per insert past the capacity"
    );
    assert_eq!((stats.loads, stats.misses), (1000, 1000));
}
