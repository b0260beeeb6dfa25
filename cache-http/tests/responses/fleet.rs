//! Fleet-wide single-flight through the layer: two caches on one real Redis (as two processes
//! of a service have) missing one URI at the same time run its handler once between them.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::routing::get;
use cache_core::Cache;
use cache_http::ResponseCacheLayer;
use cache_redis::RedisL2;
use cache_redis::test_util::RedisServer;
use tokio::sync::Notify;

use crate::support::{Calls, get as fetch, serve, until, within_limit};

/// A process of the service: its own cache on `url`, and a route whose handler counts its
/// calls (in `calls`, shared by the processes) and answers once `release` is notified;
/// requests are counted in `arrived` before the cache layer.
async fn process(
    url: &str,
    name: &'static str,
    calls: &Calls,
    arrived: &Calls,
    release: &Arc<Notify>,
) -> (Cache, String) {
    let l2 = RedisL2::builder()
        .url(url)
        .operation_timeout(Duration::from_secs(2))
        .fleet_wait(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    let cache = Cache::builder()
        .namespace("fleet-web")
        .l2(l2.clone())
        .build()
        .unwrap();
    assert!(l2.wait_for_backplane(Duration::from_secs(10)).await);
    let (calls, arrived, release) = (calls.clone(), arrived.clone(), release.clone());
    let app = Router::new()
        .route(
            "/report",
            get(move || {
                calls.count();
                let release = release.clone();
                async move {
                    release.notified().await;
                    format!("report from {name}")
                }
            }),
        )
        .route_layer(ResponseCacheLayer::new(cache.clone()))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            arrived.count();
            next.run(request)
        }));
    (cache, serve(app).await)
}

#[tokio::test]
async fn two_processes_missing_one_uri_run_its_handler_once() {
    within_limit(async {
        let server = RedisServer::start().unwrap();
        let (calls, arrived, release) =
            (Calls::default(), Calls::default(), Arc::new(Notify::new()));
        let (a, base_a) = process(&server.url(), "a", &calls, &arrived, &release).await;
        let (b, base_b) = process(&server.url(), "b", &calls, &arrived, &release).await;

        let (url_a, url_b) = (format!("{base_a}/report"), format!("{base_b}/report"));
        let to_a = tokio::spawn(async move { fetch(&url_a).await });
        let to_b = tokio::spawn(async move { fetch(&url_b).await });
        until("both requests arrived and one reached a handler", || {
            arrived.get() == 2 && calls.get() >= 1
        })
        .await;
        release.notify_waiters();
        let (from_a, from_b) = (to_a.await.unwrap(), to_b.await.unwrap());

        assert_eq!(calls.get(), 1, "one handler call for the fleet");
        assert_eq!((from_a.status, from_b.status), (200, 200));
        assert_eq!(from_a.body, from_b.body, "both got the one response");
        assert_eq!(from_a.header("etag"), from_b.header("etag"));
        let stored = [&from_a, &from_b]
            .iter()
            .filter(|answer| answer.cache_status() == "layered-cache; fwd=miss; stored")
            .count();
        assert_eq!(stored, 1, "{from_a:?} {from_b:?}");
        let won = a.stats().leases_won + b.stats().leases_won;
        assert_eq!(won, 1, "one process loaded for both");
    })
    .await;
}
