//! Drives the example service over HTTP: a miss, a hit (of the response cache), an update
//! that drops the cached response through its tag, and the counters in `/metrics` and
//! `/admin/stats` moving as expected.

use std::time::Duration;

use cache_core::Cache;
use examples::service::{AppState, app};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::{Value, json};

/// The value of the Prometheus sample whose line starts with `prefix` (name and labels).
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(name) && labels.iter().all(|l| line.contains(l)))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn a_miss_a_hit_an_update_and_the_counters() {
    let metrics = PrometheusBuilder::new().install_recorder().unwrap();
    let cache = Cache::builder().namespace("svc").build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        cache: cache.clone(),
        metrics,
    };
    tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let get_json = |path: &str| {
        let request = client.get(format!("{base}{path}"));
        async move {
            let response = request.send().await.unwrap();
            let cache_status = response
                .headers()
                .get("cache-status")
                .map_or(String::new(), |value| value.to_str().unwrap().to_owned());
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
                cache_status,
            )
        }
    };

    // A miss (of the response and of the function), then a hit of the response cache: the
    // handler, and so the function, does not run.
    let (status, user, cache_status) = get_json("/users/42").await;
    assert_eq!((status, user["name"].clone()), (200, json!("Alan")));
    assert_eq!(cache_status, "layered-cache; fwd=miss; stored");
    let (_, user, cache_status) = get_json("/users/42").await;
    assert_eq!(user["name"], json!("Alan"));
    assert!(
        cache_status.starts_with("layered-cache; hit"),
        "{cache_status}"
    );
    let (_, stats, _) = get_json("/admin/stats").await;
    assert_eq!(stats["functions"]["user"]["misses"], json!(1));
    assert_eq!(stats["functions"]["user"]["l1_hits"], json!(0));
    assert_eq!(stats["responses"]["/users/{id}"]["misses"], json!(1));
    assert_eq!(stats["responses"]["/users/{id}"]["hits"], json!(1));

    // An update invalidates the tag `user:42`: the function's entry and the cached response;
    // the next read loads the new name.
    let response = client
        .put(format!("{base}/users/42"))
        .json(&json!({ "name": "Ada" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (_, user, cache_status) = get_json("/users/42").await;
    assert_eq!(user["name"], json!("Ada"));
    assert_eq!(cache_status, "layered-cache; fwd=miss; stored");
    let (_, stats, _) = get_json("/admin/stats").await;
    assert_eq!(stats["functions"]["user"]["misses"], json!(2));
    assert_eq!(stats["cache"]["invalidations"], json!(1));
    assert_eq!(stats["responses"]["/users/{id}"]["misses"], json!(2));
    assert_eq!(
        stats["responses"]["/users/{id}"]["invalidations"],
        json!(0),
        "the PUT is not wrapped: the tag dropped the response"
    );

    // The same counters in Prometheus' format.
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let labels = ["cache=\"svc\"", "function=\"user\""];
    let requests = |result: &str| {
        let mut with = labels.to_vec();
        let result = format!("result=\"{result}\"");
        with.push(&result);
        sample(&text, "cache_requests_total", &with)
    };
    assert_eq!(requests("l1_hit"), Some(0.0), "{text}");
    assert_eq!(requests("miss"), Some(2.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "cache_invalidations_total",
            &["cache=\"svc\"", "kind=\"tags\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("cache_load_duration_seconds"), "{text}");
    let responses = |result: &str| {
        let result = format!("result=\"{result}\"");
        let labels = ["cache=\"svc\"", "route=\"/users/{id}\"", &result];
        sample(&text, "http_response_cache_requests_total", &labels)
    };
    assert_eq!(responses("hit"), Some(1.0), "{text}");
    assert_eq!(responses("miss"), Some(2.0), "{text}");
}
