//! Drives the example service over HTTP: a miss, a hit, an update, and the counters in
//! `/metrics` and `/admin/stats` moving as expected.

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
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };

    // A miss, then a hit.
    let (status, user) = get_json("/users/42").await;
    assert_eq!((status, user["name"].clone()), (200, json!("Alan")));
    let (_, user) = get_json("/users/42").await;
    assert_eq!(user["name"], json!("Alan"));
    let (_, stats) = get_json("/admin/stats").await;
    assert_eq!(stats["functions"]["user"]["misses"], json!(1));
    assert_eq!(stats["functions"]["user"]["l1_hits"], json!(1));

    // An update invalidates; the next read loads the new name.
    let response = client
        .put(format!("{base}/users/42"))
        .json(&json!({ "name": "Ada" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (_, user) = get_json("/users/42").await;
    assert_eq!(user["name"], json!("Ada"));
    let (_, stats) = get_json("/admin/stats").await;
    assert_eq!(stats["functions"]["user"]["misses"], json!(2));
    assert_eq!(stats["cache"]["invalidations"], json!(1));

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
    assert_eq!(requests("l1_hit"), Some(1.0), "{text}");
    assert_eq!(requests("miss"), Some(2.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "cache_invalidations_total",
            &["cache=\"svc\"", "kind=\"key\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("cache_load_duration_seconds"), "{text}");
}
