//! Feature `metrics`: the response cache's counters reach the recorder labelled by axum's
//! matched route, never by the URI a client sent (their number stays that of the routes).

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use cache_core::Cache;
use cache_http::ResponseCacheLayer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

use crate::support::{TEST_LIMIT, client, get as fetch, serve};

/// The counter `name` whose labels are exactly `labels` (in any order).
fn counter(
    snapshot: &[(metrics_util::CompositeKey, DebugValue)],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<u64> {
    snapshot.iter().find_map(|(key, value)| {
        let key = key.key();
        let same_labels = key.labels().count() == labels.len()
            && labels.iter().all(|(k, v)| {
                key.labels()
                    .any(|label| label.key() == *k && label.value() == *v)
            });
        match value {
            DebugValue::Counter(count) if key.name() == name && same_labels => Some(*count),
            _ => None,
        }
    })
}

#[test]
fn requests_are_counted_by_matched_route() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The server, the client and the layer run on this thread, inside the local recorder.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            tokio::time::timeout(TEST_LIMIT, async {
                let cache = Cache::builder().namespace("shop").build().unwrap();
                let app = Router::new()
                    .route(
                        "/users/{id}",
                        get(|Path(id): Path<u64>| async move { format!("user {id}") }),
                    )
                    .route_layer(ResponseCacheLayer::new(cache));
                let base = serve(app).await;
                for id in [1, 2, 1, 1] {
                    let answer = fetch(&format!("{base}/users/{id}")).await;
                    assert_eq!(answer.body, format!("user {id}"));
                }
                let not_modified = client()
                    .get(format!("{base}/users/1"))
                    .header("if-none-match", "*")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(not_modified.status(), 304);
            })
            .await
            .expect("the requests finished within the test limit");
        });
    });

    let snapshot: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect();
    let route = [("cache", "shop"), ("route", "/users/{id}")];
    let with = |result: &'static str| {
        let mut labels = route.to_vec();
        labels.push(("result", result));
        labels
    };
    let requests = "http_response_cache_requests_total";
    assert_eq!(counter(&snapshot, requests, &with("miss")), Some(2));
    assert_eq!(counter(&snapshot, requests, &with("hit")), Some(3));
    assert_eq!(
        counter(&snapshot, "http_response_cache_not_modified_total", &route),
        Some(1)
    );
    let routes: Vec<String> = snapshot
        .iter()
        .flat_map(|(key, _)| key.key().labels())
        .filter(|label| label.key() == "route")
        .map(|label| label.value().to_owned())
        .collect();
    assert!(
        routes.iter().all(|route| route == "/users/{id}"),
        "only the matched route labels requests: {routes:?}"
    );
}
