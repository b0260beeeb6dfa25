//! Concurrent requests for one URI: one handler call for a shared response, one per request
//! for a response that may not be shared.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::routing::get;
use cache_core::Cache;
use cache_http::ResponseCacheLayer;
use tokio::sync::Notify;

use crate::support::{Calls, client, send, serve, until, within_limit};

/// How many requests race.
const REQUESTS: usize = 8;

/// A route whose handler counts its calls, then waits for `release` before answering with the
/// request's `authorization` (or `shared`) and `cache-control`; requests are counted as they
/// arrive, before the cache layer.
fn held_app(
    cache: Cache,
    calls: &Calls,
    arrived: &Calls,
    release: &Arc<Notify>,
    cache_control: &'static str,
) -> Router {
    let (calls, arrived, release) = (calls.clone(), arrived.clone(), release.clone());
    Router::new()
        .route(
            "/slow",
            get(move |headers: HeaderMap| {
                calls.count();
                let release = release.clone();
                async move {
                    release.notified().await;
                    let who = headers
                        .get("authorization")
                        .map_or("shared".to_owned(), |v| v.to_str().unwrap().to_owned());
                    ([("cache-control", cache_control)], who)
                }
            }),
        )
        .route_layer(ResponseCacheLayer::new(cache))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            arrived.count();
            next.run(request)
        }))
}

#[tokio::test]
async fn concurrent_misses_run_the_handler_once() {
    within_limit(async {
        let cache = Cache::builder().build().unwrap();
        let (calls, arrived, release) =
            (Calls::default(), Calls::default(), Arc::new(Notify::new()));
        let base = serve(held_app(
            cache.clone(),
            &calls,
            &arrived,
            &release,
            "max-age=60",
        ))
        .await;
        let url = format!("{base}/slow");
        let requests: Vec<_> = (0..REQUESTS)
            .map(|_| tokio::spawn(send(client().get(&url))))
            .collect();
        until("every request arrived and one reached the handler", || {
            arrived.get() == REQUESTS && calls.get() >= 1
        })
        .await;
        release.notify_waiters();
        let mut stored = 0;
        for request in requests {
            let answer = request.await.unwrap();
            assert_eq!((answer.status, answer.body.as_str()), (200, "shared"));
            if answer.cache_status() == "layered-cache; fwd=miss; stored" {
                stored += 1;
            } else {
                assert!(
                    answer.cache_status().starts_with("layered-cache; hit"),
                    "{}",
                    answer.cache_status()
                );
            }
        }
        assert_eq!(calls.get(), 1, "one handler call for {REQUESTS} requests");
        assert_eq!(stored, 1);
    })
    .await;
}

#[tokio::test]
async fn a_response_that_may_not_be_shared_never_reaches_another_request() {
    within_limit(async {
        let cache = Cache::builder().build().unwrap();
        let (calls, arrived, release) =
            (Calls::default(), Calls::default(), Arc::new(Notify::new()));
        let base = serve(held_app(
            cache,
            &calls,
            &arrived,
            &release,
            "private, max-age=60",
        ))
        .await;
        let url = format!("{base}/slow");
        let requests: Vec<_> = (0..REQUESTS)
            .map(|user| {
                let request = client()
                    .get(&url)
                    .header("authorization", format!("user {user}"));
                tokio::spawn(send(request))
            })
            .collect();
        until("every request arrived", || {
            arrived.get() == REQUESTS && calls.get() >= 1
        })
        .await;
        // The handler calls of the requests that waited start once the first one is answered:
        // keep releasing until all are.
        let releasing = tokio::spawn(async move {
            loop {
                release.notify_waiters();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
        for (user, request) in requests.into_iter().enumerate() {
            let answer = request.await.unwrap();
            assert_eq!(answer.body, format!("user {user}"), "its own response only");
            let status = answer.cache_status();
            assert!(
                status == "layered-cache; fwd=miss; detail=private"
                    || status == "layered-cache; fwd=miss; detail=not-shared",
                "{status}"
            );
        }
        releasing.abort();
        assert_eq!(calls.get(), REQUESTS, "one handler call per request");
    })
    .await;
}
