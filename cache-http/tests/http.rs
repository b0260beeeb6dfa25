//! The admin API over real HTTP: a server on a free port, a real client, every route and the
//! bad requests (400 with a JSON reason, nothing changed).

use cache_core::{Cache, EntryOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};

mod common;
use common::{client, get, serve};

/// A cache holding `user:1`, `user:2` (tagged `users`) and `order:1`.
async fn filled() -> Cache {
    let cache = Cache::builder().build().unwrap();
    let users = EntryOptions::new().tags(["users"]);
    cache.set("user:1", "ada".to_owned(), &users).await;
    cache.set("user:2", "bob".to_owned(), &users).await;
    cache.set("order:1", 42u64, &EntryOptions::new()).await;
    cache
}

async fn post(url: &str, body: &str) -> (StatusCode, Value) {
    let response = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn stats_and_health() {
    let cache = filled().await;
    assert_eq!(cache.get::<String>("user:1").await.as_deref(), Some("ada"));
    let base = serve(cache).await;

    let (status, stats) = get(&format!("{base}/stats")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["cache"]["l1_hits"], json!(1));
    assert_eq!(stats["cache"]["l1_entries"], json!(3));
    assert_eq!(stats["functions"]["<keyed>"]["l1_hits"], json!(1));
    assert_eq!(stats["cache"]["hit_ratio"], json!(1.0));

    let (status, health) = get(&format!("{base}/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], json!("ok"));
    assert_eq!(health["l2"], json!("none"));
}

#[tokio::test]
async fn invalidate_keys_pattern_tags_and_all() {
    let cache = filled().await;
    let base = serve(cache.clone()).await;
    let url = format!("{base}/invalidate");

    let (status, body) = post(&url, r#"{"keys": ["user:1"]}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cache.get::<String>("user:1").await, None);
    assert_eq!(cache.get::<String>("user:2").await.as_deref(), Some("bob"));

    let (status, _) = post(&url, r#"{"tags": ["users"]}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache.get::<String>("user:2").await, None);

    cache
        .set("user:3", "cy".to_owned(), &EntryOptions::new())
        .await;
    let (status, _) = post(&url, r#"{"pattern": "user:*"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache.get::<String>("user:3").await, None);
    assert_eq!(cache.get::<u64>("order:1").await, Some(42));

    let (status, _) = post(&url, r#"{"all": true}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cache.get::<u64>("order:1").await, None);
    assert_eq!(cache.stats().invalidations, 4);
}

#[tokio::test]
async fn bad_requests_are_400_with_a_reason_and_change_nothing() {
    let cache = filled().await;
    let base = serve(cache.clone()).await;
    let url = format!("{base}/invalidate");
    let bad_bodies = [
        ("", "empty body"),
        ("{not json", "invalid JSON"),
        (r#"{"keys": ["user:1"], "flush": true}"#, "unknown field"),
        (r#"{"keys": ["user:1"], "all": true}"#, "exactly one"),
        (r#"{}"#, "exactly one"),
        (r#"{"keys": []}"#, "non-empty"),
        (r#"{"pattern": ""}"#, "must not be empty"),
        (r#"{"all": false}"#, "must be true"),
        (r#"{"tags": "users"}"#, "invalid JSON"),
    ];
    for (body, reason) in bad_bodies {
        let (status, answer) = post(&url, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{body}: {error}");
    }
    assert_eq!(cache.stats().invalidations, 0, "nothing was invalidated");
    assert_eq!(cache.l1_len(), 3);

    let over = cache_http::MAX_LIMIT + 1;
    for query in [
        format!("keys?limit={over}"),
        "keys?limit=0".to_owned(),
        "keys?limit=ten".to_owned(),
        "keys?patern=x".to_owned(),
        "entry".to_owned(),
        "entry?key=".to_owned(),
    ] {
        let (status, answer) = get(&format!("{base}/{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
        assert!(answer["error"].is_string(), "{query}: {answer}");
    }
}

#[tokio::test]
async fn keys_and_entry_describe_without_values() {
    let cache = filled().await;
    let base = serve(cache).await;

    let (status, keys) = get(&format!("{base}/keys?pattern=user:*&limit=10")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys["l1"], json!(["user:1", "user:2"]));
    assert_eq!(keys["l2"], json!([]));
    let (_, one) = get(&format!("{base}/keys?pattern=*&limit=1")).await;
    assert_eq!(
        one["l1"].as_array().map(Vec::len),
        Some(1),
        "the limit holds"
    );

    let (status, entry) = get(&format!("{base}/entry?key=user:1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(entry["key"], json!("user:1"));
    assert_eq!(entry["l1"]["function"], json!("<keyed>"));
    assert_eq!(entry["l1"]["tags"], json!(1));
    assert!(entry["l1"]["ttl_ms"].as_u64().unwrap() > 0);
    assert_eq!(entry["l2"], Value::Null);
    assert!(
        !entry.to_string().contains("ada"),
        "never the value: {entry}"
    );

    let (status, missing) = get(&format!("{base}/entry?key=nope")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (missing["l1"].clone(), missing["l2"].clone()),
        (Value::Null, Value::Null)
    );
}

#[tokio::test]
async fn keys_and_entry_never_show_what_an_invalidation_removed() {
    let cache = filled().await;
    let short = EntryOptions::new().ttl(std::time::Duration::from_millis(50));
    cache.set("session:1", 1u64, &short).await;
    cache.set("session:2", 2u64, &EntryOptions::new()).await;
    let base = serve(cache.clone()).await;
    let keys = |pattern: &str| get_keys(format!("{base}/keys?pattern={pattern}"));
    let l1_of = |key: &str| {
        let url = format!("{base}/entry?key={key}");
        async move { get(&url).await.1["l1"].clone() }
    };
    assert_eq!(keys("user:*").await, json!(["user:1", "user:2"]));
    assert!(l1_of("user:1").await.is_object());

    // A tag invalidation hides its entries at once (they are removed lazily): not listed,
    // not described.
    cache.invalidate_tags(&["users"]).await;
    assert_eq!(keys("user:*").await, json!([]));
    assert_eq!(l1_of("user:1").await, Value::Null);
    assert_eq!(
        keys("order:*").await,
        json!(["order:1"]),
        "other entries stay"
    );

    // Expired entries are not listed either.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(keys("session:*").await, json!(["session:2"]));
    assert_eq!(l1_of("session:1").await, Value::Null);

    // A pattern invalidation and a clear.
    cache.invalidate_pattern("session:*").await;
    assert_eq!(keys("session:*").await, json!([]));
    cache.clear().await;
    assert_eq!(keys("*").await, json!([]));
    assert_eq!(l1_of("order:1").await, Value::Null);
}

/// The L1 keys `/keys` lists at `url`.
async fn get_keys(url: String) -> Value {
    let (status, keys) = get(&url).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    keys["l1"].clone()
}
