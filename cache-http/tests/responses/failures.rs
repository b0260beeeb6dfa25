//! Failure paths: handler errors and panics (with and without a stale response to answer
//! them), stale-while-revalidate, bodies over the limit, bodies that break, and a client that
//! goes away in the middle of a body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use cache_core::Cache;
use cache_http::ResponseCacheLayer;
use http_body_util::StreamBody;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use crate::support::{Calls, client, get as fetch, serve, until, within_limit};

fn cache() -> Cache {
    Cache::builder().build().unwrap()
}

/// Whether the handler fails now.
#[derive(Clone, Default)]
struct Failing(Arc<AtomicBool>);

impl Failing {
    fn set(&self, failing: bool) {
        self.0.store(failing, Ordering::SeqCst);
    }
    fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Waits for a stored response of `fresh_seconds` to expire (the engine's clock is real).
async fn outlive(fresh_seconds: u64) {
    tokio::time::sleep(Duration::from_millis(fresh_seconds * 1000 + 200)).await;
}

#[tokio::test]
async fn errors_are_passed_on_and_not_stored() {
    within_limit(async {
        let calls = Calls::default();
        let counter = calls.clone();
        let layer = ResponseCacheLayer::new(cache());
        let app = Router::new()
            .route(
                "/broken",
                get(move || {
                    counter.count();
                    async {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            [("cache-tag", "t")],
                            "down",
                        )
                    }
                }),
            )
            .route_layer(layer.clone());
        let base = serve(app).await;
        for _ in 0..2 {
            let answer = fetch(&format!("{base}/broken")).await;
            assert_eq!((answer.status, answer.body.as_str()), (503, "down"));
            assert_eq!(
                answer.cache_status(),
                "layered-cache; fwd=miss; fwd-status=503"
            );
            assert_eq!(answer.header("cache-tag"), "");
        }
        assert_eq!(calls.get(), 2);
        assert_eq!(layer.stats().snapshot()["/broken"].failures, 2);
    })
    .await;
}

/// A route answering `version` with `cache_control`, or 500 while `failing`.
fn versioned(
    failing: &Failing,
    calls: &Calls,
    cache_control: &'static str,
) -> axum::routing::MethodRouter {
    let (failing, calls) = (failing.clone(), calls.clone());
    get(move || {
        let call = calls.count();
        let failing = failing.get();
        async move {
            if failing {
                (StatusCode::INTERNAL_SERVER_ERROR, "failed").into_response()
            } else {
                ([("cache-control", cache_control)], format!("v{call}")).into_response()
            }
        }
    })
}

#[tokio::test]
async fn stale_if_error_answers_a_failure_with_the_stale_response() {
    within_limit(async {
        let (failing, calls) = (Failing::default(), Calls::default());
        let layer = ResponseCacheLayer::new(cache());
        let app = Router::new()
            .route(
                "/tolerant",
                versioned(&failing, &calls, "max-age=1, stale-if-error=60"),
            )
            .route("/strict", versioned(&failing, &calls, "max-age=1"))
            .route(
                "/revalidate",
                versioned(
                    &failing,
                    &calls,
                    "max-age=1, stale-if-error=60, must-revalidate",
                ),
            )
            .route_layer(layer.clone());
        let base = serve(app).await;
        for path in ["/tolerant", "/strict", "/revalidate"] {
            assert_eq!(fetch(&format!("{base}{path}")).await.status, 200);
        }
        failing.set(true);
        outlive(1).await;

        let stale = fetch(&format!("{base}/tolerant")).await;
        assert_eq!((stale.status, stale.body.as_str()), (200, "v1"));
        assert_eq!(
            stale.cache_status(),
            "layered-cache; fwd=stale; fwd-status=500"
        );
        assert!(stale.header("age").parse::<u64>().unwrap() >= 1);
        for path in ["/strict", "/revalidate"] {
            let failed = fetch(&format!("{base}{path}")).await;
            assert_eq!(
                (failed.status, failed.body.as_str()),
                (500, "failed"),
                "{path}"
            );
        }
        assert_eq!(layer.stats().snapshot()["/tolerant"].stale, 1);

        failing.set(false);
        let recovered = fetch(&format!("{base}/tolerant")).await;
        assert_eq!(recovered.cache_status(), "layered-cache; fwd=miss; stored");
        assert_eq!(recovered.body, format!("v{}", calls.get()));
    })
    .await;
}

#[tokio::test]
async fn stale_while_revalidate_answers_at_once_and_refreshes_in_the_background() {
    within_limit(async {
        let (failing, calls) = (Failing::default(), Calls::default());
        let app = Router::new()
            .route(
                "/feed",
                versioned(&failing, &calls, "max-age=1, stale-while-revalidate=30"),
            )
            .route_layer(ResponseCacheLayer::new(cache()));
        let base = serve(app).await;
        let url = format!("{base}/feed");
        assert_eq!(fetch(&url).await.body, "v1");
        outlive(1).await;

        let stale = fetch(&url).await;
        assert_eq!(stale.body, "v1", "answered at once with the stale response");
        assert!(
            stale
                .cache_status()
                .starts_with("layered-cache; hit; ttl=-"),
            "{}",
            stale.cache_status()
        );
        until("the background revalidation ran", || calls.get() == 2).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let fresh = fetch(&url).await;
            if fresh.body == "v2" {
                assert!(fresh.cache_status().starts_with("layered-cache; hit; ttl="));
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the revalidated response never came"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(calls.get(), 2, "one revalidation");
    })
    .await;
}

/// A route whose handler panics on its first `panics` calls, then answers `ok`.
fn panicking(
    calls: &Calls,
    panics: usize,
    cache_control: &'static str,
) -> axum::routing::MethodRouter {
    let calls = calls.clone();
    get(move || {
        let call = calls.count();
        async move {
            assert!(call > panics, "the handler panics on purpose (call {call})");
            ([("cache-control", cache_control)], format!("ok {call}"))
        }
    })
}

#[tokio::test]
async fn a_panicking_handler_stores_nothing_and_strands_no_one() {
    within_limit(async {
        let calls = Calls::default();
        let app = Router::new()
            .route("/panics", panicking(&calls, 1, "max-age=60"))
            .route_layer(ResponseCacheLayer::new(cache()));
        let base = serve(app).await;
        let url = format!("{base}/panics");
        // The panic keeps unwinding (no layer of this test catches it): the connection closes.
        let first = client().get(&url).send().await;
        assert!(first.is_err(), "{first:?}");
        let second = fetch(&url).await;
        assert_eq!((second.status, second.body.as_str()), (200, "ok 2"));
        assert_eq!(second.cache_status(), "layered-cache; fwd=miss; stored");
        assert_eq!(fetch(&url).await.body, "ok 2");

        // Requests waiting on a load that panics take over and get an answer.
        let calls = Calls::default();
        let app = Router::new()
            .route("/slow-panic", {
                let calls = calls.clone();
                get(move || {
                    let call = calls.count();
                    async move {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        assert!(call > 1, "the first call panics on purpose");
                        "ok"
                    }
                })
            })
            .route_layer(ResponseCacheLayer::new(cache()));
        let base = serve(app).await;
        let url = format!("{base}/slow-panic");
        let requests: Vec<_> = (0..4)
            .map(|_| tokio::spawn(client().get(&url).send()))
            .collect();
        let mut answered = 0;
        for request in requests {
            if let Ok(response) = request.await.unwrap() {
                assert_eq!(response.text().await.unwrap(), "ok");
                answered += 1;
            }
        }
        assert!(
            answered >= 3,
            "only the panicking request fails: {answered}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_panic_is_answered_with_a_stale_response_when_allowed() {
    within_limit(async {
        let calls = Calls::default();
        let counter = calls.clone();
        let app = Router::new()
            .route(
                "/once",
                get(move || {
                    let call = counter.count();
                    async move {
                        assert!(call == 1, "every call after the first panics on purpose");
                        ([("cache-control", "max-age=1, stale-if-error=60")], "first")
                    }
                }),
            )
            .route_layer(ResponseCacheLayer::new(cache()));
        let base = serve(app).await;
        let url = format!("{base}/once");
        assert_eq!(fetch(&url).await.body, "first");
        outlive(1).await;
        let stale = fetch(&url).await;
        assert_eq!((stale.status, stale.body.as_str()), (200, "first"));
        assert_eq!(
            stale.cache_status(),
            "layered-cache; fwd=stale; fwd-status=500"
        );
        assert_eq!(calls.get(), 2);
    })
    .await;
}

/// A body of `chunks` chunks of `size` bytes, without a declared length.
fn streamed(chunks: usize, size: usize) -> Body {
    let frames = (0..chunks).map(move |i| {
        let byte = b'a' + (i % 26) as u8;
        Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(vec![byte; size])))
    });
    Body::new(StreamBody::new(futures_util::stream::iter(frames)))
}

#[tokio::test]
async fn bodies_over_the_limit_stream_through_unstored() {
    within_limit(async {
        let calls = Calls::default();
        let counted = |body: fn() -> Body| {
            let calls = calls.clone();
            get(move || {
                calls.count();
                async move { body() }
            })
        };
        let layer = ResponseCacheLayer::new(cache()).max_body_bytes(1024);
        let app = Router::new()
            .route("/sized", counted(|| Body::from(vec![b'x'; 4096])))
            .route("/streamed", counted(|| streamed(8, 512)))
            .route("/exact", counted(|| streamed(2, 512)))
            .route_layer(layer);
        let base = serve(app).await;
        for path in ["/sized", "/streamed"] {
            for _ in 0..2 {
                let answer = fetch(&format!("{base}{path}")).await;
                assert_eq!(
                    answer.body.len(),
                    4096,
                    "{path}: every byte reaches the client"
                );
                assert_eq!(
                    answer.cache_status(),
                    "layered-cache; fwd=miss; detail=too-large"
                );
            }
        }
        let streamed = fetch(&format!("{base}/streamed")).await;
        assert_eq!(&streamed.body[..513], format!("{}b", "a".repeat(512)));
        assert_eq!(calls.get(), 5);
        for status in ["layered-cache; fwd=miss; stored", "layered-cache; hit"] {
            let exact = fetch(&format!("{base}/exact")).await;
            assert_eq!(exact.body.len(), 1024);
            assert!(
                exact.cache_status().starts_with(status),
                "the limit itself is stored"
            );
        }
        assert_eq!(calls.get(), 6);
    })
    .await;
}

#[tokio::test]
async fn a_body_that_breaks_is_not_stored() {
    within_limit(async {
        let calls = Calls::default();
        let counter = calls.clone();
        let app = Router::new()
            .route(
                "/breaks",
                get(move || {
                    counter.count();
                    let frames = vec![
                        Ok(http_body::Frame::data(Bytes::from_static(b"partial"))),
                        Err(std::io::Error::other("the source broke")),
                    ];
                    async move { Body::new(StreamBody::new(futures_util::stream::iter(frames))) }
                }),
            )
            .route_layer(ResponseCacheLayer::new(cache()));
        let base = serve(app).await;
        for _ in 0..2 {
            // The break reaches the client: before the head is out, or in the body.
            match client().get(format!("{base}/breaks")).send().await {
                Err(error) => assert!(error.is_request(), "{error:?}"),
                Ok(response) => {
                    assert_eq!(response.status(), 200);
                    assert!(response.text().await.is_err(), "the client sees the break");
                }
            }
        }
        assert_eq!(calls.get(), 2, "nothing was stored");
    })
    .await;
}

/// Signals between a test and a held body.
#[derive(Default)]
struct Gate {
    /// The body sent its first chunk and waits.
    sent: Notify,
    /// The body may send its second chunk.
    resume: Notify,
    /// The body was dropped.
    dropped: Notify,
}

/// Notifies `dropped` when dropped.
struct DropSignal(Arc<Gate>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        self.0.dropped.notify_one();
    }
}

/// A body of `chunk` bytes of `1`, then (once the gate says so) `chunk` bytes of `2`.
fn held_body(gate: &Arc<Gate>, chunk: usize) -> Body {
    let state = (0, DropSignal(gate.clone()));
    let frames = futures_util::stream::unfold(state, move |(step, signal)| async move {
        let data = match step {
            0 => vec![b'1'; chunk],
            1 => {
                signal.0.sent.notify_one();
                signal.0.resume.notified().await;
                vec![b'2'; chunk]
            }
            _ => return None,
        };
        let frame = Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(data)));
        Some((frame, (step + 1, signal)))
    });
    Body::new(StreamBody::new(frames))
}

/// Sends a raw `GET path` on a connection of its own, reads the answer's head and `body`
/// bytes of its body, then closes the connection.
async fn request_then_hang_up(base: &str, path: &str, body: usize) {
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut read = Vec::new();
    loop {
        let head_end = read.windows(4).position(|w| w == b"\r\n\r\n");
        if head_end.is_some_and(|end| read.len() >= end + 4 + body) || body == 0 {
            break;
        }
        let mut buffer = [0; 1024];
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the server closed first");
        read.extend_from_slice(&buffer[..n]);
    }
    drop(stream);
}

#[tokio::test]
async fn a_client_that_goes_away_mid_body_leaves_nothing_partial() {
    within_limit(async {
        let gate = Arc::new(Gate::default());
        let calls = Calls::default();
        let route = |chunk: usize| {
            let (gate, calls) = (gate.clone(), calls.clone());
            get(move || {
                calls.count();
                let body = held_body(&gate, chunk);
                async move { ([("cache-control", "max-age=60")], body) }
            })
        };
        let app = Router::new()
            .route("/small", route(100))
            .route("/large", route(4096))
            .route_layer(ResponseCacheLayer::new(cache()).max_body_bytes(1024));
        let base = serve(app).await;

        // Within the limit, the cache reads the whole body before the client gets a byte: the
        // client leaves while the handler is between its two chunks.
        let client_task = tokio::spawn({
            let base = base.clone();
            async move { request_then_hang_up(&base, "/small", 0).await }
        });
        gate.sent.notified().await;
        client_task.await.unwrap();
        // The server drops the request, its load and the body with it.
        tokio::time::timeout(Duration::from_secs(10), gate.dropped.notified())
            .await
            .expect("the server gave up the request of a client that went away");
        gate.resume.notify_one();
        let next = fetch(&format!("{base}/small")).await;
        assert_eq!(next.body, format!("{}{}", "1".repeat(100), "2".repeat(100)));
        assert_eq!(
            next.cache_status(),
            "layered-cache; fwd=miss; stored",
            "nothing was stored by the abandoned load"
        );
        assert_eq!(calls.get(), 2);

        // Over the limit, the body streams through: the client leaves after some of it.
        let before = calls.get();
        let client_task = tokio::spawn({
            let base = base.clone();
            async move { request_then_hang_up(&base, "/large", 100).await }
        });
        gate.sent.notified().await;
        client_task.await.unwrap();
        gate.resume.notify_one();
        let next = tokio::spawn({
            let url = format!("{base}/large");
            async move { fetch(&url).await }
        });
        gate.sent.notified().await;
        gate.resume.notify_one();
        let next = next.await.unwrap();
        assert_eq!(
            next.body,
            format!("{}{}", "1".repeat(4096), "2".repeat(4096))
        );
        assert_eq!(
            next.cache_status(),
            "layered-cache; fwd=miss; detail=too-large"
        );
        assert_eq!(calls.get(), before + 2, "nothing was stored");
    })
    .await;
}
